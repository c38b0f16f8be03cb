package supervise

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/ipc"
	"github.com/supervisor/supervisor/internal/upgrade"
)

// readerHandover stops a protocol run's reader (readChild) for an upgrade:
// closing ask, then setting fromChild's read deadline in the past, makes it
// hand over what it read and did not deliver, and fromChild with it.
type readerHandover struct {
	ask     chan struct{}   // closed by the state goroutine
	got     chan readerRest // buffer 1: the reader's answer to ask
	done    chan struct{}   // closed when readChild returns, for any reason
	resumed bool            // the handshake happened in an earlier image: skip it
}

// readerRest is what a stopped reader hands over: messages it had decoded and
// not delivered, then the bytes it had read and not decoded (or err, when it
// stopped inside a frame).
type readerRest struct {
	held []ipc.Message
	rest []byte
	err  error
}

// handoverWait bounds how long a protocol run's reader and writer get to stop
// for an upgrade; one that takes longer is not handed over.
const handoverWait = time.Second

// protoHandover is a protocol run stopped for an upgrade: its pipes, and the
// stream from the child from the last delivered message on.
type protoHandover struct {
	r    *procRun
	held []byte // frames decoded and not delivered, then undecoded bytes
}

// detach stops r's protocol reader and writer for an upgrade: everything
// queued for the child is written first. On error the run's stream cannot go
// on (its reader stopped inside a frame, or never stopped, or the child does
// not read what is queued for it): the caller ends the run. A handover is
// returned whenever the reader handed fromChild over, error or not.
func (r *procRun) detach() (*protoHandover, error) {
	deadline := time.NewTimer(handoverWait)
	defer deadline.Stop()
	close(r.ho.ask)
	_ = r.fromChild.SetReadDeadline(time.Now())
	var rr readerRest
	var err error
	select {
	case rr = <-r.ho.got:
	case <-r.ho.done:
		select {
		case rr = <-r.ho.got:
		default:
			err = errors.New("its fd 3 ended")
		}
	case <-deadline.C:
		err = errors.New("its protocol reader did not stop")
	}
	if err == nil && rr.err != nil {
		err = rr.err
	}
	var held []byte
	for _, m := range rr.held {
		if f, ferr := ipc.Frame(m); ferr == nil {
			held = append(held, f...)
		}
	}
	held = append(held, rr.rest...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.p.spec.Name, err)
	}
	_ = r.fromChild.SetReadDeadline(time.Time{})
	ho := &protoHandover{r: r, held: held}
	close(r.outbox)
	r.outbox = nil
	select {
	case <-r.wdone:
	case <-deadline.C:
		return ho, fmt.Errorf("%s does not read its fd 4: what the supervisor queued for it is not written", r.p.spec.Name)
	}
	return ho, nil
}

// reattach undoes detach after a failed upgrade: a new reader and writer on
// the same pipes, reading held first.
func (h *protoHandover) reattach() {
	r := h.r
	r.attach(ipc.NewResumedConn(r.fromChild, r.toChild, 0, h.held), true)
	if r.ready {
		r.p.link.Store(&link{conn: r.conn, pending: r.pending})
	}
}

// protoState is the protocol part of a run's handed-over state: the stream
// from the child goes on with inbox, the frames of messages delivered to the
// inbox and not handled, then held.
func (h *protoHandover) protoState(inbox []ipc.Message) *upgrade.Proto {
	r := h.r
	var rest []byte
	for _, m := range inbox {
		if f, err := ipc.Frame(m); err == nil {
			rest = append(rest, f...)
		}
	}
	rest = append(rest, h.held...)
	from, to := upgrade.FileFd(r.fromChild), upgrade.FileFd(r.toChild)
	return &upgrade.Proto{From: from, FromIno: upgrade.PipeIno(from), To: to, ToIno: upgrade.PipeIno(to), Rest: rest,
		LastID: r.pending.Last(), Dropped: r.dropped}
}

// resumeProto takes over a handed-over protocol run's pipes.
func (r *procRun) resumeProto(up *upgrade.Proto) error {
	if err := upgrade.CheckPipe(up.From, up.FromIno); err != nil {
		return fmt.Errorf("fd 3's pipe: %w", err)
	}
	if err := upgrade.CheckPipe(up.To, up.ToIno); err != nil {
		return fmt.Errorf("fd 4's pipe: %w", err)
	}
	r.fromChild = os.NewFile(uintptr(up.From), "|3")
	r.toChild = os.NewFile(uintptr(up.To), "|4")
	r.pending = ipc.NewPendingAfter(up.LastID)
	r.dropped = up.Dropped
	r.credit = make(chan struct{}, frameCredit)
	r.done = make(chan struct{})
	r.attach(ipc.NewResumedConn(r.fromChild, r.toChild, 0, up.Rest), true)
	return nil
}

// leaseState is every semaphore's holders and waiters, by program and run.
func (s *Supervisor) leaseState() []upgrade.Lease {
	var out []upgrade.Lease
	conv := func(h holder) upgrade.LeaseHolder {
		return upgrade.LeaseHolder{Program: h.p.spec.Name, Run: h.run, ID: h.id}
	}
	for name, sem := range s.sems {
		l := upgrade.Lease{Name: name, Limit: sem.limit}
		for h := range sem.holders {
			l.Holders = append(l.Holders, conv(h))
		}
		for _, h := range sem.queue {
			l.Queue = append(l.Queue, conv(h))
		}
		out = append(out, l)
	}
	return out
}

// resumeLeases takes the handed-over semaphores back.
func (s *Supervisor) resumeLeases(ls []upgrade.Lease) {
	for _, l := range ls {
		sem := &semaphore{limit: l.Limit, holders: map[holder]bool{}}
		conv := func(u upgrade.LeaseHolder) (holder, bool) {
			p := s.m.byName[u.Program]
			return holder{p: p, run: u.Run, id: u.ID}, p != nil
		}
		for _, u := range l.Holders {
			if h, ok := conv(u); ok {
				sem.holders[h] = true
				s.useLease(h)
			}
		}
		for _, u := range l.Queue {
			if h, ok := conv(u); ok {
				sem.queue = append(sem.queue, h)
				s.useLease(h)
			}
		}
		if s.sems == nil {
			s.sems = map[string]*semaphore{}
		}
		s.sems[l.Name] = sem
	}
}

func (s *Supervisor) useLease(h holder) {
	if s.leaseUse == nil {
		s.leaseUse = map[runKey]int{}
	}
	s.leaseUse[runKey{h.p, h.run}]++
}

// detachProtocols stops the reader and writer of every protocol run to be
// handed over. A run whose stream cannot be handed over (still in its
// handshake, its reader stopped inside a frame, its fd 4 not read) is ended
// with SIGKILL and handed over as a plain process: its exit follows, in
// whichever image, and its policy restarts it. It refuses (and changes
// nothing) while requests are in flight.
func (s *Supervisor) detachProtocols() (map[*procRun]*protoHandover, error) {
	var runs []*procRun
	for _, p := range s.progs {
		if r, ok := p.cur.(*procRun); ok && p.live && r.conn != nil {
			runs = append(runs, r)
		}
	}
	for _, r := range runs {
		r.p.link.Store(nil) // no new request reaches it
	}
	relink := func() {
		for _, r := range runs {
			if r.ready {
				r.p.link.Store(&link{conn: r.conn, pending: r.pending})
			}
		}
	}
	if name := s.requestsInFlight(); name != "" {
		relink()
		return nil, fmt.Errorf("%w: %w: requests to %s are in flight", ErrUpgradeRefused, ErrBusy, name)
	}
	out := map[*procRun]*protoHandover{}
	for _, r := range runs {
		if !r.p.greeted {
			s.endForHandover(r, "still in its handshake")
			continue
		}
		h, err := r.detach()
		if err != nil {
			if h != nil {
				r.fromChild.Close()
			}
			s.endForHandover(r, err.Error())
			continue
		}
		out[r] = h
	}
	return out, nil
}

// endForHandover ends a protocol run whose stream cannot be handed over.
func (s *Supervisor) endForHandover(r *procRun, why string) {
	r.p.log.Warn("upgrade: the program's protocol stream cannot be handed over; its run is killed and restarted", "pid", r.proc.Pid, "why", why)
	r.signalTree(unix.SIGKILL)
}
