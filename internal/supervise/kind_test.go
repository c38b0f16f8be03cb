package supervise_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// kspec runs the "service" worker (written once against worker.Host) as kind:
// a goroutine in this process, this test binary re-executed, or this test binary
// exec'ed through its supervisor-worker symlink.
func kspec(name string, kind supervise.SpawnerKind, args ...string) supervise.Spec {
	s := spec(name, kind)
	args = append([]string{"service", "--heartbeat", "50ms"}, args...)
	if kind == supervise.SpawnExec || kind == supervise.SpawnForkExec {
		args = append([]string{workerPath}, args...)
	}
	s.Command = args
	s.Protocol = true
	s.StartTimeout = 10 * time.Second
	s.HeartbeatTimeout = 5 * time.Second
	return s
}

// TestKindsBehaveAlike runs the same worker through the same behaviour tests
// under each kind: only the isolation differs.
func TestKindsBehaveAlike(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, kind := range supervise.Kinds {
		for _, tc := range []struct {
			doc  string
			args []string
			tune func(*supervise.Spec)
			run  func(t *testing.T, rn *running)
		}{
			{
				doc:  "running only after Ready, then request and reply",
				args: []string{"--slow-start", "100ms"},
				run: func(t *testing.T, rn *running) {
					start := rn.rec.waitEvent(t, 1, is("w", supervise.StateStarting))
					if _, err := rn.sup.Request(ctx, "w", "echo", nil); err == nil {
						t.Error("a request before Ready succeeded")
					}
					running := rn.rec.waitEvent(t, 1, is("w", supervise.StateRunning))
					if d := running.Time.Sub(start.Time); d < 100*time.Millisecond {
						t.Errorf("running %s after start, before the worker's Ready (it waits 100ms)", d)
					}
					if body, err := rn.sup.Request(ctx, "w", "echo", []byte("hello")); err != nil || string(body) != "hello" {
						t.Fatalf("echo: %q, %v", body, err)
					}
					sum := sha256.Sum256([]byte("payload"))
					if body, err := rn.sup.Request(ctx, "w", "hash", []byte("payload")); err != nil || string(body) != hex.EncodeToString(sum[:]) {
						t.Fatalf("hash: %q, %v", body, err)
					}
					if _, err := rn.sup.Request(ctx, "w", "nope", nil); err == nil {
						t.Error("an unknown method succeeded")
					}
				},
			},
			{
				doc: "a crash is restarted under the policy",
				run: func(t *testing.T, rn *running) {
					rn.rec.waitEvent(t, 1, is("w", supervise.StateRunning))
					if _, err := rn.sup.Request(ctx, "w", "crash", nil); err == nil {
						t.Fatal("the crash request succeeded")
					}
					e := rn.rec.waitEvent(t, 1, is("w", supervise.StateBackoff))
					if e.Exit == nil || e.Exit.Code != 2 {
						t.Fatalf("backoff after %v, want exit status 2 (a panic)", e.Exit)
					}
					rn.rec.waitEvent(t, 2, is("w", supervise.StateRunning))
					if body, err := rn.sup.Request(ctx, "w", "echo", []byte("again")); err != nil || string(body) != "again" {
						t.Fatalf("echo after the restart: %q, %v", body, err)
					}
				},
			},
			{
				doc:  "a hung main loop is caught by the heartbeat timeout",
				args: []string{"--hang"},
				tune: func(s *supervise.Spec) { s.HeartbeatTimeout = 300 * time.Millisecond },
				run: func(t *testing.T, rn *running) {
					rn.rec.waitEvent(t, 1, is("w", supervise.StateRunning))
					rn.rec.waitLine(t, "ending the program's run", "no heartbeat for 300ms")
					if e := rn.rec.waitEvent(t, 1, is("w", supervise.StateBackoff)); e.Exit == nil {
						t.Fatalf("backoff without an exit: %+v", e)
					}
					rn.rec.waitEvent(t, 2, is("w", supervise.StateRunning))
				},
			},
			{
				doc: "stop ends the worker cleanly",
				run: func(t *testing.T, rn *running) {
					rn.rec.waitEvent(t, 1, is("w", supervise.StateRunning))
					rn.stop(t)
					rn.rec.waitLine(t, "service stopping (stop requested")
					st := rn.status(t, "w")
					if st.State != supervise.StateExited && st.State != supervise.StateStopped {
						t.Errorf("state %s after stop", st.State)
					}
					if st.LastExit == nil || st.LastExit.ShellCode() != 0 {
						t.Errorf("last exit %v, want status 0 after a stop", st.LastExit)
					}
					if l := rn.sup.Leaked(); len(l) != 0 {
						t.Errorf("leaked %v after a clean stop", l)
					}
				},
			},
		} {
			t.Run(string(kind)+"/"+tc.doc, func(t *testing.T) {
				t.Parallel()
				s := kspec("w", kind, tc.args...)
				s.MaxRestarts = 0
				s.StopGrace = 5 * time.Second
				if tc.tune != nil {
					tc.tune(&s)
				}
				rn := serve(t, group(supervise.OneForOne, s))
				tc.run(t, rn)
			})
		}
	}
}

// A panic in a goroutine worker's main function is that worker's crash: the
// supervisor, a sibling goroutine worker and a sibling process carry on.
func TestGoroutinePanicIsOneWorkersProblem(t *testing.T) {
	t.Parallel()
	bad := kspec("bad", supervise.SpawnGoroutine, "--panic")
	bad.MaxRestarts = 0
	bad.StartRetries = 1000
	rn := serve(t, group(supervise.OneForOne, bad, kspec("good", supervise.SpawnGoroutine), kspec("proc", supervise.SpawnReexec)))
	e := rn.rec.waitEvent(t, 2, is("bad", supervise.StateBackoff))
	if e.Exit == nil || e.Exit.Code != 2 || e.Exit.Panic == "" || e.Exit.Pid != 0 {
		t.Fatalf("exit %+v, want a panic with status 2 and no pid", e.Exit)
	}
	rn.rec.waitLine(t, "test.bad", "goroutine worker panicked", "panicking on request")
	rn.rec.waitLine(t, "worker.runService") // the stack, logged with the panic
	for _, name := range []string{"good", "proc"} {
		rn.rec.waitEvent(t, 1, is(name, supervise.StateRunning))
		if body, err := rn.sup.Request(context.Background(), name, "echo", []byte("still here")); err != nil || string(body) != "still here" {
			t.Fatalf("echo to %s: %q, %v", name, body, err)
		}
		if got := rn.rec.transitions(name); !slices.Equal(got, []supervise.State{supervise.StateStarting, supervise.StateRunning}) {
			t.Errorf("%s went through %v, want only starting, running", name, got)
		}
	}
	if st := rn.status(t, "good"); st.Pid != 0 {
		t.Errorf("a goroutine worker has pid %d, want 0", st.Pid)
	}
}

// A goroutine worker that ignores its stop cannot be killed: after the grace
// period it is reported as leaked, and the supervisor goes on without it.
func TestGoroutineIgnoringStopIsLeaked(t *testing.T) {
	t.Parallel()
	s := kspec("stubborn", supervise.SpawnGoroutine, "--ignore-stop")
	s.StopGrace = 100 * time.Millisecond
	rn := serve(t, group(supervise.OneForOne, s, kspec("fine", supervise.SpawnGoroutine)))
	rn.rec.waitEvent(t, 1, is("stubborn", supervise.StateRunning))
	rn.rec.waitEvent(t, 1, is("fine", supervise.StateRunning))
	rn.stop(t) // returns although the goroutine never does
	rn.rec.waitLine(t, "test.stubborn", "ignored its stop", "leaked")
	if got := rn.sup.Leaked(); !slices.Equal(got, []string{"stubborn"}) {
		t.Errorf("Leaked() = %v, want [stubborn]", got)
	}
	st := rn.status(t, "stubborn")
	if st.Leaked != 1 || st.LastExit == nil || !st.LastExit.Leaked {
		t.Errorf("status %+v, want one leaked run and a leaked last exit", st)
	}
	if st := rn.status(t, "fine"); st.Leaked != 0 || st.LastExit == nil || st.LastExit.Code != 0 {
		t.Errorf("the well-behaved sibling: %+v", st)
	}
}

// A goroutine worker's returned error is exit status 1, logged.
func TestGoroutineReturnedError(t *testing.T) {
	t.Parallel()
	s := kspec("f", supervise.SpawnGoroutine, "--fail")
	s.Restart = supervise.RestartNever
	rn := serve(t, group(supervise.OneForOne, s))
	rn.wait(t)
	st := rn.status(t, "f")
	if st.State != supervise.StateExited || st.LastExit == nil || st.LastExit.Code != 1 || st.LastExit.Err == nil {
		t.Fatalf("status %+v, want exited with status 1 and the error", st)
	}
	rn.rec.waitLine(t, "test.f", "goroutine worker returned an error", "--fail")
}

// A hung goroutine worker that also ignores its stop: the heartbeat timeout ends
// the run, the goroutine is leaked after the grace, and the program is restarted
// beside it, under its policy.
func TestGoroutineHungAndStubbornIsLeakedAndRestarted(t *testing.T) {
	t.Parallel()
	s := kspec("w", supervise.SpawnGoroutine, "--hang", "--ignore-stop")
	s.HeartbeatTimeout = 200 * time.Millisecond
	s.StopGrace = 100 * time.Millisecond
	s.MaxRestarts = 0
	rn := serve(t, group(supervise.OneForOne, s))
	rn.rec.waitEvent(t, 1, is("w", supervise.StateRunning))
	e := rn.rec.waitEvent(t, 1, is("w", supervise.StateBackoff))
	if e.Exit == nil || !e.Exit.Leaked || e.Exit.ShellCode() != 137 {
		t.Fatalf("backoff after %v, want a leaked run (status 137)", e.Exit)
	}
	rn.rec.waitEvent(t, 2, is("w", supervise.StateRunning))
	if got := rn.sup.Leaked(); len(got) < 1 || got[0] != "w" {
		t.Errorf("Leaked() = %v, want at least one w", got)
	}
	if body, err := rn.sup.Request(context.Background(), "w", "echo", []byte("new run")); err != nil || string(body) != "new run" {
		t.Fatalf("echo to the restarted run: %q, %v", body, err)
	}
}

// The same worker ignoring its stop under each kind: a process is SIGKILLed at
// the end of the grace period; a goroutine cannot be, and is reported leaked.
func TestIgnoringStopPerKind(t *testing.T) {
	t.Parallel()
	for _, kind := range supervise.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := kspec("w", kind, "--ignore-stop")
			s.StopGrace = 300 * time.Millisecond
			rn := serve(t, group(supervise.OneForOne, s))
			rn.rec.waitEvent(t, 1, is("w", supervise.StateRunning))
			rn.stop(t)
			st := rn.status(t, "w")
			switch {
			case st.LastExit == nil:
				t.Fatal("no last exit after the stop")
			case kind == supervise.SpawnGoroutine:
				if !st.LastExit.Leaked || st.Leaked != 1 || len(rn.sup.Leaked()) != 1 {
					t.Errorf("last exit %v, leaked %d/%v: want one leaked run", st.LastExit, st.Leaked, rn.sup.Leaked())
				}
			default:
				if st.LastExit.Signal != syscall.SIGKILL || st.Leaked != 0 || len(rn.sup.Leaked()) != 0 {
					t.Errorf("last exit %v, leaked %d: want SIGKILL and nothing leaked", st.LastExit, st.Leaked)
				}
			}
		})
	}
}

// Strategies do not ask which kind a program is: under one_for_all a goroutine
// worker's crash restarts the processes too, and a process's crash the goroutine.
func TestOneForAllAcrossKinds(t *testing.T) {
	t.Parallel()
	var specs []supervise.Spec
	for _, kind := range supervise.Kinds {
		s := kspec(string(kind), kind)
		s.MaxRestarts = 0
		specs = append(specs, s)
	}
	rn := serve(t, group(supervise.OneForAll, specs...))
	ctx := context.Background()
	for i, crash := range []supervise.SpawnerKind{supervise.SpawnGoroutine, supervise.SpawnExec} {
		for _, kind := range supervise.Kinds {
			rn.rec.waitEvent(t, i+1, is(string(kind), supervise.StateRunning))
		}
		if _, err := rn.sup.Request(ctx, string(crash), "crash", nil); err == nil {
			t.Fatalf("crash request to %s succeeded", crash)
		}
		for _, kind := range supervise.Kinds {
			rn.rec.waitEvent(t, i+2, is(string(kind), supervise.StateRunning))
		}
	}
	for _, kind := range supervise.Kinds {
		if body, err := rn.sup.Request(ctx, string(kind), "echo", []byte("ok")); err != nil || string(body) != "ok" {
			t.Errorf("echo to %s after two group restarts: %q, %v", kind, body, err)
		}
	}
}
