package svconf_test

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/config"
	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/svconf"
)

// testEnv is the environment the tests expand %(ENV_X)s from.
var testEnv = map[string]string{"HOME": "/home/test", "APP": "shop", "TMPDIR": ""}

func opts() svconf.Options {
	return svconf.Options{
		Env:      func(k string) (string, bool) { v, ok := testEnv[k]; return v, ok },
		Hostname: "box",
	}
}

// parse parses src as dir/supervisord.conf, dir a fresh temporary directory.
func parse(t *testing.T, src string) (*svconf.Config, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "supervisord.conf")
	c, err := svconf.Parse(path, []byte(src), opts())
	if err != nil {
		t.Fatalf("Parse: %v\nsource:\n%s", err, src)
	}
	return c, dir
}

func parseErr(t *testing.T, src string) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "supervisord.conf")
	c, err := svconf.Parse(path, []byte(src), opts())
	if err == nil {
		t.Fatalf("Parse succeeded (%d programs), want an error\nsource:\n%s", len(c.Group.Programs), src)
	}
	return err
}

const head = "[supervisord]\n"

func names(c *svconf.Config) []string {
	var out []string
	for _, s := range c.Group.Programs {
		out = append(out, s.Name)
	}
	return out
}

func find(t *testing.T, c *svconf.Config, name string) supervise.Spec {
	t.Helper()
	for _, s := range c.Group.Programs {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no program %q in %v", name, names(c))
	return supervise.Spec{}
}

func TestSyntax(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc, src string
		argv     []string
	}{
		{"inline ; comment after a space", "[program:a]\ncommand = sleep 100 ; note\n", []string{"sleep", "100"}},
		{"inline # comment after a tab", "[program:a]\ncommand = sleep 100\t# note\n", []string{"sleep", "100"}},
		{"; and # inside a word stay", "[program:a]\ncommand = sh -c a;b#c\n", []string{"sh", "-c", "a;b#c"}},
		{"key: value", "[program:a]\ncommand: echo x\n", []string{"echo", "x"}},
		{"keys are case-insensitive", "[program:a]\nCOMMAND = echo x\n", []string{"echo", "x"}},
		{"continuation lines", "[program:a]\ncommand = echo\n  one\n\ttwo\n", []string{"echo", "one", "two"}},
		{"comment lines inside a continued value", "[program:a]\ncommand = echo\n; skipped\n  one\n", []string{"echo", "one"}},
		{"CRLF", "[program:a]\r\ncommand=echo x\r\n", []string{"echo", "x"}},
		{"first delimiter splits", "[program:a]\ncommand = echo a=b:c\n", []string{"echo", "a=b:c"}},
		{"configparser steps through ; and # together", "[program:a]\ncommand = echo b;c;d ;e #f\n", []string{"echo", "b;c;d", ";e"}},
		{"shlex quoting", "[program:a]\ncommand = printf 'a b' \"c\\\"d\\$e\" f\\ g ''\n", []string{"printf", "a b", `c"d\$e`, "f g", ""}},
		{"a duplicate key: the last wins", "[program:a]\ncommand = echo 1\ncommand = echo 2\n", []string{"echo", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			t.Parallel()
			c, _ := parse(t, head+tt.src)
			if len(c.Group.Programs) != 1 {
				t.Fatalf("programs %q", names(c))
			}
			if got := c.Group.Programs[0].Command; !reflect.DeepEqual(got, tt.argv) {
				t.Errorf("argv %q, want %q", got, tt.argv)
			}
		})
	}
}

func TestExpansions(t *testing.T) {
	t.Parallel()
	c, dir := parse(t, head+`[supervisord]
environment = FROM_SV="sv value"
[program:web]
command = /bin/run %(program_name)s %(group_name)s %(process_num)02d %(numprocs)d %(host_node_name)s %(ENV_APP)s %(ENV_FROM_SV)s 100%%
process_name = %(program_name)s-%(process_num)d
numprocs = 2
numprocs_start = 7
directory = %(here)s/%(ENV_MINE)s
environment = MINE="w%(process_num)d"
`)
	_ = c
	s := find(t, c, "web:web-7")
	want := []string{"/bin/run", "web", "web", "07", "2", "box", "shop", "sv", "value", "100%"} // expanded, then split
	if !reflect.DeepEqual(s.Command, want) {
		t.Errorf("argv %q, want %q", s.Command, want)
	}
	if s.Dir != dir+"/w7" {
		t.Errorf("directory %q, want %q", s.Dir, dir+"/w7")
	}
	if got := find(t, c, "web:web-8").Dir; got != dir+"/w8" {
		t.Errorf("directory %q", got)
	}
}

func TestExpansionErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ doc, src, want string }{
		{"unknown name", "[program:a]\ncommand = echo %(nope)s\n", "supervisord.conf:3: [program:a] command: %(nope) cannot be expanded"},
		{"unknown variable", "[program:a]\ncommand = echo %(ENV_NOPE)s\n", "%(ENV_NOPE) cannot be expanded"},
		{"bare percent", "[program:a]\ncommand = echo 100%\n", "lone %"},
		{"d on a string", "[program:a]\ncommand = echo %(program_name)d\n", "needs a number"},
		{"process_num is per process only", "[program:a]\ncommand = echo\npriority = %(process_num)d\n", "[program:a] priority: %(process_num) cannot be expanded"},
	} {
		t.Run(tt.doc, func(t *testing.T) {
			t.Parallel()
			err := parseErr(t, head+tt.src)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, _ := parse(t, head+"[unix_http_server]\nfile = /run/sv.sock\n[program:a]\ncommand = /bin/a\n")
	want := supervise.DefaultSpec()
	want.Name = "a"
	want.Command = []string{"/bin/a"}
	want.StartBackoff = time.Second
	want.MaxRestarts = 0
	want.BackoffJitter = 0
	want.Env = []string{"SUPERVISOR_ENABLED=1", "SUPERVISOR_SERVER_URL=unix:///run/sv.sock", "SUPERVISOR_PROCESS_NAME=a", "SUPERVISOR_GROUP_NAME=a"}
	want.StdoutLog = "/tmp/a-stdout---supervisor-kglwyjar.log" // the suffix is autoSuffix("a")
	want.StderrLog = "/tmp/a-stderr---supervisor-kglwyjar.log"
	if got := c.Group.Programs[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	p := c.Programs[0]
	if p.Name != "a" || p.Group != "a" || p.Priority != 999 || p.GroupPriority != 999 || !p.Autostart || p.Line != 4 || p.StdoutLogfile != want.StdoutLog {
		t.Errorf("Program %+v", p)
	}
	sv := c.Supervisord
	if sv.Identifier != "supervisor" || sv.Loglevel != "info" || sv.Minfds != 1024 || sv.Umask != 0o22 || sv.LogfileMaxbytes != 50<<20 || sv.Childlogdir != "/tmp" {
		t.Errorf("Supervisord %+v", sv)
	}
	if c.UnixHTTP == nil || c.UnixHTTP.Chmod != 0 || c.UnixHTTP.File != "/run/sv.sock" {
		t.Errorf("UnixHTTP %+v", c.UnixHTTP)
	}
}

func TestProgramKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, _ := parse(t, head+`[inet_http_server]
port = *:9001
username = u
password = {SHA}0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33
[program:a]
command = /bin/a
autostart = false
autorestart = true
startsecs = 0
startretries = 5
exitcodes = 0,2, 2
stopsignal = INT
stopwaitsecs = 3
stopasgroup = true
umask = 002
directory = /srv
environment = A=1,B="x,y",C=/usr/bin:/bin
stdout_logfile = `+dir+`/a.log
stdout_logfile_maxbytes = 1KB
stdout_logfile_backups = 2
redirect_stderr = true
serverurl = AUTO
[program:b]
command = /bin/b
autorestart = false
stopsignal = 9
stdout_logfile = NONE
stderr_logfile = `+dir+`/b.err
stderr_logfile_maxbytes = 0
stderr_logfile_backups = 0
serverurl = http://elsewhere:1
[program:c]
command = /bin/c
autorestart = unexpected
stopsignal = SIGUSR2
stdout_logfile = /dev/stdout
stderr_logfile = off
`)
	a := find(t, c, "a")
	umask := uint32(0o002)
	switch {
	case a.Autostart, a.Restart != supervise.RestartAlways, a.MinUptime != 0, a.StartRetries != 5,
		!reflect.DeepEqual(a.SuccessCodes, []int{0, 2}), a.StopSignal != syscall.SIGINT, a.StopGrace != 3*time.Second,
		a.Limits.Umask == nil || *a.Limits.Umask != umask, a.Dir != "/srv",
		a.StdoutLog != dir+"/a.log", a.StderrLog != dir+"/a.log", a.LogMaxBytes != 1024, a.LogBackups != 2:
		t.Errorf("a: %+v", a)
	}
	wantEnv := []string{"SUPERVISOR_ENABLED=1", "SUPERVISOR_SERVER_URL=http://localhost:9001", "SUPERVISOR_PROCESS_NAME=a", "SUPERVISOR_GROUP_NAME=a", "A=1", "B=x,y", "C=/usr/bin:/bin"}
	if !reflect.DeepEqual(a.Env, wantEnv) {
		t.Errorf("a env %q, want %q", a.Env, wantEnv)
	}
	if c.Programs[0].StderrLogfile != "" {
		t.Errorf("a: redirected stderr has a log file for tail: %q", c.Programs[0].StderrLogfile)
	}
	b := find(t, c, "b")
	if b.Restart != supervise.RestartNever || b.StopSignal != syscall.SIGKILL || b.StdoutLog != "" || b.StderrLog != dir+"/b.err" || b.LogMaxBytes != 0 || b.LogBackups != 0 {
		t.Errorf("b: %+v", b)
	}
	if !slices.Contains(b.Env, "SUPERVISOR_SERVER_URL=http://elsewhere:1") {
		t.Errorf("b env %q", b.Env)
	}
	cc := find(t, c, "c")
	if cc.Restart != supervise.RestartOnFailure || cc.StopSignal != syscall.SIGUSR2 || cc.StdoutLog != "" || cc.StderrLog != "" {
		t.Errorf("c: %+v", cc)
	}
	if c.InetHTTP == nil || c.InetHTTP.Host != "" || c.InetHTTP.PortNum != 9001 || c.InetHTTP.Port != "*:9001" || c.InetHTTP.Username != "u" {
		t.Errorf("InetHTTP %+v", c.InetHTTP)
	}
}

func TestUser(t *testing.T) {
	t.Parallel()
	c, _ := parse(t, head+"[program:a]\ncommand = /bin/a\nuser = root\n")
	if u := c.Group.Programs[0].User; u == nil || u.Uid != 0 || u.Name != "root" {
		t.Errorf("user %+v", u)
	}
	err := parseErr(t, head+"[program:a]\ncommand = /bin/a\nuser = no-such-user-here\n")
	var e *config.Error
	if !errors.As(err, &e) || e.Line != 4 || e.Key != "user" {
		t.Errorf("error %v, want one at line 4, key user", err)
	}
}

func TestGroupsAndOrder(t *testing.T) {
	t.Parallel()
	c, _ := parse(t, head+`[program:z]
command = /bin/z
[program:late]
command = /bin/late
priority = 1000
[program:web]
command = /bin/web
numprocs = 11
process_name = web_%(process_num)d
priority = 5
[group:g]
programs = b, a
priority = 3
[program:a]
command = /bin/a
priority = 2
[program:b]
command = /bin/b
priority = 1
[program:y]
command = /bin/y
`)
	want := []string{"g:b", "g:a", "web:web_0", "web:web_1", "web:web_10", "web:web_2", "web:web_3", "web:web_4",
		"web:web_5", "web:web_6", "web:web_7", "web:web_8", "web:web_9", "y", "z", "late"}
	if got := names(c); !reflect.DeepEqual(got, want) {
		t.Errorf("order %q\nwant  %q", got, want)
	}
	var groups []string
	for _, g := range c.Groups {
		groups = append(groups, g.Name)
	}
	if want := []string{"g", "web", "y", "z", "late"}; !reflect.DeepEqual(groups, want) {
		t.Errorf("groups %q, want %q", groups, want)
	}
	if !reflect.DeepEqual(c.Groups[0].Members, []string{"g:b", "g:a"}) || c.Groups[0].Priority != 3 {
		t.Errorf("group g %+v", c.Groups[0])
	}
	if p := c.Programs[0]; p.Group != "g" || p.Name != "b" || p.Section != "program:b" || p.GroupPriority != 3 {
		t.Errorf("Program %+v", p)
	}
	for i, s := range c.Group.Programs {
		if c.Programs[i].Group == c.Programs[i].Name && s.Name != c.Programs[i].Name ||
			c.Programs[i].Group != c.Programs[i].Name && s.Name != c.Programs[i].Group+":"+c.Programs[i].Name {
			t.Errorf("Programs[%d] %+v does not match Spec %q", i, c.Programs[i], s.Name)
		}
		if !slices.Contains(s.Env, "SUPERVISOR_GROUP_NAME="+c.Programs[i].Group) {
			t.Errorf("%s: env %q", s.Name, s.Env)
		}
	}
}

func TestIncludes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	confd := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(confd, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"b.conf":       "[program:b]\ncommand = /bin/echo %(here)s\nstartsecs = 2\n",
		"a.conf":       "[program:a]\ncommand = /bin/a\n[include]\nfiles = nested/*.conf\n",
		".hidden.conf": "[program:hidden]\ncommand = /bin/hidden\n",
		"c.ini":        "[program:c]\ncommand = /bin/c\n",
		"w.conf":       "[program:w]\ncommand = /bin/w\nstdout_events_enabled = true\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(confd, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(main, []byte(head+"[include]\nfiles = conf.d/*.conf none/*.conf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := svconf.Load(main, opts())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(c), []string{"a", "b", "w"}; !reflect.DeepEqual(got, want) {
		t.Errorf("programs %q, want %q", got, want)
	}
	if got := find(t, c, "b").Command; !reflect.DeepEqual(got, []string{"/bin/echo", confd}) {
		t.Errorf("%%(here)s in an included file: %q", got)
	}
	if p := c.Programs[1]; p.File != filepath.Join(confd, "b.conf") || p.Line != 1 {
		t.Errorf("Program b at %s:%d", p.File, p.Line)
	}
	want := []string{
		main + ":3: [include] files: no file matches \"" + dir + "/none/*.conf\"",
		filepath.Join(confd, "a.conf") + ":3: [include] [include] in an included file is not followed",
		filepath.Join(confd, "w.conf") + ":3: [program:w] stdout_events_enabled: not done",
	}
	if len(c.Warnings) != len(want) {
		t.Fatalf("warnings %q, want %d", c.Warnings, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(c.Warnings[i].Error(), w) {
			t.Errorf("warning %d: %q, want it to start %q", i, c.Warnings[i], w)
		}
	}
	if want := []string{main, filepath.Join(confd, "a.conf"), filepath.Join(confd, "b.conf"), filepath.Join(confd, "w.conf")}; !reflect.DeepEqual(c.Files, want) {
		t.Errorf("Files %q, want %q", c.Files, want)
	}

	// An error in an included file names it.
	bad := filepath.Join(confd, "z.conf")
	if err := os.WriteFile(bad, []byte("[program:z]\ncommand = /bin/z\nstartsecs = soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = svconf.Load(main, opts())
	var e *config.Error
	if !errors.As(err, &e) || e.File != bad || e.Line != 3 || e.Key != "startsecs" {
		t.Errorf("error %v, want one at %s:3 startsecs", err, bad)
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	c, _ := parse(t, head+`[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[rpcinterface:other]
supervisor.rpcinterface_factory = other:make
[eventlistener:e]
command = /bin/e
[fcgi-program:f]
command = /bin/f
[ctlplugin:p]
x = 1
[mystery]
[program:a]
command = /bin/a
stopasgroup = false
stdout_syslog = true
stdout_capture_maxbytes = 1MB
bogus = 1
stdout_logfile_maxbytes = 0
[program:a]
priority = 3
`)
	want := []string{
		":4: [rpcinterface:other] not done",
		":6: [eventlistener:e] not done",
		":8: [fcgi-program:f] not done",
		":10: [ctlplugin:p]",
		":12: [mystery] unknown section",
		":13: [program:a] stderr_logfile_maxbytes: stdout's and stderr's log files rotate alike",
		":15: [program:a] stopasgroup: false",
		":16: [program:a] stdout_syslog: not done",
		":17: [program:a] stdout_capture_maxbytes: not done",
		":18: [program:a] bogus: unknown key",
		":19: [program:a] stdout_logfile_maxbytes: AUTO logging",
		":20: [program:a] section [program:a] appears again",
	}
	var got []string
	for _, w := range c.Warnings {
		if w.File == "" || w.Line == 0 {
			t.Errorf("warning %q names no file or line", w)
		}
		got = append(got, w.Error())
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("warning %d: %q, want it to contain %q", i, got[i], want[i])
		}
	}
	if !c.RPCInterface {
		t.Error("RPCInterface false")
	}
	if names(c)[0] != "a" || c.Programs[0].Priority != 3 {
		t.Errorf("merged section: %+v", c.Programs)
	}
}

func TestSupervisordWarnings(t *testing.T) {
	t.Parallel()
	c, _ := parse(t, `[supervisord]
user = nobody
umask = 077
directory = /
minfds = 4096
strip_ansi = true
[program:a]
command = /bin/a
[group:g]
programs = a, a
`)
	want := []string{":2: [supervisord] user", ":3: [supervisord] umask", ":4: [supervisord] directory",
		":5: [supervisord] minfds", ":6: [supervisord] strip_ansi", ":10: [group:g] programs: \"a\" is listed twice"}
	if len(c.Warnings) != len(want) {
		t.Fatalf("warnings %q, want %d", c.Warnings, len(want))
	}
	for i, w := range want {
		if !strings.Contains(c.Warnings[i].Error(), w) {
			t.Errorf("warning %q, want it to contain %q", c.Warnings[i], w)
		}
	}
	if got := names(c); !reflect.DeepEqual(got, []string{"g:a"}) {
		t.Errorf("programs %q", got)
	}
	sv := c.Supervisord
	if sv.User != "nobody" || sv.Umask != 0o77 || sv.Directory != "/" || sv.Minfds != 4096 || !sv.StripANSI {
		t.Errorf("Supervisord %+v", sv)
	}
	c, _ = parse(t, "[program:a]\ncommand = /bin/a\n")
	if len(c.Warnings) != 1 || c.Warnings[0].Line != 1 || !strings.Contains(c.Warnings[0].Msg, "no [supervisord] section") {
		t.Errorf("warnings %q, want one about [supervisord] at line 1", c.Warnings)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc, src  string
		line      int
		key, want string
	}{
		{"bad integer", "[program:a]\ncommand = a\nstartsecs = x\n", 4, "startsecs", "not an integer"},
		{"bad boolean", "[program:a]\ncommand = a\nautostart = maybe\n", 4, "autostart", "not a boolean"},
		{"bad autorestart", "[program:a]\ncommand = a\nautorestart = sometimes\n", 4, "autorestart", "true, false, unexpected"},
		{"bad signal", "[program:a]\ncommand = a\nstopsignal = NOPE\n", 4, "stopsignal", "not a signal"},
		{"bad exit code", "[program:a]\ncommand = a\nexitcodes = 0,256\n", 4, "exitcodes", "exit codes"},
		{"bad size", "[program:a]\ncommand = a\nstdout_logfile_maxbytes = 5XB\n", 4, "stdout_logfile_maxbytes", "not a size"},
		{"bad umask", "[program:a]\ncommand = a\numask = 9\n", 4, "umask", "octal"},
		{"missing command", "[program:a]\npriority = 1\n", 2, "command", "missing"},
		{"numprocs without process_num", "[program:a]\ncommand = a\nnumprocs = 2\n", 2, "process_name", "%(process_num)"},
		{"stopasgroup without killasgroup", "[program:a]\ncommand = a\nstopasgroup = true\nkillasgroup = false\n", 5, "killasgroup", "cannot set"},
		{"unknown program in a group", "[group:g]\nprograms = nope\n", 3, "programs", "unknown program"},
		{"bad name", "[program:a b]\ncommand = a\n", 2, "", "invalid name"},
		{"log directory missing", "[program:a]\ncommand = a\nstdout_logfile = /no/such/dir/a.log\n", 4, "stdout_logfile", "does not exist"},
		{"unclosed quote", "[program:a]\ncommand = sh -c 'a\n", 3, "command", "no closing quotation"},
		{"not key = value", "[program:a]\ncommand = a\njunk\n", 4, "", "expected"},
		{"incomplete auth", "[inet_http_server]\nport = 9001\nusername = u\n[program:a]\ncommand = a\n", 2, "", "incomplete authentication"},
		{"bad port", "[inet_http_server]\nport = host:http\n[program:a]\ncommand = a\n", 3, "port", "port number"},
		{"childlogdir missing", "childlogdir = /no/such/dir\n[program:a]\ncommand = a\n", 2, "childlogdir", "not an existing directory"},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			t.Parallel()
			err := parseErr(t, head+tt.src)
			var e *config.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not a *config.Error", err, err)
			}
			if e.Line != tt.line || e.Key != tt.key || !strings.Contains(e.Msg, tt.want) || !strings.HasSuffix(e.File, "supervisord.conf") {
				t.Errorf("error %q (line %d, key %q), want line %d, key %q, containing %q", err, e.Line, e.Key, tt.line, tt.key, tt.want)
			}
		})
	}
}

func TestEveryErrorReported(t *testing.T) {
	t.Parallel()
	if err := parseErr(t, "command = a\n"+head+"[program:a]\ncommand = a\n"); !strings.Contains(err.Error(), "supervisord.conf:1: key before any section") {
		t.Errorf("key outside a section: %v", err)
	}
	err := parseErr(t, head+"[program:a]\ncommand = a\nstartsecs = x\n[program:b]\ncommand = b\nautostart = maybe\n")
	var es *config.Errors
	if !errors.As(err, &es) || len(es.List) != 2 || es.List[0].Line != 4 || es.List[1].Line != 7 {
		t.Errorf("error %v, want two, at lines 4 and 7", err)
	}
}

func TestDebianStock(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("/etc/supervisor/supervisord.conf")
	if err != nil {
		t.Skipf("Debian's supervisor package is not installed: %v", err)
	}
	dir := t.TempDir()
	confd := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(confd, 0o755); err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(src), "/etc/supervisor/conf.d/*.conf", confd+"/*.conf")
	for _, d := range []string{"/var/log/supervisor", "/var/run", "/run"} {
		if _, err := os.Stat(d); err != nil {
			text = strings.ReplaceAll(text, d, dir) // a host without the package's directories
		}
	}
	if err := os.WriteFile(filepath.Join(confd, "app.conf"), []byte("[program:app]\ncommand = /bin/sleep 100\nautorestart = true\nstdout_logfile = AUTO\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(main, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := svconf.Load(main, opts())
	if err != nil {
		t.Fatalf("Debian's supervisord.conf: %v", err)
	}
	if got := names(c); !reflect.DeepEqual(got, []string{"app"}) {
		t.Errorf("programs %q", got)
	}
	if c.UnixHTTP == nil || c.UnixHTTP.Chmod != 0o700 || !c.RPCInterface {
		t.Errorf("unix server %+v, rpcinterface %t", c.UnixHTTP, c.RPCInterface)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}
	if !svconf.Detect(src) {
		t.Error("Detect: false for Debian's supervisord.conf")
	}
}

func TestDetect(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		src  string
		want bool
	}{
		{"[supervisord]\n", true},
		{"[program:a]\ncommand = a\nautorestart = true\n", true},
		{"[group:g]\nprograms = a\n", true},
		{"[include]\nfiles = *.conf\n", true},
		{"[program:a]\ncommand = a\n", false},
		{"[program:a]\ncommand = echo %(ENV_HOME)s\n", true}, // supervisord's expansion
		{"[program:a]\ncommand = echo %(ENV_HOME)s\nrestart = always\n", false},
		{"[program:a]\ncommand = a\nrestart = always\n", false},
		{"[supervisor]\n[program:a]\ncommand = a\nstartsecs = 1\n", false},
		// A native file with a supervisord key by mistake: native, whose
		// parser names the key's native equivalent.
		{"[program:a]\ncommand = a\nstartsecs = 5\nrestart = always\n", false},
		{"[defaults]\nstop_grace = 1s\n[supervisord]\n", false},
		{"", false},
	} {
		if got := svconf.Detect([]byte(tt.src)); got != tt.want {
			t.Errorf("Detect(%q) = %t, want %t", tt.src, got, tt.want)
		}
	}
}

// normalise clears what cannot round-trip through the native format.
func normalise(g supervise.Group) supervise.Group {
	g.Programs = slices.Clone(g.Programs)
	for i := range g.Programs {
		s := &g.Programs[i]
		if s.User != nil {
			u := *s.User
			u.Groups = nil
			s.User = &u
		}
	}
	return g
}

func TestConvertRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, src := range []string{
		head + "[program:a]\ncommand = /bin/a\n",
		head + `[unix_http_server]
file = /run/x.sock
[supervisord]
environment = GREETING="hello, world;#1",DOLLAR="$HOME ${X}"
[program:web]
command = /bin/sh -c "echo 'a;b'#c \\ $HOME" '' "\t"
numprocs = 3
process_name = %(program_name)s_%(process_num)d
priority = 5
autorestart = true
exitcodes = 0,3
stopsignal = HUP
stopwaitsecs = 2
startsecs = 0
startretries = 1
directory = /tmp
umask = 027
user = root
stdout_logfile = ` + dir + `/web_%(process_num)d.log
stdout_logfile_maxbytes = 1MB
stdout_logfile_backups = 0
redirect_stderr = true
[group:g]
programs = x, y
[program:x]
command = /bin/x
autostart = false
autorestart = false
[program:y]
command = /bin/y
stdout_logfile = NONE
`,
	} {
		c, _ := parse(t, src)
		var b strings.Builder
		if err := svconf.Convert(c, &b); err != nil {
			t.Fatalf("Convert: %v", err)
		}
		g, err := config.Parse("converted.conf", []byte(b.String()))
		if err != nil {
			t.Fatalf("config.Parse of Convert's output: %v\n%s", err, b.String())
		}
		if got, want := normalise(g), normalise(c.Group); !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\ngot  %+v\nwant %+v\nconverted:\n%s", got, want, b.String())
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		head + "[program:a]\ncommand = a ; x\n",
		head + "[program:w]\ncommand = a %(process_num)03d %%\nnumprocs = 3\nprocess_name = %(program_name)s_%(process_num)d\nenvironment = A=1,B=\"x,y\"\n",
		head + "[group:g]\nprograms = a,b\n[program:a]\ncommand = a\n  continued\n[program:b]\ncommand: b\n",
		"[DEFAULT]\nx = 1\n[supervisord]\nenvironment = A='q' #c\n[inet_http_server]\nport = :9001\n",
		"[program:a\n= x\nkey\n[program:]\n[]\n[\n%(\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		path := filepath.Join(dir, "fuzz.conf")
		done := make(chan string, 1)
		go func() { done <- checkParse(path, src) }()
		select {
		case msg := <-done:
			if msg != "" {
				t.Fatal(msg)
			}
		case <-time.After(3 * time.Second):
			panic(fmt.Sprintf("slow input %q", src))
		}
	})
}

// checkParse is FuzzParse's check of one input: "" when it holds.
func checkParse(path string, src []byte) string {
	_ = svconf.Detect(src)
	c, err := svconf.Parse(path, src, opts())
	if err != nil {
		var e *config.Error
		if !errors.As(err, &e) {
			return fmt.Sprintf("error %T %v is not a *config.Error", err, err)
		}
		return ""
	}
	if len(c.Programs) != len(c.Group.Programs) {
		return fmt.Sprintf("%d Programs for %d specs", len(c.Programs), len(c.Group.Programs))
	}
	if err := c.Group.Validate(); err != nil {
		return fmt.Sprintf("Group does not validate: %v", err)
	}
	for _, w := range c.Warnings {
		if w.File == "" {
			return fmt.Sprintf("warning %q names no file", w)
		}
	}
	var b strings.Builder
	if err := svconf.Convert(c, &b); err != nil {
		return ""
	}
	// What Convert writes, the native parser reads back as the same group,
	// except where Convert says it changes something (a comment).
	if strings.Contains(b.String(), "; CHANGED") || strings.Contains(b.String(), "; NOT CONVERTED") {
		return ""
	}
	g, err := config.Parse("converted.conf", []byte(b.String()))
	if err != nil {
		return fmt.Sprintf("config.Parse of Convert's output: %v\n%s", err, b.String())
	}
	if got, want := normalise(g), normalise(c.Group); !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("round trip:\ngot  %+v\nwant %+v\nconverted:\n%s", got, want, b.String())
	}
	return ""
}

// What Docker images write in [supervisord]: a log file that is no file, and
// user = the user we run as. Neither is a file to open nor a warning.
func TestDockerStyleSupervisord(t *testing.T) {
	t.Parallel()
	for _, lf := range []string{"/dev/null", "/dev/stdout", "/dev/fd/1"} {
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		c, _ := parse(t, "[supervisord]\nnodaemon=true\nuser="+me.Username+"\nlogfile="+lf+"\nlogfile_maxbytes=0\n[program:a]\ncommand=/bin/a\nstdout_logfile=NONE\nstderr_logfile=NONE\n")
		if c.Supervisord.Logfile != "" {
			t.Errorf("logfile=%s: Logfile %q, want none", lf, c.Supervisord.Logfile)
		}
		if len(c.Warnings) > 0 {
			t.Errorf("logfile=%s: warnings %v", lf, c.Warnings)
		}
	}
}

// A command without '/' is looked up, as supervisord does, in the PATH the
// program's environment sets; not found there, it is a warning and left to
// supervisor's own PATH.
func TestCommandInEnvironmentPath(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "mytool"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, _ := parse(t, head+"[program:a]\ncommand = mytool --x\nenvironment = PATH=\"/nonexistent:"+bin+"\"\n")
	if got := c.Group.Programs[0].Command; !reflect.DeepEqual(got, []string{filepath.Join(bin, "mytool"), "--x"}) {
		t.Errorf("command %q, want mytool from the environment's PATH", got)
	}
	if len(c.Warnings) > 0 {
		t.Errorf("warnings %v", c.Warnings)
	}
	c, _ = parse(t, head+"[program:a]\ncommand = notthere\nenvironment = PATH=\"/nonexistent\"\n")
	if got := c.Group.Programs[0].Command[0]; got != "notthere" || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].Error(), "is not in the PATH environment sets") {
		t.Errorf("command %q, warnings %v; want it kept, with one warning", got, c.Warnings)
	}
}
