package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/ipc"
	"github.com/supervisor/supervisor/internal/upgrade"
)

// ErrUpgradeRefused wraps every reason Upgrade gives for not upgrading;
// nothing changed then.
var ErrUpgradeRefused = errors.New("upgrade refused")

// UpgradeRequest says what Upgrade execs.
type UpgradeRequest struct {
	Binary string   // the new image, an absolute path, checked by the caller
	Argv   []string // its arguments, argv[0] included
	Env    []string // its environment; nil means this process's
	Old    string   // this image's version, for the new one's log
	// Prepare, if set, runs on the state goroutine once everything is frozen,
	// just before the exec: it adds the caller's part of the state (App) and
	// makes the fds it names inheritable (upgrade.Inherit). undo reverses
	// that if the exec fails.
	Prepare func(st *upgrade.State) (undo func(), err error)
}

// upgradeMsg asks the state goroutine for a step of an upgrade: plan (which
// programs must be stopped first), or exec.
type upgradeMsg struct {
	exec    bool
	req     *UpgradeRequest
	restart []string // exec: the programs stopped by the plan
	reply   chan upgradeReply
}

type upgradeReply struct {
	restart []string
	err     error
}

func (upgradeMsg) isMessage() {}

// Upgrade replaces this process's image by req.Binary, in place, keeping every
// child (see docs/upgrade.md): the programs whose runs cannot be carried over
// (goroutine workers; protocol, sd_notify, s6 and probed programs; forking
// daemons) are stopped first and started again by the new image. On success it
// never returns. It returns an error wrapping ErrUpgradeRefused when the
// supervisor is not in a state to hand over (a shutdown, a reload, a group
// restart or a stop under way, children forked off the main thread), or the
// exec's error if the exec failed; the programs it stopped are then started
// again, and nothing else changed.
func (s *Supervisor) Upgrade(ctx context.Context, req UpgradeRequest) error {
	rep, err := s.upgradeStep(ctx, upgradeMsg{req: &req})
	if err != nil {
		return err
	}
	restart := rep.restart
	if len(restart) > 0 {
		s.log.Info("upgrade: stopping the programs that cannot be handed over; the new image starts them again", "programs", strings.Join(restart, ", "))
		outs, err := s.Group(ctx, "stop", restart, 0, true)
		if err != nil {
			return fmt.Errorf("%w: stopping %s first: %w", ErrUpgradeRefused, strings.Join(restart, ", "), err)
		}
		for _, o := range outs {
			if o.Err != nil && !errors.Is(o.Err, ErrNotRunning) {
				s.restartAfterUpgrade(restart)
				return fmt.Errorf("%w: stopping %s first: %w", ErrUpgradeRefused, o.Program, o.Err)
			}
		}
	}
	s.awaitRequests(ctx)
	_, err = s.upgradeStep(ctx, upgradeMsg{exec: true, req: &req, restart: restart})
	s.restartAfterUpgrade(restart)
	return err
}

// requestsWait bounds how long an upgrade waits for the requests in flight to
// protocol programs to be answered; any left then refuse it.
const requestsWait = 2 * time.Second

// awaitRequests waits until no protocol program has a request in flight, or
// requestsWait passed. (The control socket accepts nothing meanwhile.)
func (s *Supervisor) awaitRequests(ctx context.Context) {
	deadline := time.Now().Add(requestsWait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.requestsInFlight() != "" && time.Now().Before(deadline) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// requestsInFlight names a program with requests in flight, or is "".
func (s *Supervisor) requestsInFlight() string {
	for _, p := range *s.byName.Load() {
		if p.inFlight.Load() > 0 {
			return p.spec.Name
		}
	}
	return ""
}

// restartAfterUpgrade starts the programs an upgrade stopped, after it failed.
func (s *Supervisor) restartAfterUpgrade(names []string) {
	if len(names) == 0 {
		return
	}
	if _, err := s.Group(context.Background(), "start", names, 0, false); err != nil {
		s.log.Error("upgrade failed, and the programs it stopped could not be started again", "programs", strings.Join(names, ", "), "error", err)
	}
}

func (s *Supervisor) upgradeStep(ctx context.Context, m upgradeMsg) (upgradeReply, error) {
	m.reply = make(chan upgradeReply, 1)
	s.inbox.push(m)
	select {
	case rep := <-m.reply:
		return rep, rep.err
	case <-ctx.Done():
		return upgradeReply{}, context.Cause(ctx)
	case <-s.done:
		return upgradeReply{}, ErrShuttingDown
	}
}

// upgraded handles an upgradeMsg, on the state goroutine.
func (s *Supervisor) upgraded(m upgradeMsg) {
	restart, err := s.handoverPlan()
	switch {
	case err != nil:
		m.reply <- upgradeReply{err: fmt.Errorf("%w: %w", ErrUpgradeRefused, err)}
	case !m.exec:
		m.reply <- upgradeReply{restart: restart}
	case len(restart) > 0:
		m.reply <- upgradeReply{err: fmt.Errorf("%w: %s started again while the upgrade stopped it", ErrUpgradeRefused, strings.Join(restart, ", "))}
	default:
		m.reply <- upgradeReply{err: s.execUpgrade(m.req, m.restart)}
	}
}

// carried reports whether p's runs can be handed over as they are: a process
// whose pipes are its stdout and stderr and, for a protocol program, its fds
// 3 and 4 (upgrade_proto.go), and nothing else watching it.
func carried(sp *Spec) bool {
	return sp.Spawner != SpawnGoroutine && sp.Notify == "" &&
		sp.ReadyProbe == nil && sp.LiveProbe == nil && !sp.Forking
}

// handoverPlan says why the supervisor cannot be handed over now, or which
// live programs must be stopped first.
func (s *Supervisor) handoverPlan() (restart []string, err error) {
	switch {
	case !s.onMain:
		return nil, errors.New("this supervisor does not run on its main thread (only cmd/supervisor's does), so its children would die with the exec")
	case s.m.shuttingDown:
		return nil, ErrShuttingDown
	case s.m.busy():
		return nil, fmt.Errorf("%w: a stop sequence or a group restart is under way", ErrBusy)
	}
	for _, p := range s.progs {
		switch {
		case p.state == StateStopping, p.ending, p.restarting, p.pendingRestart, p.spawning:
			return nil, fmt.Errorf("%w: %s is %s", ErrBusy, p.spec.Name, p.state)
		case p.cur != nil && !p.live:
			return nil, fmt.Errorf("%w: what is left of %s's stopped run is still ending", ErrBusy, p.spec.Name)
		case p.cur == nil:
			continue
		case !carried(&p.spec):
			restart = append(restart, p.spec.Name)
			continue
		}
		r, ok := p.cur.(*procRun)
		if !ok {
			return nil, fmt.Errorf("%s: a run of unknown kind", p.spec.Name)
		}
		switch {
		case r.ending() || r.timer != nil:
			return nil, fmt.Errorf("%w: %s's run is being stopped", ErrBusy, p.spec.Name)
		case !r.proc.ForkedOnMain():
			return nil, fmt.Errorf("%s (pid %d) was not forked by the main thread (the light spawner forks above %d open fds), and would die with the exec", p.spec.Name, r.proc.Pid, s.r.lightMin)
		}
	}
	return restart, nil
}

// execUpgrade freezes everything, writes the state and execs req.Binary. It
// returns only if the exec failed, with everything thawed again.
func (s *Supervisor) execUpgrade(req *UpgradeRequest, restart []string) error {
	// No GC from here to the exec (the state of 1,000 programs is about 2 MiB
	// of garbage); back on if the exec fails.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	protos, err := s.detachProtocols()
	if err != nil {
		return err
	}
	if err := s.r.Freeze(); err != nil {
		for _, h := range protos {
			h.reattach()
		}
		return fmt.Errorf("%w: %w", ErrUpgradeRefused, err)
	}
	msgs := s.inbox.take()
	streams := s.out.pause()
	now, mono := time.Now(), upgrade.Mono()
	st := &upgrade.State{Old: req.Old, Freeze: mono, Pid: os.Getpid(), Binary: req.Binary}
	sup, fds := s.handover(now, streams, msgs, protos)
	sup.Restart = restart
	sup.Leases = s.leaseState()
	st.Supervisor = sup
	var undos []func()
	thaw := func(err error) error {
		for _, u := range slices.Backward(undos) {
			u()
		}
		s.out.resume()
		s.r.Thaw()
		s.inbox.unshift(msgs)
		for _, h := range protos {
			h.reattach()
		}
		return err
	}
	for _, fd := range fds {
		if err := upgrade.Inherit(fd); err != nil {
			return thaw(fmt.Errorf("upgrade: fd %d: %w", fd, err))
		}
		undos = append(undos, func() { upgrade.Uninherit(fd) })
	}
	if req.Prepare != nil {
		undo, err := req.Prepare(st)
		if err != nil {
			return thaw(fmt.Errorf("%w: %w", ErrUpgradeRefused, err))
		}
		undos = append(undos, undo)
	}
	f, envVar, err := upgrade.Write(st)
	if err != nil {
		return thaw(err)
	}
	undos = append(undos, func() { f.Close() })
	if err := upgrade.Inherit(int(f.Fd())); err != nil {
		return thaw(err)
	}
	env := req.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(slices.DeleteFunc(slices.Clone(env), func(e string) bool { return strings.HasPrefix(e, upgrade.EnvVar+"=") }), envVar)
	s.log.Info("upgrade: exec", "binary", req.Binary, "children", len(sup.Programs), "freeze_ms", float64(time.Since(now).Microseconds())/1000)
	if unix.Gettid() != os.Getpid() {
		return thaw(errors.New("upgrade: the state goroutine is not on the main thread"))
	}
	restore := ignoreStopSignals()
	err = syscall.Exec(req.Binary, req.Argv, env)
	restore()
	runtime.KeepAlive(f)
	s.log.Error("upgrade: exec failed; going on as before", "binary", req.Binary, "error", err)
	return thaw(fmt.Errorf("exec %s: %w", req.Binary, err))
}

// handover writes down every program's state, and returns the fds the new
// image inherits (the output pipes' read ends). Everything is frozen.
func (s *Supervisor) handover(now time.Time, streams map[int32]*outStream, msgs []message, protos map[*procRun]*protoHandover) (upgrade.Supervisor, []int) {
	// Messages of a protocol run delivered and not handled go back into its
	// stream, in front of what its reader held.
	pending := map[*procRun][]ipc.Message{}
	for _, m := range msgs {
		pm, ok := m.(protoMsg)
		if !ok || pm.err != nil {
			continue
		}
		r, ok := pm.p.cur.(*procRun)
		if !ok || protos[r] == nil || pm.run != r.no {
			continue
		}
		if pm.beats != nil {
			pm.msg = ipc.Heartbeat{Seq: pm.beats.seq.Load()}
		}
		pending[r] = append(pending[r], pm.msg)
	}
	age := func(t time.Time) int64 { return int64(now.Sub(t)) }
	sup := upgrade.Supervisor{KillMode: string(s.killMode), ExitCode: s.m.exitCode}
	if s.cgroups != nil {
		sup.CgroupDir = s.cgroups.dir
	}
	if n := s.r.childNofileLocked(); n != nil {
		sup.ChildNofile = &[2]uint64{n.Cur, n.Max}
	}
	var fds []int
	for _, p := range s.progs {
		up := upgrade.Program{Name: p.spec.Name, RunNo: p.runNo,
			State: string(p.state), Reason: p.reason, Pid: p.pid, Live: p.live, HasRun: p.hasRun, Ready: p.ready,
			Greeted: p.greeted, Held: p.held, Failure: p.failure, Restarts: p.restarts, Failures: p.failures,
			FailedStarts: p.failedStarts, StatusText: p.statusText}
		if !p.started.IsZero() {
			a := age(p.started)
			up.StartedAge = &a
		}
		if p.lastExit != nil {
			e := exitState(*p.lastExit, now)
			up.LastExit = &e
		}
		for _, t := range p.restartTimes {
			up.RestartAges = append(up.RestartAges, age(t))
		}
		if !p.restartAt.IsZero() {
			in := -age(p.restartAt)
			up.RestartIn = &in
		}
		if p.timer != nil {
			up.Timer = &upgrade.Timer{Kind: p.timerKind.String(), In: -age(p.timerDue)}
		}
		if p.cg != nil {
			up.Cgroup = &upgrade.Cgroup{Path: p.cg.path, Rel: p.cg.rel, Killed: p.cg.killed}
		}
		for _, c := range p.oldCgs {
			up.OldCgroups = append(up.OldCgroups, upgrade.Cgroup{Path: c.path, Rel: c.rel, Killed: c.killed})
		}
		if r, ok := p.cur.(*procRun); ok && p.live {
			ur := &upgrade.Run{No: r.no, Pid: r.proc.Pid, StartedAge: age(r.proc.Started), BootStart: int64(r.bootStart),
				KillGroup: r.proc.killGroup.Load(), ParentRSS: r.proc.parentRSS, Reaped: r.proc.reaped}
			ur.Stdout = streamState(streams, r.outFd, r.proc.Pid, false)
			ur.Stderr = streamState(streams, r.errFd, r.proc.Pid, true)
			for _, fd := range []int{ur.Stdout.FD, ur.Stderr.FD} {
				if fd >= 0 {
					fds = append(fds, fd)
				}
			}
			if h := protos[r]; h != nil {
				ur.Proto = h.protoState(pending[r])
				fds = append(fds, ur.Proto.From, ur.Proto.To)
			}
			up.Run = ur
		}
		sup.Programs = append(sup.Programs, up)
	}
	for _, m := range msgs {
		if e, ok := m.(exitMsg); ok && e.run == e.p.runNo && e.p.live {
			sup.PendingExits = append(sup.PendingExits, upgrade.PendingExit{Program: e.p.spec.Name, Run: e.run, Exit: exitState(e.exit, now)})
		}
	}
	return sup, fds
}

// streamState is the output stream of a run at fd, if the mux still reads it.
func streamState(streams map[int32]*outStream, fd, pid int, stderr bool) upgrade.Stream {
	st := streams[int32(fd)]
	if fd < 0 || st == nil || st.split.pid != pid || st.split.stderr != stderr {
		return upgrade.Stream{FD: -1}
	}
	return upgrade.Stream{FD: fd, Pending: slices.Clone(st.split.pending)}
}

func exitState(e Exit, now time.Time) upgrade.Exit {
	u := upgrade.Exit{Pid: e.Pid, Code: e.Code, Signal: int(e.Signal), Core: e.CoreDumped, Age: int64(now.Sub(e.Time)),
		UserNS: int64(e.UserTime), SysNS: int64(e.SysTime), MaxRSS: e.MaxRSS, Inherit: e.MaxRSSInherited,
		Panic: e.Panic, Leaked: e.Leaked}
	if e.SpawnErr != nil {
		u.Spawn = e.SpawnErr.Error()
	}
	if e.Err != nil {
		u.Err = e.Err.Error()
	}
	return u
}

func exitFromState(u upgrade.Exit, at func(int64) time.Time) Exit {
	e := Exit{Pid: u.Pid, Code: u.Code, Signal: syscall.Signal(u.Signal), CoreDumped: u.Core, Time: at(u.Age),
		UserTime: time.Duration(u.UserNS), SysTime: time.Duration(u.SysNS), MaxRSS: u.MaxRSS, MaxRSSInherited: u.Inherit,
		Panic: u.Panic, Leaked: u.Leaked}
	if u.Spawn != "" {
		e.SpawnErr = errors.New(u.Spawn)
	}
	if u.Err != "" {
		e.Err = errors.New(u.Err)
	}
	return e
}

// ResumedProcs lists the children a handed-over state names, for
// ReaperOptions.Resume; ages are taken from the freeze to now.
func ResumedProcs(st *upgrade.State) []ResumedProc {
	at := ageClock(st)
	var out []ResumedProc
	for _, p := range st.Supervisor.Programs {
		if r := p.Run; r != nil && !r.Reaped {
			out = append(out, ResumedProc{Pid: r.Pid, Started: at(r.StartedAge), KillGroup: r.KillGroup, ParentRSS: r.ParentRSS})
		}
	}
	return out
}

// ageClock turns an age at the freeze into a time of this image.
func ageClock(st *upgrade.State) func(int64) time.Time {
	now := time.Now()
	since := time.Duration(upgrade.Mono() - st.Freeze)
	return func(age int64) time.Time { return now.Add(-since - time.Duration(age)) }
}

var timerKindNames = map[timerKind]string{timerUptime: "uptime", timerBackoff: "backoff", timerStartTimeout: "start_timeout",
	timerHeartbeat: "heartbeat", timerWatchdog: "watchdog"}

func (k timerKind) String() string { return timerKindNames[k] }

// onMainThread reports whether the calling goroutine runs on the main thread
// (it stays there only if the caller locked it, as Options.MainThread says).
func onMainThread() bool { return unix.Gettid() == os.Getpid() }

// resume takes over what an old image handed over, in place of startAll:
// every program's policy state and timers, each current run's process and
// output pipes, and the exits reaped and not yet handled; then it starts the
// programs the old image stopped for the exec.
func (s *Supervisor) resume(st *upgrade.State) {
	at := ageClock(st)
	now := time.Now()
	kept := 0
	seen := map[string]bool{}
	var waiting []*program
	for i := range st.Supervisor.Programs {
		up := &st.Supervisor.Programs[i]
		p := s.m.byName[up.Name]
		if p == nil {
			s.log.Error("upgrade: the old image had a program the config no longer has; its process is killed", "program", up.Name)
			if up.Run != nil {
				s.killOrphanRun(up.Run)
			}
			continue
		}
		seen[up.Name] = true
		p.runNo = up.RunNo
		p.state, p.reason, p.pid = State(up.State), up.Reason, up.Pid
		p.live, p.hasRun, p.ready, p.greeted, p.held, p.failure = up.Live, up.HasRun, up.Ready, up.Greeted, up.Held, up.Failure
		p.restarts, p.failures, p.failedStarts, p.statusText = up.Restarts, up.Failures, up.FailedStarts, up.StatusText
		if up.StartedAge != nil {
			p.started = at(*up.StartedAge)
		}
		if up.LastExit != nil {
			e := exitFromState(*up.LastExit, at)
			p.lastExit = &e
		}
		for _, a := range up.RestartAges {
			p.restartTimes = append(p.restartTimes, at(a))
		}
		if up.RestartIn != nil {
			p.restartAt = at(-*up.RestartIn)
		}
		if c := up.Cgroup; c != nil {
			p.cg = &cgroup{path: c.Path, rel: c.Rel, killed: c.Killed}
		}
		for _, c := range up.OldCgroups {
			p.oldCgs = append(p.oldCgs, &cgroup{path: c.Path, rel: c.Rel, killed: c.Killed})
		}
		if p.state == StateWaiting {
			waiting = append(waiting, p)
		}
		if up.Run != nil {
			if s.resumeRun(p, up.Run, at) {
				kept++
			}
		}
		if t := up.Timer; t != nil {
			for k, name := range timerKindNames {
				if name == t.Kind {
					p.setTimer(s, max(0, at(-t.In).Sub(now)), k)
				}
			}
		}
	}
	for _, pe := range st.Supervisor.PendingExits {
		if p := s.m.byName[pe.Program]; p != nil {
			s.inbox.push(exitMsg{p: p, run: pe.Run, exit: exitFromState(pe.Exit, at)})
		}
	}
	if n := st.Supervisor.ChildNofile; n != nil {
		// The old image raised the fd limit (inherited across the exec, so this
		// image's ensureFds found nothing to raise): children still get the
		// limit from before that.
		s.r.noteRaised(unix.Rlimit{Cur: n[0], Max: n[1]})
	}
	s.resumeLeases(st.Supervisor.Leases)
	s.m.exitCode = st.Supervisor.ExitCode
	s.m.now = now
	for _, p := range waiting {
		s.m.request(p) // what it waits for may be running now
	}
	for _, p := range s.progs {
		if !seen[p.spec.Name] && p.spec.Autostart {
			s.m.request(p) // not in the old image's config (it changed on disk meanwhile)
		}
	}
	s.do(s.m.take())
	for _, name := range st.Supervisor.Restart {
		if p := s.m.byName[name]; p != nil {
			s.do(s.m.startOnRequest(p))
		}
	}
	s.log.Info("upgrade: resumed", "from", st.Old, "children_kept", kept, "restarted", len(st.Supervisor.Restart))
}

// resumeRun adopts the process of p's current run, and its output pipes. If
// the process cannot be adopted, its exit is taken as lost, and p is told so.
func (s *Supervisor) resumeRun(p *program, ur *upgrade.Run, at func(int64) time.Time) bool {
	no := ur.No
	r := &procRun{runBase: runBase{s: s, p: p, no: no}, cg: p.cg, bootStart: time.Duration(ur.BootStart), outFd: -1, errFd: -1}
	var proc *Proc
	var err error
	if ur.Reaped {
		// Reaped by the old image, its exit among the pending ones: the pid
		// is no longer ours to open. Its pipes are still read to their end.
		proc = &Proc{Pid: ur.Pid, r: s.r, pidfd: -1, reaped: true, forkTid: os.Getpid()}
	} else {
		proc, err = s.r.Claim(ur.Pid, func(e Exit) { s.inbox.push(exitMsg{p: p, run: no, exit: e}) })
	}
	for _, sm := range []struct {
		us     upgrade.Stream
		name   string
		stderr bool
	}{{ur.Stdout, "stdout", false}, {ur.Stderr, "stderr", true}} {
		// No check of the fd beyond epoll_ctl's (out.add): the sealed state
		// says what it is, every fd number it names was open across the exec
		// so nothing in this image can have taken it, and NewReaper made it
		// close-on-exec again (close_range). At 1,000 programs a check and
		// an fcntl per pipe were 4,000 syscalls, a fifth of the handover.
		fd := sm.us.FD
		if fd < 0 {
			continue
		}
		if err != nil {
			unix.Close(fd)
			continue
		}
		split := s.splitter(p, ur.Pid, sm.name, p.log.With("pid", ur.Pid, "stream", sm.name))
		split.pending = sm.us.Pending
		if aerr := s.out.add(fd, split); aerr != nil {
			p.log.Error("the program's "+sm.name+" is not read", "error", aerr)
			continue
		}
		if sm.stderr {
			r.errFd = fd
		} else {
			r.outFd = fd
		}
	}
	if err != nil {
		p.log.Error("upgrade: the program's process was not handed over; taken as ended", "pid", ur.Pid, "error", err)
		p.cur = r
		r.proc = &Proc{Pid: ur.Pid, r: s.r, pidfd: -1, reaped: true}
		s.inbox.push(exitMsg{p: p, run: no, exit: Exit{Pid: ur.Pid, Code: -1, Signal: syscall.SIGKILL, Time: time.Now()}})
		return false
	}
	r.proc = proc
	p.cur = r
	if ur.Proto != nil {
		if perr := r.resumeProto(ur.Proto); perr != nil {
			p.log.Error("upgrade: the program's protocol pipes were not handed over; its run is ended", "pid", ur.Pid, "error", perr)
			_ = proc.SignalGroup(syscall.SIGKILL)
		} else if p.ready {
			p.link.Store(r.linkUp())
		}
	} else if p.spec.Protocol {
		// Its stream could not be handed over: the old image ended the run.
		p.link.Store(nil)
	}
	return !ur.Reaped
}

// killOrphanRun kills the process group of a run the new config has no
// program for (the config changed on disk between the old image's load and
// the exec).
func (s *Supervisor) killOrphanRun(ur *upgrade.Run) {
	proc, err := s.r.Claim(ur.Pid, func(Exit) {})
	if err != nil {
		return
	}
	_ = proc.SignalGroup(syscall.SIGKILL)
	for _, fd := range []int{ur.Stdout.FD, ur.Stderr.FD} {
		if fd >= 0 && upgrade.CheckPipe(fd, 0) == nil {
			unix.Close(fd)
		}
	}
}

// adoptKillMode takes over the kill mode and the parent cgroup an old image
// chose: the cgroup is used as it is, never created again nor swept.
func (s *Supervisor) adoptKillMode(mode, dir string) error {
	if KillMode(mode) != KillCgroup || dir == "" {
		s.setKillMode(KillGroup)
		s.log.Info("kill mode kept across the upgrade", "mode", string(KillGroup))
		return nil
	}
	base, err := findCgroupBase()
	if err == nil {
		_, err = os.Stat(dir)
	}
	if err != nil {
		// The runs' processes are still stopped by their process groups.
		s.setKillMode(KillGroup)
		s.log.Error("upgrade: the old image's cgroup cannot be used; programs are stopped by their process groups only", "cgroup", dir, "error", err)
		return nil
	}
	var ns uint64
	var pid, n int
	if _, err := fmt.Sscanf(filepath.Base(dir), "supervisor-%d-%d-%d", &ns, &pid, &n); err == nil && int64(n) > cgroupSeq.Load() {
		cgroupSeq.Store(int64(n))
	}
	s.cgroups = &cgroupTree{base: base, dir: dir}
	s.setKillMode(KillCgroup)
	s.log.Info("kill mode kept across the upgrade", "mode", string(KillCgroup), "cgroup", dir)
	return nil
}
