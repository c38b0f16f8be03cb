package config_test

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/config"
	"github.com/supervisor/supervisor/internal/supervise"
)

func TestExpand(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"A": "1", "EMPTY": "", "DIR": "/srv/my app"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tests := []struct {
		doc, in, want, err string
	}{
		{doc: "no dollar", in: "plain text", want: "plain text"},
		{doc: "braces", in: "x${A}y", want: "x1y"},
		{doc: "twice", in: "${A}${A}", want: "11"},
		{doc: "set but empty", in: "[${EMPTY}]", want: "[]"},
		{doc: "default when unset", in: "${NOPE:-dflt}", want: "dflt"},
		{doc: "default when empty", in: "${EMPTY:-dflt}", want: "dflt"},
		{doc: "default unused", in: "${A:-dflt}", want: "1"},
		{doc: "empty default allows unset", in: "[${NOPE:-}]", want: "[]"},
		{doc: "dollar dollar", in: "kill $$", want: "kill $"},
		{doc: "escaped braces", in: "$${A}", want: "${A}"},
		{doc: "four dollars", in: "$$$$", want: "$$"},
		{doc: "bare name kept", in: "echo $HOME $1", want: "echo $HOME $1"},
		{doc: "trailing dollar", in: "cost 5$", want: "cost 5$"},
		{doc: "spaces kept in value", in: "cd ${DIR}", want: "cd /srv/my app"},
		{doc: "undefined", in: "${NOPE}/x", err: "NOPE is not set"},
		{doc: "unterminated", in: "${A", err: "unterminated ${"},
		{doc: "bad name", in: "${1A}", err: "is not a variable name"},
		{doc: "empty name", in: "${}", err: "is not a variable name"},
		{doc: "instance outside instances", in: "${INSTANCE}", err: "only in a program with instances"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			got, err := config.Expand(tc.in, lookup)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Expand(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseEnvFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc, src string
		want     []string
		err      string
	}{
		{doc: "empty", src: "", want: nil},
		{doc: "comments and blanks", src: "# c\n\n  ; c2\nA=1\n", want: []string{"A=1"}},
		{doc: "hash inside a value", src: "A=x # y\n", want: []string{"A=x # y"}},
		{doc: "export prefix", src: "export A=1\nexport  B=2\n", want: []string{"A=1", "B=2"}},
		{doc: "a variable named export", src: "export=1\n", want: []string{"export=1"}},
		{doc: "blanks around", src: "  A = 1  \n", want: []string{"A=1"}},
		{doc: "single quotes literal", src: `A='a "b" \n $X'`, want: []string{`A=a "b" \n $X`}},
		{doc: "double quotes escapes", src: `A="a \"b\" \\ \$X \n"`, want: []string{`A=a "b" \ $X \n`}},
		{doc: "quoted blanks kept", src: "A=\"  x  \"\n", want: []string{"A=  x  "}},
		{doc: "parts join", src: `A="x"y'z'`, want: []string{"A=xyz"}},
		{doc: "backslash unquoted", src: `A=a\ b\\c`, want: []string{`A=a b\c`}},
		{doc: "continuation", src: "A=one \\\ntwo\nB=3", want: []string{"A=one two", "B=3"}},
		{doc: "quote spans lines", src: "A='one\ntwo'\nB=3\n", want: []string{"A=one\ntwo", "B=3"}},
		{doc: "empty value", src: "A=\nB=''\n", want: []string{"A=", "B="}},
		{doc: "CRLF", src: "A=1\r\nB=2\r\n", want: []string{"A=1", "B=2"}},
		{doc: "last setting wins", src: "A=1\nB=2\nA=3\n", want: []string{"A=3", "B=2"}},
		{doc: "no expansion", src: "A=${HOME}\n", want: []string{"A=${HOME}"}},
		{doc: "not key=value", src: "A=1\nfoo bar\n", err: `vars.env:2: "foo bar" is not KEY=VALUE`},
		{doc: "digit first", src: "\n\n1A=x\n", err: `vars.env:3: "1A" is not a variable name`},
		{doc: "unterminated", src: "A=1\nB='x\n", err: "vars.env:2: B: unterminated single quote"},
		{doc: "line after multi-line quote", src: "A='x\ny'\nbad\n", err: "vars.env:3:"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParseEnvFile("vars.env", []byte(tc.src))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// envOf returns the values of s.Env as a map.
func envOf(s supervise.Spec) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// Not parallel: it sets the supervisor's environment.
func TestParseExpansion(t *testing.T) {
	t.Setenv("IDENT_TEST_DIR", "/srv/app")
	t.Setenv("IDENT_TEST_WORDS", "a b")
	dir := t.TempDir()
	envFile := filepath.Join(dir, "app.env")
	if err := os.WriteFile(envFile, []byte("FROM_FILE=1\nBOTH=file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IDENT_TEST_ENVDIR", dir)
	g := mustParse(t, `
[defaults]
directory = ${IDENT_TEST_DIR}/run
[program:a]
command = /bin/echo ${IDENT_TEST_WORDS} "${IDENT_TEST_WORDS}" $$HOME '$$'
environment = X=${IDENT_TEST_DIR}, BOTH=environment
env_file = ${IDENT_TEST_ENVDIR}/app.env
type = forking
pid_file = ${IDENT_TEST_DIR}/a.pid
`)
	s := g.Programs[0]
	if want := []string{"/bin/echo", "a", "b", "a b", "$HOME", "$"}; !reflect.DeepEqual(s.Command, want) {
		t.Errorf("command %q, want %q", s.Command, want)
	}
	if s.Dir != "/srv/app/run" || s.PidFile != "/srv/app/a.pid" {
		t.Errorf("directory %q, pid_file %q", s.Dir, s.PidFile)
	}
	if want := []string{"FROM_FILE=1", "BOTH=environment", "X=/srv/app"}; !reflect.DeepEqual(s.Env, want) {
		t.Errorf("env %q, want %q (environment wins over env_file)", s.Env, want)
	}
}

func TestParseInstances(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, i := range []string{"0", "1", "2"} {
		if err := os.WriteFile(filepath.Join(dir, "web-"+i+".env"), []byte("SHARD="+i+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := mustParse(t, `
[program:db]
command = /bin/db
[program:web]
command = /bin/web --port 80${INSTANCE}
environment = PORT=80${INSTANCE}
env_file = `+dir+`/web-${INSTANCE}.env
instances = 3
requires = db
[program:lb]
command = /bin/lb
after = web, db
`)
	var names []string
	for _, s := range g.Programs {
		names = append(names, s.Name)
	}
	if want := []string{"db", "web-0", "web-1", "web-2", "lb"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("programs %q, want %q", names, want)
	}
	for i, s := range g.Programs[1:4] {
		n := string(rune('0' + i))
		if want := []string{"/bin/web", "--port", "80" + n}; !reflect.DeepEqual(s.Command, want) {
			t.Errorf("%s: command %q, want %q", s.Name, s.Command, want)
		}
		env := envOf(s)
		if env["PORT"] != "80"+n || env["SUPERVISOR_INSTANCE"] != n || env["SHARD"] != n {
			t.Errorf("%s: env %q", s.Name, s.Env)
		}
		if !reflect.DeepEqual(s.Requires, []string{"db"}) {
			t.Errorf("%s: requires %q", s.Name, s.Requires)
		}
	}
	if want := []string{"web-0", "web-1", "web-2", "db"}; !reflect.DeepEqual(g.Programs[4].After, want) {
		t.Errorf("lb: after %q, want %q (the base name means every instance)", g.Programs[4].After, want)
	}
}

func TestParseIdentity(t *testing.T) {
	t.Parallel()
	g := mustParse(t, `
[program:a]
command = /bin/true
user = root
umask = 027
rlimit_nofile = 1024:4096
rlimit_core = unlimited
rlimit_nproc = 100
rlimit_memlock = 0:unlimited
nice = -5
oom_score_adj = -100
[program:b]
command = /bin/true
user = 0
group = 0
`)
	a := g.Programs[0]
	if a.User == nil || a.User.Uid != 0 || a.User.Gid != 0 || a.User.Name != "root" || a.User.Home == "" {
		t.Fatalf("user %+v", a.User)
	}
	l := a.Limits
	if *l.Umask != 0o27 || *l.Nice != -5 || *l.OOMScoreAdj != -100 {
		t.Errorf("umask %o nice %d oom %d", *l.Umask, *l.Nice, *l.OOMScoreAdj)
	}
	want := map[int][2]uint64{
		unix.RLIMIT_NOFILE:  {1024, 4096},
		unix.RLIMIT_CORE:    {supervise.Unlimited, supervise.Unlimited},
		unix.RLIMIT_NPROC:   {100, 100},
		unix.RLIMIT_MEMLOCK: {0, supervise.Unlimited},
	}
	for res, w := range want {
		r := l.Rlimit(res)
		if r == nil || r.Cur != w[0] || r.Max != w[1] {
			t.Errorf("rlimit %d: %+v, want %v", res, r, w)
		}
	}
	if b := g.Programs[1]; b.User == nil || b.User.Name != "root" || !b.Limits.IsZero() {
		t.Errorf("user by uid: %+v, limits %+v", b.User, b.Limits)
	}
}

// The test user of .ci/run: its supplementary group comes from the group database.
func TestParseUserGroups(t *testing.T) {
	t.Parallel()
	u, err := user.Lookup("supervisor-test")
	if err != nil {
		t.Skip("no user supervisor-test (.ci/run creates it): ", err)
	}
	g := mustParse(t, "[program:a]\ncommand = /bin/true\nuser = supervisor-test\n")
	su := g.Programs[0].User
	ids, _ := u.GroupIds()
	if len(su.Groups) != len(ids) || len(ids) < 2 {
		t.Errorf("groups %v, want the %d of %v (the test user has a supplementary group)", su.Groups, len(ids), ids)
	}
	if su.Home != u.HomeDir {
		t.Errorf("home %q, want %q", su.Home, u.HomeDir)
	}
}

func TestParseIdentityErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc, src string
		line     int
		key, msg string
	}{
		{"unknown user", "[program:a]\ncommand = x\nuser = no-such-user-xyz\n", 3, "user", `no user "no-such-user-xyz"`},
		{"unknown uid", "[program:a]\ncommand = x\nuser = 3999999\n", 3, "user", `no user "3999999"`},
		{"unknown group", "[program:a]\ncommand = x\nuser = root\ngroup = no-such-group-xyz\n", 4, "group", `no group "no-such-group-xyz"`},
		{"group without user", "[program:a]\ncommand = x\ngroup = root\n", 3, "group", "needs user"},
		{"unknown user in defaults", "[defaults]\nuser = no-such-user-xyz\n[program:a]\ncommand = x\n", 2, "user", "no user"},
		{"umask not octal", "[program:a]\ncommand = x\numask = 089\n", 3, "umask", "not an octal umask"},
		{"umask too big", "[program:a]\ncommand = x\numask = 1777\n", 3, "umask", "not an octal umask"},
		{"nice too low", "[program:a]\ncommand = x\nnice = -21\n", 3, "nice", "not between -20 and 19"},
		{"oom too high", "[program:a]\ncommand = x\noom_score_adj = 1001\n", 3, "oom_score_adj", "not between -1000 and 1000"},
		{"rlimit soft above hard", "[program:a]\ncommand = x\nrlimit_nofile = 10:5\n", 3, "rlimit_nofile", "soft limit is above"},
		{"rlimit junk", "[program:a]\ncommand = x\nrlimit_core = lots\n", 3, "rlimit_core", "not a limit"},
		{"instances zero", "[program:a]\ncommand = x\ninstances = 0\n", 3, "instances", "from 1 to"},
		{"instances in defaults", "[defaults]\ninstances = 2\n[program:a]\ncommand = x\n", 2, "instances", "cannot be set in [defaults]"},
		{"undefined variable", "[program:a]\ncommand = x ${IDENT_TEST_UNDEFINED_XYZ}\n", 2, "command", "IDENT_TEST_UNDEFINED_XYZ is not set"},
		{"instance without instances", "[program:a]\ncommand = x\nenvironment = P=${INSTANCE}\n", 3, "environment", "only in a program with instances"},
		{"env_file a directory", "[program:a]\ncommand = x\nenv_file = /etc\n", 3, "env_file", "/etc: not a regular file"},
		{"missing env_file", "[program:a]\ncommand = x\nenv_file = /nonexistent/x.env\n", 3, "env_file", "/nonexistent/x.env: cannot read"},
		{"user on a goroutine", "[program:a]\ncommand = service\nkind = goroutine\nuser = root\n", 4, "user", "goroutine"},
		{"nice on a goroutine", "[program:a]\ncommand = service\nkind = goroutine\numask = 022\n", 4, "umask", "goroutine"},
		{"instance name too long", "[program:" + strings.Repeat("a", 63) + "]\ncommand = x\ninstances = 2\n", 1, "", "invalid program name"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse("test.conf", []byte(tc.src))
			var e *config.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want a *config.Error", err)
			}
			if e.Line != tc.line || e.Key != tc.key || !strings.Contains(e.Error(), tc.msg) || !strings.HasPrefix(e.Error(), "test.conf:") {
				t.Fatalf("err = %q (line %d, key %q); want line %d, key %q, containing %q", e, e.Line, e.Key, tc.line, tc.key, tc.msg)
			}
		})
	}
}

func TestParseEnvFileErrorNamesBothFiles(t *testing.T) {
	t.Parallel()
	env := filepath.Join(t.TempDir(), "bad.env")
	if err := os.WriteFile(env, []byte("A=1\n\nnot a setting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := config.Parse("test.conf", []byte("[program:a]\ncommand = x\nenv_file = "+env+"\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "test.conf:3: [program:a] env_file: "+env+":3: ") {
		t.Fatalf("err = %v", err)
	}
	// A leading '-' makes a missing file no error, as in systemd.
	g := mustParse(t, "[program:a]\ncommand = x\nenv_file = -/nonexistent/x.env\nenvironment = A=1\n")
	if want := []string{"A=1"}; !reflect.DeepEqual(g.Programs[0].Env, want) {
		t.Fatalf("env %q, want %q", g.Programs[0].Env, want)
	}
}
