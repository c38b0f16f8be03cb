package supervise

import (
	"fmt"

	"github.com/supervisor/supervisor/internal/ipc"
)

// Leases: named counting semaphores that protocol programs acquire over their
// pipe (ipc.Acquire, ipc.Lease, ipc.Release) for critical sections that span
// processes. All of it lives on the state goroutine. Unlike a POSIX named
// semaphore, a lease belongs to one run of one program: when that run ends,
// however it ends, its leases are released at once and the next waiters are
// granted.

// semaphore is one name's state.
type semaphore struct {
	limit   int
	holders map[holder]bool
	queue   []holder // waiting, first come first served
}

// holder is one Acquire of one run of one program.
type holder struct {
	p   *program
	run uint64
	id  uint64
}

// acquire handles an Acquire from p's current run.
func (s *Supervisor) acquire(p *program, m ipc.Acquire) {
	if s.sems == nil {
		s.sems = map[string]*semaphore{}
	}
	sem := s.sems[m.Name]
	if sem == nil {
		sem = &semaphore{limit: int(m.Limit), holders: map[holder]bool{}}
		s.sems[m.Name] = sem
	}
	h := holder{p: p, run: p.runNo, id: m.ID}
	if int(m.Limit) != sem.limit {
		s.sendLease(h, fmt.Sprintf("semaphore %q has limit %d, not %d", m.Name, sem.limit, m.Limit))
		return
	}
	if len(sem.holders) < sem.limit && len(sem.queue) == 0 {
		sem.holders[h] = true
		s.sendLease(h, "")
		return
	}
	sem.queue = append(sem.queue, h)
	p.log.Debug("lease queued", "name", m.Name, "holders", len(sem.holders), "waiting", len(sem.queue))
}

// release handles a Release from p's current run: the lease goes back, or the
// waiting Acquire is withdrawn.
func (s *Supervisor) release(p *program, m ipc.Release) {
	h := holder{p: p, run: p.runNo, id: m.ID}
	for name, sem := range s.sems {
		if sem.holders[h] {
			delete(sem.holders, h)
			s.grantWaiting(name, sem)
			return
		}
		for i, w := range sem.queue {
			if w == h {
				sem.queue = append(sem.queue[:i], sem.queue[i+1:]...)
				return
			}
		}
	}
}

// releaseLeases releases every lease of p's run and withdraws its waits, when
// the run has ended.
func (s *Supervisor) releaseLeases(p *program, run uint64) {
	for name, sem := range s.sems {
		freed := 0
		for h := range sem.holders {
			if h.p == p && h.run == run {
				delete(sem.holders, h)
				freed++
			}
		}
		kept := sem.queue[:0]
		for _, w := range sem.queue {
			if w.p != p || w.run != run {
				kept = append(kept, w)
			}
		}
		sem.queue = kept
		if freed > 0 {
			p.log.Warn("lease released: its holder's run ended", "name", name, "leases", freed)
			s.grantWaiting(name, sem)
		}
	}
}

// grantWaiting grants sem to waiters, in order, while it has room.
func (s *Supervisor) grantWaiting(name string, sem *semaphore) {
	for len(sem.queue) > 0 && len(sem.holders) < sem.limit {
		h := sem.queue[0]
		sem.queue = sem.queue[1:]
		sem.holders[h] = true
		s.sendLease(h, "")
	}
	if len(sem.holders) == 0 && len(sem.queue) == 0 {
		delete(s.sems, name)
	}
}

// sendLease answers h's Acquire through its run, which never blocks the state
// goroutine on a child's pipe. A child gone meanwhile never reads it; its run's
// end releases the lease.
func (s *Supervisor) sendLease(h holder, refusal string) {
	if h.run != h.p.runNo || h.p.cur == nil {
		return
	}
	h.p.cur.sendLease(ipc.Lease{ID: h.id, Err: refusal})
}
