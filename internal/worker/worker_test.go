package worker_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/worker"
)

// waitLimit bounds every wait for a line, an EOF or an exit. It is a failure
// deadline, never a synchronisation delay.
const waitLimit = time.Minute

func TestMain(m *testing.M) {
	worker.Dispatch() // re-executed as worker.Arg0: run the worker and exit

	// Grandchildren orphaned by a killed worker are reparented to this process,
	// so tests reap them by pid with wait4. Nothing here calls wait4(-1): os/exec
	// waits only for its own children.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "set child subreaper: %v\n", err)
		os.Exit(1)
	}
	// No core files from --signal-self SEGV or ABRT (inherited by workers).
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		fmt.Fprintf(os.Stderr, "set RLIMIT_CORE: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestNames(t *testing.T) {
	t.Parallel()
	if names := worker.Names(); !slices.Contains(names, "child") {
		t.Fatalf("Names() = %q, want it to contain \"child\"", names)
	}
}

// TestRun runs the worker in this process: only cases that end at once and
// start nothing.
func TestRun(t *testing.T) {
	t.Parallel()
	started := fmt.Sprintf("child %d started\n", os.Getpid())
	tests := []struct {
		doc        string
		name       string
		args       []string
		wantCode   int
		wantStdout string // exact; empty for the errors
		wantStderr string // substring
	}{
		{doc: "unknown worker", name: "nope", wantCode: 2, wantStderr: `unknown worker "nope"`},
		{doc: "bad flag", args: []string{"--bogus"}, wantCode: 2, wantStderr: "flag provided but not defined: -bogus"},
		{doc: "bad duration", args: []string{"--run", "soon"}, wantCode: 2, wantStderr: "invalid value"},
		{doc: "help", args: []string{"-h"}, wantCode: 0, wantStderr: "-grandchild-setsid"},
		{doc: "positional argument", args: []string{"--run", "0s", "extra"}, wantCode: 2, wantStderr: `unexpected argument "extra"`},
		{doc: "exit code too big", args: []string{"--run", "0s", "--exit", "256"}, wantCode: 2, wantStderr: "outside 0..255"},
		{doc: "negative exit code", args: []string{"--run", "0s", "--exit", "-1"}, wantCode: 2, wantStderr: "outside 0..255"},
		{doc: "negative run", args: []string{"--run", "-1s"}, wantCode: 2, wantStderr: "negative"},
		{doc: "negative tick", args: []string{"--tick", "-1s"}, wantCode: 2, wantStderr: "negative"},
		{doc: "unknown signal", args: []string{"--run", "0s", "--signal-self", "NOPE"}, wantCode: 2, wantStderr: `unknown signal "NOPE"`},
		{doc: "signal that does not kill", args: []string{"--run", "0s", "--signal-self", "CHLD"}, wantCode: 2, wantStderr: "does not end a process"},
		{doc: "exit without run", args: []string{"--exit", "3"}, wantCode: 2, wantStderr: "need --run"},
		{doc: "signal-self without run", args: []string{"--signal-self", "KILL"}, wantCode: 2, wantStderr: "need --run"},
		{doc: "exit with signal-self", args: []string{"--run", "0s", "--exit", "3", "--signal-self", "KILL"}, wantCode: 2, wantStderr: "exclude each other"},
		{doc: "stderr-tick without tick", args: []string{"--stderr-tick"}, wantCode: 2, wantStderr: "needs --tick"},
		{doc: "hold-stdout without grandchild", args: []string{"--hold-stdout"}, wantCode: 2, wantStderr: "needs --grandchild"},
		{doc: "run 0s exits at once with --exit", args: []string{"--run", "0s", "--exit", "3"}, wantCode: 3, wantStdout: started},
		{doc: "run 0s exits 0 by default", args: []string{"--run", "0s"}, wantCode: 0, wantStdout: started},
		{doc: "ready line comes before the end", args: []string{"--run", "0", "--exit", "4", "--ready-line"}, wantCode: 4, wantStdout: started + "ready\n"},
		{doc: "run elapses", args: []string{"--run", "1ms", "--exit", "5"}, wantCode: 5, wantStdout: started},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			name := tc.name
			if name == "" {
				name = "child"
			}
			var stdout, stderr bytes.Buffer
			code := worker.Run(name, tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("Run(%q, %q) = %d, want %d; stderr:\n%s", name, tc.args, code, tc.wantCode, stderr.String())
			}
			if got := stdout.String(); got != tc.wantStdout {
				t.Errorf("stdout = %q, want %q", got, tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

// lines delivers the lines read from r until EOF, then closes c.
type lines struct {
	c    chan string
	seen []string // every line received so far, for failure messages
}

func readLines(t *testing.T, r *os.File) *lines {
	t.Helper()
	l := &lines{c: make(chan string)}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(l.c)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case l.c <- sc.Text():
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		r.Close() // unblocks a Read held up by a grandchild still holding the write end
		wg.Wait()
	})
	return l
}

// next returns the next line; it fails the test at EOF or after waitLimit.
func (l *lines) next(t *testing.T) string {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case s, ok := <-l.c:
		if !ok {
			t.Fatalf("EOF; lines so far: %q", l.seen)
		}
		l.seen = append(l.seen, s)
		return s
	case <-timer.C:
		t.Fatalf("no line after %v; lines so far: %q", waitLimit, l.seen)
		return ""
	}
}

// expect skips lines until one equals want.
func (l *lines) expect(t *testing.T, want string) {
	t.Helper()
	for l.next(t) != want {
	}
}

// expectEOF fails unless the remaining lines end in EOF within waitLimit.
func (l *lines) expectEOF(t *testing.T) {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		select {
		case s, ok := <-l.c:
			if !ok {
				return
			}
			l.seen = append(l.seen, s)
		case <-timer.C:
			t.Fatalf("no EOF after %v; lines so far: %q", waitLimit, l.seen)
		}
	}
}

// proc is a worker re-executed from the test binary.
type proc struct {
	cmd    *exec.Cmd
	stdout *lines
	stderr *lines
	extra  *lines // read end of the worker's fd 3

	waitOnce sync.Once
	waitErr  error
}

// startWorker re-executes the test binary as worker.Arg0 with argv[1:] =
// args, in its own process group. Its fd 3 is the write end of a pipe whose
// read end is p.extra. A cleanup kills the group and waits.
func startWorker(t *testing.T, args ...string) *proc {
	t.Helper()
	// Each *W end goes to the worker; the test keeps each *R end.
	stdoutR, stdoutW := pipe(t)
	stderrR, stderrW := pipe(t)
	extraR, extraW := pipe(t)
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: append([]string{worker.Arg0}, args...),
		Dir:  t.TempDir(),
		// Under -race a worker would sleep 1s at exit (atexit_sleep_ms).
		Env:         append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")),
		Stdout:      stdoutW,
		Stderr:      stderrW,
		ExtraFiles:  []*os.File{extraW}, // fd 3
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err := cmd.Start()
	// The worker has its copies now (or never will): close ours so EOF can come.
	stdoutW.Close()
	stderrW.Close()
	extraW.Close()
	if err != nil {
		t.Fatalf("start %q: %v", cmd.Args, err)
	}
	p := &proc{cmd: cmd, stdout: readLines(t, stdoutR), stderr: readLines(t, stderrR), extra: readLines(t, extraR)}
	t.Cleanup(func() {
		p.killGroup(t)
		p.wait()
	})
	return p
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// killGroup sends SIGKILL to the worker's process group; a group already gone is fine.
func (p *proc) killGroup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-p.pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill process group %d: %v", p.pid(), err)
	}
}

// wait waits for the worker once; it is safe to call multiple times.
func (p *proc) wait() error {
	p.waitOnce.Do(func() { p.waitErr = p.cmd.Wait() })
	return p.waitErr
}

// waitSignaled fails unless the worker died by sig.
func (p *proc) waitSignaled(t *testing.T, sig syscall.Signal) {
	t.Helper()
	err := p.wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("wait: %v, want death by %v", err, sig)
	}
	ws := exitErr.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != sig {
		p.stderr.expectEOF(t)
		t.Fatalf("wait: %v, want death by %v; stderr: %q", err, sig, p.stderr.seen)
	}
}

// waitCode fails unless the worker exited with code.
func (p *proc) waitCode(t *testing.T, code int) {
	t.Helper()
	err := p.wait()
	if got := p.cmd.ProcessState.ExitCode(); got != code {
		p.stderr.expectEOF(t)
		t.Fatalf("wait: %v (exit code %d), want exit code %d; stderr: %q", err, got, code, p.stderr.seen)
	}
}

func TestDispatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc        string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{doc: "exit code", args: []string{"child", "--run", "0s", "--exit", "7"}, wantCode: 7},
		{doc: "missing worker name", args: nil, wantCode: 2, wantStderr: "missing worker name"},
		{doc: "unknown worker", args: []string{"nope"}, wantCode: 2, wantStderr: `unknown worker "nope"`},
		{doc: "bad flag", args: []string{"child", "--bogus"}, wantCode: 2, wantStderr: "flag provided but not defined: -bogus"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			p := startWorker(t, tc.args...)
			p.stderr.expectEOF(t)
			p.waitCode(t, tc.wantCode)
			if got := strings.Join(p.stderr.seen, "\n"); !strings.Contains(got, tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", got, tc.wantStderr)
			}
		})
	}
}

func TestSignalSelf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc  string
		args []string
		want syscall.Signal
	}{
		{doc: "KILL", args: []string{"--signal-self", "KILL"}, want: syscall.SIGKILL},
		{doc: "SEGV, which the Go runtime would turn into exit 2", args: []string{"--signal-self", "SEGV"}, want: syscall.SIGSEGV},
		{doc: "SIGABRT, full name", args: []string{"--signal-self", "SIGABRT"}, want: syscall.SIGABRT},
		{doc: "term, lower case, while SIGTERM is caught", args: []string{"--signal-self", "term"}, want: syscall.SIGTERM},
		{doc: "USR1, which the Go runtime would drop", args: []string{"--signal-self", "USR1"}, want: syscall.SIGUSR1},
	}
	for _, tc := range tests {
		for _, run := range []string{"0s", "1ms"} {
			t.Run(tc.doc+"/run "+run, func(t *testing.T) {
				t.Parallel()
				p := startWorker(t, append([]string{"child", "--run", run}, tc.args...)...)
				p.stdout.expect(t, fmt.Sprintf("child %d started", p.pid()))
				p.stdout.expectEOF(t)
				p.waitSignaled(t, tc.want)
			})
		}
	}
}

func TestStopOnSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			t.Parallel()
			p := startWorker(t, "child", "--ready-line")
			p.stdout.expect(t, "ready")
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			p.stdout.expect(t, "stopping on "+unix.SignalName(sig))
			p.stdout.expectEOF(t)
			p.waitCode(t, 0)
		})
	}
}

func TestIgnoreTerm(t *testing.T) {
	t.Parallel()
	p := startWorker(t, "child", "--ignore-term", "--ready-line")
	p.stdout.expect(t, "ready")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGTERM} {
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		// The worker logged it, so it handled it and did not stop.
		p.stderr.expect(t, "ignoring "+unix.SignalName(sig))
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.waitSignaled(t, syscall.SIGKILL) // not an exit of its own
	p.stdout.expectEOF(t)
	if slices.ContainsFunc(p.stdout.seen, func(s string) bool { return strings.HasPrefix(s, "stopping") }) {
		t.Errorf("stdout = %q, want no stopping line", p.stdout.seen)
	}
}

func TestTick(t *testing.T) {
	t.Parallel()
	p := startWorker(t, "child", "--tick", "1ms", "--stderr-tick")
	p.stdout.expect(t, fmt.Sprintf("child %d started", p.pid()))
	for n := 1; n <= 3; n++ {
		if got, want := p.stdout.next(t), fmt.Sprintf("tick %d", n); got != want {
			t.Fatalf("stdout line %q, want %q", got, want)
		}
		if got, want := p.stderr.next(t), fmt.Sprintf("[WARN] tick %d", n); got != want {
			t.Fatalf("stderr line %q, want %q", got, want)
		}
	}
}

func TestGrandchild(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc        string
		args       []string
		setsid     bool
		holdStdout bool
	}{
		{doc: "same group, stdout to /dev/null", args: []string{"--grandchild"}},
		{doc: "same group, holds stdout", args: []string{"--grandchild", "--hold-stdout"}, holdStdout: true},
		{doc: "own session", args: []string{"--grandchild-setsid"}, setsid: true},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			p := startWorker(t, append([]string{"child", "--ready-line"}, tc.args...)...)
			p.stdout.expect(t, fmt.Sprintf("child %d started", p.pid()))
			// With --hold-stdout the grandchild's own first line may come first.
			line := p.stdout.next(t)
			for tc.holdStdout && !strings.HasPrefix(line, "grandchild ") {
				line = p.stdout.next(t)
			}
			gpid, err := strconv.Atoi(strings.TrimPrefix(line, "grandchild "))
			if err != nil || !strings.HasPrefix(line, "grandchild ") {
				t.Fatalf("got line %q, want \"grandchild PID\"", line)
			}
			reaped := false
			// Runs before the worker's cleanup (LIFO). Once the worker is dead the
			// grandchild is our child, so wait4 can reap it. Until it is reaped its
			// pid cannot be reused, so killing it by pid is safe.
			t.Cleanup(func() {
				if reaped {
					return
				}
				syscall.Kill(gpid, syscall.SIGKILL)
				p.killGroup(t)
				p.wait()
				reap(t, gpid)
			})
			p.stdout.expect(t, "ready")
			gLine := fmt.Sprintf("child %d started", gpid)
			if tc.holdStdout && !slices.Contains(p.stdout.seen, gLine) {
				// The grandchild shares our stdout pipe: its first line proves it runs.
				p.stdout.expect(t, gLine)
			}

			pgid, err := unix.Getpgid(gpid)
			if err != nil {
				t.Fatalf("getpgid(grandchild %d): %v", gpid, err)
			}
			sid, err := unix.Getsid(gpid)
			if err != nil {
				t.Fatalf("getsid(grandchild %d): %v", gpid, err)
			}
			wantSid, err := unix.Getsid(0)
			if err != nil {
				t.Fatal(err)
			}
			wantPgid := p.pid() // the worker's group, in our session
			if tc.setsid {
				wantPgid, wantSid = gpid, gpid
			}
			if pgid != wantPgid || sid != wantSid {
				t.Fatalf("grandchild %d: pgid %d, sid %d; want pgid %d, sid %d", gpid, pgid, sid, wantPgid, wantSid)
			}

			p.killGroup(t)
			p.waitSignaled(t, syscall.SIGKILL)
			// The grandchild never had fd 3 (close-on-exec) and the worker is dead.
			p.extra.expectEOF(t)

			if !tc.setsid {
				// The group kill reached the grandchild too; it is ours to reap.
				ws := reap(t, gpid)
				reaped = true
				if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Errorf("grandchild %d: wait status %#x, want death by SIGKILL", gpid, ws)
				}
				p.stdout.expectEOF(t)
				return
			}
			// It escaped the group kill and now belongs to us, the subreaper.
			if !running(t, gpid) {
				t.Fatalf("grandchild %d ended, want it alive after the group kill", gpid)
			}
			// Alive, yet it holds neither our stdout nor stderr pipe.
			p.stdout.expectEOF(t)
			p.stderr.expectEOF(t)
			if err := syscall.Kill(gpid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill grandchild %d: %v", gpid, err)
			}
			ws := reap(t, gpid)
			reaped = true
			if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Errorf("grandchild %d: wait status %#x, want death by SIGKILL", gpid, ws)
			}
		})
	}
}

// running reports whether pid, a child of this process, has not ended yet,
// without reaping it.
func running(t *testing.T, pid int) bool {
	t.Helper()
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("waitid(%d): %v", pid, err)
		}
		return info.Signo == 0 // no child state change to report
	}
}

// reap blocks until pid, a child of this process, ends, and reaps it.
// ECHILD (nothing to reap) is reported as a zero status.
func reap(t *testing.T, pid int) unix.WaitStatus {
	t.Helper()
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil && !errors.Is(err, unix.ECHILD) {
			t.Errorf("wait4(%d): %v", pid, err)
		}
		return ws
	}
}
