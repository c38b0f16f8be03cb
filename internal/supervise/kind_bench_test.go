package supervise_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// benchServe runs a Supervisor of specs for a benchmark and returns it with a
// channel that receives every "running" event's program name. The benchmark's
// cleanup stops it.
func benchServe(b *testing.B, specs ...supervise.Spec) (*supervise.Supervisor, <-chan string) {
	b.Helper()
	running := make(chan string, 16)
	sup, err := supervise.New(nil, group(supervise.OneForOne, specs...), supervise.Options{Workers: testWorkers, Reaper: testReaper,
		OnEvent: func(e supervise.Event) {
			if e.To == supervise.StateRunning {
				select {
				case running <- e.Program:
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
	b.Cleanup(func() { cancel(); <-done })
	return sup, running
}

func benchAwait(b *testing.B, running <-chan string) {
	b.Helper()
	select {
	case <-running:
	case <-time.After(benchTimeout):
		b.Fatal("timed out waiting for the worker's Ready")
	}
}

// BenchmarkKindStart is the time from Supervisor.Start to the worker's Ready
// (state running) for the same "service" worker under each kind, side by side: a
// goroutine in this process, this binary re-executed (/proc/self/exe), and this
// binary exec'ed through its supervisor-worker symlink; plus, when `make build`
// has built it, the smaller bin/child exec'ed. One op is one start; the stop
// between starts is not timed. median-ns/start is the median of the starts.
func BenchmarkKindStart(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // as cmd/supervisor runs (package procs)
	type variant struct {
		name string
		spec supervise.Spec
	}
	var vs []variant
	for _, kind := range supervise.Kinds {
		vs = append(vs, variant{string(kind), kspec("w", kind)})
	}
	if child, err := filepath.Abs("../../bin/child"); err == nil {
		if _, err := os.Stat(child); err == nil {
			s := kspec("w", supervise.SpawnExec)
			s.Command = append([]string{child}, s.Command[1:]...)
			vs = append(vs, variant{"exec-bin-child", s})
		}
	}
	for _, v := range vs {
		b.Run(v.name, func(b *testing.B) {
			// Started once and stopped by request, which holds it stopped and
			// keeps Serve running (with autostart off, Serve would end at once).
			sup, running := benchServe(b, v.spec)
			benchAwait(b, running)
			ctx := context.Background()
			if err := sup.Stop(ctx, "w"); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if err := sup.Start(ctx, "w"); err != nil {
					b.Fatal(err)
				}
				benchAwait(b, running)
				lat = append(lat, time.Since(t0))
				b.StopTimer()
				if err := sup.Stop(ctx, "w"); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(benchMedian(lat).Nanoseconds()), "median-ns/start")
		})
	}
}
