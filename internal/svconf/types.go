package svconf

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode"

	"github.com/supervisor/supervisor/internal/config"
)

// The value types of supervisord's datatypes module, each written anew from
// its behaviour.

// pyInt reads an integer as Python's int() does: surrounding whitespace, a
// sign, digits with single '_' between them.
func pyInt(s string) (int, error) {
	t := strings.TrimSpace(s)
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	if t == "" || t[0] == '_' || t[len(t)-1] == '_' || strings.Contains(t, "__") {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	n := 0
	for _, c := range t {
		if c == '_' {
			continue
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not an integer", s)
		}
		if n > (math.MaxInt32-9)/10 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

// pyBool reads supervisord's booleans: yes/true/on/1, no/false/off/0, any case.
func pyBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true/false, yes/no, on/off, 1/0)", s)
}

// byteSize reads "50MB", "1kb", "1GB" (powers of 1024) or a number of bytes.
func byteSize(s string) (int64, error) {
	l := strings.ToLower(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}} {
		if strings.HasSuffix(l, u.suffix) {
			l, mult = l[:len(l)-2], u.m
			break
		}
	}
	n, err := pyInt(l)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with KB, MB or GB)", s)
	}
	return int64(n) * mult, nil
}

// octal reads an octal number as Python's int(s, 8): "022", "0o22", "22".
func octal(s string) (uint32, error) {
	t := strings.TrimSpace(s)
	if len(t) > 2 && (t[:2] == "0o" || t[:2] == "0O") {
		t = t[2:]
	}
	t = strings.ReplaceAll(t, "_", "")
	n, err := strconv.ParseUint(t, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not an octal number", s)
	}
	return uint32(n), nil
}

// signalNames are the Linux signals by name, for stopsignal (with or
// without SIG, any case).
var signalNames = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "ILL": syscall.SIGILL,
	"TRAP": syscall.SIGTRAP, "ABRT": syscall.SIGABRT, "IOT": syscall.SIGIOT, "BUS": syscall.SIGBUS,
	"FPE": syscall.SIGFPE, "KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "SEGV": syscall.SIGSEGV,
	"USR2": syscall.SIGUSR2, "PIPE": syscall.SIGPIPE, "ALRM": syscall.SIGALRM, "TERM": syscall.SIGTERM,
	"STKFLT": syscall.SIGSTKFLT, "CHLD": syscall.SIGCHLD, "CLD": syscall.SIGCHLD, "CONT": syscall.SIGCONT,
	"STOP": syscall.SIGSTOP, "TSTP": syscall.SIGTSTP, "TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU,
	"URG": syscall.SIGURG, "XCPU": syscall.SIGXCPU, "XFSZ": syscall.SIGXFSZ, "VTALRM": syscall.SIGVTALRM,
	"PROF": syscall.SIGPROF, "WINCH": syscall.SIGWINCH, "IO": syscall.SIGIO, "POLL": syscall.SIGIO,
	"PWR": syscall.SIGPWR, "SYS": syscall.SIGSYS, "RTMIN": 34, "RTMAX": 64,
}

// signalNumber reads a stopsignal: a name (TERM, SIGTERM, term) or a number.
func signalNumber(s string) (syscall.Signal, error) {
	if n, err := pyInt(s); err == nil {
		if n < 1 || n > 64 || (n > 31 && n != 34 && n != 64) {
			return 0, fmt.Errorf("%q is not a valid signal number", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	if sig, ok := signalNames[name]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("%q is not a signal name (TERM, HUP, INT, QUIT, KILL, USR1, USR2, ...) or number", s)
}

// exitCodes reads "0,2": each 0-255; duplicates are dropped; "" is none.
func exitCodes(s string) ([]int, error) {
	if s == "" {
		return []int{}, nil
	}
	var out []int
	for item := range strings.SplitSeq(s, ",") {
		n, err := pyInt(item)
		if err != nil || n < 0 || n > 255 {
			return nil, fmt.Errorf("%q is not a list of exit codes (0-255, separated by commas)", s)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// autorestart is true, false or unexpected.
type autorestart int

const (
	restartUnexpected autorestart = iota
	restartAlways
	restartNever
)

func parseAutorestart(s string) (autorestart, error) {
	if s2 := strings.ToLower(s); s2 == "unexpected" {
		return restartUnexpected, nil
	}
	b, err := pyBool(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not one of true, false, unexpected", s)
	}
	if b {
		return restartAlways, nil
	}
	return restartNever, nil
}

// splitCommand splits a command as Python's shlex.split does (POSIX mode):
// whitespace separates words; '...' is literal; in "..." a backslash escapes
// only \ and "; outside quotes a backslash escapes any character. An
// unterminated quote or a trailing backslash is an error.
func splitCommand(s string) ([]string, error) {
	var (
		args   []string
		b      strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if inWord {
				args = append(args, b.String())
				b.Reset()
				inWord = false
			}
			continue
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("no escaped character after the trailing backslash")
			}
			i++
			b.WriteByte(s[i])
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("no closing quotation")
			}
			b.WriteString(s[i+1 : i+1+end])
			i += 1 + end
		case c == '"':
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '\\' || s[i+1] == '"') {
					i++
				}
				b.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("no closing quotation")
			}
		default:
			b.WriteByte(c)
		}
		inWord = true
	}
	if inWord {
		args = append(args, b.String())
	}
	return args, nil
}

// envPairs reads supervisord's environment syntax (its
// dict_of_key_value_pairs): the value is cut into tokens as Python's shlex
// does in its non-POSIX mode (words of letters, digits and _/.+-():, quoted
// strings with their quotes, any other character alone, # to the end of the
// line a comment); then every four tokens are KEY = VALUE and a separator
// (any token), and VALUE loses the quote characters at its ends. A later
// KEY replaces an earlier one's value in its place.
func envPairs(s string) ([]string, error) {
	toks, err := envTokens(s)
	if err != nil {
		return nil, err
	}
	var env []string
	for i := 0; i < len(toks); i += 4 {
		if i+3 > len(toks) || toks[i+1] != "=" {
			return nil, fmt.Errorf("unexpected end of KEY=VALUE pairs in %q", s)
		}
		k, v := toks[i], strings.Trim(toks[i+2], `'"`)
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("%q is not a variable name", k)
		}
		if j := slices.IndexFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") }); j >= 0 {
			env[j] = k + "=" + v
		} else {
			env = append(env, k+"="+v)
		}
	}
	return env, nil
}

func isEnvWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_/.+-():", c) >= 0
}

func envTokens(s string) ([]string, error) {
	var (
		toks []string
		tok  []byte
	)
	const (
		stSpace = iota
		stWord
		stQuote
	)
	state := stSpace
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch state {
		case stSpace:
			switch {
			case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			case c == '#':
				i = skipLine(s, i)
			case isEnvWordChar(c):
				tok, state = []byte{c}, stWord
			case c == '\'' || c == '"':
				tok, state, quote = []byte{c}, stQuote, c
			default:
				toks = append(toks, string(c))
			}
		case stQuote:
			tok = append(tok, c)
			if c == quote {
				toks = append(toks, string(tok))
				tok, state = nil, stSpace
			}
		case stWord:
			switch {
			case c == ' ' || c == '\t' || c == '\r' || c == '\n':
				toks = append(toks, string(tok))
				tok, state = nil, stSpace
			case c == '#':
				i = skipLine(s, i) // the word goes on after the line (shlex's non-POSIX mode)
			case isEnvWordChar(c) || c == '\'' || c == '"':
				tok = append(tok, c)
			default:
				toks = append(toks, string(tok), string(c))
				tok, state = nil, stSpace
			}
		}
	}
	switch state {
	case stQuote:
		return nil, errors.New("no closing quotation")
	case stWord:
		toks = append(toks, string(tok))
	}
	return toks, nil
}

// skipLine returns the index of the '\n' ending the line at i (or the end).
func skipLine(s string, i int) int {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(s)
}

// listOfStrings splits on commas and trims each; "" is none.
func listOfStrings(s string) []string {
	if s == "" {
		return nil
	}
	out := strings.Split(s, ",")
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

// checkName is supervisord's rule for process and group names (no space, ':'
// or '/'), then ours (supervise's: 1-64 letters, digits, '-', '_', '.', not
// starting with '-' or '.').
func checkName(n string) error {
	if strings.ContainsAny(n, " :/") {
		return fmt.Errorf("invalid name %q: supervisord refuses a space, ':' or '/' in it", n)
	}
	if n == "" || len(n) > 64 || n[0] == '-' || n[0] == '.' {
		return fmt.Errorf("invalid name %q: names must be 1-64 letters, digits, '-', '_' or '.', not starting with '-' or '.'", n)
	}
	for _, r := range n {
		if !(r < unicode.MaxASCII && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')) {
			return fmt.Errorf("invalid name %q: names must be 1-64 letters, digits, '-', '_' or '.' (supervisor's rule, stricter than supervisord's)", n)
		}
	}
	return nil
}

// expandUser replaces a leading ~ or ~user as Python's os.path.expanduser.
func (p *parser) expandUser(path string) string {
	if !strings.HasPrefix(path, "~") {
		return path
	}
	name, rest, _ := strings.Cut(path[1:], "/")
	home := ""
	if name == "" {
		h, ok := p.env("HOME")
		if !ok {
			if u, err := config.LookupUser(strconv.Itoa(os.Getuid())); err == nil {
				h = u.Home
			}
		}
		home = h
	} else if u, err := config.LookupUser(name); err == nil && !isDigits(name) {
		home = u.Home
	}
	if home == "" {
		return path
	}
	if rest == "" && !strings.Contains(path, "/") {
		return home
	}
	return strings.TrimSuffix(home, "/") + "/" + rest
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// existingDirpath: a path (after ~) whose directory, if it names one, exists.
func (p *parser) existingDirpath(v string) (string, error) {
	nv := p.expandUser(v)
	dir := filepath.Dir(nv)
	if !strings.Contains(nv, "/") {
		return nv, nil
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("the directory named as part of the path %s does not exist", v)
	}
	return nv, nil
}

// existingDirectory: a directory (after ~) that exists.
func (p *parser) existingDirectory(v string) (string, error) {
	nv := p.expandUser(v)
	if st, err := os.Stat(nv); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s is not an existing directory", v)
	}
	return nv, nil
}

// abs makes a path absolute against the current directory and cleans it
// (supervisord's normalize_path).
func abs(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return filepath.Clean(path)
}
