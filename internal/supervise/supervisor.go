package supervise

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/ipc"
	"github.com/supervisor/supervisor/internal/notify"
	"github.com/supervisor/supervisor/internal/upgrade"
)

// State is a program's state, named as supervisord names them.
type State string

const (
	StateStopped  State = "stopped"  // not running, by request (or never started)
	StateWaiting  State = "waiting"  // to start once the programs it starts after are running
	StateStarting State = "starting" // spawned, not yet up for MinUptime
	StateRunning  State = "running"  // up for at least MinUptime
	StateBackoff  State = "backoff"  // ended; waiting to be restarted
	StateStopping State = "stopping" // stop signal sent; waiting for the group to end
	StateExited   State = "exited"   // ended, and the policy says not to restart
	StateFatal    State = "fatal"    // gave up: too many failed starts or restarts
)

// Event is one state change of one program.
type Event struct {
	Time    time.Time
	Program string
	From    State
	To      State
	Pid     int           // the process concerned, if any
	Exit    *Exit         // the exit that caused the change, if any
	Delay   time.Duration // with To == StateBackoff: the delay before the restart
	Reason  string        // why, in words
}

// Status is a snapshot of one program.
type Status struct {
	Name     string
	Kind     SpawnerKind // the program's spawner; SpawnGoroutine for a goroutine worker
	State    State
	Pid      int // 0 unless starting, running or stopping; always 0 for a goroutine worker
	Started  time.Time
	Restarts int
	LastExit *Exit
	Reason   string
	// Protocol programs only: the last status text and when the last heartbeat
	// (or Ready) came, with its sequence number.
	StatusText    string
	LastHeartbeat time.Time
	HeartbeatSeq  uint64
	// Goroutine workers only: how many runs of this program ignored their stop
	// and still run (see Supervisor.Leaked).
	Leaked int
	// Protocol programs: Requests sent to it and not answered yet.
	InFlight int
	// In backoff under one_for_one: when the next start is due (zero otherwise).
	RestartAt time.Time
	// Readiness is where its readiness comes from (Spec.Readiness); when it is
	// running, Reason says how it got there ("sent READY=1", ...).
	Readiness string
}

// Live reports whether the program has a current run: a process (Pid != 0), or a
// goroutine worker that is starting, running or stopping.
func (st Status) Live() bool {
	if st.Pid != 0 {
		return true
	}
	switch st.State {
	case StateStarting, StateRunning, StateStopping:
		return st.Kind == SpawnGoroutine
	}
	return false
}

// Options configures a Supervisor.
type Options struct {
	// Reaper starts and reaps every process; required. Several supervisors may share one.
	Reaper *Reaper
	// OnEvent, if set, is called on the state goroutine for every state change. It
	// must not block.
	OnEvent func(Event)
	// OnOutput, if set, receives every line of every program's stdout and stderr:
	// for processes from the output mux's one goroutine, which drains every pipe
	// (so a slow OnOutput delays every program's output, and a child waits on a
	// full pipe meanwhile); for a goroutine worker from the goroutine that wrote
	// the line. So it runs concurrently with the state goroutine, and with
	// itself. It must not block for long.
	OnOutput func(OutputLine)
	// Console, if set, shows every line of program output in place of the
	// program's logger: without it a line is logged through
	// logger.Named(program) with its pid and stream as fields, at its level
	// (OutputLine.Level); with it, it is handed to Console instead, on the
	// same goroutine as OnOutput and after it (cmd/supervisor renders
	// "name | line" this way). The same rules as OnOutput apply.
	Console func(OutputLine)
	// Rand returns a number in [0,1) for backoff jitter; nil means math/rand/v2.
	Rand func() float64
	// Workers are the built-in workers programs of spawner reexec and goroutine
	// may name; the zero value has none.
	Workers Catalogue
	// StayUp keeps Serve running once every program has ended for good (and
	// with no program at all), until ctx ends or Shutdown: supervisord's way,
	// where supervisorctl may start them again.
	StayUp bool
	// Resume, if set, is the state an old image of this process handed over
	// (Upgrade): Serve takes its programs and children over in place of
	// starting them. The Reaper must have been made with ResumedProcs(Resume).
	Resume *upgrade.State
	// MainThread says Serve is called on the main goroutine, locked to the
	// main thread by the caller (runtime.LockOSThread in an init function):
	// every spawn then forks on the thread an upgrade execs from, and
	// Upgrade can keep the children (E12). Without it Upgrade is refused.
	MainThread bool
}

// ErrServed is returned by a second call to Serve.
var ErrServed = errors.New("supervise: Serve called twice")

// Supervisor runs one Group. All of its state is owned by the goroutine running
// Serve; everything else talks to it through its inbox. The decisions are the
// policy machine's (policy.go); the Supervisor feeds it what happens and carries
// out what it decides, through each program's current run (run.go).
type Supervisor struct {
	log     hclog.Logger
	r       *Reaper
	group   Group
	progs   []*program // owned by the Serve goroutine (replaced by Reload); the machine's too
	m       *machine   // the policy; owned by the Serve goroutine
	retired []*program // dropped by Reload with cgroups not yet empty; removeCgroups takes them
	opts    Options
	inbox   inbox
	logs    logFiles // the programs' log files that are open; see logs.go
	// byName maps names to progs for Request, which does not run on the Serve
	// goroutine; replaced (never mutated) by publishNames.
	byName atomic.Pointer[map[string]*program]
	// rr rotates where RequestAny starts looking, so ties go round-robin.
	rr atomic.Uint64

	// Owned by the Serve goroutine.
	served   bool
	stopping atomic.Bool           // m.shuttingDown, for other goroutines (ShuttingDown)
	opTimer  *time.Timer           // the group restart's timer (actGroupTimer)
	sems     map[string]*semaphore // leases (lease.go)
	// startWaiters: StartWait and RestartWait calls waiting for their program
	// to be running or to fail (control.go).
	startWaiters map[*program][]chan error
	leaseUse     map[runKey]int // leases held or waited for, per run
	done         chan struct{}
	killMode     KillMode     // KillCgroup or KillGroup, chosen when Serve starts
	cgroups      *cgroupTree  // this Supervisor's cgroups, in KillCgroup mode
	out          *outputMux   // reads every program's stdout and stderr, from Serve on
	escapes      escapeCheck  // what a stop sequence found before it killed
	chosenMode   atomic.Value // KillMode, for chosenKillMode()
	notifyPath   string       // the directory of the runs' sd_notify sockets, once made (notify.go)
	notifySeq    uint64
	onMain       bool // Serve runs locked to the main thread: an upgrade can exec (upgrade.go)

	// Goroutine workers that ignored their stop and still run; written by the
	// state goroutine (abandon) and by those goroutines when they return at last.
	leakMu sync.Mutex
	leaked map[*goRun]struct{}
}

// program is one configured program: its spec, its policy state (pstate, which
// only the machine writes), its current run, and what outlives runs.
type program struct {
	pstate
	spec Spec
	log  hclog.Logger
	env  []string

	cur       run    // the current run (until its tree is gone, after a stop), or nil
	runNo     uint64 // incremented per start; exits and messages of older runs are stale
	timer     *time.Timer
	timerGen  uint64
	timerKind timerKind // the armed timer's, for an upgrade's state
	timerDue  time.Time

	link       atomic.Pointer[link] // set while a protocol program is ready: requests go straight to it
	inFlight   atomic.Int64         // Requests sent to this program and not yet answered (any run); read by RequestAny
	statusText string

	cg     *cgroup   // the cgroup of the current or last run (KillCgroup), or nil; runs borrow it
	oldCgs []*cgroup // cgroups of earlier runs, removed once empty
}

// New checks g and returns a Supervisor for it. Nothing starts until Serve.
func New(log hclog.Logger, g Group, opts Options) (*Supervisor, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.Reaper == nil {
		return nil, errors.New("supervise: Options.Reaper is nil")
	}
	if g.Strategy == "" {
		g.Strategy = OneForOne
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if err := opts.Workers.CheckGroup(&g); err != nil {
		return nil, err
	}
	if err := g.CheckUsers(); err != nil {
		return nil, err
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	s := &Supervisor{log: log, r: opts.Reaper, group: g, opts: opts, done: make(chan struct{})}
	s.logs.log = log.Named("logfile")
	s.inbox.ready = make(chan struct{}, 1)
	for _, spec := range g.Programs {
		s.progs = append(s.progs, s.newProgram(spec))
	}
	s.m = newMachine(g.Strategy, s.progs, opts.Rand)
	s.m.stayUp = opts.StayUp
	s.publishNames()
	return s, nil
}

func (s *Supervisor) newProgram(spec Spec) *program {
	p := &program{spec: spec, log: s.log.Named(spec.Name)}
	p.state = StateStopped
	switch {
	case os.Getenv("NOTIFY_SOCKET") != "" || os.Getenv("WATCHDOG_USEC") != "" || os.Getenv("WATCHDOG_PID") != "":
		// Started by systemd (or another notify receiver): its NOTIFY_SOCKET is
		// ours, not our children's.
		p.env = append(notify.StripEnv(os.Environ()), spec.Env...)
	case len(spec.Env) > 0 || spec.Protocol:
		p.env = append(os.Environ(), spec.Env...)
	}
	if spec.User != nil && !spec.KeepUserEnv {
		p.env = withUserEnv(p.env, &p.spec)
	}
	if spec.Protocol {
		p.env = append(p.env, "SUPERVISOR_PROGRAM="+spec.Name)
	}
	return p
}

// publishNames makes the current programs visible to Request, which runs outside
// the state goroutine. Called whenever s.progs changes.
func (s *Supervisor) publishNames() {
	m := make(map[string]*program, len(s.progs))
	for _, p := range s.progs {
		m[p.spec.Name] = p
	}
	s.byName.Store(&m)
}

// message is what the state goroutine receives; the set is sealed.
type message interface{ isMessage() }

type exitMsg struct {
	p    *program
	run  uint64
	exit Exit
}

type timerMsg struct {
	p    *program
	gen  uint64
	kind timerKind
}

type opTimerMsg struct{ gen uint64 }

type statusMsg struct{ reply chan []Status }

// protoMsg is a message a protocol program sent, or the error that ended its pipe.
// credit, if not nil, is the sending run's frame credit: the state goroutine
// takes one from it when it handles the message (procRun.readChild).
type protoMsg struct {
	p      *program
	run    uint64
	msg    ipc.Message
	err    error
	credit chan struct{}
	beats  *beatBox // a coalesced Heartbeat: its seq and credits are the box's
}

// link is what Request needs of a ready protocol program; it is replaced, never mutated.
type link struct {
	conn    *ipc.Conn
	pending *ipc.Pending
	local   *goRun // a goroutine worker: requests are calls of its handler, not frames
}

// signalMsg asks for a signal to every live program's group (SignalAll).
type signalMsg struct{ sig syscall.Signal }

func (signalMsg) isMessage()  {}
func (exitMsg) isMessage()    {}
func (timerMsg) isMessage()   {}
func (opTimerMsg) isMessage() {}
func (statusMsg) isMessage()  {}
func (protoMsg) isMessage()   {}

// inbox is an unbounded queue: the reaper and timers never block on the state
// goroutine, and nothing sent is dropped.
type inbox struct {
	mu    sync.Mutex
	q     []message
	ready chan struct{} // capacity 1: "the queue may be non-empty"
}

func (b *inbox) push(m message) {
	b.mu.Lock()
	b.q = append(b.q, m)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// unshift puts q back at the head of the queue (a failed upgrade's).
func (b *inbox) unshift(q []message) {
	if len(q) == 0 {
		return
	}
	b.mu.Lock()
	b.q = append(q, b.q...)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

func (b *inbox) take() []message {
	b.mu.Lock()
	q := b.q
	b.q = nil
	b.mu.Unlock()
	return q
}

// Serve starts the group's autostart programs (each once the programs it starts
// after are running) and supervises them. It blocks until every program has
// ended for good (exited, fatal, or stopped by the group; a program stopped by
// a Stop request waits for Start instead), or until ctx is cancelled; then it
// stops every program (stop signal to the group, grace period, SIGKILL; each
// once those that start after it have stopped) and returns once nothing is left.
// It returns nil in both cases; ExitCode tells how it ended. ctx is the whole
// lifetime, not just start-up.
func (s *Supervisor) Serve(ctx context.Context) error {
	if s.served {
		return ErrServed
	}
	s.served = true
	defer close(s.done)
	s.log.Info("supervisor starting", "programs", len(s.progs), "strategy", string(s.group.Strategy),
		"pid", os.Getpid(), "pid1", s.r.PID1())
	if s.opts.MainThread {
		if s.onMain = onMainThread(); !s.onMain {
			s.log.Warn("Options.MainThread is set, but Serve does not run on the main thread: upgrades are refused")
		}
	}
	if err := s.chooseKillMode(); err != nil {
		return err
	}
	s.checkFds(&s.group)
	defer s.removeCgroups()
	out, err := newOutputMux(s.log)
	if err != nil {
		return fmt.Errorf("supervise: %w", err)
	}
	s.out = out
	defer out.close() // also on the way out below, before the last log line
	if s.opts.Resume != nil {
		s.resume(s.opts.Resume)
	} else {
		s.do(s.m.startAll(time.Now()))
	}
	// Start-up's garbage (the config, the first spawns) would stay resident for
	// good: an idle supervisor's heap stays under the runtime's 4 MB minimum, so
	// no GC ever runs to free it. One GC, and memory given back, a second in.
	startGC := time.AfterFunc(startupRelease, debug.FreeOSMemory)
	defer startGC.Stop()
	cancelled := ctx.Done()
	for !s.m.finished() {
		select {
		case <-cancelled:
			cancelled = nil
			s.log.Info("stopping all programs", "cause", context.Cause(ctx))
			s.do(s.m.shutdown(time.Now()))
		case <-s.inbox.ready:
			batch := s.inbox.take()
			for i, m := range batch {
				if u, ok := m.(upgradeMsg); ok && u.exec {
					// The exec takes the inbox as it is, into the state: what
					// came after it in this batch goes back there first.
					s.inbox.unshift(batch[i+1:])
					s.handle(m)
					break
				}
				s.handle(m)
			}
		}
	}
	for _, p := range s.progs {
		p.cancelTimer()
	}
	if s.opTimer != nil {
		s.opTimer.Stop()
	}
	if s.m.shuttingDown && !s.m.essential {
		s.m.exitCode = 0
	}
	s.out.close()
	if s.notifyPath != "" {
		_ = os.RemoveAll(s.notifyPath)
	}
	s.log.Info("supervisor stopped", "exit_code", s.m.exitCode)
	return nil
}

// ExitCode says how Serve ended: the status of an essential program whose end
// stopped the group (its exit code, 128+signal, or at least 1 if it turned
// fatal); 0 after a requested stop or when every program ended successfully;
// otherwise the shell-style status (128+signal for a signal) of
// the last program that ended in failure for good, or 1 when it had no status.
// Valid once Serve has returned.
func (s *Supervisor) ExitCode() int {
	<-s.done
	return s.m.exitCode
}

// SignalAll sends sig to the process group of every program that is starting or
// running, from the state goroutine. It does not wait for that; safe for
// concurrent use, and a no-op once Serve has returned.
func (s *Supervisor) SignalAll(sig syscall.Signal) { s.inbox.push(signalMsg{sig: sig}) }

// Status returns a snapshot of every program, in start order. It blocks until the
// state goroutine answers, ctx ends, or Serve returns.
func (s *Supervisor) Status(ctx context.Context) ([]Status, error) {
	reply := make(chan []Status, 1)
	s.inbox.push(statusMsg{reply: reply})
	select {
	case st := <-reply:
		return st, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return s.snapshot(), nil // Serve has returned: the state is ours to read
	}
}

// ShuttingDown reports whether the supervisor has begun stopping everything (a
// cancelled Serve context, Shutdown, Kill, or an essential program's end). Safe
// for concurrent use.
func (s *Supervisor) ShuttingDown() bool { return s.stopping.Load() }

func (s *Supervisor) snapshot() []Status {
	out := make([]Status, len(s.progs))
	for i, p := range s.progs {
		st := Status{Name: p.spec.Name, Kind: p.spec.Spawner, State: p.state, Started: p.started, Restarts: p.restarts, LastExit: p.lastExit, Reason: p.reason,
			StatusText: p.statusText, LastHeartbeat: p.lastBeat, HeartbeatSeq: p.beatSeq, InFlight: int(p.inFlight.Load()),
			Readiness: p.spec.Readiness()}
		if p.hasRun {
			st.Pid = p.pid
		}
		if p.state == StateBackoff {
			st.RestartAt = p.restartAt
		}
		if p.spec.Spawner == SpawnGoroutine {
			st.Leaked = s.leakedOf(p.spec.Name)
		}
		out[i] = st
	}
	return out
}

func (s *Supervisor) handle(m message) {
	switch m := m.(type) {
	case exitMsg:
		if m.run != m.p.runNo || !m.p.live {
			return // an earlier run; already handled
		}
		s.exited(m.p, m.exit)
	case timerMsg:
		if m.gen != m.p.timerGen {
			return // cancelled or superseded
		}
		s.do(s.m.timer(m.p, m.kind, time.Now()))
	case runTimerMsg:
		if m.gen != m.b.timerGen {
			return // cancelled or superseded
		}
		m.r.fire(m.kind)
	case opTimerMsg:
		s.do(s.m.groupTimer(m.gen))
	case statusMsg:
		m.reply <- s.snapshot()
	case ctlMsg:
		s.controlled(m)
	case groupMsg:
		s.grouped(m)
	case reloadMsg:
		s.reload(m)
	case signalMsg:
		for _, p := range s.progs {
			if (p.state == StateStarting || p.state == StateRunning) && p.hasRun {
				p.cur.signalTree(m.sig)
			}
		}
	case protoMsg:
		n := 1
		if m.beats != nil {
			var seq uint64
			seq, n = m.beats.take()
			m.msg = ipc.Heartbeat{Seq: seq}
		}
		for range n {
			if m.credit == nil {
				break
			}
			<-m.credit
		}
		if m.run != m.p.runNo || !m.p.live {
			return
		}
		s.protocol(m.p, m.msg, m.err)
	case notifyMsg:
		if m.credit != nil {
			<-m.credit
		}
		if m.run != m.p.runNo || !m.p.live {
			return // of an earlier run
		}
		s.notified(m.p, m)
	case probeMsg:
		if m.run != m.p.runNo || !m.p.live {
			return // a probe of an earlier run
		}
		s.probed(m.p, m)
	case upgradeMsg:
		s.upgraded(m)
	case goPanicMsg:
		if m.run != m.p.runNo || !m.p.live || m.p.state == StateStopping {
			return // the run is over or being stopped already
		}
		s.do(s.m.runFailed(m.p, "panic in a request handler", m.p.spec.StopSignal))
	}
}

// do carries out the machine's actions, in order. An action may feed the
// machine again (a spawn's outcome, a stop sequence's continuation); what that
// returns is carried out at once, before the next action.
func (s *Supervisor) do(acts []action) {
	for _, a := range acts {
		switch a := a.(type) {
		case actSpawn:
			s.spawn(a.p)
		case actStop:
			if r := a.p.cur; r != nil {
				r.stop()
			}
		case actEnd:
			if r := a.p.cur; r != nil {
				r.end(a.why, a.sig)
			}
		case actKillNow:
			if r := a.p.cur; r != nil {
				r.killNow()
			}
		case actTimer:
			a.p.setTimer(s, a.d, a.kind)
		case actCancelTimer:
			a.p.cancelTimer()
		case actEvent:
			s.stopping.Store(s.m.shuttingDown)
			if a.final {
				s.releaseCgroup(a.p) // ended for good
			}
			if s.opts.OnEvent != nil {
				s.opts.OnEvent(a.ev)
			}
			s.startResolved(a.p, a.ev)
			if a.ev.To == StateRunning && a.p.cur != nil && a.p.spec.LiveProbe != nil {
				if b := a.p.cur.base(); b.no == a.p.runNo {
					b.startLiveProbe()
				}
			}
		case actLinkUp:
			if r := a.p.cur; r != nil {
				a.p.link.Store(r.linkUp())
			}
		case actGroupTimer:
			gen := a.gen
			s.opTimer = time.AfterFunc(a.d, func() { s.inbox.push(opTimerMsg{gen: gen}) })
		case actEscapes:
			s.reportEscapes()
		case actSeqDone:
			s.seqDone(a.then)
			if a.group {
				s.do(s.m.groupAfterSeq())
			}
		case actReply:
			a.to <- a.err
		}
	}
	s.stopping.Store(s.m.shuttingDown)
}

// spawn starts a new run of p and tells the machine how that went. A spawn that
// fails is handled as an exit with status 127 or 126, delivered through the
// inbox so that retries never recurse.
func (s *Supervisor) spawn(p *program) {
	p.runNo++
	no := p.runNo
	if p.spec.Spawner == SpawnGoroutine {
		g := s.startGoroutine(p, no)
		p.cur = g
		s.do(s.m.spawned(p, 0, "started as a goroutine", true, g.started))
		return
	}
	r, err := s.startProc(p, no)
	if err != nil {
		p.cur = nil
		p.log.Error("program could not be started", "error", err)
		s.do(s.m.spawnFailed(p, time.Now()))
		s.inbox.push(exitMsg{p: p, run: no, exit: spawnExit(err, time.Now())})
		s.tidyCgroups(p)
		return
	}
	p.cur = r
	s.do(s.m.spawned(p, r.proc.Pid, "spawned", false, r.proc.Started))
	r.startReadyProbe()
	if len(p.oldCgs) > 0 {
		// After the start is announced: nothing in this start waits on the
		// rmdir of earlier runs' cgroups.
		s.tidyCgroups(p)
	}
}

// exited handles the reaped exit of p's current run.
func (s *Supervisor) exited(p *program, e Exit) {
	if r, ok := p.cur.(*procRun); ok && r.holdStartExit(e) {
		return // type = forking: the main process is followed, or the exit comes back
	}
	stopping := p.state == StateStopping
	r := p.cur
	gone := true
	if r != nil {
		gone = r.exited(e)
		if pr, ok := r.(*procRun); ok && pr.daemonized != "" {
			why := "it daemonized itself, leaving " + pr.daemonized + ": run it in the foreground, or set type = forking and pid_file"
			p.log.Error("the program's main process exited 0 at once and left processes behind", "pid", e.Pid, "left", pr.daemonized,
				"fix", "run it in the foreground (nginx: daemon off;), or set type = forking and pid_file")
			s.do(s.m.failedWith(p, why))
		}
	} else if stopping { // a failed spawn
		p.log.Info("program stopped", "pid", 0, "exit", e.String(), "uptime", e.Time.Sub(p.started).Round(time.Millisecond))
	} else {
		logExit(p, 0, e, e.Time.Sub(p.started))
	}
	if r != nil && gone {
		r.close()
		p.cur = nil
	}
	s.do(s.m.exited(p, e))
	if stopping && gone {
		s.do(s.m.stopped(p, time.Now()))
	}
}

// treeGone: the tree of r, p's stopped run, is gone at last (procRun.pollTree).
func (s *Supervisor) treeGone(p *program, r run) {
	r.close()
	if p.cur == r {
		p.cur = nil
	}
	s.do(s.m.stopped(p, time.Now()))
}

// seqDone runs the continuation of a stop sequence begun for a control request
// or a reload.
func (s *Supervisor) seqDone(then any) {
	switch t := then.(type) {
	case ctlThen:
		if !t.restart {
			t.reply <- nil
			return
		}
		if s.m.shuttingDown { // a shutdown took the restart's stop over
			t.reply <- fmt.Errorf("restart %s: %w", t.p.spec.Name, ErrShuttingDown)
			return
		}
		s.do(s.m.startOnRequest(t.p))
		s.answerStart(t.p, t.wait, t.reply)
	case groupThen:
		if !t.restart {
			for _, out := range t.outs {
				out <- nil
			}
			return
		}
		s.startGroup(t.ps, t.outs, t.wait)
	case reloadMsg:
		s.reloaded(t)
	}
}

func (p *program) resolve(r ipc.Reply) {
	if l := p.link.Load(); l != nil && !l.pending.Resolve(r) {
		p.log.Debug("reply to no request in flight", "id", r.ID)
	}
}

// protocol handles one message from p's current run, or the error that ended
// its pipe.
func (s *Supervisor) protocol(p *program, m ipc.Message, err error) {
	if err != nil {
		if r, ok := p.cur.(*procRun); ok {
			if why, sig := r.pipeEnded(err); why != "" {
				s.do(s.m.runFailed(p, why, sig))
			}
		}
		return
	}
	now := time.Now()
	switch m := m.(type) {
	case ipc.Hello:
		s.m.hello(p)
		p.log.Debug("handshake", "pid", p.pid, "child_pid", m.Pid, "name", m.Name)
	case ipc.Ready:
		s.do(s.m.readied(p, now))
	case ipc.Heartbeat:
		s.do(s.m.heartbeat(p, m.Seq, now))
	case ipc.Status:
		p.statusText = m.Text
		age := "none yet"
		if !p.lastBeat.IsZero() {
			age = now.Sub(p.lastBeat).Round(time.Millisecond).String()
		}
		p.log.Info("status", "pid", p.pid, "text", m.Text, "heartbeat_age", age, "heartbeat_seq", p.beatSeq)
	case ipc.Stopping:
		p.log.Debug("stop acknowledged", "pid", p.pid)
	case ipc.Acquire:
		s.acquire(p, m)
	case ipc.Release:
		s.release(p, m)
	}
}

// startupRelease is when, after Serve starts, start-up's garbage is freed.
const startupRelease = time.Second

// killAllGoroutineGrace is what a goroutine worker gets to return once Kill was
// called, at most its stop_grace: it cannot be killed, only abandoned.
const killAllGoroutineGrace = 100 * time.Millisecond

func (p *program) setTimer(s *Supervisor, d time.Duration, kind timerKind) {
	p.cancelTimer()
	gen := p.timerGen
	p.timerKind, p.timerDue = kind, time.Now().Add(d)
	p.timer = time.AfterFunc(d, func() { s.inbox.push(timerMsg{p: p, gen: gen, kind: kind}) })
}

func (p *program) cancelTimer() {
	p.timerGen++
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}
