package svconf

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// vars are the names a value may use as %(NAME)s: each a string or an int,
// and ENV_X for the environment variables (env, then the overrides in m).
type vars struct {
	m   map[string]any
	env func(string) (string, bool)
}

// with returns vs with more names: name, value pairs.
func (vs vars) with(kv ...any) vars {
	out := vars{m: maps.Clone(vs.m), env: vs.env}
	if out.m == nil {
		out.m = map[string]any{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.m[kv[i].(string)] = kv[i+1]
	}
	return out
}

func (vs vars) lookup(name string) (any, bool) {
	if v, ok := vs.m[name]; ok {
		return v, true
	}
	if k, ok := strings.CutPrefix(name, "ENV_"); ok && vs.env != nil {
		if v, ok := vs.env(k); ok {
			return v, true
		}
	}
	return nil, false
}

func (vs vars) names() string {
	names := slices.Sorted(maps.Keys(vs.m))
	return strings.Join(append(names, "ENV_ and an environment variable's name"), ", ")
}

// expand formats s as Python's "s % mapping" does, which is how supervisord
// expands its values: %(NAME)s, %(NAME)d, %(NAME)02d and the rest of the
// conversion spec (flags "#0- +", width, precision, type one of
// diouxXeEfFgGcrsa), and %% for a literal %. A NAME not in vs, a % that
// starts no valid spec, a spec without (NAME) and a type that does not fit
// the value (d on a string) are errors.
func expand(s string, vs vars) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			i++
			continue
		}
		i++
		if i >= len(s) {
			return "", fmt.Errorf("%q ends in a lone %% (write %%%% for a literal %%)", s)
		}
		if s[i] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		if s[i] != '(' {
			return "", fmt.Errorf("%q: a %% must start %%(NAME)s or be doubled (%%%% for a literal %%)", s)
		}
		// The name runs to the matching ')'.
		depth, j := 1, i+1
		for ; j < len(s) && depth > 0; j++ {
			switch s[j] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		if depth > 0 {
			return "", fmt.Errorf("%q: unterminated %%( name", s)
		}
		name := s[i+1 : j-1]
		i = j
		var sp spec
		for ; i < len(s) && strings.IndexByte("#0- +", s[i]) >= 0; i++ {
			sp.flags += string(s[i])
		}
		if i < len(s) && s[i] == '*' {
			return "", fmt.Errorf("%q: * widths need arguments, not a mapping", s)
		}
		sp.width, i = digits(s, i)
		sp.prec = -1
		if i < len(s) && s[i] == '.' {
			if i+1 < len(s) && s[i+1] == '*' {
				return "", fmt.Errorf("%q: * precisions need arguments, not a mapping", s)
			}
			sp.prec, i = digits(s, i+1)
		}
		for i < len(s) && strings.IndexByte("hlL", s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return "", fmt.Errorf("%q: incomplete format after %%(%s)", s, name)
		}
		sp.verb = s[i]
		i++
		v, ok := vs.lookup(name)
		if !ok {
			return "", fmt.Errorf("%%(%s) cannot be expanded: no such name here (available: %s)", name, vs.names())
		}
		out, err := sp.format(v)
		if err != nil {
			return "", fmt.Errorf("%%(%s)%c: %w", name, sp.verb, err)
		}
		b.WriteString(out)
	}
	return b.String(), nil
}

// digits reads a decimal number at s[i:] (0 if none), capped to keep widths sane.
func digits(s string, i int) (int, int) {
	n := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n < 10000 {
			n = n*10 + int(s[i]-'0')
		}
	}
	return min(n, 10000), i
}

type spec struct {
	flags string
	width int
	prec  int // -1: none
	verb  byte
}

func (sp spec) has(f byte) bool { return strings.IndexByte(sp.flags, f) >= 0 }

func (sp spec) format(v any) (string, error) {
	switch sp.verb {
	case 's', 'r', 'a':
		var str string
		switch x := v.(type) {
		case string:
			str = x
			if sp.verb != 's' {
				str = pyRepr(x)
			}
		case int:
			str = strconv.Itoa(x)
		}
		if sp.prec >= 0 && sp.prec < len([]rune(str)) {
			str = string([]rune(str)[:sp.prec])
		}
		return sp.pad(str, false), nil
	case 'c':
		switch x := v.(type) {
		case int:
			if x < 0 || x > 0x10ffff {
				return "", fmt.Errorf("%d is out of range for %%c", x)
			}
			return sp.pad(string(rune(x)), false), nil
		case string:
			if len([]rune(x)) != 1 {
				return "", fmt.Errorf("%%c needs a number or one character, not %q", x)
			}
			return sp.pad(x, false), nil
		}
	}
	n, ok := v.(int)
	if !ok {
		return "", fmt.Errorf("needs a number, and the value is the string %q", v)
	}
	var body, prefix string
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-(n + 1)) + 1
	}
	switch sp.verb {
	case 'd', 'i', 'u':
		body = strconv.FormatUint(u, 10)
	case 'o':
		body = strconv.FormatUint(u, 8)
		if sp.has('#') {
			prefix = "0o"
		}
	case 'x':
		body = strconv.FormatUint(u, 16)
		if sp.has('#') {
			prefix = "0x"
		}
	case 'X':
		body = strings.ToUpper(strconv.FormatUint(u, 16))
		if sp.has('#') {
			prefix = "0X"
		}
	case 'e', 'E', 'f', 'F', 'g', 'G':
		p := sp.prec
		if p < 0 {
			p = 6
		}
		verb := sp.verb
		if verb == 'F' {
			verb = 'f'
		}
		if (verb == 'g' || verb == 'G') && p == 0 {
			p = 1
		}
		body = strconv.FormatFloat(math.Abs(float64(n)), verb, p, 64)
		if (verb == 'g' || verb == 'G') && sp.has('#') && !strings.Contains(body, ".") {
			body += "."
		}
	default:
		return "", fmt.Errorf("unsupported format character %q", sp.verb)
	}
	if sp.prec > len(body) && strings.IndexByte("diuoxX", sp.verb) >= 0 {
		body = strings.Repeat("0", sp.prec-len(body)) + body
	}
	sign := ""
	switch {
	case neg:
		sign = "-"
	case sp.has('+'):
		sign = "+"
	case sp.has(' '):
		sign = " "
	}
	head := sign + prefix
	if sp.has('0') && !sp.has('-') && len(head)+len(body) < sp.width {
		body = strings.Repeat("0", sp.width-len(head)-len(body)) + body
	}
	return sp.pad(head+body, true), nil
}

// pad applies the width: right-aligned, or left with the '-' flag.
func (sp spec) pad(s string, _ bool) string {
	n := len([]rune(s))
	if n >= sp.width {
		return s
	}
	fill := strings.Repeat(" ", sp.width-n)
	if sp.has('-') {
		return s + fill
	}
	return fill + s
}

// pyRepr is Python's repr of a simple string.
func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}
