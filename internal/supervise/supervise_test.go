package supervise_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/probe"
	"github.com/supervisor/supervisor/internal/procfs"
	"github.com/supervisor/supervisor/internal/supervise"
)

func group(strategy supervise.Strategy, programs ...supervise.Spec) supervise.Group {
	return supervise.Group{Strategy: strategy, Programs: programs}
}

// Every spawner runs the same scenarios.
func TestSpawnersExitStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantSignal syscall.Signal
		wantShell  int
	}{
		{name: "exit 0", args: []string{"--run", "0s", "--exit", "0"}, wantCode: 0, wantShell: 0},
		{name: "exit 3", args: []string{"--run", "0s", "--exit", "3"}, wantCode: 3, wantShell: 3},
		{name: "exit 255", args: []string{"--run", "0s", "--exit", "255"}, wantCode: 255, wantShell: 255},
		{name: "killed", args: []string{"--run", "0s", "--signal-self", "KILL"}, wantCode: -1, wantSignal: syscall.SIGKILL, wantShell: 137},
		{name: "segv", args: []string{"--run", "0s", "--signal-self", "SEGV"}, wantCode: -1, wantSignal: syscall.SIGSEGV, wantShell: 139},
	}
	for _, kind := range supervise.Spawners {
		for _, tc := range cases {
			t.Run(string(kind)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				s := spec("p", kind, tc.args...)
				s.Restart = supervise.RestartNever
				rn := serve(t, group(supervise.OneForOne, s))
				rn.wait(t) // ends on its own: nothing to restart
				st := rn.status(t, "p")
				if st.State != supervise.StateExited || st.LastExit == nil {
					t.Fatalf("state %s, last exit %v; want exited", st.State, st.LastExit)
				}
				e := st.LastExit
				if e.Code != tc.wantCode || e.Signal != tc.wantSignal || e.ShellCode() != tc.wantShell {
					t.Fatalf("exit %+v (shell %d); want code %d signal %v shell %d", e, e.ShellCode(), tc.wantCode, tc.wantSignal, tc.wantShell)
				}
				if e.Pid == 0 || e.Time.IsZero() {
					t.Errorf("exit lacks pid or time: %+v", e)
				}
				if got := rn.sup.ExitCode(); got != tc.wantShell {
					t.Errorf("supervisor exit code %d, want %d", got, tc.wantShell)
				}
				if st.Restarts != 0 {
					t.Errorf("restarts %d under restart=never", st.Restarts)
				}
			})
		}
	}
}

func TestMissingProgramIs127(t *testing.T) {
	t.Parallel()
	for _, kind := range []supervise.SpawnerKind{supervise.SpawnExec, supervise.SpawnForkExec} {
		for _, tc := range []struct {
			name string
			path string
			want int
		}{
			{"missing", "/nonexistent/program", 127},
			{"not executable", "/etc/hostname", 126},
		} {
			t.Run(string(kind)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				s := spec("p", kind)
				s.Command = []string{tc.path}
				s.Restart = supervise.RestartNever
				rn := serve(t, group(supervise.OneForOne, s))
				rn.wait(t)
				st := rn.status(t, "p")
				if st.LastExit == nil || st.LastExit.SpawnErr == nil || st.LastExit.ShellCode() != tc.want {
					t.Fatalf("last exit %v; want a spawn error with status %d", st.LastExit, tc.want)
				}
				if rn.sup.ExitCode() != tc.want {
					t.Errorf("exit code %d, want %d", rn.sup.ExitCode(), tc.want)
				}
			})
		}
	}
}

func TestCrashRestartsWithGrowingBackoff(t *testing.T) {
	t.Parallel()
	for _, kind := range supervise.Spawners {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := spec("crasher", kind, "--run", "0s", "--exit", "1")
			s.BackoffInitial = 10 * time.Millisecond
			s.BackoffMax = 60 * time.Millisecond
			s.MaxRestarts = 0
			rn := serve(t, group(supervise.OneForOne, s))
			want := []time.Duration{10, 20, 40, 60, 60}
			for i, w := range want {
				e := rn.rec.waitEvent(t, i+1, is("crasher", supervise.StateBackoff))
				if e.Delay != w*time.Millisecond {
					t.Errorf("backoff %d: %s, want %s", i+1, e.Delay, w*time.Millisecond)
				}
				if e.Exit == nil || e.Exit.Code != 1 {
					t.Errorf("backoff %d caused by %v, want exit status 1", i+1, e.Exit)
				}
			}
			rn.stop(t)
			if st := rn.status(t, "crasher"); st.Restarts < len(want) {
				t.Errorf("restarts %d, want at least %d", st.Restarts, len(want))
			}
		})
	}
}

func TestOnFailureSuccessDoesNotRestart(t *testing.T) {
	t.Parallel()
	s := spec("oneshot", supervise.SpawnForkExec, "--run", "0s", "--exit", "0")
	rn := serve(t, group(supervise.OneForOne, s))
	rn.wait(t) // Serve returns only because nothing is left to run: the causal event
	st := rn.status(t, "oneshot")
	if st.State != supervise.StateExited || st.Restarts != 0 {
		t.Fatalf("state %s restarts %d; want exited, 0", st.State, st.Restarts)
	}
	if got := rn.rec.transitions("oneshot"); len(got) != 3 {
		t.Errorf("transitions %v, want starting, running, exited", got)
	}
	if rn.sup.ExitCode() != 0 {
		t.Errorf("exit code %d, want 0", rn.sup.ExitCode())
	}
}

func TestIntensityExceededIsFatal(t *testing.T) {
	t.Parallel()
	s := spec("flappy", supervise.SpawnExec, "--run", "0s", "--exit", "4")
	s.BackoffInitial = 0
	s.BackoffMax = 0
	s.MaxRestarts = 3
	s.RestartWindow = time.Hour
	rn := serve(t, group(supervise.OneForOne, s))
	rn.wait(t)
	st := rn.status(t, "flappy")
	if st.State != supervise.StateFatal || st.Restarts != 3 {
		t.Fatalf("state %s restarts %d; want fatal after 3 restarts", st.State, st.Restarts)
	}
	rn.rec.waitLine(t, "program fatal", "restarted 3 times within 1h0m0s")
	if rn.sup.ExitCode() != 4 {
		t.Errorf("exit code %d, want the fatal program's 4", rn.sup.ExitCode())
	}
}

func TestMinUptimeMakesRunning(t *testing.T) {
	t.Parallel()
	s := spec("steady", supervise.SpawnExec)
	s.MinUptime = 20 * time.Millisecond
	rn := serve(t, group(supervise.OneForOne, s))
	e := rn.rec.waitEvent(t, 1, is("steady", supervise.StateRunning))
	start := rn.rec.waitEvent(t, 1, is("steady", supervise.StateStarting))
	if d := e.Time.Sub(start.Time); d < s.MinUptime {
		t.Errorf("running after %s, before min_uptime %s", d, s.MinUptime)
	}
}

// kill SIGKILLs the current process of prog and returns its pid.
func (rn *running) kill(t *testing.T, prog string) int {
	t.Helper()
	st := rn.status(t, prog)
	if st.Pid == 0 {
		t.Fatalf("%s has no process (state %s)", prog, st.State)
	}
	if err := syscall.Kill(st.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return st.Pid
}

func TestGroupStrategies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		strategy  supervise.Strategy
		restarted map[string]bool
	}{
		{supervise.OneForOne, map[string]bool{"a": false, "b": true, "c": false}},
		{supervise.OneForAll, map[string]bool{"a": true, "b": true, "c": true}},
		{supervise.RestForOne, map[string]bool{"a": false, "b": true, "c": true}},
	}
	for _, tc := range cases {
		t.Run(string(tc.strategy), func(t *testing.T) {
			t.Parallel()
			rn := serve(t, group(tc.strategy,
				spec("a", supervise.SpawnExec), spec("b", supervise.SpawnForkExec), spec("c", supervise.SpawnReexec)))
			for _, n := range []string{"a", "b", "c"} {
				rn.rec.waitEvent(t, 1, is(n, supervise.StateRunning))
			}
			before := map[string]int{}
			for _, n := range []string{"a", "b", "c"} {
				before[n] = rn.status(t, n).Pid
			}
			rn.kill(t, "b")
			for n, want := range tc.restarted {
				if want {
					rn.rec.waitEvent(t, 2, is(n, supervise.StateRunning))
				}
			}
			// The restarts are done: now the untouched ones must still be the same processes.
			for n, want := range tc.restarted {
				st := rn.status(t, n)
				if changed := st.Pid != before[n]; changed != want {
					t.Errorf("%s: restarted=%v, want %v (pid %d -> %d)", n, changed, want, before[n], st.Pid)
				}
			}
			// Siblings are stopped in reverse order and started in order.
			if tc.strategy == supervise.OneForAll {
				cStop := rn.rec.waitEvent(t, 1, is("c", supervise.StateStopped))
				aStop := rn.rec.waitEvent(t, 1, is("a", supervise.StateStopped))
				if !cStop.Time.Before(aStop.Time) && !cStop.Time.Equal(aStop.Time) {
					t.Errorf("c stopped at %v after a at %v: want reverse order", cStop.Time, aStop.Time)
				}
				aStart := rn.rec.waitEvent(t, 2, is("a", supervise.StateStarting))
				bStart := rn.rec.waitEvent(t, 2, is("b", supervise.StateStarting))
				cStart := rn.rec.waitEvent(t, 2, is("c", supervise.StateStarting))
				if bStart.Time.Before(aStart.Time) || cStart.Time.Before(bStart.Time) {
					t.Errorf("restart order a=%v b=%v c=%v, want a, b, c", aStart.Time, bStart.Time, cStart.Time)
				}
			}
		})
	}
}

// A group restart that begins while another stop sequence runs (a ctl restart or
// ctl stop of a program that takes its grace to stop) waits for it, then starts
// its programs; it used to be left waiting for good. A program stopped on
// request stays stopped.
func TestGroupRestartDuringAnotherStop(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"restart", "stop"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			slow := spec("slow", supervise.SpawnExec, "--ignore-term", "--ready-line")
			slow.StopGrace = 2 * time.Second
			rn := serve(t, group(supervise.RestForOne, slow, spec("x", supervise.SpawnExec), spec("p", supervise.SpawnExec)))
			for _, n := range []string{"slow", "x", "p"} {
				rn.rec.waitEvent(t, 1, is(n, supervise.StateRunning))
			}
			rn.rec.waitLine(t, "test.slow", "ready") // its SIGTERM handler is in place
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { // slow takes its 2s grace; x is killed meanwhile
				if op == "stop" {
					done <- rn.sup.Stop(ctx, "slow")
				} else {
					done <- rn.sup.Restart(ctx, "slow")
				}
			}()
			rn.rec.waitEvent(t, 1, is("slow", supervise.StateStopping))
			if err := rn.sup.Signal(ctx, "x", syscall.SIGKILL); err != nil {
				t.Fatalf("kill x: %v", err)
			}
			rn.rec.waitEvent(t, 1, is("x", supervise.StateBackoff))
			if err := <-done; err != nil {
				t.Fatalf("%s slow: %v", op, err)
			}
			rn.rec.waitEvent(t, 2, is("p", supervise.StateStarting))
			rn.rec.waitEvent(t, 2, is("x", supervise.StateStarting))
			if st := rn.status(t, "slow"); (op == "stop") != (st.State == supervise.StateStopped) {
				t.Errorf("after %s, slow is %s", op, st.State)
			}
		})
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	for _, kind := range supervise.Spawners {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := spec("stubborn", kind, "--ignore-term", "--ready-line")
			s.StopGrace = 100 * time.Millisecond
			rn := serve(t, group(supervise.OneForOne, s))
			rn.rec.waitLine(t, "stubborn", "ready")
			rn.stop(t)
			st := rn.status(t, "stubborn")
			if st.LastExit == nil || st.LastExit.Signal != syscall.SIGKILL {
				t.Fatalf("last exit %v, want killed by SIGKILL after the grace period", st.LastExit)
			}
			rn.rec.waitLine(t, "ignoring SIGTERM")
			rn.rec.waitLine(t, "grace period over")
			if rn.sup.ExitCode() != 0 {
				t.Errorf("exit code %d after a requested stop, want 0", rn.sup.ExitCode())
			}
		})
	}
}

func TestStopTermIsGraceful(t *testing.T) {
	t.Parallel()
	s := spec("polite", supervise.SpawnExec, "--ready-line")
	rn := serve(t, group(supervise.OneForOne, s))
	rn.rec.waitLine(t, "polite", "ready")
	rn.stop(t)
	st := rn.status(t, "polite")
	if st.State != supervise.StateStopped || st.LastExit == nil || st.LastExit.Code != 0 {
		t.Fatalf("state %s, last exit %v; want stopped with exit status 0", st.State, st.LastExit)
	}
	rn.rec.waitLine(t, "stopping on SIGTERM")
}

func alive(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && st.State != 'Z'
}

func TestStopTakesTheWholeGroup(t *testing.T) {
	t.Parallel()
	for _, kind := range supervise.Spawners {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			// The grandchild ignores nothing, but the leader ignores SIGTERM: the
			// group is killed after the grace period, grandchild included.
			s := spec("tree", kind, "--grandchild", "--ignore-term", "--ready-line")
			s.StopGrace = 50 * time.Millisecond
			rn := serve(t, group(supervise.OneForOne, s))
			gc := pidFromLine(t, rn.rec.waitLine(t, "tree", "grandchild"), "grandchild")
			rn.rec.waitLine(t, "tree", "ready")
			leader := rn.status(t, "tree").Pid
			if st, err := procfs.ReadStat(gc); err != nil || st.Pgrp != leader {
				t.Fatalf("grandchild %d: %+v %v; want it in group %d", gc, st, err, leader)
			}
			rn.stop(t)
			// Serve counts a program stopped only when its group is gone.
			if alive(gc) {
				t.Errorf("grandchild %d still alive after stop", gc)
			}
			if err := syscall.Kill(-leader, 0); err == nil {
				t.Errorf("process group %d still has members", leader)
			}
		})
	}
}

func TestGroupDiesWithItsLeader(t *testing.T) {
	t.Parallel()
	s := spec("leader", supervise.SpawnExec, "--grandchild", "--ready-line")
	rn := serve(t, group(supervise.OneForOne, s))
	gc := pidFromLine(t, rn.rec.waitLine(t, "leader", "grandchild"), "grandchild")
	rn.rec.waitLine(t, "leader", "ready")
	rn.kill(t, "leader")
	rn.rec.waitEvent(t, 2, is("leader", supervise.StateStarting))
	deadline := time.Now().Add(10 * time.Second)
	for alive(gc) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling the OS under a deadline
	}
	if alive(gc) {
		t.Fatalf("grandchild %d outlived its group leader", gc)
	}
}

// The leak check in TestMain must be able to fail: a parent that never reaps
// leaves a zombie, and the check sees it.
func TestLeakCheckSeesZombie(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := spec("zombie-maker", supervise.SpawnExec)
	s.Command = []string{exe}
	s.Env = []string{"SUPERVISE_TEST_HELPER=zombie-maker"}
	rn := serve(t, group(supervise.OneForOne, s))
	z := pidFromLine(t, rn.rec.waitLine(t, "zombie-maker", "stream=stdout", "zombie "), "zombie")
	parent := rn.status(t, "zombie-maker").Pid
	// The child exits at once; wait (polling the OS) for it to show as a zombie.
	deadline := time.Now().Add(10 * time.Second)
	found := false
	for !found && time.Now().Before(deadline) {
		for _, st := range descendants(parent) {
			found = found || (st.Pid == z && st.State == 'Z')
		}
		if !found {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !found {
		t.Fatalf("the leak check did not see zombie %d under %d: %v", z, parent, descendants(parent))
	}
	// Stopping the parent hands the zombie to us (a subreaper), and we reap it.
	rn.stop(t)
	if st, err := procfs.ReadStat(z); err == nil {
		t.Errorf("zombie %d still there after its parent stopped: %+v", z, st)
	}
}

// Every one of 10,000 instant exits reaches its owner with the right status.
func TestNoExitStatusLost(t *testing.T) {
	t.Parallel()
	n := 10000
	if testing.Short() {
		n = 500
	}
	type result struct {
		want int
		exit supervise.Exit
	}
	results := make(chan result, n)
	const inFlight = 32
	slots := make(chan struct{}, inFlight)
	for i := 0; i < n; i++ {
		slots <- struct{}{}
		want := i % 256
		kind := supervise.SpawnForkExec
		if i%2 == 1 {
			kind = supervise.SpawnExec
		}
		_, err := testReaper.Spawn(supervise.SpawnRequest{
			Kind: kind,
			Argv: []string{"/bin/sh", "-c", "exit " + itoa(want)},
			OnExit: func(e supervise.Exit) {
				results <- result{want, e}
				<-slots
			},
		})
		if err != nil {
			t.Fatalf("spawn %d: %v", i, err)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case r := <-results:
			if r.exit.Code != r.want || r.exit.Signal != 0 {
				t.Fatalf("exit %+v, want status %d", r.exit, r.want)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("only %d of %d exits arrived", i, n)
		}
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

func TestSignalAfterReapIsProcessDone(t *testing.T) {
	t.Parallel()
	for _, kind := range []supervise.SpawnerKind{supervise.SpawnExec, supervise.SpawnForkExec} {
		exited := make(chan supervise.Exit, 1)
		p, err := testReaper.Spawn(supervise.SpawnRequest{Kind: kind, Argv: []string{"/bin/true"}, OnExit: func(e supervise.Exit) { exited <- e }})
		if err != nil {
			t.Fatal(err)
		}
		<-exited
		if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("%s: Signal after reap: %v, want os.ErrProcessDone", kind, err)
		}
		if err := p.SignalGroup(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("%s: SignalGroup after reap: %v, want os.ErrProcessDone", kind, err)
		}
	}
}

func TestSecondReaperRefused(t *testing.T) {
	t.Parallel()
	if _, err := supervise.NewReaper(nil, supervise.ReaperOptions{}); !errors.Is(err, supervise.ErrReaperExists) {
		t.Fatalf("second NewReaper: %v, want ErrReaperExists", err)
	}
}

func TestInvalidGroup(t *testing.T) {
	t.Parallel()
	s := spec("x", supervise.SpawnExec)
	s.Restart = "sometimes"
	_, err := supervise.New(nil, group(supervise.OneForOne, s), supervise.Options{Workers: testWorkers, Reaper: testReaper})
	if !errors.Is(err, supervise.ErrInvalidSpec) {
		t.Fatalf("New: %v, want ErrInvalidSpec", err)
	}
}

// A spawn that fails must not wedge a stop sequence: neither shutdown nor a
// group restart may wait forever for it.
func TestSpawnFailureDuringStops(t *testing.T) {
	t.Parallel()
	missing := func(name string) supervise.Spec {
		s := spec(name, supervise.SpawnExec)
		s.Command = []string{"/nonexistent/program"}
		s.StartRetries = 1000
		s.MaxRestarts = 0
		s.BackoffInitial, s.BackoffMax = 0, 0
		return s
	}
	t.Run("shutdown", func(t *testing.T) {
		t.Parallel()
		for i := 0; i < 20; i++ {
			rn := serve(t, group(supervise.OneForOne, missing("m")))
			rn.rec.waitEvent(t, 1, is("m", supervise.StateStarting))
			rn.stop(t) // must return although an exit is queued for a failed spawn
		}
	})
	t.Run("one_for_all", func(t *testing.T) {
		t.Parallel()
		crasher := spec("crasher", supervise.SpawnExec, "--run", "0s", "--exit", "1")
		crasher.MaxRestarts = 0
		crasher.BackoffInitial, crasher.BackoffMax = 0, 0
		rn := serve(t, group(supervise.OneForAll, crasher, spec("steady", supervise.SpawnExec), missing("m")))
		// The group restart goes through again and again, whatever m's failed
		// spawns do meanwhile.
		rn.rec.waitEvent(t, 5, is("crasher", supervise.StateStarting))
		rn.rec.waitEvent(t, 3, is("steady", supervise.StateStarting))
	})
}

func init() {
	// alloc touches 96 MiB, then exits.
	helpers["alloc"] = func([]string) {
		b := make([]byte, 96<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println(len(b))
	}
}

// The kernel counts the supervisor's own peak RSS for every child; an exit says
// when its figure is that (MaxRSSInherited) and when it is the child's own.
func TestMaxRSSLabelled(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	big := spec("big", supervise.SpawnExec)
	big.Command, big.Env, big.Restart = []string{exe}, []string{"SUPERVISE_TEST_HELPER=alloc"}, supervise.RestartNever
	small := spec("small", supervise.SpawnExec)
	small.Command, small.Restart = []string{"/bin/true"}, supervise.RestartNever
	rn := serve(t, group(supervise.OneForOne, big, small))
	rn.wait(t)
	if e := rn.status(t, "big").LastExit; e == nil || e.Code != 0 || e.MaxRSSInherited || e.MaxRSS < 96<<20 {
		t.Errorf("big: %+v; want its own peak of at least 96 MiB", e)
	}
	if e := rn.status(t, "small").LastExit; e == nil || !e.MaxRSSInherited {
		t.Errorf("small: %+v; want MaxRSSInherited (true's peak is below ours)", e)
	}
	rn.rec.waitLine(t, "small", "program exited", "maxrss_kib_at_most=")
}

// web after api after db: each starts once the one before it said Ready, an
// independent program starts at once, and the stops go the other way.
func TestDependencyOrder(t *testing.T) {
	t.Parallel()
	db := pspec("db", supervise.SpawnExec, "--slow-start", "50ms")
	api := pspec("api", supervise.SpawnExec, "--slow-start", "50ms")
	api.Requires = []string{"db"}
	web := pspec("web", supervise.SpawnExec)
	web.After = []string{"api"}
	cron := spec("cron", supervise.SpawnExec)
	rn := serve(t, group(supervise.OneForOne, web, api, db, cron))
	rn.rec.waitEvent(t, 1, is("web", supervise.StateRunning))
	// at is where the first such event stands among all events.
	at := func(prog string, to supervise.State) int {
		e := rn.rec.waitEvent(t, 1, is(prog, to))
		rn.rec.mu.Lock()
		defer rn.rec.mu.Unlock()
		for i, x := range rn.rec.events {
			if x == e {
				return i
			}
		}
		return -1
	}
	before := func(a, b int) bool { return a >= 0 && b >= 0 && a < b }
	if !before(at("db", supervise.StateRunning), at("api", supervise.StateStarting)) ||
		!before(at("api", supervise.StateRunning), at("web", supervise.StateStarting)) {
		t.Errorf("started out of order:\n%s", rn.rec.dump())
	}
	if !before(at("cron", supervise.StateStarting), at("db", supervise.StateRunning)) {
		t.Errorf("cron waited for db, which it does not start after:\n%s", rn.rec.dump())
	}
	rn.stop(t)
	if !before(at("web", supervise.StateStopped), at("api", supervise.StateStopping)) ||
		!before(at("api", supervise.StateStopped), at("db", supervise.StateStopping)) {
		t.Errorf("stopped out of order:\n%s", rn.rec.dump())
	}
	if !before(at("cron", supervise.StateStopping), at("web", supervise.StateStopped)) {
		t.Errorf("cron's stop waited for web:\n%s", rn.rec.dump())
	}
}

// A program that speaks nothing is running once its ready probe passes, and a
// live probe that fails probe_failures times in a row ends its run as a failure.
func TestProbes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	readyFile, aliveFile := filepath.Join(dir, "ready"), filepath.Join(dir, "alive")
	if err := os.WriteFile(aliveFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := spec("d", supervise.SpawnExec)
	s.StartTimeout = 30 * time.Second
	s.ReadyProbe = &probe.Spec{Kind: probe.Exec, Argv: []string{"test", "-e", readyFile}, Interval: 10 * time.Millisecond, Timeout: time.Second, Failures: 1}
	s.LiveProbe = &probe.Spec{Kind: probe.Exec, Argv: []string{"test", "-e", aliveFile}, Interval: 10 * time.Millisecond, Timeout: time.Second, Failures: 2}
	rn := serve(t, group(supervise.OneForOne, s))
	rn.rec.waitLine(t, "ready probe: not yet")
	if st := rn.status(t, "d"); st.State != supervise.StateStarting {
		t.Fatalf("before its ready probe passed: %s, want starting", st.State)
	}
	if err := os.WriteFile(readyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e := rn.rec.waitEvent(t, 1, is("d", supervise.StateRunning))
	if !strings.HasPrefix(e.Reason, "ready probe passed (exec test -e") {
		t.Errorf("running because %q", e.Reason)
	}
	os.Remove(aliveFile)
	e = rn.rec.waitEvent(t, 1, is("d", supervise.StateBackoff))
	rn.rec.waitLine(t, "live probe failed: ending the run", "failures=2")
	if e.Exit == nil {
		t.Errorf("backoff without an exit: %+v", e)
	}
}
