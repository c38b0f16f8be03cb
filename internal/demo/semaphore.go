package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/worker"
)

// semaphore: N worker processes append records of many lines to one file, each
// line its own write(2): without a lease the records interleave; with the
// supervisor's lease "file" (limit 1) each comes out whole; and when a worker
// dies holding the lease, the supervisor releases it at once (a POSIX named
// semaphore would stay taken). Every figure is read back from the file.
func semaphore(d *demo) error {
	const workers, lines = 4, 300
	dir, err := os.MkdirTemp("", "supervisor-demo-semaphore")
	if err != nil {
		return err
	}
	d.cleanups = append(d.cleanups, func() { os.RemoveAll(dir) })

	var specs []supervise.Spec
	for i := range workers + 1 {
		s := supervise.DefaultSpec()
		s.Name = fmt.Sprintf("w%d", i)
		if i == workers {
			s.Name = "doomed"
			s.Restart = supervise.RestartNever
		}
		s.Spawner = supervise.SpawnReexec
		s.Command = []string{"child", "--protocol", "--heartbeat", "1s"}
		s.Protocol, s.StartTimeout, s.HeartbeatTimeout = true, 10*time.Second, 10*time.Second
		s.MinUptime = 0
		specs = append(specs, s)
	}
	running := make(chan string, len(specs))
	sup, err := supervise.New(d.log, supervise.Group{Strategy: supervise.OneForOne, Programs: specs},
		supervise.Options{Workers: supervise.Catalogue{Reexec: worker.Names(), Funcs: worker.Funcs()}, Reaper: d.r, OnEvent: func(e supervise.Event) {
			if e.To == supervise.StateRunning {
				running <- e.Program
			}
		}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(d.ctx)
	served := make(chan error, 1)
	go func() { served <- sup.Serve(ctx) }()
	d.cleanups = append(d.cleanups, func() { cancel(); <-served })
	deadline := time.After(waitLimit)
	for range specs {
		select {
		case <-running:
		case <-deadline:
			return fmt.Errorf("%w: the workers did not become ready within %v", errCheck, waitLimit)
		case <-d.ctx.Done():
			return d.ctx.Err()
		}
	}
	d.say("demo semaphore: %d worker processes (supervisor pid %d) each append a record of %d lines to one", workers, d.self, lines)
	d.say("file, one write(2) per line, all at once. A record is whole if its lines are not interleaved with another's.")

	appendAll := func(path string, lease bool) (map[string]int, int, error) {
		flag := "0"
		if lease {
			flag = "1"
		}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("w%d", i)
				_, err := sup.Request(ctx, name, "append", []byte(fmt.Sprintf("%s %s %d %s", path, flag, lines, name)))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return nil, 0, err
			}
		}
		return readRuns(path)
	}

	d.beginStep("no lease: the workers write at the same time")
	count, runs, err := appendAll(filepath.Join(dir, "nolease"), false)
	if err != nil {
		return err
	}
	d.say("  fact file=nolease records=%d lines=%d runs=%d", len(count), sum(count), runs)
	d.say("  %d records came out in %d runs of lines from one writer: %s.", len(count), runs,
		map[bool]string{true: "interleaved", false: "this time, by luck, not interleaved"}[runs > workers])
	if err := d.endStep(); err != nil {
		return err
	}

	d.beginStep(`with the lease "file" (limit 1) held around each record`)
	count, runs, err = appendAll(filepath.Join(dir, "lease"), true)
	if err != nil {
		return err
	}
	d.say("  fact file=lease records=%d lines=%d runs=%d", len(count), sum(count), runs)
	if runs != workers || len(count) != workers {
		return fmt.Errorf("%w: with the lease, %d records came out in %d runs", errCheck, len(count), runs)
	}
	d.say("  %d records, %d runs: every record whole. The lease is granted by the supervisor over each", workers, runs)
	d.say("  worker's pipe; nothing is shared between the processes but the file.")
	if err := d.endStep(); err != nil {
		return err
	}

	d.beginStep("a worker dies holding the lease")
	path := filepath.Join(dir, "crash")
	if _, err := sup.Request(ctx, "doomed", "crash-holding", []byte(path+" doomed")); err == nil {
		return fmt.Errorf("%w: crash-holding answered", errCheck)
	}
	t0 := time.Now()
	reqCtx, reqCancel := context.WithTimeout(ctx, waitLimit)
	defer reqCancel()
	if _, err := sup.Request(reqCtx, "w0", "append", []byte(path+" 1 3 w0")); err != nil {
		return fmt.Errorf("%w: the next worker did not get the lease: %v", errCheck, err)
	}
	count, _, err = readRuns(path)
	if err != nil {
		return err
	}
	d.say("  fact file=crash doomed_lines=%d w0_lines=%d waited=%s", count["doomed"], count["w0"], time.Since(t0).Round(time.Millisecond))
	d.say("  \"doomed\" took the lease, wrote its first line and exited (status 3) without releasing it. The")
	d.say("  supervisor saw its run end and released its lease at once: w0 got it and wrote its 3 lines.")
	return d.endStep()
}

// readRuns counts each tag's lines in path and the runs of consecutive lines
// with one tag.
func readRuns(path string) (map[string]int, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	count := map[string]int{}
	runs, last := 0, ""
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		count[f[0]]++
		if f[0] != last {
			runs, last = runs+1, f[0]
		}
	}
	return count, runs, nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
