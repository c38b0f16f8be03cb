package supervise

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Outcome is what a group operation (Group) did to one program.
type Outcome struct {
	Program string
	// Err is nil when the operation was done; otherwise it says why not, as the
	// single-program operation's error would (wrapping ErrAlreadyStarted,
	// ErrNotRunning, ErrBusy, ErrStartFailed, ...).
	Err error
}

// AllPrograms is the Group argument that names every program. A program named
// "all" is reached with the pattern "[a]ll".
const AllPrograms = "all"

// Group runs op, one of "start", "stop", "restart" and "signal" (with sig), on
// every program args name, and returns one Outcome per program, in config
// order (a program named twice counts once). An arg is a program's name, a
// path.Match pattern (IsPattern: "web-*", "db?", "w[0-3]"), or AllPrograms
// (MatchPrograms).
//
// The args are resolved in one step of the state goroutine, the step that
// begins the operation: no reload comes in between, and the set is exactly the
// programs there were at that moment. If an arg names nothing, nothing is done:
// the error wraps ErrNoSuchProgram and names every such arg. A malformed pattern
// is an error wrapping path.ErrBadPattern (nothing done), a supervisor shutting
// down ErrShuttingDown.
//
// start starts each program as Start does, in dependency order (one that starts
// after another waits for it, as at start-up); with wait, each Outcome comes once
// its program is running or failed to get there, as StartWait's. They are all
// waited for at once, by the state goroutine, with no goroutine per program.
// stop and restart stop them as one stop sequence: each program's stop begins
// once every one of them that starts after it has stopped (reverse dependency
// order), independent ones at once, as at shutdown; restart then starts them all
// in dependency order, as start does. A program the operation does not apply to
// (stop of one not running, start of one already started, signal of one not
// running) gets that error as its Outcome, and the others go ahead; a stop or
// restart while another stop sequence runs is ErrBusy for each.
//
// Group blocks until every Outcome is known or ctx ends; then the operation goes
// on without its caller. Safe for concurrent use.
func (s *Supervisor) Group(ctx context.Context, op string, args []string, sig syscall.Signal, wait bool) ([]Outcome, error) {
	var o ctlOp
	switch op {
	case "start":
		o = opStart
	case "stop":
		o = opStop
	case "restart":
		o = opRestart
	case "signal":
		o = opSignal
	default:
		return nil, fmt.Errorf("unknown group operation %q (want start, stop, restart or signal)", op)
	}
	m := groupMsg{op: o, args: args, sig: sig, wait: wait, reply: make(chan groupReply, 1)}
	s.inbox.push(m)
	var rep groupReply
	select {
	case rep = <-m.reply:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, ErrShuttingDown
	}
	if rep.err != nil {
		return nil, rep.err
	}
	outs := make([]Outcome, len(rep.names))
	for i, name := range rep.names {
		outs[i].Program = name
		select {
		case outs[i].Err = <-rep.outs[i]:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			select { // an outcome that came before Serve returned is the outcome
			case outs[i].Err = <-rep.outs[i]:
			default:
				outs[i].Err = fmt.Errorf("%s %s: %w", op, name, ErrShuttingDown)
			}
		}
	}
	return outs, nil
}

// groupMsg asks the state goroutine to run op on every program args name
// (Group). reply receives exactly one value (it has a buffer of 1).
type groupMsg struct {
	op    ctlOp
	args  []string
	sig   syscall.Signal
	wait  bool // start, restart: each outcome once running (ready) or failed
	reply chan groupReply
}

func (groupMsg) isMessage() {}

// groupReply is the programs a group operation named, each with the channel its
// outcome comes on (a buffer of 1, exactly one value), or why nothing was done.
type groupReply struct {
	names []string
	outs  []chan error
	err   error
}

// groupThen is the continuation of a group stop or restart's stop sequence:
// ps's outcomes go on outs (by index).
type groupThen struct {
	ps      []*program
	outs    []chan error
	restart bool
	wait    bool
}

// MatchPrograms returns the programs of names (in their order, each once) that
// args name: a name, a path.Match pattern (IsPattern) or AllPrograms; missing
// lists the args that name none. A malformed pattern is an error wrapping
// path.ErrBadPattern. Group and the control API's logs resolve their arguments
// with it.
func MatchPrograms(names, args []string) (progs, missing []string, err error) {
	hit := make([]bool, len(names))
	for _, a := range args {
		matched := false
		for i, n := range names {
			ok := n == a || a == AllPrograms
			if !ok && IsPattern(a) {
				if ok, err = path.Match(a, n); err != nil {
					return nil, nil, fmt.Errorf("pattern %q: %w", a, err)
				}
			}
			if ok {
				matched, hit[i] = true, true
			}
		}
		if !matched {
			missing = append(missing, a)
		}
	}
	for i, n := range names {
		if hit[i] {
			progs = append(progs, n)
		}
	}
	return progs, missing, nil
}

// resolve lists the programs args name (MatchPrograms), in config order.
func (s *Supervisor) resolve(args []string) (ps []*program, missing []string, err error) {
	names := make([]string, len(s.progs))
	by := make(map[string]*program, len(s.progs))
	for i, p := range s.progs {
		names[i], by[p.spec.Name] = p.spec.Name, p
	}
	hit, missing, err := MatchPrograms(names, args)
	if err != nil || len(missing) > 0 {
		return nil, missing, err
	}
	for _, n := range hit {
		ps = append(ps, by[n])
	}
	return ps, nil, nil
}

// grouped runs a group operation on the state goroutine.
func (s *Supervisor) grouped(m groupMsg) {
	if s.m.shuttingDown {
		m.reply <- groupReply{err: fmt.Errorf("%s: %w", m.op, ErrShuttingDown)}
		return
	}
	ps, missing, err := s.resolve(m.args)
	switch {
	case err != nil:
		m.reply <- groupReply{err: fmt.Errorf("%s: %w", m.op, err)}
		return
	case len(missing) > 0:
		q := make([]string, len(missing))
		for i, a := range missing {
			q[i] = strconv.Quote(a)
		}
		m.reply <- groupReply{err: fmt.Errorf("%s %s: %w (nothing was done)", m.op, strings.Join(q, ", "), ErrNoSuchProgram)}
		return
	}
	rep := groupReply{names: make([]string, len(ps)), outs: make([]chan error, len(ps))}
	for i, p := range ps {
		rep.names[i], rep.outs[i] = p.spec.Name, make(chan error, 1)
	}
	fail := func(i int, err error) { rep.outs[i] <- fmt.Errorf("%s %s: %w", m.op, ps[i].spec.Name, err) }
	switch m.op {
	case opSignal:
		for i, p := range ps {
			if !p.hasRun {
				fail(i, ErrNotRunning)
				continue
			}
			if err := p.cur.signal(m.sig); err != nil {
				fail(i, err)
				continue
			}
			p.log.Info("signalled on request", "pid", p.pid, "signal", SignalName(m.sig))
			rep.outs[i] <- nil
		}
	case opStart:
		var start []*program
		var outs []chan error
		for i, p := range ps {
			if err := s.m.ctlStart(p); err != nil {
				fail(i, err)
				continue
			}
			start, outs = append(start, p), append(outs, rep.outs[i])
		}
		s.startGroup(start, outs, m.wait)
	case opStop, opRestart:
		restart := m.op == opRestart
		var stop []*program
		var outs []chan error
		for i, p := range ps {
			switch p.state {
			case StateStopped, StateExited, StateFatal:
				if !restart { // as Stop: an error, as start of a running one is
					fail(i, fmt.Errorf("%w (%s)", ErrNotRunning, p.state))
					continue
				}
			}
			stop, outs = append(stop, p), append(outs, rep.outs[i])
		}
		if len(stop) > 0 {
			acts, err := s.m.ctlStopGroup(stop, restart, groupThen{ps: stop, outs: outs, restart: restart, wait: m.wait}, time.Now())
			if err != nil {
				for _, out := range outs {
					out <- fmt.Errorf("%s %s: %w", m.op, ps[slices.Index(rep.outs, out)].spec.Name, err)
				}
			} else {
				s.do(acts)
			}
		}
	}
	m.reply <- rep
}

// startGroup starts ps (each checked by ctlStart) in dependency order, and
// answers each one's outcome on outs (by index) as answerStart does.
func (s *Supervisor) startGroup(ps []*program, outs []chan error, wait bool) {
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return s.m.orderIdx[ps[a]] - s.m.orderIdx[ps[b]] })
	for _, i := range idx {
		s.do(s.m.startOnRequest(ps[i]))
	}
	for _, i := range idx {
		s.answerStart(ps[i], wait, outs[i])
	}
}
