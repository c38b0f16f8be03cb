package supervise

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ResumedProc is a child an old image of this process started, handed over
// across an in-place upgrade (ReaperOptions.Resume).
type ResumedProc struct {
	Pid       int
	Started   time.Time
	KillGroup bool
	ParentRSS int64
}

// resume registers rp before the reap loop starts; r.mu need not be held.
// A pid that is not our child, or not the process the old image started,
// is left out (Claim then fails for it).
func (r *Reaper) resume(rp ResumedProc) {
	// Our child, and unreaped since the old image registered it: its pid
	// cannot have been reused, so the pidfd is this process's (pidfd_open
	// works on a zombie too). waitid on the pidfd, without reaping or
	// waiting, fails with ECHILD for a process that is not our child (a
	// state that names a stranger): one syscall each, where reading
	// /proc/PID/stat cost ten times that at 1,000 children.
	fd, err := unix.PidfdOpen(rp.Pid, 0)
	if err != nil {
		r.log.Error("a handed-over child is gone", "pid", rp.Pid, "error", err)
		return
	}
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
		unix.Close(fd)
		r.log.Error("a handed-over pid is not our child", "pid", rp.Pid, "error", err)
		return
	}
	p := &Proc{Pid: rp.Pid, Started: rp.Started, r: r, pidfd: fd, parentRSS: rp.ParentRSS, forkTid: os.Getpid()}
	p.killGroup.Store(rp.KillGroup)
	if r.resumed == nil {
		r.resumed = map[int]*Proc{}
	}
	r.procs[rp.Pid] = p
	r.resumed[rp.Pid] = p
}

// Claim takes a process Resume registered: onExit gets its exit from now on,
// at once (from the caller's goroutine) if it was reaped before.
func (r *Reaper) Claim(pid int, onExit func(Exit)) (*Proc, error) {
	r.mu.Lock()
	p := r.resumed[pid]
	if p == nil {
		r.mu.Unlock()
		return nil, fmt.Errorf("pid %d was not handed over, or was not our child", pid)
	}
	delete(r.resumed, pid)
	p.onExit = onExit
	held := p.held
	p.held = nil
	r.mu.Unlock()
	if held != nil {
		onExit(*held)
	}
	return p, nil
}

// ForkedOnMain reports whether the process was forked by this process's main
// thread, the one an upgrade execs from: only then does it survive the exec
// (its Pdeathsig is tied to the forking thread, E12).
func (p *Proc) ForkedOnMain() bool { return p.forkTid == os.Getpid() }

// Freeze stops reaping and spawning until Thaw, for an upgrade: it holds the
// reaper's lock, so a child that ends from now on stays a zombie (the new
// image reaps it), and every exit reaped before has been handed to its
// OnExit. It fails if a registered child was forked by another thread than
// the main one, which the exec would kill: those are listed.
func (r *Reaper) Freeze() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.delivering.Wait() // no Add can happen: they are made under mu
	var off []int
	for pid, p := range r.procs {
		if !p.ForkedOnMain() {
			off = append(off, pid)
		}
	}
	if len(off) > 0 {
		r.mu.Unlock()
		return fmt.Errorf("children not forked by the main thread would die with the exec (pids %v: the light spawner's, above %d open fds, or a probe's)", off, r.lightMin)
	}
	return nil
}

// Thaw undoes Freeze, after an exec that failed.
func (r *Reaper) Thaw() {
	r.mu.Unlock()
	// A child that ended while frozen is seen by the waitid the loop sleeps in.
}

// childNofileLocked is the fd limit children are given back, if Reaper raised its
// own (fdlimit.go), for the state an upgrade hands over; r must be frozen.
func (r *Reaper) childNofileLocked() *unix.Rlimit { return r.childNofile }
