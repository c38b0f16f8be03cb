package notify_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/notify"
)

// s6Child starts sh -c script with the write end of a notification pipe as fd 3
// and a handshake pipe as stdin, and WaitS6 on the read end in a goroutine. It
// returns the handshake's write end (the test writes a line to let the script's
// next `read` go on) and WaitS6's result.
func s6Child(t *testing.T, ctx context.Context, script string) (cmd *exec.Cmd, goOn *os.File, result <-chan error) {
	t.Helper()
	// readyW goes to the child as fd 3; readyR stays with us, for WaitS6.
	readyR, readyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// handR is the child's stdin; handW stays with us.
	handR, handW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("sh", "-c", script)
	cmd.Stdin = handR
	cmd.ExtraFiles = []*os.File{readyW} // fd 3
	err = cmd.Start()
	readyW.Close()
	handR.Close()
	if err != nil {
		readyR.Close()
		handW.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		handW.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	res := make(chan error, 1)
	go func() { res <- notify.WaitS6(ctx, readyR) }()
	return cmd, handW, res
}

func waitResult(t *testing.T, result <-chan error) error {
	t.Helper()
	select {
	case err := <-result:
		return err
	case <-time.After(waitLimit):
		t.Fatalf("WaitS6 did not return within %v", waitLimit)
		return nil
	}
}

// TestS6Ready: the child writes some bytes, waits for our go-ahead, then the
// newline. WaitS6 returns nil only after that, and closes the pipe behind it: the
// child's next write fails with SIGPIPE, as under s6-supervise. Not parallel: a
// process another test forks holds a copy of every fd (close-on-exec ones too)
// until it execs, and such a copy of the read end would let the write succeed.
func TestS6Ready(t *testing.T) {
	cmd, goOn, result := s6Child(t, context.Background(),
		`printf 'starting ' >&3; read x; printf 'up\n' >&3; read y; printf 'again\n' >&3; echo survived`)
	select {
	case err := <-result:
		t.Fatalf("WaitS6 returned %v before the child wrote its newline", err)
	default:
	}
	if _, err := goOn.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	if err := waitResult(t, result); err != nil {
		t.Fatalf("WaitS6: %v, want nil (ready)", err)
	}
	// WaitS6 has closed the read end: the second write kills the shell.
	if _, err := goOn.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("child after writing to a closed notification fd: %v, want killed by SIGPIPE", err)
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGPIPE {
		t.Errorf("child: %v, want killed by SIGPIPE", err)
	}
}

func TestS6Results(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc    string
		script string
		want   error
	}{
		{"newline only", `printf '\n' >&3`, nil},
		{"garbage, then a newline", `printf 'not yet\000\377 ' >&3; printf 'ready\n' >&3`, nil},
		{"a MiB before the newline is read and dropped", `head -c 1048576 /dev/zero >&3; printf '\n' >&3`, nil},
		{"bytes after the newline do not matter", `printf 'a\nb' >&3; sleep 0 >&3`, nil},
		{"EOF without a newline", `printf 'almost' >&3`, notify.ErrNotReady},
		{"EOF with nothing written", `exit 0`, notify.ErrNotReady},
		{"the child dies", `kill -KILL $$`, notify.ErrNotReady},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			_, _, result := s6Child(t, context.Background(), tc.script)
			if err := waitResult(t, result); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("WaitS6 = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestS6Cancel: cancelling ctx ends a wait on a child that holds the fd open and
// says nothing; a ctx already done returns at once. Either way the read end is
// closed.
func TestS6Cancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	_, goOn, result := s6Child(t, ctx, `read x`)
	cancel()
	if err := waitResult(t, result); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitS6 after cancel = %v, want context.Canceled", err)
	}
	goOn.Close()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := notify.WaitS6(ctx, r); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitS6 with a done ctx = %v, want context.Canceled", err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read end after WaitS6: %v, want closed", err)
	}
}
