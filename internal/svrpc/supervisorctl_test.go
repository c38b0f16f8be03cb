package svrpc_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/svrpc"
)

// TestSupervisorctl drives the server with supervisord's own supervisorctl,
// over the unix socket, as a user would, checking its output and exit codes.
func TestSupervisorctl(t *testing.T) {
	ctl, dir := supervisorctl(t)
	sleep, sh := lookPath(t, "sleep"), lookPath(t, "sh")
	mainLog := filepath.Join(dir, "main.log")
	if err := os.WriteFile(mainLog, []byte("supervisor started\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	web := spec("web", true, sh, "-c", "echo hello from web; exec "+sleep+" 60")
	web.StdoutLog = filepath.Join(dir, "web.out")
	bad := spec("bad", false, sh, "-c", "exit 3")
	bad.StartBackoff = 10 * time.Millisecond
	g := supervise.Group{Programs: []supervise.Spec{
		web,
		spec("grp:a", true, sleep, "60"),
		spec("grp:b", true, sleep, "60"),
		spec("off", false, sleep, "60"),
		bad,
	}}
	r := newRig(t, svrpc.LayoutOf(g), svrpc.Options{Logfile: mainLog, Version: "4.2.5-test", Poll: 10 * time.Millisecond})

	run, conf := serveCtl(t, r, ctl, dir)
	// supervisorctl's exit codes (LSB) are its own reading of the faults: 0
	// ok (also for "already started" and "not running" on start and stop), 1
	// generic error, 3 status with a program not running, 4 status of an
	// unknown name, 7 not running (spawn error, pid of a stopped program).
	// avail lists by process name, as supervisord sorts it; tail prints the
	// bytes and a newline.
	for _, tc := range []struct {
		args []string
		code int
		out  string // a regexp the whole output must match
	}{
		{[]string{"version"}, 0, `4\.2\.5-test\n`},
		{[]string{"status"}, 3, `bad +STOPPED +Not started\ngrp:a +RUNNING +pid \d+, uptime \d:\d\d:\d\d\ngrp:b +RUNNING +pid \d+, uptime \d:\d\d:\d\d\noff +STOPPED +Not started\nweb +RUNNING +pid \d+, uptime \d:\d\d:\d\d\n`},
		{[]string{"status", "web", "grp:*"}, 0, `web +RUNNING .*\ngrp:a +RUNNING .*\ngrp:b +RUNNING .*\n`},
		{[]string{"status", "nope"}, 4, `nope: ERROR \(no such process\)\n`},
		{[]string{"start", "off"}, 0, `off: started\n`},
		{[]string{"start", "web"}, 0, `web: ERROR \(already started\)\n`},
		{[]string{"start", "nope"}, 1, `nope: ERROR \(no such process\)\n`},
		{[]string{"start", "bad"}, 7, `bad: ERROR \(spawn error\)\n`},
		{[]string{"stop", "off"}, 0, `off: stopped\n`},
		{[]string{"stop", "off"}, 0, `off: ERROR \(not running\)\n`},
		{[]string{"stop", "grp:*"}, 0, `grp:a: stopped\ngrp:b: stopped\n`},
		{[]string{"start", "grp:*"}, 0, `grp:a: started\ngrp:b: started\n`},
		{[]string{"restart", "grp:a"}, 0, `grp:a: stopped\ngrp:a: started\n`},
		{[]string{"signal", "CONT", "web"}, 0, `web: signalled\n`},
		{[]string{"signal", "NOPE", "web"}, 1, `web: ERROR \(bad signal name\)\n`},
		{[]string{"signal", "HUP", "off"}, 7, `off: ERROR \(not running\)\n`},
		{[]string{"pid"}, 0, strconv.Itoa(os.Getpid()) + `\n`},
		{[]string{"pid", "web"}, 0, `\d+\n`},
		{[]string{"pid", "off"}, 7, `0\n`},
		{[]string{"tail", "web"}, 0, `hello from web\n\n`},
		{[]string{"tail", "off"}, 1, `off: ERROR \(no log file\)\n`},
		{[]string{"maintail"}, 0, `supervisor started\n\n`},
		{[]string{"clear", "web"}, 0, `web: cleared\n`},
		{[]string{"tail", "web"}, 0, `\n`},
		{[]string{"avail"}, 0, `grp:a +in use +auto +0:0\ngrp:b +in use +auto +0:0\nbad +in use +manual +0:0\noff +in use +manual +0:0\nweb +in use +auto +0:0\n`},
		{[]string{"reread"}, 1, `ERROR: CANT_REREAD: .*\n`},
	} {
		start := time.Now()
		out, code := run(tc.args...)
		t.Logf("supervisorctl %s (%s, exit %d):\n%s", strings.Join(tc.args, " "), time.Since(start).Round(time.Millisecond), code, out)
		if code != tc.code || !regexp.MustCompile(`^(?s:`+tc.out+`)$`).MatchString(out) {
			t.Errorf("supervisorctl %s: exit %d, output\n%s\nwant exit %d, output matching\n%s", strings.Join(tc.args, " "), code, out, tc.code, tc.out)
		}
	}

	// tail -f: the log's last bytes, then what the program writes; it runs
	// until killed.
	if err := os.WriteFile(web.StdoutLog, []byte("before\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tailf := spawn(t, []string{ctl, "-c", conf, "tail", "-f", "web"})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(tailf.out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	want := func(s string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("tail -f ended before %q", s)
				}
				if strings.Contains(l, s) {
					return
				}
			case <-deadline:
				t.Fatalf("tail -f never printed %q", s)
			}
		}
	}
	want("before")
	appendFile(t, web.StdoutLog, "appended\n")
	want("appended")
	tailf.proc.Signal(syscall.SIGKILL)
	<-tailf.exit

	if out, code := run("shutdown"); code != 0 || out != "Shut down\n" {
		t.Errorf("shutdown: exit %d, %q", code, out)
	}
	if out, code := run("status"); code == 0 || !strings.Contains(out, "SHUTDOWN_STATE") && !strings.Contains(out, "shutting down") {
		t.Errorf("status after shutdown: exit %d, %q", code, out)
	}
}

// serveCtl serves r on a unix socket in dir and returns a runner of
// supervisorctl (at ctl) pointed at it, and its config file.
func serveCtl(t *testing.T, r *rig, ctl, dir string) (run func(args ...string) (string, int), conf string) {
	t.Helper()
	sock := filepath.Join(dir, "s.sock")
	ln, err := svrpc.ListenUnix(hclog.NewNullLogger(), sock, 0, svrpc.NoChown)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.srv.Serve(ln, svrpc.Auth{}) }()
	t.Cleanup(func() {
		r.srv.Close()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	conf = filepath.Join(dir, "ctl.conf")
	if err := os.WriteFile(conf, []byte("[supervisorctl]\nserverurl=unix://"+sock+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run = func(args ...string) (string, int) {
		t.Helper()
		c := spawn(t, append([]string{ctl, "-c", conf}, args...))
		out, err := io.ReadAll(c.out)
		if err != nil {
			t.Fatal(err)
		}
		return string(out), (<-c.exit).Code
	}
	return run, conf
}

// child is a process spawned by the test's Reaper (the one process-wide
// waiter: exec.Cmd's Wait would race it).
type child struct {
	proc *supervise.Proc
	out  *os.File // its stdout and stderr, to EOF
	exit chan supervise.Exit
}

func spawn(t *testing.T, argv []string) *child {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{out: r, exit: make(chan supervise.Exit, 1)}
	c.proc, err = reaper.Spawn(supervise.SpawnRequest{Kind: supervise.SpawnExec, Argv: argv, Stdout: w, Stderr: w,
		OnExit: func(e supervise.Exit) { c.exit <- e }, KillGroupOnExit: true})
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.proc.Signal(syscall.SIGKILL); r.Close() })
	return c
}

// supervisorctl finds supervisord's supervisorctl (or skips) and makes a
// directory short enough for a socket path (at most 107 bytes).
func supervisorctl(t *testing.T) (ctl, dir string) {
	t.Helper()
	ctl, err := exec.LookPath("supervisorctl")
	if err != nil {
		if os.Getenv("SUPERVISOR_NEED_SUPERVISORCTL") == "1" {
			t.Fatal("supervisorctl not found and SUPERVISOR_NEED_SUPERVISORCTL=1")
		}
		t.Skip("no supervisorctl (Debian's supervisor package)")
	}
	dir, err = os.MkdirTemp("", "svrpc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return ctl, dir
}

// TestSupervisorctlUpdate: reread, update, reload, and the "all" forms, with
// a configuration that changes on disk.
func TestSupervisorctlUpdate(t *testing.T) {
	ctl, dir := supervisorctl(t)
	sleep := lookPath(t, "sleep")
	cur := svrpc.LayoutOf(supervise.Group{Programs: []supervise.Spec{spec("keep", true, sleep, "60"), spec("old", true, sleep, "60"), spec("chg:p", true, sleep, "60")}})
	next := svrpc.LayoutOf(supervise.Group{Programs: []supervise.Spec{spec("keep", true, sleep, "60"), spec("chg:p", true, sleep, "61"), spec("new:q", true, sleep, "60")}})
	r := newRig(t, cur, svrpc.Options{Loader: func() (svrpc.Layout, error) { return next, nil }})
	run, _ := serveCtl(t, r, ctl, dir)
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"reread"}, 0, `chg: changed\nnew: available\nold: disappeared\n`},
		{[]string{"update"}, 0, `old: stopped\nold: removed process group\nchg: stopped\nchg: updated process group\nnew: added process group\n`},
		{[]string{"status"}, 0, `chg:p +RUNNING .*\nkeep +RUNNING .*\nnew:q +RUNNING .*\n`},
		{[]string{"reread"}, 0, `No config updates to processes\n`},
		{[]string{"update"}, 0, ``},
		{[]string{"restart", "all"}, 0, `(?:\S+: stopped\n){3}(?:\S+: started\n){3}`},
		{[]string{"signal", "CONT", "all"}, 0, `(?:\S+: signalled\n){3}`},
		{[]string{"stop", "all"}, 0, `(?:\S+: stopped\n){3}`},
		{[]string{"status"}, 3, `(?:\S+ +STOPPED +\w{3} \d\d \d\d:\d\d [AP]M\n){3}`},
		{[]string{"start", "all"}, 0, `(?:\S+: started\n){3}`},
		{[]string{"reload"}, 0, `Restarted supervisord\n`},
	} {
		out, code := run(tc.args...)
		if code != tc.code || !regexp.MustCompile(`^(?s:`+tc.out+`)$`).MatchString(out) {
			t.Errorf("supervisorctl %s: exit %d, output\n%s\nwant exit %d, output matching\n%s", strings.Join(tc.args, " "), code, out, tc.code, tc.out)
		}
	}
	for _, n := range []string{"keep", "chg:p", "new:q"} {
		r.waitState(n, supervise.StateRunning)
	}
}

// TestSupervisorctlInet: supervisorctl over [inet_http_server]'s TCP port,
// with its username and password ({SHA} form), and refused without them.
func TestSupervisorctlInet(t *testing.T) {
	ctl, dir := supervisorctl(t)
	sleep := lookPath(t, "sleep")
	r := newRig(t, svrpc.LayoutOf(supervise.Group{Programs: []supervise.Spec{spec("web", true, sleep, "60")}}), svrpc.Options{})
	ln, err := svrpc.ListenInet(hclog.NewNullLogger(), "127.0.0.1:0", "user", "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- r.srv.Serve(ln, svrpc.Auth{Username: "user", Password: "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"})
	}()
	t.Cleanup(func() {
		r.srv.Close()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	for _, tc := range []struct {
		doc, pass string
		code      int
		out       string
	}{
		{"right password", "secret", 0, `web +RUNNING +pid \d+, uptime \d:\d\d:\d\d\n`},
		{"wrong password", "wrong", 1, `Server requires authentication\n.*401 Unauthorized.*`},
	} {
		conf := filepath.Join(dir, "ctl.conf")
		if err := os.WriteFile(conf, []byte("[supervisorctl]\nserverurl=http://"+ln.Addr().String()+"\nusername=user\npassword="+tc.pass+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := spawn(t, []string{ctl, "-c", conf, "status"})
		out, err := io.ReadAll(c.out)
		if err != nil {
			t.Fatal(err)
		}
		code := (<-c.exit).Code
		if code != tc.code || !regexp.MustCompile(`^(?s:`+tc.out+`)$`).MatchString(string(out)) {
			t.Errorf("%s: exit %d, output\n%s\nwant exit %d, output matching\n%s", tc.doc, code, out, tc.code, tc.out)
		}
	}
}
