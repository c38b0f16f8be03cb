package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/control"
)

// upgradeConf has a program of each spawner, a line counter writing its log
// file, one that leaves half a line in its pipe across the upgrade, a crasher
// restarting throughout, one held stopped, a goroutine worker (stopped and
// started again around the exec) and two protocol workers, one of them
// sending a heartbeat every millisecond (their pipes are handed over).
const upgradeConf = `
[program:counter]
command = /bin/sh -c 'i=0; while :; do i=$((i+1)); echo "line $i"; [ $((i % 20)) = 0 ] && sleep 0.01; done'
stdout_log = DIR/counter.log
[program:half]
command = /bin/sh -c 'printf "first half, "; while [ ! -e DIR/go-on ]; do sleep 0.01; done; echo "second half"; exec sleep 1000'
[program:exec]
command = CHILD --tick 100ms
[program:forkexec]
command = CHILD
spawner = forkexec
[program:reexec]
command = child
spawner = reexec
[program:crasher]
command = CHILD --run 20ms --exit 3
min_uptime = 0s
backoff_initial = 10ms
backoff_max = 10ms
max_restarts = 0
[program:held]
command = CHILD
[program:inproc]
command = service --heartbeat 100ms
kind = goroutine
[program:talker]
command = child --protocol --heartbeat 100ms
spawner = reexec
protocol = true
[program:chatty]
command = CHILD --protocol --heartbeat 1ms
protocol = true
heartbeat_timeout = 1s
`

func upgradeSetup(t *testing.T) (p *proc, sock, dir string) {
	t.Helper()
	dir = t.TempDir()
	sock = filepath.Join(dir, "s.sock")
	conf := writeConf(t, strings.ReplaceAll(upgradeConf, "DIR", dir))
	p = start(t, "run", "--upgradable", "-c", conf, "--socket", sock, "--http", "127.0.0.1:0")
	p.waitLine(t, "control socket ready")
	for _, name := range []string{"counter", "half", "exec", "forkexec", "reexec", "held", "inproc", "talker", "chatty"} {
		waitState(t, sock, name, "running", 0)
	}
	if _, errOut, code := ctl(t, sock, "stop", "held"); code != 0 {
		t.Fatalf("ctl stop held: %s", errOut)
	}
	return p, sock, dir
}

func TestUpgradeKeepsChildren(t *testing.T) {
	t.Parallel()
	p, sock, dir := upgradeSetup(t)
	before := ctlStatus(t, sock)
	// /healthz is asked all through the upgrades: the listening socket is
	// handed over, so no connection is refused.
	addr := regexp.MustCompile(`http listener ready: addr=(\S+)`).FindStringSubmatch(p.waitLine(t, "http listener ready"))[1]
	stopAsking := make(chan struct{})
	asked := make(chan []error)
	go func() {
		var errs []error
		client := &http.Client{Timeout: 20 * time.Second}
		for {
			select {
			case <-stopAsking:
				asked <- errs
				return
			default:
			}
			resp, err := client.Get("http://" + addr + "/healthz")
			if err != nil {
				errs = append(errs, err)
				continue
			}
			resp.Body.Close()
		}
	}()
	out, errOut, code := ctl(t, sock, "--json", "upgrade")
	if code != 0 {
		t.Fatalf("ctl upgrade: exit %d: %s%s\n%s", code, out, errOut, p.log())
	}
	var res control.UpgradeResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("ctl --json upgrade: %v: %s", err, out)
	}
	if res.Pid != p.cmd.Process.Pid || res.Binary != bin("supervisor") || res.Kept < 7 {
		t.Errorf("upgrade result %+v: want pid %d, binary %s, at least 7 children kept", res, p.cmd.Process.Pid, bin("supervisor"))
	}
	if strings.Join(res.Restarted, ",") != "inproc" {
		t.Errorf("restarted %v: want inproc only", res.Restarted)
	}
	p.waitLine(t, "upgraded in place", "children_kept=")

	after := ctlStatus(t, sock)
	for _, name := range []string{"counter", "half", "exec", "forkexec", "reexec", "talker", "chatty"} {
		if b, a := before[name], after[name]; a.Pid != b.Pid || a.State != "running" || a.Restarts != b.Restarts || !a.Started.Equal(*b.Started) && a.Started.Sub(*b.Started).Abs() > 50*time.Millisecond {
			t.Errorf("%s: before %+v, after %+v: want the same process, state and counters", name, b, a)
		}
	}
	if a := after["held"]; a.State != "stopped" || a.Pid != 0 {
		t.Errorf("held: %+v: want it still stopped", a)
	}
	if a, b := after["crasher"], before["crasher"]; a.Restarts < b.Restarts {
		t.Errorf("crasher restarts %d after, %d before: want the count kept", a.Restarts, b.Restarts)
	}
	waitState(t, sock, "inproc", "running", 0)
	// ctl logs still shows what the programs said before the upgrade.
	if out, errOut, code := ctl(t, sock, "logs", "-n", "1000", "exec"); code != 0 || !strings.Contains(out, "child "+strconv.Itoa(before["exec"].Pid)+" started") {
		t.Errorf("ctl logs exec after the upgrade: exit %d, want its first line from before it:\n%s%s", code, out, errOut)
	}
	// The protocol workers are still connected: they answer, and their
	// heartbeats still arrive (chatty's timeout is 1s).
	for _, name := range []string{"talker", "chatty"} {
		if out, errOut, code := ctl(t, sock, "request", name, "echo", "hi "+name); code != 0 || !strings.Contains(out, "hi "+name) {
			t.Errorf("request to %s after the upgrade: exit %d: %s%s", name, code, out, errOut)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ctlStatus(t, sock)["chatty"].HeartbeatSeq <= after["chatty"].HeartbeatSeq; {
		if time.Now().After(deadline) {
			t.Fatalf("chatty's heartbeats stopped at %d after the upgrade:\n%s", after["chatty"].HeartbeatSeq, p.log())
		}
	}
	for _, bad := range []string{"protocol error", "stream cannot be handed over", "was not handed over", "not forked by the main thread"} {
		if strings.Contains(p.log(), bad) {
			t.Errorf("log says %q:\n%s", bad, p.log())
		}
	}
	// The crasher's exits are attributed across the handover: it goes on
	// restarting under its name.
	c := after["crasher"].Restarts
	for deadline := time.Now().Add(30 * time.Second); ctlStatus(t, sock)["crasher"].Restarts < c+3; {
		if time.Now().After(deadline) {
			t.Fatalf("crasher stopped restarting after the upgrade:\n%s", p.log())
		}
	}

	// The half line read before the exec is joined with its end, written after.
	if err := os.WriteFile(filepath.Join(dir, "go-on"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, "half | first half, second half")

	// Upgrading again works the same (the new image's children are forked on
	// its main thread too).
	if _, errOut, code := ctl(t, sock, "upgrade"); code != 0 {
		t.Fatalf("second ctl upgrade: exit %d: %s", code, errOut)
	}
	if a := ctlStatus(t, sock)["exec"]; a.Pid != before["exec"].Pid {
		t.Errorf("exec after two upgrades: pid %d, want %d", a.Pid, before["exec"].Pid)
	}
	close(stopAsking)
	if errs := <-asked; len(errs) > 0 {
		t.Errorf("/healthz across two upgrades: %d requests failed, the first: %v", len(errs), errs[0])
	}
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %s", errOut)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d after shutdown:\n%s", got, p.log())
	}
	// Not one counter line lost or doubled across two handovers.
	f, err := os.Open(filepath.Join(dir, "counter.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		if want := "line " + strconv.Itoa(n); sc.Text() != want {
			t.Fatalf("counter.log line %d is %q, want %q", n, sc.Text(), want)
		}
	}
	if n < 100 {
		t.Errorf("counter.log has %d lines", n)
	}
}

// A binary that is missing, not executable, fails its check or cannot read
// the state is refused, with the reason, and nothing changes.
func TestUpgradeRefusesBrokenBinaries(t *testing.T) {
	t.Parallel()
	p, sock, dir := upgradeSetup(t)
	script := func(name, body string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	before := ctlStatus(t, sock)
	for _, tc := range []struct{ binary, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{script("plain", "#!/bin/sh\nexit 0\n", 0o644), "not executable"},
		{dir, "not a regular file"},
		{script("fails", "#!/bin/sh\necho broken >&2\nexit 1\n", 0o755), "exit status 1"},
		{script("quits", "#!/bin/sh\nexit 0\n", 0o755), "cannot read this supervisor's state"},
		{script("other", "#!/bin/sh\necho supervisor-upgrade 99\n", 0o755), "cannot read this supervisor's state"},
	} {
		_, errOut, code := ctl(t, sock, "upgrade", "--binary", tc.binary)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("upgrade --binary %s: exit %d, %q: want exit 1 and %q", tc.binary, code, errOut, tc.want)
		}
	}
	// A config file changed since it was loaded is refused too: the new image
	// would read the new one, which the running programs did not come from.
	conf := p.cmd.Args[slices.Index(p.cmd.Args, "-c")+1]
	orig, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, append(slices.Clone(orig), "\n# edited\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := ctl(t, sock, "upgrade"); code != 1 || !strings.Contains(errOut, "changed since it was loaded") {
		t.Errorf("upgrade after the config changed: exit %d, %q", code, errOut)
	}
	if err := os.WriteFile(conf, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	after := ctlStatus(t, sock)
	for name, b := range before {
		if a := after[name]; name != "crasher" && (a.Pid != b.Pid || a.State != b.State || a.Restarts != b.Restarts) {
			t.Errorf("%s changed: before %+v, after %+v", name, b, a)
		}
	}
	if strings.Contains(p.log(), "upgrade: exec") {
		t.Errorf("a refused upgrade exec'ed:\n%s", p.log())
	}
	p.logSays(t, "upgrade requested") // each was refused in the old image, which goes on
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %s", errOut)
	}
	p.exitCode(t)
}

// As PID 1 of a PID namespace, the upgrade keeps PID 1, the children, and the
// reaping of orphans, adopted before it and after.
func TestUpgradeAsPID1(t *testing.T) {
	t.Parallel()
	prefix := asPID1(t)
	sock := filepath.Join(t.TempDir(), "s.sock")
	conf := writeConf(t, `
[supervisor]
kill_mode = group
[program:steady]
command = CHILD --ready-line
[program:leaver]
command = /bin/sh -c 'setsid sleep 1 & exit 0'
restart = never
autostart = false
`)
	args := append(prefix, bin("supervisor"), "run", "--upgradable", "-c", conf, "--socket", sock)
	p := startCmd(t, exec.Command(args[0], args[1:]...))
	p.waitLine(t, "steady | ready")
	p.waitLine(t, "control socket ready")
	steady := ctlStatus(t, sock)["steady"].Pid
	orphanLine := func() int { return strings.Count(p.log(), "reaped adopted orphan") }
	if _, errOut, code := ctl(t, sock, "start", "--no-wait", "leaver"); code != 0 {
		t.Fatalf("ctl start leaver: %s", errOut)
	}
	p.waitLine(t, "supervisor.leaver", "not restarting")
	out, errOut, code := ctl(t, sock, "--json", "upgrade")
	if code != 0 {
		t.Fatalf("ctl upgrade as PID 1: exit %d: %s%s\n%s", code, out, errOut, p.log())
	}
	var res control.UpgradeResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Pid != 1 {
		t.Fatalf("upgrade result %s (%v): want pid 1", out, err)
	}
	p.waitLine(t, "upgraded in place")
	if got := ctlStatus(t, sock)["steady"].Pid; got != steady {
		t.Errorf("steady: pid %d after the upgrade, want %d", got, steady)
	}
	// The orphan adopted before the upgrade (a sleep 1 that left its
	// program's session) ends after it, and is reaped by the new image; so is
	// one adopted after it.
	if _, errOut, code := ctl(t, sock, "start", "--no-wait", "leaver"); code != 0 {
		t.Fatalf("ctl start leaver after the upgrade: %s", errOut)
	}
	p.waitLine(t, "upgraded in place")
	p.waitUntil(t, "leaver run again", func() bool { return strings.Count(p.log(), "not restarting") >= 2 })
	p.waitUntil(t, "both orphans (adopted before and after the upgrade) reaped by PID 1", func() bool { return orphanLine() >= 2 })
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %s", errOut)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d:\n%s", got, p.log())
	}
}

// Without --upgradable the children are forked on any thread, and would die
// with an exec: ctl upgrade says so and changes nothing.
func TestUpgradeNeedsUpgradable(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s.sock")
	p := start(t, "run", "-c", writeConf(t, "[program:a]\ncommand = CHILD\n"), "--socket", sock)
	p.waitLine(t, "control socket ready")
	pid := waitState(t, sock, "a", "running", 0).Pid
	if _, errOut, code := ctl(t, sock, "upgrade"); code != 1 || !strings.Contains(errOut, "--upgradable") {
		t.Errorf("ctl upgrade without --upgradable: exit %d, %q", code, errOut)
	}
	if got := ctlStatus(t, sock)["a"].Pid; got != pid {
		t.Errorf("a: pid %d, want %d", got, pid)
	}
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %s", errOut)
	}
	p.exitCode(t)
}

// A supervisord configuration: supervisord's own supervisorctl, asking in a
// loop on [unix_http_server]'s socket, is answered all through an upgrade
// (the socket is handed over), and sees the same process after it.
func TestUpgradeSupervisordSocket(t *testing.T) {
	t.Parallel()
	_, supervisorctl := needSupervisord(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	body := "[unix_http_server]\nfile=" + dir + "/sv.sock\n\n[supervisord]\nlogfile=/dev/null\n\n" +
		"[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n" +
		"[supervisorctl]\nserverurl=unix://" + dir + "/sv.sock\n\n[program:steady]\ncommand=" + bin("child") + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	p := start(t, "run", "--upgradable", "-c", conf, "--socket", sock)
	p.waitLine(t, "control socket ready")
	status := func() (string, error) {
		cmd := exec.Command(supervisorctl, "-c", conf, "status", "steady")
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	var before string
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(before, "RUNNING"); before, _ = status() {
		if time.Now().After(deadline) {
			t.Fatalf("supervisorctl status: %q\n%s", before, p.log())
		}
	}
	pid := regexp.MustCompile(`pid (\d+)`).FindStringSubmatch(before)
	stopAsking := make(chan struct{})
	asked := make(chan []string)
	go func() {
		var bad []string
		for {
			select {
			case <-stopAsking:
				asked <- bad
				return
			default:
			}
			if out, err := status(); err != nil || !strings.Contains(out, "RUNNING") {
				bad = append(bad, fmt.Sprintf("%v: %q", err, out))
			}
		}
	}()
	for range 2 {
		if _, errOut, code := ctl(t, sock, "upgrade"); code != 0 {
			t.Fatalf("ctl upgrade: exit %d: %s\n%s", code, errOut, p.log())
		}
	}
	close(stopAsking)
	if bad := <-asked; len(bad) > 0 {
		t.Errorf("supervisorctl status across two upgrades: %d failed, the first: %s", len(bad), bad[0])
	}
	if after, _ := status(); pid == nil || !strings.Contains(after, "pid "+pid[1]+",") {
		t.Errorf("steady after the upgrades: %q, before: %q", after, before)
	}
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %s", errOut)
	}
	p.exitCode(t)
}

// A program whose command is missing (it is fatal) does not stop an upgrade:
// upgrade-check loads the config as run --check does, and a command that
// cannot start is not the new binary's failure.
func TestUpgradeWithAFatalProgram(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s.sock")
	p := start(t, "run", "--upgradable", "-c", writeConf(t, "[program:a]\ncommand = CHILD\n[program:gone]\ncommand = /nonexistent/program\n"), "--socket", sock)
	p.waitLine(t, "control socket ready")
	pid := waitState(t, sock, "a", "running", 0).Pid
	waitState(t, sock, "gone", "fatal", 0)
	if _, errOut, code := ctl(t, sock, "upgrade"); code != 0 {
		t.Fatalf("ctl upgrade with a fatal program: exit %d: %s", code, errOut)
	}
	if got := ctlStatus(t, sock); got["a"].Pid != pid || got["gone"].State != "fatal" {
		t.Errorf("after the upgrade: %+v", got)
	}
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %s", errOut)
	}
	p.exitCode(t)
}

// waitUntil waits for ok, looked at again whenever the supervisor logs a line
// (and every 100 ms, for what it does not log), for up to 30 s.
func (p *proc) waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-p.wake:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no %s within 30s:\n%s", what, p.log())
		}
	}
}
