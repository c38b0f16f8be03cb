package supervise

import "github.com/hashicorp/go-hclog"

// ClassifyLevel returns the level a line of program output names by its
// prefix, or def when it names none. Recognised, at the start of the line:
//
//   - a bracketed level, in any case: go-hclog's "[ERROR]", nginx's "[error]",
//     "[warn]", "[emerg]" ...; nginx's also after its date ("2026/12/04
//     10:00:00 [error] 12#12: ...");
//   - a level word, upper case, followed by anything but a letter or digit
//     ("ERROR ...", "WARNING:root:...", "INFO|...") or the end of the line;
//     in any other case only when a colon follows it ("error: ...",
//     "Warning: ...");
//   - glog's and klog's header: I, W, E or F, then MMDD, a space and hh:
//     ("E1204 10:00:00.123 ...").
//
// The words: emerg, alert, crit, critical, fatal, panic, error and err are
// Error; warn and warning are Warn; notice and info are Info; debug is Debug;
// trace is Trace. Anything else (a word within the line, "errors are fine"
// that a prefix of it spells) leaves def.
func ClassifyLevel(line []byte, def hclog.Level) hclog.Level {
	if len(line) == 0 {
		return def
	}
	switch c := line[0]; {
	case c == '[':
		if lv := bracketed(line); lv != hclog.NoLevel {
			return lv
		}
	case c >= '0' && c <= '9':
		// nginx: "2026/12/04 10:00:00 [error] ..."
		if len(line) > 21 && isNginxDate(line[:19]) && line[19] == ' ' && line[20] == '[' {
			if lv := bracketed(line[20:]); lv != hclog.NoLevel {
				return lv
			}
		}
	default:
		if lv := glogHeader(line); lv != hclog.NoLevel {
			return lv
		}
		if lv := leadingWord(line); lv != hclog.NoLevel {
			return lv
		}
	}
	return def
}

// bracketed reads "[word]" at the start of b, in any case.
func bracketed(b []byte) hclog.Level {
	for i := 1; i < len(b) && i <= 9; i++ {
		if b[i] == ']' {
			return levelWord(b[1:i], true)
		}
	}
	return hclog.NoLevel
}

// leadingWord reads a level word at the start of b: upper case followed by a
// byte that is not a letter or digit (or nothing), or any case followed by ':'.
func leadingWord(b []byte) hclog.Level {
	i := 0
	for i < len(b) && i <= 8 && isLetter(b[i]) {
		i++
	}
	if i == 0 || i > 8 {
		return hclog.NoLevel
	}
	if i < len(b) && isDigit(b[i]) {
		return hclog.NoLevel
	}
	upper := true
	for _, c := range b[:i] {
		if c >= 'a' && c <= 'z' {
			upper = false
			break
		}
	}
	if !upper && (i == len(b) || b[i] != ':') {
		return hclog.NoLevel
	}
	return levelWord(b[:i], !upper)
}

// glogHeader reads glog's "Lmmdd hh:" (L one of I, W, E, F).
func glogHeader(b []byte) hclog.Level {
	if len(b) < 9 || !isDigit(b[1]) || !isDigit(b[2]) || !isDigit(b[3]) || !isDigit(b[4]) || b[5] != ' ' ||
		!isDigit(b[6]) || !isDigit(b[7]) || b[8] != ':' {
		return hclog.NoLevel
	}
	switch b[0] {
	case 'I':
		return hclog.Info
	case 'W':
		return hclog.Warn
	case 'E', 'F':
		return hclog.Error
	}
	return hclog.NoLevel
}

// levelWord maps a level word to its level: upper case always, any case if
// anyCase.
func levelWord(w []byte, anyCase bool) hclog.Level {
	var lower [8]byte
	if len(w) == 0 || len(w) > len(lower) {
		return hclog.NoLevel
	}
	for i, c := range w {
		switch {
		case c >= 'A' && c <= 'Z':
			lower[i] = c + 'a' - 'A'
		case c >= 'a' && c <= 'z' && anyCase:
			lower[i] = c
		default:
			return hclog.NoLevel
		}
	}
	switch string(lower[:len(w)]) {
	case "emerg", "alert", "crit", "critical", "fatal", "panic", "error", "err":
		return hclog.Error
	case "warn", "warning":
		return hclog.Warn
	case "notice", "info":
		return hclog.Info
	case "debug":
		return hclog.Debug
	case "trace":
		return hclog.Trace
	}
	return hclog.NoLevel
}

// isNginxDate reports whether b is "yyyy/mm/dd hh:mm:ss".
func isNginxDate(b []byte) bool {
	for i, c := range b {
		switch i {
		case 4, 7:
			if c != '/' {
				return false
			}
		case 10:
			if c != ' ' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if !isDigit(c) {
				return false
			}
		}
	}
	return true
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
