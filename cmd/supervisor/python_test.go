package main_test

// The pipe protocol from another language, under the real binary: the Python
// client (clients/python) and its example worker.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/control"
	"github.com/supervisor/supervisor/internal/procfs"
)

var (
	pyOnce sync.Once
	pyPath string
	pyErr  error
)

// python returns the python3 interpreter itself (its sys.executable: a pyenv
// shim in PATH would put a shell script and its forks in front of every start),
// or skips the test when there is none. SUPERVISOR_NEED_PYTHON (set by .ci/run)
// turns the skip into a failure.
func python(t *testing.T) string {
	t.Helper()
	pyOnce.Do(func() {
		if _, pyErr = exec.LookPath("python3"); pyErr != nil {
			return
		}
		var out []byte
		out, pyErr = exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
		pyPath = strings.TrimSpace(string(out))
		if pyErr == nil && pyPath == "" {
			pyErr = fmt.Errorf("python3 reports no sys.executable")
		}
	})
	if pyErr != nil {
		if os.Getenv("SUPERVISOR_NEED_PYTHON") != "" {
			t.Fatalf("python3 is needed (SUPERVISOR_NEED_PYTHON is set): %v", pyErr)
		}
		t.Skipf("python3 not found (%v): skipping the Python client's tests (.ci/run installs python3)", pyErr)
	}
	return pyPath
}

func clientsDir(t *testing.T, sub string) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "..", "clients", sub))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPythonUnittest runs the Python client's own tests (golden frames shared
// with internal/ipc, a worker against a supervisor played over real pipes,
// malformed frames refused), so that make test runs them.
func TestPythonUnittest(t *testing.T) {
	t.Parallel()
	py := python(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-m", "unittest", "discover", "-v", "-s", clientsDir(t, "python"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 -m unittest: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// waitStateWithin is waitState with a deadline of its own: a Python start
// takes seconds on a loaded host.
func waitStateWithin(t *testing.T, sock, name, state string, pidNot int, limit time.Duration) control.ProgramStatus {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		p := ctlStatus(t, sock)[name]
		if p.State == state && (pidNot == 0 || p.Pid != pidNot) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %s (pid other than %d) within %s: %+v", name, state, pidNot, limit, p)
		}
	}
}

// pollStatus polls ctl status until ok holds for program name's status.
func pollStatus(t *testing.T, sock, name, what string, ok func(control.ProgramStatus) bool) control.ProgramStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p := ctlStatus(t, sock)[name]
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never %s: %+v", name, what, p)
		}
	}
}

// runsOf reads a file of lines "TAG i/N" and returns the lines per tag and the
// number of runs of consecutive lines from one tag.
func runsOf(t *testing.T, path string) (map[string]int, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	count, runs, last := map[string]int{}, 0, ""
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		tag := strings.Fields(l)[0]
		count[tag]++
		if tag != last {
			runs++
			last = tag
		}
	}
	return count, runs
}

// startPyAndGo runs the supervisor on conf, a config whose programs py (the
// Python example worker: PYTHON, PYDIR) and go (CHILD) speak the protocol, and
// waits until both are running; it returns py's status then.
func startPyAndGo(t *testing.T, conf string) (p *proc, sock string, py control.ProgramStatus) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "s.sock")
	conf = strings.NewReplacer("PYTHON", python(t), "PYDIR", clientsDir(t, "python")).Replace(conf)
	p = start(t, "run", "-c", writeConf(t, conf), "--socket", sock)
	p.waitLine(t, "control socket ready")
	waitStateWithin(t, sock, "go", "running", 0, time.Minute)
	return p, sock, waitStateWithin(t, sock, "py", "running", 0, 2*time.Minute)
}

const pythonConf = `
[program:py]
command = PYTHON PYDIR/example_worker.py --heartbeat 50ms --status python-here
protocol = true
start_timeout = 2m
heartbeat_timeout = 3s
[program:go]
command = CHILD --protocol --heartbeat 50ms
protocol = true
`

// The Python example worker under the real supervisor: it becomes ready, its
// heartbeats and status arrive, ctl request round-trips text and binary and
// gets the same answers and errors as the Go worker, a Stop ends it cleanly,
// and it leaves when the supervisor dies (EOF on fd 4).
func TestPythonWorker(t *testing.T) {
	t.Parallel()
	p, sock, st := startPyAndGo(t, pythonConf)
	if st.Readiness != "protocol" {
		t.Errorf("py readiness %q, want protocol", st.Readiness)
	}

	// Heartbeats: the sequence number climbs; the status text arrived.
	first := pollStatus(t, sock, "py", "a heartbeat", func(s control.ProgramStatus) bool { return s.HeartbeatSeq >= 1 })
	pollStatus(t, sock, "py", "more heartbeats", func(s control.ProgramStatus) bool { return s.HeartbeatSeq >= first.HeartbeatSeq+3 })
	pollStatus(t, sock, "py", "its status text", func(s control.ProgramStatus) bool { return s.StatusText == "python-here" })

	if out, errOut, code := ctlIn(t, sock, nil, "request", "py", "echo", "hi"); code != 0 || string(out) != "hi" {
		t.Errorf("ctl request py echo hi: exit %d, stdout %q, want hi: %s", code, out, errOut)
	}
	payload := "hash me, please"
	sum := sha256.Sum256([]byte(payload))
	for _, name := range []string{"py", "go"} {
		if out, errOut, code := ctlIn(t, sock, nil, "request", name, "hash", payload); code != 0 || string(out) != hex.EncodeToString(sum[:]) {
			t.Errorf("request %s hash: exit %d, stdout %q, want %x: %s", name, code, out, sum, errOut)
		}
	}
	raw := []byte{0, 1, 0xfe, 0xff, '\n', 0x80, 0xc3}
	if out, errOut, code := ctlIn(t, sock, raw, "request", "py", "echo", "-"); code != 0 || !bytes.Equal(out, raw) {
		t.Errorf("request py echo - (binary on stdin): exit %d, stdout %q, want %q: %s", code, out, raw, errOut)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB: many reads on the pipe
	if out, errOut, code := ctlIn(t, sock, big, "request", "py", "echo", "-"); code != 0 || !bytes.Equal(out, big) {
		t.Errorf("request py echo of 256 KiB: exit %d, %d bytes back: %s", code, len(out), errOut)
	}
	_, pyErr, pyCode := ctlIn(t, sock, nil, "request", "py", "frobnicate")
	_, goErr, goCode := ctlIn(t, sock, nil, "request", "go", "frobnicate")
	if pyCode != 1 || goCode != 1 || strings.Replace(pyErr, `"py"`, `"go"`, 1) != goErr {
		t.Errorf("unknown method: py exit %d %q, go exit %d %q: want the same error", pyCode, pyErr, goCode, goErr)
	}
	if out, errOut, code := ctlIn(t, sock, nil, "request", "py", "sleep", "10ms"); code != 0 || string(out) != "slept" {
		t.Errorf("request py sleep 10ms: exit %d, %q: %s", code, out, errOut)
	}

	// The negative control of TestPythonBlockedMainLoopRestarted: a main loop
	// that runs keeps the heartbeats coming, so heartbeat_timeout never fired.
	if st := ctlStatus(t, sock)["py"]; st.Restarts != 0 || st.Pid != first.Pid {
		t.Errorf("a healthy Python worker was restarted: %+v", st)
	}

	// A Stop over the pipe: the worker answers and exits 0.
	if _, errOut, code := ctl(t, sock, "stop", "py"); code != 0 {
		t.Fatalf("ctl stop py: exit %d: %s", code, errOut)
	}
	p.waitLine(t, "py | stopping on request")
	p.waitLine(t, "supervisor.py:", "program stopped", `exit="exit status 0"`)

	// The supervisor dies: the worker reads EOF on fd 4 and leaves.
	if _, errOut, code := ctl(t, sock, "start", "py"); code != 0 {
		t.Fatalf("ctl start py: exit %d: %s", code, errOut)
	}
	pid := waitStateWithin(t, sock, "py", "running", 0, 2*time.Minute).Pid
	goPid := ctlStatus(t, sock)["go"].Pid
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.exitCode(t)
	for _, pid := range []int{pid, goPid} {
		deadline := time.Now().Add(60 * time.Second)
		for d := time.Millisecond; ; d = min(2*d, 100*time.Millisecond) {
			st, err := procfs.ReadStat(pid)
			if err != nil || st.State == 'Z' {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("worker %d still runs a minute after its supervisor died", pid)
			}
			time.Sleep(d) // polling the OS under a deadline
		}
	}
}

const leaseConf = `
[program:py]
command = PYTHON PYDIR/example_worker.py --heartbeat 50ms
protocol = true
start_timeout = 2m
[program:go]
command = CHILD --protocol --heartbeat 50ms
protocol = true
`

// A Python worker and a Go worker exclude each other through the same lease:
// both append to one file at once, each holding the lease "file" (limit 1)
// around its whole record, and the file holds two unbroken runs.
func TestPythonAndGoShareALease(t *testing.T) {
	t.Parallel()
	p, sock, _ := startPyAndGo(t, leaseConf)
	path := filepath.Join(t.TempDir(), "out")
	const lines = 400
	var wg sync.WaitGroup
	tags := []string{"py-1", "go-1", "py-2", "go-2"}
	for _, tag := range tags {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, _, _ := strings.Cut(tag, "-")
			_, errOut, code := ctlIn(t, sock, nil, "request", "--timeout", "2m", name, "append", fmt.Sprintf("%s 1 %d %s", path, lines, tag))
			if code != 0 {
				t.Errorf("append %s by %s: exit %d: %s", tag, name, code, errOut)
			}
		}()
	}
	wg.Wait()
	count, runs := runsOf(t, path)
	if len(count) != len(tags) || runs != len(tags) {
		t.Errorf("lines %v in %d runs; want %d records of %d lines, each in one unbroken run", count, runs, len(tags), lines)
	}
	for tag, n := range count {
		if n != lines {
			t.Errorf("record %s has %d lines, want %d", tag, n, lines)
		}
	}
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %d %s", code, errOut)
	}
	p.exitCode(t)
}

// A Python worker whose main loop blocks, while its heartbeat and reader
// threads live on, goes silent: heartbeat_timeout ends the run and the
// supervisor restarts it.
func TestPythonBlockedMainLoopRestarted(t *testing.T) {
	t.Parallel()
	py := python(t)
	sock := filepath.Join(t.TempDir(), "s.sock")
	conf := fmt.Sprintf(`
[program:stuck]
command = %s %s/example_worker.py --heartbeat 50ms --hang-after 500ms
protocol = true
start_timeout = 2m
heartbeat_timeout = 1s
stop_grace = 1s
`, py, clientsDir(t, "python"))
	p := start(t, "run", "-c", writeConf(t, conf), "--socket", sock)
	p.waitLine(t, "control socket ready")
	line := p.waitLine(t, "supervisor.stuck:", "no heartbeat for 1s")
	// It did beat before its loop blocked: the heartbeat thread sends only
	// while the main loop calls progress().
	if m := regexp.MustCompile(`last seq (\d+)`).FindStringSubmatch(line); m == nil || m[1] == "0" {
		t.Errorf("no heartbeat at all before the loop blocked, want some: %s", line)
	}
	pid := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(line)[1]
	p.waitLine(t, "supervisor.stuck:", "program exited", "pid="+pid)
	p.waitLine(t, "supervisor.stuck:", "restart scheduled")
	st := pollStatus(t, sock, "stuck", "restarted", func(s control.ProgramStatus) bool { return s.Restarts >= 1 && s.Pid != 0 && fmt.Sprint(s.Pid) != pid })
	if st.LastExit == "" {
		t.Errorf("restarted without a last exit: %+v", st)
	}
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %d %s", code, errOut)
	}
	p.exitCode(t)
}
