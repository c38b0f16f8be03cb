package supervise

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// File descriptors: what a program costs, and the limit (RLIMIT_NOFILE).
//
// Between events the supervisor holds, per running program, the read ends of its
// two output pipes and its pidfd (fdsPerProcess), plus its two protocol pipes
// for a protocol program; a goroutine worker holds none; a cgroup holds none
// (cgroup.go). A spawn holds three more for a moment (the child's pipe ends and
// the cgroup directory). fdReserve is kept for everything else: the control
// socket and its connections (internal/control caps them), /proc and cgroupfs
// reads, the log.
const (
	fdsPerProcess  = 3
	fdsPerProtocol = 2
	fdReserve      = 512
)

// fdsNeeded is how many fds g's programs need when all of them run.
func fdsNeeded(g *Group) int {
	n := fdReserve
	for i := range g.Programs {
		sp := &g.Programs[i]
		if sp.Spawner == SpawnGoroutine {
			continue
		}
		n += fdsPerProcess
		if sp.Protocol {
			n += fdsPerProtocol
		}
		if sp.Notify != "" {
			n++ // the run's sd_notify socket, or the read end of its s6 pipe
		}
	}
	return n
}

// fdLimit is what EnsureFds found or did.
type fdLimit struct {
	Need   int // fds the programs need, reserve included
	Limit  int // the soft limit in force now
	Raised bool
	// Fit is how many more process programs fit, or a negative number for those
	// that do not: programs beyond the limit fail to start ("too many open
	// files").
	Fit int
}

// ensureFds raises this process's fd limit, if it must and may, so that g's
// programs fit: the soft limit up to the hard one, and, with the privilege to
// (CAP_SYS_RESOURCE: root), the hard one up to fs.nr_open, as systemd does for
// itself. Children keep the limit they would have had (Reaper.Spawn gives it
// back to each). It changes nothing when the programs fit.
func (r *Reaper) ensureFds(need int) (fdLimit, error) {
	var cur unix.Rlimit
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &cur); err != nil {
		return fdLimit{}, fmt.Errorf("getrlimit: %w", err)
	}
	res := fdLimit{Need: need, Limit: int(cur.Cur)}
	if uint64(need) > cur.Cur {
		want := cur
		want.Cur = min(max(uint64(need)+uint64(need)/2, cur.Cur), cur.Max)
		if uint64(need) > cur.Max {
			if nrOpen := readNrOpen(); nrOpen > cur.Max {
				want.Max = min(max(uint64(need)+uint64(need)/2, cur.Max), nrOpen)
				want.Cur = want.Max
			}
		}
		// Through prlimit, not syscall.Setrlimit: the latter tells the runtime
		// not to give children the limit this process started with.
		if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &want, nil); err == nil {
			r.noteRaised(cur)
			res.Limit, res.Raised = int(want.Cur), true
		} else if !errors.Is(err, unix.EPERM) {
			return res, fmt.Errorf("setrlimit: %w", err)
		} else if want.Cur > cur.Cur { // not allowed to raise the hard limit: the soft one, at least
			want.Max = cur.Max
			want.Cur = cur.Max
			if unix.Prlimit(0, unix.RLIMIT_NOFILE, &want, nil) == nil {
				r.noteRaised(cur)
				res.Limit, res.Raised = int(want.Cur), true
			}
		}
	}
	res.Fit = (res.Limit - need) / fdsPerProcess
	if res.Limit < need { // round away from zero: a shortfall of one fd is a program that does not fit
		res.Fit = -((need - res.Limit + fdsPerProcess - 1) / fdsPerProcess)
	}
	return res, nil
}

// noteRaised records the limit this process had before its first raise: what
// every child gets (Spawn).
func (r *Reaper) noteRaised(before unix.Rlimit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.childNofile == nil {
		r.childNofile = &before
	}
}

func readNrOpen() uint64 {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// checkFds runs at Serve's start and at every reload: it makes room for g's
// programs if it may, and says plainly how many fit if they do not.
func (s *Supervisor) checkFds(g *Group) {
	lim, err := s.r.ensureFds(fdsNeeded(g))
	switch {
	case err != nil:
		s.log.Warn("cannot check the fd limit", "error", err)
	case lim.Fit < 0:
		s.log.Error("the programs need more file descriptors than the limit allows: the last ones will fail to start",
			"need", lim.Need, "limit", lim.Limit, "programs_that_do_not_fit", -lim.Fit,
			"fix", "raise RLIMIT_NOFILE (ulimit -n, LimitNOFILE=), or run as root so the supervisor can")
	case lim.Raised:
		s.log.Info("raised the fd limit for the programs", "need", lim.Need, "limit", lim.Limit)
	}
}
