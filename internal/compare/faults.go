package compare

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/supervisor/supervisor/internal/procfs"
	"github.com/supervisor/supervisor/internal/supervise"
)

// The failure rows. Each runs the faulty worker beside a well-behaved sibling of
// the same kind, provokes the fault through a request, and records what the
// supervisor, the sibling and the OS show afterwards (Facts); the cell's text is
// made from those facts only.

// fault is one provoked failure of a worker named "bad" beside "sibling".
type fault struct {
	method, body string // the request that provokes it
	line         string // a line the dying process writes on stderr, to wait for, or ""
}

// faultPanic: a panic in a request handler.
func faultPanic(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (Cell, error) {
	return crash(ctx, c, kind, fault{method: "panic"})
}

// faultFatal: "fatal error: concurrent map writes", which recover cannot catch.
func faultFatal(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (Cell, error) {
	// The runtime writes "fatal error: concurrent map writes"; the line is
	// matched without its prefix because, in a binary built with -race (the
	// tests), the race detector's report of the same writes can land in the
	// middle of it ("fatal error: ====...", then "concurrent map writesWARNING:
	// DATA RACE").
	f := fault{method: "fatal", line: "concurrent map writes"}
	if kind == supervise.SpawnGoroutine {
		return sacrifice(ctx, c, f)
	}
	return crash(ctx, c, kind, f)
}

// faultExit: os.Exit(7) from a request handler.
func faultExit(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (Cell, error) {
	f := fault{method: "exit", body: "7", line: "calling os.Exit(7)"}
	if kind == supervise.SpawnGoroutine {
		return sacrifice(ctx, c, f)
	}
	return crash(ctx, c, kind, f)
}

// crash provokes f in "bad" (of kind, in this process's supervisor) and waits
// for its restart; the cell's value is the time from the request to the new
// run's Ready.
func crash(ctx context.Context, c *comparer, kind supervise.SpawnerKind, f fault) (Cell, error) {
	h, facts, err := badAndSibling(ctx, c, troubleSpec("bad", kind), kind)
	if err != nil {
		return Cell{}, err
	}
	defer h.close()
	t0 := time.Now()
	if _, err := h.request(ctx, "bad", f.method, f.body); err == nil {
		return Cell{}, fmt.Errorf("request %s to bad: answered, want the worker dead", f.method)
	}
	e, err := h.waitEvent(ctx, 1, "bad", supervise.StateBackoff)
	if err != nil {
		return Cell{}, err
	}
	if e.Exit == nil {
		return Cell{}, errors.New("bad ended without an exit")
	}
	facts.Exit, facts.ExitCode = exitText(*e.Exit), e.Exit.ShellCode()
	if f.line != "" {
		if facts.Output, err = h.waitLine(ctx, "bad", f.line); err != nil {
			return Cell{}, err
		}
	}
	if _, err := h.waitEvent(ctx, 2, "bad", supervise.StateRunning); err != nil {
		return Cell{}, err
	}
	back := time.Since(t0)
	facts.Restarted = true
	if err := siblingCheck(ctx, h, facts); err != nil {
		return Cell{}, err
	}
	facts.SupervisorSurvived = alive(facts.SupervisorPid)

	var what string
	switch {
	case kind == supervise.SpawnGoroutine && e.Exit.Panic != "":
		what = fmt.Sprintf("recovered as a crash (status %d)", facts.ExitCode)
	default:
		what = fmt.Sprintf("worker process died (%s)", facts.Exit)
	}
	return Cell{Text: fmt.Sprintf("%s, back in %s; %s; supervisor %s", what, dur(back), siblingText(facts), survivedText(facts)),
		Value: back.Seconds(), Unit: "s", Facts: facts}, nil
}

// sacrifice provokes f in a goroutine worker inside a sacrificial supervisor: this
// binary re-executed as the "compare-host" worker (host.go), a supervisor of its
// own running "bad" and "sibling" as goroutines, that this process supervises as
// the program "host" (kind reexec, never restarted). The cell's value is the
// time from the request to the reaping of the sacrificial supervisor.
func sacrifice(ctx context.Context, c *comparer, f fault) (Cell, error) {
	h, err := serveRunning(ctx, c, hostSpec("host"))
	if err != nil {
		return Cell{}, err
	}
	defer h.close()
	facts := &Facts{}
	if facts.SupervisorPid, err = pidOf(ctx, h, "host"); err != nil {
		return Cell{}, err
	}
	// The faulty worker and its sibling are goroutines of that supervisor: they
	// answer with its pid.
	if facts.WorkerPid, err = hostPid(ctx, h, "bad"); err != nil {
		return Cell{}, err
	}
	if sib, err := hostPid(ctx, h, "sibling"); err != nil || sib != facts.SupervisorPid {
		return Cell{}, fmt.Errorf("the sibling in the sacrificial supervisor answered pid %d (%v), want %d", sib, err, facts.SupervisorPid)
	}
	t0 := time.Now()
	if _, err := h.request(ctx, "host", "fault", f.method+" "+f.body); err == nil {
		return Cell{}, fmt.Errorf("fault %s in the sacrificial supervisor: answered, want it dead", f.method)
	}
	e, err := h.waitEvent(ctx, 1, "host", supervise.StateExited)
	if err != nil {
		return Cell{}, err
	}
	died := time.Since(t0)
	if e.Exit == nil {
		return Cell{}, errors.New("the sacrificial supervisor ended without an exit")
	}
	facts.Exit, facts.ExitCode = exitText(*e.Exit), e.Exit.ShellCode()
	if facts.Output, err = h.waitLine(ctx, "host", f.line); err != nil {
		return Cell{}, err
	}
	facts.SupervisorSurvived = alive(facts.SupervisorPid)
	// The sibling lived in that process: nothing answers for it any more.
	_, err = hostPid(ctx, h, "sibling")
	facts.SiblingAnswered = err == nil
	facts.Restarted = h.count("host", supervise.StateStarting) > 1

	sib := "sibling died with it"
	if facts.SiblingAnswered {
		sib = "yet the sibling answered"
	}
	return Cell{Text: fmt.Sprintf("whole supervisor died (%s) in %s; %s (sacrificial supervisor)",
		facts.Exit, dur(died), sib), Value: died.Seconds(), Unit: "s", Facts: facts}, nil
}

// scribbleSeq makes the shared-state row's keys unique within the process: the
// state it corrupts lives as long as the process does.
var scribbleSeq atomic.Uint64

// faultSharedState: "bad" overwrites an entry of the worker package's shared
// table; the sibling reads it, before and after bad's restart.
func faultSharedState(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (Cell, error) {
	h, facts, err := badAndSibling(ctx, c, troubleSpec("bad", kind), kind)
	if err != nil {
		return Cell{}, err
	}
	defer h.close()
	key := fmt.Sprintf("compare-%d-%d", os.Getpid(), scribbleSeq.Add(1))
	before, err := h.request(ctx, "sibling", "read", key)
	if err != nil {
		return Cell{}, err
	}
	if _, err := h.request(ctx, "bad", "scribble", key); err != nil {
		return Cell{}, err
	}
	if facts.SiblingRead, err = h.request(ctx, "sibling", "read", key); err != nil {
		return Cell{}, err
	}
	if err := h.sup.Restart(ctx, "bad"); err != nil {
		return Cell{}, fmt.Errorf("restart bad: %w", err)
	}
	if _, err := h.waitEvent(ctx, 2, "bad", supervise.StateRunning); err != nil {
		return Cell{}, err
	}
	facts.Restarted = true
	if facts.AfterRestart, err = h.request(ctx, "sibling", "read", key); err != nil {
		return Cell{}, err
	}
	facts.SiblingAnswered = true
	facts.SiblingRestarts = h.count("sibling", supervise.StateStarting) - 1
	facts.SupervisorSurvived = alive(facts.SupervisorPid)

	var text string
	if facts.SiblingRead == before {
		text = fmt.Sprintf("sibling read %q: its own copy", facts.SiblingRead)
	} else {
		text = fmt.Sprintf("sibling read %q", facts.SiblingRead)
		if facts.AfterRestart == facts.SiblingRead {
			text += ", also after bad's restart"
		}
	}
	return Cell{Text: text, Facts: facts}, nil
}

// ignoreStopGrace is the stop grace of the ignore-stop and deadlock rows.
const ignoreStopGrace = 200 * time.Millisecond

// faultIgnoreStop: "bad" blocks forever when asked to stop; the cell's value is
// how long Supervisor.Stop took.
func faultIgnoreStop(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (Cell, error) {
	bad := troubleSpec("bad", kind, "--ignore-stop")
	bad.StopGrace = ignoreStopGrace
	h, facts, err := badAndSibling(ctx, c, bad, kind)
	if err != nil {
		return Cell{}, err
	}
	defer h.close()
	t0 := time.Now()
	if err := h.sup.Stop(ctx, "bad"); err != nil {
		return Cell{}, fmt.Errorf("stop bad: %w", err)
	}
	took := time.Since(t0)
	st, err := h.status(ctx, "bad")
	if err != nil {
		return Cell{}, err
	}
	if st.LastExit == nil {
		return Cell{}, errors.New("bad stopped without an exit")
	}
	stoppedFacts(facts, *st.LastExit, h.sup.Leaked())
	if err := siblingCheck(ctx, h, facts); err != nil {
		return Cell{}, err
	}
	facts.SupervisorSurvived = alive(facts.SupervisorPid)
	return Cell{Text: fmt.Sprintf("%s: Stop took %s; %s", endText(facts), dur(took), siblingText(facts)),
		Value: took.Seconds(), Unit: "s", Facts: facts}, nil
}

// faultDeadlock: "bad"'s main loop deadlocks, so its heartbeats stop and it
// cannot return on its stop. The cell's value is the time from the deadlock to
// the end of the run.
func faultDeadlock(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (Cell, error) {
	bad := troubleSpec("bad", kind)
	bad.Command = []string{"trouble", "--heartbeat", "20ms"}
	bad.HeartbeatTimeout = 200 * time.Millisecond
	bad.StopGrace = ignoreStopGrace
	h, facts, err := badAndSibling(ctx, c, bad, kind)
	if err != nil {
		return Cell{}, err
	}
	defer h.close()
	// Counted from here, so that a run ended earlier (a heartbeat missed on a
	// very loaded machine) is not taken for the deadlock's end.
	ends, runs := h.count("bad", supervise.StateBackoff), h.count("bad", supervise.StateRunning)
	if _, err := h.request(ctx, "bad", "deadlock", ""); err != nil {
		return Cell{}, err
	}
	t0 := time.Now()
	e, err := h.waitEvent(ctx, ends+1, "bad", supervise.StateBackoff)
	if err != nil {
		return Cell{}, err
	}
	ended := e.Time.Sub(t0)
	if e.Exit == nil {
		return Cell{}, errors.New("bad ended without an exit")
	}
	if _, err := h.waitEvent(ctx, runs+1, "bad", supervise.StateRunning); err != nil {
		return Cell{}, err
	}
	facts.Restarted = true
	stoppedFacts(facts, *e.Exit, h.sup.Leaked())
	if err := siblingCheck(ctx, h, facts); err != nil {
		return Cell{}, err
	}
	// Go's own detector ("all goroutines are asleep - deadlock!") would have
	// ended a process with status 2; other goroutines live, so it stays silent.
	if h.hasLine("bad", "all goroutines are asleep") {
		facts.Output = "all goroutines are asleep - deadlock!"
	}
	facts.SupervisorSurvived = alive(facts.SupervisorPid)
	return Cell{Text: fmt.Sprintf("heartbeat timeout %s, then %s: gone %s after; restarted; %s", bad.HeartbeatTimeout, endText(facts), dur(ended), siblingText(facts)),
		Value: ended.Seconds(), Unit: "s", Facts: facts}, nil
}

// stoppedFacts records how a run that would not stop ended.
func stoppedFacts(facts *Facts, e supervise.Exit, leaked []string) {
	facts.Exit, facts.ExitCode = exitText(e), e.ShellCode()
	facts.Killed = e.Signal == syscall.SIGKILL
	facts.Leaked = leaked
}

// endText says how a worker that would not stop was ended, from the facts.
func endText(f *Facts) string {
	switch {
	case f.Killed:
		return fmt.Sprintf("SIGKILLed after %s grace", ignoreStopGrace)
	case slices.Contains(f.Leaked, "bad"):
		return fmt.Sprintf("leaked after %s grace (Leaked() = %v)", ignoreStopGrace, f.Leaked)
	}
	return fmt.Sprintf("ended: %s", f.Exit)
}

// siblingCheck asks the sibling for an echo and records whether it answered and
// how often it was restarted.
func siblingCheck(ctx context.Context, h *harness, facts *Facts) error {
	body, err := h.request(ctx, "sibling", "echo", "still there?")
	facts.SiblingAnswered = err == nil && body == "still there?"
	facts.SiblingRestarts = h.count("sibling", supervise.StateStarting) - 1
	if err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}

func siblingText(f *Facts) string {
	switch {
	case !f.SiblingAnswered:
		return "sibling silent"
	case f.SiblingRestarts > 0:
		return fmt.Sprintf("sibling answered after %d restarts", f.SiblingRestarts)
	}
	return "sibling untouched"
}

func survivedText(f *Facts) string {
	if f.SupervisorSurvived {
		return "alive"
	}
	return "dead"
}

// exitText is a short form of e for the table.
func exitText(e supervise.Exit) string {
	switch {
	case e.Leaked:
		return "leaked"
	case e.Panic != "":
		return fmt.Sprintf("panic, status %d", e.Code)
	case e.Signal != 0:
		return "killed by " + supervise.SignalName(e.Signal)
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// pidOf asks a trouble or compare-host worker for its pid.
func pidOf(ctx context.Context, h *harness, prog string) (int, error) {
	s, err := h.request(ctx, prog, "pid", "")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("pid of %s: %w", prog, err)
	}
	return pid, nil
}

// hostPid asks the sacrificial supervisor's goroutine worker prog for its pid.
func hostPid(ctx context.Context, h *harness, prog string) (int, error) {
	s, err := h.request(ctx, "host", "ask", prog+" pid")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("pid of %s in the sacrificial supervisor: %w", prog, err)
	}
	return pid, nil
}

// alive reports whether pid is a live process (not gone, not a zombie).
func alive(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && st.State != 'Z'
}

// badAndSibling serves bad beside a well-behaved sibling of the same kind in
// this process's supervisor, waits until both run, and returns the facts begun
// with this supervisor's pid and bad's. The caller closes h.
func badAndSibling(ctx context.Context, c *comparer, bad supervise.Spec, kind supervise.SpawnerKind) (*harness, *Facts, error) {
	h, err := serveRunning(ctx, c, bad, troubleSpec("sibling", kind))
	if err != nil {
		return nil, nil, err
	}
	facts := &Facts{SupervisorPid: os.Getpid()}
	if facts.WorkerPid, err = pidOf(ctx, h, "bad"); err != nil {
		h.close()
		return nil, nil, err
	}
	return h, facts, nil
}
