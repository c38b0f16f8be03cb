package supervise_test

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/probe"
	"github.com/supervisor/supervisor/internal/supervise"
)

// shSpec is a program run by sh -c script, that says when it is ready as how.
func shSpec(name, script string, how supervise.NotifyKind) supervise.Spec {
	s := spec(name, supervise.SpawnExec)
	s.Command = []string{"/bin/sh", "-c", script}
	s.Notify = how
	s.StartTimeout = 30 * time.Second
	s.StopGrace = time.Second
	return s
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (.ci/run installs it)", name)
	}
}

// Readiness and status from Debian's systemd-notify, from a Python program that
// sends the datagram with the standard library, and from an s6 readiness fd.
func TestNotifyReadiness(t *testing.T) {
	t.Parallel()
	needTool(t, "systemd-notify")
	needTool(t, "python3")
	py := `import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"STATUS=from python\nREADY=1", os.environ["NOTIFY_SOCKET"])
time.sleep(3600)`
	s6 := shSpec("s6", `echo ready >&5; exec sleep 3600`, supervise.NotifyS6)
	s6.NotifyFd = 5
	rn := serve(t, group(supervise.OneForOne,
		shSpec("sd", `systemd-notify --ready --status="warming done" && exec sleep 3600`, supervise.NotifySystemd),
		shSpec("py", "exec python3 -c '"+py+"'", supervise.NotifySystemd),
		s6,
	))
	for prog, reason := range map[string]string{"sd": "sent READY=1", "py": "sent READY=1", "s6": "wrote its readiness line to fd 5"} {
		e := rn.rec.waitEvent(t, 1, is(prog, supervise.StateRunning))
		if e.Reason != reason {
			t.Errorf("%s: running because %q, want %q", prog, e.Reason, reason)
		}
	}
	for prog, text := range map[string]string{"sd": "warming done", "py": "from python"} {
		if st := rn.status(t, prog); st.StatusText != text {
			t.Errorf("%s: status text %q, want %q", prog, st.StatusText, text)
		}
	}
}

// A program that never says it is ready fails its start after start_timeout;
// one whose watchdog pings stop is ended (SIGABRT) and restarted.
func TestNotifyFailures(t *testing.T) {
	t.Parallel()
	needTool(t, "systemd-notify")
	silent := shSpec("silent", `exec sleep 3600`, supervise.NotifySystemd)
	silent.StartTimeout, silent.StartRetries = 200*time.Millisecond, 0
	dog := shSpec("dog", `systemd-notify --ready; systemd-notify WATCHDOG=1; exec sleep 3600`, supervise.NotifySystemd)
	dog.Watchdog = 300 * time.Millisecond
	rn := serve(t, group(supervise.OneForOne, silent, dog))
	e := rn.rec.waitEvent(t, 1, is("silent", supervise.StateFatal))
	if !strings.Contains(rn.rec.dump(), "not ready within start_timeout 200ms (it did not send READY=1)") {
		t.Errorf("silent: fatal (%s) without saying why:\n%s", e.Reason, rn.rec.dump())
	}
	e = rn.rec.waitEvent(t, 1, is("dog", supervise.StateBackoff))
	if e.Exit == nil || e.Exit.Signal.String() != "aborted" {
		t.Errorf("dog: backoff after %v, want SIGABRT", e.Exit)
	}
	rn.rec.waitLine(t, "dog", "ending the program's run", "no WATCHDOG=1 for 300ms")
}

// Debian's redis-server, which speaks none of our protocols, supervised with a
// tcp ready probe: running once it accepts connections, restarted after a
// SIGKILL, and stopped with nothing left.
func TestRedisWithProbe(t *testing.T) {
	t.Parallel()
	needTool(t, "redis-server")
	port := freePort(t)
	s := spec("redis", supervise.SpawnExec)
	s.Command = []string{"redis-server", "--port", port, "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"}
	s.ReadyProbe = &probe.Spec{Kind: probe.TCP, Target: "127.0.0.1:" + port, Interval: 20 * time.Millisecond, Timeout: time.Second, Failures: 1}
	s.StartTimeout = 30 * time.Second
	rn := serve(t, group(supervise.OneForOne, s))
	first := rn.rec.waitEvent(t, 1, is("redis", supervise.StateRunning))
	if !strings.HasPrefix(first.Reason, "ready probe passed (tcp 127.0.0.1:") {
		t.Errorf("running because %q", first.Reason)
	}
	if err := syscall.Kill(first.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := rn.rec.waitEvent(t, 2, is("redis", supervise.StateRunning))
	if second.Pid == first.Pid {
		t.Fatalf("not restarted: %+v", second)
	}
	rn.stop(t)
	if alive(second.Pid) {
		t.Errorf("redis-server %d alive after the stop", second.Pid)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
