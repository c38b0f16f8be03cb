package supervise

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Errors of the control operations (Start, Stop, Restart, Signal, Shutdown), for
// errors.Is; the returned errors wrap them with the program's name.
var (
	ErrNoSuchProgram  = errors.New("no such program")
	ErrAlreadyStarted = errors.New("already started")
	ErrNotRunning     = errors.New("not running")
	ErrBusy           = errors.New("a group restart or stop is in progress")
	ErrShuttingDown   = errors.New("the supervisor is shutting down")
	// ErrStartFailed: StartWait or RestartWait saw the program end, or go to
	// backoff, before it was running.
	ErrStartFailed = errors.New("did not start")
)

// ctlOp is what a control message asks of one program.
type ctlOp int

const (
	opStart ctlOp = iota
	opStop
	opRestart
	opSignal
	opShutdown
	opKill
)

func (o ctlOp) String() string {
	return [...]string{"start", "stop", "restart", "signal", "shutdown", "kill"}[o]
}

// ctlMsg asks the state goroutine to start, stop, restart or signal a program,
// or to shut everything down. reply receives exactly one value (it has a buffer
// of 1): nil once the operation is done (started: spawned; stopped: its group is
// gone), or why it could not be.
type ctlMsg struct {
	op    ctlOp
	name  string
	sig   syscall.Signal
	wait  bool // start, restart: reply once running (ready) or failed, not once spawned
	reply chan error
}

func (ctlMsg) isMessage() {}

// Start starts a program that is stopped, exited or fatal (its failure counters
// are reset, as supervisorctl start does), and returns once it was spawned.
func (s *Supervisor) Start(ctx context.Context, name string) error {
	return s.control(ctx, ctlMsg{op: opStart, name: name})
}

// Stop stops a program (stop signal, grace period, SIGKILL, as at shutdown) and
// returns once its process group is gone. A program stopped this way is not
// restarted, and keeps Serve running until it is started again or the
// supervisor shuts down. Stopping a program with no run to stop (stopped, exited
// or fatal) is an error wrapping ErrNotRunning, as starting a running one is
// ErrAlreadyStarted: supervisorctl's behaviour, so a script learns its request did
// nothing. A program waiting to be restarted (backoff) is stopped: its restart is
// cancelled.
func (s *Supervisor) Stop(ctx context.Context, name string) error {
	return s.control(ctx, ctlMsg{op: opStop, name: name})
}

// Restart stops a program as Stop does, if it runs, then starts it as Start does.
func (s *Supervisor) Restart(ctx context.Context, name string) error {
	return s.control(ctx, ctlMsg{op: opRestart, name: name})
}

// StartWait is Start, returning once the program is running (ready: min_uptime
// passed, or it said Ready; after any program it starts after) or has failed to
// get there (an error wrapping ErrStartFailed that says how), as supervisorctl
// start does.
func (s *Supervisor) StartWait(ctx context.Context, name string) error {
	return s.control(ctx, ctlMsg{op: opStart, name: name, wait: true})
}

// RestartWait is Restart, returning as StartWait does.
func (s *Supervisor) RestartWait(ctx context.Context, name string) error {
	return s.control(ctx, ctlMsg{op: opRestart, name: name, wait: true})
}

// Signal sends sig to a program's process (through its pidfd, never by a stored pid).
func (s *Supervisor) Signal(ctx context.Context, name string, sig syscall.Signal) error {
	return s.control(ctx, ctlMsg{op: opSignal, name: name, sig: sig})
}

// Shutdown stops every program, as cancelling Serve's context
// does, and returns once that has begun; Serve then returns when nothing is left.
func (s *Supervisor) Shutdown(ctx context.Context) error {
	return s.control(ctx, ctlMsg{op: opShutdown})
}

// Kill is Shutdown without grace periods, for an operator who will not wait (a
// second Ctrl-C): the program being stopped is killed now (SIGKILL to its tree;
// a goroutine worker that has not returned within 100 ms is abandoned as
// leaked), and every one after it is sent its stop signal and SIGKILL at once. It returns once that has begun.
func (s *Supervisor) Kill(ctx context.Context) error {
	return s.control(ctx, ctlMsg{op: opKill})
}

func (s *Supervisor) control(ctx context.Context, m ctlMsg) error {
	m.reply = make(chan error, 1)
	s.inbox.push(m)
	select {
	case err := <-m.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		// Serve may have answered just before it returned: that answer wins
		// (a Shutdown that was carried out is no failure).
		select {
		case err := <-m.reply:
			return err
		default:
			return ErrShuttingDown
		}
	}
}

// ctlThen is the continuation of a Stop or Restart's stop sequence.
type ctlThen struct {
	p       *program
	restart bool
	wait    bool
	reply   chan error
}

// controlled runs a control message on the state goroutine.
func (s *Supervisor) controlled(m ctlMsg) {
	fail := func(err error) { m.reply <- fmt.Errorf("%s %s: %w", m.op, m.name, err) }
	now := time.Now()
	switch m.op {
	case opKill:
		if !s.m.killAll {
			s.log.Warn("killing every program now, without grace periods", "cause", "kill requested")
		}
		fallthrough
	case opShutdown:
		if !s.m.shuttingDown {
			s.log.Info("stopping all programs", "cause", m.op.String()+" requested")
		}
		if m.op == opKill {
			s.do(s.m.kill(now))
		} else if !s.m.shuttingDown {
			s.do(s.m.shutdown(now))
		}
		m.reply <- nil
		return
	}
	var p *program
	for _, q := range s.progs {
		if q.spec.Name == m.name {
			p = q
		}
	}
	switch {
	case p == nil:
		fail(ErrNoSuchProgram)
		return
	case s.m.shuttingDown:
		fail(ErrShuttingDown)
		return
	}
	switch m.op {
	case opSignal:
		if !p.hasRun {
			fail(ErrNotRunning)
			return
		}
		if err := p.cur.signal(m.sig); err != nil {
			fail(err)
			return
		}
		p.log.Info("signalled on request", "pid", p.pid, "signal", SignalName(m.sig))
		m.reply <- nil
	case opStart:
		if err := s.m.ctlStart(p); err != nil {
			fail(err)
			return
		}
		s.do(s.m.startOnRequest(p))
		s.answerStart(p, m.wait, m.reply)
	case opStop, opRestart:
		restart := m.op == opRestart
		acts, err := s.m.ctlStop(p, restart, ctlThen{p: p, restart: restart, wait: m.wait, reply: m.reply}, now)
		if err != nil {
			fail(err)
			return
		}
		s.do(acts)
	}
}

// answerStart answers a start of p: now, or with wait once p is running or has
// failed to get there (startWaiters, resolved by startResolved).
func (s *Supervisor) answerStart(p *program, wait bool, reply chan error) {
	switch {
	case !wait:
		reply <- nil
	case p.state == StateRunning:
		reply <- nil
	case p.state == StateStarting || p.state == StateWaiting:
		if s.startWaiters == nil {
			s.startWaiters = map[*program][]chan error{}
		}
		s.startWaiters[p] = append(s.startWaiters[p], reply)
	default:
		reply <- fmt.Errorf("start %s: %w: %s (%s)", p.spec.Name, ErrStartFailed, p.state, p.reason)
	}
}

// startResolved answers the starts waiting on p, if ev ends their wait.
func (s *Supervisor) startResolved(p *program, ev Event) {
	ws := s.startWaiters[p]
	if len(ws) == 0 {
		return
	}
	var err error
	switch ev.To {
	case StateRunning:
	case StateBackoff, StateExited, StateFatal, StateStopped:
		why := ev.Reason
		if ev.Exit != nil {
			why += ", last exit " + ev.Exit.String()
		}
		err = fmt.Errorf("start %s: %w: %s (%s)", p.spec.Name, ErrStartFailed, ev.To, why)
	default:
		return // starting, waiting, stopping: not yet
	}
	delete(s.startWaiters, p)
	for _, w := range ws {
		w <- err
	}
}
