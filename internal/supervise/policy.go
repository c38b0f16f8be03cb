package supervise

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The lifecycle policy: a pure machine. Given the policy state of a group's
// programs, one input (a run spawned, said Ready, exited, a timer fired, a stop,
// start or restart was asked, ...) and the time, it updates that state and returns
// the actions to take: spawn a run, stop or end one, arm or cancel a timer, emit
// an event, answer a caller. It makes no syscall, starts no goroutine and reads no
// clock (now comes in with each input); the Supervisor's state goroutine feeds it
// and carries out its actions, in order (supervisor.go). It never asks which kind
// of worker a program is: a run's mechanics (signals, pipes, grace periods, trees)
// are the run's (run.go, goroutine.go).
//
// Tests drive it from tables without forking (policy_test.go).

// pstate is one program's policy state: what the machine reads and writes of a
// program, and nothing else.
type pstate struct {
	state  State
	reason string
	pid    int // the current run's process id, for events; 0 for none or a goroutine

	spawning bool // start asked for a spawn whose outcome (spawned, spawnFailed) is to come
	live     bool // a run is current and its exit is still to come (also after a failed spawn)
	hasRun   bool // the current run was spawned and has not exited: there is something to stop
	ready    bool // the current run said Ready (or became ready another way: Spec.waitsForReady)
	greeted  bool // the current run said Hello (a goroutine run needs no handshake)
	ending   bool // the current run is being ended by us outside a stop sequence
	failure  string

	held           bool // stopped by a Stop request: waits for Start, and keeps Serve running
	pendingRestart bool // part of the group restart in progress
	restarting     bool // being stopped to be started again (a Restart, a Reload): not ended

	started      time.Time
	lastExit     *Exit
	restarts     int
	failures     int // failed runs in a row (backoff exponent)
	failedStarts int // exits before MinUptime (or Ready) in a row
	restartTimes []time.Time
	restartAt    time.Time // in backoff under one_for_one: when the restart is due
	lastBeat     time.Time
	beatSeq      uint64
}

// timerKind names the policy's timers; a program has at most one armed.
type timerKind int

const (
	timerUptime       timerKind = iota // MinUptime passed: starting -> running
	timerBackoff                       // backoff passed: start again
	timerStartTimeout                  // a protocol program did not say Ready in time
	timerHeartbeat                     // a protocol program's heartbeats stopped
	timerWatchdog                      // a notify = systemd program's WATCHDOG=1 pings stopped
)

// action is what the machine asks the state goroutine to do; the set is sealed.
type action interface{ isAction() }

type (
	// actSpawn: start a new run of p, then report spawned or spawnFailed.
	actSpawn struct{ p *program }
	// actStop: begin the stop sequence of p's run (stop request or signal, grace
	// period, kill); the run reports its exit, then that its tree is gone (stopped).
	actStop struct{ p *program }
	// actEnd: end p's run as a failure, outside a stop (sig, or the stop
	// sequence when sig is the stop signal); its exit follows.
	actEnd struct {
		p   *program
		why string
		sig syscall.Signal
	}
	// actKillNow: Kill was called: p's run, being stopped or ended, gets no more grace.
	actKillNow struct{ p *program }
	// actTimer arms p's policy timer (replacing the one armed); actCancelTimer disarms it.
	actTimer struct {
		p    *program
		kind timerKind
		d    time.Duration
	}
	actCancelTimer struct{ p *program }
	// actEvent: p changed state. final: p has ended for good (its cgroups may go).
	actEvent struct {
		p     *program
		ev    Event
		final bool
	}
	// actLinkUp: p's run said Ready: requests may go to it now.
	actLinkUp struct{ p *program }
	// actGroupTimer: start the pending programs of the group restart after d (gen names it).
	actGroupTimer struct {
		d   time.Duration
		gen uint64
	}
	// actSeqDone: a stop sequence begun with then ended; the caller's continuation
	// runs, then (group) groupAfterSeq.
	actSeqDone struct {
		then  any
		group bool
	}
	// actEscapes: a stop sequence that signalled something has ended: report what escaped.
	actEscapes struct{}
	// actReply answers a control call.
	actReply struct {
		to  chan error
		err error
	}
)

func (actSpawn) isAction()       {}
func (actStop) isAction()        {}
func (actEnd) isAction()         {}
func (actKillNow) isAction()     {}
func (actTimer) isAction()       {}
func (actCancelTimer) isAction() {}
func (actEvent) isAction()       {}
func (actLinkUp) isAction()      {}
func (actGroupTimer) isAction()  {}
func (actSeqDone) isAction()     {}
func (actEscapes) isAction()     {}
func (actReply) isAction()       {}

// machine is the policy of one group. The zero value is not usable: see newMachine.
type machine struct {
	strategy Strategy
	progs    []*program // in start order; the machine touches only spec, log and pstate
	rand     func() float64

	byName       map[string]*program
	order        []*program // progs in dependency order (config order among independent ones)
	shuttingDown bool
	killAll      bool                    // Kill was called: stops get no grace period
	seq          stopSeq                 // the running stop sequence, if seq.running()
	dependents   map[*program][]*program // programs that start after each (After, Requires)
	hasDeps      bool                    // some program names another in After or Requires
	orderIdx     map[*program]int        // position in order
	stopWhy      map[*program]string     // why a program is stopped, if not asked (requires)
	seqThen      any                     // the continuation of the running stop sequence (actSeqDone), or nil
	seqJoin      bool                    // ctl stops and restarts may join the running stop sequence
	memberThen   map[*program]*seqWaiter // continuations of ctl stops, each run once its programs stopped
	seqGroup     bool                    // the group restart's starts follow the running stop sequence
	now          time.Time               // the time of the input being handled
	dirty        bool                    // a program turned running or ended for good: settle
	op           *groupOp                // a one_for_all / rest_for_one restart in progress
	opGen        uint64
	exitCode     int
	essential    bool // an essential program ended for good; exitCode is its status
	stayUp       bool // Options.StayUp: only a shutdown ends Serve

	acts []action // collected by the current input
}

// seqWaiter is the continuation of a ctl stop or restart of some programs: it
// runs (actSeqDone) once the last of them has stopped.
type seqWaiter struct {
	then any
	left int // programs not stopped yet
}

type groupOp struct {
	from    int // the programs from this index on are restarted
	delay   time.Duration
	waiting bool // the stops are done; the group timer is armed
}

func newMachine(strategy Strategy, progs []*program, rand func() float64) *machine {
	m := &machine{rand: rand}
	m.setPrograms(strategy, progs)
	return m
}

// setPrograms makes progs (validated: their dependencies exist and have no
// cycle) the machine's programs, under strategy.
func (m *machine) setPrograms(strategy Strategy, progs []*program) {
	m.strategy, m.progs = strategy, progs
	m.byName = make(map[string]*program, len(progs))
	for _, p := range progs {
		m.byName[p.spec.Name] = p
	}
	m.dependents = map[*program][]*program{}
	m.hasDeps = false
	for _, p := range progs {
		for _, d := range m.deps(p) {
			m.dependents[d] = append(m.dependents[d], p)
			m.hasDeps = true
		}
	}
	// Dependency order: Kahn's algorithm, taking the first ready program in
	// config order each time (config order itself when no program names another).
	m.order = slices.Clone(progs)
	if m.hasDeps {
		m.order = m.order[:0]
		placed := make(map[*program]bool, len(progs))
		for len(m.order) < len(progs) {
			for _, p := range progs {
				if placed[p] || !m.depsPlaced(p, placed) {
					continue
				}
				placed[p] = true
				m.order = append(m.order, p)
				break
			}
		}
	}
	m.orderIdx = make(map[*program]int, len(progs))
	for i, p := range m.order {
		m.orderIdx[p] = i
	}
}

// deps lists the programs p starts after (After and Requires), each once.
func (m *machine) deps(p *program) []*program {
	var out []*program
	for _, d := range append(slices.Clone(p.spec.After), p.spec.Requires...) {
		if q := m.byName[d]; q != nil && !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}

func (m *machine) depsPlaced(p *program, placed map[*program]bool) bool {
	for _, d := range p.spec.After {
		if q := m.byName[d]; q != nil && !placed[q] {
			return false
		}
	}
	for _, d := range p.spec.Requires {
		if q := m.byName[d]; q != nil && !placed[q] {
			return false
		}
	}
	return true
}

// take returns the actions collected so far, after settling what they set off
// (programs waiting for ones that turned running, or requiring ones that ended),
// and starts a new list.
func (m *machine) take() []action {
	for m.dirty {
		m.dirty = false
		m.settle()
	}
	a := m.acts
	m.acts = nil
	return a
}

// settle starts the waiting programs whose dependencies are now running (or
// ended, for After), and stops the programs that require one that ended for
// good. Programs are looked at in dependency order, so a chain resolves in one
// pass.
func (m *machine) settle() {
	if m.shuttingDown || !m.hasDeps {
		return // nothing waits for another program: a start or an exit wakes no one
	}
	for _, p := range m.order {
		switch p.state {
		case StateWaiting:
			m.request(p)
		case StateStarting, StateRunning, StateBackoff:
			for _, d := range p.spec.Requires {
				q := m.byName[d]
				if m.endedForGood(q) {
					m.stopAlso(p, fmt.Sprintf("stopped: requires %s, which is %s", d, q.state))
					break
				}
			}
		}
	}
}

// endedForGood reports whether q will not run again unless asked: exited,
// fatal, or stopped (and not about to be started by a group restart).
func (m *machine) endedForGood(q *program) bool {
	if q.spawning {
		return false
	}
	switch q.state {
	case StateExited, StateFatal:
		return true
	case StateStopped:
		return !q.pendingRestart && !q.restarting
	}
	return false
}

// request starts p if what it starts after is running; otherwise p waits (or,
// if a program it requires has ended for good, is not started).
func (m *machine) request(p *program) {
	var wait []string
	for _, d := range append(slices.Clone(p.spec.Requires), p.spec.After...) {
		q := m.byName[d]
		switch {
		case q.state == StateRunning:
		case m.endedForGood(q) && slices.Contains(p.spec.Requires, d):
			m.setState(p, StateStopped, fmt.Sprintf("not started: requires %s, which is %s", d, q.state), Event{}, m.now)
			return
		case m.endedForGood(q): // After only orders: it will not start, so go on
		default:
			if !slices.Contains(wait, d) {
				wait = append(wait, d)
			}
		}
	}
	if len(wait) == 0 {
		m.acts = append(m.acts, m.start(p)...)
		return
	}
	p.pendingRestart = false
	if reason := "waiting for " + strings.Join(wait, ", "); p.state != StateWaiting || p.reason != reason {
		m.setState(p, StateWaiting, reason, Event{}, m.now)
	}
}

// startAll starts the autostart programs, in dependency order: each at once, or
// once what it starts after is running.
func (m *machine) startAll(now time.Time) []action {
	m.now = now
	for _, p := range m.order {
		if p.spec.Autostart {
			m.request(p)
		}
	}
	return m.take()
}

// startNew starts the autostart programs that isNew says a reload added or
// changed, as startAll does.
func (m *machine) startNew(isNew func(*program) bool, now time.Time) []action {
	m.now = now
	for _, p := range m.order {
		if p.spec.Autostart && isNew(p) {
			m.request(p)
		}
	}
	return m.take()
}

// stopAlso adds p to the stop sequence (starting one if none runs), for why.
func (m *machine) stopAlso(p *program, why string) {
	if m.seq.left[p] {
		return
	}
	if m.stopWhy == nil {
		m.stopWhy = map[*program]string{}
	}
	m.stopWhy[p] = why
	p.log.Info("stopping", "why", why)
	if m.seq.running() {
		m.advance(m.now, m.seqAdd(p))
		return
	}
	m.stopSequence([]*program{p}, nil, m.now)
	m.seqJoin = m.seq.running()
}

func (m *machine) emit(a action) { m.acts = append(m.acts, a) }

func (m *machine) setState(p *program, to State, reason string, ev Event, now time.Time) {
	ev.Time = now
	ev.Program, ev.From, ev.To, ev.Reason = p.spec.Name, p.state, to, reason
	p.state, p.reason = to, reason
	final := to == StateExited || to == StateFatal || (to == StateStopped && !p.pendingRestart)
	m.emit(actEvent{p: p, ev: ev, final: final})
	if final || to == StateRunning {
		m.dirty = true
	}
}

func (m *machine) setTimer(p *program, kind timerKind, d time.Duration) {
	m.emit(actTimer{p: p, kind: kind, d: d})
}

// start begins a new run of p: the spawn's outcome comes back as spawned or
// spawnFailed.
func (m *machine) start(p *program) []action {
	if p.live || p.spawning {
		// Never two runs at once: a start asked twice in one turn (say, a
		// restart's continuation and the group restart it joined) is one.
		return m.take()
	}
	m.emit(actCancelTimer{p: p})
	p.pendingRestart, p.restarting = false, false
	p.failure, p.ending, p.ready, p.greeted = "", false, false, false
	p.spawning = true
	m.emit(actSpawn{p: p})
	return m.take()
}

// startOnRequest starts p afresh, as supervisorctl start does: its failure
// counters are reset.
func (m *machine) startOnRequest(p *program) []action {
	p.held = false
	p.failures, p.failedStarts, p.restartTimes = 0, 0, nil
	m.request(p)
	return m.take()
}

// spawned: p's new run is up. reason says how ("spawned", "started as a
// goroutine"); greeted is true for a run that needs no handshake.
func (m *machine) spawned(p *program, pid int, reason string, greeted bool, now time.Time) []action {
	m.now = now
	p.spawning = false
	p.pid, p.live, p.hasRun, p.started, p.greeted = pid, true, true, now, greeted
	m.setState(p, StateStarting, reason, Event{Pid: pid}, now)
	switch {
	case p.spec.waitsForReady():
		m.setTimer(p, timerStartTimeout, p.spec.StartTimeout)
	case p.spec.MinUptime == 0:
		m.becameRunning(p, now)
	default:
		m.setTimer(p, timerUptime, p.spec.MinUptime)
	}
	return m.take()
}

// spawnFailed: p's new run could not start; its exit (127 or 126) follows.
func (m *machine) spawnFailed(p *program, now time.Time) []action {
	p.spawning = false
	p.pid, p.live, p.hasRun, p.started = 0, true, false, now
	m.setState(p, StateStarting, "spawn failed", Event{}, now)
	return m.take()
}

func (m *machine) becameRunning(p *program, now time.Time) {
	m.becameRunningBecause(p, "up for min_uptime", now)
}

func (m *machine) becameRunningBecause(p *program, reason string, now time.Time) {
	p.failedStarts = 0
	m.setState(p, StateRunning, reason, Event{Pid: p.pid}, now)
}

// hello: p's run completed the protocol handshake.
func (m *machine) hello(p *program) { p.greeted = true }

// readied: p's run said Ready over the protocol.
func (m *machine) readied(p *program, now time.Time) []action {
	return m.readyBy(p, "said Ready", now)
}

// readyBy: p's run is ready, as how says ("said Ready", "sent READY=1", "ready
// probe passed", ...): from any of the sources one model feeds (Spec.waitsForReady).
func (m *machine) readyBy(p *program, how string, now time.Time) []action {
	m.now = now
	if p.state != StateStarting || p.ready || p.failure != "" {
		return nil // late: the run is already being ended
	}
	p.ready = true
	if p.spec.Protocol {
		m.emit(actLinkUp{p: p})
	}
	m.becameRunningBecause(p, how, now)
	if p.spec.Protocol || p.spec.Watchdog > 0 { // what ctl status shows as the heartbeat's age
		p.lastBeat = now
	}
	switch {
	case p.spec.HeartbeatTimeout > 0:
		m.setTimer(p, timerHeartbeat, p.spec.HeartbeatTimeout)
	case p.spec.Watchdog > 0:
		m.setTimer(p, timerWatchdog, p.spec.Watchdog)
	default:
		m.emit(actCancelTimer{p: p})
	}
	return m.take()
}

// watchdog: p's run sent WATCHDOG=1.
func (m *machine) watchdog(p *program, now time.Time) []action {
	p.lastBeat = now
	if p.state == StateRunning && p.spec.Watchdog > 0 && p.failure == "" {
		m.setTimer(p, timerWatchdog, p.spec.Watchdog)
	}
	return m.take()
}

// extendStart: p's run asked for more time to become ready (EXTEND_TIMEOUT_USEC):
// its start timeout is d from now, if that is later.
func (m *machine) extendStart(p *program, d time.Duration, now time.Time) []action {
	m.now = now
	if p.state == StateStarting && p.hasRun && !p.ready && p.failure == "" {
		m.setTimer(p, timerStartTimeout, d)
	}
	return m.take()
}

// followed: p's run follows a new main process, pid (type = forking).
func (m *machine) followed(p *program, pid int) []action {
	p.pid = pid
	return nil
}

// failedWith marks p's current run, which has ended, as a failure for why: its
// exit, which follows at once, counts as one whatever its status.
func (m *machine) failedWith(p *program, why string) []action {
	if p.failure == "" {
		p.failure = why
	}
	return nil
}

// heartbeat: p's run sent heartbeat seq.
func (m *machine) heartbeat(p *program, seq uint64, now time.Time) []action {
	p.lastBeat, p.beatSeq = now, seq
	if p.state == StateRunning && p.spec.HeartbeatTimeout > 0 && p.failure == "" {
		m.setTimer(p, timerHeartbeat, p.spec.HeartbeatTimeout)
	}
	return m.take()
}

// runFailed ends p's current run because of why (a failure of ours to count):
// sig now (the stop sequence if sig is the stop signal), SIGKILL after the grace
// period. A second failure of the same run is ignored.
func (m *machine) runFailed(p *program, why string, sig syscall.Signal) []action {
	if p.failure != "" || !p.hasRun || p.state == StateStopping {
		return nil
	}
	p.failure, p.ending = why, true
	m.emit(actCancelTimer{p: p})
	m.emit(actEnd{p: p, why: why, sig: sig})
	return m.take()
}

// timer: p's policy timer of kind fired (stale ones are filtered by the caller).
func (m *machine) timer(p *program, kind timerKind, now time.Time) []action {
	m.now = now
	switch kind {
	case timerUptime:
		if p.state == StateStarting && p.hasRun {
			m.becameRunning(p, now)
		}
	case timerBackoff:
		if p.state == StateBackoff && !m.shuttingDown {
			return m.start(p)
		}
	case timerStartTimeout:
		if p.state == StateStarting && p.hasRun && !p.ready {
			why := fmt.Sprintf("not ready within start_timeout %s (it did not %s)", p.spec.StartTimeout, p.spec.readyHow())
			if p.spec.Protocol {
				why = fmt.Sprintf("no ready within start_timeout %s", p.spec.StartTimeout)
			}
			if p.spec.Protocol && !p.greeted {
				why = fmt.Sprintf("no handshake (Hello on fd 3) within start_timeout %s: does the program speak the protocol (protocol = true)?", p.spec.StartTimeout)
			}
			return m.runFailed(p, why, syscall.SIGKILL)
		}
	case timerHeartbeat:
		if p.state == StateRunning && p.hasRun {
			return m.runFailed(p, fmt.Sprintf("no heartbeat for %s (last seq %d)", p.spec.HeartbeatTimeout, p.beatSeq), p.spec.StopSignal)
		}
	case timerWatchdog:
		if p.state == StateRunning && p.hasRun {
			return m.runFailed(p, fmt.Sprintf("no WATCHDOG=1 for %s (watchdog)", p.spec.Watchdog), syscall.SIGABRT)
		}
	}
	return m.take()
}

// exited handles the exit of p's current run. A run being stopped waits for its
// tree (stopped follows); any other exit is decided here: restart (now, after a
// backoff, or with the group), exited, or fatal.
func (m *machine) exited(p *program, e Exit) []action {
	p.live, p.hasRun, p.ending = false, false, false
	m.emit(actCancelTimer{p: p})
	p.lastExit = &e
	m.now = e.Time
	if p.state == StateStopping {
		return m.take()
	}
	now := e.Time
	uptime := now.Sub(p.started)
	ev := Event{Pid: p.pid, Exit: &e}
	switch {
	case m.shuttingDown:
		m.setState(p, StateExited, "exited during shutdown", ev, now)
		return m.take()
	case m.op != nil && p.pendingRestart:
		m.setState(p, StateStopped, "exited during group restart", ev, now)
		return m.take()
	}

	// Under supervisord's schedule (StartBackoff) a failed start is retried
	// whatever the restart policy says; only start_retries ends it.
	failedStart := p.state == StateStarting && p.spec.StartBackoff > 0
	if reason, ends := m.noRestart(p, e); ends && !failedStart {
		p.log.Info("not restarting", "reason", reason)
		m.setState(p, StateExited, reason, ev, now)
		m.essentialEnded(p, e.ShellCode(), now)
		return m.take()
	}
	if why := m.giveUp(p, uptime, now); why != "" {
		m.fatal(p, why, ev, now)
		return m.take()
	}
	p.failures++
	p.restarts++
	delay := m.backoff(p)
	if p.spec.StartBackoff > 0 {
		delay = 0 // a run that was up restarts at once, as supervisord's does
		if failedStart {
			delay = time.Duration(p.failedStarts) * p.spec.StartBackoff
		}
	}
	ev.Delay = delay
	p.log.Info("restart scheduled", "delay", delay.Round(time.Millisecond), "restarts", p.restarts,
		"failures_in_a_row", p.failures, "strategy", string(m.strategy))

	if m.strategy == OneForOne || len(m.progs) == 1 {
		p.restartAt = now.Add(delay)
		m.setState(p, StateBackoff, fmt.Sprintf("restart %d in %s", p.restarts, delay.Round(time.Millisecond)), ev, now)
		if delay == 0 {
			return append(m.take(), m.start(p)...)
		}
		m.setTimer(p, timerBackoff, delay)
		return m.take()
	}
	from := 0
	if m.strategy == RestForOne {
		from = m.index(p)
	}
	p.restartAt = time.Time{} // the group's stops come first: no fixed time
	m.setState(p, StateBackoff, fmt.Sprintf("%s restart %d in %s", m.strategy, p.restarts, delay.Round(time.Millisecond)), ev, now)
	m.groupRestart(p, from, delay, now)
	return m.take()
}

// noRestart reports whether p's restart policy ends it after exit e, and why;
// a failure that ends it sets the supervisor's exit code.
func (m *machine) noRestart(p *program, e Exit) (reason string, ends bool) {
	success := e.SpawnErr == nil && e.Signal == 0 && p.spec.isSuccess(e.Code) && p.failure == ""
	if p.failure != "" {
		p.log.Warn("run ended by the supervisor counts as a failure", "why", p.failure)
	}
	if p.spec.Restart != RestartNever && (p.spec.Restart != RestartOnFailure || !success) {
		return "", false
	}
	if success {
		return "exited successfully", true
	}
	m.exitCode = max(e.ShellCode(), 1)
	return "restart=" + string(p.spec.Restart), true
}

// giveUp counts a run that is to be restarted (it ended after uptime) against
// start_retries and max_restarts, and says why p turns fatal, or "".
func (m *machine) giveUp(p *program, uptime time.Duration, now time.Time) string {
	if uptime >= p.spec.BackoffReset {
		p.failures = 0
	}
	if p.state == StateStarting {
		p.failedStarts++
		if p.failedStarts > p.spec.StartRetries {
			before := "min_uptime " + p.spec.MinUptime.String()
			if p.spec.waitsForReady() {
				before = "it was ready"
				if p.spec.Protocol {
					before = "Ready"
				}
			}
			if p.failure != "" {
				return fmt.Sprintf("ended before %s in %d starts in a row; the last one: %s", before, p.failedStarts, p.failure)
			}
			return fmt.Sprintf("ended before %s in %d starts in a row", before, p.failedStarts)
		}
	}
	if p.spec.MaxRestarts > 0 {
		kept := p.restartTimes[:0]
		for _, t := range p.restartTimes {
			if now.Sub(t) < p.spec.RestartWindow {
				kept = append(kept, t)
			}
		}
		p.restartTimes = kept
		if len(kept) >= p.spec.MaxRestarts {
			return fmt.Sprintf("restarted %d times within %s (max_restarts)", len(kept), p.spec.RestartWindow)
		}
		p.restartTimes = append(p.restartTimes, now)
	}
	return ""
}

func (m *machine) index(p *program) int {
	for i, q := range m.progs {
		if q == p {
			return i
		}
	}
	return len(m.progs)
}

func (m *machine) fatal(p *program, reason string, ev Event, now time.Time) {
	p.log.Error("program fatal: giving up", "reason", reason, "last_exit", ev.Exit.String())
	m.exitCode = max(ev.Exit.ShellCode(), 1)
	m.setState(p, StateFatal, reason, ev, now)
	m.essentialEnded(p, m.exitCode, now)
}

// essentialEnded stops the group, with code as the supervisor's exit status, if
// p is essential; p has just ended for good.
func (m *machine) essentialEnded(p *program, code int, now time.Time) {
	if !p.spec.Essential || m.shuttingDown {
		return
	}
	m.essential, m.exitCode = true, code
	p.log.Warn("essential program ended for good; stopping the others", "exit_code", code)
	m.beginShutdown(now)
}

// backoff is BackoffInitial doubled per failure in a row, jittered, capped at BackoffMax.
func (m *machine) backoff(p *program) time.Duration {
	d := p.spec.BackoffInitial
	for i := 1; i < p.failures && d < p.spec.BackoffMax; i++ {
		d *= 2
	}
	if j := p.spec.BackoffJitter; j > 0 && d > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*m.rand()-1)))
	}
	return min(d, p.spec.BackoffMax)
}

// groupRestart begins (or widens) a one_for_all / rest_for_one restart: the live
// programs from index from on are stopped in reverse order, then every program
// marked pendingRestart starts again in order after delay.
func (m *machine) groupRestart(trigger *program, from int, delay time.Duration, now time.Time) {
	trigger.pendingRestart = true
	oldFrom := len(m.progs)
	if m.op == nil {
		m.op = &groupOp{from: from, delay: delay}
	} else {
		oldFrom = m.op.from
		m.op.from = min(m.op.from, from)
		m.op.delay = max(m.op.delay, delay)
		if m.op.waiting { // already waiting to start: stop and wait again
			m.op.waiting = false
			m.opGen++ // the armed group timer is stale now
		}
	}
	var toStop []*program
	for i := len(m.progs) - 1; i >= m.op.from; i-- {
		q := m.progs[i]
		switch q.state {
		case StateWaiting, StateStarting, StateRunning, StateBackoff, StateStopping:
			if !q.held { // one being stopped on request stays stopped
				q.pendingRestart = true
			}
		}
		if i < oldFrom && q != trigger {
			toStop = append(toStop, q)
		}
	}
	if m.seq.running() {
		// A stop sequence is running: ours (a group restart widened), or another
		// one's (ctl stop or restart, a reload). Ours stops join it; the group's
		// starts follow whatever that sequence does when it ends.
		m.seqGroup = true
		m.advance(now, m.seqAdd(toStop...))
		return
	}
	m.stopSequence(toStop, nil, now)
	if m.op != nil && m.seq.running() {
		m.seqGroup = true
	}
}

// groupStopped: the group restart's stops are done; its starts follow its delay.
func (m *machine) groupStopped() {
	if m.op.delay == 0 {
		m.startPending()
		return
	}
	m.opGen++
	m.op.waiting = true
	m.emit(actGroupTimer{d: m.op.delay, gen: m.opGen})
}

// groupTimer: the group timer named gen fired.
func (m *machine) groupTimer(gen uint64) []action {
	if m.op != nil && m.op.waiting && gen == m.opGen {
		m.startPending()
	}
	return m.take()
}

// startPending ends the group restart: every program it stopped starts again,
// in order. (All programs are looked at, not those from op.from: a reload may
// have run meanwhile and moved the ones it kept.)
func (m *machine) startPending() {
	m.op = nil
	for _, p := range m.order {
		if p.pendingRestart {
			m.request(p)
		}
	}
}

// shutdown stops every program in reverse start order.
func (m *machine) shutdown(now time.Time) []action {
	m.now = now
	m.beginShutdown(now)
	return m.take()
}

func (m *machine) beginShutdown(now time.Time) {
	m.shuttingDown = true
	if m.op != nil {
		m.opGen++
	}
	m.op = nil
	var all []*program
	for i := len(m.progs) - 1; i >= 0; i-- {
		m.progs[i].pendingRestart = false
		all = append(all, m.progs[i])
	}
	m.stopSequence(all, nil, now)
}

// kill is shutdown without grace periods: runs being stopped or ended now get
// none left, and every later stop gets none.
func (m *machine) kill(now time.Time) []action {
	m.now = now
	if !m.killAll {
		m.killAll = true
		for _, p := range m.progs {
			if p.state == StateStopping || p.ending {
				m.emit(actKillNow{p: p})
			}
		}
	}
	if !m.shuttingDown {
		m.beginShutdown(now)
	}
	return m.take()
}

// stopSequence stops progs, then emits actSeqDone{then} (unless then is nil).
// Each program's stop begins as soon as every other program of the sequence
// that starts after it (After, Requires) has stopped; under one_for_all and
// rest_for_one, as soon as every program before it in progs has (they stop one
// after another, as OTP stops children). Independent programs stop in parallel.
func (m *machine) stopSequence(progs []*program, then any, now time.Time) {
	m.seq = stopSeq{chain: m.strategy != OneForOne}
	m.seqThen, m.seqGroup, m.seqJoin = then, false, false
	m.advance(now, m.seqAdd(progs...))
}

// seqAdd adds ps to the stop sequence; in chain mode the members left are kept
// in reverse dependency order (which is reverse config order among programs
// that name no other), so a program stops after those that start after it.
func (m *machine) seqAdd(ps ...*program) []*program {
	added := m.seq.add(ps...)
	if m.seq.chain && len(added) > 0 {
		rest := m.seq.order[m.seq.head:]
		slices.SortStableFunc(rest, func(a, b *program) int { return m.orderIdx[b] - m.orderIdx[a] })
	}
	return added
}

// stopSeq is the running stop sequence. Its bookkeeping is incremental (a
// member that stops wakes only those it kept waiting), so stopping N programs
// costs O(N) of it, not O(N^2).
type stopSeq struct {
	chain bool              // members stop one after another, in order
	order []*program        // members in the order given (chain mode's order)
	head  int               // chain mode: order[head:] holds every member left
	left  map[*program]bool // members not stopped yet
	begun map[*program]bool // members whose stop has begun
	// phases counts the members left per Spec.StopPhase other than 0.
	phases map[int]int
}

func (q *stopSeq) running() bool { return len(q.left) > 0 }

// add makes ps members (those not members already) and returns them.
func (q *stopSeq) add(ps ...*program) []*program {
	if q.left == nil {
		q.left, q.begun = map[*program]bool{}, map[*program]bool{}
	}
	var added []*program
	for _, p := range ps {
		if !q.left[p] {
			q.left[p] = true
			q.order = append(q.order, p)
			added = append(added, p)
			if ph := p.spec.StopPhase; ph != 0 {
				if q.phases == nil {
					q.phases = map[int]int{}
				}
				q.phases[ph]++
			}
		}
	}
	return added
}

// phaseWaits reports whether a member left has a higher StopPhase than p's.
func (q *stopSeq) phaseWaits(p *program) bool {
	for ph, n := range q.phases {
		if n > 0 && ph > p.spec.StopPhase {
			return true
		}
	}
	return false
}

// members lists the members left, in order.
func (q *stopSeq) members() []*program {
	var out []*program
	for _, p := range q.order[q.head:] {
		if q.left[p] {
			out = append(out, p)
		}
	}
	return out
}

// mustWait reports whether p's stop must wait for another member.
func (m *machine) mustWait(p *program) bool {
	q := &m.seq
	if q.chain {
		for q.head < len(q.order) && !q.left[q.order[q.head]] {
			q.head++
		}
		return q.order[q.head] != p
	}
	for _, d := range m.dependents[p] {
		if q.left[d] {
			return true
		}
	}
	return q.phaseWaits(p)
}

// advance begins the stops of the members in work that may begin, and of
// those that may begin once a member turned out to need no stop; when no
// member is left it ends the sequence.
func (m *machine) advance(now time.Time, work []*program) {
	m.now = now
	q := &m.seq
	for len(work) > 0 {
		p := work[0]
		work = work[1:]
		if !q.left[p] || q.begun[p] || m.mustWait(p) {
			continue
		}
		q.begun[p] = true
		if !m.beginStop(p, now) {
			work = append(work, m.dropStop(p)...)
		}
	}
	if q.running() {
		return // stopped continues
	}
	m.seq = stopSeq{}
	m.emit(actEscapes{})
	then, group := m.seqThen, m.seqGroup
	m.seqThen, m.seqGroup = nil, false
	switch {
	case then != nil:
		// The continuation runs first (it may start programs, or replace them
		// all: a reload); the group restart that joined the sequence, if any,
		// goes on after it (groupAfterSeq).
		m.emit(actSeqDone{then: then, group: group})
	case m.op != nil && !m.op.waiting:
		m.groupStopped()
	}
}

// groupAfterSeq goes on with the group restart that joined a stop sequence,
// once the sequence's continuation has run.
func (m *machine) groupAfterSeq() []action {
	if m.op != nil && !m.op.waiting {
		m.groupStopped()
	}
	return m.take()
}

// dropStop removes p, stopped, from the sequence and returns the members that
// may now begin: the next one in chain mode, else those p started after.
func (m *machine) dropStop(p *program) []*program {
	q := &m.seq
	delete(q.left, p)
	delete(q.begun, p)
	var woken []*program
	if ph := p.spec.StopPhase; ph != 0 {
		if q.phases[ph]--; q.phases[ph] == 0 {
			// The last of its phase: the lower phases may go on (each is
			// checked again by mustWait).
			delete(q.phases, ph)
			for _, r := range q.order[q.head:] {
				if q.left[r] && !q.begun[r] && r.spec.StopPhase < ph {
					woken = append(woken, r)
				}
			}
		}
	}
	if w, ok := m.memberThen[p]; ok {
		delete(m.memberThen, p)
		if w.left--; w.left == 0 {
			m.emit(actSeqDone{then: w.then})
		}
	}
	if q.chain {
		for q.head < len(q.order) && !q.left[q.order[q.head]] {
			q.head++
		}
		if q.head < len(q.order) {
			return []*program{q.order[q.head]}
		}
		return nil
	}
	return append(m.deps(p), woken...)
}

// beginStop starts stopping p and reports whether there is a run to wait for.
func (m *machine) beginStop(p *program, now time.Time) bool {
	switch p.state {
	case StateStopping:
		return true
	case StateStarting, StateRunning:
		if !p.hasRun { // a failed spawn: its exit is on its way
			m.setState(p, StateStopping, "stop requested", Event{}, now)
			return true
		}
	case StateBackoff:
		m.emit(actCancelTimer{p: p})
		m.setState(p, StateStopped, "stopped while in backoff", Event{}, now)
		return false
	case StateWaiting:
		m.setState(p, StateStopped, "stopped while waiting", Event{}, now)
		return false
	default:
		return false
	}
	m.emit(actCancelTimer{p: p})
	m.setState(p, StateStopping, "stop requested", Event{Pid: p.pid}, now)
	m.emit(actStop{p: p})
	return true
}

// stopped: p was being stopped and its run's whole tree is gone.
func (m *machine) stopped(p *program, now time.Time) []action {
	m.now = now
	reason := "stopped"
	if p.pendingRestart {
		reason = "stopped for group restart"
	} else if why := m.stopWhy[p]; why != "" {
		reason = why
	}
	delete(m.stopWhy, p)
	m.setState(p, StateStopped, reason, Event{Exit: p.lastExit}, now)
	if m.seq.left[p] {
		m.advance(now, m.dropStop(p))
	}
	return m.take()
}

// replacing marks ps, about to be stopped by a reload that starts them again
// (changed) or drops them (removed), as not ended: what requires them is not
// stopped for it.
func (m *machine) replacing(ps []*program) {
	for _, p := range ps {
		p.restarting = true
	}
}

// busy reports whether a group restart or a stop sequence is in progress.
func (m *machine) busy() bool { return m.op != nil || m.seq.running() }

// ctlStart answers a Start request for p (reply receives the outcome).
func (m *machine) ctlStart(p *program) error {
	switch p.state {
	case StateStopped, StateExited, StateFatal:
	default:
		return fmt.Errorf("%w (%s)", ErrAlreadyStarted, p.state)
	}
	if m.op != nil && p.pendingRestart {
		return ErrBusy
	}
	return nil
}

// ctlStop checks a Stop (restart false) or Restart request for p and, if it may
// go ahead, begins it; then is the continuation of the stop (actSeqDone).
func (m *machine) ctlStop(p *program, restart bool, then any, now time.Time) ([]action, error) {
	if !restart {
		switch p.state {
		case StateStopped, StateExited, StateFatal: // as supervisorctl: an error, like start of a running one
			return nil, fmt.Errorf("%w (%s)", ErrNotRunning, p.state)
		}
	}
	return m.ctlStopGroup([]*program{p}, restart, then, now)
}

// ctlStopGroup begins a Stop (restart false) or Restart of every program of ps
// as one stop sequence (reverse dependency order, independent ones at once);
// then is its continuation (actSeqDone), run once every program of ps has
// stopped. The caller has checked each program's state. A stop sequence already
// running is joined (its members stop as they would have, in order with ps);
// a group restart, a reload or a program of ps already being stopped refuses
// it (ErrBusy).
func (m *machine) ctlStopGroup(ps []*program, restart bool, then any, now time.Time) ([]action, error) {
	if m.op != nil || (m.seq.running() && !m.seqJoin) {
		return nil, ErrBusy
	}
	for _, p := range ps {
		if m.seq.left[p] {
			return nil, ErrBusy
		}
	}
	m.now = now
	for _, p := range ps {
		p.held, p.restarting = !restart, restart
		if restart {
			p.log.Info("restart requested")
		} else {
			p.log.Info("stop requested")
		}
	}
	if then != nil {
		if len(ps) == 0 {
			m.emit(actSeqDone{then: then})
			return m.take(), nil
		}
		if m.memberThen == nil {
			m.memberThen = map[*program]*seqWaiter{}
		}
		w := &seqWaiter{then: then, left: len(ps)}
		for _, p := range ps {
			m.memberThen[p] = w
		}
	}
	if m.seq.running() {
		m.advance(now, m.seqAdd(ps...))
	} else {
		m.stopSequence(ps, nil, now)
		m.seqJoin = m.seq.running()
	}
	return m.take(), nil
}

// finished reports whether Serve may return: nothing runs, nothing is pending,
// and no program held by a Stop waits for a Start (unless shutting down).
func (m *machine) finished() bool {
	if m.busy() || m.stayUp && !m.shuttingDown {
		return false
	}
	for _, p := range m.progs {
		switch p.state {
		case StateStopped, StateExited, StateFatal:
			if p.held && !m.shuttingDown {
				return false
			}
		default:
			return false
		}
	}
	return true
}
