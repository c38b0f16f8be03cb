package supervise_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// blocks checks that file holds, for every tag, its n lines in one unbroken run,
// and returns how many runs of lines from one tag the file has.
func runsOf(t *testing.T, path string) (map[string]int, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	count := map[string]int{}
	runs, last := 0, ""
	for _, l := range lines {
		tag := strings.Fields(l)[0]
		count[tag]++
		if tag != last {
			runs++
			last = tag
		}
	}
	return count, runs
}

// Many workers append to one file at once, each holding the lease "file"
// (limit 1): every worker's lines come out in one unbroken block, so no two
// ever held the lease at once. Workers of every kind (the "service" worker as
// goroutines, re-executed processes and exec'd processes) share the semaphore.
func TestLeaseMutualExclusion(t *testing.T) {
	t.Parallel()
	const workers, lines = 9, 200
	kinds := []supervise.SpawnerKind{supervise.SpawnGoroutine, supervise.SpawnReexec, supervise.SpawnExec}
	var specs []supervise.Spec
	for i := range workers {
		specs = append(specs, kspec(fmt.Sprintf("w%d", i), kinds[i%len(kinds)]))
	}
	rn := serve(t, group(supervise.OneForOne, specs...))
	for i := range workers {
		rn.rec.waitEvent(t, 1, is(fmt.Sprintf("w%d", i), supervise.StateRunning))
	}
	path := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("w%d", i)
			_, err := rn.sup.Request(ctx, name, "append", []byte(fmt.Sprintf("%s 1 %d %s", path, lines, name)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	count, runs := runsOf(t, path)
	if len(count) != workers || runs != workers {
		t.Errorf("%d workers' lines in %d runs, want %d unbroken runs: %v", len(count), runs, workers, count)
	}
	for tag, n := range count {
		if n != lines {
			t.Errorf("%s wrote %d lines, want %d", tag, n, lines)
		}
	}
}

// A worker that dies holding the lease frees it at once: the next worker gets
// it, and writes, well within the time the test gives it. The holder is a
// process (it exits) or a goroutine (it panics).
func TestLeaseReleasedWhenHolderDies(t *testing.T) {
	t.Parallel()
	for _, kind := range []supervise.SpawnerKind{supervise.SpawnReexec, supervise.SpawnGoroutine} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testLeaseHolderDies(t, kind)
		})
	}
}

func testLeaseHolderDies(t *testing.T, kind supervise.SpawnerKind) {
	holder := kspec("holder", kind)
	holder.Restart = supervise.RestartNever
	rn := serve(t, group(supervise.OneForOne, holder, pspec("next", supervise.SpawnForkExec)))
	rn.rec.waitEvent(t, 1, is("holder", supervise.StateRunning))
	rn.rec.waitEvent(t, 1, is("next", supervise.StateRunning))
	path := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := rn.sup.Request(ctx, "holder", "crash-holding", []byte(path+" holder")); err == nil {
		t.Fatal("crash-holding answered")
	}
	rn.rec.waitEvent(t, 1, is("holder", supervise.StateExited))
	rn.rec.waitLine(t, "lease released: its holder's run ended", "name=file")
	if _, err := rn.sup.Request(ctx, "next", "append", []byte(path+" 1 3 next")); err != nil {
		t.Fatalf("the next worker did not get the lease: %v", err)
	}
	count, _ := runsOf(t, path)
	if count["holder"] != 1 || count["next"] != 3 {
		t.Errorf("file: %v", count)
	}
}

// BenchmarkLeaseRoundTrip: a worker process acquires and releases a count-1
// lease b.N times over its pipes (Acquire -> state goroutine -> Lease ->
// Release). Target: median under 50us.
func BenchmarkLeaseRoundTrip(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // as cmd/supervisor runs (package procs)
	running := make(chan struct{}, 1)
	sup, err := supervise.New(nil, group(supervise.OneForOne, pspec("l", supervise.SpawnReexec)), supervise.Options{Workers: testWorkers, Reaper: testReaper,
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
	b.ResetTimer()
	out, err := sup.Request(context.Background(), "l", "lease-bench", []byte(strconv.Itoa(max(b.N, 10))))
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	var med, p90 float64
	if _, err := fmt.Sscanf(string(out), "median_ns %g p90_ns %g", &med, &p90); err != nil {
		b.Fatalf("%q: %v", out, err)
	}
	b.ReportMetric(med, "median-ns/lease")
	b.ReportMetric(p90, "p90-ns/lease")
}
