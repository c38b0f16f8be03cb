package supervise_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/worker"
)

// Every benchmark here is measured side by side with a bare Go os/exec loop in the
// same run, as a sub-benchmark named bare-osexec.
//
// The bare loop calls exec.Cmd.Wait, which this process must never do: testReaper
// owns every wait4 here, and a Wait racing it loses the exit status. So the bare
// loop runs in a re-execution of this test binary (benchBareEnv set; benchBareInit
// runs it before TestMain and exits), started and reaped through testReaper; it
// prints its own timings as "key value" lines, and the sub-benchmark reports them
// with b.ReportMetric. For bare-osexec the built-in ns/op is overridden with the
// helper's per-operation time, so the ns/op column compares directly; the wall
// clock of that sub-benchmark would also count the helper's own start.

// benchBareEnv selects the bare loop ("spawn" or "restart") in a re-executed test
// binary, whose os.Args are then [exe, N, workerPath].
const benchBareEnv = "SUPERVISE_BENCH_BARE"

// benchTimeout bounds one helper run or one wait for an event; the leak check and
// Serve's shutdown still run if it passes.
const benchTimeout = 60 * time.Second

func init() { benchBareInit() }

// benchBareInit runs the bare loop and exits if this process is the bare-loop
// helper. It runs before TestMain, so it must leave every other process alone: the
// variable is never passed on (benchBareChild), and a worker (argv[0] Arg0) is
// left to worker.Dispatch even if the variable leaked.
func benchBareInit() {
	mode := os.Getenv(benchBareEnv)
	if mode == "" || filepath.Base(os.Args[0]) == worker.Arg0 {
		return
	}
	if len(os.Args) != 3 {
		benchBareFail(fmt.Errorf("usage: %s=MODE %s N WORKER", benchBareEnv, os.Args[0]))
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n < 1 {
		benchBareFail(fmt.Errorf("bad iteration count %q", os.Args[1]))
	}
	wp := os.Args[2]
	switch mode {
	case "spawn":
		total, err := benchBareSpawn(wp, n)
		if err != nil {
			benchBareFail(err)
		}
		fmt.Printf("total_ns %d\n", total.Nanoseconds())
	case "restart":
		lat, total, err := benchBareRestart(wp, n)
		if err != nil {
			benchBareFail(err)
		}
		fmt.Printf("total_ns %d\nmedian_ns %d\n", total.Nanoseconds(), benchMedian(lat).Nanoseconds())
	default:
		benchBareFail(fmt.Errorf("unknown mode %q", mode))
	}
	os.Exit(0)
}

func benchBareFail(err error) {
	fmt.Fprintf(os.Stderr, "bench helper: %v\n", err)
	os.Exit(1)
}

// benchBareChild is exec.Command for the built-in child worker, without
// benchBareEnv in its environment. Pdeathsig is only a safety net: should the
// helper be killed, its child does not outlive it.
func benchBareChild(wp string, args ...string) *exec.Cmd {
	cmd := exec.Command(wp, append([]string{"child"}, args...)...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, benchBareEnv+"=")
	})
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// benchBareSpawn starts n children one after another, each waited by Run.
func benchBareSpawn(wp string, n int) (time.Duration, error) {
	t0 := time.Now()
	for range n {
		if err := benchBareChild(wp, "--run", "0s").Run(); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

// benchBareRestart is the bare restart loop: one goroutine starts the child, waits
// for it and starts it again at once, while the measurer kills the child from
// another goroutine, exactly as BenchmarkRestartLatency/supervisor does; it times
// kill -> next Start returned.
func benchBareRestart(wp string, n int) (lat []time.Duration, total time.Duration, err error) {
	type started struct {
		pid int
		err error
	}
	pids := make(chan started)
	stop := make(chan struct{})
	go func() {
		defer close(pids)
		for {
			cmd := benchBareChild(wp)
			if err := cmd.Start(); err != nil {
				pids <- started{err: err}
				return
			}
			select {
			case pids <- started{pid: cmd.Process.Pid}:
			case <-stop:
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				return
			}
			_ = cmd.Wait() // killed by the measurer: the error is the signal
		}
	}()
	cur := <-pids
	lat = make([]time.Duration, 0, n)
	start := time.Now()
	for range n {
		if cur.err != nil {
			break
		}
		t0 := time.Now()
		if err := syscall.Kill(cur.pid, syscall.SIGKILL); err != nil {
			cur.err = err
			break
		}
		cur = <-pids
		lat = append(lat, time.Since(t0))
	}
	total = time.Since(start)
	close(stop)
	for ; cur.pid != 0; cur = <-pids { // the loop may start one more before it sees stop
		_ = syscall.Kill(cur.pid, syscall.SIGKILL)
	}
	return lat, total, cur.err
}

// benchRunBare runs the bare loop mode for n iterations in a helper process
// started through testReaper and returns what it printed. The helper has exited
// and been reaped when it returns.
func benchRunBare(b *testing.B, mode string, n int) map[string]time.Duration {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer outR.Close()
	exited := make(chan supervise.Exit, 1)
	proc, err := testReaper.Spawn(supervise.SpawnRequest{
		Kind:   supervise.SpawnExec,
		Argv:   []string{exe, strconv.Itoa(n), workerPath},
		Env:    append(os.Environ(), benchBareEnv+"="+mode),
		Stdout: outW,
		Stderr: os.Stderr,
		OnExit: func(e supervise.Exit) { exited <- e },
	})
	outW.Close()
	if err != nil {
		b.Fatal(err)
	}
	// A helper that hangs is killed; its exit then fails the benchmark below.
	watchdog := time.AfterFunc(benchTimeout, func() { _ = proc.Signal(syscall.SIGKILL) })
	defer watchdog.Stop()
	out, err := io.ReadAll(outR) // EOF: the helper has exited (its children got /dev/null)
	e := <-exited
	if err != nil {
		b.Fatalf("read helper output: %v", err)
	}
	if e.ShellCode() != 0 {
		b.Fatalf("bench helper %s: %s; output:\n%s", mode, e, out)
	}
	res := map[string]time.Duration{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			res[f[0]] = time.Duration(v)
		}
	}
	return res
}

// benchNeed returns res[key] or fails the benchmark.
func benchNeed(b *testing.B, res map[string]time.Duration, key string) time.Duration {
	b.Helper()
	v, ok := res[key]
	if !ok {
		b.Fatalf("bench helper printed no %s: %v", key, res)
	}
	return v
}

func benchMedian(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func benchPerOp(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) }

// BenchmarkSpawn is the cost of starting one process that exits at once and having
// it reaped: one op is spawn (exec'ed) + exit + reap + OnExit. ns/spawn is reported
// for every sub-benchmark so that they compare directly.
func BenchmarkSpawn(b *testing.B) {
	for _, kind := range supervise.Spawners {
		b.Run(string(kind), func(b *testing.B) {
			argv := childCmd(kind, "--run", "0s")
			exited := make(chan supervise.Exit, 1)
			onExit := func(e supervise.Exit) { exited <- e }
			b.ResetTimer()
			for range b.N {
				if _, err := testReaper.Spawn(supervise.SpawnRequest{Kind: kind, Argv: argv, OnExit: onExit}); err != nil {
					b.Fatal(err)
				}
				select {
				case e := <-exited:
					if e.ShellCode() != 0 {
						b.Fatalf("child: %s", e)
					}
				case <-time.After(benchTimeout):
					b.Fatal("timed out waiting for the child's exit")
				}
			}
			b.ReportMetric(benchPerOp(b.Elapsed(), b.N), "ns/spawn")
		})
	}
	b.Run("bare-osexec", func(b *testing.B) {
		res := benchRunBare(b, "spawn", b.N)
		perOp := benchPerOp(benchNeed(b, res, "total_ns"), b.N)
		b.ReportMetric(perOp, "ns/spawn")
		b.ReportMetric(perOp, "ns/op") // the helper's own timing, not its start-up
	})
}

// BenchmarkRestartLatency is the time from SIGKILL of a running child to its
// replacement having been spawned (exec'ed), under restart=always with zero backoff.
// median-ns/restart is the median of the per-restart latencies.
func BenchmarkRestartLatency(b *testing.B) {
	b.Run("supervisor", func(b *testing.B) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // as cmd/supervisor runs (package procs)
		s := spec("r", supervise.SpawnExec)             // runs until signalled
		s.Restart = supervise.RestartAlways
		s.BackoffInitial, s.BackoffMax, s.MaxRestarts, s.MinUptime = 0, 0, 0, 0
		// One starting event per spawn, and the loop takes each before the next kill:
		// the hook never blocks.
		starts := make(chan supervise.Event, 16)
		sup, err := supervise.New(nil, supervise.Group{Strategy: supervise.OneForOne, Programs: []supervise.Spec{s}},
			supervise.Options{Workers: testWorkers, Reaper: testReaper, OnEvent: func(e supervise.Event) {
				if e.To == supervise.StateStarting {
					starts <- e
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sup.Serve(ctx) }()
		defer func() {
			b.StopTimer()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					b.Errorf("Serve: %v", err)
				}
			case <-time.After(benchTimeout):
				b.Errorf("Serve did not return after cancel")
			}
		}()
		next := func() supervise.Event {
			select {
			case e := <-starts:
				if e.Pid == 0 {
					b.Fatalf("spawn failed: %s", e.Reason)
				}
				return e
			case <-time.After(benchTimeout):
				b.Fatal("timed out waiting for a starting event")
				return supervise.Event{}
			}
		}
		pid := next().Pid
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			// Not reaped before this kill (only we end it), so the pid is still its own.
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				b.Fatal(err)
			}
			e := next()
			lat = append(lat, e.Time.Sub(t0)) // stamped right after the spawn returned
			pid = e.Pid
		}
		b.StopTimer()
		b.ReportMetric(float64(benchMedian(lat).Nanoseconds()), "median-ns/restart")
	})
	b.Run("bare-osexec", func(b *testing.B) {
		res := benchRunBare(b, "restart", b.N)
		b.ReportMetric(float64(benchNeed(b, res, "median_ns").Nanoseconds()), "median-ns/restart")
		b.ReportMetric(benchPerOp(benchNeed(b, res, "total_ns"), b.N), "ns/op") // the helper's own timing
	})
}

// BenchmarkSpawnShim is what the exec shim adds to a spawn: /bin/true spawned
// and reaped directly, and through the shim (a program that sets umask,
// rlimit_*, nice or oom_score_adj). The shim is this test binary re-executed;
// the supervisor binary is of the same order of size.
func BenchmarkSpawnShim(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true in PATH")
	}
	umask := uint32(0o22)
	for _, tc := range []struct {
		name   string
		limits *supervise.Limits
	}{
		{"direct", nil},
		{"shim", &supervise.Limits{Umask: &umask}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			exited := make(chan supervise.Exit, 1)
			onExit := func(e supervise.Exit) { exited <- e }
			var cpu time.Duration // the child's own (shim and program), less sensitive to load than wall time
			b.ResetTimer()
			for range b.N {
				if _, err := testReaper.Spawn(supervise.SpawnRequest{Kind: supervise.SpawnExec, Argv: []string{truePath}, Limits: tc.limits, OnExit: onExit}); err != nil {
					b.Fatal(err)
				}
				select {
				case e := <-exited:
					if e.ShellCode() != 0 {
						b.Fatalf("true: %s", e)
					}
					cpu += e.UserTime + e.SysTime
				case <-time.After(benchTimeout):
					b.Fatal("timed out waiting for the exit")
				}
			}
			b.ReportMetric(benchPerOp(b.Elapsed(), b.N), "ns/spawn")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "child-cpu-ns/spawn")
		})
	}
}
