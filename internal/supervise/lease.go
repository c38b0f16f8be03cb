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

// maxLeasesPerRun bounds what one run can make the supervisor hold: leases held
// and Acquires waiting, together, across every name. An Acquire beyond it is
// refused in its Lease reply. With names of at most ipc.MaxLeaseName bytes this
// keeps a run's lease state under about 40 KiB however it floods.
const maxLeasesPerRun = 64

// runKey names one run of one program.
type runKey struct {
	p   *program
	run uint64
}

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
	k := runKey{p, p.runNo}
	if s.leaseUse[k] >= maxLeasesPerRun {
		if len(sem.holders) == 0 && len(sem.queue) == 0 {
			delete(s.sems, m.Name)
		}
		s.sendLease(h, fmt.Sprintf("this run holds or waits for %d leases already (at most %d)", s.leaseUse[k], maxLeasesPerRun))
		return
	}
	if int(m.Limit) != sem.limit {
		s.sendLease(h, fmt.Sprintf("semaphore %q has limit %d, not %d", m.Name, sem.limit, m.Limit))
		return
	}
	if s.leaseUse == nil {
		s.leaseUse = map[runKey]int{}
	}
	s.leaseUse[k]++
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
			s.leaseUse[runKey{p, h.run}]--
			s.grantWaiting(name, sem)
			return
		}
		for i, w := range sem.queue {
			if w == h {
				sem.queue = append(sem.queue[:i], sem.queue[i+1:]...)
				s.leaseUse[runKey{p, h.run}]--
				if len(sem.holders) == 0 && len(sem.queue) == 0 {
					delete(s.sems, name)
				}
				return
			}
		}
	}
}

// releaseLeases releases every lease of p's run and withdraws its waits, when
// the run has ended.
func (s *Supervisor) releaseLeases(p *program, run uint64) {
	k := runKey{p, run}
	if s.leaseUse[k] == 0 {
		return
	}
	delete(s.leaseUse, k)
	freed, names, one := 0, 0, ""
	for name, sem := range s.sems {
		n := 0
		for h := range sem.holders {
			if h.p == p && h.run == run {
				delete(sem.holders, h)
				n++
			}
		}
		kept := sem.queue[:0]
		for _, w := range sem.queue {
			if w.p != p || w.run != run {
				kept = append(kept, w)
			}
		}
		sem.queue = kept
		if n > 0 {
			freed += n
			names++
			one = name
		}
		s.grantWaiting(name, sem) // also forgets a name nobody holds or waits for
	}
	switch { // one line per run, not one per name: a run may have held many
	case names == 1:
		p.log.Warn("lease released: its holder's run ended", "name", one, "leases", freed)
	case names > 1:
		p.log.Warn("lease released: its holder's run ended", "names", names, "leases", freed)
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
