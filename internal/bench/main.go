// Command bench measures the supervisor against a bare Go os/exec loop in the same
// run and prints one table (`make bench`). Absolute times on shared machines drift
// by tens of percent between runs, so every figure that has a baseline is reported
// with the ratio to it, measured side by side: rounds alternate bare and
// supervisor, and each figure is the median over rounds.
//
// The bare loop and the supervisor cannot share a process (the supervisor's reaper
// owns every wait4 in its process, and the bare loop calls exec.Cmd.Wait), so each
// round runs in a fresh re-execution of this binary: `bench -mode NAME`.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/supervisor/supervisor/internal/procs"
	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/worker"
)

var (
	binDir     = flag.String("bin", "bin", "directory holding the supervisor and child binaries")
	mode       = flag.String("mode", "", "internal: run one measurement and print it")
	rounds     = flag.Int("rounds", 3, "rounds of each side-by-side measurement")
	restarts   = flag.Int("restarts", 200, "restarts per restart-latency round")
	many       = flag.Int("n", 500, "children for the cold start and stop measurements")
	spawns     = flag.Int("spawns", 200, "spawns per spawner in the spawn-cost measurement")
	idle       = flag.Duration("idle", 10*time.Second, "how long to count wake-ups of an idle supervisor")
	settle     = flag.Duration("settle", 5*time.Second, "how long to let an idle supervisor settle before counting wake-ups")
	big        = flag.Int("big", 1000, "children for the memory and idle measurements")
	killMode   = flag.String("kill-mode", "", "kill_mode of the benchmarked group: auto (the default), cgroup or group")
	mainThread = flag.Bool("main-thread", false, "supervisor side: Serve locked to the main thread, as run --upgradable")
	only       = flag.String("only", "", "run only this part: scale (N programs of sleep at N = 1,000 and 10,000), or upgrade (ctl upgrade's handover)")
)

// With -main-thread, the supervisor side runs Supervisor.Serve on the main
// goroutine locked to the main thread, as supervisor run --upgradable does
// (Options.MainThread: every fork on the thread an upgrade execs from); the
// lock can only be taken for sure in init, and main lets it go otherwise.
func init() { runtime.LockOSThread() }

func main() {
	flag.Parse()
	if !strings.HasPrefix(*mode, "sup-") || !*mainThread {
		runtime.UnlockOSThread()
	}
	child, err := filepath.Abs(filepath.Join(*binDir, "child"))
	check(err)
	if *mode != "" {
		runMode(*mode, child)
		return
	}
	sup, err := filepath.Abs(filepath.Join(*binDir, "supervisor"))
	check(err)
	for _, p := range []string{child, sup} {
		if _, err := os.Stat(p); err != nil {
			fail("%s missing: run make build first", p)
		}
	}
	switch *only {
	case "":
		report(child, sup)
		reportScale(sup)
	case "scale":
		reportScale(sup)
	case "upgrade":
		reportUpgrade(child, sup)
	default:
		fail("unknown -only %q: want scale or upgrade", *only)
	}
}

// runMode runs one measurement in this (fresh) process and prints "key value" lines.
func runMode(m, child string) {
	if strings.HasPrefix(m, "sup-") {
		procs.Default() // as cmd/supervisor does; the bare loop keeps Go's default
	}
	switch m {
	case "bare-restart":
		fmt.Println("median_ns", int64(median(bareRestart(child, *restarts))))
	case "sup-restart":
		fmt.Println("median_ns", int64(median(supRestart(child, *restarts))))
	case "bare-coldstop":
		start, stop := bareColdStop(child, *many)
		fmt.Println("start_ns", int64(start), "\nstop_ns", int64(stop))
	case "sup-coldstop":
		start, stop := supColdStop(child, *many)
		fmt.Println("start_ns", int64(start), "\nstop_ns", int64(stop))
	case "bare-spawn":
		fmt.Println("per_spawn_ns", int64(bareSpawn(child, *spawns)))
	case "sup-spawn":
		for _, k := range supervise.Spawners {
			fmt.Println(string(k)+"_ns", int64(supSpawn(child, k, *spawns)))
		}
	case "sup-mem":
		memPerChild(child, *many)
	case "bare-threads":
		fmt.Println("threads", bareThreads(child, 100))
	default:
		fail("unknown mode %q", m)
	}
}

// ---- the bare loop: os/exec Start, Wait, Start again, zero delay ----

// bareRestart is the bare restart loop: one goroutine starts the child, waits for
// it and starts it again at once. The measurer kills the child from another
// goroutine, exactly as it does to the supervisor's child, and times kill -> next
// child exec'ed (Start returned). Both sides thus pay the same kernel wake-up of a
// sleeping waiter and the same hand-off to the measurer.
func bareRestart(child string, n int) []time.Duration {
	pids := make(chan int)
	stop := make(chan struct{})
	go func() {
		for {
			cmd := exec.Command(child)
			check(cmd.Start())
			select {
			case pids <- cmd.Process.Pid:
			case <-stop:
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				close(pids)
				return
			}
			_ = cmd.Wait()
		}
	}()
	pid := <-pids
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		check(syscall.Kill(pid, syscall.SIGKILL))
		pid = <-pids
		lat = append(lat, time.Since(t0))
	}
	close(stop)
	for ; pid != 0; pid = <-pids { // the loop may start one more before it sees stop
		check(syscall.Kill(pid, syscall.SIGKILL))
	}
	return lat
}

func bareColdStop(child string, n int) (start, stop time.Duration) {
	cmds := make([]*exec.Cmd, n)
	t0 := time.Now()
	for i := range cmds {
		cmds[i] = exec.Command(child)
		check(cmds[i].Start())
	}
	start = time.Since(t0)
	t0 = time.Now()
	for i := n - 1; i >= 0; i-- {
		check(cmds[i].Process.Signal(syscall.SIGTERM))
		_ = cmds[i].Wait()
	}
	return start, time.Since(t0)
}

func bareSpawn(child string, n int) time.Duration {
	t0 := time.Now()
	for i := 0; i < n; i++ {
		_ = exec.Command(child, "--run", "0s").Run()
	}
	return time.Since(t0) / time.Duration(n)
}

// bareThreads starts n children, each waited by its own goroutine (the usual Go
// way), and counts this process's OS threads.
func bareThreads(child string, n int) int {
	var wg sync.WaitGroup
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmds[i] = exec.Command(child)
		check(cmds[i].Start())
		wg.Add(1)
		go func(c *exec.Cmd) { defer wg.Done(); _ = c.Wait() }(cmds[i])
	}
	threads := 0
	// The waiting goroutines block in wait4 one by one; let them all get there.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if threads = statusField(os.Getpid(), "Threads"); threads > n {
			break
		}
	}
	for _, c := range cmds {
		_ = c.Process.Kill()
	}
	wg.Wait()
	return threads
}

// ---- the supervisor, in process, through internal/supervise ----

func newSup(specs []supervise.Spec, onEvent func(supervise.Event)) (*supervise.Reaper, *supervise.Supervisor) {
	ropts := supervise.ReaperOptions{}
	if *mainThread {
		ropts.LightMinFds = 6144 // as run --upgradable's
	}
	r, err := supervise.NewReaper(nil, ropts)
	check(err)
	s, err := supervise.New(nil, supervise.Group{Strategy: supervise.OneForOne, Programs: specs, KillMode: supervise.KillMode(*killMode)},
		supervise.Options{Workers: supervise.Catalogue{Reexec: worker.Names(), Funcs: worker.Funcs()}, Reaper: r, OnEvent: onEvent, MainThread: *mainThread})
	check(err)
	return r, s
}

// serveOnMain runs Serve on the calling goroutine (the main one, locked to
// the main thread with -main-thread) and measure on another; it
// cancels Serve once measure returns, and returns when both are done.
func serveOnMain(s *supervise.Supervisor, measure func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		measure()
	}()
	_ = s.Serve(ctx)
}

func benchSpec(name, child string) supervise.Spec {
	s := supervise.DefaultSpec()
	s.Name, s.Command = name, []string{child}
	s.Restart = supervise.RestartAlways
	s.MinUptime, s.BackoffInitial, s.BackoffMax, s.BackoffJitter, s.MaxRestarts = 0, 0, 0, 0, 0
	return s
}

func supRestart(child string, n int) []time.Duration {
	starts := make(chan int, 16)
	r, s := newSup([]supervise.Spec{benchSpec("r", child)}, func(e supervise.Event) {
		if e.To == supervise.StateStarting {
			starts <- e.Pid
		}
	})
	lat := make([]time.Duration, 0, n)
	serveOnMain(s, func() {
		pid := <-starts
		for i := 0; i < n; i++ {
			t0 := time.Now()
			check(syscall.Kill(pid, syscall.SIGKILL))
			pid = <-starts
			lat = append(lat, time.Since(t0))
		}
	})
	check(r.Close())
	return lat
}

// startIdle serves n idle programs of child under one Supervisor and returns
// once all are running; stop cancels and waits for Serve and the reaper.
func startIdle(child string, n int) (stop func()) {
	specs := make([]supervise.Spec, n)
	for i := range specs {
		specs[i] = benchSpec("p"+strconv.Itoa(i), child)
	}
	running := make(chan struct{}, n)
	r, s := newSup(specs, func(e supervise.Event) {
		if e.To == supervise.StateRunning {
			running <- struct{}{}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx); close(done) }()
	for i := 0; i < n; i++ {
		<-running
	}
	return func() {
		cancel()
		<-done
		check(r.Close())
	}
}

func supColdStop(child string, n int) (start, stop time.Duration) {
	specs := make([]supervise.Spec, n)
	for i := range specs {
		specs[i] = benchSpec("p"+strconv.Itoa(i), child)
	}
	running := make(chan struct{}, n)
	t0 := time.Now()
	r, s := newSup(specs, func(e supervise.Event) {
		if e.To == supervise.StateRunning {
			running <- struct{}{}
		}
	})
	serveOnMain(s, func() {
		for i := 0; i < n; i++ {
			<-running
		}
		start = time.Since(t0)
		t0 = time.Now()
	})
	stop = time.Since(t0)
	check(r.Close())
	return start, stop
}

func supSpawn(child string, kind supervise.SpawnerKind, n int) time.Duration {
	r, err := supervise.NewReaper(nil, supervise.ReaperOptions{})
	check(err)
	defer r.Close()
	argv := []string{child, "--run", "0s"}
	if kind == supervise.SpawnReexec {
		argv = []string{"child", "--run", "0s"}
	}
	exited := make(chan supervise.Exit, 1)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		_, err := r.Spawn(supervise.SpawnRequest{Kind: kind, Argv: argv, OnExit: func(e supervise.Exit) { exited <- e }})
		check(err)
		<-exited
	}
	return time.Since(t0) / time.Duration(n)
}

// memPerChild starts n idle children under one Supervisor, lets each log a
// line, and prints the Go runtime's memory (heap and goroutine stacks) per
// child after a GC: where a supervisor's memory per child goes.
func memPerChild(child string, n int) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	stopAll := startIdle(child, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := func(a, b uint64) int64 { return (int64(a) - int64(b)) / int64(n) }
	fmt.Println("heap_inuse_per_child", per(after.HeapInuse, before.HeapInuse))
	fmt.Println("stack_inuse_per_child", per(after.StackInuse, before.StackInuse))
	fmt.Println("goroutines_per_child", float64(runtime.NumGoroutine())/float64(n))
	fmt.Println("allocated_per_child", per(after.TotalAlloc, before.TotalAlloc))
	if f := os.Getenv("BENCH_MEMPROFILE"); f != "" {
		pf, err := os.Create(f)
		check(err)
		check(pprof.Lookup("allocs").WriteTo(pf, 0))
		pf.Close()
	}
	stopAll()
}

// ---- the supervisor binary, whole ----

type binRun struct {
	cmd     *exec.Cmd
	started chan struct{} // one value per "program started" log line
	sock    string        // its control socket, with startBinaryCtl
	dir     string        // removed by stop, with startBinaryCtl
}

// startBinary runs the supervisor on a config of n idle children.
func startBinary(sup, child string, n int) *binRun { return startBinaryOn(sup, child, n, false) }

// startBinaryCtl does the same with a control socket of its own, and keeps
// the config file until stop (ctl upgrade checks it did not change).
func startBinaryCtl(sup, child string, n int) *binRun { return startBinaryOn(sup, child, n, true) }

func startBinaryOn(sup, child string, n int, ctl bool) *binRun {
	dir, err := os.MkdirTemp("", "supervisor-bench")
	check(err)
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "[program:p%d]\ncommand = %s\nmin_uptime = 0s\n", i, child)
	}
	conf := filepath.Join(dir, "bench.conf")
	check(os.WriteFile(conf, []byte(b.String()), 0o644))
	cmd := exec.Command(sup, "run", "-c", conf)
	var sock string
	if ctl {
		sock = filepath.Join(dir, "s.sock")
		cmd.Args = append(cmd.Args, "--socket", sock, "--upgradable")
	}
	stderr, err := cmd.StderrPipe()
	check(err)
	check(cmd.Start())
	br := &binRun{cmd: cmd, started: make(chan struct{}, n)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "program started") {
				br.started <- struct{}{}
			}
		}
	}()
	for i := 0; i < n; i++ {
		<-br.started
	}
	if ctl {
		br.sock, br.dir = sock, dir
	} else {
		os.RemoveAll(dir)
	}
	return br
}

func (br *binRun) stop() {
	check(br.cmd.Process.Signal(syscall.SIGTERM))
	_ = br.cmd.Wait()
	if br.dir != "" {
		os.RemoveAll(br.dir)
	}
}

// handover upgrades the supervisor in place (ctl upgrade, to the same
// binary) k times and returns the medians of the handover it reports (freeze
// in the old image to the new one serving) and of the whole ctl upgrade.
func (br *binRun) handover(sup string, k int) (handover, total time.Duration) {
	var hs, ts []time.Duration
	for range k {
		t0 := time.Now()
		out, err := exec.Command(sup, "ctl", "--socket", br.sock, "--json", "upgrade").CombinedOutput()
		ts = append(ts, time.Since(t0))
		if err != nil {
			fail("ctl upgrade: %v: %s", err, out)
		}
		var res struct {
			Pid        int     `json:"pid"`
			HandoverMS float64 `json:"handover_ms"`
		}
		check(json.Unmarshal(out, &res))
		if res.Pid != br.cmd.Process.Pid {
			fail("ctl upgrade: pid %d, want %d", res.Pid, br.cmd.Process.Pid)
		}
		hs = append(hs, time.Duration(res.HandoverMS*float64(time.Millisecond)))
	}
	return median(hs), median(ts)
}

// statusField reads a numeric field of /proc/PID/status.
func statusField(pid int, key string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return -1
}

// pssKiB reads the proportional set size of pid.
func pssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	check(err)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Pss:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return -1
}

// wakeups sums the context switches of every thread of pid.
func wakeups(pid int) int {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	check(err)
	total := 0
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			for _, k := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if v, ok := strings.CutPrefix(l, k); ok {
					n, _ := strconv.Atoi(strings.TrimSpace(v))
					total += n
				}
			}
		}
	}
	return total
}

// ---- the report ----

// sub re-executes this binary in one mode and parses its "key value" output.
func sub(m string) map[string]float64 {
	f := strings.Fields(m) // a mode and flags of its own
	args := append(append([]string{"-mode", f[0]}, os.Args[1:]...), f[1:]...)
	out, err := exec.Command(os.Args[0], args...).Output()
	if err != nil {
		fail("mode %s: %v", m, err)
	}
	res := map[string]float64{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 {
			v, _ := strconv.ParseFloat(f[1], 64)
			res[f[0]] = v
		}
	}
	return res
}

// sideBySide runs bare and sup modes alternately and returns, per key, the median
// over rounds of each.
func sideBySide(bare, sup string) (b, s map[string]float64) {
	var bs, ss []map[string]float64
	for i := 0; i < *rounds; i++ {
		bs = append(bs, sub(bare))
		ss = append(ss, sub(sup))
	}
	return medians(bs), medians(ss)
}

func medians(rs []map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k := range rs[0] {
		var vs []float64
		for _, r := range rs {
			vs = append(vs, r[k])
		}
		slices.Sort(vs)
		out[k] = vs[len(vs)/2]
	}
	return out
}

func report(child, sup string) {
	fmt.Printf("supervisor benchmarks: %d rounds, medians; ratio = supervisor / bare os/exec loop (target <= 1.5)\n\n", *rounds)
	fmt.Printf("%-44s %14s %14s %8s\n", "measurement", "bare loop", "supervisor", "ratio")
	row := func(name string, bare, ours float64, unit string) {
		ratio := "-"
		if bare > 0 {
			ratio = fmt.Sprintf("%.2f", ours/bare)
		}
		fmt.Printf("%-44s %14s %14s %8s\n", name, fmtVal(bare, unit), fmtVal(ours, unit), ratio)
	}

	b, s := sideBySide("bare-restart", "sup-restart")
	row(fmt.Sprintf("restart latency, median of %d", *restarts), b["median_ns"], s["median_ns"], "ns")
	if *killMode == "" {
		// auto is cgroup where the host allows it (here, as root): show the
		// process-group mode beside it, what a supervisor without cgroups pays.
		b, s = sideBySide("bare-restart", "sup-restart -kill-mode group")
		row("  the same, kill_mode = group", b["median_ns"], s["median_ns"], "ns")
	}
	b, s = sideBySide("bare-restart", "sup-restart -main-thread")
	row("  the same, --upgradable (main-thread forks)", b["median_ns"], s["median_ns"], "ns")
	b, s = sideBySide("bare-coldstop", "sup-coldstop")
	row(fmt.Sprintf("cold start of %d children", *many), b["start_ns"], s["start_ns"], "ns")
	row(fmt.Sprintf("stop of %d children", *many), b["stop_ns"], s["stop_ns"], "ns")
	if *killMode == "" {
		b, s = sideBySide("bare-coldstop", "sup-coldstop -kill-mode group")
		row("  the same, kill_mode = group", b["stop_ns"], s["stop_ns"], "ns")
	}
	b, s = sideBySide("bare-spawn", "sup-spawn")
	for _, k := range supervise.Spawners {
		row("spawn+reap, spawner "+string(k), b["per_spawn_ns"], s[string(k)+"_ns"], "ns")
	}

	bareT := sub("bare-threads")["threads"]
	br := startBinary(sup, child, 100)
	pid := br.cmd.Process.Pid
	row("OS threads with 100 children", bareT, float64(statusField(pid, "Threads")), "")
	pss100 := pssKiB(pid)
	// The same once start-up has settled: the start-up GC has run and the
	// executable's start-up pages have been given back (internal/memtrim).
	time.Sleep(*settle)
	pss100Settled := pssKiB(pid)
	br.stop()

	br = startBinary(sup, child, *big)
	pid = br.cmd.Process.Pid
	threadsBig := statusField(pid, "Threads")
	pssBig := pssKiB(pid)
	// Let start-up work settle (the GC and the heap scavenger finish their rounds
	// after the burst of 1,000 spawns), then count.
	time.Sleep(*settle)
	pssBigSettled := pssKiB(pid)
	w0 := wakeups(pid)
	time.Sleep(*idle) // the measurement itself: count wake-ups over this window
	w1 := wakeups(pid)
	br.stop()

	fmt.Println()
	fmt.Printf("%-44s %14s %14s\n", "measurement (supervisor binary)", "value", "target")
	fmt.Printf("%-44s %14d %14s\n", fmt.Sprintf("OS threads with %d children", *big), threadsBig, "constant")
	fmt.Printf("%-44s %14s %14s\n", "PSS with 100 children", fmtVal(float64(pss100), "KiB"), "< 10 MiB")
	fmt.Printf("%-44s %14s %14s\n", fmt.Sprintf("PSS with %d children", *big), fmtVal(float64(pssBig), "KiB"), "< 30 MiB")
	fmt.Printf("%-44s %14s %14s\n", fmt.Sprintf("  the same, settled (after %s), 100", *settle), fmtVal(float64(pss100Settled), "KiB"), "< 10 MiB")
	fmt.Printf("%-44s %14s %14s\n", fmt.Sprintf("  the same, settled (after %s), %d", *settle, *big), fmtVal(float64(pssBigSettled), "KiB"), "< 30 MiB")
	fmt.Printf("%-44s %14d %14s\n", fmt.Sprintf("wake-ups in %s idle (after %s), %d children", *idle, *settle, *big), w1-w0, "0")
	reportUpgrade(child, sup)
}

// reportUpgrade measures ctl upgrade on supervisors of 100 and -big idle
// children (run --upgradable), to the same binary.
func reportUpgrade(child, sup string) {
	for _, n := range []int{100, *big} {
		br := startBinaryCtl(sup, child, n)
		h, total := br.handover(sup, *rounds)
		br.stop()
		fmt.Printf("%-44s %14s %14s\n", fmt.Sprintf("upgrade handover, %d children", n), fmtVal(float64(h), "ns"), "< 100 ms")
		fmt.Printf("%-44s %14s %14s\n", "  the whole ctl upgrade (check run included)", fmtVal(float64(total), "ns"), "")
	}
}

func fmtVal(v float64, unit string) string {
	switch unit {
	case "ns":
		return time.Duration(v).Round(time.Microsecond).String()
	case "KiB":
		return fmt.Sprintf("%.1f MiB", v/1024)
	default:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}
