package supervise_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// pspec is a protocol program running the child worker with --protocol.
func pspec(name string, kind supervise.SpawnerKind, args ...string) supervise.Spec {
	s := spec(name, kind, append([]string{"--protocol", "--heartbeat", "50ms"}, args...)...)
	s.Protocol = true
	s.StartTimeout = 10 * time.Second
	s.HeartbeatTimeout = 5 * time.Second
	return s
}

func TestProtocolRunningOnlyAfterReady(t *testing.T) {
	t.Parallel()
	for _, kind := range supervise.Spawners {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			rn := serve(t, group(supervise.OneForOne, pspec("p", kind, "--slow-start", "100ms")))
			start := rn.rec.waitEvent(t, 1, is("p", supervise.StateStarting))
			running := rn.rec.waitEvent(t, 1, is("p", supervise.StateRunning))
			if d := running.Time.Sub(start.Time); d < 100*time.Millisecond {
				t.Errorf("running %s after start, before the child's Ready (it waits 100ms)", d)
			}
			body, err := rn.sup.Request(context.Background(), "p", "echo", []byte("hello"))
			if err != nil || string(body) != "hello" {
				t.Fatalf("echo: %q, %v", body, err)
			}
			// Graceful stop over the pipe: no signal needed.
			rn.stop(t)
			rn.rec.waitLine(t, "stopping on request")
			if st := rn.status(t, "p"); st.LastExit == nil || st.LastExit.Code != 0 {
				t.Errorf("last exit %v, want exit status 0 after a stop request", st.LastExit)
			}
		})
	}
}

// A program that never says Hello (it does not speak the protocol at all) is
// told apart from one that greets and then never gets ready.
func TestProtocolNoHandshake(t *testing.T) {
	t.Parallel()
	s := pspec("mute", supervise.SpawnExec)
	s.Command = []string{"/bin/sleep", "30"}
	s.StartTimeout = 200 * time.Millisecond
	s.StartRetries = 0
	rn := serve(t, group(supervise.OneForOne, s))
	rn.wait(t)
	rn.rec.waitLine(t, "no handshake (Hello on fd 3) within start_timeout 200ms", "protocol = true")
}

func TestProtocolStartTimeout(t *testing.T) {
	t.Parallel()
	s := pspec("silent", supervise.SpawnExec, "--never-ready")
	s.StartTimeout = 200 * time.Millisecond
	s.StartRetries = 0
	rn := serve(t, group(supervise.OneForOne, s))
	rn.wait(t) // fatal after one failed start: nothing left to run
	st := rn.status(t, "silent")
	if st.State != supervise.StateFatal {
		t.Fatalf("state %s, want fatal after a start timeout", st.State)
	}
	// "no ready within start_timeout", or on a loaded machine "no handshake
	// (Hello on fd 3) within start_timeout": either way, the timeout ended it.
	rn.rec.waitLine(t, "within start_timeout 200ms")
	if got := rn.rec.transitions("silent"); len(got) != 2 || got[0] != supervise.StateStarting {
		t.Errorf("transitions %v, want starting then fatal (never running)", got)
	}
}

func TestProtocolHungWorkersAreRestarted(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"--hang", "--deadlock"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := pspec("stuck", supervise.SpawnReexec, mode)
			s.HeartbeatTimeout = 300 * time.Millisecond
			s.StopGrace = 200 * time.Millisecond
			s.MaxRestarts = 0
			rn := serve(t, group(supervise.OneForOne, s))
			rn.rec.waitEvent(t, 1, is("stuck", supervise.StateRunning))
			// The stop sequence: over the pipe first, then the stop signal.
			rn.rec.waitLine(t, "ending the program's run", "no heartbeat for 300ms", "stop request over the pipe")
			rn.rec.waitLine(t, "stuck", "still running after the stop request; signalling")
			e := rn.rec.waitEvent(t, 1, is("stuck", supervise.StateBackoff))
			if e.Exit == nil {
				t.Fatalf("backoff without an exit: %+v", e)
			}
			rn.rec.waitEvent(t, 2, is("stuck", supervise.StateRunning)) // restarted, ready again
		})
	}
}

func TestProtocolGarbageIsOneChildsProblem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ mode, want string }{
		{"--garbage", "malformed"},
		{"--oversized", "exceeds"},
		{"--exit-mid-frame", "truncated"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			bad := pspec("bad", supervise.SpawnExec, tc.mode)
			bad.MaxRestarts = 0
			bad.StartRetries = 1000
			rn := serve(t, group(supervise.OneForOne, pspec("good", supervise.SpawnExec), bad))
			line := rn.rec.waitLine(t, "test.bad", "protocol error")
			if !strings.Contains(strings.ToLower(line), tc.want) {
				t.Errorf("protocol error line %q does not say %q", line, tc.want)
			}
			rn.rec.waitEvent(t, 2, is("bad", supervise.StateStarting)) // restarted as a failed start
			// The other child is served all along.
			rn.rec.waitEvent(t, 1, is("good", supervise.StateRunning))
			if body, err := rn.sup.Request(context.Background(), "good", "echo", []byte("still here")); err != nil || string(body) != "still here" {
				t.Fatalf("echo to the good child: %q, %v", body, err)
			}
		})
	}
}

func TestProtocolRequestsAcrossRestarts(t *testing.T) {
	t.Parallel()
	s := pspec("w", supervise.SpawnForkExec)
	s.MaxRestarts = 0
	rn := serve(t, group(supervise.OneForOne, s))
	rn.rec.waitEvent(t, 1, is("w", supervise.StateRunning))
	ctx := context.Background()
	sum := sha256.Sum256([]byte("payload"))
	if body, err := rn.sup.Request(ctx, "w", "hash", []byte("payload")); err != nil || string(body) != hex.EncodeToString(sum[:]) {
		t.Fatalf("hash: %q, %v", body, err)
	}
	// A request in flight when the worker dies gets an error, not a hang.
	if _, err := rn.sup.Request(ctx, "w", "crash", nil); err == nil || !strings.Contains(err.Error(), "ended") {
		t.Fatalf("request to a worker that died: %v, want an error saying it ended", err)
	}
	rn.rec.waitEvent(t, 2, is("w", supervise.StateRunning))
	if body, err := rn.sup.Request(ctx, "w", "echo", []byte("again")); err != nil || string(body) != "again" {
		t.Fatalf("echo after the restart: %q, %v", body, err)
	}
	if _, err := rn.sup.Request(ctx, "nope", "echo", nil); err == nil {
		t.Error("request to an unknown program succeeded")
	}
}

// BenchmarkRequestRoundTrip: one echo request through Supervisor.Request to a
// worker process (pipes, a reader goroutine, the child's handler goroutine) and
// to the "service" worker run as a goroutine (kind goroutine: a handler
// goroutine and a channel), beside the bare round trip to a goroutine over
// channels: the cost of isolation.
func BenchmarkRequestRoundTrip(b *testing.B) {
	body := []byte("ping")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // as cmd/supervisor and its workers run (package procs)
	b.Run("goroutine-kind", func(b *testing.B) {
		sup, running := benchServe(b, kspec("echo", supervise.SpawnGoroutine))
		benchAwait(b, running)
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			if _, err := sup.Request(context.Background(), "echo", "echo", body); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		b.ReportMetric(float64(benchMedian(lat).Nanoseconds()), "median-ns/roundtrip")
	})
	b.Run("process", func(b *testing.B) {
		running := make(chan struct{}, 1)
		s := pspec("echo", supervise.SpawnReexec)
		sup, err := supervise.New(nil, group(supervise.OneForOne, s), supervise.Options{Workers: testWorkers, Reaper: testReaper,
			OnEvent: func(e supervise.Event) {
				if e.To == supervise.StateRunning {
					select {
					case running <- struct{}{}:
					default:
					}
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sup.Serve(ctx) }()
		defer func() { cancel(); <-done }()
		<-running
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			if _, err := sup.Request(context.Background(), "echo", "echo", body); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		b.ReportMetric(float64(benchMedian(lat).Nanoseconds()), "median-ns/roundtrip")
	})
	b.Run("goroutine", func(b *testing.B) {
		type req struct {
			body  []byte
			reply chan []byte
		}
		reqs := make(chan req)
		go func() {
			for r := range reqs {
				r.reply <- r.body
			}
		}()
		defer close(reqs)
		lat := make([]time.Duration, 0, b.N)
		reply := make(chan []byte, 1)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			reqs <- req{body, reply}
			<-reply
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		b.ReportMetric(float64(benchMedian(lat).Nanoseconds()), "median-ns/roundtrip")
	})
}
