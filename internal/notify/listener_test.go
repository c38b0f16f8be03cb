package notify_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/notify"
)

// waitLimit bounds every wait in these tests; it is a failure deadline, never a
// synchronisation.
const waitLimit = 30 * time.Second

// shortDir returns a fresh directory with a path short enough for sun_path
// (t.TempDir's names grow with the test's name).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ntfy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

type served struct {
	l    *notify.Listener
	msgs chan notify.Message
}

// serve starts a Listener in a fresh directory and Serve on it; every message
// handled goes to msgs (after handle, if not nil, returned). The cleanup closes the
// Listener and checks that Serve returned ErrClosed.
func serve(t *testing.T, handle func(notify.Message)) *served {
	t.Helper()
	l, err := notify.Listen(filepath.Join(shortDir(t), "notify"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &served{l: l, msgs: make(chan notify.Message, 512)}
	done := make(chan error, 1)
	go func() {
		done <- l.Serve(context.Background(), func(m notify.Message) {
			if handle != nil {
				handle(m)
			}
			s.msgs <- m
		})
	}()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, notify.ErrClosed) {
				t.Errorf("Serve returned %v, want ErrClosed", err)
			}
		case <-time.After(waitLimit):
			t.Errorf("Serve did not return after Close")
		}
	})
	return s
}

func (s *served) next(t *testing.T) notify.Message {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(waitLimit):
		t.Fatalf("no datagram within %v", waitLimit)
		return notify.Message{}
	}
}

// notifyCmd is a command whose environment points NOTIFY_SOCKET at s, and at
// nothing inherited.
func notifyCmd(s *served, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(notify.StripEnv(os.Environ()), notify.Env(s.l.Path(), 0, 0)...)
	return cmd
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (.ci/run installs it): %v", name, err)
	}
}

// TestSystemdNotifyReady runs the real systemd-notify --ready: it exits 0 only if
// the fd it sends with BARRIER=1 is closed (within 5 s; see
// TestSystemdNotifyBarrierNeedsReceiver).
func TestSystemdNotifyReady(t *testing.T) {
	t.Parallel()
	needTool(t, "systemd-notify")
	s := serve(t, nil)
	cmd := notifyCmd(s, "systemd-notify", "--ready", "--status=hello")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-notify: %v: %s", err, out)
	}
	t.Logf("systemd-notify --ready ran for %v (barrier released by Serve)", time.Since(start))
	ready := s.next(t)
	if ready.Err != nil || !ready.Ready || !ready.HasStatus || ready.Status != "hello" || ready.Barrier {
		t.Errorf("first datagram = %+v, want READY=1 STATUS=hello", ready)
	}
	// As root, systemd-notify states its parent's pid (us) in SCM_CREDENTIALS;
	// unprivileged, that send fails with EPERM and the kernel fills in its own.
	if ready.Pid != os.Getpid() && ready.Pid != cmd.Process.Pid {
		t.Errorf("READY from pid %d, want %d (systemd-notify) or %d (its parent)", ready.Pid, cmd.Process.Pid, os.Getpid())
	}
	if ready.Uid != os.Getuid() || ready.Fds != 0 {
		t.Errorf("READY uid %d fds %d, want uid %d, no fds", ready.Uid, ready.Fds, os.Getuid())
	}
	barrier := s.next(t)
	if !barrier.Barrier || barrier.Fds != 1 || barrier.Pid != cmd.Process.Pid || barrier.Err != nil {
		t.Errorf("second datagram = %+v, want BARRIER=1 with 1 fd from pid %d", barrier, cmd.Process.Pid)
	}
}

// TestSystemdNotifyBarrierWaitsForHandler: while handle has not returned for
// READY=1, systemd-notify cannot exit (the barrier datagram behind it is not read,
// its fd not closed); once handle returns, it exits 0.
func TestSystemdNotifyBarrierWaitsForHandler(t *testing.T) {
	t.Parallel()
	needTool(t, "systemd-notify")
	inHandler, release := make(chan struct{}), make(chan struct{})
	s := serve(t, func(m notify.Message) {
		if m.Ready {
			close(inHandler)
			<-release
		}
	})
	// systemd-notify's stdout is a pipe only it holds: EOF on it means it exited.
	exitedR, exitedW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer exitedR.Close()
	cmd := notifyCmd(s, "systemd-notify", "--ready")
	cmd.Stdout = exitedW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exitedW.Close()
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	select {
	case <-inHandler:
	case <-time.After(waitLimit):
		t.Fatal("READY=1 never reached the handler")
	}
	// The handler holds READY=1, so systemd-notify must still be alive.
	if err := exitedR.SetReadDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := exitedR.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("systemd-notify's stdout while the handler blocks: %v, want still open", err)
	}
	close(release)
	err = cmd.Wait()
	waited = true
	if err != nil {
		t.Fatalf("systemd-notify after the handler returned: %v", err)
	}
	if m := s.next(t); !m.Ready {
		t.Errorf("first message %+v, want READY", m)
	}
	if m := s.next(t); !m.Barrier || m.Fds != 1 {
		t.Errorf("second message %+v, want BARRIER=1 with one fd", m)
	}
}

// TestSystemdNotifyBarrierNeedsReceiver is the negative control: with nobody
// serving the socket, the barrier fd stays open and systemd-notify gives up after
// its 5 s timeout with exit status 1 ("Failed to invoke barrier: Connection timed
// out").
func TestSystemdNotifyBarrierNeedsReceiver(t *testing.T) {
	t.Parallel()
	needTool(t, "systemd-notify")
	l, err := notify.Listen(filepath.Join(shortDir(t), "notify"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command("systemd-notify", "--ready")
	cmd.Env = append(notify.StripEnv(os.Environ()), notify.Env(l.Path(), 0, 0)...)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("systemd-notify with no receiver: %v (%s), want exit status 1", err, out)
	}
	if !strings.Contains(string(out), "barrier") {
		t.Errorf("systemd-notify output %q does not mention the barrier", out)
	}
}

func TestSystemdNotifyFields(t *testing.T) {
	t.Parallel()
	needTool(t, "systemd-notify")
	tests := []struct {
		doc  string
		arg  string
		want func(notify.Message) bool
	}{
		{"watchdog ping", "WATCHDOG=1", func(m notify.Message) bool { return m.Watchdog }},
		{"watchdog trigger", "WATCHDOG=trigger", func(m notify.Message) bool { return m.WatchdogTrigger }},
		{"main pid", "MAINPID=4242", func(m notify.Message) bool { return m.MainPid == 4242 }},
		{"extend timeout", "EXTEND_TIMEOUT_USEC=2500000",
			func(m notify.Message) bool { return m.HasExtendTimeout && m.ExtendTimeout == 2500*time.Millisecond }},
		{"errno", "ERRNO=111", func(m notify.Message) bool { return m.HasErrno && m.Errno == 111 }},
		{"stopping", "STOPPING=1", func(m notify.Message) bool { return m.Stopping }},
		{"reloading", "RELOADING=1", func(m notify.Message) bool { return m.Reloading }},
		{"unknown key kept for logging", "FDSTORE=1",
			func(m notify.Message) bool { return len(m.Ignored) == 1 && m.Ignored[0] == "FDSTORE=1" }},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			s := serve(t, nil)
			if out, err := notifyCmd(s, "systemd-notify", tc.arg).CombinedOutput(); err != nil {
				t.Fatalf("systemd-notify %s: %v: %s", tc.arg, err, out)
			}
			if m := s.next(t); m.Err != nil || !tc.want(m) {
				t.Errorf("systemd-notify %s gave %+v", tc.arg, m)
			}
			if m := s.next(t); !m.Barrier {
				t.Errorf("second datagram %+v, want BARRIER=1", m)
			}
		})
	}
}

// python runs a Python program with the socket's path as sys.argv[1].
func python(t *testing.T, s *served, prog string, args ...string) *exec.Cmd {
	t.Helper()
	needTool(t, "python3")
	return notifyCmd(s, "python3", append([]string{"-c", prog, s.l.Path()}, args...)...)
}

// TestPythonSender: a client written as the documentation shows, with the
// standard library only. The sender has exited when its datagram is read; Pid
// still names it.
func TestPythonSender(t *testing.T) {
	t.Parallel()
	s := serve(t, nil)
	cmd := python(t, s, `
import os, socket, sys
path = os.environ["NOTIFY_SOCKET"]
assert path == sys.argv[1], path
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1\nSTATUS=up", path)
`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python: %v: %s", err, out)
	}
	m := s.next(t)
	if m.Err != nil || !m.Ready || m.Status != "up" || m.Pid != cmd.Process.Pid || m.Uid != os.Getuid() {
		t.Errorf("got %+v, want READY=1 STATUS=up from pid %d", m, cmd.Process.Pid)
	}
}

// TestMalformedDatagrams: each bad datagram is one Message with Err, in order, and
// the socket keeps working.
func TestMalformedDatagrams(t *testing.T) {
	t.Parallel()
	s := serve(t, nil)
	cmd := python(t, s, `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for d in [b"READY=1\n" + b"x" * 5000, b"READY=1\x00STATUS=x", b"READY=1\n" + b"\n" * 4088, b"\xff\x00\xfe", b"STOPPING=1"]:
    s.sendto(d, sys.argv[1])
`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python: %v: %s", err, out)
	}
	checks := []struct {
		doc string
		ok  func(notify.Message) bool
	}{
		{"oversized: malformed, not half-parsed", func(m notify.Message) bool {
			return errors.Is(m.Err, notify.ErrMalformed) && !m.Ready && m.Pid == cmd.Process.Pid
		}},
		{"embedded NUL", func(m notify.Message) bool { return errors.Is(m.Err, notify.ErrMalformed) && !m.Ready }},
		{"exactly MaxDatagram bytes", func(m notify.Message) bool { return m.Err == nil && m.Ready }},
		{"binary garbage", func(m notify.Message) bool { return errors.Is(m.Err, notify.ErrMalformed) }},
		{"still serving", func(m notify.Message) bool { return m.Err == nil && m.Stopping }},
	}
	for _, c := range checks {
		if m := s.next(t); !c.ok(m) {
			t.Errorf("%s: got %+v", c.doc, m)
		}
	}
}

// fdsTo counts this process's fds and those open on path.
func fdsTo(t *testing.T, path string) (all, onPath int) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			onPath++
		}
	}
	return len(ents), onPath
}

// TestReceivedFdsAreClosed sends 10 fds (an FDSTORE=1 a daemon may try), then 200
// (more than MaxFds: the control data is truncated), then READY=1. Every fd that
// arrived is closed. Not parallel: it counts the whole process's fds.
func TestReceivedFdsAreClosed(t *testing.T) {
	s := serve(t, nil)
	marker := filepath.Join(shortDir(t), "marker")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := fdsTo(t, marker)
	cmd := python(t, s, `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
ten = [os.open(sys.argv[2], os.O_RDONLY) for _ in range(10)]
socket.send_fds(s, [b"FDSTORE=1\nFDNAME=ten"], ten)
many = [os.open(sys.argv[2], os.O_RDONLY) for _ in range(200)]
socket.send_fds(s, [b"FDSTORE=1\nFDNAME=many"], many)
s.send(b"READY=1")
`, marker)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python: %v: %s", err, out)
	}
	if m := s.next(t); m.Err != nil || m.Fds != 10 {
		t.Errorf("ten fds: got %+v, want 10 fds and no error", m)
	}
	m := s.next(t)
	if !errors.Is(m.Err, notify.ErrMalformed) || m.Fds > notify.MaxFds {
		t.Errorf("200 fds: got %+v, want malformed with at most %d fds", m, notify.MaxFds)
	}
	t.Logf("of 200 fds sent, %d arrived with MSG_CTRUNC", m.Fds)
	if m := s.next(t); !m.Ready {
		t.Errorf("after the fds: got %+v, want READY=1", m)
	}
	// The READY=1 handler has run, so the earlier datagrams' fds are closed.
	after, onMarker := fdsTo(t, marker)
	if onMarker != 0 || after != before {
		t.Errorf("fds: %d before, %d after, %d still open on the marker; want equal counts and 0", before, after, onMarker)
	}
}

// TestOtherUser: a 0600 socket refuses a sender of another uid; chowned to that
// uid, it accepts, and Uid names the sender.
func TestOtherUser(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Skip("needs root to run a sender as another user")
	}
	const sysPython = "/usr/bin/python3"
	if _, err := os.Stat(sysPython); err != nil {
		t.Skipf("no system python for another user: %v", err)
	}
	s := serve(t, nil)
	if err := os.Chmod(filepath.Dir(s.l.Path()), 0o711); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	send := func() (string, error) {
		cmd := python(t, s, `
import socket, sys
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", sys.argv[1])
except PermissionError:
    print("EACCES")
`)
		// The python3 on PATH may live where nobody cannot reach (a pyenv shim
		// under /root): use the system's.
		cmd.Path, cmd.Args[0], cmd.Dir = sysPython, sysPython, "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := send(); err != nil || out != "EACCES" {
		t.Fatalf("sender as uid %d to a 0600 root socket: %v %q, want EACCES", nobody, err, out)
	}
	if err := os.Chown(s.l.Path(), nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if out, err := send(); err != nil || out != "" {
		t.Fatalf("sender as uid %d to its chowned socket: %v %q", nobody, err, out)
	}
	if m := s.next(t); !m.Ready || m.Uid != nobody || m.Gid != nobody {
		t.Errorf("got %+v, want READY=1 from uid/gid %d", m, nobody)
	}
}

func TestListenPaths(t *testing.T) {
	t.Parallel()
	dir := shortDir(t)
	for _, p := range []string{"", "relative/notify", "@abstract", "/" + strings.Repeat("x", 107)} {
		if l, err := notify.Listen(p, nil); !errors.Is(err, notify.ErrBadPath) {
			if l != nil {
				l.Close()
			}
			t.Errorf("Listen(%q) = %v, want ErrBadPath", p, err)
		}
	}

	path := filepath.Join(dir, "notify")
	l, err := notify.Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket file: %v %v, want a socket with mode 0600", fi.Mode(), err)
	}
	if _, err := notify.Listen(path, nil); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Listen on a live socket: %v, want EADDRINUSE", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Close: %v, want it removed", err)
	}

	// A socket file left by a dead receiver (Go's unixgram Close does not unlink).
	dead, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	dead.Close()
	l, err = notify.Listen(path, nil)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l.Close()

	// Anything else at the path stays.
	if err := os.WriteFile(path, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := notify.Listen(path, nil); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Listen over a regular file: %v, want EADDRINUSE", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "mine" {
		t.Errorf("regular file after Listen: %q %v, want it untouched", b, err)
	}
}

// TestCloseLeavesOthersFile: Close removes only the socket its Listen created.
func TestCloseLeavesOthersFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(shortDir(t), "notify")
	l, err := notify.Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Close removed a file it did not create: %v", err)
	}
}

// TestServeContext: cancelling ctx ends Serve with ctx's error and leaves the
// socket open; a new Serve receives what was sent meanwhile; a second concurrent
// Serve is refused; after Close, Serve returns ErrClosed.
func TestServeContext(t *testing.T) {
	t.Parallel()
	l, err := notify.Listen(filepath.Join(shortDir(t), "notify"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	entered := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- l.Serve(ctx, func(notify.Message) { close(entered) })
	}()
	send := func(b string) {
		t.Helper()
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: l.Path(), Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	send("WATCHDOG=1")
	<-entered // the first Serve is running
	if err := l.Serve(ctx, func(notify.Message) {}); !errors.Is(err, notify.ErrServing) {
		t.Errorf("concurrent Serve: %v, want ErrServing", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve after cancel: %v, want context.Canceled", err)
	}
	send("READY=1")
	got := make(chan notify.Message, 1)
	go func() {
		done <- l.Serve(context.Background(), func(m notify.Message) { got <- m })
	}()
	select {
	case m := <-got:
		if !m.Ready || m.Pid != os.Getpid() {
			t.Errorf("after restart: %+v, want READY=1 from us", m)
		}
	case <-time.After(waitLimit):
		t.Fatal("second Serve received nothing")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, notify.ErrClosed) {
		t.Errorf("Serve after Close: %v, want ErrClosed", err)
	}
	if err := l.Serve(context.Background(), func(notify.Message) {}); !errors.Is(err, notify.ErrClosed) {
		t.Errorf("Serve on a closed Listener: %v, want ErrClosed", err)
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc      string
		watchdog time.Duration
		pid      int
		want     []string
	}{
		{"socket only", 0, 0, []string{"NOTIFY_SOCKET=/run/s"}},
		{"pid without watchdog is dropped", 0, 7, []string{"NOTIFY_SOCKET=/run/s"}},
		{"watchdog", 1500 * time.Millisecond, 0, []string{"NOTIFY_SOCKET=/run/s", "WATCHDOG_USEC=1500000"}},
		{"watchdog rounds up", time.Nanosecond, 0, []string{"NOTIFY_SOCKET=/run/s", "WATCHDOG_USEC=1"}},
		{"watchdog and pid", time.Second, 42,
			[]string{"NOTIFY_SOCKET=/run/s", "WATCHDOG_USEC=1000000", "WATCHDOG_PID=42"}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			if got := notify.Env("/run/s", tc.watchdog, tc.pid); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("Env = %q, want %q", got, tc.want)
			}
		})
	}
	in := []string{"PATH=/bin", "NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_USEC=5", "WATCHDOG_PID=1",
		"NOTIFY_SOCKETS=keep", "HOME=/root"}
	if got := strings.Join(notify.StripEnv(in), " "); got != "PATH=/bin NOTIFY_SOCKETS=keep HOME=/root" {
		t.Errorf("StripEnv = %q", got)
	}
}

// TestEnvReachesChild: what Env returns is what a child sees.
func TestEnvReachesChild(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sh", "-c", `printf '%s %s %s' "$NOTIFY_SOCKET" "$WATCHDOG_USEC" "${WATCHDOG_PID-unset}"`)
	cmd.Env = append(notify.StripEnv(append(os.Environ(), "WATCHDOG_PID=1")), notify.Env("/run/x", 3*time.Second, 0)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "/run/x " + strconv.Itoa(3000000) + " unset"; string(out) != want {
		t.Errorf("child saw %q, want %q", out, want)
	}
}

var _ io.Closer = (*notify.Listener)(nil)
