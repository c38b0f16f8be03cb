package worker_test

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSignalsReportsEachSignal(t *testing.T) {
	t.Parallel()
	p := startWorker(t, "signals", "--exit-on", "USR2", "--code", "5")
	p.stdout.expect(t, "ready")
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGWINCH, syscall.SIGTSTP} {
		if err := syscall.Kill(p.pid(), sig); err != nil {
			t.Fatal(err)
		}
		p.stdout.expect(t, "got "+unix.SignalName(sig))
	}
	if err := syscall.Kill(p.pid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	p.stdout.expect(t, "got SIGUSR2")
	p.stdout.expectEOF(t)
	p.waitCode(t, 5)
}

// The orphans outlive the worker, are re-parented to this process (a subreaper,
// see TestMain) and end by themselves once the worker is gone.
func TestOrphansOutliveTheirParent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc  string
		args []string
	}{
		{doc: "same group", args: []string{"--count", "5", "--exit", "3"}},
		{doc: "own sessions", args: []string{"--count", "3", "--exit", "3", "--setsid"}},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			p := startWorker(t, append([]string{"orphans"}, tc.args...)...)
			var pids []int
			for {
				line := p.stdout.next(t)
				if strings.HasPrefix(line, "orphans ") {
					if line != fmt.Sprintf("orphans %d started", len(pids)) {
						t.Fatalf("got %q after %d orphans", line, len(pids))
					}
					break
				}
				pid, err := strconv.Atoi(strings.TrimPrefix(line, "orphan "))
				if err != nil {
					t.Fatalf("got line %q, want \"orphan PID\"", line)
				}
				pids = append(pids, pid)
			}
			p.waitCode(t, 3)
			for _, pid := range pids {
				// The worker is reaped, so pid is our child now (or was: reap
				// blocks until it ends).
				ws := reap(t, pid)
				if !ws.Exited() || ws.ExitStatus() != 0 {
					t.Errorf("orphan %d: wait status %#x, want exit 0", pid, ws)
				}
			}
		})
	}
}

func TestInitWorkersBadArgs(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"orphans", "--count", "0"},
		{"orphans", "extra"},
		{"linger", "x"},
		{"reap-check"},
		{"signals", "--exit-on", "NOPE"},
		{"signals", "--code", "256"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			p := startWorker(t, args...)
			p.stderr.expectEOF(t)
			p.waitCode(t, 2)
		})
	}
}
