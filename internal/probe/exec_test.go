package probe_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/probe"
	"github.com/supervisor/supervisor/internal/procfs"
)

// osexecRunner is the tests' probe.Runner, built on os/exec. That is right only
// in a process where nothing else waits for children, as in this test binary;
// the supervisor's Runner goes through its reaper (see the package doc). Each
// command runs in its own process group, which is killed when ctx ends; the
// group's id is sent on started (when not nil) once the process runs.
type osexecRunner struct {
	started chan int
}

var _ probe.Runner = (*osexecRunner)(nil)

func (r *osexecRunner) Run(ctx context.Context, argv []string, output io.Writer) (int, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = output, output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a descendant holding the output pipe does not hold us
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	if r.started != nil {
		r.started <- cmd.Process.Pid
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

// groupGone waits until no process of process group pgid is left running.
// Killed grandchildren are re-parented to an init that reaps them when it
// will, so zombies count as gone, and this polls /proc, with backoff, under a
// generous deadline.
func groupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var left []string
		all, err := procfs.All()
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range all {
			if st.Pgrp == pgid && st.State != 'Z' && st.State != 'X' {
				left = append(left, fmt.Sprintf("%d %s %c", st.Pid, st.Comm, st.State))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still runs %v after %s", pgid, left, patience)
		}
		time.Sleep(wait) // polling the OS, not synchronising goroutines
	}
}

// forking returns a command that starts a grandchild (sleep 60) in its process
// group, says so by writing to a FIFO, then waits, and a function that blocks
// until it said so.
func forking(t *testing.T) (argv []string, forked func()) {
	t.Helper()
	fifo := t.TempDir() + "/forked"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	argv = []string{"sh", "-c", `sleep 60 & echo forked > "$0"; wait`, fifo}
	return argv, func() {
		t.Helper()
		read := make(chan error, 1)
		go func() { // opening a FIFO blocks until the writer opens it
			_, err := os.ReadFile(fifo)
			read <- err
		}()
		select {
		case err := <-read:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(patience):
			t.Fatal("the command did not start its grandchild")
		}
	}
}

func execSpec(argv ...string) probe.Spec {
	return fast(probe.Spec{Kind: probe.Exec, Argv: argv})
}

func TestExec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc    string
		argv   []string
		errStr string // "" for success
	}{
		{doc: "true", argv: []string{"true"}},
		{doc: "false", argv: []string{"false"}, errStr: `exec "false": exit status 1`},
		{doc: "last line of output", argv: []string{"sh", "-c", `echo first; echo "last words" >&2; echo; echo "  "; exit 3`},
			errStr: `exec "sh": exit status 3: last words`},
		{doc: "unterminated last line", argv: []string{"sh", "-c", `echo one; printf 'two\033'; exit 1`},
			errStr: "exit status 1: two?"},
		{doc: "signalled", argv: []string{"sh", "-c", `kill -TERM $$`}, errStr: "exit status 143"},
		{doc: "not found", argv: []string{"/nonexistent/probe"}, errStr: `exec "/nonexistent/probe": fork/exec /nonexistent/probe: no such file or directory`},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			st := start(t, probe.StartLive, execSpec(tc.argv...), &osexecRunner{})
			if r := st.next(t); tc.errStr == "" {
				wantOK(t, r, 1)
			} else {
				wantFail(t, r, 1, 1, false, tc.errStr)
			}
		})
	}
}

// The error keeps a bounded piece of the last line only.
func TestExecOutputBounded(t *testing.T) {
	t.Parallel()
	st := start(t, probe.StartLive, execSpec("sh", "-c", `head -c 100000 /dev/zero | tr '\0' x; exit 1`), &osexecRunner{})
	r := st.next(t)
	wantFail(t, r, 1, 1, false, "exit status 1: xxx")
	if line := r.Err.Error()[strings.Index(r.Err.Error(), "xxx"):]; len(line) != probe.MaxOutputLine+len("...") || !strings.HasSuffix(line, "x...") {
		t.Fatalf("kept %d bytes of output (%.20q...), want %d and an ellipsis", len(line), line, probe.MaxOutputLine)
	}
}

// A readiness probe over exec: fails until a file exists, then ready, then ends.
func TestExecReady(t *testing.T) {
	t.Parallel()
	flag := t.TempDir() + "/ready"
	st := start(t, probe.StartReady, execSpec("test", "-e", flag), &osexecRunner{})
	wantFail(t, st.next(t), 1, 1, false, "exit status 1")
	if err := exec.Command("touch", flag).Run(); err != nil { // no reaper in this test binary
		t.Fatal(err)
	}
	var r probe.Result
	for r = st.next(t); !r.OK; r = st.next(t) {
	}
	st.waitDone(t)
	st.noMore(t)
}

// A command that runs past the timeout is killed, with what it started, and
// the attempt fails with ErrTimeout.
func TestExecTimeout(t *testing.T) {
	t.Parallel()
	run := &osexecRunner{started: make(chan int, 4)}
	argv, forked := forking(t)
	s := execSpec(argv...)
	s.Timeout = time.Second
	st := start(t, probe.StartLive, s, run)
	pgid := receivePid(t, run.started)
	forked()
	r := st.next(t)
	wantFail(t, r, 1, 1, false, "probe: timed out after 1s")
	if !errors.Is(r.Err, probe.ErrTimeout) || r.Took < s.Timeout || r.Took > patience {
		t.Fatalf("result %+v: want ErrTimeout after about %s", r, s.Timeout)
	}
	groupGone(t, pgid)
}

// Stopping a probe kills the command in flight, with what it started; the
// attempt is not reported.
func TestExecStop(t *testing.T) {
	t.Parallel()
	run := &osexecRunner{started: make(chan int, 1)}
	argv, forked := forking(t)
	s := execSpec(argv...)
	s.Timeout = time.Minute
	st := start(t, probe.StartReady, s, run)
	pgid := receivePid(t, run.started)
	forked()
	st.stop(t) // Done: Runner.Run has returned, so the sh was reaped
	if err := syscall.Kill(pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the command's process %d is still there after Done (kill 0: %v)", pgid, err)
	}
	groupGone(t, pgid)
	st.noMore(t)
}

func receivePid(t *testing.T, started <-chan int) int {
	t.Helper()
	select {
	case pid := <-started:
		return pid
	case <-time.After(patience):
		t.Fatal("the command did not start")
		return 0
	}
}
