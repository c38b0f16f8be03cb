package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// readEnvFile reads the env_file at path (a leading '-' means a missing file
// is no error, as in systemd's EnvironmentFile=-PATH) under the limits of a
// config file, and parses it (ParseEnvFile). Errors name the file and line.
func readEnvFile(path string) ([]string, error) {
	optional := strings.HasPrefix(path, "-")
	if optional {
		path = path[1:]
	}
	// A regular file only: readFile would take our stdin (-c /dev/stdin is
	// deliberate; an env_file of /dev/stdin would block a reload on a terminal).
	src, err := []byte(nil), error(nil)
	if st, serr := os.Stat(path); serr != nil {
		err = serr
	} else if !st.Mode().IsRegular() {
		err = ErrNotRegular
	} else {
		src, err = readFile(path)
	}
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: cannot read: %w", path, pe.Err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ParseEnvFile(path, src)
}

// ParseEnvFile parses an environment file as systemd's EnvironmentFile= reads
// one, into KEY=VALUE strings (a variable set twice: the last setting wins, in
// the first one's place). name is used in errors, as "name:LINE: ...".
//
//   - Blank lines, and lines whose first non-blank character is '#' or ';', are
//     skipped. A '#' elsewhere is part of the value.
//   - A line is KEY=VALUE, optionally preceded by "export " (as a shell script
//     would have it). KEY is letters, digits and '_', not starting with a
//     digit; blanks around KEY and after '=' are dropped.
//   - VALUE runs to the end of the line, trailing blanks dropped. In it,
//     '...' is literal (it may span lines); inside "..." a backslash escapes
//     " \ ` $ and a newline (which is then dropped), and is kept before
//     anything else; outside quotes a backslash escapes any character, and a
//     backslash at the end of a line continues the value on the next line.
//     Quoted and unquoted parts join: A="x"y is xy.
//   - Nothing is expanded: $VAR and ${VAR} reach the program as written.
func ParseEnvFile(name string, src []byte) ([]string, error) {
	s := strings.ReplaceAll(string(src), "\r\n", "\n")
	s = strings.TrimPrefix(s, "\ufeff")
	var env []string
	line := 1
	i := 0
	fail := func(l int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, l, fmt.Sprintf(format, args...))
	}
	blank := func(c byte) bool { return c == ' ' || c == '\t' }
	for i < len(s) {
		for i < len(s) && blank(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] == '\n' {
			line++
			i++
			continue
		}
		if s[i] == '#' || s[i] == ';' {
			for i < len(s) && s[i] != '\n' {
				i++
			}
			continue
		}
		start := line
		if rest, ok := strings.CutPrefix(s[i:], "export"); ok && rest != "" && blank(rest[0]) {
			i += len("export")
			for i < len(s) && blank(s[i]) {
				i++
			}
		}
		k := i
		for i < len(s) && isNameByte(s[i]) {
			i++
		}
		key := s[k:i]
		for i < len(s) && blank(s[i]) {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			end := strings.IndexByte(s[k:], '\n')
			if end < 0 {
				end = len(s) - k
			}
			return nil, fail(start, "%q is not KEY=VALUE (KEY is letters, digits and '_')", s[k:k+end])
		}
		if !validVarName(key) {
			return nil, fail(start, "%q is not a variable name (letters, digits and '_', not starting with a digit)", key)
		}
		i++ // '='
		for i < len(s) && blank(s[i]) {
			i++
		}
		var b strings.Builder
		keep := 0 // length of b up to the last quoted or non-blank character
	value:
		for i < len(s) {
			switch c := s[i]; {
			case c == '\n':
				break value
			case blank(c):
				b.WriteByte(c)
				i++
				continue
			case c == '\\':
				if i+1 >= len(s) {
					i++
					continue
				}
				if s[i+1] == '\n' {
					line++
				} else {
					b.WriteByte(s[i+1])
				}
				i += 2
			case c == '\'':
				end := strings.IndexByte(s[i+1:], '\'')
				if end < 0 {
					return nil, fail(start, "%s: unterminated single quote", key)
				}
				q := s[i+1 : i+1+end]
				line += strings.Count(q, "\n")
				b.WriteString(q)
				i += end + 2
			case c == '"':
				i++
				for {
					if i >= len(s) {
						return nil, fail(start, "%s: unterminated double quote", key)
					}
					d := s[i]
					if d == '"' {
						i++
						break
					}
					if d == '\\' && i+1 < len(s) && strings.IndexByte("\"\\`$\n", s[i+1]) >= 0 {
						if s[i+1] == '\n' {
							line++
						} else {
							b.WriteByte(s[i+1])
						}
						i += 2
						continue
					}
					if d == '\n' {
						line++
					}
					b.WriteByte(d)
					i++
				}
			default:
				b.WriteByte(c)
				i++
			}
			keep = b.Len()
		}
		env = MergeEnv(env, []string{key + "=" + b.String()[:keep]})
	}
	return env, nil
}
