package svconf

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/supervisor/supervisor/internal/config"
)

// value is one key's value as read, with where it was written.
type value struct {
	val  string
	file string
	line int
	here string // directory of file: %(here)s for this value
}

// section is one [NAME] of the configuration, merged over every file that
// names it (Python's configparser with strict off, as supervisord runs it).
type section struct {
	name  string
	file  string // where it first appears
	line  int
	keys  map[string]*value // lower-case key
	order []string          // keys in the order first set
}

// ini is the configuration as configparser reads it: sections in the order
// they first appear, across the main file and its includes.
type ini struct {
	sections []*section
	byName   map[string]*section
	defaults *section // [DEFAULT]: configparser's fallback for every section
}

func newINI() *ini {
	return &ini{byName: map[string]*section{}}
}

// get returns a key of sec, or of [DEFAULT].
func (c *ini) get(sec *section, key string) (*value, bool) {
	if v, ok := sec.keys[key]; ok {
		return v, true
	}
	if c.defaults != nil {
		if v, ok := c.defaults.keys[key]; ok {
			return v, true
		}
	}
	return nil, false
}

// pending is a value being read: continuation lines are appended to it.
type pending struct {
	sec   *section
	key   string
	parts []string
	v     *value
}

// read parses one file into c, as configparser's read does (inline comments
// ';' and '#' after whitespace, full-line comments, indented continuation
// lines, "key = value" or "key: value", lower-case keys). Problems are added
// to pr; included says the file is an [include]d one, whose own [include] is
// not followed (warned).
func (c *ini) read(file, here string, src []byte, included bool, pr *problems) {
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))
	// Python reads text with universal newlines: \r\n and a lone \r end lines.
	src = bytes.ReplaceAll(bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
	var (
		cur    *section
		curKey string // "" after a section header
		indent = 0
		pend   *pending
	)
	flush := func() {
		if pend == nil {
			return
		}
		// configparser joins the lines with newlines and strips the end.
		pend.v.val = strings.TrimRightFunc(strings.Join(pend.parts, "\n"), unicode.IsSpace)
		pend = nil
	}
	lines := strings.SplitAfter(string(src), "\n")
	for i, raw := range lines {
		n := i + 1
		if raw == "" {
			continue
		}
		if strings.IndexByte(raw, 0) >= 0 {
			pr.errorf(file, n, "", "", "line contains a NUL byte")
			continue
		}
		if !utf8.ValidString(raw) {
			pr.errorf(file, n, "", "", "line is not valid UTF-8")
			continue
		}
		cut := commentStart(raw)
		text := strings.TrimSpace(raw[:cut])
		if text == "" {
			// A blank line (not a comment) is part of a value that goes on.
			if cut == len(raw) && pend != nil {
				pend.parts = append(pend.parts, "")
			}
			continue
		}
		lvl := strings.IndexFunc(raw, func(r rune) bool { return !unicode.IsSpace(r) })
		if cur != nil && curKey != "" && lvl > indent && pend != nil {
			pend.parts = append(pend.parts, text)
			continue
		}
		flush()
		indent = lvl
		if name, ok := sectionHeader(text); ok {
			curKey = ""
			switch {
			case name == "DEFAULT":
				if c.defaults == nil {
					c.defaults = &section{name: name, file: file, line: n, keys: map[string]*value{}}
					pr.warnf(file, n, name, "", "[DEFAULT]: its keys apply to every section that does not set them (Python's configparser)")
				}
				cur = c.defaults
			case included && name == "include":
				pr.warnf(file, n, name, "", "[include] in an included file is not followed (supervisord reads only the main file's): skipped")
				cur = &section{name: name, file: file, line: n, keys: map[string]*value{}} // read, then dropped
			default:
				if s, ok := c.byName[name]; ok {
					pr.warnf(file, n, name, "", "section [%s] appears again (first at %s:%d): supervisord merges the two, a key set in both takes this one's value", name, s.file, s.line)
					cur = s
				} else {
					cur = &section{name: name, file: file, line: n, keys: map[string]*value{}}
					c.sections = append(c.sections, cur)
					c.byName[name] = cur
				}
			}
			continue
		}
		if cur == nil {
			pr.errorf(file, n, "", "", "key before any section header: %q (supervisord refuses the file)", text)
			continue
		}
		key, val, ok := optionLine(text)
		if !ok {
			pr.errorf(file, n, cur.name, "", "expected \"key = value\", \"key: value\" or a [section] header, got %q", text)
			continue
		}
		if old, ok := cur.keys[key]; ok {
			pr.warnf(file, n, cur.name, key, "set again (first at %s:%d): supervisord uses this value", old.file, old.line)
		} else {
			cur.order = append(cur.order, key)
		}
		v := &value{val: val, file: file, line: n, here: here}
		cur.keys[key] = v
		curKey = key
		pend = &pending{sec: cur, key: key, parts: []string{val}, v: v}
	}
	flush()
}

// commentStart is where a comment starts in a raw line (len(line) if none):
// a line whose first non-blank character is ';' or '#' is all comment;
// otherwise an inline ';' or '#' counts when it begins the line or follows
// whitespace. Like configparser, it looks at the occurrences of each prefix
// in step (the first of each, then the second of each, ...) and stops at the
// first step where one qualifies, taking the leftmost that does then.
func commentStart(line string) int {
	t := strings.TrimSpace(line)
	if strings.HasPrefix(t, ";") || strings.HasPrefix(t, "#") {
		return 0
	}
	idx := map[byte]int{';': -1, '#': -1}
	for len(idx) > 0 {
		best := -1
		for _, p := range []byte{';', '#'} {
			from, ok := idx[p]
			if !ok {
				continue
			}
			j := strings.IndexByte(line[from+1:], p)
			if j < 0 {
				delete(idx, p)
				continue
			}
			j += from + 1
			idx[p] = j
			if j == 0 || precededBySpace(line, j) {
				if best < 0 || j < best {
					best = j
				}
			}
		}
		if best >= 0 {
			return best
		}
	}
	return len(line)
}

func precededBySpace(s string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return unicode.IsSpace(r)
}

// sectionHeader matches configparser's "[" NAME "]" (NAME: everything to the
// last ']', kept as is; anything after it is ignored).
func sectionHeader(text string) (string, bool) {
	if !strings.HasPrefix(text, "[") {
		return "", false
	}
	end := strings.LastIndexByte(text, ']')
	if end < 2 {
		return "", false
	}
	return text[1:end], true
}

// optionLine splits "key = value" or "key: value" at the first '=' or ':';
// the key is lower-cased, both are trimmed. An empty key is not an option.
func optionLine(text string) (key, val string, ok bool) {
	i := strings.IndexAny(text, "=:")
	if i < 0 {
		return "", "", false
	}
	key = strings.TrimRightFunc(text[:i], unicode.IsSpace)
	if key == "" {
		return "", "", false
	}
	return strings.ToLower(key), strings.TrimSpace(text[i+1:]), true
}

// problems collects errors and warnings.
type problems struct {
	errs     []*config.Error
	warnings []*config.Error
	seenE    map[string]bool
	seenW    map[string]bool
}

// maxProblems bounds each list (the rest is counted in the last entry).
const maxProblems = 200

func (p *problems) errorf(file string, line int, sec, key, format string, args ...any) {
	p.addErr(&config.Error{File: file, Line: line, Section: sec, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) addErr(e *config.Error) {
	if p.seenE == nil {
		p.seenE = map[string]bool{}
	}
	s := e.Error()
	if p.seenE[s] || len(p.errs) >= maxProblems {
		return
	}
	p.seenE[s] = true
	p.errs = append(p.errs, e)
}

func (p *problems) warnf(file string, line int, sec, key, format string, args ...any) {
	if p.seenW == nil {
		p.seenW = map[string]bool{}
	}
	e := &config.Error{File: file, Line: line, Section: sec, Key: key, Msg: fmt.Sprintf(format, args...)}
	s := e.Error()
	if p.seenW[s] || len(p.warnings) >= maxProblems {
		return
	}
	p.seenW[s] = true
	p.warnings = append(p.warnings, e)
}
