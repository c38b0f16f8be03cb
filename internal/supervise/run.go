package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/ipc"
	"github.com/supervisor/supervisor/internal/notify"
	"github.com/supervisor/supervisor/internal/procfs"
)

// run is one run of a program: a process (procRun) or a goroutine (goRun). The
// policy (policy.go) never asks which; the state goroutine hands each run the
// machine's actions for it. A run owns what it holds (a process's output and
// protocol pipes, its protocol connection and pending requests, a goroutine's
// context; and for both its leases and its own timers) and releases all of it in
// close, the only release path, called once when the run is over. Every method
// runs on the state goroutine.
type run interface {
	// pid is the process id, or 0 for a goroutine.
	pid() int
	// stop begins the stop sequence: the stop request or signal, the grace
	// period (none after Kill), then the kill. The exit follows.
	stop()
	// end ends the run as a failure outside a stop: sig (the stop sequence when
	// sig is the stop signal), SIGKILL after the grace period.
	end(why string, sig syscall.Signal)
	// killNow ends the grace period of a stop or an end that is under way (Kill).
	killNow()
	// exited handles the run's exit: its link and leases are released, and
	// whatever is left of its tree is killed or, in a stop, given the rest of its
	// grace period. It reports whether the tree is gone; if not, the run calls
	// Supervisor.treeGone once it is.
	exited(e Exit) (gone bool)
	// fire runs the run's own timer of kind.
	fire(kind runTimerKind)
	// signal sends sig to the run's process; signalTree to its whole tree.
	signal(sig syscall.Signal) error
	signalTree(sig syscall.Signal)
	// linkUp marks the run ready and returns the link requests go through.
	linkUp() *link
	// sendLease answers an Acquire; it never blocks the state goroutine.
	sendLease(l ipc.Lease)
	// close releases everything the run holds. Safe to call more than once.
	close()
	// base is what every kind of run shares.
	base() *runBase
}

var (
	_ run = (*procRun)(nil)
	_ run = (*goRun)(nil)
)

// runTimerKind names a run's own timers, those of its stop mechanics.
type runTimerKind int

const (
	runKill       runTimerKind = iota // grace passed: SIGKILL the tree, or abandon the goroutine
	runStopSignal                     // asked over the pipe and still running: signal it
	runTreePoll                       // poll whether a stopped run's tree is gone
	runPidFile                        // type = forking: look for the pid file again
)

// runBase is what both kinds of run share: whose run it is, its stop state and
// its one timer.
type runBase struct {
	s        *Supervisor
	p        *program
	no       uint64 // the program's run number
	stopping bool   // stop was called
	killing  bool   // end was called
	over     bool   // the run's exit was handled
	timer    *time.Timer
	timerGen uint64

	probeCtx    context.Context // the run's probes (probes.go); nil until one starts
	probeCancel context.CancelFunc
}

type runTimerMsg struct {
	b    *runBase
	r    run
	gen  uint64
	kind runTimerKind
}

func (runTimerMsg) isMessage() {}

func (b *runBase) base() *runBase { return b }

// ending reports whether the run is being stopped or ended and has not exited.
func (b *runBase) ending() bool { return (b.stopping || b.killing) && !b.over }

func (b *runBase) setTimer(r run, d time.Duration, kind runTimerKind) {
	b.cancelTimer()
	gen, s := b.timerGen, b.s
	b.timer = time.AfterFunc(d, func() { s.inbox.push(runTimerMsg{b: b, r: r, gen: gen, kind: kind}) })
}

func (b *runBase) cancelTimer() {
	b.timerGen++
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
}

// releaseShared releases what every run holds on the supervisor's side: its
// timer, its link (no new request reaches it) and its leases.
func (b *runBase) releaseShared() {
	b.cancelTimer()
	b.stopProbes()
	p := b.p
	if p.runNo == b.no {
		p.link.Store(nil)
	}
	if p.spec.Protocol {
		b.s.releaseLeases(p, b.no)
	}
}

// procRun is one run of a program as a process.
type procRun struct {
	runBase
	proc *Proc
	cg   *cgroup // the program's cgroup for this run (borrowed: the program owns it), or nil
	// outFd and errFd are the read ends of its stdout and stderr pipes, which
	// the output mux owns (closed at EOF: compare the stream's pid before use).
	outFd, errFd int

	// Protocol programs: the connection (fd 3 from the child, fd 4 to it). The
	// run keeps toChild (closed by close: the child's fd 4 sees EOF) and hands
	// fromChild to readChild, which reads and closes it.
	conn      *ipc.Conn
	toChild   *os.File
	fromChild *os.File
	pending   *ipc.Pending
	ready     bool
	// type = forking (forking.go): the start process's exit, held while the
	// main process's pid is read; whether the run follows that process now.
	startExit   *Exit
	followed    bool
	pidDeadline time.Time
	pidErr      error
	daemonized  string        // the leader exited 0 early leaving this behind (forking.go)
	bootStart   time.Duration // CLOCK_BOOTTIME at the spawn (forking.go: what the run started)

	wdone      chan struct{}    // closed when writeChild returned (the outbox was closed, or a write failed)
	ho         *readerHandover  // stops readChild for an upgrade (upgrade_proto.go)
	notifyL    *notify.Listener // notify = systemd: the run's socket (notify.go)
	notifyStop func()           // ends the run's sd_notify reader or s6 wait
	outbox     chan ipc.Message // to writeChild, the one writer of fd 4; nil once closed
	dropped    int              // messages the outbox had no room for
	credit     chan struct{}    // frames read and not yet handled (readChild)
	done       chan struct{}    // closed when the link is released: readChild stops waiting

	// Stop mechanics.
	treeSignalled bool          // the stop signal went to the whole tree (not just the pipe's Stop)
	treeKillAt    time.Time     // when to SIGKILL what is left of a stopped run's tree; zero once done
	treeWait      int           // pgid whose remnants we wait to see gone, or 0
	treeDeadline  time.Time     // when to give up on them
	treePoll      time.Duration // next poll interval
	stopPids      []int         // cg's processes as beforeStop read them, for stop's signal only
}

// startProc spawns run number no of p as a process. On error nothing is left
// open and no process exists.
func (s *Supervisor) startProc(p *program, no uint64) (*procRun, error) {
	r := &procRun{runBase: runBase{s: s, p: p, no: no}}
	// Pipe ends: outR/errR (fds) go to the output mux after the spawn, which
	// reads them until EOF; outW/errW go to the child and are closed here right
	// after the spawn.
	outR, outW, err := s.out.pipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := s.out.pipe()
	if err != nil {
		unix.Close(outR)
		outW.Close()
		return nil, fmt.Errorf("stderr pipe: %w", err)
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
			return nil, fmt.Errorf("protocol pipe: %w", err)
		}
		extra = []*os.File{fromChildW, toChildR}
	}
	env := p.env
	var s6R, s6W *os.File // notify = s6: the readiness pipe; the child gets s6W as fd NotifyFd
	closeEarly := func() {
		unix.Close(outR)
		outW.Close()
		unix.Close(errR)
		errW.Close()
		for _, f := range extra {
			f.Close()
		}
		if p.spec.Protocol {
			fromChild.Close()
			toChild.Close()
		}
		r.stopNotify()
	}
	switch p.spec.Notify {
	case NotifySystemd:
		nenv, err := r.listenNotify()
		if err != nil {
			closeEarly()
			return nil, err
		}
		if env == nil {
			env = os.Environ()
		}
		env = append(slices.Clip(env), nenv...)
	case NotifyS6:
		if s6R, s6W, err = os.Pipe(); err != nil {
			closeEarly()
			return nil, fmt.Errorf("notify fd pipe: %w", err)
		}
		for len(extra) < p.spec.NotifyFd-3 {
			extra = append(extra, s.r.devNull) // fds below NotifyFd that the child does not use
		}
		extra = append(extra[:p.spec.NotifyFd-3], s6W)
	}
	req := SpawnRequest{
		Kind:       p.spec.Spawner,
		Argv:       p.spec.Command,
		Dir:        p.spec.Dir,
		Env:        env,
		Stdout:     outW,
		Stderr:     errW,
		ExtraFiles: extra,
		OnExit:     func(e Exit) { s.inbox.push(exitMsg{p: p, run: no, exit: e}) },
		Cred:       spawnCred(p.spec.User),
		Limits:     &p.spec.Limits,
	}
	if p.spec.RedirectStderr {
		req.Stderr = outW // errR reads EOF once errW is closed below
	}
	r.cg = s.cgroupFor(p, no)
	if r.cg != nil {
		// Open for the clone only: no fd is held for a cgroup between events.
		if req.Cgroup, err = r.cg.open(); err != nil {
			p.log.Error("cannot open the run's cgroup; it is stopped by its process group only", "error", err)
			r.cg = nil
		}
	}
	// Without a cgroup, the group lives and dies with its leader: the reaper
	// kills it while the leader is a zombie, so its id cannot have been reused.
	// With one, exited kills what is left through the cgroup, after it looked
	// at what a daemonizing program left (the group kill could take a daemon
	// that had not yet left the group, and with it the hint to the user). A
	// forking daemon's start process leaves the daemon behind in either case.
	req.KillGroupOnExit = !p.spec.Forking && r.cg == nil
	proc, err := s.r.Spawn(req)
	if err != nil && r.cg != nil && s.cloneIntoCgroupRefused(err) {
		req.Cgroup.Close()
		req.Cgroup, r.cg = nil, nil
		req.KillGroupOnExit = !p.spec.Forking
		proc, err = s.r.Spawn(req)
	}
	if req.Cgroup != nil {
		req.Cgroup.Close()
	}
	outW.Close()
	errW.Close()
	for _, f := range extra {
		if f != s.r.devNull {
			f.Close()
		}
	}
	if err != nil {
		unix.Close(outR)
		unix.Close(errR)
		if p.spec.Protocol {
			fromChild.Close()
			toChild.Close()
		}
		if s6R != nil {
			s6R.Close()
		}
		r.stopNotify()
		return nil, err
	}
	r.proc = proc
	r.bootStart = bootNow()
	switch {
	case r.notifyL != nil:
		r.serveNotify()
	case s6R != nil:
		r.waitS6(s6R)
	}
	r.outFd, r.errFd = outR, errR
	outLog := p.log.With("pid", proc.Pid, "stream", "stdout")
	errLog := p.log.With("pid", proc.Pid, "stream", "stderr")
	if err := s.out.add(outR, s.splitter(p, proc.Pid, "stdout", outLog)); err != nil {
		p.log.Error("the program's stdout is not read", "error", err)
	}
	if err := s.out.add(errR, s.splitter(p, proc.Pid, "stderr", errLog)); err != nil {
		p.log.Error("the program's stderr is not read", "error", err)
	}
	p.log.Info("program started", "pid", proc.Pid, "spawner", string(p.spec.Spawner))
	if p.spec.Protocol {
		r.toChild, r.fromChild = toChild, fromChild
		r.pending = &ipc.Pending{}
		r.credit = make(chan struct{}, frameCredit)
		r.done = make(chan struct{})
		r.attach(ipc.NewConn(fromChild, toChild, 0), false)
	}
	return r, nil
}

// attach starts the reader and the writer of the run's protocol pipes on
// conn; resumed: the handshake happened before (an upgrade's handover).
func (r *procRun) attach(conn *ipc.Conn, resumed bool) {
	r.conn = conn
	r.outbox = make(chan ipc.Message, outboxLen)
	r.wdone = make(chan struct{})
	r.ho = &readerHandover{ask: make(chan struct{}), got: make(chan readerRest, 1), done: make(chan struct{}), resumed: resumed}
	go func(q <-chan ipc.Message, wdone chan struct{}) {
		writeChild(conn, q)
		close(wdone)
	}(r.outbox, r.wdone)
	go r.readChild(conn, r.fromChild, r.credit, r.done, r.ho)
}

func (r *procRun) pid() int { return r.proc.Pid }

func (r *procRun) linkUp() *link {
	r.ready = true
	return &link{conn: r.conn, pending: r.pending}
}

func (r *procRun) stop() {
	s, p := r.s, r.p
	r.stopping = true
	if r.startExit != nil { // type = forking, no main process yet: nothing else to stop
		r.giveUpStart("stopped before its main process was found")
		return
	}
	grace := p.spec.StopGrace
	if s.m.killAll {
		grace = 0
	}
	pid := r.proc.Pid
	p.log.Info("stopping program", "pid", pid, "signal", SignalName(p.spec.StopSignal), "grace", grace)
	s.beforeStop(r) // in cgroup mode, reads the cgroup's pids into r.stopPids
	defer func() { r.stopPids = nil }()
	// The grace period is the whole tree's: if the leader ends first, what is left
	// of its group or cgroup gets the rest of it (exited), not a SIGKILL at once.
	r.proc.spareGroup()
	r.treeKillAt, r.treeSignalled = time.Now().Add(grace), false
	if r.conn != nil && r.ready && !s.m.killAll {
		// Ask over the pipe first; the stop signal follows at half the grace
		// period, SIGKILL at its end.
		r.sendStop()
		return
	}
	r.signalStop()
	r.treeSignalled = true
	r.setTimer(r, grace, runKill)
}

// sendStop asks the child over the pipe to stop, and arms the stop signal for
// half the grace period. Sent from its own goroutine: a child that does not
// read could leave the pipe full, and the state goroutine must never block on
// a child.
func (r *procRun) sendStop() {
	grace := r.p.spec.StopGrace
	r.send(ipc.Stop{Deadline: grace})
	r.setTimer(r, grace/2, runStopSignal)
}

func (r *procRun) end(why string, sig syscall.Signal) {
	p := r.p
	r.killing = true
	if r.startExit != nil {
		r.giveUpStart(why + " (no main process found yet)")
		return
	}
	if sig == p.spec.StopSignal && r.conn != nil && r.ready {
		// The stop sequence, as for a requested stop: over the pipe first (a
		// worker whose main loop is stuck may still have a reader that can
		// save its state), the stop signal at half the grace period, SIGKILL
		// at its end.
		p.log.Error("ending the program's run", "pid", r.proc.Pid, "why", why, "first", "stop request over the pipe")
		r.sendStop()
		return
	}
	p.log.Error("ending the program's run", "pid", r.proc.Pid, "why", why, "signal", SignalName(sig))
	if sig == p.spec.StopSignal {
		r.signalStop()
	} else {
		r.signalTree(sig)
	}
	r.setTimer(r, p.spec.StopGrace, runKill)
}

func (r *procRun) killNow() {
	switch {
	case r.treeWait != 0 && !r.treeKillAt.IsZero(): // its leader gone, the rest in its grace
		r.treeKillAt = time.Now()
		r.setTimer(r, 0, runTreePoll)
	case r.ending():
		r.setTimer(r, 0, runKill)
	}
}

func (r *procRun) fire(kind runTimerKind) {
	p := r.p
	switch kind {
	case runKill:
		if r.ending() {
			how := "SIGKILL to the process group"
			if r.cg != nil {
				how = "cgroup.kill"
			}
			if r.s.m.killAll {
				p.log.Warn("killing the program's tree now", "pid", r.proc.Pid, "how", how)
			} else {
				p.log.Warn("grace period over; killing the program's tree", "pid", r.proc.Pid, "grace", p.spec.StopGrace, "how", how)
			}
			r.signalTree(syscall.SIGKILL)
		}
	case runStopSignal:
		if r.ending() {
			p.log.Info("still running after the stop request; signalling", "signal", SignalName(p.spec.StopSignal))
			r.signalStop()
			r.treeSignalled = true
			r.setTimer(r, p.spec.StopGrace-p.spec.StopGrace/2, runKill)
		}
	case runTreePoll:
		r.pollTree()
	case runPidFile:
		if r.startExit != nil {
			r.pollPidFile()
		}
	}
}

func (r *procRun) exited(e Exit) bool {
	s, p := r.s, r.p
	pid := r.proc.Pid
	r.over = true
	r.cancelTimer()
	cgLeft := r.cg != nil && r.cg.populated()
	r.daemonized = r.leftBehind(e, cgLeft)
	// A stopped run's tree keeps the rest of its grace period (stop spared the
	// group); any other run's tree lives and dies with its leader: killed here
	// through its cgroup, or (without one) by the reaper already, with its group.
	graceLeft := r.stopping && !s.m.killAll && time.Now().Before(r.treeKillAt)
	if !graceLeft {
		r.treeKillAt = time.Time{}
		switch {
		case cgLeft:
			if err := r.cg.kill(); err != nil {
				p.log.Error("cannot kill the program's cgroup", "cgroup", r.cg.path, "error", err)
			}
		case r.stopping && r.cg == nil && groupAlive(pid):
			r.signalRemnants(pid, syscall.SIGKILL) // stop spared the group
		}
	}
	r.releaseLink(fmt.Errorf("program %q ended (%s)", p.spec.Name, e.String()))
	uptime := e.Time.Sub(p.started)
	if r.stopping {
		p.log.Info("program stopped", "pid", pid, "exit", e.String(), "uptime", uptime.Round(time.Millisecond))
		return r.awaitTreeGone(pid, cgLeft)
	}
	logExit(p, pid, e, uptime)
	return true
}

func logExit(p *program, pid int, e Exit, uptime time.Duration) {
	rss := "maxrss_kib"
	if e.MaxRSSInherited {
		rss = "maxrss_kib_at_most" // the kernel's figure is the supervisor's own peak
	}
	p.log.Info("program exited", "pid", pid, "exit", e.String(), "uptime", uptime.Round(time.Millisecond),
		"state", string(p.state), "cpu_user", e.UserTime, "cpu_sys", e.SysTime, rss, e.MaxRSS/1024)
}

// releaseLink ends the run's protocol connection: requests in flight fail with
// err, the child's fd 4 sees EOF, readChild ends; and its leases go.
func (r *procRun) releaseLink(err error) {
	r.releaseShared()
	r.stopNotify()
	if r.pending != nil {
		r.pending.Fail(err)
		r.pending = nil
	}
	if r.outbox != nil {
		close(r.outbox) // writeChild ends
		r.outbox = nil
	}
	if r.done != nil {
		close(r.done)
		r.done = nil
	}
	if r.toChild != nil {
		r.toChild.Close() // the child's fd 4 sees EOF; a blocked Send returns
		r.toChild = nil
	}
	if r.fromChild != nil {
		// End readChild even if a descendant that escaped the group still holds
		// fd 3 open; readChild closes the file.
		_ = r.fromChild.SetReadDeadline(time.Now())
		r.fromChild = nil
	}
	r.conn, r.ready = nil, false
}

func (r *procRun) close() {
	r.treeWait = 0
	if r.conn != nil || r.pending != nil {
		r.releaseLink(fmt.Errorf("program %q: run closed", r.p.spec.Name))
		return
	}
	// Released at the exit already, usually; each of these is a no-op then.
	r.releaseShared()
	r.stopNotify()
}

// pipeEnded handles the end of the run's protocol pipe: requests in flight fail
// now; it returns why the run must end (and with which signal), or "" if it
// need not (the process is gone or being stopped anyway).
func (r *procRun) pipeEnded(err error) (why string, sig syscall.Signal) {
	p := r.p
	p.link.Store(nil)
	if r.pending != nil {
		r.pending.Fail(fmt.Errorf("program %q: pipe ended: %w", p.spec.Name, err))
	}
	if errors.Is(err, ipc.ErrPeerGone) {
		// EOF: the peer is dead, or closed its end. If the process is still
		// alive it is ended (the exit itself will arrive either way).
		if st, e := procfs.ReadStat(r.proc.Pid); e == nil && st.State != 'Z' && !r.stopping {
			return "closed its end of the protocol pipe", p.spec.StopSignal
		}
		return "", 0
	}
	p.log.Error("protocol error", "pid", r.proc.Pid, "error", err)
	if r.stopping {
		return "", 0
	}
	return "protocol error: " + err.Error(), syscall.SIGKILL
}

func (r *procRun) signal(sig syscall.Signal) error { return r.proc.Signal(sig) }

func (r *procRun) sendLease(l ipc.Lease) { r.send(l) }

// Bounds of a protocol run's link (doc.go, "Bounds").
const (
	// outboxLen is how many messages to a child may wait for it to read them:
	// its leases (maxLeasesPerRun) and a Stop, with room to spare.
	outboxLen = maxLeasesPerRun + 16
	// frameCredit is how many frames of one child may wait for the state
	// goroutine; its reader stops reading until they are handled, so a child
	// that floods its pipe fills its own pipe, not the supervisor's memory, and
	// other programs' messages are not queued behind a flood.
	frameCredit = 64
)

// send queues m for the child without blocking; a child that does not read its
// fd 4 loses what does not fit (logged once per run, then counted).
func (r *procRun) send(m ipc.Message) {
	if r.outbox == nil {
		return
	}
	select {
	case r.outbox <- m:
	default:
		if r.dropped == 0 {
			r.p.log.Warn("the program does not read its fd 4: messages to it are dropped", "pid", r.proc.Pid, "queued", outboxLen, "message", m.Type())
		}
		r.dropped++
	}
}

// writeChild writes what the state goroutine queues for the child, in order,
// until the queue is closed or a write fails (the run's fd 4 was closed).
func writeChild(conn *ipc.Conn, q <-chan ipc.Message) {
	for m := range q {
		if conn.Send(m) != nil {
			for range q { // drain, so that nothing waits on a dead writer
			}
			return
		}
	}
}

// readChild reads everything the run's child sends on fd 3 and passes it to the
// state goroutine, until the pipe ends or breaks. It owns fromChild and closes
// it, unless it hands it over for an upgrade (ho, upgrade_proto.go): then
// fromChild, and what was read and not delivered, go to the state goroutine. Each message takes a credit first: with frameCredit messages waiting for
// the state goroutine it reads no more until one is handled.
// It reads no field of r that the state goroutine writes: what it needs comes in
// as arguments.
func (r *procRun) readChild(conn *ipc.Conn, fromChild *os.File, credit, done chan struct{}, ho *readerHandover) {
	handedOver := false
	defer func() {
		if !handedOver {
			fromChild.Close()
		}
		close(ho.done)
	}()
	s, p, no := r.s, r.p, r.no
	// handOver gives the state goroutine what was read and not delivered
	// (held, then the Conn's undecoded bytes) and fromChild, for an upgrade.
	handOver := func(held ...ipc.Message) {
		rest, err := conn.Detach()
		ho.got <- readerRest{held: held, rest: rest, err: err}
		handedOver = true
	}
	const (
		took = iota
		ended
		asked
	)
	take := func() int {
		select {
		case credit <- struct{}{}:
			return took
		case <-done:
			return ended
		case <-ho.ask:
			return asked
		}
	}
	push := func(m protoMsg) bool {
		switch take() {
		case ended:
			return false
		case asked:
			if m.err == nil {
				handOver(m.msg)
			} else {
				handOver()
			}
			return false
		}
		m.p, m.run, m.credit = p, no, credit
		s.inbox.push(m)
		return true
	}
	var beats beatBox
	if !ho.resumed {
		hello, err := conn.Handshake()
		if err != nil {
			push(protoMsg{err: fmt.Errorf("handshake: %w", err)})
			return
		}
		if !push(protoMsg{msg: hello}) {
			return
		}
	}
	for {
		m, err := conn.Recv()
		if err != nil {
			select {
			case <-ho.ask: // stopped by its read deadline, for a handover
				handOver()
				return
			default:
			}
			push(protoMsg{err: err})
			return
		}
		if rep, ok := m.(ipc.Reply); ok {
			p.resolve(rep) // straight to the caller waiting in Request
			continue
		}
		if hb, ok := m.(ipc.Heartbeat); ok {
			// While one Heartbeat waits for the state goroutine, the next ones
			// only update it: a flood of them costs the state goroutine one
			// message per turn. Each still takes a credit, so the flood is read
			// no faster than the state goroutine turns.
			switch take() {
			case ended:
				return
			case asked:
				handOver(hb)
				return
			}
			beats.seq.Store(hb.Seq)
			beats.credits.Add(1)
			if beats.pending.CompareAndSwap(false, true) {
				s.inbox.push(protoMsg{p: p, run: no, msg: hb, credit: credit, beats: &beats})
			}
			continue
		}
		if !push(protoMsg{msg: m}) {
			return
		}
	}
}

// beatBox coalesces a run's heartbeats (readChild): pending while a Heartbeat
// message is in the inbox; seq is the newest; credits, the frame credits taken
// by the heartbeats it stands for, which the state goroutine gives back.
type beatBox struct {
	pending atomic.Bool
	seq     atomic.Uint64
	credits atomic.Int32
}

// take is the state goroutine's side: the newest seq, and how many credits to
// give back. Clearing pending first means a heartbeat read after it is pushed
// anew (or counted here), never stranded.
func (b *beatBox) take() (seq uint64, credits int) {
	b.pending.Store(false)
	n := b.credits.Swap(0)
	return b.seq.Load(), int(n)
}

// awaitTreeGone waits, by polling only while something is left, for the
// processes of the run's group (pgid) or cgroup to be gone; it reports whether
// they are gone already. cgLeft says whether the cgroup still held processes a
// moment ago.
func (r *procRun) awaitTreeGone(pgid int, cgLeft bool) bool {
	p := r.p
	if !cgLeft && !groupAlive(pgid) {
		return true
	}
	r.treeWait = pgid
	r.treeDeadline = time.Now().Add(2 * time.Second)
	r.treePoll = time.Millisecond
	if !r.treeKillAt.IsZero() {
		// The leader is gone, the rest of its tree has until treeKillAt.
		r.treeDeadline = r.treeKillAt.Add(2 * time.Second)
		if !r.treeSignalled {
			// Only the pipe's Stop was sent, to the leader: now the rest hears too.
			n := r.signalRemnants(pgid, p.spec.StopSignal)
			if p.spec.StopSignal != syscall.SIGCONT {
				r.signalRemnants(pgid, syscall.SIGCONT)
			}
			p.log.Info("the program's leader ended; signalling the rest of its tree", "signal", SignalName(p.spec.StopSignal), "processes", n)
			r.treeSignalled = true
		} else {
			p.log.Info("the program's leader ended; waiting for the rest of its tree", "until", r.treeKillAt.Format(time.RFC3339Nano))
		}
	}
	r.setTimer(r, r.treePoll, runTreePoll)
	return false
}

func (r *procRun) pollTree() {
	p := r.p
	if r.treeWait == 0 {
		return
	}
	if r.treeAlive(r.treeWait) {
		now := time.Now()
		if !r.treeKillAt.IsZero() && !now.Before(r.treeKillAt) {
			why := "grace period over; killing what is left of the program's tree"
			if r.s.m.killAll {
				why = "killing what is left of the program's tree now"
			}
			if n := r.signalRemnants(r.treeWait, syscall.SIGKILL); n < 0 {
				p.log.Warn(why, "how", "cgroup.kill")
			} else {
				p.log.Warn(why, "how", "SIGKILL through pidfds", "processes", n)
			}
			r.treeKillAt = time.Time{}
			r.treeDeadline = now.Add(2 * time.Second)
		}
		if now.Before(r.treeDeadline) {
			r.treePoll = min(2*r.treePoll, 100*time.Millisecond)
			if !r.treeKillAt.IsZero() {
				r.treePoll = min(r.treePoll, max(r.treeKillAt.Sub(now), time.Millisecond))
			}
			r.setTimer(r, r.treePoll, runTreePoll)
			return
		}
		if r.cg != nil {
			p.log.Error("processes of the program's cgroup are still alive after cgroup.kill", "cgroup", r.cg.path, "pids", r.cg.pids())
		} else {
			p.log.Error("processes of the program's group are still alive after SIGKILL", "pgid", r.treeWait)
		}
	}
	r.treeWait = 0
	r.s.treeGone(p, r)
}

// signalStop sends the stop signal to the run's tree, then SIGCONT, as systemd
// does: a stopped (suspended) process would keep the stop signal pending until
// SIGKILL.
func (r *procRun) signalStop() {
	sig := r.p.spec.StopSignal
	r.signalTree(sig)
	if sig != syscall.SIGCONT && sig != syscall.SIGKILL {
		r.signalTree(syscall.SIGCONT)
	}
}

// signalTree signals the run's process group and, in cgroup mode, every process
// of its cgroup (SIGKILL: cgroup.kill), and logs what went wrong, if anything.
func (r *procRun) signalTree(sig syscall.Signal) {
	p := r.p
	if r.cg != nil {
		if sig == syscall.SIGKILL {
			if err := r.cg.kill(); err != nil {
				p.log.Error("cannot kill the program's cgroup", "cgroup", r.cg.path, "error", err)
			}
		} else {
			r.cg.signalOthers(sig, r.proc.Pid, r.stopPids)
		}
	}
	switch err := r.proc.SignalGroup(sig); {
	case err == nil, errors.Is(err, os.ErrProcessDone):
	case errors.Is(err, ErrLeftGroup):
		p.log.Warn("program left its process group; signalled the process alone", "pid", r.proc.Pid, "signal", SignalName(sig))
	default:
		p.log.Error("cannot signal process group", "pid", r.proc.Pid, "signal", SignalName(sig), "error", err)
	}
}

// signalRemnants sends sig to what is left of the run once its leader was
// reaped: in cgroup mode every process of the cgroup (SIGKILL: cgroup.kill);
// else every process of the process group pgid, each through a pidfd checked
// for membership after it was opened (kill(-pgid) is safe only while the leader
// holds the group id). It returns how many processes were signalled (-1 for a
// cgroup.kill, which does not say).
func (r *procRun) signalRemnants(pgid int, sig syscall.Signal) int {
	p := r.p
	if r.cg != nil {
		if sig == syscall.SIGKILL {
			if err := r.cg.kill(); err != nil {
				p.log.Error("cannot kill the program's cgroup", "cgroup", r.cg.path, "error", err)
			}
			return -1
		}
		return r.cg.signalOthers(sig, 0, nil) // 0: no group is left to skip
	}
	if sig != syscall.SIGKILL {
		return signalPgrp(p, pgid, sig)
	}
	// A process that forks between the listing and its SIGKILL leaves a child
	// the listing missed: list and kill again until a listing finds no one
	// (each round kills the forkers it found, so this ends).
	total := 0
	for range 50 {
		n := signalPgrp(p, pgid, sig)
		if n == 0 {
			break
		}
		total += n
	}
	return total
}

// signalPgrp sends sig to every live process of process group pgid but its
// leader, each through a pidfd checked for membership once opened.
func signalPgrp(p *program, pgid int, sig syscall.Signal) int {
	all, err := procfs.All()
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
		if procfs.SignalIfStill(st.Pid, sig, func(now procfs.Stat) bool { return now.Pgrp == pgid }) {
			n++
		}
	}
	return n
}

func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

// treeAlive reports whether anything of the run is left: a process of its
// cgroup, or of its process group pgid.
func (r *procRun) treeAlive(pgid int) bool {
	return (r.cg != nil && r.cg.populated()) || groupAlive(pgid)
}
