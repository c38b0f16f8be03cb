package compare

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// The performance rows: start-up, memory, round trip, throughput.

// measureStartup starts c.workers workers, then stops and starts each once more
// on its own, timing Supervisor.Start until the worker's Ready (state running).
func measureStartup(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (Cell, error) {
	specs, names := workerSpecs(c.workers, kind)
	h, err := serveRunning(ctx, c, specs...)
	if err != nil {
		return Cell{}, err
	}
	defer h.close()
	lat := make([]time.Duration, 0, len(names))
	for _, name := range names {
		if err := h.sup.Stop(ctx, name); err != nil {
			return Cell{}, fmt.Errorf("stop %s: %w", name, err)
		}
		t0 := time.Now()
		if err := h.sup.Start(ctx, name); err != nil {
			return Cell{}, fmt.Errorf("start %s: %w", name, err)
		}
		if _, err := h.waitEvent(ctx, 2, name, supervise.StateRunning); err != nil {
			return Cell{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	m := median(lat)
	return Cell{Text: fmt.Sprintf("%s median of %d", dur(m), len(lat)), Value: m.Seconds(), Unit: "s"}, nil
}

// measureMemory runs c.workers workers at once. In this process it measures the
// growth of live heap and goroutine stacks (after a GC, before and after) per
// worker: the whole cost of a goroutine worker, and the supervisor's share of a
// process worker (pipes, readers, bookkeeping). For a process it adds the
// worker process's own proportional set size (PSS: shared pages divided among
// the processes that map them) from /proc/PID/smaps_rollup, and shows its RSS.
func measureMemory(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (Cell, error) {
	specs, names := workerSpecs(c.workers, kind)
	before := liveBytes()
	h, err := serveRunning(ctx, c, specs...)
	if err != nil {
		return Cell{}, err
	}
	defer h.close()
	inSup := max(liveBytes()-before, 0) / int64(len(names))
	if kind == supervise.SpawnGoroutine {
		return Cell{Text: fmt.Sprintf("%s (heap + stack, in the supervisor)", bytesText(inSup)), Value: float64(inSup), Unit: "B"}, nil
	}
	var pss, rss int64
	for _, name := range names {
		st, err := h.status(ctx, name)
		if err != nil {
			return Cell{}, err
		}
		if st.Pid == 0 {
			return Cell{}, fmt.Errorf("worker %s has no pid", name)
		}
		p, r, err := smapsRollup(st.Pid)
		if err != nil {
			return Cell{}, err
		}
		pss += p
		rss += r
	}
	pss /= int64(len(names))
	rss /= int64(len(names))
	return Cell{Text: fmt.Sprintf("%s PSS (RSS %s) + %s in the supervisor", bytesText(pss), bytesText(rss), bytesText(inSup)),
		Value: float64(pss + inSup), Unit: "B"}, nil
}

// measureRoundTrip sends c.requests echo requests to one worker, one at a time,
// after a warm-up, and reports the median.
func measureRoundTrip(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (Cell, error) {
	h, err := serveOneWorker(ctx, c, kind)
	if err != nil {
		return Cell{}, err
	}
	defer h.close()
	for range min(100, c.requests) {
		if _, err := h.request(ctx, "w", "echo", "warm-up"); err != nil {
			return Cell{}, err
		}
	}
	lat := make([]time.Duration, 0, c.requests)
	for range c.requests {
		t0 := time.Now()
		if _, err := h.request(ctx, "w", "echo", "ping"); err != nil {
			return Cell{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	m := median(lat)
	return Cell{Text: fmt.Sprintf("%s median of %d", dur(m), len(lat)), Value: m.Seconds(), Unit: "s"}, nil
}

// throughputClients is how many goroutines send requests at once in the
// throughput row.
const throughputClients = 4

// measureThroughput sends c.requests echo requests to one worker from
// throughputClients goroutines at once and divides by the wall time.
func measureThroughput(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (Cell, error) {
	h, err := serveOneWorker(ctx, c, kind)
	if err != nil {
		return Cell{}, err
	}
	defer h.close()
	per := max(c.requests/throughputClients, 1)
	errs := make(chan error, throughputClients)
	var wg sync.WaitGroup
	t0 := time.Now()
	for range throughputClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if _, err := h.request(ctx, "w", "echo", "ping"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	close(errs)
	if err := <-errs; err != nil {
		return Cell{}, err
	}
	n := per * throughputClients
	rate := float64(n) / elapsed.Seconds()
	return Cell{Text: fmt.Sprintf("%s req/s (%d requests, %d clients)", rateText(rate), n, throughputClients), Value: rate, Unit: "req/s"}, nil
}

// workerSpecs are n trouble workers of kind, named w0, w1, ...
func workerSpecs(n int, kind supervise.SpawnerKind) ([]supervise.Spec, []string) {
	specs := make([]supervise.Spec, n)
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("w%d", i)
		specs[i] = troubleSpec(names[i], kind)
	}
	return specs, names
}

// liveBytes is this process's live heap plus goroutine stacks, after garbage
// collection. Three cycles: an object with a finalizer (an *os.File of a pipe)
// outlives the first, and sync.Pool keeps a victim cache through one more.
func liveBytes() int64 {
	for range 3 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

// smapsRollup reads the Pss and Rss lines of /proc/PID/smaps_rollup, in bytes.
func smapsRollup(pid int) (pss, rss int64, err error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, 0, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kib, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Pss:":
			pss = kib * 1024
		case "Rss:":
			rss = kib * 1024
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	if pss == 0 || rss == 0 {
		return 0, 0, fmt.Errorf("memory of pid %d: no Pss or Rss in smaps_rollup", pid)
	}
	return pss, rss, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// dur rounds d to three significant figures or so, for the table.
func dur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func bytesText(b int64) string {
	switch {
	case b < 1<<10:
		return fmt.Sprintf("%d B", b)
	case b < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func rateText(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

// serveOneWorker serves one trouble worker "w" of kind and returns once it
// runs; the caller closes h.
func serveOneWorker(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (*harness, error) {
	return serveRunning(ctx, c, troubleSpec("w", kind))
}
