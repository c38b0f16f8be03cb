package supervise

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/worker"
)

// The policy machine, driven from tables without a process: a harness plays the
// state goroutine (it carries out the machine's actions as Supervisor.do does,
// with every run an imaginary one) and records what the machine asked for.

type harness struct {
	t       *testing.T
	m       *machine
	by      map[string]*program
	now     time.Time
	pid     int
	failing map[string]bool      // spawns of these programs fail
	timers  map[string]timerKind // armed policy timers
	armed   map[string]bool
	group   uint64 // the armed group timer's gen, or 0
	trace   []string
	replies []error
}

func newHarness(t *testing.T, strategy Strategy, specs ...Spec) *harness {
	t.Helper()
	h := &harness{t: t, by: map[string]*program{}, now: time.Unix(1_000_000, 0), pid: 100,
		failing: map[string]bool{}, timers: map[string]timerKind{}, armed: map[string]bool{}}
	var progs []*program
	for _, sp := range specs {
		p := &program{spec: sp, log: hclog.NewNullLogger()}
		p.state = StateStopped
		progs = append(progs, p)
		h.by[sp.Name] = p
	}
	h.m = newMachine(strategy, progs, func() float64 { return 0.5 }) // 0.5: no jitter
	return h
}

// testSpec is DefaultSpec with jitter off and the given changes.
func testSpec(name string, change ...func(*Spec)) Spec {
	sp := DefaultSpec()
	sp.Name, sp.Command, sp.BackoffJitter = name, []string{"true"}, 0
	for _, c := range change {
		c(&sp)
	}
	return sp
}

var timerNames = map[timerKind]string{timerUptime: "uptime", timerBackoff: "backoff", timerStartTimeout: "start_timeout", timerHeartbeat: "heartbeat", timerWatchdog: "watchdog"}

// do carries out acts as Supervisor.do does, recording each.
func (h *harness) do(acts []action) {
	for _, a := range acts {
		switch a := a.(type) {
		case actSpawn:
			n := a.p.spec.Name
			h.record("spawn " + n)
			if h.failing[n] {
				h.do(h.m.spawnFailed(a.p, h.now))
				continue
			}
			h.pid++
			h.do(h.m.spawned(a.p, h.pid, "spawned", false, h.now))
		case actStop:
			h.record("stop " + a.p.spec.Name)
		case actEnd:
			h.record(fmt.Sprintf("end %s %s (%s)", a.p.spec.Name, SignalName(a.sig), a.why))
		case actKillNow:
			h.record("killnow " + a.p.spec.Name)
		case actTimer:
			h.timers[a.p.spec.Name], h.armed[a.p.spec.Name] = a.kind, true
			h.record(fmt.Sprintf("timer %s %s %s", a.p.spec.Name, timerNames[a.kind], a.d))
		case actCancelTimer:
			delete(h.armed, a.p.spec.Name)
		case actEvent:
			h.record(fmt.Sprintf("%s %s", a.ev.Program, a.ev.To))
		case actLinkUp:
			h.record("link " + a.p.spec.Name)
		case actGroupTimer:
			h.group = a.gen
			h.record(fmt.Sprintf("group timer %s", a.d))
		case actSeqDone:
			h.record("seq done")
			if c, ok := a.then.(ctlThen); ok {
				if c.restart {
					h.do(h.m.startOnRequest(c.p))
				}
			}
			if a.group {
				h.do(h.m.groupAfterSeq())
			}
		case actEscapes:
		case actReply:
			h.replies = append(h.replies, a.err)
		default:
			h.t.Fatalf("unknown action %T", a)
		}
	}
}

func (h *harness) record(s string) { h.trace = append(h.trace, s) }

func (h *harness) p(name string) *program {
	h.t.Helper()
	p := h.by[name]
	if p == nil {
		h.t.Fatalf("no program %q", name)
	}
	return p
}

// Inputs, as the state goroutine feeds them.
func (h *harness) start(name string) { h.do(h.m.start(h.p(name))) }
func (h *harness) exit(name string, code int) {
	h.do(h.m.exited(h.p(name), Exit{Code: code, Time: h.now}))
}
func (h *harness) killed(name string, sig syscall.Signal) {
	h.do(h.m.exited(h.p(name), Exit{Code: -1, Signal: sig, Time: h.now}))
}
func (h *harness) gone(name string) { h.do(h.m.stopped(h.p(name), h.now)) }
func (h *harness) stopAndGone(names ...string) {
	for _, n := range names {
		h.killed(n, syscall.SIGTERM)
		h.gone(n)
	}
}
func (h *harness) fire(name string) {
	h.t.Helper()
	if !h.armed[name] {
		h.t.Fatalf("%s: no timer armed", name)
	}
	delete(h.armed, name)
	h.do(h.m.timer(h.p(name), h.timers[name], h.now))
}
func (h *harness) fireGroup()            { h.do(h.m.groupTimer(h.group)) }
func (h *harness) after(d time.Duration) { h.now = h.now.Add(d) }

// expect checks the actions recorded since the last expect, and clears them.
func (h *harness) expect(want ...string) {
	h.t.Helper()
	if !slices.Equal(h.trace, want) {
		h.t.Errorf("actions:\n  got  %s\n  want %s", strings.Join(h.trace, "; "), strings.Join(want, "; "))
	}
	h.trace = nil
}

func (h *harness) state(name string, want State) {
	h.t.Helper()
	if got := h.p(name).state; got != want {
		h.t.Errorf("%s: state %s, want %s (reason %q)", name, got, want, h.p(name).reason)
	}
}

// upNow: a program that counts as running as soon as it is spawned.
func upNow(sp *Spec) { sp.MinUptime = 0 }

func TestPolicyRestartPolicies(t *testing.T) {
	t.Parallel()
	type exit struct {
		code int
		sig  syscall.Signal
	}
	cases := []struct {
		doc      string
		restart  RestartPolicy
		success  []int
		exit     exit
		want     State
		exitCode int // the machine's after the exit
	}{
		{"always restarts a success", RestartAlways, nil, exit{0, 0}, StateBackoff, 0},
		{"always restarts a failure", RestartAlways, nil, exit{1, 0}, StateBackoff, 0},
		{"on-failure: success ends", RestartOnFailure, nil, exit{0, 0}, StateExited, 0},
		{"on-failure: failure restarts", RestartOnFailure, nil, exit{2, 0}, StateBackoff, 0},
		{"on-failure: a signal is a failure", RestartOnFailure, nil, exit{-1, syscall.SIGKILL}, StateBackoff, 0},
		{"on-failure: a success code ends", RestartOnFailure, []int{0, 3}, exit{3, 0}, StateExited, 0},
		{"on-failure: 0 is no success unless listed", RestartOnFailure, []int{3}, exit{0, 0}, StateBackoff, 0},
		{"never: success", RestartNever, nil, exit{0, 0}, StateExited, 0},
		{"never: failure sets the exit code", RestartNever, nil, exit{4, 0}, StateExited, 4},
		{"never: a signal is 128+sig", RestartNever, nil, exit{-1, syscall.SIGTERM}, StateExited, 143},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, OneForOne, testSpec("a", upNow, func(sp *Spec) {
				sp.Restart = tc.restart
				if tc.success != nil {
					sp.SuccessCodes = tc.success
				}
			}))
			h.start("a")
			h.after(time.Minute)
			h.do(h.m.exited(h.p("a"), Exit{Code: tc.exit.code, Signal: tc.exit.sig, Time: h.now}))
			h.state("a", tc.want)
			if h.m.exitCode != tc.exitCode {
				t.Errorf("exit code %d, want %d", h.m.exitCode, tc.exitCode)
			}
		})
	}
}

func TestPolicyMinUptimeAndStartRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, OneForOne, testSpec("a", func(sp *Spec) { sp.StartRetries = 2 }))
	h.start("a")
	h.expect("spawn a", "a starting", "timer a uptime 1s")
	// Three exits before min_uptime: the third turns it fatal (2 retries).
	h.exit("a", 1)
	h.expect("a backoff", "timer a backoff 100ms")
	h.fire("a")
	h.expect("spawn a", "a starting", "timer a uptime 1s")
	h.exit("a", 1)
	h.expect("a backoff", "timer a backoff 200ms")
	h.fire("a")
	h.trace = nil
	h.exit("a", 1)
	h.expect("a fatal")
	if want := "ended before min_uptime 1s in 3 starts in a row"; h.p("a").reason != want {
		t.Errorf("reason %q, want %q", h.p("a").reason, want)
	}
	if h.m.exitCode != 1 {
		t.Errorf("exit code %d, want 1", h.m.exitCode)
	}

	// Up for min_uptime: running, and the count of failed starts starts again.
	h = newHarness(t, OneForOne, testSpec("a", func(sp *Spec) { sp.StartRetries = 1 }))
	h.start("a")
	h.exit("a", 1)
	h.fire("a")
	h.fire("a") // uptime
	h.state("a", StateRunning)
	h.exit("a", 1)
	h.state("a", StateBackoff) // not fatal: this was no failed start
	h.fire("a")
	h.exit("a", 1)
	h.state("a", StateBackoff) // one failed start in a row: within 1 retry
}

func TestPolicyBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, OneForOne, testSpec("a", upNow, func(sp *Spec) {
		sp.BackoffInitial, sp.BackoffMax, sp.BackoffReset, sp.MaxRestarts = 100*time.Millisecond, 400*time.Millisecond, 10*time.Second, 0
	}))
	h.start("a")
	for _, want := range []string{"100ms", "200ms", "400ms", "400ms"} { // doubling, then the cap
		h.trace = nil
		h.after(time.Second)
		h.exit("a", 1)
		h.expect("a backoff", "timer a backoff "+want)
		if got := h.p("a").restartAt; !got.Equal(h.now.Add(mustDuration(t, want))) {
			t.Errorf("restartAt %v, want now+%s", got, want)
		}
		h.fire("a")
	}
	// A run of backoff_reset or more starts the doubling again.
	h.after(10 * time.Second)
	h.trace = nil
	h.exit("a", 1)
	h.expect("a backoff", "timer a backoff 100ms")
	if h.p("a").restarts != 5 {
		t.Errorf("restarts %d, want 5", h.p("a").restarts)
	}

	// A zero delay restarts at once, without a timer.
	h = newHarness(t, OneForOne, testSpec("a", upNow, func(sp *Spec) { sp.BackoffInitial = 0 }))
	h.start("a")
	h.trace = nil
	h.exit("a", 1)
	h.expect("a backoff", "spawn a", "a starting", "a running")
}

func mustDuration(t *testing.T, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPolicyBackoffJitter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rand float64
		want time.Duration
	}{{0, 50 * time.Millisecond}, {0.5, 100 * time.Millisecond}, {0.75, 125 * time.Millisecond}, {0.25, 75 * time.Millisecond}}
	for _, tc := range cases {
		h := newHarness(t, OneForOne, testSpec("a", func(sp *Spec) { sp.BackoffJitter = 0.5 }))
		h.m.rand = func() float64 { return tc.rand }
		p := h.p("a")
		p.failures = 1
		if got := h.m.backoff(p); got.Round(10*time.Nanosecond) != tc.want {
			t.Errorf("rand %v: backoff %s, want %s", tc.rand, got, tc.want)
		}
	}
	// The cap holds after jitter too.
	h := newHarness(t, OneForOne, testSpec("a", func(sp *Spec) { sp.BackoffJitter, sp.BackoffMax = 1, 150*time.Millisecond }))
	h.m.rand = func() float64 { return 0.99 }
	h.p("a").failures = 1
	if got := h.m.backoff(h.p("a")); got != 150*time.Millisecond {
		t.Errorf("backoff %s, want the cap 150ms", got)
	}
}

func TestPolicyRestartIntensity(t *testing.T) {
	t.Parallel()
	h := newHarness(t, OneForOne, testSpec("a", upNow, func(sp *Spec) { sp.MaxRestarts, sp.RestartWindow = 2, 10*time.Second }))
	h.start("a")
	for range 2 {
		h.after(time.Second)
		h.exit("a", 1)
		h.state("a", StateBackoff)
		h.fire("a")
	}
	// Two restarts in the window already: a third turns it fatal.
	h.after(time.Second)
	h.exit("a", 1)
	h.state("a", StateFatal)
	if want := "restarted 2 times within 10s (max_restarts)"; h.p("a").reason != want {
		t.Errorf("reason %q, want %q", h.p("a").reason, want)
	}

	// Restarts that fall out of the window no longer count.
	h = newHarness(t, OneForOne, testSpec("a", upNow, func(sp *Spec) { sp.MaxRestarts, sp.RestartWindow = 2, 10*time.Second }))
	h.start("a")
	for range 5 {
		h.after(6 * time.Second)
		h.exit("a", 1)
		h.state("a", StateBackoff)
		h.fire("a")
	}
}

func TestPolicyEssential(t *testing.T) {
	t.Parallel()
	h := newHarness(t, OneForOne, testSpec("db", upNow), testSpec("app", upNow, func(sp *Spec) { sp.Essential, sp.Restart = true, RestartNever }), testSpec("web", upNow))
	for _, n := range []string{"db", "app", "web"} {
		h.start(n)
	}
	h.trace = nil
	h.exit("app", 3)
	// The others stop at once: nothing orders them.
	h.expect("app exited", "web stopping", "stop web", "db stopping", "stop db")
	h.stopAndGone("web")
	h.expect("web stopped")
	h.stopAndGone("db")
	h.expect("db stopped")
	if !h.m.essential || h.m.exitCode != 3 || !h.m.finished() {
		t.Errorf("essential %v, exit code %d, finished %v; want true, 3, true", h.m.essential, h.m.exitCode, h.m.finished())
	}
}

func TestPolicyStrategies(t *testing.T) {
	t.Parallel()
	three := func(strategy Strategy) *harness {
		h := newHarness(t, strategy, testSpec("a", upNow), testSpec("b", upNow), testSpec("c", upNow))
		for _, n := range []string{"a", "b", "c"} {
			h.start(n)
		}
		h.trace = nil
		return h
	}
	t.Run("one_for_one", func(t *testing.T) {
		h := three(OneForOne)
		h.exit("b", 1)
		h.expect("b backoff", "timer b backoff 100ms")
	})
	t.Run("one_for_all", func(t *testing.T) {
		h := three(OneForAll)
		h.exit("b", 1)
		// The others stop in reverse order, then all start in order after the delay.
		h.expect("b backoff", "c stopping", "stop c")
		if !h.p("b").restartAt.IsZero() {
			t.Error("restartAt set under one_for_all; the group's stops come first")
		}
		h.stopAndGone("c")
		h.expect("c stopped", "a stopping", "stop a")
		h.stopAndGone("a")
		h.expect("a stopped", "group timer 100ms")
		h.fireGroup()
		h.expect("spawn a", "a starting", "a running", "spawn b", "b starting", "b running", "spawn c", "c starting", "c running")
	})
	t.Run("rest_for_one", func(t *testing.T) {
		h := three(RestForOne)
		h.exit("b", 1)
		h.expect("b backoff", "c stopping", "stop c")
		h.stopAndGone("c")
		h.expect("c stopped", "group timer 100ms")
		h.fireGroup()
		h.expect("spawn b", "b starting", "b running", "spawn c", "c starting", "c running")
		h.state("a", StateRunning) // untouched
	})
	t.Run("a second failure widens the restart", func(t *testing.T) {
		h := three(RestForOne)
		h.exit("c", 1)
		h.expect("c backoff", "group timer 100ms") // nothing after c to stop
		h.exit("a", 1)
		// The armed timer is stale now; b stops, then all three start.
		h.expect("a backoff", "b stopping", "stop b")
		h.fireGroup()
		h.expect() // stale
		h.stopAndGone("b")
		h.expect("b stopped", "group timer 100ms")
		h.fireGroup()
		h.expect("spawn a", "a starting", "a running", "spawn b", "b starting", "b running", "spawn c", "c starting", "c running")
	})
	t.Run("an exit during the group restart", func(t *testing.T) {
		h := three(OneForAll)
		h.exit("a", 1)
		h.expect("a backoff", "c stopping", "stop c")
		h.exit("b", 0) // on its own, while c is being stopped
		h.expect("b stopped")
		h.stopAndGone("c")
		h.expect("c stopped", "group timer 100ms")
	})
	t.Run("a single program restarts alone", func(t *testing.T) {
		h := newHarness(t, OneForAll, testSpec("a", upNow))
		h.start("a")
		h.trace = nil
		h.exit("a", 1)
		h.expect("a backoff", "timer a backoff 100ms")
	})
}

func TestPolicyControl(t *testing.T) {
	t.Parallel()
	t.Run("stop holds a program until start", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a", upNow))
		h.start("a")
		h.trace = nil
		reply := make(chan error, 1)
		acts, err := h.m.ctlStop(h.p("a"), false, ctlThen{p: h.p("a"), reply: reply}, h.now)
		if err != nil {
			t.Fatal(err)
		}
		h.do(acts)
		h.expect("a stopping", "stop a")
		h.stopAndGone("a")
		h.expect("a stopped", "seq done")
		if h.m.finished() {
			t.Error("finished with a held program")
		}
		if err := h.m.ctlStart(h.p("a")); err != nil {
			t.Fatal(err)
		}
		h.do(h.m.startOnRequest(h.p("a")))
		h.expect("spawn a", "a starting", "a running")
	})
	t.Run("restart", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a", upNow))
		h.start("a")
		h.trace = nil
		acts, err := h.m.ctlStop(h.p("a"), true, ctlThen{p: h.p("a"), restart: true}, h.now)
		if err != nil {
			t.Fatal(err)
		}
		h.do(acts)
		h.stopAndGone("a")
		h.expect("a stopping", "stop a", "a stopped", "seq done", "spawn a", "a starting", "a running")
	})
	t.Run("stops of other programs join a running stop", func(t *testing.T) {
		// ctl stop a b c sends three requests at once: none is refused because
		// another's stop is still running, and each is answered (seq done) once
		// its own program has stopped, in whatever order they stop.
		h := newHarness(t, OneForOne, testSpec("a", upNow), testSpec("b", upNow), testSpec("c", upNow))
		for _, n := range []string{"a", "b", "c"} {
			h.start(n)
		}
		h.trace = nil
		for _, n := range []string{"a", "b"} {
			acts, err := h.m.ctlStop(h.p(n), false, ctlThen{p: h.p(n)}, h.now)
			if err != nil {
				t.Fatalf("stop %s: %v", n, err)
			}
			h.do(acts)
		}
		acts, err := h.m.ctlStop(h.p("c"), true, ctlThen{p: h.p("c"), restart: true}, h.now)
		if err != nil {
			t.Fatalf("restart c during the stops of a and b: %v", err)
		}
		h.do(acts)
		h.expect("a stopping", "stop a", "b stopping", "stop b", "c stopping", "stop c")
		if _, err := h.m.ctlStop(h.p("a"), false, nil, h.now); !errors.Is(err, ErrBusy) {
			t.Errorf("a second stop of a program being stopped: %v, want ErrBusy", err)
		}
		h.stopAndGone("b")
		h.expect("b stopped", "seq done")
		h.stopAndGone("c")
		h.expect("c stopped", "seq done", "spawn c", "c starting", "c running")
		h.stopAndGone("a")
		h.expect("a stopped", "seq done")
		if h.m.busy() {
			t.Error("busy after every stop ended")
		}
	})
	t.Run("start resets the failure counters", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a", func(sp *Spec) { sp.StartRetries = 0 }))
		h.start("a")
		h.exit("a", 1)
		h.state("a", StateFatal)
		h.do(h.m.startOnRequest(h.p("a")))
		if p := h.p("a"); p.failedStarts != 0 || p.failures != 0 {
			t.Errorf("failedStarts %d, failures %d after start; want 0, 0", p.failedStarts, p.failures)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		h := newHarness(t, OneForAll, testSpec("a", upNow), testSpec("b", upNow), testSpec("c", upNow))
		h.start("a")
		h.start("b")
		if err := h.m.ctlStart(h.p("a")); !errors.Is(err, ErrAlreadyStarted) {
			t.Errorf("start of a running program: %v, want ErrAlreadyStarted", err)
		}
		if _, err := h.m.ctlStop(h.p("c"), false, nil, h.now); !errors.Is(err, ErrNotRunning) {
			t.Errorf("stop of a stopped program: %v, want ErrNotRunning", err)
		}
		h.exit("a", 1) // a group restart: b stops
		for _, n := range []string{"a", "b"} {
			if _, err := h.m.ctlStop(h.p(n), true, nil, h.now); !errors.Is(err, ErrBusy) {
				t.Errorf("restart of %s during a group restart: %v, want ErrBusy", n, err)
			}
		}
		h.stopAndGone("b")
		if err := h.m.ctlStart(h.p("b")); !errors.Is(err, ErrBusy) {
			t.Errorf("start of a program the group restart will start: %v, want ErrBusy", err)
		}
		if err := h.m.ctlStart(h.p("c")); err != nil {
			t.Errorf("start of a program outside the group restart: %v", err)
		}
	})
}

func TestPolicyStops(t *testing.T) {
	t.Parallel()
	t.Run("during backoff", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a", upNow))
		h.start("a")
		h.exit("a", 1)
		h.trace = nil
		h.do(h.m.shutdown(h.now))
		h.expect("a stopped") // no stop: nothing runs
		if h.armed["a"] {
			t.Error("the backoff timer is still armed")
		}
		if !h.m.finished() || h.m.exitCode != 0 {
			t.Errorf("finished %v, exit code %d; want true, 0", h.m.finished(), h.m.exitCode)
		}
	})
	t.Run("during start", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a"))
		h.start("a")
		h.trace = nil
		h.do(h.m.shutdown(h.now))
		h.expect("a stopping", "stop a")
		if h.armed["a"] {
			t.Error("the uptime timer is still armed")
		}
		h.stopAndGone("a")
		h.expect("a stopped")
	})
	t.Run("of a failed spawn", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a"))
		h.failing["a"] = true
		h.start("a")
		h.expect("spawn a", "a starting")
		h.do(h.m.shutdown(h.now))
		h.expect("a stopping") // nothing to signal: the exit is on its way
		h.do(h.m.exited(h.p("a"), Exit{Code: 127, SpawnErr: errors.New("not found"), Time: h.now}))
		h.gone("a")
		h.expect("a stopped")
	})
	t.Run("exits during shutdown", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a", upNow), testSpec("b", upNow, after("a")))
		h.start("a")
		h.start("b")
		h.do(h.m.shutdown(h.now))
		h.trace = nil
		h.exit("a", 1) // a is not being stopped yet: it ends on its own
		h.expect("a exited")
		h.stopAndGone("b")
		h.expect("b stopped")
	})
	t.Run("kill", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a", upNow), testSpec("b", upNow))
		h.start("a")
		h.start("b")
		h.do(h.m.shutdown(h.now))
		h.trace = nil
		h.do(h.m.kill(h.now))
		h.expect("killnow a", "killnow b") // both being stopped; later stops get no grace (Supervisor reads killAll)
		if !h.m.killAll {
			t.Error("killAll not set")
		}
	})
}

func TestPolicyProtocol(t *testing.T) {
	t.Parallel()
	proto := func(sp *Spec) { sp.Protocol, sp.StartTimeout, sp.HeartbeatTimeout = true, 5*time.Second, 3*time.Second }
	t.Run("ready, heartbeats, then none", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a", proto))
		h.start("a")
		h.expect("spawn a", "a starting", "timer a start_timeout 5s")
		h.m.hello(h.p("a"))
		h.do(h.m.readied(h.p("a"), h.now))
		h.expect("link a", "a running", "timer a heartbeat 3s")
		if h.p("a").reason != "said Ready" {
			t.Errorf("reason %q", h.p("a").reason)
		}
		h.do(h.m.heartbeat(h.p("a"), 7, h.now))
		h.expect("timer a heartbeat 3s")
		h.fire("a")
		h.expect("end a SIGTERM (no heartbeat for 3s (last seq 7))")
		// Late messages of a run being ended change nothing.
		h.do(h.m.heartbeat(h.p("a"), 8, h.now))
		h.do(h.m.readied(h.p("a"), h.now))
		h.expect()
		// Its exit, even with status 0, counts as a failure.
		h.after(time.Minute)
		h.exit("a", 0)
		h.state("a", StateBackoff)
	})
	t.Run("no handshake", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a", proto))
		h.start("a")
		h.trace = nil
		h.fire("a")
		h.expect("end a SIGKILL (no handshake (Hello on fd 3) within start_timeout 5s: does the program speak the protocol (protocol = true)?)")
	})
	t.Run("no ready", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a", proto))
		h.start("a")
		h.m.hello(h.p("a"))
		h.trace = nil
		h.fire("a")
		h.expect("end a SIGKILL (no ready within start_timeout 5s)")
		h.exit("a", -1)
		if h.p("a").failedStarts != 1 {
			t.Errorf("failedStarts %d, want 1", h.p("a").failedStarts)
		}
	})
	t.Run("a run fails once", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("a", proto))
		h.start("a")
		h.trace = nil
		h.do(h.m.runFailed(h.p("a"), "protocol error: garbage", syscall.SIGKILL))
		h.do(h.m.runFailed(h.p("a"), "closed its end of the protocol pipe", syscall.SIGTERM))
		h.expect("end a SIGKILL (protocol error: garbage)")
	})
}

func TestCatalogueCheck(t *testing.T) {
	t.Parallel()
	cat := Catalogue{Reexec: []string{"child", "service"}, Funcs: map[string]worker.Func{"service": nil}}
	cases := []struct {
		doc     string
		spawner SpawnerKind
		command string
		cat     Catalogue
		want    string // "" for no error
	}{
		{"an external program needs no catalogue", SpawnExec, "/bin/true", Catalogue{}, ""},
		{"reexec of a known worker", SpawnReexec, "child", cat, ""},
		{"reexec of an unknown worker", SpawnReexec, "nosuch", cat, `command: "nosuch" is not a built-in worker (spawner reexec runs one of: child, service)`},
		{"goroutine of a known function", SpawnGoroutine, "service", cat, ""},
		{"goroutine of a process-only worker", SpawnGoroutine, "child", cat, `"child" is not a built-in worker that runs as a goroutine (one of: service)`},
		{"the zero catalogue has no worker", SpawnReexec, "child", Catalogue{}, "is not a built-in worker"},
	}
	for _, tc := range cases {
		sp := testSpec("w", func(sp *Spec) { sp.Spawner, sp.Command = tc.spawner, []string{tc.command} })
		err := tc.cat.Check(&sp)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.doc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidSpec)):
			t.Errorf("%s: error %v, want one wrapping ErrInvalidSpec saying %q", tc.doc, err, tc.want)
		}
	}
}

func after(names ...string) func(*Spec)    { return func(sp *Spec) { sp.After = names } }
func requires(names ...string) func(*Spec) { return func(sp *Spec) { sp.Requires = names } }

func TestPolicyDependencies(t *testing.T) {
	t.Parallel()
	t.Run("start in order of readiness, stop in reverse, independent ones at once", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("web", after("api")), testSpec("api", after("db")), testSpec("db"), testSpec("cron"))
		h.do(h.m.startAll(h.now))
		h.expect("spawn db", "db starting", "timer db uptime 1s", "api waiting", "web waiting", "spawn cron", "cron starting", "timer cron uptime 1s")
		if want := "waiting for db"; h.p("api").reason != want {
			t.Errorf("api: reason %q, want %q", h.p("api").reason, want)
		}
		h.fire("db") // db is up: api starts; web still waits for api
		h.expect("db running", "spawn api", "api starting", "timer api uptime 1s")
		h.state("web", StateWaiting)
		h.fire("api")
		h.expect("api running", "spawn web", "web starting", "timer web uptime 1s")
		h.fire("web")
		h.fire("cron")
		h.trace = nil
		h.do(h.m.shutdown(h.now))
		// cron and web (nothing starts after them) at once; api after web; db after api.
		h.expect("cron stopping", "stop cron", "web stopping", "stop web")
		h.stopAndGone("cron")
		h.expect("cron stopped")
		h.stopAndGone("web")
		h.expect("web stopped", "api stopping", "stop api")
		h.stopAndGone("api")
		h.expect("api stopped", "db stopping", "stop db")
		h.stopAndGone("db")
		h.expect("db stopped")
		if !h.m.finished() {
			t.Error("not finished")
		}
	})
	t.Run("after only orders: a program that ended lets the next start", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("migrate", func(sp *Spec) { sp.Restart = RestartNever }), testSpec("app", upNow, after("migrate")))
		h.do(h.m.startAll(h.now))
		h.state("app", StateWaiting)
		h.trace = nil
		h.exit("migrate", 0) // a one-shot that never counted as running
		h.expect("migrate exited", "spawn app", "app starting", "app running")
	})
	t.Run("requires: not started when the required one ended for good", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("db", func(sp *Spec) { sp.StartRetries = 0 }), testSpec("app", upNow, requires("db")))
		h.do(h.m.startAll(h.now))
		h.trace = nil
		h.exit("db", 1)
		h.expect("db fatal", "app stopped")
		if want := "not started: requires db, which is fatal"; h.p("app").reason != want {
			t.Errorf("app: reason %q, want %q", h.p("app").reason, want)
		}
		if !h.m.finished() {
			t.Error("not finished: nothing can run")
		}
	})
	t.Run("requires: stopped when the required one ends for good", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("db", upNow, func(sp *Spec) { sp.Restart = RestartNever }), testSpec("app", upNow, requires("db")), testSpec("other", upNow))
		h.do(h.m.startAll(h.now))
		h.trace = nil
		h.exit("db", 0)
		h.expect("db exited", "app stopping", "stop app")
		h.stopAndGone("app")
		h.expect("app stopped")
		if want := "stopped: requires db, which is exited"; h.p("app").reason != want {
			t.Errorf("app: reason %q, want %q", h.p("app").reason, want)
		}
		h.state("other", StateRunning)
	})
	t.Run("a restart of a dependency leaves what runs after it running", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("db", upNow), testSpec("app", upNow, requires("db")))
		h.do(h.m.startAll(h.now))
		h.trace = nil
		h.exit("db", 1)
		h.expect("db backoff", "timer db backoff 100ms")
		h.state("app", StateRunning)
	})
	t.Run("start on request waits for what it starts after", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("db", func(sp *Spec) { sp.Autostart = false }), testSpec("app", upNow, after("db"), func(sp *Spec) { sp.Autostart = false }))
		h.do(h.m.startAll(h.now))
		h.expect()
		h.do(h.m.startOnRequest(h.p("db")))
		h.do(h.m.startOnRequest(h.p("app")))
		h.expect("spawn db", "db starting", "timer db uptime 1s", "app waiting")
		h.fire("db")
		h.expect("db running", "spawn app", "app starting", "app running")
	})
	t.Run("a group stop goes in reverse dependency order", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("db", upNow), testSpec("app", upNow, requires("db")), testSpec("other", upNow))
		h.do(h.m.startAll(h.now))
		h.state("app", StateRunning)
		h.trace = nil
		acts, err := h.m.ctlStopGroup([]*program{h.p("db"), h.p("app"), h.p("other")}, false, groupThen{}, h.now)
		if err != nil {
			t.Fatal(err)
		}
		h.do(acts)
		h.expect("app stopping", "stop app", "other stopping", "stop other") // db waits for app
		h.stopAndGone("app")
		h.expect("app stopped", "db stopping", "stop db")
		h.stopAndGone("other")
		h.stopAndGone("db")
		h.expect("other stopped", "db stopped", "seq done")
		if _, err := h.m.ctlStopGroup([]*program{h.p("db")}, true, groupThen{}, h.now); err != nil {
			t.Errorf("a restart after the sequence ended: %v", err)
		}
	})
	t.Run("stopping a program that waits", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("db"), testSpec("app", after("db")))
		h.do(h.m.startAll(h.now))
		h.trace = nil
		acts, err := h.m.ctlStop(h.p("app"), false, ctlThen{p: h.p("app")}, h.now)
		if err != nil {
			t.Fatal(err)
		}
		h.do(acts)
		h.expect("app stopped", "seq done")
		h.fire("db")
		h.state("app", StateStopped) // held: db running does not start it
	})
}

func TestDependencyValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		doc   string
		specs []Spec
		want  string
	}{
		{"unknown", []Spec{testSpec("a", after("b"))}, `program "a": after: no program "b"`},
		{"itself", []Spec{testSpec("a", requires("a"))}, `program "a": requires: names the program itself`},
		{"cycle", []Spec{testSpec("web", after("api")), testSpec("api", requires("db")), testSpec("db", after("web"))},
			`dependency cycle: web -> api -> db -> web`},
		{"a diamond is no cycle", []Spec{testSpec("a", after("b", "c")), testSpec("b", after("d")), testSpec("c", after("d")), testSpec("d")}, ""},
	}
	for _, tc := range cases {
		g := Group{Strategy: OneForOne, Programs: tc.specs}
		err := g.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.doc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// Readiness from sd_notify (and, the same way, s6 and probes): one model.
func TestPolicyNotifyReadiness(t *testing.T) {
	t.Parallel()
	sd := func(sp *Spec) { sp.Notify, sp.StartTimeout, sp.Watchdog = NotifySystemd, 5*time.Second, 2*time.Second }
	t.Run("ready, watchdog pings, then none", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("d", sd))
		h.start("d")
		h.expect("spawn d", "d starting", "timer d start_timeout 5s")
		h.do(h.m.extendStart(h.p("d"), 20*time.Second, h.now))
		h.expect("timer d start_timeout 20s")
		h.do(h.m.readyBy(h.p("d"), "sent READY=1", h.now))
		h.expect("d running", "timer d watchdog 2s") // no link: it takes no requests
		if h.p("d").reason != "sent READY=1" {
			t.Errorf("reason %q", h.p("d").reason)
		}
		h.do(h.m.watchdog(h.p("d"), h.now))
		h.expect("timer d watchdog 2s")
		h.fire("d")
		h.expect("end d SIGABRT (no WATCHDOG=1 for 2s (watchdog))")
	})
	t.Run("never ready", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("d", sd))
		h.start("d")
		h.trace = nil
		h.fire("d")
		h.expect("end d SIGKILL (not ready within start_timeout 5s (it did not send READY=1))")
		h.exit("d", -1)
		if h.p("d").failedStarts != 1 {
			t.Errorf("failedStarts %d, want 1", h.p("d").failedStarts)
		}
	})
	t.Run("ready late is ignored once the run is ended", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("d", sd))
		h.start("d")
		h.fire("d")
		h.trace = nil
		h.do(h.m.readyBy(h.p("d"), "sent READY=1", h.now))
		h.expect()
	})
}

// Found in review: each of these once went wrong.
func TestPolicyReviewRegressions(t *testing.T) {
	t.Parallel()
	noBackoff := func(sp *Spec) { sp.BackoffInitial, sp.BackoffMax = 0, 0 }
	t.Run("a restart joined by a group restart spawns the program once", func(t *testing.T) {
		h := newHarness(t, OneForAll, testSpec("a", upNow, noBackoff), testSpec("b", upNow, noBackoff))
		h.do(h.m.startAll(h.now))
		h.trace = nil
		acts, err := h.m.ctlStop(h.p("a"), true, ctlThen{p: h.p("a"), restart: true}, h.now)
		if err != nil {
			t.Fatal(err)
		}
		h.do(acts)
		h.exit("b", 1) // while a is being stopped: the group restart joins the sequence
		h.stopAndGone("a")
		spawns := map[string]int{}
		for _, a := range h.trace {
			if n, ok := strings.CutPrefix(a, "spawn "); ok {
				spawns[n]++
			}
		}
		if spawns["a"] != 1 || spawns["b"] != 1 {
			t.Errorf("spawns %v, want a and b once each; actions: %s", spawns, strings.Join(h.trace, "; "))
		}
	})
	t.Run("restarting a required program leaves what requires it running", func(t *testing.T) {
		h := newHarness(t, OneForOne, testSpec("db", upNow), testSpec("app", upNow, requires("db")))
		h.do(h.m.startAll(h.now))
		h.trace = nil
		acts, err := h.m.ctlStop(h.p("db"), true, ctlThen{p: h.p("db"), restart: true}, h.now)
		if err != nil {
			t.Fatal(err)
		}
		h.do(acts)
		h.stopAndGone("db")
		h.expect("db stopping", "stop db", "db stopped", "seq done", "spawn db", "db starting", "db running")
		h.state("app", StateRunning)
	})
	t.Run("a group restart takes a waiting program along", func(t *testing.T) {
		h := newHarness(t, OneForAll, testSpec("db"), testSpec("app", upNow, after("db")), testSpec("c", upNow))
		h.do(h.m.startAll(h.now))
		h.state("app", StateWaiting)
		h.exit("c", 1)
		h.stopAndGone("db")
		h.fireGroup()
		h.state("app", StateWaiting) // waits for db again, as at the start
		h.fire("db")
		h.state("app", StateRunning)
	})
	t.Run("one after another, in reverse dependency order", func(t *testing.T) {
		h := newHarness(t, OneForAll, testSpec("web", upNow, after("api")), testSpec("api", upNow))
		h.do(h.m.startAll(h.now))
		h.trace = nil
		h.do(h.m.shutdown(h.now))
		h.expect("web stopping", "stop web") // web starts after api: it stops first
		h.stopAndGone("web")
		h.expect("web stopped", "api stopping", "stop api")
	})
}

func TestForkingValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc    string
		change func(*Spec)
		want   string
	}{
		{"no pid file", func(sp *Spec) { sp.Forking = true }, "pid_file: type = forking needs the pid file"},
		{"a relative pid file", func(sp *Spec) { sp.Forking, sp.PidFile = true, "run/x.pid" }, "want an absolute path"},
		{"a pid file without forking", func(sp *Spec) { sp.PidFile = "/run/x.pid" }, "pid_file: needs type = forking"},
		{"forking with notify", func(sp *Spec) {
			sp.Forking, sp.PidFile, sp.Notify, sp.StartTimeout = true, "/run/x.pid", NotifySystemd, time.Second
		}, "notify and ready_probe do not apply"},
		{"forking", func(sp *Spec) { sp.Forking, sp.PidFile = true, "/run/x.pid" }, ""},
	} {
		sp := testSpec("d", tc.change)
		err := sp.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// StartBackoff is supervisord's schedule: failed starts are retried whatever
// the restart policy says, after 1, 2, 3... times the step, start_retries of
// them; a run that was up restarts at once (if its policy says so).
func TestPolicyStartBackoff(t *testing.T) {
	t.Parallel()
	sv := func(sp *Spec) {
		sp.StartBackoff, sp.StartRetries, sp.MaxRestarts, sp.Restart = time.Second, 2, 0, RestartNever
	}
	h := newHarness(t, OneForOne, testSpec("a", sv))
	h.start("a")
	for _, want := range []string{"1s", "2s"} {
		h.trace = nil
		h.exit("a", 0) // too soon: a failed start even with code 0 and restart = never
		h.expect("a backoff", "timer a backoff "+want)
		h.fire("a")
	}
	h.trace = nil
	h.exit("a", 0)
	h.expect("a fatal")

	// Up for min_uptime: restart = always restarts at once; never ends it.
	h = newHarness(t, OneForOne, testSpec("a", sv, upNow, func(sp *Spec) { sp.Restart = RestartAlways }))
	h.start("a")
	h.trace = nil
	h.exit("a", 1)
	h.expect("a backoff", "spawn a", "a starting", "a running")
	h = newHarness(t, OneForOne, testSpec("a", sv, upNow))
	h.start("a")
	h.exit("a", 1)
	h.state("a", StateExited)
}

// StayUp (supervisord's way): a group whose programs all ended for good is
// not finished until it is shut down.
func TestPolicyStayUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, OneForOne, testSpec("a", upNow, func(sp *Spec) { sp.Restart = RestartNever }))
	h.m.stayUp = true
	h.start("a")
	h.exit("a", 0)
	h.state("a", StateExited)
	if h.m.finished() {
		t.Fatal("finished with StayUp before a shutdown")
	}
	h.do(h.m.shutdown(h.now))
	if !h.m.finished() {
		t.Fatal("not finished after the shutdown")
	}
}

// StopPhase orders a shutdown's stops by phase, highest first, a phase at a
// time; programs of one phase stop at once, and starts are not ordered.
func TestPolicyStopPhase(t *testing.T) {
	t.Parallel()
	phase := func(n int) func(*Spec) { return func(sp *Spec) { sp.StopPhase = n } }
	h := newHarness(t, OneForOne, testSpec("a", upNow, phase(0)), testSpec("b1", upNow, phase(1)),
		testSpec("b2", upNow, phase(1)), testSpec("c", upNow, phase(2)))
	h.do(h.m.startAll(h.now))
	h.state("c", StateRunning) // every one started, none waiting for another
	h.trace = nil
	h.do(h.m.shutdown(h.now))
	h.expect("c stopping", "stop c")
	h.stopAndGone("c")
	h.expect("c stopped", "b2 stopping", "stop b2", "b1 stopping", "stop b1") // reverse start order
	h.stopAndGone("b2")
	h.expect("b2 stopped")
	h.stopAndGone("b1")
	h.expect("b1 stopped", "a stopping", "stop a")
	h.stopAndGone("a")
	h.expect("a stopped")
}
