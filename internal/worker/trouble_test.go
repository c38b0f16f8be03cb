package worker_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/worker"
)

// troubleTestRun numbers the runs of TestTroubleRequests in this process.
var troubleTestRun atomic.Int64

// The trouble worker's harmless requests, against a fake Host. The fatal ones
// (fatal, exit) end the process, and are exercised through real processes by
// internal/compare's tests.
func TestTroubleRequests(t *testing.T) {
	t.Parallel()
	fn, ok := worker.Lookup("trouble")
	if !ok {
		t.Fatal("trouble is not a Func")
	}
	if !slices.Contains(worker.Names(), "trouble") {
		t.Error("trouble is not a process worker too")
	}
	h := newFakeHost()
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx, h, []string{"--heartbeat", "2ms"}) }()
	<-h.ready
	// The table is the package's, for the life of the process: keys of their
	// own per run (go test -count=N runs this again in the same process).
	n := troubleTestRun.Add(1)
	key, other := fmt.Sprintf("trouble-test-key-%d", n), fmt.Sprintf("trouble-test-other-%d", n)
	for _, tc := range []struct{ method, body, want string }{
		{"echo", "hi", "hi"},
		{"pid", "", strconv.Itoa(os.Getpid())},
		{"read", key, "pristine"},
		{"scribble", key, "scribbled"},
		{"read", key, "scribbled by fake"},
		{"read", other, "pristine"},
	} {
		if b, err := h.call(t, tc.method, []byte(tc.body)); err != nil || string(b) != tc.want {
			t.Errorf("%s %q: %q, %v; want %q", tc.method, tc.body, b, err, tc.want)
		}
	}
	if _, err := h.call(t, "nope", nil); err == nil || !strings.Contains(err.Error(), "unknown method") {
		t.Errorf("unknown method: %v", err)
	}
	if _, err := h.call(t, "exit", []byte("300")); err == nil {
		t.Error("exit 300 was accepted")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic did not panic")
			}
		}()
		_, _ = h.call(t, "panic", nil)
	}()
	cancel(worker.ErrStop)
	if err := <-done; err != nil {
		t.Fatalf("trouble returned %v after the stop, want nil", err)
	}
}

// After "deadlock" the main loop makes no more progress and does not return on
// the stop: the Func's goroutine is stuck for good (this test leaks it, on
// purpose, as a supervisor would).
func TestTroubleDeadlock(t *testing.T) {
	t.Parallel()
	fn, _ := worker.Lookup("trouble")
	h := newFakeHost()
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx, h, []string{"--heartbeat", "2ms"}) }()
	<-h.ready
	if b, err := h.call(t, "deadlock", nil); err != nil || string(b) != "deadlocking" {
		t.Fatalf("deadlock: %q, %v", b, err)
	}
	// The main loop took the request from its select: it deadlocks now. Its
	// Progress count must stop moving; compare two readings a few heartbeat
	// intervals apart, after the warning line was written (a causal event).
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.output(), "main loop deadlocking") {
		if time.Now().After(deadline) {
			t.Fatal("no deadlock warning")
		}
		time.Sleep(time.Millisecond) // polling under a deadline
	}
	n := h.progress.Load()
	timer := time.NewTimer(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("trouble returned %v while deadlocked", err)
	case <-timer.C:
	}
	if m := h.progress.Load(); m != n {
		t.Errorf("progress moved from %d to %d while deadlocked", n, m)
	}
	cancel(worker.ErrStop)
	timer.Reset(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("trouble returned %v on the stop while deadlocked", err)
	case <-timer.C:
	}
}

func TestTroubleBadArgs(t *testing.T) {
	t.Parallel()
	fn, _ := worker.Lookup("trouble")
	for _, args := range [][]string{{"--frobnicate"}, {"--heartbeat", "0s"}, {"extra"}} {
		h := newFakeHost()
		if err := fn(context.Background(), h, args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
