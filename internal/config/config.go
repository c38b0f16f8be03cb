package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/probe"
	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/worker"
)

// Error is the type of every error Parse and Load return.
type Error struct {
	File    string // the name given to Parse, or the path given to Load
	Line    int    // 1-based line number; 0 when the error is about the whole file
	Section string // section the error is in, without brackets ("supervisor", "defaults", "program:web"); may be empty
	Key     string // key the error is about; empty for syntax errors and section-level errors
	Msg     string // what is wrong
	Err     error  // underlying cause, if any: a supervise.Validate error (wrapping supervise.ErrInvalidSpec) or a read error
}

// Error formats e as "FILE:LINE: [SECTION] KEY: MSG", leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Section != "" {
		b.WriteString("[" + e.Section + "] ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	msg := e.Msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	b.WriteString(msg)
	return b.String()
}

// Unwrap returns the underlying cause, or nil.
func (e *Error) Unwrap() error { return e.Err }

// maxErrors bounds the problems one Parse reports; the rest are counted.
const maxErrors = 50

// Errors is what Parse and Load return for a file with more than one problem:
// each one (at most maxErrors, 50, in line order), and how many more there were.
// errors.As finds the first *Error through Unwrap.
type Errors struct {
	List    []*Error
	Omitted int // problems found after the first maxErrors
}

// Error is every problem on a line of its own, then "and N more problems" when
// some were left out.
func (e *Errors) Error() string {
	var b strings.Builder
	for i, err := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(err.Error())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "\nand %d more problem(s)", e.Omitted)
	}
	return b.String()
}

// Unwrap returns every problem as an error, in order.
func (e *Errors) Unwrap() []error {
	out := make([]error, len(e.List))
	for i, err := range e.List {
		out[i] = err
	}
	return out
}

// maxFileSize bounds a config file: a supervisor reloading on SIGHUP must not be
// made to read /dev/zero, or a log file named by mistake, until it runs out of
// memory.
const maxFileSize = 1 << 20

// ErrTooLarge is wrapped by the error for a config file over 1 MiB (maxFileSize).
var ErrTooLarge = errors.New("config file too large")

// Load reads and parses the file at path of at most maxFileSize bytes: a
// regular file, or a pipe given as -c /dev/stdin or -c <(command) (see
// ReadFile). A read failure is returned as an *Error (Line 0) wrapping the
// *fs.PathError, so errors.Is(err, fs.ErrNotExist) works.
func Load(path string) (supervise.Group, error) {
	src, err := ReadFile(path)
	if err != nil {
		return supervise.Group{}, err
	}
	return Parse(path, src)
}

// ReadFile reads a config file as Load does, for a caller that parses it more than
// once (Parse, then CheckCommands): a pipe can be read only once.
//
// It reads a regular file; an anonymous pipe (a shell's <(command), or our
// stdin when it is a pipe: -c /dev/stdin); or whatever our stdin is. Anything
// else is refused with an error wrapping ErrNotRegular before it is read, or
// opened when the path says what it is: a named pipe (FIFO) would make the read
// wait for a writer that may never come (run --check -c FIFO hung), a device
// can be endless or have effects when opened, a socket cannot be opened, and a
// directory is not a file. The file is opened non-blocking, and what was opened
// is checked again.
func ReadFile(path string) ([]byte, error) {
	src, err := readFile(path)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = "cannot read: " + pe.Err.Error()
		}
		return nil, &Error{File: path, Msg: msg, Err: err}
	}
	return src, nil
}

// ErrNotRegular is wrapped by the error for a config file that is not a regular
// file, an anonymous pipe or stdin (see ReadFile).
var ErrNotRegular = errors.New("not a regular file")

func readFile(path string) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	var sfs unix.Statfs_t
	pipefs := unix.Statfs(path, &sfs) == nil && sfs.Type == unix.PIPEFS_MAGIC
	if err := readable(st, pipefs); err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	// O_NONBLOCK: if a FIFO took the file's place since, opening it must not
	// wait for a writer (it is refused just below).
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		if serr = unix.Fstat(int(fd), &st); serr == nil {
			pipefs = unix.Fstatfs(int(fd), &sfs) == nil && sfs.Type == unix.PIPEFS_MAGIC
		}
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: serr}
	}
	if err := readable(st, pipefs); err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	// The limit bounds what any file costs: a pipe has no size to check first.
	src, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(src) > maxFileSize {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxFileSize)
	}
	return src, nil
}

// readable says whether a file st describes may be read as a config file: a
// regular file, an anonymous pipe (pipefs: it lives in pipefs), or our stdin.
func readable(st unix.Stat_t, pipefs bool) error {
	kind := ""
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFDIR:
		return errors.New("is a directory")
	case unix.S_IFIFO:
		if pipefs {
			return nil
		}
		kind = "a named pipe (FIFO): reading it would wait for a writer"
	case unix.S_IFCHR:
		kind = "a character device"
	case unix.S_IFBLK:
		kind = "a block device"
	case unix.S_IFSOCK:
		kind = "a socket"
	default:
		kind = fmt.Sprintf("a file of type %#o", st.Mode&unix.S_IFMT)
	}
	var in unix.Stat_t
	if unix.Fstat(0, &in) == nil && in.Dev == st.Dev && in.Ino == st.Ino && in.Rdev == st.Rdev {
		return nil // our stdin, given as /dev/stdin: deliberate
	}
	return fmt.Errorf("%w: it is %s; give a file, or a pipe as -c /dev/stdin or -c <(command)", ErrNotRegular, kind)
}

// Workers is the catalogue of the built-in workers this binary links
// (internal/worker's registry), for supervise.Options.Workers and for the
// checks of spawner reexec and goroutine programs here.
func Workers() supervise.Catalogue {
	return supervise.Catalogue{Reexec: worker.Names(), Funcs: worker.Funcs()}
}

// Parse parses src; name is used in error messages (the file name). On failure it
// returns the zero Group and every problem in the file: an *Error when there is
// one, an *Errors when there are more.
func Parse(name string, src []byte) (supervise.Group, error) {
	g, err := newParser(name).parse(src)
	if err != nil {
		return supervise.Group{}, err
	}
	return g, nil
}

func newParser(name string) *parser {
	return &parser{
		file:     name,
		base:     supervise.DefaultSpec(),
		baseKeys: map[string]int{},
		names:    map[string]int{},
		group:    supervise.Group{Strategy: supervise.OneForOne},
	}
}

type sectionKind int

const (
	sectNone sectionKind = iota
	sectSupervisor
	sectDefaults
	sectProgram
	sectSkip // after a section header that was refused: its keys are not checked
)

// program is a [program:NAME] section being or having been parsed.
type program struct {
	spec supervise.Spec
	line int            // line of the section header
	keys map[string]int // key -> line where it is set in this section
	// probe holds probe_interval, probe_timeout and probe_failures as set in
	// this section; endSection applies them (over [defaults]') to its probes.
	probe map[string]string
	// workerKind is the kind key's value (goroutine, reexec, exec), from this
	// section or [defaults], or "" when neither sets it.
	workerKind string
	// raw holds the values of the keys endSection applies (isRawKey) as
	// written; instanceNames, the names of its instances (instances = N).
	raw           map[string]string
	instanceNames []string
}

type parser struct {
	file string

	group     supervise.Group
	base      supervise.Spec    // DefaultSpec with [defaults] applied
	baseKeys  map[string]int    // keys set in [defaults] -> line
	baseKind  string            // kind set in [defaults], or ""
	baseProbe map[string]string // probe_* keys set in [defaults]
	baseRaw   map[string]string // keys of isRawKey set in [defaults], as written
	names     map[string]int    // program name -> header line
	programs  []*program

	kind        sectionKind
	section     string         // current section name, without brackets
	sectionKeys map[string]int // keys set in the current section -> line
	cur         *program       // current program, when kind == sectProgram

	supervisorLine int // line of [supervisor], 0 if none yet
	defaultsLine   int // line of [defaults], 0 if none yet

	// Every problem is collected (add), not only the first: errs holds the first
	// maxErrors of them, omitted counts the rest. sectionErrs counts the current
	// section's, defaultsErrs [defaults]'s: a program whose keys (or defaults)
	// failed is not checked as a whole (Validate), which would only report the
	// same mistakes again, as consequences.
	errs         []*Error
	omitted      int
	sectionErrs  int
	defaultsErrs int
}

// add records a problem (nil is none).
func (p *parser) add(err error) {
	if err == nil {
		return
	}
	p.sectionErrs++
	if p.kind == sectDefaults {
		p.defaultsErrs++
	}
	e, ok := err.(*Error)
	if !ok {
		e = &Error{File: p.file, Msg: err.Error(), Err: err}
	}
	if len(p.errs) == maxErrors {
		p.omitted++
		return
	}
	p.errs = append(p.errs, e)
}

// failure is the error for the problems found: nil, the one *Error, or an
// *Errors in line order.
func (p *parser) failure() error {
	switch len(p.errs) {
	case 0:
		return nil
	case 1:
		if p.omitted == 0 {
			return p.errs[0]
		}
	}
	list := slices.Clone(p.errs)
	slices.SortStableFunc(list, func(a, b *Error) int { return a.Line - b.Line })
	return &Errors{List: list, Omitted: p.omitted}
}

func (p *parser) errorf(line int, key, format string, args ...any) *Error {
	return &Error{File: p.file, Line: line, Section: p.section, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse(src []byte) (supervise.Group, error) {
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	lines := strings.Split(string(src), "\n")
	for i, raw := range lines {
		n := i + 1
		raw = strings.TrimSuffix(raw, "\r")
		if strings.IndexByte(raw, 0) >= 0 {
			p.add(p.errorf(n, "", "line contains a NUL byte"))
			continue
		}
		code, hadComment := stripComment(raw)
		line := strings.TrimSpace(code)
		switch {
		case line == "":
			continue
		case line[0] == '[':
			p.add(p.endSection())
			p.sectionErrs = 0
			if err := p.header(n, line); err != nil {
				p.add(err)
				p.kind = sectSkip // its keys would each be "outside any section"
			}
		case p.kind == sectSkip:
			continue
		default:
			p.add(p.keyValue(n, line, hadComment))
		}
	}
	p.add(p.endSection())
	if len(p.programs) == 0 && len(p.errs) == 0 { // else a refused header may be why
		p.add(&Error{File: p.file, Msg: "no [program:NAME] sections"})
	}
	if err := p.failure(); err != nil {
		return supervise.Group{}, err
	}
	p.expandInstanceDeps()
	if err := p.group.Validate(); err != nil {
		// Every program and the strategy were checked already; this only catches
		// group-level rules that the parser does not know about (and runs only
		// on a file with no other problem: they may be their consequences).
		return supervise.Group{}, p.validateError(err)
	}
	return p.group, nil
}

// stripComment cuts line at the first ';' or '#' that starts it or follows
// whitespace: supervisord's rule (Python's configparser with
// inline_comment_prefixes ';' and '#'). "a = b ; c" is "a = b", "a = b;c" and
// "a = b#c" stay whole. Quotes do not protect: supervisord's don't either. It
// reports whether it cut anything.
func stripComment(line string) (string, bool) {
	for i := 0; i < len(line); i++ {
		if c := line[i]; (c == ';' || c == '#') && (i == 0 || isSpace(line[i-1])) {
			return line[:i], true
		}
	}
	return line, false
}

// commentHint is added to the error for a value that a comment cut short, in
// case the ';' or '#' was meant to be part of it.
const commentHint = ` (a ';' or '#' after whitespace starts a comment; in command and environment, \; or \# outside quotes keeps one)`

// header handles a line that starts with '[' (the section before it has been
// ended).
func (p *parser) header(n int, line string) error {
	p.kind, p.section, p.cur, p.sectionKeys = sectNone, "", nil, map[string]int{}
	if !strings.HasSuffix(line, "]") || len(line) < 2 {
		return p.errorf(n, "", "malformed section header %q: it must end with ']'", line)
	}
	name := strings.TrimSpace(line[1 : len(line)-1])
	if kind, prog, ok := strings.Cut(name, ":"); ok { // [ program : a ] is [program:a]
		name = strings.TrimSpace(kind) + ":" + strings.TrimSpace(prog)
	}
	switch {
	case name == "supervisor":
		if p.supervisorLine != 0 {
			return p.errorf(n, "", "duplicate section [supervisor] (first at line %d)", p.supervisorLine)
		}
		p.supervisorLine = n
		p.kind, p.section = sectSupervisor, name
	case name == "defaults":
		if p.defaultsLine != 0 {
			return p.errorf(n, "", "duplicate section [defaults] (first at line %d)", p.defaultsLine)
		}
		if len(p.programs) > 0 {
			return p.errorf(n, "", "[defaults] must come before the first [program:NAME] section (line %d)", p.programs[0].line)
		}
		p.defaultsLine = n
		p.kind, p.section = sectDefaults, name
	case strings.HasPrefix(name, "program:"):
		prog := strings.TrimSpace(strings.TrimPrefix(name, "program:"))
		if prog == "" {
			return p.errorf(n, "", "missing program name in [program:NAME]")
		}
		p.section = "program:" + prog
		if first, ok := p.names[prog]; ok {
			return p.errorf(n, "", "duplicate program name %q (first defined at line %d)", prog, first)
		}
		p.names[prog] = n
		spec := cloneSpec(p.base)
		spec.Name = prog
		spec.Command = nil
		p.cur = &program{spec: spec, line: n, keys: p.sectionKeys, workerKind: p.baseKind}
		p.programs = append(p.programs, p.cur)
		p.kind = sectProgram
	case name == "program":
		return p.errorf(n, "", "section [program] needs a name: [program:NAME]")
	default:
		return p.errorf(n, "", "unknown section [%s] (expected [supervisor], [defaults] or [program:NAME])", name)
	}
	return nil
}

// keyValue handles a line that is not blank, a comment or a section header;
// hadComment says that an inline comment was cut from its end.
func (p *parser) keyValue(n int, line string, hadComment bool) error {
	eq := strings.IndexByte(line, '=')
	if eq < 0 {
		return p.errorf(n, "", "expected \"key = value\" or a [section] header, got %q", line)
	}
	key := strings.TrimSpace(line[:eq])
	val := strings.TrimSpace(line[eq+1:])
	if key == "" {
		return p.errorf(n, "", "missing key before '=' in %q", line)
	}
	if p.kind == sectNone {
		return p.errorf(n, key, "key outside any section (add a [supervisor], [defaults] or [program:NAME] header above it)")
	}
	var f field
	switch p.kind {
	case sectSupervisor:
		if key != "strategy" && key != "kill_mode" {
			return p.errorf(n, key, "unknown key in [supervisor] (the keys are strategy and kill_mode)")
		}
	default:
		var ok bool
		if f, ok = programKeys[key]; !ok {
			return p.errorf(n, key, "unknown key%s", supervisordHint(key))
		}
		if p.kind == sectDefaults && key == "command" {
			return p.errorf(n, key, "cannot be set in [defaults]; every program needs its own command")
		}
	}
	if first, ok := p.sectionKeys[key]; ok {
		return p.errorf(n, key, "duplicate key (first set at line %d)", first)
	}
	p.sectionKeys[key] = n
	hint := ""
	if hadComment {
		hint = commentHint
	}
	if val == "" && !f.emptyOK {
		return p.errorf(n, key, "empty value%s", hint)
	}
	val, err := p.expandEarly(key, val) // ${VAR} (ident.go)
	if err != nil {
		return p.errorf(n, key, "%s", err.Error())
	}

	switch p.kind {
	case sectSupervisor:
		if key == "kill_mode" {
			p.group.KillMode, err = parseKillMode(val)
		} else {
			p.group.Strategy, err = parseStrategy(val)
		}
	case sectDefaults:
		err = f.set(&p.base, val)
		p.baseKeys[key] = n
		if err == nil && strings.HasPrefix(key, "probe_") {
			if p.baseProbe == nil {
				p.baseProbe = map[string]string{}
			}
			p.baseProbe[key] = val
		}
	case sectProgram:
		err = f.set(&p.cur.spec, val)
		if err == nil && strings.HasPrefix(key, "probe_") {
			if p.cur.probe == nil {
				p.cur.probe = map[string]string{}
			}
			p.cur.probe[key] = val
		}
	}
	if err != nil {
		return &Error{File: p.file, Line: n, Section: p.section, Key: key, Msg: err.Error() + hint}
	}
	if key == "kind" {
		if p.kind == sectDefaults {
			p.baseKind = val
		} else {
			p.cur.workerKind = val
		}
	}
	return nil
}

// endSection finishes the current section: a program must have a command and pass
// supervise's Validate.
func (p *parser) endSection() error {
	if p.kind != sectProgram {
		return nil
	}
	pr := p.cur
	if _, ok := pr.keys["command"]; !ok {
		return &Error{File: p.file, Line: pr.line, Section: p.section, Key: "command", Msg: "missing required key"}
	}
	if err := p.prepareProgram(pr); err != nil { // user, ${VAR}, env_file (ident.go)
		return err
	}
	if k := pr.workerKind; k != "" {
		if got := kindOf(pr.spec.Spawner); got != k {
			e := &Error{File: p.file, Line: pr.line, Section: p.section, Key: "spawner",
				Msg: fmt.Sprintf("spawner = %s contradicts kind = %s", pr.spec.Spawner, k)}
			if line, ok := pr.keys["spawner"]; ok {
				e.Line = line
			} else if line, ok := p.baseKeys["spawner"]; ok {
				e.Line, e.Section = line, "defaults"
			}
			return e
		}
	}
	for _, ps := range []**probe.Spec{&pr.spec.ReadyProbe, &pr.spec.LiveProbe} {
		if *ps != nil {
			c := **ps // [defaults] probes are shared: each program gets its own
			applyProbeTiming(&c, p.baseProbe)
			applyProbeTiming(&c, pr.probe)
			*ps = &c
		}
	}
	_, inProgram := pr.keys["protocol"]
	_, inDefaults := p.baseKeys["protocol"]
	if !inProgram && !inDefaults && Workers().SpeaksProtocol(&pr.spec) {
		pr.spec.Protocol = true // a goroutine worker, or a re-executed one that speaks the link
	}
	if p.sectionErrs > 0 || p.defaultsErrs > 0 {
		return nil // reported already; the whole is checked once they are fixed
	}
	if err := p.checkLogKeys(pr); err != nil {
		return err
	}
	if err := pr.spec.Validate(); err != nil {
		return p.validateError(err)
	}
	if err := Workers().Check(&pr.spec); err != nil {
		return p.validateError(err)
	}
	return p.appendProgram(pr) // or its instances (ident.go)
}

// validateError turns an error from supervise's Validate into an *Error pointing at
// the line of the offending key when it can tell which one that is, else at the
// program's section header.
//
// Validate's messages look like
//
//	supervise: invalid spec: program "web": backoff_max: 1s is less than backoff_initial 2s
//
// where the field is named by its config key.
func (p *parser) validateError(err error) *Error {
	e := &Error{File: p.file, Msg: err.Error(), Err: err}
	rest, ok := strings.CutPrefix(err.Error(), supervise.ErrInvalidSpec.Error()+": ")
	if !ok {
		return e
	}
	e.Msg = rest
	var pr *program
	for _, q := range p.programs {
		if after, ok := strings.CutPrefix(rest, "program "+strconv.Quote(q.spec.Name)+": "); ok {
			pr, rest = q, after
			break
		}
	}
	if pr == nil {
		if p.supervisorLine != 0 {
			e.Line, e.Section = p.supervisorLine, "supervisor"
		}
		return e
	}
	e.Line, e.Section = pr.line, "program:"+pr.spec.Name
	field, msg, ok := strings.Cut(rest, ": ")
	switch {
	case ok && field == "name":
		e.Msg = fmt.Sprintf("invalid program name %q: %s", pr.spec.Name, msg)
	case ok && isProgramKey(field):
		e.Key, e.Msg = field, msg
		if line, set := pr.keys[field]; set {
			e.Line = line
		} else if line, set := p.baseKeys[field]; set {
			e.Line, e.Section = line, "defaults"
			e.Msg = fmt.Sprintf("%s (in program %q)", msg, pr.spec.Name)
		} else {
			e.Msg = fmt.Sprintf("%s (%s is not set, so its built-in default applies)", msg, field)
		}
	}
	return e
}

// supervisordKeys maps supervisord's program keys that have an equivalent here
// to it, for the error about an unknown key.
var supervisordKeys = map[string]string{
	"autorestart":  "restart; its true is always, unexpected is on-failure",
	"startsecs":    "min_uptime",
	"startretries": "start_retries",
	"stopsignal":   "stop_signal",
	"stopwaitsecs": "stop_grace",
	"exitcodes":    "success_codes",
}

// supervisordHint is what the error about an unknown key adds when the key is
// supervisord's: the key to use instead.
func supervisordHint(key string) string {
	if to, ok := supervisordKeys[key]; ok {
		return " (supervisord's; here it is " + to + ")"
	}
	return ""
}

// field describes one program key.
type field struct {
	set     func(s *supervise.Spec, v string) error
	emptyOK bool // an empty value is allowed (and means "none")
}

// programKeys maps every key of [program:NAME] and [defaults] to its setter.
var programKeys = map[string]field{
	"command": {set: func(s *supervise.Spec, v string) (err error) {
		s.Command, err = splitCommand(v)
		return err
	}},
	"spawner": {set: func(s *supervise.Spec, v string) error {
		k := supervise.SpawnerKind(v)
		if !slices.Contains(supervise.Spawners, k) {
			return fmt.Errorf("%q is not one of exec, forkexec, reexec", v)
		}
		s.Spawner = k
		return nil
	}},
	"kind": {set: func(s *supervise.Spec, v string) error {
		switch k := supervise.SpawnerKind(v); k {
		case supervise.SpawnGoroutine, supervise.SpawnReexec:
			s.Spawner = k
		case supervise.SpawnExec:
			if s.Spawner != supervise.SpawnForkExec {
				s.Spawner = k
			}
		default:
			return fmt.Errorf("%q is not one of goroutine, reexec, exec", v)
		}
		return nil
	}},
	"directory": {emptyOK: true, set: func(s *supervise.Spec, v string) error {
		if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, `'`) {
			return fmt.Errorf("%q: quotes are not processed in directory; write the path without them", v)
		}
		s.Dir = v
		return nil
	}},
	"environment": {emptyOK: true, set: func(s *supervise.Spec, v string) (err error) {
		s.Env, err = parseEnv(v)
		return err
	}},
	// Identity, limits, environment file, instances (ident.go).
	"user":           {set: checkUserName("user")},
	"group":          {set: checkUserName("group")},
	"umask":          {set: setUmask},
	"rlimit_nofile":  rlimitField("rlimit_nofile"),
	"rlimit_core":    rlimitField("rlimit_core"),
	"rlimit_nproc":   rlimitField("rlimit_nproc"),
	"rlimit_memlock": rlimitField("rlimit_memlock"),
	"nice":           signedField(-20, 19, func(s *supervise.Spec) **int { return &s.Limits.Nice }),
	"oom_score_adj":  signedField(-1000, 1000, func(s *supervise.Spec) **int { return &s.Limits.OOMScoreAdj }),
	"env_file":       {set: checkEnvFile},
	"instances":      {set: checkInstances},
	"autostart": {set: func(s *supervise.Spec, v string) (err error) {
		s.Autostart, err = parseBool(v)
		return err
	}},
	"essential": {set: func(s *supervise.Spec, v string) (err error) {
		s.Essential, err = parseBool(v)
		return err
	}},
	"restart": {set: func(s *supervise.Spec, v string) error {
		switch r := supervise.RestartPolicy(v); r {
		case supervise.RestartAlways, supervise.RestartOnFailure, supervise.RestartNever:
			s.Restart = r
			return nil
		}
		return fmt.Errorf("%q is not one of always, on-failure, never", v)
	}},
	"success_codes": {set: func(s *supervise.Spec, v string) (err error) {
		s.SuccessCodes, err = parseCodes(v)
		return err
	}},
	"min_uptime":    durationField(func(s *supervise.Spec) *time.Duration { return &s.MinUptime }),
	"start_retries": intField(func(s *supervise.Spec) *int { return &s.StartRetries }),
	"start_backoff": durationField(func(s *supervise.Spec) *time.Duration { return &s.StartBackoff }),
	"stop_phase":    intField(func(s *supervise.Spec) *int { return &s.StopPhase }),
	"keep_user_env": {set: func(s *supervise.Spec, v string) (err error) {
		s.KeepUserEnv, err = parseBool(v)
		return err
	}},
	"redirect_stderr": {set: func(s *supervise.Spec, v string) (err error) {
		s.RedirectStderr, err = parseBool(v)
		return err
	}},
	"backoff_initial": durationField(func(s *supervise.Spec) *time.Duration { return &s.BackoffInitial }),
	"backoff_max":     durationField(func(s *supervise.Spec) *time.Duration { return &s.BackoffMax }),
	"backoff_jitter": {set: func(s *supervise.Spec, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%q is not a number", v)
		}
		if f < 0 || f > 1 {
			return fmt.Errorf("%g is not between 0 and 1", f)
		}
		s.BackoffJitter = f
		return nil
	}},
	"backoff_reset":  durationField(func(s *supervise.Spec) *time.Duration { return &s.BackoffReset }),
	"max_restarts":   intField(func(s *supervise.Spec) *int { return &s.MaxRestarts }),
	"restart_window": durationField(func(s *supervise.Spec) *time.Duration { return &s.RestartWindow }),
	"stop_signal": {set: func(s *supervise.Spec, v string) (err error) {
		s.StopSignal, err = parseSignal(v)
		return err
	}},
	"stop_grace": durationField(func(s *supervise.Spec) *time.Duration { return &s.StopGrace }),
	"protocol": {set: func(s *supervise.Spec, v string) (err error) {
		s.Protocol, err = parseBool(v)
		return err
	}},
	"start_timeout":     durationField(func(s *supervise.Spec) *time.Duration { return &s.StartTimeout }),
	"heartbeat_timeout": durationField(func(s *supervise.Spec) *time.Duration { return &s.HeartbeatTimeout }),
	"type": {set: func(s *supervise.Spec, v string) error {
		switch v {
		case "simple":
			s.Forking = false
		case "forking":
			s.Forking = true
		default:
			return fmt.Errorf("%q is not one of simple, forking", v)
		}
		return nil
	}},
	"pid_file": {emptyOK: true, set: func(s *supervise.Spec, v string) error {
		s.PidFile = v
		return nil
	}},
	"notify": {set: func(s *supervise.Spec, v string) error {
		switch k := supervise.NotifyKind(v); k {
		case supervise.NotifySystemd, supervise.NotifyS6:
			s.Notify = k
		case "none":
			s.Notify = ""
		default:
			return fmt.Errorf("%q is not one of systemd, s6, none", v)
		}
		return nil
	}},
	"notify_fd": intField(func(s *supervise.Spec) *int { return &s.NotifyFd }),
	"watchdog":  durationField(func(s *supervise.Spec) *time.Duration { return &s.Watchdog }),
	"ready_probe": {emptyOK: true, set: func(s *supervise.Spec, v string) (err error) {
		s.ReadyProbe, err = parseProbe(v)
		return err
	}},
	"live_probe": {emptyOK: true, set: func(s *supervise.Spec, v string) (err error) {
		s.LiveProbe, err = parseProbe(v)
		return err
	}},
	// Checked here, applied to the probes by endSection (applyProbeTiming).
	"probe_interval": {set: func(_ *supervise.Spec, v string) error { return checkProbeTiming("probe_interval", v) }},
	"probe_timeout":  {set: func(_ *supervise.Spec, v string) error { return checkProbeTiming("probe_timeout", v) }},
	"probe_failures": {set: func(_ *supervise.Spec, v string) error { return checkProbeTiming("probe_failures", v) }},
	"after": {emptyOK: true, set: func(s *supervise.Spec, v string) (err error) {
		s.After, err = parseNames(v)
		return err
	}},
	"requires": {emptyOK: true, set: func(s *supervise.Spec, v string) (err error) {
		s.Requires, err = parseNames(v)
		return err
	}},
	// Log files and levels (supervise.Spec's log block); checked together by checkLogKeys.
	"stdout_log":     {emptyOK: true, set: func(s *supervise.Spec, v string) error { return setLogPath(&s.StdoutLog, v) }},
	"stderr_log":     {emptyOK: true, set: func(s *supervise.Spec, v string) error { return setLogPath(&s.StderrLog, v) }},
	"log_max_bytes":  {set: func(s *supervise.Spec, v string) (err error) { s.LogMaxBytes, err = parseByteSize(v); return err }},
	"log_backups":    intField(func(s *supervise.Spec) *int { return &s.LogBackups }),
	"log_timestamps": {set: func(s *supervise.Spec, v string) (err error) { s.LogTimestamps, err = parseBool(v); return err }},
	"stderr_level": {set: func(s *supervise.Spec, v string) error {
		switch v {
		case "info":
			s.StderrLevel = hclog.Info
		case "warn":
			s.StderrLevel = hclog.Warn
		case "error":
			s.StderrLevel = hclog.Error
		default:
			return fmt.Errorf("%q is not one of info, warn, error", v)
		}
		return nil
	}},
}

// setLogPath sets a stdout_log or stderr_log path: absolute, taken literally;
// empty means none (to clear a [defaults] one).
func setLogPath(dst *string, v string) error {
	switch {
	case strings.HasPrefix(v, `"`) || strings.HasPrefix(v, `'`):
		return fmt.Errorf("%q: quotes are not processed in log paths; write the path without them", v)
	case v != "" && !filepath.IsAbs(v):
		return fmt.Errorf("%q: want an absolute path", v)
	case strings.HasSuffix(v, "/"):
		return fmt.Errorf("%q: want a file, not a directory", v)
	}
	*dst = v
	return nil
}

// parseByteSize reads a size as supervisord does: a whole number of bytes, or
// one followed by KB, MB or GB (any case; powers of 1024). Never negative.
func parseByteSize(v string) (int64, error) {
	num, mult := v, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}} {
		if len(v) > 2 && strings.EqualFold(v[len(v)-2:], u.suffix) {
			num, mult = strings.TrimSpace(v[:len(v)-2]), u.mult
			break
		}
	}
	if strings.HasPrefix(num, "-") {
		return 0, fmt.Errorf("%s is negative", v)
	}
	if !isDigits(num) {
		return 0, fmt.Errorf("%q is not a size (a number of bytes, or with KB, MB or GB: 10MB)", v)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%s is too large", v)
	}
	return n * mult, nil
}

// checkLogKeys reports, for a program section, a log_max_bytes, log_backups
// or log_timestamps set in it while the program has no log file (stdout_log
// or stderr_log, from the section or [defaults]): it would do nothing.
func (p *parser) checkLogKeys(pr *program) error {
	if pr.spec.StdoutLog != "" || pr.spec.StderrLog != "" {
		return nil
	}
	for _, key := range []string{"log_max_bytes", "log_backups", "log_timestamps"} {
		if line, ok := pr.keys[key]; ok {
			return &Error{File: p.file, Line: line, Section: "program:" + pr.spec.Name, Key: key,
				Msg: "needs a log file: set stdout_log or stderr_log"}
		}
	}
	return nil
}

// parseProbe reads a ready_probe or live_probe value; empty means none.
func parseProbe(v string) (*probe.Spec, error) {
	if v == "" {
		return nil, nil
	}
	ps, err := probe.Parse(v, splitCommand)
	if err != nil {
		return nil, err
	}
	return &ps, nil
}

// checkProbeTiming checks the value of a probe_* key.
func checkProbeTiming(key, v string) error {
	var ps probe.Spec
	return setProbeTiming(&ps, key, v)
}

func setProbeTiming(ps *probe.Spec, key, v string) error {
	switch key {
	case "probe_failures":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%q: want a whole number of at least 1", v)
		}
		ps.Failures = n
	default:
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		if d <= 0 {
			return fmt.Errorf("%q: want a positive duration", v)
		}
		if key == "probe_interval" {
			ps.Interval = d
		} else {
			ps.Timeout = d
		}
	}
	return nil
}

// applyProbeTiming sets ps's timing from probe_* keys (checked already).
func applyProbeTiming(ps *probe.Spec, keys map[string]string) {
	for k, v := range keys {
		_ = setProbeTiming(ps, k, v)
	}
}

// parseNames reads a list of program names separated by commas and/or spaces
// ("db, cache" or "db cache"); each must be a valid program name.
func parseNames(v string) ([]string, error) {
	var names []string
	for _, n := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if strings.ContainsAny(n, "*?[") {
			return nil, fmt.Errorf("%q: a program name, not a pattern", n)
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names, nil
}

// IsProgramKey reports whether k is a [program:NAME] key of the native format
// (svconf.Detect asks, to tell the two formats apart).
func IsProgramKey(k string) bool { return isProgramKey(k) }

func isProgramKey(k string) bool {
	_, ok := programKeys[k]
	return ok
}

func durationField(ptr func(*supervise.Spec) *time.Duration) field {
	return field{set: func(s *supervise.Spec, v string) (err error) {
		*ptr(s), err = parseDuration(v)
		return err
	}}
}

func intField(ptr func(*supervise.Spec) *int) field {
	return field{set: func(s *supervise.Spec, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		if n < 0 {
			return fmt.Errorf("%d is negative", n)
		}
		*ptr(s) = n
		return nil
	}}
}

func cloneSpec(s supervise.Spec) supervise.Spec {
	s.Command = slices.Clone(s.Command)
	s.Env = slices.Clone(s.Env)
	s.SuccessCodes = slices.Clone(s.SuccessCodes)
	return s
}

func parseStrategy(v string) (supervise.Strategy, error) {
	switch s := supervise.Strategy(v); s {
	case supervise.OneForOne, supervise.OneForAll, supervise.RestForOne:
		return s, nil
	}
	return "", fmt.Errorf("%q is not one of one_for_one, one_for_all, rest_for_one", v)
}

func parseKillMode(v string) (supervise.KillMode, error) {
	if m := supervise.KillMode(v); slices.Contains(supervise.KillModes, m) {
		return m, nil
	}
	return "", fmt.Errorf("%q is not one of auto, cgroup, group", v)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true/false, yes/no, on/off, 1/0)", v)
}

// parseDuration accepts a Go duration ("1m30s") or a whole number of seconds ("90").
// Negative durations are rejected.
func parseDuration(v string) (time.Duration, error) {
	if isDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) {
			return 0, fmt.Errorf("%s seconds is too long", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (examples: 500ms, 1m30s, or 10 for ten seconds)", v)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s is negative", v)
	}
	return d, nil
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

// parseCodes parses a comma-separated list of exit codes 0-255.
func parseCodes(v string) ([]int, error) {
	var codes []int
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("%q has an empty entry", v)
		}
		c, err := strconv.Atoi(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", item)
		}
		if c < 0 || c > 255 {
			return nil, fmt.Errorf("%d is not an exit code (0-255)", c)
		}
		if slices.Contains(codes, c) {
			return nil, fmt.Errorf("%d is listed twice", c)
		}
		codes = append(codes, c)
	}
	return codes, nil
}

// signals maps signal names (without "SIG") to numbers. Only signals that exist on
// every Unix Go supports are listed; others can be given by number.
var signals = map[string]syscall.Signal{
	"HUP":    syscall.SIGHUP,
	"INT":    syscall.SIGINT,
	"QUIT":   syscall.SIGQUIT,
	"ILL":    syscall.SIGILL,
	"TRAP":   syscall.SIGTRAP,
	"ABRT":   syscall.SIGABRT,
	"IOT":    syscall.SIGIOT,
	"BUS":    syscall.SIGBUS,
	"FPE":    syscall.SIGFPE,
	"KILL":   syscall.SIGKILL,
	"USR1":   syscall.SIGUSR1,
	"SEGV":   syscall.SIGSEGV,
	"USR2":   syscall.SIGUSR2,
	"PIPE":   syscall.SIGPIPE,
	"ALRM":   syscall.SIGALRM,
	"TERM":   syscall.SIGTERM,
	"CHLD":   syscall.SIGCHLD,
	"CONT":   syscall.SIGCONT,
	"STOP":   syscall.SIGSTOP,
	"TSTP":   syscall.SIGTSTP,
	"TTIN":   syscall.SIGTTIN,
	"TTOU":   syscall.SIGTTOU,
	"URG":    syscall.SIGURG,
	"XCPU":   syscall.SIGXCPU,
	"XFSZ":   syscall.SIGXFSZ,
	"VTALRM": syscall.SIGVTALRM,
	"PROF":   syscall.SIGPROF,
	"WINCH":  syscall.SIGWINCH,
	"IO":     syscall.SIGIO,
	"SYS":    syscall.SIGSYS,
}

// parseSignal accepts TERM, SIGTERM, term, sigterm or a number 1-64.
func parseSignal(v string) (syscall.Signal, error) {
	if isDigits(v) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return 0, fmt.Errorf("%s is not a signal number (1-64)", v)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(v)
	if sig, ok := signals[strings.TrimPrefix(name, "SIG")]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("%q is not a signal name (e.g. TERM, SIGINT, hup) or number (1-64)", v)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == '\n'
}

// readDoubleQuoted reads a double-quoted string starting just after the opening
// quote at s[i]. Inside, a backslash escapes only \ " $ and ` (as in sh); before any
// other character it stands for itself. It returns the index just after the closing
// quote.
func readDoubleQuoted(s string, i int, b *strings.Builder) (int, error) {
	for i < len(s) {
		switch c := s[i]; c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0 {
				b.WriteByte(s[i+1])
				i += 2
				continue
			}
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return 0, errors.New("unterminated double quote")
}

// readSingleQuoted reads a single-quoted string starting just after the opening
// quote: everything up to the next ' is literal.
func readSingleQuoted(s string, i int, b *strings.Builder) (int, error) {
	end := strings.IndexByte(s[i:], '\'')
	if end < 0 {
		return 0, errors.New("unterminated single quote")
	}
	b.WriteString(s[i : i+end])
	return i + end + 1, nil
}

// splitCommand splits a command line into argv the way sh would, without any
// expansion: unquoted whitespace separates words, '...' is literal, "..." allows
// \\ \" \$ \` escapes, and an unquoted backslash escapes the next character.
func splitCommand(s string) ([]string, error) {
	var (
		args   []string
		b      strings.Builder
		inWord bool
		err    error
	)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			if inWord {
				args = append(args, b.String())
				b.Reset()
				inWord = false
			}
			i++
			continue
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("trailing backslash")
			}
			b.WriteByte(s[i+1])
			i += 2
		case c == '\'':
			if i, err = readSingleQuoted(s, i+1, &b); err != nil {
				return nil, err
			}
		case c == '"':
			if i, err = readDoubleQuoted(s, i+1, &b); err != nil {
				return nil, err
			}
		default:
			b.WriteByte(c)
			i++
		}
		inWord = true
	}
	if inWord {
		args = append(args, b.String())
	}
	return args, nil
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// parseEnv parses a comma-separated list of KEY=VALUE pairs. KEY is letters, digits
// and '_', not starting with a digit. VALUE runs to the next unquoted comma; quotes
// and backslashes work as in command, but unquoted spaces inside VALUE are kept.
// Whitespace around each entry is dropped. An empty list means no variables.
func parseEnv(s string) ([]string, error) {
	var env []string
	seen := map[string]bool{}
	i := 0
	skipSpace := func() {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
	}
	for {
		skipSpace()
		if i >= len(s) {
			if len(env) == 0 {
				return nil, nil
			}
			return nil, errors.New("empty entry after the last comma")
		}
		start := i
		for i < len(s) && isNameByte(s[i]) {
			i++
		}
		key := s[start:i]
		if i >= len(s) || s[i] != '=' {
			if i < len(s) && s[i] == ',' && key == "" {
				return nil, errors.New("empty entry (two commas in a row, or a leading comma)")
			}
			end := strings.IndexByte(s[start:], ',')
			if end < 0 {
				end = len(s) - start
			}
			return nil, fmt.Errorf("%q is not KEY=VALUE with KEY made of letters, digits and '_'", strings.TrimSpace(s[start:start+end]))
		}
		if key == "" {
			return nil, fmt.Errorf("missing variable name before '=' in %q", s[start:])
		}
		if key[0] >= '0' && key[0] <= '9' {
			return nil, fmt.Errorf("variable name %q starts with a digit", key)
		}
		if seen[key] {
			return nil, fmt.Errorf("variable %s is set twice", key)
		}
		seen[key] = true
		i++ // '='
		skipSpace()

		var b strings.Builder
		keep := 0 // length of b up to the last quoted or non-space character
		var err error
	value:
		for i < len(s) {
			switch c := s[i]; {
			case c == ',':
				break value
			case isSpace(c):
				b.WriteByte(c)
				i++
				continue
			case c == '\\':
				if i+1 >= len(s) {
					return nil, fmt.Errorf("%s: trailing backslash", key)
				}
				b.WriteByte(s[i+1])
				i += 2
			case c == '\'':
				if i, err = readSingleQuoted(s, i+1, &b); err != nil {
					return nil, fmt.Errorf("%s: %w", key, err)
				}
			case c == '"':
				if i, err = readDoubleQuoted(s, i+1, &b); err != nil {
					return nil, fmt.Errorf("%s: %w", key, err)
				}
			default:
				b.WriteByte(c)
				i++
			}
			keep = b.Len()
		}
		env = append(env, key+"="+b.String()[:keep])
		if i >= len(s) {
			return env, nil
		}
		i++ // ','
	}
}

// kindOf is the kind (goroutine, reexec, exec) a spawner belongs to.
func kindOf(k supervise.SpawnerKind) string {
	if k == supervise.SpawnForkExec {
		return string(supervise.SpawnExec)
	}
	return string(k)
}
