package supervise_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// waitInFlight polls Status until program name has n requests in flight. Request
// counts a request before it sends it, from the caller's goroutine: there is no
// event to wait on, so this polls with backoff under a deadline.
func (rn *running) waitInFlight(t *testing.T, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d := time.Millisecond; ; d = min(2*d, 50*time.Millisecond) {
		if rn.status(t, name).InFlight == n {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s never had %d requests in flight (has %d); goroutines:\n%s", name, n, rn.status(t, name).InFlight, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(d) // polling a counter under a deadline, not synchronising
	}
}

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	plain := spec("plain", supervise.SpawnExec, "--tick", "1h")
	slow := pspec("slow", supervise.SpawnExec, "--never-ready")
	rn := serve(t, group(supervise.OneForOne, plain, slow))
	rn.rec.waitEvent(t, 1, is("plain", supervise.StateRunning))
	rn.rec.waitEvent(t, 1, is("slow", supervise.StateStarting))
	ctx := context.Background()
	for _, tc := range []struct {
		doc, name string
		want      error
	}{
		{"unknown program", "nope", supervise.ErrNoSuchProgram},
		{"not a protocol program", "plain", supervise.ErrNotProtocol},
		{"protocol program not ready yet", "slow", supervise.ErrNotReady},
	} {
		if _, err := rn.sup.Request(ctx, tc.name, "echo", nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: Request: %v, want %v", tc.doc, err, tc.want)
		}
	}
	for _, tc := range []struct {
		doc, pattern string
		want         error
	}{
		{"nothing matches", "nope-*", supervise.ErrNoSuchProgram},
		{"only non-protocol programs match", "pl*", supervise.ErrNotProtocol},
		{"no match is ready", "s*", supervise.ErrNotReady},
		{"bad pattern", "w[", path.ErrBadPattern},
	} {
		if _, _, err := rn.sup.RequestAny(ctx, tc.pattern, "echo", nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: RequestAny: %v, want %v", tc.doc, err, tc.want)
		}
	}
}

// A pool: three ready workers of two kinds (processes and a goroutine), one
// protocol worker that never gets ready, and one program that speaks no
// protocol. Requests go to every ready worker and never to the others.
func TestRequestAnySpreadsOverReadyWorkers(t *testing.T) {
	t.Parallel()
	rn := serve(t, group(supervise.OneForOne,
		pspec("w-1", supervise.SpawnExec),
		pspec("w-2", supervise.SpawnReexec),
		kspec("w-3", supervise.SpawnGoroutine),
		pspec("w-starting", supervise.SpawnExec, "--never-ready"),
		spec("w-plain", supervise.SpawnExec, "--tick", "1h"),
		pspec("other", supervise.SpawnExec),
	))
	for _, n := range []string{"w-1", "w-2", "w-3", "other"} {
		rn.rec.waitEvent(t, 1, is(n, supervise.StateRunning))
	}
	ctx := context.Background()
	got := map[string]int{}
	for i := range 30 {
		payload := []byte(strings.Repeat("x", i))
		name, body, err := rn.sup.RequestAny(ctx, "w-*", "hash", payload)
		sum := sha256.Sum256(payload)
		if err != nil || string(body) != hex.EncodeToString(sum[:]) {
			t.Fatalf("hash %d via w-*: %q from %q, %v", i, body, name, err)
		}
		got[name]++
	}
	for _, n := range []string{"w-1", "w-2", "w-3"} {
		if got[n] == 0 {
			t.Errorf("%s got no request: %v", n, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("requests went to %v, want w-1, w-2 and w-3 only", got)
	}
}

// The least busy worker is chosen: while one worker holds a long request, the
// others get every new one; and a request in flight when its worker is killed
// returns an error instead of hanging.
func TestRequestAnyLeastBusyAndWorkerDeath(t *testing.T) {
	t.Parallel()
	a := pspec("pool-a", supervise.SpawnExec)
	a.StartRetries, a.MaxRestarts = 100, 0
	rn := serve(t, group(supervise.OneForOne, a, pspec("pool-b", supervise.SpawnExec)))
	rn.rec.waitEvent(t, 1, is("pool-a", supervise.StateRunning))
	rn.rec.waitEvent(t, 1, is("pool-b", supervise.StateRunning))

	// A sleep to pool-a directly, in flight until pool-a is killed.
	type result struct {
		body []byte
		err  error
	}
	slept := make(chan result, 1)
	go func() {
		b, err := rn.sup.Request(context.Background(), "pool-a", "sleep", []byte("1h"))
		slept <- result{b, err}
	}()
	rn.waitInFlight(t, "pool-a", 1)
	for i := range 10 {
		name, _, err := rn.sup.RequestAny(context.Background(), "pool-*", "echo", []byte("hi"))
		if err != nil || name != "pool-b" {
			t.Fatalf("request %d while pool-a is busy went to %q (%v), want pool-b", i, name, err)
		}
	}

	// Killing pool-a ends its request with an error that says so.
	rn.kill(t, "pool-a")
	select {
	case r := <-slept:
		if r.err == nil || !strings.Contains(r.err.Error(), "ended") {
			t.Errorf("request in flight to a killed worker: %q, %v; want an error saying it ended", r.body, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a request in flight to a killed worker hangs")
	}
	rn.waitInFlight(t, "pool-a", 0)
	rn.rec.waitEvent(t, 2, is("pool-a", supervise.StateRunning))
}
