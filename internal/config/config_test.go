package config_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/config"
	"github.com/supervisor/supervisor/internal/supervise"
)

// spec returns DefaultSpec with name and command set, then modified by edit.
func spec(name string, command []string, edit func(*supervise.Spec)) supervise.Spec {
	s := supervise.DefaultSpec()
	s.Name = name
	s.Command = command
	if edit != nil {
		edit(&s)
	}
	return s
}

func mustParse(t *testing.T, src string) supervise.Group {
	t.Helper()
	g, err := config.Parse("test.conf", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\nsource:\n%s", err, src)
	}
	return g
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want supervise.Group
	}{
		{
			name: "every key",
			src: `# a comment
; another comment
[supervisor]
strategy = one_for_all
kill_mode = group

[program:web]
command = /usr/bin/python3 -m http.server "8000"
spawner = forkexec
directory = /srv
environment = A=1, B="two words"
autostart = false
essential = true
restart = always
success_codes = 0, 2
min_uptime = 2s
start_retries = 7
backoff_initial = 200ms
backoff_max = 1m
backoff_jitter = 0.5
backoff_reset = 20s
max_restarts = 9
restart_window = 1m30s
stop_signal = INT
stop_grace = 3s
protocol = true
start_timeout = 4s
heartbeat_timeout = 2s
stdout_log = /var/log/web.log
stderr_log = /var/log/web.err
log_max_bytes = 10MB
log_backups = 3
log_timestamps = true
stderr_level = warn
`,
			want: supervise.Group{
				Strategy: supervise.OneForAll,
				KillMode: supervise.KillGroup,
				Programs: []supervise.Spec{{
					Name:             "web",
					Command:          []string{"/usr/bin/python3", "-m", "http.server", "8000"},
					Dir:              "/srv",
					Env:              []string{"A=1", "B=two words"},
					Spawner:          supervise.SpawnForkExec,
					Autostart:        false,
					Essential:        true,
					Restart:          supervise.RestartAlways,
					SuccessCodes:     []int{0, 2},
					MinUptime:        2 * time.Second,
					StartRetries:     7,
					BackoffInitial:   200 * time.Millisecond,
					BackoffMax:       time.Minute,
					BackoffJitter:    0.5,
					BackoffReset:     20 * time.Second,
					MaxRestarts:      9,
					RestartWindow:    90 * time.Second,
					StopSignal:       syscall.SIGINT,
					StopGrace:        3 * time.Second,
					Protocol:         true,
					StartTimeout:     4 * time.Second,
					HeartbeatTimeout: 2 * time.Second,
					StdoutLog:        "/var/log/web.log",
					StderrLog:        "/var/log/web.err",
					LogMaxBytes:      10 << 20,
					LogBackups:       3,
					LogTimestamps:    true,
					StderrLevel:      hclog.Warn,
				}},
			},
		},
		{
			name: "minimal program gets DefaultSpec and one_for_one",
			src:  "[program:a]\ncommand = /bin/true\n",
			want: supervise.Group{
				Strategy: supervise.OneForOne,
				Programs: []supervise.Spec{spec("a", []string{"/bin/true"}, nil)},
			},
		},
		{
			name: "programs keep file order; supervisor section may come last",
			src: `[program:z]
command = z
[program:a]
command = a
[program:m]
command = m
[supervisor]
strategy = rest_for_one
`,
			want: supervise.Group{
				Strategy: supervise.RestForOne,
				Programs: []supervise.Spec{
					spec("z", []string{"z"}, nil),
					spec("a", []string{"a"}, nil),
					spec("m", []string{"m"}, nil),
				},
			},
		},
		{
			name: "CRLF, BOM, indentation, spaces around = and inside brackets",
			src:  "\ufeff[ program : a ]\r\n\t command=x  y \r\n  ; comment\r\n\r\n  restart   =   never\r\n",
			want: supervise.Group{
				Strategy: supervise.OneForOne,
				Programs: []supervise.Spec{spec("a", []string{"x", "y"}, func(s *supervise.Spec) { s.Restart = supervise.RestartNever })},
			},
		},
		{
			name: "empty directory and environment are allowed",
			src:  "[program:a]\ncommand = a\ndirectory =\nenvironment =\n",
			want: supervise.Group{
				Strategy: supervise.OneForOne,
				Programs: []supervise.Spec{spec("a", []string{"a"}, nil)},
			},
		},
		{
			name: "GROUP:NAME program names and start_backoff (supervisord's, as svconf converts them)",
			src:  "[program:web:web_0]\ncommand = a\nstart_backoff = 1s\n[program:web:web_1]\ncommand = a\nstart_backoff = 0\n",
			want: supervise.Group{
				Strategy: supervise.OneForOne,
				Programs: []supervise.Spec{
					spec("web:web_0", []string{"a"}, func(s *supervise.Spec) { s.StartBackoff = time.Second }),
					spec("web:web_1", []string{"a"}, nil),
				},
			},
		},
		{
			name: "max_restarts 0 allows restart_window 0",
			src:  "[program:a]\ncommand = a\nmax_restarts = 0\nrestart_window = 0\n",
			want: supervise.Group{
				Strategy: supervise.OneForOne,
				Programs: []supervise.Spec{spec("a", []string{"a"}, func(s *supervise.Spec) { s.MaxRestarts, s.RestartWindow = 0, 0 })},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := mustParse(t, tt.src)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	src := `[supervisor]
strategy = one_for_one

[defaults]
spawner = exec
directory = /var/lib/app
environment = LANG=C, TZ=UTC
autostart = no
restart = never
success_codes = 0, 3
min_uptime = 5
start_retries = 1
backoff_initial = 1s
backoff_max = 2s
backoff_jitter = 0
backoff_reset = 1m
max_restarts = 2
restart_window = 30
stop_signal = SIGQUIT
stop_grace = 1s

[program:a]
command = a

[program:b]
command = b
restart = always
environment = ONLY=b
success_codes = 1

[program:c]
command = c
environment =
directory =
`
	inherited := func(s *supervise.Spec) {
		s.Dir = "/var/lib/app"
		s.Env = []string{"LANG=C", "TZ=UTC"}
		s.Autostart = false
		s.Restart = supervise.RestartNever
		s.SuccessCodes = []int{0, 3}
		s.MinUptime = 5 * time.Second
		s.StartRetries = 1
		s.BackoffInitial = time.Second
		s.BackoffMax = 2 * time.Second
		s.BackoffJitter = 0
		s.BackoffReset = time.Minute
		s.MaxRestarts = 2
		s.RestartWindow = 30 * time.Second
		s.StopSignal = syscall.SIGQUIT
		s.StopGrace = time.Second
	}
	want := supervise.Group{
		Strategy: supervise.OneForOne,
		Programs: []supervise.Spec{
			spec("a", []string{"a"}, inherited),
			spec("b", []string{"b"}, func(s *supervise.Spec) {
				inherited(s)
				s.Restart = supervise.RestartAlways
				s.Env = []string{"ONLY=b"} // replaces, does not merge
				s.SuccessCodes = []int{1}
			}),
			spec("c", []string{"c"}, func(s *supervise.Spec) {
				inherited(s)
				s.Env = nil
				s.Dir = ""
			}),
		},
	}
	got := mustParse(t, src)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// Programs must not share the defaults' slices.
	got.Programs[0].SuccessCodes[0] = 99
	got.Programs[0].Env[0] = "X=y"
	if got.Programs[2].SuccessCodes[0] != 0 {
		t.Errorf("programs share SuccessCodes")
	}
	if got.Programs[1].Env[0] != "ONLY=b" {
		t.Errorf("programs share Env")
	}
}

func TestParseCommandQuoting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command string
		want    []string
	}{
		{name: "plain words", command: "a b\tc", want: []string{"a", "b", "c"}},
		{name: "runs of whitespace", command: "a   b \t c", want: []string{"a", "b", "c"}},
		{name: "double quotes group", command: `echo "two words" x`, want: []string{"echo", "two words", "x"}},
		{name: "single quotes group", command: `echo 'two words'`, want: []string{"echo", "two words"}},
		{name: "quotes join with adjacent text", command: `a"b c"'d e'f`, want: []string{"ab cd ef"}},
		{name: "empty quoted argument", command: `a "" ''`, want: []string{"a", "", ""}},
		{name: "single quotes are literal", command: `echo '$HOME \n "x"'`, want: []string{"echo", `$HOME \n "x"`}},
		{name: "escapes in double quotes", command: `echo "a\"b\\c\$d\` + "`" + `e"`, want: []string{"echo", "a\"b\\c$d`e"}},
		{name: "other backslashes kept in double quotes", command: `echo "C:\path\n"`, want: []string{"echo", `C:\path\n`}},
		{name: "unquoted backslash escapes", command: `echo a\ b \"c\' \\`, want: []string{"echo", "a b", `"c'`, `\`}},
		{name: "no expansion", command: `sh -c $HOME ~ *.go`, want: []string{"sh", "-c", "$HOME", "~", "*.go"}},
		{name: "hash and semicolon inside a word", command: `echo a#b c;d`, want: []string{"echo", "a#b", "c;d"}},
		{name: "escaped comment characters", command: `echo \# \;`, want: []string{"echo", "#", ";"}},
		{name: "equals sign in value", command: `env A=b c`, want: []string{"env", "A=b", "c"}},
		{name: "utf-8", command: `echo "héllo wörld" 日本`, want: []string{"echo", "héllo wörld", "日本"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := mustParse(t, "[program:p]\ncommand = "+tt.command+"\n")
			if got := g.Programs[0].Command; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("command %s\ngot  %q\nwant %q", tt.command, got, tt.want)
			}
		})
	}
}

// TestParseInlineComments pins supervisord's rule: a ';' or '#' starts a
// comment when it begins the line or follows whitespace, anywhere on the line,
// quotes or not. directory is taken literally, so it shows the value as cut.
func TestParseInlineComments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc  string
		line string
		want string
	}{
		{doc: "space before semicolon", line: "directory = /srv ; why", want: "/srv"},
		{doc: "tab before semicolon", line: "directory = /srv\t;why", want: "/srv"},
		{doc: "space before hash", line: "directory = /srv # why", want: "/srv"},
		{doc: "tab before hash", line: "directory = /srv\t#why", want: "/srv"},
		{doc: "semicolon inside a word", line: "directory = /srv;x", want: "/srv;x"},
		{doc: "hash inside a word", line: "directory = /srv#x", want: "/srv#x"},
		{doc: "the first prefix after whitespace wins", line: "directory = /a;b#c #d ;e", want: "/a;b#c"},
		{doc: "comment right after the equals sign", line: "directory = ; none", want: ""},
		{doc: "no whitespace after the equals sign", line: "directory =;x", want: ";x"},
		{doc: "no spaces around the equals sign", line: "directory=/srv ;x", want: "/srv"},
		{doc: "empty comment", line: "directory = /srv ;", want: "/srv"},
		{doc: "whitespace before the comment is dropped", line: "directory = /srv   \t  ; x", want: "/srv"},
		{doc: "quotes do not protect", line: "directory = /a 'b ;c'", want: "/a 'b"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			g := mustParse(t, "[program:p]\ncommand = x\n"+tc.line+"\n")
			if got := g.Programs[0].Dir; got != tc.want {
				t.Errorf("%q: directory %q, want %q", tc.line, got, tc.want)
			}
		})
	}
}

// TestParseInlineCommentsEverywhere checks the rule on headers, [supervisor]
// keys, whole-line comments and the README's first example's shape.
func TestParseInlineCommentsEverywhere(t *testing.T) {
	t.Parallel()
	g := mustParse(t, `; a whole-line comment
   # an indented one
[supervisor]   ; the group
strategy = one_for_all        ; one_for_one | one_for_all | rest_for_one
kill_mode = group             # auto | cgroup | group

[program:web] ; the web
command = /bin/web --port 8000 ; not an argument
restart = never               ; always | on-failure | never
success_codes = 0, 2          # two of them
environment = A=1, B="x y"    ; two variables
`)
	if g.Strategy != supervise.OneForAll || g.KillMode != supervise.KillGroup {
		t.Errorf("strategy %q, kill_mode %q; want one_for_all, group", g.Strategy, g.KillMode)
	}
	want := spec("web", []string{"/bin/web", "--port", "8000"}, func(s *supervise.Spec) {
		s.Restart = supervise.RestartNever
		s.SuccessCodes = []int{0, 2}
		s.Env = []string{"A=1", "B=x y"}
	})
	if !reflect.DeepEqual(g.Programs, []supervise.Spec{want}) {
		t.Errorf("programs\ngot  %+v\nwant %+v", g.Programs, []supervise.Spec{want})
	}
}

func TestParseEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  string
		want []string
	}{
		{name: "one", env: "A=1", want: []string{"A=1"}},
		{name: "several", env: "A=1, B=2,C=3", want: []string{"A=1", "B=2", "C=3"}},
		{name: "double quoted value with space", env: `A=1, B="two words"`, want: []string{"A=1", "B=two words"}},
		{name: "quoted comma", env: `A="x,y", B='p,q'`, want: []string{"A=x,y", "B=p,q"}},
		{name: "unquoted inner spaces kept, outer dropped", env: "  A=hello world  , B=x", want: []string{"A=hello world", "B=x"}},
		{name: "quoted outer spaces kept", env: `A=" padded "`, want: []string{"A= padded "}},
		{name: "empty values", env: `A=, B="", C=''`, want: []string{"A=", "B=", "C="}},
		{name: "equals in value", env: "OPTS=--x=1", want: []string{"OPTS=--x=1"}},
		{name: "escapes", env: `A=a\,b, B="q\"q", C=back\\slash`, want: []string{"A=a,b", `B=q"q`, `C=back\slash`}},
		{name: "no expansion", env: "P=$PATH:/x", want: []string{"P=$PATH:/x"}},
		{name: "underscore and digits", env: "_X1=a, lower_case=b", want: []string{"_X1=a", "lower_case=b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := mustParse(t, "[program:p]\ncommand = x\nenvironment = "+tt.env+"\n")
			if got := g.Programs[0].Env; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("environment %s\ngot  %q\nwant %q", tt.env, got, tt.want)
			}
		})
	}
}

func TestParseValueForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		line  string
		check func(s supervise.Spec) bool
	}{
		{name: "bare seconds", line: "min_uptime = 90", check: func(s supervise.Spec) bool { return s.MinUptime == 90*time.Second }},
		{name: "zero duration", line: "stop_grace = 0", check: func(s supervise.Spec) bool { return s.StopGrace == 0 }},
		{name: "compound duration", line: "stop_grace = 1m30.5s", check: func(s supervise.Spec) bool { return s.StopGrace == 90500*time.Millisecond }},
		{name: "signal name", line: "stop_signal = TERM", check: func(s supervise.Spec) bool { return s.StopSignal == syscall.SIGTERM }},
		{name: "signal SIG name", line: "stop_signal = SIGHUP", check: func(s supervise.Spec) bool { return s.StopSignal == syscall.SIGHUP }},
		{name: "signal lower case", line: "stop_signal = usr1", check: func(s supervise.Spec) bool { return s.StopSignal == syscall.SIGUSR1 }},
		{name: "signal lower sig", line: "stop_signal = sigkill", check: func(s supervise.Spec) bool { return s.StopSignal == syscall.SIGKILL }},
		{name: "signal number", line: "stop_signal = 9", check: func(s supervise.Spec) bool { return s.StopSignal == syscall.SIGKILL }},
		{name: "signal 64", line: "stop_signal = 64", check: func(s supervise.Spec) bool { return s.StopSignal == 64 }},
		{name: "bool yes", line: "autostart = yes", check: func(s supervise.Spec) bool { return s.Autostart }},
		{name: "bool on", line: "autostart = On", check: func(s supervise.Spec) bool { return s.Autostart }},
		{name: "bool 1", line: "autostart = 1", check: func(s supervise.Spec) bool { return s.Autostart }},
		{name: "bool FALSE", line: "autostart = FALSE", check: func(s supervise.Spec) bool { return !s.Autostart }},
		{name: "bool off", line: "autostart = off", check: func(s supervise.Spec) bool { return !s.Autostart }},
		{name: "bool 0", line: "autostart = 0", check: func(s supervise.Spec) bool { return !s.Autostart }},
		{name: "bool no", line: "autostart = no", check: func(s supervise.Spec) bool { return !s.Autostart }},
		{name: "essential yes", line: "essential = yes", check: func(s supervise.Spec) bool { return s.Essential }},
		{name: "essential false", line: "essential = false", check: func(s supervise.Spec) bool { return !s.Essential }},
		{name: "essential default", line: "restart = never", check: func(s supervise.Spec) bool { return !s.Essential }},
		{name: "jitter 1", line: "backoff_jitter = 1", check: func(s supervise.Spec) bool { return s.BackoffJitter == 1 }},
		{name: "single success code", line: "success_codes = 255", check: func(s supervise.Spec) bool { return reflect.DeepEqual(s.SuccessCodes, []int{255}) }},
		{name: "reexec spawner", line: "spawner = reexec", check: func(s supervise.Spec) bool { return s.Spawner == supervise.SpawnReexec }},
		{name: "directory with spaces is literal", line: "directory = /srv/my dir", check: func(s supervise.Spec) bool { return s.Dir == "/srv/my dir" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := "x"
			if strings.Contains(tt.line, "reexec") {
				cmd = "child" // reexec runs a built-in worker
			}
			g := mustParse(t, "[program:p]\ncommand = "+cmd+"\n"+tt.line+"\n")
			if !tt.check(g.Programs[0]) {
				t.Errorf("%s: got %+v", tt.line, g.Programs[0])
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const prog = "[program:web]\ncommand = /bin/web\n" // lines 1-2
	tests := []struct {
		name    string
		src     string
		line    int
		section string
		key     string
		msg     string // substring of the message
		invalid bool   // error wraps supervise.ErrInvalidSpec
	}{
		{name: "unknown section", src: prog + "[programs:x]\n", line: 3, msg: "unknown section [programs:x]"},
		{name: "program without name", src: prog + "[program]\ncommand = x\n", line: 3, msg: "[program:NAME]"},
		{name: "empty program name", src: "[program:]\ncommand = x\n", line: 1, msg: "missing program name"},
		{name: "malformed header", src: "[program:web] the web\ncommand = x\n", line: 1, msg: "malformed section header"},
		{name: "comment cuts a header short", src: "[program:web ; the web]\ncommand = x\n", line: 1, msg: "malformed section header"},
		{name: "comment cuts a quote short", src: "[program:web]\ncommand = sh -c \"a ; b\"\n", line: 2, section: "program:web", key: "command", msg: "unterminated double quote (a ';' or '#' after whitespace starts a comment"},
		{name: "comment leaves an empty value", src: prog + "restart = ; always\n", line: 3, section: "program:web", key: "restart", msg: "empty value (a ';' or '#'"},
		{name: "comment cuts a key short", src: prog + "restart ;x = always\n", line: 3, section: "program:web", msg: `expected "key = value"`},
		{name: "unknown key", src: prog + "colour = red\n", line: 3, section: "program:web", key: "colour", msg: "unknown key"},
		{name: "key case matters", src: prog + "Restart = always\n", line: 3, section: "program:web", key: "Restart", msg: "unknown key"},
		{name: "unknown key in supervisor", src: "[supervisor]\nloglevel = debug\n" + prog, line: 2, section: "supervisor", key: "loglevel", msg: "unknown key"},
		{name: "duplicate key", src: prog + "restart = always\n\nrestart = never\n", line: 5, section: "program:web", key: "restart", msg: "duplicate key (first set at line 3)"},
		{name: "duplicate command", src: prog + "command = /bin/other\n", line: 3, section: "program:web", key: "command", msg: "duplicate key (first set at line 2)"},
		{name: "duplicate program name", src: prog + "\n[program:web]\ncommand = x\n", line: 4, section: "program:web", msg: `duplicate program name "web" (first defined at line 1)`},
		{name: "key outside any section", src: "# header comment\nrestart = always\n" + prog, line: 2, key: "restart", msg: "outside any section"},
		{name: "not key = value", src: prog + "autostart\n", line: 3, section: "program:web", msg: `expected "key = value"`},
		{name: "colon delimiter not supported", src: prog + "restart: always\n", line: 3, section: "program:web", msg: `expected "key = value"`},
		{name: "missing key", src: prog + "= always\n", line: 3, section: "program:web", msg: "missing key"},
		{name: "empty value", src: prog + "restart =\n", line: 3, section: "program:web", key: "restart", msg: "empty value"},
		{name: "empty command", src: "[program:web]\ncommand =   \n", line: 2, section: "program:web", key: "command", msg: "empty value"},
		{name: "missing command", src: "[supervisor]\nstrategy = one_for_all\n\n[program:web]\nrestart = always\n" + "[program:db]\ncommand = db\n", line: 4, section: "program:web", key: "command", msg: "missing required key"},
		{name: "missing command in last program", src: prog + "[program:db]\nrestart = always\n", line: 3, section: "program:db", key: "command", msg: "missing required key"},
		{name: "no programs", src: "[supervisor]\nstrategy = one_for_one\n", line: 0, msg: "no [program:NAME] sections"},
		{name: "empty file", src: "", line: 0, msg: "no [program:NAME] sections"},
		{name: "bad strategy", src: "[supervisor]\nstrategy = one_for_some\n" + prog, line: 2, section: "supervisor", key: "strategy", msg: `"one_for_some" is not one of one_for_one, one_for_all, rest_for_one`},
		{name: "bad kill_mode", src: "[supervisor]\nkill_mode = freezer\n" + prog, line: 2, section: "supervisor", key: "kill_mode", msg: `"freezer" is not one of auto, cgroup, group`},
		{name: "kill_mode in defaults", src: "[defaults]\nkill_mode = group\n" + prog, line: 2, section: "defaults", key: "kill_mode", msg: "unknown key"},
		{name: "duplicate kill_mode", src: "[supervisor]\nkill_mode = cgroup\nkill_mode = auto\n" + prog, line: 3, section: "supervisor", key: "kill_mode", msg: "duplicate key (first set at line 2)"},
		{name: "duplicate supervisor section", src: "[supervisor]\n" + prog + "[supervisor]\n", line: 4, msg: "duplicate section [supervisor] (first at line 1)"},
		{name: "defaults after program", src: prog + "[defaults]\nrestart = never\n", line: 3, msg: "[defaults] must come before"},
		{name: "duplicate defaults", src: "[defaults]\n[defaults]\n" + prog, line: 2, msg: "duplicate section [defaults]"},
		{name: "command in defaults", src: "[defaults]\ncommand = x\n" + prog, line: 2, section: "defaults", key: "command", msg: "cannot be set in [defaults]"},
		{name: "bad value in defaults", src: "[defaults]\nstop_grace = soon\n" + prog, line: 2, section: "defaults", key: "stop_grace", msg: `"soon" is not a duration`},
		{name: "bad restart", src: prog + "restart = sometimes\n", line: 3, section: "program:web", key: "restart", msg: `"sometimes" is not one of always, on-failure, never`},
		{name: "bad spawner", src: prog + "spawner = fork\n", line: 3, section: "program:web", key: "spawner", msg: `"fork" is not one of exec, forkexec, reexec`},
		{name: "heartbeat_timeout needs protocol", src: prog + "heartbeat_timeout = 1s\n", line: 3, section: "program:web", key: "heartbeat_timeout", msg: "needs protocol = true", invalid: true},
		{name: "bad protocol boolean", src: prog + "protocol = maybe\n", line: 3, section: "program:web", key: "protocol", msg: "maybe"},
		{name: "bad essential boolean", src: prog + "essential = sure\n", line: 3, section: "program:web", key: "essential", msg: `"sure" is not a boolean`},
		{name: "empty essential", src: prog + "essential =\n", line: 3, section: "program:web", key: "essential", msg: "empty value"},
		{name: "duplicate essential", src: prog + "essential = true\nessential = false\n", line: 4, section: "program:web", key: "essential", msg: "duplicate key (first set at line 3)"},
		{name: "after names no program", src: "[program:web]\ncommand = a\nafter = db\n", line: 3, section: "program:web", key: "after", msg: `no program "db"`, invalid: true},
		{name: "a dependency cycle", src: "[program:a]\ncommand = a\nafter = b\n[program:b]\ncommand = b\nrequires = a\n", line: 6, section: "program:b", key: "requires", msg: "dependency cycle: a -> b -> a", invalid: true},
		{name: "after takes names, not patterns", src: "[program:a]\ncommand = a\nafter = w*\n", line: 3, section: "program:a", key: "after", msg: "a program name, not a pattern"},
		{name: "reexec of an unknown worker", src: "[program:web]\ncommand = nosuchworker\nspawner = reexec\n", line: 2, section: "program:web", key: "command", msg: `"nosuchworker" is not a built-in worker`, invalid: true},
		{name: "bad autostart", src: prog + "autostart = maybe\n", line: 3, section: "program:web", key: "autostart", msg: `"maybe" is not a boolean`},
		{name: "success code out of range", src: prog + "success_codes = 0, 256\n", line: 3, section: "program:web", key: "success_codes", msg: "256 is not an exit code (0-255)"},
		{name: "success code negative", src: prog + "success_codes = -1\n", line: 3, section: "program:web", key: "success_codes", msg: "-1 is not an exit code"},
		{name: "success code not a number", src: prog + "success_codes = 0, two\n", line: 3, section: "program:web", key: "success_codes", msg: `"two" is not a whole number`},
		{name: "success codes empty entry", src: prog + "success_codes = 0,,1\n", line: 3, section: "program:web", key: "success_codes", msg: "empty entry"},
		{name: "success code twice", src: prog + "success_codes = 1, 1\n", line: 3, section: "program:web", key: "success_codes", msg: "1 is listed twice"},
		{name: "bad duration", src: prog + "min_uptime = 1 second\n", line: 3, section: "program:web", key: "min_uptime", msg: `"1 second" is not a duration`},
		{name: "duration without unit and fraction", src: prog + "stop_grace = 1.5\n", line: 3, section: "program:web", key: "stop_grace", msg: `"1.5" is not a duration`},
		{name: "negative duration", src: prog + "backoff_reset = -1s\n", line: 3, section: "program:web", key: "backoff_reset", msg: "-1s is negative"},
		{name: "huge bare seconds", src: prog + "restart_window = 99999999999999999999\n", line: 3, section: "program:web", key: "restart_window", msg: "too long"},
		{name: "negative int", src: prog + "start_retries = -1\n", line: 3, section: "program:web", key: "start_retries", msg: "-1 is negative"},
		{name: "int not a number", src: prog + "max_restarts = five\n", line: 3, section: "program:web", key: "max_restarts", msg: `"five" is not a whole number`},
		{name: "jitter out of range", src: prog + "backoff_jitter = 1.5\n", line: 3, section: "program:web", key: "backoff_jitter", msg: "1.5 is not between 0 and 1"},
		{name: "jitter NaN", src: prog + "backoff_jitter = NaN\n", line: 3, section: "program:web", key: "backoff_jitter", msg: `"NaN" is not a number`},
		{name: "jitter percent", src: prog + "backoff_jitter = 20%\n", line: 3, section: "program:web", key: "backoff_jitter", msg: `"20%" is not a number`},
		{name: "unknown signal", src: prog + "stop_signal = SIGFOO\n", line: 3, section: "program:web", key: "stop_signal", msg: `"SIGFOO" is not a signal name`},
		{name: "signal 0", src: prog + "stop_signal = 0\n", line: 3, section: "program:web", key: "stop_signal", msg: "0 is not a signal number (1-64)"},
		{name: "signal 65", src: prog + "stop_signal = 65\n", line: 3, section: "program:web", key: "stop_signal", msg: "65 is not a signal number"},
		{name: "unterminated double quote", src: prog[:14] + "command = echo \"hi\n", line: 2, section: "program:web", key: "command", msg: "unterminated double quote"},
		{name: "unterminated single quote", src: prog[:14] + "command = echo 'hi\n", line: 2, section: "program:web", key: "command", msg: "unterminated single quote"},
		{name: "trailing backslash", src: prog[:14] + "command = echo \\\n", line: 2, section: "program:web", key: "command", msg: "trailing backslash"},
		{name: "env without equals", src: prog + "environment = A=1, B\n", line: 3, section: "program:web", key: "environment", msg: `"B" is not KEY=VALUE`},
		{name: "env space before equals", src: prog + "environment = A =1\n", line: 3, section: "program:web", key: "environment", msg: `"A =1" is not KEY=VALUE`},
		{name: "env unterminated quote", src: prog + "environment = A=1, B=\"two words\n", line: 3, section: "program:web", key: "environment", msg: "B: unterminated double quote"},
		{name: "env duplicate variable", src: prog + "environment = A=1, A=2\n", line: 3, section: "program:web", key: "environment", msg: "variable A is set twice"},
		{name: "env name starts with digit", src: prog + "environment = 1A=x\n", line: 3, section: "program:web", key: "environment", msg: "starts with a digit"},
		{name: "env empty entry", src: prog + "environment = A=1,, B=2\n", line: 3, section: "program:web", key: "environment", msg: "empty entry"},
		{name: "env trailing comma", src: prog + "environment = A=1,\n", line: 3, section: "program:web", key: "environment", msg: "empty entry"},
		{name: "env missing name", src: prog + "environment = =x\n", line: 3, section: "program:web", key: "environment", msg: "missing variable name"},
		{name: "quoted directory", src: prog + "directory = \"/srv/www\"\n", line: 3, section: "program:web", key: "directory", msg: "quotes are not processed"},
		{name: "NUL byte", src: prog + "restart = al\x00ways\n", line: 3, section: "program:web", msg: "NUL byte"},
		// Errors found by supervise's Validate, mapped back to lines and keys.
		{name: "validate: command of empty word", src: prog[:14] + "restart = never\ncommand = \"\"\n", line: 3, section: "program:web", key: "command", msg: "is empty", invalid: true},
		{name: "validate: backoff_max below backoff_initial", src: prog + "backoff_max = 1s\nbackoff_initial = 2s\n", line: 3, section: "program:web", key: "backoff_max", msg: "1s is less than backoff_initial 2s", invalid: true},
		{name: "validate: restart_window 0 with max_restarts", src: prog + "restart_window = 0\n", line: 3, section: "program:web", key: "restart_window", msg: "must be positive when max_restarts is set", invalid: true},
		{name: "validate: key from defaults", src: "[defaults]\nbackoff_max = 1s\n" + prog + "backoff_initial = 2s\n", line: 2, section: "defaults", key: "backoff_max", msg: `1s is less than backoff_initial 2s (in program "web")`, invalid: true},
		{name: "validate: key set nowhere points at header", src: "\n" + prog + "backoff_initial = 1m\n", line: 2, section: "program:web", key: "backoff_max", msg: "30s is less than backoff_initial 1m0s", invalid: true},
		{name: "validate: bad program name", src: prog + "[program:web server]\ncommand = x\n", line: 3, section: "program:web server", msg: `invalid program name "web server"`, invalid: true},
		{name: "validate: program name ..", src: prog + "[program:..]\ncommand = x\n", line: 3, section: "program:..", msg: `invalid program name "..": must be 1-64 letters, digits, '-', '_' or '.', and start with a letter, digit or '_'`, invalid: true},
		{name: "validate: program name like an option", src: prog + "[program:-n]\ncommand = x\n", line: 3, section: "program:-n", msg: `invalid program name "-n"`, invalid: true},
		{name: "validate: stop_signal STOP", src: prog + "stop_signal = STOP\n", line: 3, section: "program:web", key: "stop_signal", msg: "SIGSTOP cannot be handled", invalid: true},
		{name: "validate: program name too long", src: "[program:" + strings.Repeat("x", 65) + "]\ncommand = x\n", line: 1, msg: "must be 1-64 letters", invalid: true},
		// Log files and levels.
		{name: "log path relative", src: prog + "stdout_log = web.log\n", line: 3, section: "program:web", key: "stdout_log", msg: `"web.log": want an absolute path`},
		{name: "log path quoted", src: prog + "stderr_log = \"/var/log/x\"\n", line: 3, section: "program:web", key: "stderr_log", msg: "quotes are not processed"},
		{name: "log path a directory", src: prog + "stdout_log = /var/log/\n", line: 3, section: "program:web", key: "stdout_log", msg: "want a file, not a directory"},
		{name: "log_max_bytes negative", src: prog + "stdout_log = /tmp/w.log\nlog_max_bytes = -1MB\n", line: 4, section: "program:web", key: "log_max_bytes", msg: "-1MB is negative"},
		{name: "log_max_bytes unknown unit", src: prog + "stdout_log = /tmp/w.log\nlog_max_bytes = 10TB\n", line: 4, section: "program:web", key: "log_max_bytes", msg: `"10TB" is not a size`},
		{name: "log_max_bytes fraction", src: prog + "stdout_log = /tmp/w.log\nlog_max_bytes = 1.5MB\n", line: 4, section: "program:web", key: "log_max_bytes", msg: "is not a size"},
		{name: "log_max_bytes too large", src: prog + "stdout_log = /tmp/w.log\nlog_max_bytes = 9999999999999GB\n", line: 4, section: "program:web", key: "log_max_bytes", msg: "too large"},
		{name: "log_backups negative", src: prog + "stdout_log = /tmp/w.log\nlog_backups = -1\n", line: 4, section: "program:web", key: "log_backups", msg: "-1 is negative"},
		{name: "log_backups without a file", src: prog + "log_backups = 3\n", line: 3, section: "program:web", key: "log_backups", msg: "needs a log file: set stdout_log or stderr_log"},
		{name: "log_max_bytes without a file", src: prog + "log_max_bytes = 1MB\n", line: 3, section: "program:web", key: "log_max_bytes", msg: "needs a log file"},
		{name: "log_timestamps without a file", src: prog + "log_timestamps = true\n", line: 3, section: "program:web", key: "log_timestamps", msg: "needs a log file"},
		{name: "log_timestamps not a boolean", src: prog + "stdout_log = /tmp/w.log\nlog_timestamps = sometimes\n", line: 4, section: "program:web", key: "log_timestamps", msg: `"sometimes" is not a boolean`},
		{name: "stderr_level unknown", src: prog + "stderr_level = debug\n", line: 3, section: "program:web", key: "stderr_level", msg: `"debug" is not one of info, warn, error`},
		{name: "stderr_level upper case", src: prog + "stderr_level = WARN\n", line: 3, section: "program:web", key: "stderr_level", msg: `"WARN" is not one of info, warn, error`},
		{name: "a shared log file with other rotation", src: prog + "stdout_log = /tmp/x.log\n[program:db]\ncommand = db\nstderr_log = /tmp/x.log\nlog_backups = 2\n", line: 6, section: "program:db", key: "stderr_log", msg: `"/tmp/x.log" is also program "web"'s log file`, invalid: true},
		{name: "the first error comes first", src: prog + "restart = sometimes\nspawner = fork\n", line: 3, section: "program:web", key: "restart", msg: "sometimes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const file = "demo.conf"
			g, err := config.Parse(file, []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v\nsource:\n%s", g, tt.src)
			}
			if !reflect.DeepEqual(g, supervise.Group{}) {
				t.Errorf("Parse returned a non-zero Group with an error: %+v", g)
			}
			var e *config.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not a *config.Error", err, err)
			}
			text := err.Error()
			if e.File != file || !strings.HasPrefix(text, file+":") {
				t.Errorf("error %q: File = %q, want %q", text, e.File, file)
			}
			if e.Line != tt.line {
				t.Errorf("error %q: Line = %d, want %d", text, e.Line, tt.line)
			}
			if tt.line > 0 && !strings.HasPrefix(text, fmt.Sprintf("%s:%d: ", file, tt.line)) {
				t.Errorf("error %q does not start with %s:%d:", text, file, tt.line)
			}
			if e.Key != tt.key {
				t.Errorf("error %q: Key = %q, want %q", text, e.Key, tt.key)
			}
			if tt.key != "" && !strings.Contains(text, " "+tt.key+": ") {
				t.Errorf("error %q does not name key %q", text, tt.key)
			}
			if tt.section != "" && (e.Section != tt.section || !strings.Contains(text, "["+tt.section+"]")) {
				t.Errorf("error %q: Section = %q, want %q", text, e.Section, tt.section)
			}
			if !strings.Contains(text, tt.msg) {
				t.Errorf("error %q does not contain %q", text, tt.msg)
			}
			if got := errors.Is(err, supervise.ErrInvalidSpec); got != tt.invalid {
				t.Errorf("error %q: errors.Is(ErrInvalidSpec) = %v, want %v", text, got, tt.invalid)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	src := "[supervisor]\nstrategy = one_for_one\n\n[program:web]\ncommand = x\n\n\n\n\n\n\nrestart = sometimes\n"
	_, err := config.Parse("demo.conf", []byte(src))
	const want = `demo.conf:12: [program:web] restart: "sometimes" is not one of always, on-failure, never`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}

	tests := []struct {
		name string
		err  *config.Error
		want string
	}{
		{name: "all fields", err: &config.Error{File: "f", Line: 3, Section: "defaults", Key: "k", Msg: "m"}, want: "f:3: [defaults] k: m"},
		{name: "no line", err: &config.Error{File: "f", Msg: "m"}, want: "f: m"},
		{name: "no key", err: &config.Error{File: "f", Line: 1, Section: "program:a", Msg: "m"}, want: "f:1: [program:a] m"},
		{name: "cause only", err: &config.Error{File: "f", Line: 1, Err: errors.New("cause")}, want: "f:1: cause"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		path    func(t *testing.T) string
		want    supervise.Group
		wantErr string
		notExit bool
	}{
		{
			name: "testdata/demo.conf",
			path: func(*testing.T) string { return filepath.Join("testdata", "demo.conf") },
			want: supervise.Group{
				Strategy: supervise.RestForOne,
				Programs: []supervise.Spec{
					spec("web", []string{"/usr/bin/python3", "-m", "http.server", "8000"}, func(s *supervise.Spec) {
						s.StopGrace = 5 * time.Second
						s.Dir = "/srv/www"
						s.Env = []string{"PYTHONUNBUFFERED=1", "GREETING=hello, world"}
						s.Restart = supervise.RestartAlways
					}),
					spec("worker", []string{"/usr/local/bin/worker", "--queue", "jobs"}, func(s *supervise.Spec) {
						s.StopGrace = 5 * time.Second
						s.Env = []string{"LANG=C.UTF-8"}
						s.SuccessCodes = []int{0, 2}
						s.StopSignal = syscall.SIGINT
					}),
				},
			},
		},
		{
			name: "error names the path",
			path: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "bad.conf")
				if err := os.WriteFile(p, []byte("[program:a]\ncommand = a\nrestart = sometimes\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			},
			wantErr: "bad.conf:3: [program:a] restart: ",
		},
		{
			name:    "a device is refused",
			path:    func(*testing.T) string { return "/dev/zero" },
			wantErr: "/dev/zero: cannot read: not a regular file: it is a character device; give a file, or a pipe as -c /dev/stdin or -c <(command)",
		},
		{
			name: "a named pipe is refused, not waited on",
			path: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "fifo.conf")
				if err := syscall.Mkfifo(p, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			},
			wantErr: "fifo.conf: cannot read: not a regular file: it is a named pipe (FIFO)",
		},
		{
			name: "a socket is refused",
			path: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "s.conf")
				ln, err := net.Listen("unix", p)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				return p
			},
			wantErr: "s.conf: cannot read: not a regular file: it is a socket",
		},
		{
			name: "an anonymous pipe is read, as -c <(command) gives",
			path: func(t *testing.T) string {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close() })
				if _, err := w.WriteString("[program:a]\ncommand = a\n"); err != nil {
					t.Fatal(err)
				}
				w.Close()
				return "/dev/fd/" + strconv.Itoa(int(r.Fd()))
			},
			want: supervise.Group{Strategy: supervise.OneForOne, Programs: []supervise.Spec{spec("a", []string{"a"}, nil)}},
		},
		{
			name: "a pipe over the limit",
			path: func(t *testing.T) string {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close() })
				go func() { // until the reader has had enough and closes
					defer w.Close()
					buf := make([]byte, 64<<10)
					for {
						if _, err := w.Write(buf); err != nil {
							return
						}
					}
				}()
				return "/dev/fd/" + strconv.Itoa(int(r.Fd()))
			},
			wantErr: ": config file too large: over 1048576 bytes",
		},
		{
			name:    "a directory",
			path:    func(t *testing.T) string { return t.TempDir() },
			wantErr: ": cannot read: is a directory",
		},
		{
			name:    "missing file",
			path:    func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing.conf") },
			wantErr: "missing.conf: cannot read: no such file or directory",
			notExit: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.path(t)
			g, err := config.Load(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(g, tt.want) {
					t.Errorf("got  %+v\nwant %+v", g, tt.want)
				}
				return
			}
			var e *config.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not a *config.Error", err, err)
			}
			if e.File != path || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %q (File %q), want it to contain %q and File %q", err, e.File, tt.wantErr, path)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExit {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", got, tt.notExit)
			}
			if got, want := errors.Is(err, config.ErrNotRegular), strings.Contains(tt.wantErr, "not a regular file"); got != want {
				t.Errorf("errors.Is(err, config.ErrNotRegular) = %v, want %v", got, want)
			}
		})
	}
}

// FuzzParse: Parse on any bytes never panics, and returns either a Group that
// passes Validate or an *Error naming the file and, unless the problem is the
// whole file's, a line within it. Plain go test runs the seeds; go test
// -fuzz=FuzzParse ./internal/config/ explores.
func FuzzParse(f *testing.F) {
	if src, err := os.ReadFile(filepath.Join("testdata", "demo.conf")); err == nil {
		f.Add(src)
	}
	for _, s := range []string{
		"",
		"[program:a]\ncommand = a\n",
		"[defaults]\nbackoff_max = 1s\n[program:a]\ncommand = 'a b' \"c\\\"d\" e\\ f\nbackoff_initial = 2s\n",
		"[program:a]\ncommand = a\nenvironment = A=1, B=\"x,y\", C='z', D=\\,\n",
		"[supervisor]\nstrategy = rest_for_one\n[program:a]\ncommand = \"unterminated\n",
		"[program:a\n= x\nkey\n[program:]\n[]\n[\n",
		"[program:a] ; x\ncommand = a;b ; c # d\ndirectory =#x\n\t;\n",
		"\ufeff[program:a]\r\ncommand=a\r\nstop_signal=sigterm\r\nmin_uptime=99999999999999999999\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		g, err := config.Parse("fuzz.conf", src)
		if err != nil {
			var e *config.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not a *config.Error", err, err)
			}
			if e.File != "fuzz.conf" || !strings.HasPrefix(err.Error(), "fuzz.conf:") {
				t.Fatalf("error %q does not name the file", err)
			}
			if e.Line < 0 || e.Line > strings.Count(string(src), "\n")+1 {
				t.Fatalf("error %q: line %d out of range", err, e.Line)
			}
			// Line 0 only for what is about the whole file: no program at all,
			// or a group-level Validate failure.
			if e.Line == 0 && e.Msg != "no [program:NAME] sections" && !errors.Is(err, supervise.ErrInvalidSpec) {
				t.Fatalf("error %q names no line", err)
			}
			return
		}
		if len(g.Programs) == 0 {
			t.Fatal("success with no programs")
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("Parse returned a Group that fails Validate: %v", err)
		}
	})
}

func TestParseKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		src      string
		spawner  supervise.SpawnerKind
		protocol bool
	}{
		{"goroutine implies protocol", "kind = goroutine\ncommand = service --heartbeat 1s\n", supervise.SpawnGoroutine, true},
		{"reexec", "kind = reexec\ncommand = service\nprotocol = true\n", supervise.SpawnReexec, true},
		{"a re-executed link worker speaks the protocol by default", "kind = reexec\ncommand = service\n", supervise.SpawnReexec, true},
		{"exec", "kind = exec\ncommand = /bin/true\n", supervise.SpawnExec, false},
		{"exec keeps forkexec", "spawner = forkexec\nkind = exec\ncommand = /bin/true\n", supervise.SpawnForkExec, false},
		{"kind after spawner reexec", "spawner = reexec\nkind = reexec\ncommand = child\n", supervise.SpawnReexec, false},
		{"spawner alone still works", "spawner = reexec\ncommand = child\n", supervise.SpawnReexec, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := mustParse(t, "[program:w]\n"+tc.src)
			s := g.Programs[0]
			if s.Spawner != tc.spawner || s.Protocol != tc.protocol {
				t.Errorf("spawner %s protocol %v, want %s %v", s.Spawner, s.Protocol, tc.spawner, tc.protocol)
			}
		})
	}
	g := mustParse(t, "[defaults]\nkind = goroutine\n[program:a]\ncommand = service\n[program:b]\ncommand = service\n")
	for _, s := range g.Programs {
		if s.Spawner != supervise.SpawnGoroutine || !s.Protocol {
			t.Errorf("program %s: spawner %s protocol %v, want goroutine from [defaults]", s.Name, s.Spawner, s.Protocol)
		}
	}
}

func TestParseKindErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src, key, msg string
		line                int
	}{
		{"unknown kind", "kind = thread\ncommand = service\n", "kind", `"thread" is not one of goroutine, reexec, exec`, 2},
		{"spawner contradicts kind", "kind = goroutine\nspawner = exec\ncommand = service\n", "spawner", "spawner = exec contradicts kind = goroutine", 3},
		{"goroutine is not a spawner", "spawner = goroutine\ncommand = service\n", "spawner", "is not one of exec, forkexec, reexec", 2},
		{"not a goroutine worker", "kind = goroutine\ncommand = child\n", "command", "not a built-in worker that runs as a goroutine", 3},
		{"a re-executed link worker without the protocol", "kind = reexec\ncommand = service\nprotocol = false\n", "protocol", `worker "service" speaks the pipe protocol (fds 3 and 4): set protocol = true`, 4},
		{"goroutine without protocol", "kind = goroutine\nprotocol = false\ncommand = service\n", "protocol", "must be set for a goroutine worker", 3},
		{"goroutine with a directory", "kind = goroutine\ndirectory = /tmp\ncommand = service\n", "directory", "no process", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse("test.conf", []byte("[program:w]\n"+tc.src))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse: %v, want a *config.Error", err)
			}
			if ce.Key != tc.key || ce.Line != tc.line || !strings.Contains(ce.Msg, tc.msg) {
				t.Errorf("error %q (line %d, key %q), want line %d, key %q, message with %q", err, ce.Line, ce.Key, tc.line, tc.key, tc.msg)
			}
		})
	}
}

// A supervisord program section carried over as it was: every mistake is
// reported in one run, each with its line, section and key, in line order.
func TestParseReportsEveryError(t *testing.T) {
	t.Parallel()
	src := `; a supervisord config, carried over
[supervisord]
logfile = /var/log/supervisord.log

[program:web]
command=/usr/bin/python3 -m http.server 8000
autorestart=true
startsecs=5
numprocs=2
restart = sometimes
stop_signal = BOGUS
min_uptime = soon
restart = always

[program:ok]
command = /bin/true
backoff_initial = 2s
backoff_max = 1s
`
	_, err := config.Parse("sv.conf", []byte(src))
	var all *config.Errors
	if !errors.As(err, &all) {
		t.Fatalf("error %T %v, want *config.Errors", err, err)
	}
	want := []string{
		`sv.conf:2: unknown section [supervisord]`,
		`sv.conf:7: [program:web] autorestart: unknown key (supervisord's; here it is restart;`,
		`sv.conf:8: [program:web] startsecs: unknown key (supervisord's; here it is min_uptime)`,
		`sv.conf:9: [program:web] numprocs: unknown key`,
		`sv.conf:10: [program:web] restart: "sometimes" is not one of always, on-failure, never`,
		`sv.conf:11: [program:web] stop_signal: "BOGUS" is not a signal name`,
		`sv.conf:12: [program:web] min_uptime: "soon" is not a duration`,
		`sv.conf:13: [program:web] restart: duplicate key (first set at line 10)`,
		// A program whose keys are fine is still checked as a whole.
		`sv.conf:18: [program:ok] backoff_max: 1s is less than backoff_initial 2s`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) || len(all.List) != len(want) || all.Omitted != 0 {
		t.Fatalf("%d problems (%d listed, %d omitted), want %d:\n%v", len(lines), len(all.List), all.Omitted, len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d: %q, want it to start with %q", i+1, lines[i], w)
		}
	}
	// The first is an *Error too, for errors.As callers.
	var first *config.Error
	if !errors.As(err, &first) || first.Line != 2 {
		t.Errorf("errors.As(*config.Error): %+v, want the first problem (line 2)", first)
	}
	// A program with a mistake is not validated as a whole: its mistakes are
	// reported, not their consequences (web's min_uptime stayed at its default).
	if strings.Contains(err.Error(), "[program:web] command") {
		t.Errorf("a consequence was reported:\n%v", err)
	}
}

// At most 50 problems are listed; the rest are counted.
func TestParseErrorsCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("[program:a]\ncommand = /bin/true\n")
	for i := range 60 {
		fmt.Fprintf(&b, "nosuch%d = 1\n", i)
	}
	_, err := config.Parse("many.conf", []byte(b.String()))
	var all *config.Errors
	if !errors.As(err, &all) || len(all.List) != 50 || all.Omitted != 10 {
		t.Fatalf("%T %v, want 50 listed and 10 omitted", err, err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 51 || lines[0] != "many.conf:3: [program:a] nosuch0: unknown key" || lines[50] != "and 10 more problem(s)" {
		t.Errorf("first %q, last %q of %d lines", lines[0], lines[len(lines)-1], len(lines))
	}
}

// The keys under a section header that was refused are not reported one by
// one as "outside any section"; the next section is checked again.
func TestParseSkipsRefusedSection(t *testing.T) {
	t.Parallel()
	src := "[program:a]\ncommand = /bin/true\n[program:a]\ncommand = x\nrestart = sometimes\n[program:b]\ncommand = /bin/true\nrestart = never-ever\n"
	_, err := config.Parse("dup.conf", []byte(src))
	want := "dup.conf:3: [program:a] duplicate program name \"a\" (first defined at line 1)\n" +
		"dup.conf:8: [program:b] restart: \"never-ever\" is not one of always, on-failure, never"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// Sizes read as supervisord reads them, rotation keys in [defaults] need no
// file, and programs may share a log file that rotates the same way.
func TestLogKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc  string
		size string
		want int64
	}{
		{"bytes", "1234", 1234}, {"zero", "0", 0}, {"KB", "4KB", 4 << 10}, {"mb lower case", "10mb", 10 << 20},
		{"GB", "2GB", 2 << 30}, {"space before the unit", "5 MB", 5 << 20},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			g := mustParse(t, "[program:a]\ncommand = a\nstdout_log = /tmp/a.log\nlog_max_bytes = "+tc.size+"\n")
			if got := g.Programs[0].LogMaxBytes; got != tc.want {
				t.Errorf("log_max_bytes = %s: %d, want %d", tc.size, got, tc.want)
			}
		})
	}
	g := mustParse(t, `[defaults]
log_backups = 2
log_timestamps = yes
[program:a]
command = a
stdout_log = /tmp/shared.log
stderr_log = /tmp/shared.log
[program:b]
command = b
stdout_log = /tmp/shared.log
[program:c]
command = c
`)
	for _, p := range g.Programs {
		if p.LogBackups != 2 || !p.LogTimestamps || p.LogMaxBytes != supervise.DefaultLogMaxBytes {
			t.Errorf("%s: backups %d, timestamps %v, max %d", p.Name, p.LogBackups, p.LogTimestamps, p.LogMaxBytes)
		}
	}
}
