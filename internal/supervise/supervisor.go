package supervise

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/ipc"
	"github.com/supervisor/supervisor/internal/worker"
)

// State is a program's state, named as supervisord names them.
type State string

const (
	StateStopped  State = "stopped"  // not running, by request (or never started)
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
	// OnOutput, if set, receives every line of every program's stdout and stderr,
	// from the goroutine draining that pipe (so concurrently, one goroutine per
	// pipe). It must not block for long: the child waits on a full pipe meanwhile.
	OnOutput func(OutputLine)
	// Rand returns a number in [0,1) for backoff jitter; nil means math/rand/v2.
	Rand func() float64
}

// ErrServed is returned by a second call to Serve.
var ErrServed = errors.New("supervise: Serve called twice")

// Supervisor runs one Group. All of its state is owned by the goroutine running
// Serve; everything else talks to it through its inbox.
type Supervisor struct {
	log     hclog.Logger
	r       *Reaper
	group   Group
	progs   []*program // owned by the Serve goroutine (replaced by Reload)
	retired []*program // dropped by Reload with cgroups not yet empty; removeCgroups takes them
	opts    Options
	inbox   inbox
	// byName maps names to progs for Request, which does not run on the Serve
	// goroutine; replaced (never mutated) by publishNames.
	byName atomic.Pointer[map[string]*program]
	// rr rotates where RequestAny starts looking, so ties go round-robin.
	rr atomic.Uint64

	// Owned by the Serve goroutine.
	served       bool
	shuttingDown bool
	killAll      bool        // Kill was called: stops get no grace period
	stopping     atomic.Bool // shuttingDown, for other goroutines (ShuttingDown)
	seq          []*program  // programs to stop one after another, head first
	seqThen      func()      // what to do once seq is empty
	seqGroup     bool        // seqThen ends with the group restart's groupStopped
	op           *groupOp    // a one_for_all / rest_for_one restart in progress
	exitCode     int
	sems         map[string]*semaphore // leases (lease.go)
	essential    bool                  // an essential program ended for good; exitCode is its status
	done         chan struct{}
	killMode     KillMode     // KillCgroup or KillGroup, chosen when Serve starts
	cgroups      *cgroupTree  // this Supervisor's cgroups, in KillCgroup mode
	out          *outputMux   // reads every program's stdout and stderr, from Serve on
	escapes      escapeCheck  // what a stop sequence found before it killed
	chosenMode   atomic.Value // KillMode, for KillMode()

	// Goroutine workers that ignored their stop and still run; written by the
	// state goroutine (abandon) and by those goroutines when they return at last.
	leakMu sync.Mutex
	leaked map[*goRun]struct{}
}

type groupOp struct {
	from  int // the programs from this index on are restarted
	delay time.Duration
	timer *time.Timer
	gen   uint64
}

type program struct {
	spec Spec
	idx  int
	log  hclog.Logger
	env  []string

	state          State
	reason         string
	proc           *Proc  // nil when the spawn failed, and for a goroutine worker
	gor            *goRun // kind goroutine: the current run, or nil
	run            uint64 // incremented per spawn; exits of older runs are stale
	live           bool   // an exit for run is still to come
	started        time.Time
	restarts       int
	lastExit       *Exit
	failures       int // failed runs in a row (backoff exponent)
	failedStarts   int // exits before MinUptime in a row
	restartTimes   []time.Time
	pendingRestart bool // part of the group restart in progress
	held           bool // stopped by a Stop request: waits for Start, and keeps Serve running
	timer          *time.Timer
	timerGen       uint64
	failure        string               // why the current run is being ended by us (start or heartbeat timeout, protocol error), or ""
	killing        bool                 // a stop signal went out outside a stop sequence; timerKill follows
	link           atomic.Pointer[link] // set while a protocol program is ready: requests go straight to it
	inFlight       atomic.Int64         // Requests sent to this program and not yet answered (any run); read by RequestAny
	conn           *ipc.Conn            // protocol programs: the current run's connection, or nil
	toChild        *os.File             // the write end of fd 4 for the current run
	fromChild      *os.File             // the read end of fd 3, read (and closed) by readChild
	pending        *ipc.Pending         // requests in flight on the current run
	ready          bool                 // the current run said Ready
	lastBeat       time.Time
	beatSeq        uint64
	statusText     string
	groupWait      int           // pgid whose remnants we wait to see gone, or 0
	groupKillAt    time.Time     // when to SIGKILL what is left of a stopped run's tree; zero once done
	treeSignalled  bool          // the stop signal went to the whole tree (not just the pipe's Stop)
	restartAt      time.Time     // in backoff under one_for_one: when the timer starts it
	groupDeadline  time.Time     // when to give up on them
	groupPoll      time.Duration // next poll interval
	cg             *cgroup       // the cgroup of the current or last run (KillCgroup), or nil
	stopPids       []int         // cg's processes as beforeStop read them, for beginStop's signal only
	greeted        bool          // this run's Hello arrived (protocol programs)
	oldCgs         []*cgroup     // cgroups of earlier runs, removed once empty
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
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	s := &Supervisor{log: log, r: opts.Reaper, group: g, opts: opts, done: make(chan struct{})}
	s.inbox.ready = make(chan struct{}, 1)
	for i, spec := range g.Programs {
		s.progs = append(s.progs, s.newProgram(spec, i))
	}
	s.publishNames()
	return s, nil
}

func (s *Supervisor) newProgram(spec Spec, idx int) *program {
	p := &program{spec: spec, idx: idx, log: s.log.Named(spec.Name), state: StateStopped}
	if len(spec.Env) > 0 || spec.Protocol {
		p.env = append(os.Environ(), spec.Env...)
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

type timerKind int

const (
	timerUptime       timerKind = iota // MinUptime passed: starting -> running
	timerBackoff                       // backoff passed: start again
	timerKill                          // grace passed: SIGKILL the group
	timerGroup                         // poll whether a stopped program's group is gone
	timerStartTimeout                  // a protocol program did not say Ready in time
	timerHeartbeat                     // a protocol program's heartbeats stopped
	timerStopSignal                    // a protocol program asked over the pipe did not stop: signal it
)

type timerMsg struct {
	p    *program
	gen  uint64
	kind timerKind
}

type opTimerMsg struct{ gen uint64 }

type statusMsg struct{ reply chan []Status }

// protoMsg is a message a protocol program sent, or the error that ended its pipe.
type protoMsg struct {
	p   *program
	run uint64
	msg ipc.Message
	err error
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

func (b *inbox) take() []message {
	b.mu.Lock()
	q := b.q
	b.q = nil
	b.mu.Unlock()
	return q
}

// Serve starts the group's autostart programs in order and supervises them. It
// blocks until every program has ended for good (exited, fatal, or stopped by
// the group; a program stopped by a Stop request waits for Start instead), or
// until ctx is cancelled; then it stops every program in reverse order (stop
// signal to the group, grace period, SIGKILL) and returns once nothing is left.
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
	if err := s.chooseKillMode(); err != nil {
		return err
	}
	defer s.removeCgroups()
	out, err := newOutputMux(s.log)
	if err != nil {
		return fmt.Errorf("supervise: %w", err)
	}
	s.out = out
	defer out.close() // also on the way out below, before the last log line
	for _, p := range s.progs {
		if p.spec.Autostart {
			s.start(p)
		}
	}
	cancelled := ctx.Done()
	for !s.finished() {
		select {
		case <-cancelled:
			cancelled = nil
			s.log.Info("stopping all programs", "cause", context.Cause(ctx))
			s.shutdown()
		case <-s.inbox.ready:
			for _, m := range s.inbox.take() {
				s.handle(m)
			}
		}
	}
	for _, p := range s.progs {
		p.cancelTimer()
	}
	if s.op != nil && s.op.timer != nil {
		s.op.timer.Stop()
	}
	if s.shuttingDown && !s.essential {
		s.exitCode = 0
	}
	s.out.close()
	s.log.Info("supervisor stopped", "exit_code", s.exitCode)
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
	return s.exitCode
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
			StatusText: p.statusText, LastHeartbeat: p.lastBeat, HeartbeatSeq: p.beatSeq, InFlight: int(p.inFlight.Load())}
		if p.proc != nil {
			st.Pid = p.proc.Pid
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

func (s *Supervisor) finished() bool {
	if s.op != nil || len(s.seq) > 0 {
		return false
	}
	for _, p := range s.progs {
		switch p.state {
		case StateStopped, StateExited, StateFatal:
			if p.held && !s.shuttingDown {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (s *Supervisor) handle(m message) {
	switch m := m.(type) {
	case exitMsg:
		if m.run != m.p.run || !m.p.live {
			return // an earlier run; already handled
		}
		s.exited(m.p, m.exit)
	case timerMsg:
		if m.gen != m.p.timerGen {
			return // cancelled or superseded
		}
		s.timerFired(m.p, m.kind)
	case opTimerMsg:
		if s.op != nil && m.gen == s.op.gen {
			s.startPending()
		}
	case statusMsg:
		m.reply <- s.snapshot()
	case ctlMsg:
		s.controlled(m)
	case reloadMsg:
		s.reload(m)
	case signalMsg:
		for _, p := range s.progs {
			if (p.state == StateStarting || p.state == StateRunning) && p.proc != nil {
				s.signalGroup(p, m.sig)
			}
		}
	case protoMsg:
		if m.run != m.p.run || !m.p.live {
			return
		}
		s.protocol(m.p, m.msg, m.err)
	case goPanicMsg:
		if m.run != m.p.run || !m.p.live || m.p.state == StateStopping {
			return // the run is over or being stopped already
		}
		s.endRun(m.p, "panic in a request handler", m.p.spec.StopSignal)
	}
}

func (s *Supervisor) setState(p *program, to State, reason string, ev Event) {
	ev.Time = time.Now()
	ev.Program, ev.From, ev.To, ev.Reason = p.spec.Name, p.state, to, reason
	p.state, p.reason = to, reason
	if to == StateExited || to == StateFatal || (to == StateStopped && !p.pendingRestart) {
		s.releaseCgroup(p) // ended for good
	}
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(ev)
	}
}

// start spawns p. A spawn that fails is handled as an exit with status 127 or 126,
// delivered through the inbox so that retries never recurse.
func (s *Supervisor) start(p *program) {
	p.cancelTimer()
	p.pendingRestart = false
	p.failure, p.killing, p.ready, p.greeted = "", false, false, false
	p.run++
	run := p.run
	if p.spec.Spawner == SpawnGoroutine {
		s.startGoroutine(p, run)
		return
	}

	// Pipe ends: outR/errR (fds) go to the output mux after the spawn, which
	// reads them until EOF; outW/errW go to the child and are closed here right
	// after the spawn.
	outR, outW, err := s.out.pipe()
	if err != nil {
		s.spawnFailed(p, run, fmt.Errorf("stdout pipe: %w", err))
		return
	}
	errR, errW, err := s.out.pipe()
	if err != nil {
		unix.Close(outR)
		outW.Close()
		s.spawnFailed(p, run, fmt.Errorf("stderr pipe: %w", err))
		return
	}
	// Protocol pipes: fd 3 carries child -> supervisor (we keep fromChild), fd 4
	// supervisor -> child (we keep toChild). The child's ends are closed here
	// right after the spawn.
	var fromChild, toChildR, fromChildW, toChild *os.File
	var extra []*os.File
	if p.spec.Protocol {
		if fromChild, fromChildW, err = os.Pipe(); err == nil {
			if toChildR, toChild, err = os.Pipe(); err != nil {
				fromChild.Close()
				fromChildW.Close()
			}
		}
		if err != nil {
			unix.Close(outR)
			outW.Close()
			unix.Close(errR)
			errW.Close()
			s.spawnFailed(p, run, fmt.Errorf("protocol pipe: %w", err))
			return
		}
		extra = []*os.File{fromChildW, toChildR}
	}
	req := SpawnRequest{
		Kind:       p.spec.Spawner,
		Argv:       p.spec.Command,
		Dir:        p.spec.Dir,
		Env:        p.env,
		Stdout:     outW,
		Stderr:     errW,
		ExtraFiles: extra,
		OnExit:     func(e Exit) { s.inbox.push(exitMsg{p: p, run: run, exit: e}) },
		// The group lives and dies with its leader.
		KillGroupOnExit: true,
	}
	if s.cgroups != nil {
		// The last run's cgroup is used again if it emptied without a
		// cgroup.kill (see doc.go); otherwise this run gets a fresh one, and
		// the last run's is removed after this start is announced.
		if p.cg != nil && p.cg.killed {
			p.oldCgs = append(p.oldCgs, p.cg)
			p.cg = nil
		}
		if p.cg == nil {
			if p.cg, err = s.cgroups.run(p.spec.Name, run); err != nil {
				p.log.Error("no cgroup for this run; it is stopped by its process group only", "error", err)
			}
		}
	}
	if p.cg != nil {
		req.Cgroup = p.cg.dir
	}
	proc, err := s.r.Spawn(req)
	if err != nil && p.cg != nil && s.cloneIntoCgroupRefused(err) {
		req.Cgroup = nil
		proc, err = s.r.Spawn(req)
	}
	if len(p.oldCgs) > 0 {
		// After the start is announced: nothing in this start waits on the
		// rmdir of earlier runs' cgroups.
		defer s.tidyCgroups(p)
	}
	outW.Close()
	errW.Close()
	for _, f := range extra {
		f.Close()
	}
	if err != nil {
		unix.Close(outR)
		unix.Close(errR)
		if p.spec.Protocol {
			fromChild.Close()
			toChild.Close()
		}
		s.spawnFailed(p, run, err)
		return
	}
	p.proc, p.live = proc, true
	p.started = proc.Started
	outLog := p.log.With("pid", proc.Pid, "stream", "stdout")
	errLog := p.log.With("pid", proc.Pid, "stream", "stderr")
	if err := s.out.add(outR, outLog, s.tap(p, proc.Pid, "stdout")); err != nil {
		p.log.Error("the program's stdout is not read", "error", err)
	}
	if err := s.out.add(errR, errLog, s.tap(p, proc.Pid, "stderr")); err != nil {
		p.log.Error("the program's stderr is not read", "error", err)
	}

	p.log.Info("program started", "pid", proc.Pid, "spawner", string(p.spec.Spawner))
	s.setState(p, StateStarting, "spawned", Event{Pid: proc.Pid})
	if p.spec.Protocol {
		p.conn = ipc.NewConn(fromChild, toChild, 0)
		p.toChild, p.fromChild = toChild, fromChild
		p.pending = &ipc.Pending{}
		go s.readChild(p, run, p.conn, fromChild)
		p.setTimer(s, p.spec.StartTimeout, timerStartTimeout)
		return
	}
	if p.spec.MinUptime == 0 {
		s.becameRunning(p)
		return
	}
	p.setTimer(s, p.spec.MinUptime, timerUptime)
}

func (s *Supervisor) spawnFailed(p *program, run uint64, err error) {
	p.log.Error("program could not be started", "error", err)
	p.started = time.Now()
	p.proc, p.live = nil, true
	s.setState(p, StateStarting, "spawn failed", Event{})
	s.inbox.push(exitMsg{p: p, run: run, exit: spawnExit(err, time.Now())})
}

func (s *Supervisor) becameRunning(p *program) {
	p.failedStarts = 0
	reason := "up for min_uptime"
	if p.ready {
		reason = "said Ready"
	}
	s.setState(p, StateRunning, reason, Event{Pid: p.pid()})
}

// alive reports whether p has a current run to act on: a process, or a goroutine.
func (p *program) alive() bool { return p.proc != nil || p.gor != nil }

// pid is the current run's process id, or 0 (no process, or a goroutine worker).
func (p *program) pid() int {
	if p.proc != nil {
		return p.proc.Pid
	}
	return 0
}

func (s *Supervisor) timerFired(p *program, kind timerKind) {
	switch kind {
	case timerUptime:
		if p.state == StateStarting && p.alive() {
			s.becameRunning(p)
		}
	case timerBackoff:
		if p.state == StateBackoff && !s.shuttingDown {
			s.start(p)
		}
	case timerKill:
		if (p.state == StateStopping || p.killing) && p.gor != nil {
			s.abandon(p)
			return
		}
		if (p.state == StateStopping || p.killing) && p.proc != nil {
			how := "SIGKILL to the process group"
			if p.cg != nil {
				how = "cgroup.kill"
			}
			if s.killAll {
				p.log.Warn("killing the program's tree now", "pid", p.proc.Pid, "how", how)
			} else {
				p.log.Warn("grace period over; killing the program's tree", "pid", p.proc.Pid, "grace", p.spec.StopGrace, "how", how)
			}
			s.signalGroup(p, syscall.SIGKILL)
		}
	case timerGroup:
		s.pollGroup(p)
	case timerStartTimeout:
		if p.state == StateStarting && p.alive() && !p.ready {
			why := fmt.Sprintf("no ready within start_timeout %s", p.spec.StartTimeout)
			if !p.greeted && p.gor == nil {
				why = fmt.Sprintf("no handshake (Hello on fd 3) within start_timeout %s: does the program speak the protocol (protocol = true)?", p.spec.StartTimeout)
			}
			s.endRun(p, why, syscall.SIGKILL)
		}
	case timerHeartbeat:
		if p.state == StateRunning && p.alive() {
			s.endRun(p, fmt.Sprintf("no heartbeat for %s (last seq %d)", p.spec.HeartbeatTimeout, p.beatSeq), p.spec.StopSignal)
		}
	case timerStopSignal:
		if (p.state == StateStopping || p.killing) && p.proc != nil {
			p.log.Info("still running after the stop request; signalling", "signal", SignalName(p.spec.StopSignal))
			s.signalStop(p)
			p.treeSignalled = true
			p.setTimer(s, p.spec.StopGrace-p.spec.StopGrace/2, timerKill)
		}
	}
}

// exited handles the reaped exit of p's current process.
func (s *Supervisor) exited(p *program, e Exit) {
	pid := p.pid()
	p.proc, p.gor, p.live = nil, nil, false
	p.cancelTimer()
	p.lastExit = &e
	p.killing = false
	cgLeft := p.cg != nil && pid != 0 && p.cg.populated()
	// A stopped run's tree keeps the rest of its grace period (beginStop spared
	// the group); any other run's tree lives and dies with its leader, and the
	// reaper has already killed its group.
	graceLeft := p.state == StateStopping && pid != 0 && !s.killAll && time.Now().Before(p.groupKillAt)
	if !graceLeft {
		p.groupKillAt = time.Time{}
		switch {
		case cgLeft:
			if err := p.cg.kill(); err != nil {
				p.log.Error("cannot kill the program's cgroup", "cgroup", p.cg.path, "error", err)
			}
		case p.state == StateStopping && pid != 0 && p.cg == nil && groupAlive(pid):
			s.signalRemnants(p, pid, syscall.SIGKILL) // beginStop spared the group
		}
	}
	if p.spec.Protocol {
		s.dropLink(p, fmt.Errorf("program %q ended (%s)", p.spec.Name, e.String()))
		s.releaseLeases(p, p.run)
	}
	uptime := e.Time.Sub(p.started)
	if p.state == StateStopping {
		p.log.Info("program stopped", "pid", pid, "exit", e.String(), "uptime", uptime.Round(time.Millisecond))
		if pid == 0 {
			s.stoppedOne(p)
		} else {
			s.awaitGroupGone(p, pid, cgLeft)
		}
		return
	}
	p.log.Info("program exited", "pid", pid, "exit", e.String(), "uptime", uptime.Round(time.Millisecond),
		"state", string(p.state), "cpu_user", e.UserTime, "cpu_sys", e.SysTime, "maxrss_kib", e.MaxRSS/1024)
	ev := Event{Pid: pid, Exit: &e}

	switch {
	case s.shuttingDown:
		s.setState(p, StateExited, "exited during shutdown", ev)
		return
	case s.op != nil && p.pendingRestart:
		s.setState(p, StateStopped, "exited during group restart", ev)
		return
	}

	wasStarting := p.state == StateStarting
	success := e.SpawnErr == nil && e.Signal == 0 && p.spec.isSuccess(e.Code) && p.failure == ""
	if p.failure != "" {
		p.log.Warn("run ended by the supervisor counts as a failure", "why", p.failure)
	}
	if p.spec.Restart == RestartNever || (p.spec.Restart == RestartOnFailure && success) {
		reason := "restart=" + string(p.spec.Restart)
		if success {
			reason = "exited successfully"
		} else {
			s.exitCode = max(e.ShellCode(), 1)
		}
		p.log.Info("not restarting", "reason", reason)
		s.setState(p, StateExited, reason, ev)
		s.essentialEnded(p, e.ShellCode())
		return
	}
	if uptime >= p.spec.BackoffReset {
		p.failures = 0
	}
	if wasStarting {
		p.failedStarts++
		if p.failedStarts > p.spec.StartRetries {
			before := "min_uptime " + p.spec.MinUptime.String()
			if p.spec.Protocol {
				before = "Ready"
			}
			s.fatal(p, fmt.Sprintf("ended before %s in %d starts in a row", before, p.failedStarts), ev)
			return
		}
	}
	now := time.Now()
	if p.spec.MaxRestarts > 0 {
		kept := p.restartTimes[:0]
		for _, t := range p.restartTimes {
			if now.Sub(t) < p.spec.RestartWindow {
				kept = append(kept, t)
			}
		}
		p.restartTimes = kept
		if len(kept) >= p.spec.MaxRestarts {
			s.fatal(p, fmt.Sprintf("restarted %d times within %s (max_restarts)", len(kept), p.spec.RestartWindow), ev)
			return
		}
		p.restartTimes = append(p.restartTimes, now)
	}
	p.failures++
	p.restarts++
	delay := s.backoff(p)
	ev.Delay = delay
	p.log.Info("restart scheduled", "delay", delay.Round(time.Millisecond), "restarts", p.restarts,
		"failures_in_a_row", p.failures, "strategy", string(s.group.Strategy))

	if s.group.Strategy == OneForOne || len(s.progs) == 1 {
		p.restartAt = time.Now().Add(delay)
		s.setState(p, StateBackoff, fmt.Sprintf("restart %d in %s", p.restarts, delay.Round(time.Millisecond)), ev)
		if delay == 0 {
			s.start(p)
			return
		}
		p.setTimer(s, delay, timerBackoff)
		return
	}
	from := 0
	if s.group.Strategy == RestForOne {
		from = p.idx
	}
	p.restartAt = time.Time{} // the group's stops come first: no fixed time
	s.setState(p, StateBackoff, fmt.Sprintf("%s restart %d in %s", s.group.Strategy, p.restarts, delay.Round(time.Millisecond)), ev)
	s.groupRestart(p, from, delay)
}

func (s *Supervisor) fatal(p *program, reason string, ev Event) {
	p.log.Error("program fatal: giving up", "reason", reason, "last_exit", ev.Exit.String())
	s.exitCode = max(ev.Exit.ShellCode(), 1)
	s.setState(p, StateFatal, reason, ev)
	s.essentialEnded(p, s.exitCode)
}

// essentialEnded stops the group, with code as the supervisor's exit status, if
// p is essential; p has just ended for good.
func (s *Supervisor) essentialEnded(p *program, code int) {
	if !p.spec.Essential || s.shuttingDown {
		return
	}
	s.essential, s.exitCode = true, code
	p.log.Warn("essential program ended for good; stopping the others", "exit_code", code)
	s.shutdown()
}

// backoff is BackoffInitial doubled per failure in a row, jittered, capped at BackoffMax.
func (s *Supervisor) backoff(p *program) time.Duration {
	d := p.spec.BackoffInitial
	for i := 1; i < p.failures && d < p.spec.BackoffMax; i++ {
		d *= 2
	}
	if j := p.spec.BackoffJitter; j > 0 && d > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*s.opts.Rand()-1)))
	}
	return min(d, p.spec.BackoffMax)
}

// groupRestart begins (or widens) a one_for_all / rest_for_one restart: the live
// programs from index from on are stopped in reverse order, then every program
// marked pendingRestart starts again in order after delay.
func (s *Supervisor) groupRestart(trigger *program, from int, delay time.Duration) {
	trigger.pendingRestart = true
	oldFrom := len(s.progs)
	if s.op == nil {
		s.op = &groupOp{from: from, delay: delay}
	} else {
		oldFrom = s.op.from
		s.op.from = min(s.op.from, from)
		s.op.delay = max(s.op.delay, delay)
		if s.op.timer != nil { // already waiting to start: stop and wait again
			s.op.timer.Stop()
			s.op.timer = nil
			s.op.gen++
		}
	}
	var toStop []*program
	for i := len(s.progs) - 1; i >= s.op.from; i-- {
		q := s.progs[i]
		switch q.state {
		case StateStarting, StateRunning, StateBackoff, StateStopping:
			if !q.held { // one being stopped on request stays stopped
				q.pendingRestart = true
			}
		}
		if i < oldFrom && q != trigger {
			toStop = append(toStop, q)
		}
	}
	if len(s.seq) > 0 {
		// A stop sequence is running: ours (a group restart widened), or another
		// one's (ctl stop or restart, a reload). Ours stops join it; the group's
		// starts follow whatever that sequence does when it ends.
		s.seq = append(s.seq, toStop...)
		if !s.seqGroup {
			then := s.seqThen
			s.seqThen = func() {
				if then != nil {
					then()
				}
				if s.op != nil {
					s.groupStopped()
				}
			}
			s.seqGroup = true
		}
		return
	}
	s.stopSequence(toStop, s.groupStopped)
	s.seqGroup = true
}

func (s *Supervisor) groupStopped() {
	op := s.op
	if op.delay == 0 {
		s.startPending()
		return
	}
	op.gen++
	gen := op.gen
	op.timer = time.AfterFunc(op.delay, func() { s.inbox.push(opTimerMsg{gen: gen}) })
}

// startPending ends the group restart: every program it stopped starts again,
// in order. (All programs are looked at, not those from op.from: a reload may
// have run meanwhile and moved the ones it kept.)
func (s *Supervisor) startPending() {
	s.op = nil
	for _, p := range s.progs {
		if p.pendingRestart {
			s.start(p)
		}
	}
}

// shutdown stops every program in reverse start order.
func (s *Supervisor) shutdown() {
	s.shuttingDown = true
	s.stopping.Store(true)
	if s.op != nil && s.op.timer != nil {
		s.op.timer.Stop()
	}
	s.op = nil
	var all []*program
	for i := len(s.progs) - 1; i >= 0; i-- {
		s.progs[i].pendingRestart = false
		all = append(all, s.progs[i])
	}
	s.stopSequence(all, nil)
}

// stopSequence stops progs one after another, then calls then (if not nil).
func (s *Supervisor) stopSequence(progs []*program, then func()) {
	s.seq, s.seqThen, s.seqGroup = progs, then, false
	s.advance()
}

func (s *Supervisor) advance() {
	for len(s.seq) > 0 {
		if s.beginStop(s.seq[0]) {
			return // wait for it; stoppedOne continues
		}
		s.seq = s.seq[1:]
	}
	s.reportEscapes()
	if then := s.seqThen; then != nil {
		s.seqThen, s.seqGroup = nil, false
		then()
	}
}

// beginStop starts stopping p and reports whether there is a process to wait for.
func (s *Supervisor) beginStop(p *program) bool {
	switch p.state {
	case StateStopping:
		return true
	case StateStarting, StateRunning:
		if !p.alive() { // a failed spawn: its exit message is queued
			s.setState(p, StateStopping, "stop requested", Event{})
			return true
		}
	case StateBackoff:
		p.cancelTimer()
		s.setState(p, StateStopped, "stopped while in backoff", Event{})
		return false
	default:
		return false
	}
	grace := p.spec.StopGrace
	if s.killAll {
		grace = 0
	}
	if g := p.gor; g != nil {
		if s.killAll {
			// A goroutine cannot be killed: it gets a moment to return before
			// it is abandoned (and counted as leaked).
			grace = min(p.spec.StopGrace, killAllGoroutineGrace)
		}
		// Cancel its context (the stop); a function that has not returned by
		// the end of the grace period is abandoned as leaked (timerKill).
		p.log.Info("stopping goroutine worker", "grace", grace)
		s.setState(p, StateStopping, "stop requested", Event{})
		g.stop(worker.ErrStop)
		p.setTimer(s, grace, timerKill)
		return true
	}
	pid := p.proc.Pid
	p.log.Info("stopping program", "pid", pid, "signal", SignalName(p.spec.StopSignal), "grace", grace)
	s.setState(p, StateStopping, "stop requested", Event{Pid: pid})
	s.beforeStop(p) // in cgroup mode, reads the cgroup's pids into p.stopPids
	defer func() { p.stopPids = nil }()
	// The grace period is the whole tree's: if the leader ends first, what is left
	// of its group or cgroup gets the rest of it (exited), not a SIGKILL at once.
	p.proc.SpareGroup()
	p.groupKillAt, p.treeSignalled = time.Now().Add(grace), false
	if p.conn != nil && p.ready && !s.killAll {
		// Ask over the pipe first; the stop signal follows at half the grace
		// period, SIGKILL at its end. Sent from its own goroutine: a child that
		// does not read could leave the pipe full, and the state goroutine must
		// never block on a child.
		conn, grace := p.conn, p.spec.StopGrace
		go func() { _ = conn.Send(ipc.Stop{Deadline: grace}) }()
		p.setTimer(s, p.spec.StopGrace/2, timerStopSignal)
		return true
	}
	s.signalStop(p)
	p.treeSignalled = true
	p.setTimer(s, grace, timerKill)
	return true
}

// awaitGroupGone waits, by polling only while something is left, for the processes
// of p's group to be gone before p counts as stopped.
// cgLeft says whether p's cgroup still held processes a moment ago.
func (s *Supervisor) awaitGroupGone(p *program, pgid int, cgLeft bool) {
	if !cgLeft && !groupAlive(pgid) {
		s.stoppedOne(p)
		return
	}
	p.groupWait = pgid
	p.groupDeadline = time.Now().Add(2 * time.Second)
	p.groupPoll = time.Millisecond
	if !p.groupKillAt.IsZero() {
		// The leader is gone, the rest of its tree has until groupKillAt.
		p.groupDeadline = p.groupKillAt.Add(2 * time.Second)
		if !p.treeSignalled {
			// Only the pipe's Stop was sent, to the leader: now the rest hears too.
			n := s.signalRemnants(p, pgid, p.spec.StopSignal)
			if p.spec.StopSignal != syscall.SIGCONT {
				s.signalRemnants(p, pgid, syscall.SIGCONT)
			}
			p.log.Info("the program's leader ended; signalling the rest of its tree", "signal", SignalName(p.spec.StopSignal), "processes", n)
			p.treeSignalled = true
		} else {
			p.log.Info("the program's leader ended; waiting for the rest of its tree", "until", p.groupKillAt.Format(time.RFC3339Nano))
		}
	}
	p.setTimer(s, p.groupPoll, timerGroup)
}

func (s *Supervisor) pollGroup(p *program) {
	if p.groupWait == 0 {
		return
	}
	if p.treeAlive(p.groupWait) {
		now := time.Now()
		if !p.groupKillAt.IsZero() && !now.Before(p.groupKillAt) {
			why := "grace period over; killing what is left of the program's tree"
			if s.killAll {
				why = "killing what is left of the program's tree now"
			}
			if n := s.signalRemnants(p, p.groupWait, syscall.SIGKILL); n < 0 {
				p.log.Warn(why, "how", "cgroup.kill")
			} else {
				p.log.Warn(why, "how", "SIGKILL through pidfds", "processes", n)
			}
			p.groupKillAt = time.Time{}
			p.groupDeadline = now.Add(2 * time.Second)
		}
		if now.Before(p.groupDeadline) {
			p.groupPoll = min(2*p.groupPoll, 100*time.Millisecond)
			if !p.groupKillAt.IsZero() {
				p.groupPoll = min(p.groupPoll, max(p.groupKillAt.Sub(now), time.Millisecond))
			}
			p.setTimer(s, p.groupPoll, timerGroup)
			return
		}
		if p.cg != nil {
			p.log.Error("processes of the program's cgroup are still alive after cgroup.kill", "cgroup", p.cg.path, "pids", p.cg.pids())
		} else {
			p.log.Error("processes of the program's group are still alive after SIGKILL", "pgid", p.groupWait)
		}
	}
	p.groupWait = 0
	s.stoppedOne(p)
}

func (s *Supervisor) stoppedOne(p *program) {
	to, reason := StateStopped, "stopped"
	if p.pendingRestart {
		reason = "stopped for group restart"
	}
	s.setState(p, to, reason, Event{Exit: p.lastExit})
	if len(s.seq) > 0 && s.seq[0] == p {
		s.seq = s.seq[1:]
		s.advance()
	}
}

// endRun ends p's current run because of why (a failure of ours to count): sig to
// the group now, SIGKILL after the grace period.
func (s *Supervisor) endRun(p *program, why string, sig syscall.Signal) {
	if p.failure != "" {
		return // already being ended
	}
	p.failure = why
	if g := p.gor; g != nil {
		p.log.Error("ending the program's run", "kind", string(SpawnGoroutine), "why", why)
		g.stop(fmt.Errorf("%w: %s", worker.ErrStop, why))
		p.killing = true
		p.setTimer(s, p.spec.StopGrace, timerKill)
		return
	}
	p.killing = true
	if sig == p.spec.StopSignal && p.conn != nil && p.ready {
		// The stop sequence, as for a requested stop: over the pipe first (a
		// worker whose main loop is stuck may still have a reader that can
		// save its state), the stop signal at half the grace period, SIGKILL
		// at its end.
		p.log.Error("ending the program's run", "pid", p.proc.Pid, "why", why, "first", "stop request over the pipe")
		conn, grace := p.conn, p.spec.StopGrace
		go func() { _ = conn.Send(ipc.Stop{Deadline: grace}) }()
		p.setTimer(s, p.spec.StopGrace/2, timerStopSignal)
		return
	}
	p.log.Error("ending the program's run", "pid", p.proc.Pid, "why", why, "signal", SignalName(sig))
	if sig == p.spec.StopSignal {
		s.signalStop(p)
	} else {
		s.signalGroup(p, sig)
	}
	p.setTimer(s, p.spec.StopGrace, timerKill)
}

// readChild reads everything p's current run sends on fd 3 and passes it to the
// state goroutine, until the pipe ends or breaks. It owns fromChild and closes it.
func (s *Supervisor) readChild(p *program, run uint64, conn *ipc.Conn, fromChild *os.File) {
	defer fromChild.Close()
	hello, err := conn.Handshake()
	if err != nil {
		s.inbox.push(protoMsg{p: p, run: run, err: fmt.Errorf("handshake: %w", err)})
		return
	}
	s.inbox.push(protoMsg{p: p, run: run, msg: hello})
	for {
		m, err := conn.Recv()
		if err != nil {
			s.inbox.push(protoMsg{p: p, run: run, err: err})
			return
		}
		if r, ok := m.(ipc.Reply); ok {
			p.resolve(r) // straight to the caller waiting in Request
			continue
		}
		s.inbox.push(protoMsg{p: p, run: run, msg: m})
	}
}

func (p *program) resolve(r ipc.Reply) {
	if l := p.link.Load(); l != nil && !l.pending.Resolve(r) {
		p.log.Debug("reply to no request in flight", "id", r.ID)
	}
}

// protocol handles one message from a protocol program, or the error that ended
// its pipe.
func (s *Supervisor) protocol(p *program, m ipc.Message, err error) {
	if err != nil {
		// No reply can come any more: fail what is in flight now.
		p.link.Store(nil)
		if p.pending != nil {
			p.pending.Fail(fmt.Errorf("program %q: pipe ended: %w", p.spec.Name, err))
		}
		if errors.Is(err, ipc.ErrPeerGone) {
			// EOF: the peer is dead, or closed its end. If the process is still
			// alive it is ended (the exit itself will arrive either way).
			if st, e := ReadProcStat(p.proc.Pid); e == nil && st.State != 'Z' && p.state != StateStopping {
				s.endRun(p, "closed its end of the protocol pipe", p.spec.StopSignal)
			}
			return
		}
		p.log.Error("protocol error", "pid", p.proc.Pid, "error", err)
		if p.state != StateStopping {
			s.endRun(p, "protocol error: "+err.Error(), syscall.SIGKILL)
		}
		return
	}
	switch m := m.(type) {
	case ipc.Hello:
		p.greeted = true
		p.log.Debug("handshake", "pid", p.pid(), "child_pid", m.Pid, "name", m.Name)
	case ipc.Ready:
		if p.state != StateStarting || p.ready || p.failure != "" {
			return // late: the run is already being ended
		}
		p.ready = true
		p.link.Store(&link{conn: p.conn, pending: p.pending, local: p.gor})
		s.becameRunning(p)
		p.lastBeat = time.Now()
		if p.spec.HeartbeatTimeout > 0 {
			p.setTimer(s, p.spec.HeartbeatTimeout, timerHeartbeat)
		} else {
			p.cancelTimer()
		}
	case ipc.Heartbeat:
		p.lastBeat, p.beatSeq = time.Now(), m.Seq
		if p.state == StateRunning && p.spec.HeartbeatTimeout > 0 && p.failure == "" {
			p.setTimer(s, p.spec.HeartbeatTimeout, timerHeartbeat)
		}
	case ipc.Status:
		p.statusText = m.Text
		age := "none yet"
		if !p.lastBeat.IsZero() {
			age = time.Since(p.lastBeat).Round(time.Millisecond).String()
		}
		p.log.Info("status", "pid", p.pid(), "text", m.Text, "heartbeat_age", age, "heartbeat_seq", p.beatSeq)
	case ipc.Stopping:
		p.log.Debug("stop acknowledged", "pid", p.pid())
	case ipc.Acquire:
		s.acquire(p, m)
	case ipc.Release:
		s.release(p, m)
	}
}

// dropLink ends p's current protocol connection: requests in flight fail with err,
// the child's fd 4 sees EOF.
func (s *Supervisor) dropLink(p *program, err error) {
	p.link.Store(nil)
	if p.pending != nil {
		p.pending.Fail(err)
		p.pending = nil
	}
	if p.toChild != nil {
		p.toChild.Close() // the child's fd 4 sees EOF; a blocked Send returns
		p.toChild = nil
	}
	if p.fromChild != nil {
		// End readChild even if a descendant that escaped the group still holds
		// fd 3 open; readChild closes the file.
		_ = p.fromChild.SetReadDeadline(time.Now())
		p.fromChild = nil
	}
	p.conn, p.ready = nil, false
}

// tap returns what hands p's output lines to Options.OnOutput, or nil.
func (s *Supervisor) tap(p *program, pid int, stream string) func(string, bool) {
	if s.opts.OnOutput == nil {
		return nil
	}
	name, on := p.spec.Name, s.opts.OnOutput
	return func(text string, partial bool) {
		on(OutputLine{Time: time.Now(), Program: name, Pid: pid, Stream: stream, Text: text, Partial: partial})
	}
}

// killAllGoroutineGrace is what a goroutine worker gets to return once Kill was
// called, at most its stop_grace: it cannot be killed, only abandoned.
const killAllGoroutineGrace = 100 * time.Millisecond

// signalStop sends p's stop signal to its tree, then SIGCONT, as systemd does: a
// stopped (suspended) process would keep the stop signal pending until SIGKILL.
func (s *Supervisor) signalStop(p *program) {
	s.signalGroup(p, p.spec.StopSignal)
	if p.spec.StopSignal != syscall.SIGCONT && p.spec.StopSignal != syscall.SIGKILL {
		s.signalGroup(p, syscall.SIGCONT)
	}
}

// signalGroup signals p's process group and, in cgroup mode, every process of
// its cgroup (SIGKILL: cgroup.kill), and logs what went wrong, if anything.
func (s *Supervisor) signalGroup(p *program, sig syscall.Signal) {
	if p.cg != nil {
		if sig == syscall.SIGKILL {
			if err := p.cg.kill(); err != nil {
				p.log.Error("cannot kill the program's cgroup", "cgroup", p.cg.path, "error", err)
			}
		} else {
			p.cg.signalOthers(sig, p.proc.Pid, p.stopPids)
		}
	}
	switch err := p.proc.SignalGroup(sig); {
	case err == nil, errors.Is(err, os.ErrProcessDone):
	case errors.Is(err, ErrLeftGroup):
		p.log.Warn("program left its process group; signalled the process alone", "pid", p.proc.Pid, "signal", SignalName(sig))
	default:
		p.log.Error("cannot signal process group", "pid", p.proc.Pid, "signal", SignalName(sig), "error", err)
	}
}

// signalRemnants sends sig to what is left of p's last run once its leader was
// reaped: in cgroup mode every process of the cgroup (SIGKILL: cgroup.kill);
// else every process of the process group pgid, each through a pidfd checked
// for membership after it was opened (kill(-pgid) is safe only while the leader
// holds the group id). It returns how many processes were signalled (-1 for a
// cgroup.kill, which does not say).
func (s *Supervisor) signalRemnants(p *program, pgid int, sig syscall.Signal) int {
	if p.cg != nil {
		if sig == syscall.SIGKILL {
			if err := p.cg.kill(); err != nil {
				p.log.Error("cannot kill the program's cgroup", "cgroup", p.cg.path, "error", err)
			}
			return -1
		}
		return p.cg.signalOthers(sig, 0, nil) // 0: no group is left to skip
	}
	if sig != syscall.SIGKILL {
		return s.signalPgrp(p, pgid, sig)
	}
	// A process that forks between the listing and its SIGKILL leaves a child
	// the listing missed: list and kill again until a listing finds no one
	// (each round kills the forkers it found, so this ends).
	total := 0
	for range 50 {
		n := s.signalPgrp(p, pgid, sig)
		if n == 0 {
			break
		}
		total += n
	}
	return total
}

// signalPgrp sends sig to every live process of process group pgid but its
// leader, each through a pidfd checked for membership once opened.
func (s *Supervisor) signalPgrp(p *program, pgid int, sig syscall.Signal) int {
	all, err := AllProcs()
	if err != nil {
		p.log.Error("cannot list processes to signal the program's group", "error", err)
		return 0
	}
	n := 0
	for _, st := range all {
		if st.Pgrp != pgid || st.Pid == pgid || st.State == 'Z' {
			continue
		}
		// Still in the group once pinned: the one listed (the group id is held
		// by it, so it cannot have been reused).
		if signalIfStill(st.Pid, sig, func(now ProcStat) bool { return now.Pgrp == pgid }) {
			n++
		}
	}
	return n
}

func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

// treeAlive reports whether anything of p's last run is left: a process of its
// cgroup, or of its process group pgid.
func (p *program) treeAlive(pgid int) bool {
	return (p.cg != nil && p.cg.populated()) || groupAlive(pgid)
}

func (p *program) setTimer(s *Supervisor, d time.Duration, kind timerKind) {
	p.cancelTimer()
	gen := p.timerGen
	p.timer = time.AfterFunc(d, func() { s.inbox.push(timerMsg{p: p, gen: gen, kind: kind}) })
}

func (p *program) cancelTimer() {
	p.timerGen++
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}
