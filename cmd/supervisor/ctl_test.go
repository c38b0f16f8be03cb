package main_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/control"
	"github.com/supervisor/supervisor/internal/procfs"
)

// ctl runs `supervisor ctl --socket sock args...` and returns its stdout, stderr
// and exit code.
func ctl(t *testing.T, sock string, args ...string) (string, string, int) {
	t.Helper()
	return runBinary(t, exec.Command(bin("supervisor"), append([]string{"ctl", "--socket", sock}, args...)...))
}

// runBinary runs cmd to its end and returns its stdout, stderr and exit code;
// a failure to run it at all fails the test.
func runBinary(t *testing.T, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	}
	t.Fatal(err)
	return "", "", -1
}

// ctlStatus is `ctl --json status`, decoded, by program name.
func ctlStatus(t *testing.T, sock string) map[string]control.ProgramStatus {
	t.Helper()
	out, errOut, _ := ctl(t, sock, "--json", "status")
	var st []control.ProgramStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("ctl --json status: %v\n%s%s", err, out, errOut)
	}
	m := map[string]control.ProgramStatus{}
	for _, p := range st {
		m[p.Name] = p
	}
	return m
}

// waitState polls ctl status until program name is in state (and, if pidNot is
// not 0, has another pid), and returns its status.
func waitState(t *testing.T, sock, name, state string, pidNot int) control.ProgramStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := ctlStatus(t, sock)[name]
		if p.State == state && (pidNot == 0 || p.Pid != pidNot) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %s (pid other than %d): %+v", name, state, pidNot, p)
		}
	}
}

const ctlConf = `
[program:a]
command = CHILD --tick 20ms
min_uptime = 0s
[program:b]
command = child --protocol --heartbeat 50ms
spawner = reexec
protocol = true
`

// ctl start waits until the program is running or has failed, and says which,
// as supervisorctl does; --no-wait returns once it was spawned.
func TestCtlStartWaits(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "ctl", "s.sock")
	p := start(t, "run", "-c", writeConf(t, `
[program:broken]
command = CHILD --run 0s --exit 3
autostart = false
start_retries = 0
[program:slow]
command = child --protocol --slow-start 300ms
spawner = reexec
protocol = true
autostart = false
[program:keep]
command = CHILD
`), "--socket", sock)
	p.waitLine(t, "control socket ready")
	if out, errOut, code := ctl(t, sock, "start", "broken"); code != 1 || !strings.Contains(errOut, "did not start: fatal") || !strings.Contains(errOut, "exit status 3") {
		t.Errorf("start of a program that fails: exit %d, want 1 saying why:\n%s%s", code, out, errOut)
	}
	if out, errOut, code := ctl(t, sock, "start", "--no-wait", "broken"); code != 0 {
		t.Errorf("start --no-wait: exit %d, want 0 (spawned):\n%s%s", code, out, errOut)
	}
	if out, errOut, code := ctl(t, sock, "start", "slow"); code != 0 || !strings.Contains(out, "start slow: ok") {
		t.Errorf("start of a slow protocol program: exit %d:\n%s%s", code, out, errOut)
	}
	// It answered once the program was ready, not merely spawned; status says how.
	if st := ctlStatus(t, sock)["slow"]; st.State != "running" || st.Readiness != "protocol" {
		t.Errorf("after start returned: %+v, want running, readiness protocol", st)
	}
	if out, _, _ := ctl(t, sock, "status", "slow"); !strings.Contains(out, "ready: said Ready") {
		t.Errorf("status does not say how slow got ready:\n%s", out)
	}
}

func TestCtlCommands(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "ctl", "s.sock")
	p := start(t, "run", "-c", writeConf(t, ctlConf), "--socket", sock)
	p.waitLine(t, "control socket ready")
	a := waitState(t, sock, "a", "running", 0)
	b := waitState(t, sock, "b", "running", 0)

	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v (%v), want 0600", fi.Mode(), err)
	}
	if di, err := os.Stat(filepath.Dir(sock)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("socket directory mode %v (%v), want 0700", di.Mode(), err)
	}

	out, _, code := ctl(t, sock, "status")
	if code != 0 || !strings.Contains(out, "RUNNING") || !strings.Contains(out, "heartbeat") {
		t.Errorf("status with everything running: exit %d, want 0:\n%s", code, out)
	}
	if b.HeartbeatAgeSeconds == nil || b.Pid == 0 {
		t.Errorf("protocol program's status lacks pid or heartbeat age: %+v", b)
	}

	if out, errOut, code := ctl(t, sock, "stop", "a"); code != 0 || !strings.Contains(out, "stop a: ok") {
		t.Fatalf("stop a: exit %d\n%s%s", code, out, errOut)
	}
	if st := ctlStatus(t, sock)["a"]; st.State != "stopped" || st.Pid != 0 {
		t.Errorf("after stop: %+v", st)
	}
	if alive(a.Pid) {
		t.Errorf("a's process %d is alive after stop", a.Pid)
	}
	if out, _, code := ctl(t, sock, "status", "a"); code != 1 || !strings.Contains(out, "STOPPED") {
		t.Errorf("status of a stopped program: exit %d, want 1:\n%s", code, out)
	}
	if _, errOut, code := ctl(t, sock, "stop", "a"); code != 1 || !strings.Contains(errOut, "not running (stopped)") {
		t.Errorf("stop of a stopped program: exit %d, want 1: %s", code, errOut)
	}
	// A program stopped by request keeps the supervisor running; start brings it back.
	if _, errOut, code := ctl(t, sock, "start", "a"); code != 0 {
		t.Fatalf("start a: exit %d: %s", code, errOut)
	}
	waitState(t, sock, "a", "running", a.Pid)
	if _, errOut, code := ctl(t, sock, "start", "a"); code != 1 || !strings.Contains(errOut, "already started") {
		t.Errorf("start of a running program: exit %d, want 1: %s", code, errOut)
	}

	// ctl events streams the restart as it happens.
	ev := exec.Command(bin("supervisor"), "ctl", "--socket", sock, "--json", "events")
	evOut, err := ev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	defer ev.Process.Kill()
	// The stream's subscription starts when its request arrives; restart until the
	// event shows up (each restart is a real one, and cheap).
	seen := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(evOut)
		for sc.Scan() {
			seen <- sc.Text()
		}
		close(seen)
	}()
	deadline := time.After(30 * time.Second)
	for got := false; !got; {
		if _, errOut, code := ctl(t, sock, "restart", "b"); code != 0 {
			t.Fatalf("restart b: exit %d: %s", code, errOut)
		}
	drain:
		for {
			select {
			case l := <-seen:
				if strings.Contains(l, `"program":"b"`) && strings.Contains(l, `"to":"starting"`) {
					got = true
					break drain
				}
			case <-deadline:
				t.Fatal("ctl events showed no restart of b")
			default:
				break drain
			}
		}
	}
	if err := ev.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := ev.Wait(); err != nil {
		t.Errorf("ctl events after SIGTERM: %v, want exit 0", err)
	}
	waitState(t, sock, "b", "running", b.Pid)

	// ctl logs: a's recent lines, with pid and stream.
	for deadline := time.Now().Add(30 * time.Second); ; {
		out, errOut, code := ctl(t, sock, "logs", "-n", "3", "a")
		if code != 0 {
			t.Fatalf("logs a: exit %d: %s", code, errOut)
		}
		if strings.Count(out, "\n") == 3 && strings.Contains(out, "stdout: tick") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctl logs -n 3 a: %q", out)
		}
	}
	if _, errOut, code := ctl(t, sock, "logs", "nope"); code != 4 {
		t.Errorf("logs nope: exit %d: %s", code, errOut)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"signal", "USR1", "nope"}, 4, "no such program"},
		{[]string{"status", "nope"}, 4, "no such program"},
		{[]string{"signal", "BOGUS", "a"}, 2, "unknown signal"},
		{[]string{"stop"}, 2, "want 1 or more argument"},
		{[]string{"shutdown", "a"}, 2, "want 0 argument"},
		{[]string{"stop", "w[", "a"}, 2, "syntax error in pattern"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"stop", ""}, 2, "a program name cannot be empty"},
		{[]string{"--timeout", "-1s", "status"}, 2, "want a positive duration"},
		{[]string{"status", "--timeout", "0s"}, 2, "want a positive duration"},
	} {
		if _, errOut, code := ctl(t, sock, c.args...); code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("ctl %q: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
	out, _, code = ctl(t, sock, "--json", "stop", "nope")
	if code != 4 || !strings.Contains(out, `"kind":"no_such_program"`) {
		t.Errorf("--json stop nope: exit %d, %s", code, out)
	}
	// Flags may follow the command, and --json errors are JSON for status too.
	out, _, code = ctl(t, sock, "status", "nope", "--json")
	if code != 4 || !strings.Contains(out, `"kind":"no_such_program"`) {
		t.Errorf("status nope --json: exit %d, %s", code, out)
	}
	out, _, code = ctl(t, sock, "logs", "a", "-n", "2")
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Errorf("logs a -n 2: exit %d, %q", code, out)
	}
	if _, _, code := runBinary(t, exec.Command(bin("supervisor"), "ctl", "--socket", "", "status")); code != 2 {
		t.Errorf("ctl --socket '' status: exit %d, want 2", code)
	}

	if _, errOut, code := ctl(t, sock, "signal", "TERM", "a"); code != 0 {
		t.Errorf("signal TERM a: exit %d: %s", code, errOut)
	}
	p.waitLine(t, "supervisor.a", "program exited")

	// A follower of a's output sees the shutdown end its stream: exit 0, saying so.
	follow, sc, followErr := followLogs(t, sock, "-n", "1", "a")
	if !sc.Scan() { // its one recent line: the stream is up
		t.Fatalf("ctl logs -f printed nothing: %s", followErr.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()

	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: exit %d: %s", code, errOut)
	}
	if got := p.exitCode(t); got != 0 {
		t.Errorf("exit code %d after ctl shutdown, want 0:\n%s", got, p.log())
	}
	if err := follow.Wait(); err != nil || !strings.Contains(followErr.String(), "the supervisor stopped") {
		t.Errorf("ctl logs -f at shutdown: %v, want exit 0 saying the supervisor stopped: %s", err, followErr.String())
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there after shutdown: %v", err)
	}
	if _, _, code := ctl(t, sock, "status"); code != 3 {
		t.Errorf("status with no supervisor: exit %d, want 3", code)
	}
}

func TestCtlSocketLiveStaleAndMode(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, "[program:a]\ncommand = CHILD\n")
	sock := filepath.Join(t.TempDir(), "s.sock")
	first := start(t, "run", "-c", conf, "--socket", sock)
	first.waitLine(t, "control socket ready")

	// A live socket is never stolen.
	second := start(t, "run", "-c", conf, "--socket", sock)
	if code := second.exitCode(t); code != 2 || !strings.Contains(second.log(), "running supervisor") {
		t.Errorf("second supervisor on a live socket: exit %d, want 2 and a reason:\n%s", code, second.log())
	}
	if out, errOut, code := ctl(t, sock, "status"); code > 1 || !strings.Contains(out, "a ") {
		t.Errorf("first supervisor no longer answers: exit %d: %s%s", code, out, errOut)
	}

	// A socket others may write is refused by the client.
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := ctl(t, sock, "status"); code != 1 || !strings.Contains(errOut, "mode") {
		t.Errorf("status over a 0666 socket: exit %d, want 1 and a word on the mode: %s", code, errOut)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		t.Fatal(err)
	}

	// SIGKILL leaves the socket file behind: stale, and replaced by the next one.
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.exitCode(t)
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("no socket file after SIGKILL: %v", err)
	}
	if _, _, code := ctl(t, sock, "status"); code != 3 {
		t.Errorf("status on a stale socket: exit %d, want 3", code)
	}
	third := start(t, "run", "-c", conf, "--socket", sock)
	third.waitLine(t, "removed a stale control socket")
	third.waitLine(t, "control socket ready")
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Errorf("shutdown of the supervisor on the replaced socket: exit %d: %s", code, errOut)
	}
	third.exitCode(t)
}

// Another user (uid 65534) reaching a root supervisor's socket is told
// "permission denied", not "no supervisor is running".
func TestCtlOtherUserDenied(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the client as another user")
	}
	// Every directory on the way must let the other user through: the
	// binaries' (0700 from MkdirTemp) and the socket's.
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ctl-denied")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	p := start(t, "run", "-c", writeConf(t, "[program:a]\ncommand = CHILD\n"), "--socket", sock)
	p.waitLine(t, "control socket ready")
	cmd := exec.Command(bin("supervisor"), "ctl", "--socket", sock, "status")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	_, errOut, code := runBinary(t, cmd)
	if code != 1 || !strings.Contains(errOut, "permission denied") || strings.Contains(errOut, "no supervisor") {
		t.Errorf("status as uid 65534: exit %d, %q; want 1 and permission denied", code, errOut)
	}
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Errorf("shutdown: exit %d: %s", code, errOut)
	}
	p.exitCode(t)
}

func alive(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && st.State != 'Z'
}

// reload (ctl and SIGHUP) with added, removed, changed and unchanged programs;
// a broken file changes nothing.
func TestCtlReload(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s.sock")
	conf := writeConf(t, `
[program:keep]
command = CHILD
[program:change]
command = CHILD
[program:drop]
command = CHILD
`)
	p := start(t, "run", "-c", conf, "--socket", sock)
	p.waitLine(t, "control socket ready")
	keep := waitState(t, sock, "keep", "running", 0)
	change := waitState(t, sock, "change", "running", 0)

	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(strings.ReplaceAll(body, "CHILD", bin("child"))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("[program:keep]\ncommand = CHILD\n[program:change]\ncommand = CHILD --tick 1h\n[program:drop\n")
	out, errOut, code := ctl(t, sock, "reload")
	if code != 1 || !strings.Contains(errOut, "nothing changed") || !strings.Contains(errOut, conf+":5") {
		t.Errorf("reload of a broken file: exit %d, want 1 naming %s:5:\n%s%s", code, conf, out, errOut)
	}
	if st := ctlStatus(t, sock); len(st) != 3 || st["change"].Pid != change.Pid {
		t.Errorf("a refused reload changed something: %+v", st)
	}

	write("[program:keep]\ncommand = CHILD\n[program:change]\ncommand = CHILD --tick 1h\n[program:add]\ncommand = CHILD\n")
	out, errOut, code = ctl(t, sock, "reload")
	if code != 0 || out != "reload: added add; removed drop; changed change; unchanged keep\n" {
		t.Errorf("reload: exit %d:\n%s%s", code, out, errOut)
	}
	waitState(t, sock, "add", "running", 0)
	waitState(t, sock, "change", "running", change.Pid)
	st := ctlStatus(t, sock)
	if _, ok := st["drop"]; ok || st["keep"].Pid != keep.Pid {
		t.Errorf("after reload: %+v (keep was pid %d)", st, keep.Pid)
	}

	// SIGHUP reloads too.
	write("[program:keep]\ncommand = CHILD\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, "reloaded", "removed change, add")
	if st := ctlStatus(t, sock); len(st) != 1 || st["keep"].Pid != keep.Pid {
		t.Errorf("after SIGHUP reload: %+v", st)
	}
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %d %s", code, errOut)
	}
	p.exitCode(t)
}

// The tree of a supervisor with a child that forked a grandchild, and an adopted
// orphan (a grandchild in its own session whose parent exited), all correctly
// parented and marked; human output and --json; and tree --pid for any process.
func TestTree(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s.sock")
	// In cgroup mode a program's leftovers die with its leader: group mode lets
	// the orphan live on, adopted.
	p := start(t, "run", "-c", writeConf(t, `
[supervisor]
kill_mode = group
[program:family]
command = CHILD --grandchild
[program:leaver]
command = CHILD --grandchild-setsid --run 0s
restart = never
`), "--socket", sock)
	p.waitLine(t, "supervisor.leaver", "not restarting")
	family := waitState(t, sock, "family", "running", 0)

	type node struct {
		Pid      int  `json:"pid"`
		PPid     int  `json:"ppid"`
		Adopted  bool `json:"adopted_orphan"`
		Sup      bool `json:"supervisor"`
		Program  *struct{ Name string }
		Children []*node `json:"children"`
	}
	var root node
	var orphan, grandchild *node
	for deadline := time.Now().Add(30 * time.Second); ; {
		out, errOut, code := ctl(t, sock, "--json", "tree")
		if code != 0 {
			t.Fatalf("ctl --json tree: exit %d: %s", code, errOut)
		}
		root = node{}
		if err := json.Unmarshal([]byte(out), &root); err != nil {
			t.Fatalf("tree JSON: %v\n%s", err, out)
		}
		orphan, grandchild = nil, nil
		for _, c := range root.Children {
			if c.Adopted {
				orphan = c
			}
			if c.Program != nil && c.Program.Name == "family" && len(c.Children) == 1 {
				grandchild = c.Children[0]
			}
		}
		if orphan != nil && grandchild != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tree lacks the adopted orphan or family's grandchild:\n%s", out)
		}
	}
	defer syscall.Kill(orphan.Pid, syscall.SIGKILL)
	if !root.Sup || root.Pid != p.cmd.Process.Pid {
		t.Errorf("root is pid %d (supervisor %v), want the supervisor %d", root.Pid, root.Sup, p.cmd.Process.Pid)
	}
	if grandchild.PPid != family.Pid || orphan.PPid != root.Pid {
		t.Errorf("grandchild %d has parent %d (want %d); orphan %d has parent %d (want %d)",
			grandchild.Pid, grandchild.PPid, family.Pid, orphan.Pid, orphan.PPid, root.Pid)
	}
	// The same, for people.
	out, _, code := ctl(t, sock, "tree")
	for _, want := range []string{"[supervisor]", "[program family, running", "[adopted orphan]", strconv.Itoa(grandchild.Pid) + " S "} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("ctl tree: exit %d, no %q in:\n%s", code, want, out)
		}
	}
	// tree --pid: any process, no supervisor needed.
	out2, errb := exec.Command(bin("supervisor"), "tree", "--pid", strconv.Itoa(family.Pid), "--metrics=false").CombinedOutput()
	if errb != nil || !strings.HasPrefix(string(out2), strconv.Itoa(family.Pid)+" S ") || !strings.Contains(string(out2), strconv.Itoa(grandchild.Pid)) {
		t.Errorf("tree --pid %d: %v\n%s", family.Pid, errb, out2)
	}
	// top draws frames and ends by itself with --frames.
	out3, errc := exec.Command(bin("supervisor"), "top", "--socket", sock, "--frames", "2", "--interval", "100ms").CombinedOutput()
	if errc != nil || strings.Count(string(out3), "supervisor top") != 2 || !strings.Contains(string(out3), "[adopted orphan]") {
		t.Errorf("top --frames 2: %v\n%s", errc, out3)
	}

	// top quits on q, and on Ctrl-C (SIGINT), with exit status 0.
	topQ := exec.Command(bin("supervisor"), "top", "--socket", sock, "--interval", "100ms")
	topQ.Stdin = strings.NewReader("q")
	if out, err := topQ.CombinedOutput(); err != nil || !strings.Contains(string(out), "supervisor top") {
		t.Errorf("top with q typed: %v\n%s", err, out)
	}
	topC := exec.Command(bin("supervisor"), "top", "--socket", sock, "--interval", "100ms")
	topOut, err := topC.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := topC.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(topOut).ReadString('\n'); err != nil { // the first frame is drawn
		t.Fatal(err)
	}
	topC.Process.Signal(syscall.SIGINT)
	go io.Copy(io.Discard, topOut)
	if err := topC.Wait(); err != nil {
		t.Errorf("top after SIGINT: %v, want exit 0", err)
	}

	if err := syscall.Kill(orphan.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, "reaped adopted orphan", "pid="+strconv.Itoa(orphan.Pid))
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %s", errOut)
	}
	p.exitCode(t)
}

// lineAfter returns the index of the first log line after index from that holds
// every one of subs, or -1.
func (p *proc) lineAfter(from int, subs ...string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := from + 1; i < len(p.lines); i++ {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(p.lines[i], s)
		}
		if ok {
			return i
		}
	}
	return -1
}

// ctl on several programs: names, patterns and all, one line per program, the
// exit code over all of them; a name or pattern matching nothing does nothing
// (exit 4); stop all stops in reverse dependency order, start all starts in
// dependency order; logs of several prefixes each line with its program.
func TestCtlMany(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s.sock")
	p := start(t, "run", "-c", writeConf(t, `
[program:db]
command = CHILD
min_uptime = 200ms
[program:api]
command = CHILD
requires = db
min_uptime = 200ms
[program:web-1]
command = CHILD --tick 50ms
after = api
min_uptime = 0s
[program:web-2]
command = CHILD --tick 50ms
after = api
min_uptime = 0s
[program:broken]
command = CHILD --run 0s --exit 3
autostart = false
start_retries = 0
`), "--socket", sock)
	p.waitLine(t, "control socket ready")
	for _, n := range []string{"db", "api", "web-1", "web-2"} {
		waitState(t, sock, n, "running", 0)
	}

	if out, errOut, code := ctl(t, sock, "status", "web-*", "db"); code != 0 || strings.Count(out, "RUNNING") != 3 {
		t.Errorf("status 'web-*' db: exit %d:\n%s%s", code, out, errOut)
	}
	if _, errOut, code := ctl(t, sock, "status", "web-*", "cache-*", "nope"); code != 4 || !strings.Contains(errOut, `"cache-*"`) || !strings.Contains(errOut, `"nope"`) {
		t.Errorf("status with patterns matching nothing: exit %d, %q; want 4 naming both", code, errOut)
	}
	// A pattern that matches nothing: nothing is done.
	web1 := ctlStatus(t, sock)["web-1"]
	if out, errOut, code := ctl(t, sock, "stop", "web-*", "cache-*"); code != 4 || !strings.Contains(errOut, `stop "cache-*": no such program (nothing was done)`) || out != "" {
		t.Errorf("stop 'web-*' 'cache-*': exit %d:\n%s%s", code, out, errOut)
	}
	if st := ctlStatus(t, sock)["web-1"]; st.State != "running" || st.Pid != web1.Pid {
		t.Errorf("a refused stop stopped web-1: %+v", st)
	}

	out, errOut, code := ctl(t, sock, "signal", "CONT", "web-?")
	if code != 0 || out != "signal CONT web-1: ok\nsignal CONT web-2: ok\n" {
		t.Errorf("signal CONT 'web-?': exit %d:\n%s%s", code, out, errOut)
	}
	// Logs of several: every line says whose it is.
	for deadline := time.Now().Add(30 * time.Second); ; {
		out, errOut, code = ctl(t, sock, "logs", "-n", "2", "web-*")
		if code != 0 {
			t.Fatalf("logs 'web-*': exit %d: %s", code, errOut)
		}
		if strings.Count(out, "web-1 | ") == 2 && strings.Count(out, "web-2 | ") == 2 && strings.Count(out, "\n") == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs -n 2 'web-*': %q", out)
		}
	}
	if _, errOut, code := ctl(t, sock, "logs", "web-*", "nope"); code != 4 || !strings.Contains(errOut, `"nope"`) {
		t.Errorf("logs 'web-*' nope: exit %d: %s", code, errOut)
	}

	// stop all: one line each; broken was not running, so exit 1. The stops go
	// in reverse dependency order: api's only once web-1's and web-2's ended,
	// db's only once api's did.
	mark := len(strings.Split(p.log(), "\n")) - 1
	out, errOut, code = ctl(t, sock, "stop", "all")
	if code != 1 || out != "stop db: ok\nstop api: ok\nstop web-1: ok\nstop web-2: ok\n" || !strings.Contains(errOut, "stop broken: not running (stopped)") {
		t.Errorf("stop all: exit %d, want 1:\n%s%s", code, out, errOut)
	}
	web1Stopped := p.lineAfter(mark, "supervisor.web-1", "program stopped")
	web2Stopped := p.lineAfter(mark, "supervisor.web-2", "program stopped")
	apiStopping := p.lineAfter(mark, "supervisor.api", "stopping program")
	apiStopped := p.lineAfter(mark, "supervisor.api", "program stopped")
	dbStopping := p.lineAfter(mark, "supervisor.db", "stopping program")
	if web1Stopped < 0 || web2Stopped < 0 || apiStopping < max(web1Stopped, web2Stopped) || apiStopped < 0 || dbStopping < apiStopped {
		t.Errorf("stop all: not in reverse dependency order (lines: web-1 stopped %d, web-2 stopped %d, api stopping %d, api stopped %d, db stopping %d):\n%s",
			web1Stopped, web2Stopped, apiStopping, apiStopped, dbStopping, p.log())
	}
	for n, st := range ctlStatus(t, sock) {
		if st.State != "stopped" {
			t.Errorf("after stop all: %s is %s", n, st.State)
		}
	}

	// start all: in dependency order, each waited for; broken fails (exit 1,
	// saying why), the others are running when it returns.
	mark = len(strings.Split(p.log(), "\n")) - 1
	out, errOut, code = ctl(t, sock, "start", "all")
	if code != 1 || out != "start db: ok\nstart api: ok\nstart web-1: ok\nstart web-2: ok\n" || !strings.Contains(errOut, "start broken: did not start: fatal") || !strings.Contains(errOut, "exit status 3") {
		t.Errorf("start all: exit %d, want 1:\n%s%s", code, out, errOut)
	}
	st := ctlStatus(t, sock)
	for _, n := range []string{"db", "api", "web-1", "web-2"} {
		if st[n].State != "running" {
			t.Errorf("after start all returned: %s is %s", n, st[n].State)
		}
	}
	dbStarted := p.lineAfter(mark, "supervisor.db", "program started")
	apiStarted := p.lineAfter(mark, "supervisor.api", "program started")
	webStarted := p.lineAfter(mark, "supervisor.web-1", "program started")
	if dbStarted < 0 || apiStarted < dbStarted || webStarted < apiStarted {
		t.Errorf("start all: not in dependency order (lines: db %d, api %d, web-1 %d):\n%s", dbStarted, apiStarted, webStarted, p.log())
	}

	// restart of several, as JSON: one object per program.
	out, errOut, code = ctl(t, sock, "--json", "restart", "web-2", "web-1", "web-1")
	if code != 0 || out != `{"command":"restart web-1","program":"web-1","result":"ok"}`+"\n"+`{"command":"restart web-2","program":"web-2","result":"ok"}`+"\n" {
		t.Errorf("--json restart web-2 web-1 web-1: exit %d:\n%s%s", code, out, errOut)
	}
	// start of a mix: one running (refused), one that fails.
	if out, errOut, code := ctl(t, sock, "start", "db", "broken"); code != 1 || out != "" || !strings.Contains(errOut, "start db: already started (running)") || !strings.Contains(errOut, "start broken: did not start") {
		t.Errorf("start db broken: exit %d, want 1:\n%s%s", code, out, errOut)
	}
	// The running supervisor's version, beside the client's.
	if out, errOut, code := ctl(t, sock, "version"); code != 0 || !strings.Contains(out, "client: supervisor ") || !strings.Contains(out, "server: supervisor ") {
		t.Errorf("ctl version: exit %d:\n%s%s", code, out, errOut)
	}
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %s", errOut)
	}
	p.exitCode(t)
	if out, _, code := ctl(t, sock, "version"); code != 3 || !strings.Contains(out, "client: supervisor ") {
		t.Errorf("ctl version with no supervisor: exit %d, %q; want 3 after the client's line", code, out)
	}
}

// logs -f of several programs follows them all over one stream, each line
// prefixed with its program, and ends with exit 0 when the supervisor stops.
func TestCtlLogsFollowMany(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s.sock")
	p := start(t, "run", "-c", writeConf(t, `
[program:w-1]
command = CHILD --tick 20ms
[program:w-2]
command = CHILD --tick 20ms
[program:other]
command = CHILD --tick 20ms
`), "--socket", sock)
	p.waitLine(t, "control socket ready")
	follow, sc, followErr := followLogs(t, sock, "-n", "0", "w-*")
	seen := map[string]bool{}
	for sc.Scan() && !(seen["w-1"] && seen["w-2"]) {
		name, _, ok := strings.Cut(sc.Text(), " | ")
		if !ok || !strings.Contains(sc.Text(), "stdout: ") {
			t.Fatalf("a followed line without its program first: %q", sc.Text())
		}
		if name == "other" {
			t.Fatalf("logs -f 'w-*' showed other's line: %q", sc.Text())
		}
		seen[name] = true
	}
	if !seen["w-1"] || !seen["w-2"] {
		t.Fatalf("logs -f 'w-*' ended before showing both: %v: %s", seen, followErr.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %s", errOut)
	}
	p.exitCode(t)
	if err := follow.Wait(); err != nil || !strings.Contains(followErr.String(), "the supervisor stopped") {
		t.Errorf("logs -f 'w-*' at shutdown: %v, want exit 0 saying the supervisor stopped: %s", err, followErr.String())
	}
}

// followLogs starts `ctl logs -f ARGS` on sock: its stdout line by line, its
// stderr collected; the test's cleanup kills and waits for it.
func followLogs(t *testing.T, sock string, args ...string) (*exec.Cmd, *bufio.Scanner, *strings.Builder) {
	t.Helper()
	follow := exec.Command(bin("supervisor"), append([]string{"ctl", "--socket", sock, "logs", "-f"}, args...)...)
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	followErr := &strings.Builder{}
	follow.Stderr = followErr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = follow.Process.Kill()
		_ = follow.Wait()
	})
	return follow, bufio.NewScanner(out), followErr
}
