package svconf

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/supervisor/supervisor/internal/config"
	"github.com/supervisor/supervisor/internal/supervise"
)

// Options are what a configuration's expansions read from outside the file.
type Options struct {
	// Env looks up the variables %(ENV_X)s names; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// Hostname is %(host_node_name)s; "" means os.Hostname().
	Hostname string
}

// Config is a supervisord configuration translated.
type Config struct {
	// Group holds every process as a Spec, in supervisord's start order
	// (see the package doc); it passes Group.Validate.
	Group supervise.Group
	// Programs describes each Group.Programs entry, in the same order.
	Programs []Program
	// Groups are supervisord's process groups, in start order.
	Groups []GroupInfo

	Supervisord Supervisord
	UnixHTTP    *UnixHTTPServer // nil without [unix_http_server]
	InetHTTP    *InetHTTPServer // nil without [inet_http_server]
	Ctl         Supervisorctl
	// RPCInterface reports whether [rpcinterface:supervisor] names the
	// standard factory (supervisorctl needs it).
	RPCInterface bool

	// Warnings is what is read but not done, or done differently: each
	// names its file and line.
	Warnings []*config.Error
	// Files is every file read, the main one first.
	Files []string
}

// Program is what supervisord knows of one process besides its Spec.
type Program struct {
	Name    string // process name (process_name expanded)
	Group   string // group name; Spec.Name is "Group:Name", or Name when they are equal
	Section string // "program:x"
	// Priority is the program's; GroupPriority its group's.
	Priority, GroupPriority int
	// StdoutLogfile and StderrLogfile are the resolved log paths, "" for
	// none (NONE, /dev/stdout and the like, or stderr redirected).
	StdoutLogfile, StderrLogfile string
	Autostart                    bool
	File                         string // where its section starts
	Line                         int
}

// GroupInfo is one supervisord process group.
type GroupInfo struct {
	Name     string
	Priority int
	Members  []string // Spec names, in start order
}

// Supervisord is the [supervisord] section, defaults applied, paths resolved
// (absolute, ~ expanded).
type Supervisord struct {
	Logfile         string // default <cwd>/supervisord.log; "" for none (syslog, /dev/null, /dev/stdout, /dev/stderr, /dev/fd/N)
	LogfileMaxbytes int64  // default 50MB
	LogfileBackups  int    // default 10
	Loglevel        string // critical, error, warn, info (default), debug, trace, blather
	Pidfile         string // default <cwd>/supervisord.pid
	Childlogdir     string // default the temporary directory
	Identifier      string // default "supervisor"
	Environment     []string
	Minfds          int    // default 1024
	Minprocs        int    // default 200
	Umask           uint32 // default 022
	Directory       string // "" if unset
	User            string // "" if unset
	Nodaemon        bool
	Silent          bool
	Nocleanup       bool
	StripANSI       bool
	File            string // where the section is ("" if absent)
	Line            int
}

// UnixHTTPServer is [unix_http_server].
type UnixHTTPServer struct {
	File               string      // the socket's path, absolute
	Chmod              os.FileMode // 0 when not set: ours is then 0600 (svrpc.DefaultSocketMode), supervisord's 0700
	ChownUID, ChownGID int         // -1 when not set
	Chown              string      // as written, "" if unset
	Username, Password string      // Password may be {SHA}hex
	Line               int
	Section            string
}

// InetHTTPServer is [inet_http_server].
type InetHTTPServer struct {
	Port               string // as written: "9001", ":9001", "host:9001", "*:9001"
	Host               string // "" for every address
	PortNum            int
	Username, Password string
	Line               int
}

// Supervisorctl is [supervisorctl] (for convert and the docs; the server does not use it).
type Supervisorctl struct {
	ServerURL, Username, Password, Prompt, HistoryFile string
}

// ServerURL is SUPERVISOR_SERVER_URL as supervisord computes it: the unix
// socket's unix:///PATH, else http://HOST:PORT of the inet server
// (localhost for every address), else "".
func (c *Config) ServerURL() string {
	switch {
	case c.UnixHTTP != nil:
		return "unix://" + c.UnixHTTP.File
	case c.InetHTTP != nil:
		h := c.InetHTTP.Host
		if h == "" {
			h = "localhost"
		}
		return "http://" + h + ":" + strconv.Itoa(c.InetHTTP.PortNum)
	}
	return ""
}

// maxFiles bounds the files [include] may add.
const maxFiles = 1000

// maxProcs bounds numprocs.
const maxProcs = 1000

// Load reads the configuration at path (config.ReadFile's rules) and the
// files its [include] names, and translates it (Parse).
func Load(path string, o Options) (*Config, error) {
	src, err := config.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src, o)
}

// Parse translates src, the configuration at path; the files its [include]
// names are read from disk, relative to path's directory. On failure it
// returns nil and every problem: one *config.Error, or *config.Errors.
func Parse(path string, src []byte, o Options) (*Config, error) {
	p := &parser{env: o.Env, host: o.Hostname, main: path}
	if p.env == nil {
		p.env = os.LookupEnv
	}
	if p.host == "" {
		p.host, _ = os.Hostname()
	}
	return p.parse(src)
}

type parser struct {
	env  func(string) (string, bool)
	host string
	main string
	pr   problems
	c    *ini
	cfg  Config
	// envVars holds the ENV_ names [supervisord]'s environment adds.
	envVars map[string]any
}

// base is the expansions every section has: ENV_X.
func (p *parser) base() vars { return vars{m: cloneMap(p.envVars), env: p.env} }

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (p *parser) parse(src []byte) (*Config, error) {
	p.c = newINI()
	mainAbs := abs(p.main)
	here := filepath.Dir(mainAbs)
	p.cfg.Files = []string{p.main}
	p.c.read(p.main, here, src, false, &p.pr)
	p.includes(here)
	p.supervisord()
	p.servers()
	p.sectionsCheck()
	p.groups()
	if len(p.pr.errs) > 0 {
		return nil, p.failure()
	}
	p.cfg.Group.Strategy = supervise.OneForOne
	if err := p.cfg.Group.Validate(); err != nil {
		return nil, &config.Error{File: p.main, Msg: err.Error(), Err: err}
	}
	slices.SortStableFunc(p.pr.warnings, func(a, b *config.Error) int {
		return cmp.Or(cmp.Compare(slices.Index(p.cfg.Files, a.File), slices.Index(p.cfg.Files, b.File)), a.Line-b.Line)
	})
	p.cfg.Warnings = p.pr.warnings
	return &p.cfg, nil
}

func (p *parser) failure() error {
	list := p.pr.errs
	slices.SortStableFunc(list, func(a, b *config.Error) int {
		return cmp.Or(cmp.Compare(slices.Index(p.cfg.Files, a.File), slices.Index(p.cfg.Files, b.File)), a.Line-b.Line)
	})
	if len(list) == 1 {
		return list[0]
	}
	return &config.Errors{List: list}
}

// get returns key's value in sec expanded with vs (and %(here)s, the
// directory of the file the value is in), or def when unset. ok is false
// when the expansion failed (reported).
func (p *parser) get(sec *section, key string, vs vars, def string) (val string, set, ok bool) {
	v, found := p.c.get(sec, key)
	if !found {
		return def, false, true
	}
	out, err := expand(v.val, vs.with("here", v.here))
	if err != nil {
		p.pr.errorf(v.file, v.line, sec.name, key, "%s", err.Error())
		return "", true, false
	}
	return out, true, true
}

// bad reports a value of key in sec that does not parse.
func (p *parser) bad(sec *section, key string, err error) {
	if v, ok := p.c.get(sec, key); ok {
		p.pr.errorf(v.file, v.line, sec.name, key, "%s", err.Error())
		return
	}
	p.pr.errorf(sec.file, sec.line, sec.name, key, "%s", err.Error())
}

func (p *parser) where(sec *section, key string) (string, int) {
	if v, ok := p.c.get(sec, key); ok {
		return v.file, v.line
	}
	return sec.file, sec.line
}

// includes reads the files [include] names, as supervisord: files is a
// whitespace-separated list of globs relative to the main file's directory,
// each match read in sorted order.
func (p *parser) includes(here string) {
	sec, ok := p.c.byName["include"]
	if !ok {
		return
	}
	v, ok := sec.keys["files"]
	if !ok {
		p.pr.errorf(sec.file, sec.line, "include", "files", "[include] has no files setting (supervisord refuses the file)")
		return
	}
	files, err := expand(v.val, p.base().with("here", v.here, "host_node_name", p.host))
	if err != nil {
		p.pr.errorf(v.file, v.line, "include", "files", "%s", err.Error())
		return
	}
	for _, k := range sec.order {
		if k != "files" {
			p.pr.warnf(sec.keys[k].file, sec.keys[k].line, "include", k, "unknown key (supervisord does not know it either): ignored")
		}
	}
	for _, pat := range strings.Fields(files) {
		full := pat
		if !filepath.IsAbs(full) {
			full = filepath.Join(here, pat)
		}
		matches, err := glob(full)
		if err != nil {
			p.pr.warnf(v.file, v.line, "include", "files", "%q: %s: no file read", pat, err.Error())
			continue
		}
		if len(matches) == 0 {
			p.pr.warnf(v.file, v.line, "include", "files", "no file matches %q", full)
			continue
		}
		for _, m := range matches {
			if len(p.cfg.Files) >= maxFiles {
				p.pr.errorf(v.file, v.line, "include", "files", "more than %d files included", maxFiles)
				return
			}
			src, err := config.ReadFile(m)
			if err != nil {
				// supervisord skips a file it cannot read, silently.
				p.pr.warnf(v.file, v.line, "include", "files", "%s: skipped, as supervisord does", err.Error())
				continue
			}
			p.cfg.Files = append(p.cfg.Files, m)
			p.c.read(m, filepath.Dir(abs(m)), src, true, &p.pr)
		}
	}
}

// glob matches pattern as Python's glob.glob: sorted, and a wildcard does not
// match a leading '.' of a name (a pattern part that starts with '.' does).
func glob(pattern string) ([]string, error) {
	pattern = strings.ReplaceAll(pattern, "[!", "[^")
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(pattern, "/")
	var out []string
	for _, m := range matches {
		mparts := strings.Split(m, "/")
		hidden := false
		for i, mp := range mparts {
			if i < len(parts) && strings.HasPrefix(mp, ".") && !strings.HasPrefix(parts[i], ".") && strings.ContainsAny(parts[i], "*?[") {
				hidden = true
			}
		}
		if !hidden {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out, nil
}

// known keys of each section supervisord reads.
var (
	supervisordKeys = []string{"logfile", "logfile_maxbytes", "logfile_backups", "loglevel", "pidfile", "umask",
		"nodaemon", "silent", "minfds", "minprocs", "nocleanup", "childlogdir", "user", "directory", "strip_ansi",
		"environment", "identifier"}
	unixKeys = []string{"file", "chmod", "chown", "username", "password"}
	inetKeys = []string{"port", "username", "password"}
	ctlKeys  = []string{"serverurl", "username", "password", "prompt", "history_file"}
)

// unknownKeys warns about the keys of sec not in known.
func (p *parser) unknownKeys(sec *section, known []string) {
	for _, k := range sec.order {
		if !slices.Contains(known, k) {
			v := sec.keys[k]
			p.pr.warnf(v.file, v.line, sec.name, k, "unknown key (supervisord does not know it either): ignored")
		}
	}
}

func (p *parser) supervisord() {
	s := &p.cfg.Supervisord
	s.Minfds, s.Minprocs, s.Umask, s.LogfileMaxbytes, s.LogfileBackups = 1024, 200, 0o22, 50<<20, 10
	s.Loglevel, s.Identifier = "info", "supervisor"
	s.Logfile, s.Pidfile = abs("supervisord.log"), abs("supervisord.pid")
	s.Childlogdir = tempDir(p.env)
	sec, ok := p.c.byName["supervisord"]
	if !ok {
		p.pr.warnf(p.main, 1, "", "", "no [supervisord] section in this file (supervisord refuses such a file): its defaults apply")
		return
	}
	s.File, s.Line = sec.file, sec.line
	p.unknownKeys(sec, supervisordKeys)
	vs := p.base()
	str := func(key, def string) (string, bool) {
		v, _, ok := p.get(sec, key, vs, def)
		return v, ok
	}
	num := func(key string, def int, dst *int) {
		if v, ok := str(key, strconv.Itoa(def)); ok {
			n, err := pyInt(v)
			if err != nil {
				p.bad(sec, key, err)
				return
			}
			*dst = n
		}
	}
	flag := func(key string, dst *bool) {
		if v, ok := str(key, "false"); ok {
			b, err := pyBool(v)
			if err != nil {
				p.bad(sec, key, err)
				return
			}
			*dst = b
		}
	}
	num("minfds", 1024, &s.Minfds)
	num("minprocs", 200, &s.Minprocs)
	num("logfile_backups", 10, &s.LogfileBackups)
	if v, set, ok := p.get(sec, "directory", vs, ""); ok && set {
		d, err := p.existingDirectory(v)
		if err != nil {
			p.bad(sec, "directory", err)
		}
		s.Directory = d
	}
	if v, ok := str("user", ""); ok {
		s.User = v
		if v != "" && !isSelf(v) {
			f, l := p.where(sec, "user")
			p.pr.warnf(f, l, "supervisord", "user", "not done: supervisor does not switch its own user (run it as that user; each program's user key still applies)")
		}
	}
	if v, ok := str("umask", "022"); ok {
		if m, err := octal(v); err != nil {
			p.bad(sec, "umask", err)
		} else {
			s.Umask = m & 0o777
		}
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"logfile", &s.Logfile}, {"pidfile", &s.Pidfile}} {
		if v, set, ok := p.get(sec, k.key, vs, ""); ok && set {
			if k.key == "logfile" {
				switch {
				case v == "syslog":
					f, l := p.where(sec, "logfile")
					p.pr.warnf(f, l, "supervisord", "logfile", "syslog: not done: the log goes to stderr only")
					s.Logfile = ""
					continue
				case v == "/dev/null", v == "/dev/stdout", v == "/dev/stderr", strings.HasPrefix(v, "/dev/fd/"):
					// No file: the log goes to stderr, as supervisord -n's
					// goes to its stdout besides.
					s.Logfile = ""
					continue
				}
			}
			path, err := p.existingDirpath(v)
			if err != nil {
				p.bad(sec, k.key, err)
				continue
			}
			*k.dst = abs(path)
		}
	}
	if v, ok := str("logfile_maxbytes", "50MB"); ok {
		if n, err := byteSize(v); err != nil {
			p.bad(sec, "logfile_maxbytes", err)
		} else {
			s.LogfileMaxbytes = n
		}
	}
	if v, ok := str("loglevel", "info"); ok {
		l := strings.ToLower(v)
		if !slices.Contains([]string{"critical", "error", "warn", "info", "debug", "trace", "blather"}, l) {
			p.bad(sec, "loglevel", fmt.Errorf("bad logging level name %q (critical, error, warn, info, debug, trace, blather)", v))
		} else {
			s.Loglevel = l
		}
	}
	if v, ok := str("identifier", "supervisor"); ok {
		s.Identifier = v
	}
	flag("nodaemon", &s.Nodaemon)
	flag("silent", &s.Silent)
	flag("nocleanup", &s.Nocleanup)
	flag("strip_ansi", &s.StripANSI)
	for _, k := range []struct {
		key string
		on  bool
		msg string
	}{
		{"strip_ansi", s.StripANSI, "not done: escape sequences reach the log files as the program wrote them"},
		{"minprocs", s.Minprocs != 200, "not done: supervisor does not raise RLIMIT_NPROC (each program's limits can be set in a native config)"},
		{"minfds", true, "not done: supervisor does not raise its RLIMIT_NOFILE to minfds (each program's rlimit_nofile can be set in a native config)"},
		{"umask", !s.Nodaemon, "not done: supervisord sets it when it daemonizes; supervisor runs in the foreground, as supervisord -n, which does not"},
		{"directory", !s.Nodaemon, "not done: supervisord changes to it when it daemonizes; supervisor runs in the foreground, as supervisord -n, which does not"},
	} {
		if _, set := sec.keys[k.key]; set && k.on {
			f, l := p.where(sec, k.key)
			p.pr.warnf(f, l, "supervisord", k.key, "%s", k.msg)
		}
	}
	if v, set, ok := p.get(sec, "childlogdir", vs, ""); ok && set {
		d, err := p.existingDirectory(v)
		if err != nil {
			p.bad(sec, "childlogdir", err)
		} else {
			s.Childlogdir = abs(d)
		}
	}
	// environment is expanded twice, the second time with host_node_name too.
	if v, ok := str("environment", ""); ok && v != "" {
		f, l := p.where(sec, "environment")
		v2, err := expand(v, p.base().with("here", filepath.Dir(abs(f)), "host_node_name", p.host))
		if err != nil {
			p.pr.errorf(f, l, "supervisord", "environment", "%s", err.Error())
		} else if env, err := envPairs(v2); err != nil {
			p.pr.errorf(f, l, "supervisord", "environment", "%s", err.Error())
		} else {
			s.Environment = env
			p.envVars = map[string]any{}
			for _, kv := range env {
				k, val, _ := strings.Cut(kv, "=")
				p.envVars["ENV_"+k] = val
			}
		}
	}
}

// tempDir is Python's tempfile.gettempdir() in short: $TMPDIR, $TEMP, $TMP, /tmp.
func tempDir(env func(string) (string, bool)) string {
	for _, k := range []string{"TMPDIR", "TEMP", "TMP"} {
		if d, ok := env(k); ok && d != "" {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return abs(d)
			}
		}
	}
	return "/tmp"
}

func (p *parser) servers() {
	if sec, ok := p.c.byName["unix_http_server"]; ok {
		p.unknownKeys(sec, unixKeys)
		vs := p.base()
		u := &UnixHTTPServer{ChownUID: -1, ChownGID: -1, Line: sec.line, Section: sec.name}
		file, set, ok := p.get(sec, "file", vs, "")
		switch {
		case !ok:
		case !set:
			p.pr.errorf(sec.file, sec.line, sec.name, "file", "section [unix_http_server] has no file value (supervisord refuses it)")
		default:
			u.File = abs(p.expandUser(strings.TrimSpace(file)))
		}
		noHere := vars{env: p.env, m: cloneMap(p.envVars)}
		if v, set, ok := p.get(sec, "chmod", noHere, ""); ok && set {
			if m, err := octal(v); err != nil {
				p.bad(sec, "chmod", fmt.Errorf("invalid chmod value %q", v))
			} else {
				u.Chmod = os.FileMode(m & 0o7777)
			}
		}
		if v, set, ok := p.get(sec, "chown", noHere, ""); ok && set {
			u.Chown = v
			name, grp, hasGroup := strings.Cut(v, ":")
			usr, err := config.LookupUser(name)
			if err != nil {
				p.bad(sec, "chown", fmt.Errorf("invalid user:group %q: %w", v, err))
			} else {
				u.ChownUID = int(usr.Uid)
				if hasGroup {
					gid, err := config.LookupGroup(grp)
					if err != nil {
						p.bad(sec, "chown", fmt.Errorf("invalid user:group %q: %w", v, err))
					}
					u.ChownGID = int(gid)
				}
			}
		}
		u.Username, u.Password = p.auth(sec, noHere)
		p.cfg.UnixHTTP = u
	}
	if sec, ok := p.c.byName["inet_http_server"]; ok {
		p.unknownKeys(sec, inetKeys)
		vs := vars{env: p.env, m: cloneMap(p.envVars)}
		in := &InetHTTPServer{Line: sec.line}
		port, set, ok := p.get(sec, "port", vs, "")
		switch {
		case !ok:
		case !set:
			p.pr.errorf(sec.file, sec.line, sec.name, "port", "section [inet_http_server] has no port value (supervisord refuses it)")
		default:
			in.Port = port
			host, num, err := inetAddress(port)
			if err != nil {
				p.bad(sec, "port", err)
			}
			in.Host, in.PortNum = host, num
		}
		in.Username, in.Password = p.auth(sec, vs)
		p.cfg.InetHTTP = in
	}
	if sec, ok := p.c.byName["supervisorctl"]; ok {
		p.unknownKeys(sec, ctlKeys)
		vs := p.base()
		c := &p.cfg.Ctl
		for _, k := range []struct {
			key string
			dst *string
		}{{"serverurl", &c.ServerURL}, {"username", &c.Username}, {"password", &c.Password}, {"prompt", &c.Prompt}, {"history_file", &c.HistoryFile}} {
			// supervisord does not read this section: what supervisorctl
			// would refuse is only a warning here.
			v, ok := p.c.get(sec, k.key)
			if !ok {
				continue
			}
			out, err := expand(v.val, vs.with("here", v.here))
			if err != nil {
				p.pr.warnf(v.file, v.line, sec.name, k.key, "%s (supervisorctl refuses it; the value is kept as written)", err.Error())
				out = v.val
			}
			*k.dst = out
		}
	}
}

// auth reads username and password: both or neither.
func (p *parser) auth(sec *section, vs vars) (user, pass string) {
	user, uset, _ := p.get(sec, "username", vs, "")
	pass, pset, _ := p.get(sec, "password", vs, "")
	if uset != pset {
		p.pr.errorf(sec.file, sec.line, sec.name, "", "incomplete authentication: set both username and password, or neither (supervisord refuses one alone)")
	}
	return user, pass
}

// inetAddress reads "9001", ":9001", "host:9001" or "*:9001".
func inetAddress(s string) (string, int, error) {
	host, port := "", s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = strings.ToLower(s[:i]), s[i+1:]
		if port == "" {
			return "", 0, fmt.Errorf("no port number in %q", s)
		}
	}
	n, err := pyInt(port)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("%q is not a valid port number (1-65535)", port)
	}
	if host == "*" {
		host = ""
	}
	return host, n, nil
}

// sectionsCheck warns about the sections that are not done.
func (p *parser) sectionsCheck() {
	for _, sec := range p.c.sections {
		kind, name, _ := strings.Cut(sec.name, ":")
		switch {
		case slices.Contains([]string{"supervisord", "unix_http_server", "inet_http_server", "supervisorctl", "include"}, sec.name):
		case kind == "program" || kind == "group":
		case kind == "rpcinterface":
			f, _, ok := p.get(sec, "supervisor.rpcinterface_factory", p.base(), "")
			switch {
			case !ok:
			case name == "supervisor" && f == "supervisor.rpcinterface:make_main_rpcinterface":
				p.cfg.RPCInterface = true
				for _, k := range sec.order {
					if k != "supervisor.rpcinterface_factory" {
						v := sec.keys[k]
						p.pr.warnf(v.file, v.line, sec.name, k, "ignored: the standard interface takes no options")
					}
				}
			default:
				p.pr.warnf(sec.file, sec.line, sec.name, "", "not done: supervisor serves supervisord's standard XML-RPC interface only (factory %q): section skipped", f)
			}
		case kind == "eventlistener":
			p.pr.warnf(sec.file, sec.line, sec.name, "", "not done: event listeners are not supported: section skipped, its processes do not run")
		case kind == "fcgi-program":
			p.pr.warnf(sec.file, sec.line, sec.name, "", "not done: FastCGI programs are not supported: section skipped, its processes do not run")
		case kind == "ctlplugin":
			p.pr.warnf(sec.file, sec.line, sec.name, "", "supervisorctl plugin: nothing for the server to do: section skipped")
		default:
			p.pr.warnf(sec.file, sec.line, sec.name, "", "unknown section (supervisord ignores it too): skipped")
		}
	}
}

// programKeys are the [program:x] keys supervisord reads.
var programKeys = []string{"command", "process_name", "numprocs", "numprocs_start", "priority", "autostart",
	"autorestart", "startsecs", "startretries", "exitcodes", "stopsignal", "stopwaitsecs", "stopasgroup",
	"killasgroup", "user", "redirect_stderr", "environment", "directory", "umask", "serverurl",
	"stdout_logfile", "stdout_logfile_maxbytes", "stdout_logfile_backups", "stdout_capture_maxbytes",
	"stdout_events_enabled", "stdout_syslog",
	"stderr_logfile", "stderr_logfile_maxbytes", "stderr_logfile_backups", "stderr_capture_maxbytes",
	"stderr_events_enabled", "stderr_syslog"}

// group is a process group being built.
type group struct {
	name     string
	priority int
	sec      *section
	procs    []proc
}

type proc struct {
	spec supervise.Spec
	info Program
}

// groups builds supervisord's groups: [group:x] sections first (in file
// order), then every [program:x] not in one; sorted by (priority, name).
func (p *parser) groups() {
	var gs []*group
	inGroup := map[string]bool{}
	warnedKeys := map[string]bool{}
	for _, sec := range p.c.sections {
		kind, gname, _ := strings.Cut(sec.name, ":")
		if kind != "group" {
			continue
		}
		gname = strings.TrimSpace(gname)
		if err := checkName(gname); err != nil {
			p.pr.errorf(sec.file, sec.line, sec.name, "", "%s", err.Error())
			continue
		}
		p.unknownKeys(sec, []string{"programs", "priority"})
		vs := p.base()
		g := &group{name: gname, priority: 999, sec: sec}
		if v, ok := p.num(sec, "priority", vs, 999); ok {
			g.priority = v
		}
		progs, _, _ := p.get(sec, "programs", vs, "")
		var listed []string
		for _, name := range listOfStrings(progs) {
			if slices.Contains(listed, name) {
				f, l := p.where(sec, "programs")
				p.pr.warnf(f, l, sec.name, "programs", "%q is listed twice: its processes run once (as in supervisord)", name)
				continue
			}
			listed = append(listed, name)
			psec, ok := p.c.byName["program:"+name]
			if !ok {
				f, l := p.where(sec, "programs")
				msg := fmt.Sprintf("names unknown program %q", name)
				if _, fc := p.c.byName["fcgi-program:"+name]; fc {
					msg = fmt.Sprintf("names fcgi-program %q, which is not supported: left out", name)
					p.pr.warnf(f, l, sec.name, "programs", "%s", msg)
					continue
				}
				p.pr.errorf(f, l, sec.name, "programs", "%s", msg)
				continue
			}
			inGroup[psec.name] = true
			g.procs = append(g.procs, p.processes(psec, gname, g.priority, warnedKeys)...)
		}
		gs = append(gs, g)
	}
	for _, sec := range p.c.sections {
		kind, pname, _ := strings.Cut(sec.name, ":")
		if kind != "program" || inGroup[sec.name] {
			continue
		}
		pname = strings.TrimSpace(pname)
		if err := checkName(pname); err != nil {
			p.pr.errorf(sec.file, sec.line, sec.name, "", "%s", err.Error())
			continue
		}
		prio, _ := p.num(sec, "priority", p.base().with("program_name", pname, "group_name", pname, "host_node_name", p.host), 999)
		g := &group{name: pname, priority: prio, sec: sec}
		g.procs = p.processes(sec, pname, prio, warnedKeys)
		gs = append(gs, g)
	}
	slices.SortStableFunc(gs, func(a, b *group) int {
		return cmp.Or(cmp.Compare(a.priority, b.priority), strings.Compare(a.name, b.name))
	})
	seen := map[string]*group{}
	for _, g := range gs {
		if first, ok := seen[g.name]; ok {
			p.pr.warnf(g.sec.file, g.sec.line, g.sec.name, "", "a second group named %q (the first is [%s]): supervisord runs only the first, and so does supervisor", g.name, first.sec.name)
			continue
		}
		seen[g.name] = g
		// Within a group: in the order of programs= (each program's processes
		// by name), as supervisord spawns them. Groups stop one after another
		// (StopPhase: the last to start stops first), a group's processes at
		// once, as supervisord's do.
		gi := GroupInfo{Name: g.name, Priority: g.priority}
		for _, pc := range g.procs {
			pc.info.GroupPriority = g.priority
			pc.spec.StopPhase = len(p.cfg.Groups)
			p.cfg.Group.Programs = append(p.cfg.Group.Programs, pc.spec)
			p.cfg.Programs = append(p.cfg.Programs, pc.info)
			gi.Members = append(gi.Members, pc.spec.Name)
		}
		p.cfg.Groups = append(p.cfg.Groups, gi)
	}
}

// num reads an integer key.
func (p *parser) num(sec *section, key string, vs vars, def int) (int, bool) {
	v, set, ok := p.get(sec, key, vs, "")
	if !ok {
		return def, false
	}
	if !set {
		return def, true
	}
	n, err := pyInt(v)
	if err != nil {
		p.bad(sec, key, err)
		return def, false
	}
	return n, true
}

// processes translates one [program:x] section in group gname into its
// processes (numprocs of them), sorted by name. warned keeps each
// section's key warnings to once, for a program in several groups.
func (p *parser) processes(sec *section, gname string, gprio int, warned map[string]bool) []proc {
	pname := strings.TrimSpace(strings.TrimPrefix(sec.name, "program:"))
	if err := checkName(pname); err != nil {
		p.pr.errorf(sec.file, sec.line, sec.name, "", "%s", err.Error())
		return nil
	}
	first := !warned[sec.name]
	warned[sec.name] = true
	if first {
		p.unknownKeys(sec, programKeys)
	}
	errsBefore := len(p.pr.errs)
	vs := p.base().with("program_name", pname, "group_name", gname, "host_node_name", p.host)
	str := func(key, def string) (string, bool, bool) { return p.get(sec, key, vs, def) }
	boolean := func(key string, def bool) (val, set bool) {
		v, set, ok := str(key, "")
		if !ok || !set {
			return def, set
		}
		b, err := pyBool(v)
		if err != nil {
			p.bad(sec, key, err)
			return def, set
		}
		return b, set
	}
	integer := func(key string, def int) int {
		n, _ := p.num(sec, key, vs, def)
		return n
	}
	warnKey := func(key, format string, args ...any) {
		if first {
			f, l := p.where(sec, key)
			p.pr.warnf(f, l, sec.name, key, format, args...)
		}
	}

	priority := integer("priority", 999)
	autostart, _ := boolean("autostart", true)
	ar := restartUnexpected
	if v, set, ok := str("autorestart", ""); ok && set {
		var err error
		if ar, err = parseAutorestart(v); err != nil {
			p.bad(sec, "autorestart", err)
		}
	}
	startsecs := integer("startsecs", 1)
	startretries := integer("startretries", 3)
	stopsig := supervise.DefaultSpec().StopSignal
	if v, set, ok := str("stopsignal", ""); ok && set {
		sig, err := signalNumber(v)
		if err != nil {
			p.bad(sec, "stopsignal", err)
		} else {
			stopsig = sig
		}
	}
	stopwait := integer("stopwaitsecs", 10)
	stopasgroup, sagSet := boolean("stopasgroup", false)
	killasgroup, kagSet := boolean("killasgroup", stopasgroup)
	if sagSet && !stopasgroup {
		warnKey("stopasgroup", "false: supervisor signals the program's whole process group always (as stopasgroup = true)")
	}
	if kagSet && !killasgroup && !stopasgroup {
		warnKey("killasgroup", "false: supervisor kills the program's whole process group always (as killasgroup = true)")
	}
	if stopasgroup && !killasgroup {
		f, l := p.where(sec, "killasgroup")
		p.pr.errorf(f, l, sec.name, "killasgroup", "cannot set stopasgroup = true and killasgroup = false (supervisord refuses it)")
	}
	codes := []int{0}
	if v, set, ok := str("exitcodes", ""); ok && set {
		c, err := exitCodes(v)
		if err != nil {
			p.bad(sec, "exitcodes", err)
		} else {
			codes = c
		}
	}
	redirect, _ := boolean("redirect_stderr", false)
	numprocs := integer("numprocs", 1)
	numprocsStart := integer("numprocs_start", 0)
	if numprocs > maxProcs {
		f, l := p.where(sec, "numprocs")
		p.pr.errorf(f, l, sec.name, "numprocs", "%d: supervisor runs at most %d processes of one program", numprocs, maxProcs)
		numprocs = 0
	}
	for _, ch := range []string{"stdout", "stderr"} {
		if v, set, ok := str(ch+"_capture_maxbytes", "0"); ok {
			n, err := byteSize(v)
			if err != nil {
				p.bad(sec, ch+"_capture_maxbytes", err)
			} else if set && n != 0 {
				warnKey(ch+"_capture_maxbytes", "not done: capture mode exists for event listeners, which supervisor does not support")
			}
		}
		if on, set := boolean(ch+"_events_enabled", false); set && on {
			warnKey(ch+"_events_enabled", "not done: supervisor emits no supervisord events")
		}
	}
	serverURL := p.cfg.ServerURL()
	if v, set, ok := str("serverurl", ""); ok && set && strings.ToUpper(strings.TrimSpace(v)) != "AUTO" && v != "" {
		serverURL = v
	}
	var user *supervise.User
	if v, set, ok := str("user", ""); ok && set {
		u, err := config.LookupUser(v)
		if err != nil {
			p.bad(sec, "user", err)
		}
		user = u
	}
	var umask *uint32
	if v, set, ok := str("umask", ""); ok && set {
		m, err := octal(v)
		if err != nil {
			p.bad(sec, "umask", err)
		} else {
			m &= 0o777
			umask = &m
		}
	}
	pnRaw := "%(program_name)s"
	if v, ok := p.c.get(sec, "process_name"); ok {
		pnRaw = v.val
	}
	if numprocs > 1 && !strings.Contains(pnRaw, "%(process_num)") {
		f, l := p.where(sec, "process_name")
		p.pr.errorf(f, l, sec.name, "process_name", "must contain %%(process_num) when numprocs > 1 (%d), as supervisord requires", numprocs)
		numprocs = 0
	}
	if _, ok := p.c.get(sec, "command"); !ok {
		p.pr.errorf(sec.file, sec.line, sec.name, "command", "missing: a program section must specify a command")
		numprocs = 0
	}
	if len(p.pr.errs) > errsBefore {
		numprocs = 0 // reported; the processes would only repeat it
	}

	var out []proc
	for num := numprocsStart; num < numprocsStart+numprocs; num++ {
		pv := vs.with("process_num", num, "numprocs", numprocs)
		envStr := ""
		var env []string
		if v, ok := p.c.get(sec, "environment"); ok {
			e, err := expand(v.val, pv.with("here", v.here))
			if err != nil {
				p.pr.errorf(v.file, v.line, sec.name, "environment", "%s", err.Error())
				continue
			}
			envStr = e
			if env, err = envPairs(envStr); err != nil {
				p.pr.errorf(v.file, v.line, sec.name, "environment", "%s", err.Error())
				continue
			}
			for _, kv := range env {
				k, val, _ := strings.Cut(kv, "=")
				pv.m["ENV_"+k] = val
			}
		}
		dir, _, ok := p.get(sec, "directory", pv, "")
		if !ok {
			continue
		}
		logs := map[string]*logSpec{}
		for _, ch := range []string{"stdout", "stderr"} {
			l, ok := p.logfile(sec, ch, pv, warnKey)
			if !ok {
				continue
			}
			logs[ch] = l
		}
		if len(logs) < 2 {
			continue
		}
		if redirect {
			if logs["stderr"].set && logs["stderr"].kind == logFile {
				warnKey("stderr_logfile", "redirect_stderr = true, so this file is not used: stderr goes to stdout's log (as supervisord)")
			}
			logs["stderr"] = &logSpec{kind: logNone}
		}
		command, _, ok := p.get(sec, "command", pv, "")
		if !ok {
			continue
		}
		nameV, err := expand(pnRaw, pv)
		if err != nil {
			f, l := p.where(sec, "process_name")
			p.pr.errorf(f, l, sec.name, "process_name", "%s", err.Error())
			continue
		}
		name := strings.TrimSpace(nameV)
		if err := checkName(name); err != nil {
			f, l := p.where(sec, "process_name")
			p.pr.errorf(f, l, sec.name, "process_name", "%s", err.Error())
			continue
		}
		argv, err := splitCommand(command)
		if err == nil && len(argv) == 0 {
			err = errors.New("command is empty")
		}
		if err != nil {
			f, l := p.where(sec, "command")
			p.pr.errorf(f, l, sec.name, "command", "cannot parse %q: %s (supervisord would fail every start)", command, err.Error())
			continue
		}
		specName := name
		if gname != name {
			specName = gname + ":" + name
		}
		s := supervise.DefaultSpec()
		s.Name = specName
		s.Command = argv
		s.Dir = dir
		s.User = user
		s.KeepUserEnv = user != nil // supervisord switches the uid only: HOME, USER and LOGNAME stay its own
		s.Limits.Umask = umask
		s.Autostart = autostart
		switch ar {
		case restartAlways:
			s.Restart = supervise.RestartAlways
		case restartNever:
			s.Restart = supervise.RestartNever
		default:
			s.Restart = supervise.RestartOnFailure
		}
		s.SuccessCodes = codes
		s.MinUptime = time.Duration(max(startsecs, 0)) * time.Second
		s.StartRetries = max(startretries, 0)
		s.StartBackoff = time.Second
		s.MaxRestarts = 0
		s.BackoffJitter = 0
		s.StopSignal = stopsig
		s.StopGrace = time.Duration(max(stopwait, 0)) * time.Second
		base := []string{"SUPERVISOR_ENABLED=1"}
		if serverURL != "" {
			base = append(base, "SUPERVISOR_SERVER_URL="+serverURL)
		}
		base = append(base, "SUPERVISOR_PROCESS_NAME="+name, "SUPERVISOR_GROUP_NAME="+gname)
		s.Env = config.MergeEnv(config.MergeEnv(base, p.cfg.Supervisord.Environment), env)
		if path, ok := envValue(env, "PATH"); ok && !strings.Contains(argv[0], "/") {
			// supervisord looks the command up in the PATH the program's
			// environment sets (ProcessConfig.get_path), when it sets one.
			if found := lookIn(path, argv[0]); found != "" {
				argv[0] = found
				s.Command = argv
			} else {
				warnKey("command", "%q is not in the PATH environment sets (%s): it is looked up in supervisor's own PATH", argv[0], path)
			}
		}
		info := Program{Name: name, Group: gname, Section: sec.name, Priority: priority, GroupPriority: gprio,
			Autostart: autostart, File: sec.file, Line: sec.line}
		s.RedirectStderr = redirect
		p.logPaths(&s, &info, logs, redirect, warnKey)
		if err := s.Validate(); err != nil {
			p.pr.addErr(&config.Error{File: sec.file, Line: sec.line, Section: sec.name, Msg: strings.TrimPrefix(err.Error(), supervise.ErrInvalidSpec.Error()+": "), Err: err})
			continue
		}
		out = append(out, proc{spec: s, info: info})
	}
	slices.SortStableFunc(out, func(a, b proc) int { return strings.Compare(a.info.Name, b.info.Name) })
	return out
}

// envValue is the last setting of k in env.
func envValue(env []string, k string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], k+"="); ok {
			return v, true
		}
	}
	return "", false
}

// lookIn finds the executable regular file name in the directories of path
// (a PATH value), or "".
func lookIn(path, name string) string {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		f := filepath.Join(dir, name)
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return f
		}
	}
	return ""
}

type logKind int

const (
	logAuto logKind = iota
	logNone
	logFile
	logConsole // /dev/stdout, /dev/stderr, /dev/fd/N
)

// logSpec is one channel's log settings.
type logSpec struct {
	kind     logKind
	path     string
	set      bool
	maxbytes int64
	backups  int
}

// logfile reads ch's logfile, _maxbytes, _backups and _syslog.
func (p *parser) logfile(sec *section, ch string, vs vars, warnKey func(string, string, ...any)) (*logSpec, bool) {
	key := ch + "_logfile"
	l := &logSpec{maxbytes: 50 << 20, backups: 10}
	v, set, ok := p.get(sec, key, vs, "")
	if !ok {
		return nil, false
	}
	l.set = set
	if set {
		// supervisord expands this value a second time.
		f, line := p.where(sec, key)
		v2, err := expand(v, vs.with("here", filepath.Dir(abs(f))))
		if err != nil {
			p.pr.errorf(f, line, sec.name, key, "%s", err.Error())
			return nil, false
		}
		switch low := strings.ToLower(v2); {
		case low == "none" || low == "off":
			l.kind = logNone
		case low == "auto":
			l.kind = logAuto
		case low == "syslog":
			l.kind = logNone
			warnKey(key, "syslog: not done (supervisord's deprecated form of %s_syslog = true): no log file", ch)
		default:
			path, err := p.existingDirpath(v2)
			if err != nil {
				p.bad(sec, key, err)
				return nil, false
			}
			path = abs(path)
			if path == "/dev/stdout" || path == "/dev/stderr" || strings.HasPrefix(path, "/dev/fd/") {
				l.kind = logConsole
				warnKey(key, "%s: no log file; the output goes to supervisor's console log as every program's does", path)
			} else {
				l.kind, l.path = logFile, path
			}
		}
	}
	mb, mset, ok := p.get(sec, key+"_maxbytes", vs, "")
	if ok && mset {
		n, err := byteSize(mb)
		if err != nil {
			p.bad(sec, key+"_maxbytes", err)
			return nil, false
		}
		l.maxbytes = max(n, 0)
	}
	l.backups, ok = p.num(sec, key+"_backups", vs, 10)
	if !ok {
		return nil, false
	}
	l.backups = max(l.backups, 0)
	if on, sset := p.boolKey(sec, ch+"_syslog", vs); sset && on {
		warnKey(ch+"_syslog", "not done: supervisor does not write program output to syslog")
	}
	if l.kind == logAuto && l.maxbytes == 0 {
		warnKey(key+"_maxbytes", "AUTO logging used for %s without rollover, set maxbytes > 0 to avoid filling up the file system (supervisord warns too)", key)
	}
	return l, true
}

func (p *parser) boolKey(sec *section, key string, vs vars) (bool, bool) {
	v, set, ok := p.get(sec, key, vs, "")
	if !ok || !set {
		return false, false
	}
	b, err := pyBool(v)
	if err != nil {
		p.bad(sec, key, err)
		return false, false
	}
	return b, true
}

// logPaths sets s's log files from the two channels' settings.
// isSelf reports whether user (a name or a uid) is who we run as: then
// [supervisord] user asks for nothing to be done.
func isSelf(name string) bool {
	u, err := user.Lookup(name)
	if err != nil {
		u, err = user.LookupId(name)
	}
	return err == nil && u.Uid == strconv.Itoa(os.Geteuid())
}

// autoSuffix is the part of an AUTO log file's name that tells processes of
// one name apart: supervisord's is 8 random characters, made new at every
// start; ours are the same 8 characters for the same process (a hash of
// GROUP:NAME), so the name stays the same across reloads and restarts and a
// reload sees no change.
func autoSuffix(name string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_"
	h := fnv.New64a()
	h.Write([]byte(name))
	v := h.Sum64()
	b := make([]byte, 8)
	for i := range b {
		b[i] = alphabet[v%uint64(len(alphabet))]
		v /= uint64(len(alphabet))
	}
	return string(b)
}

func (p *parser) logPaths(s *supervise.Spec, info *Program, logs map[string]*logSpec, redirect bool, warnKey func(string, string, ...any)) {
	path := func(ch string) string {
		l := logs[ch]
		switch l.kind {
		case logAuto:
			return filepath.Join(p.cfg.Supervisord.Childlogdir, info.Name+"-"+ch+"---"+p.cfg.Supervisord.Identifier+"-"+autoSuffix(s.Name)+".log")
		case logFile:
			return l.path
		}
		return ""
	}
	info.StdoutLogfile, info.StderrLogfile = path("stdout"), path("stderr")
	s.StdoutLog, s.StderrLog = info.StdoutLogfile, info.StderrLogfile
	if redirect {
		s.StderrLog = s.StdoutLog // stderr lines go to stdout's file
	}
	out, errl := logs["stdout"], logs["stderr"]
	switch {
	case info.StdoutLogfile != "":
		s.LogMaxBytes, s.LogBackups = out.maxbytes, out.backups
		if info.StderrLogfile != "" && (out.maxbytes != errl.maxbytes || out.backups != errl.backups) {
			warnKey("stderr_logfile_maxbytes", "stdout's and stderr's log files rotate alike in supervisor: stdout_logfile_maxbytes and _backups apply to both")
		}
	case info.StderrLogfile != "":
		s.LogMaxBytes, s.LogBackups = errl.maxbytes, errl.backups
	default:
		s.LogMaxBytes, s.LogBackups = supervise.DefaultLogMaxBytes, supervise.DefaultLogBackups
	}
}
