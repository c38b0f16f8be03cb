package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/procfs"
	"github.com/supervisor/supervisor/internal/proctree"
)

// Orphan is a running process the kernel re-parented to this one (we are a
// subreaper or PID 1) that no Spawn started: an adopted orphan. Pid and
// StartTicks together identify it.
type Orphan struct {
	Pid        int
	Comm       string
	StartTicks uint64    // start time in clock ticks since boot (/proc/PID/stat field 22)
	Seen       time.Time // when the reaper found it
}

// adoptedProc is an Orphan with the pidfd opened when it was found (-1 if that
// failed). Guarded by Reaper.mu.
type adoptedProc struct {
	Orphan
	pidfd int
}

// Adopted scans for adopted orphans, then lists every one the reaper knows of
// that has not been reaped yet, sorted by pid. It blocks for the scan (a read of
// /proc/self/task/*/children and of the stat file of each new child). Safe for
// concurrent use.
func (r *Reaper) Adopted() []Orphan {
	r.scanAdopted()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Orphan, 0, len(r.adopted))
	for _, a := range r.adopted {
		out = append(out, a.Orphan)
	}
	slices.SortFunc(out, func(a, b Orphan) int { return a.Pid - b.Pid })
	return out
}

// SignalAdopted sends sig to the adopted orphan pid through the pidfd opened when
// it was found, so a pid reused by a stranger is never signalled. It returns
// os.ErrProcessDone if pid is not an adopted orphan the reaper knows of (never
// found, or reaped since).
func (r *Reaper) SignalAdopted(pid int, sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.adopted[pid]
	if a == nil {
		return os.ErrProcessDone
	}
	if a.pidfd >= 0 {
		return unix.PidfdSendSignal(a.pidfd, sig, nil, 0)
	}
	return unix.Kill(pid, sig) // our child and not reaped (r.mu held): the pid is still its
}

// adoptLoop scans for adopted orphans each time the reap loop asks (after it
// reaped anything: a process that ended may have left children, which are ours
// now). It never wakes on its own.
func (r *Reaper) adoptLoop() {
	for {
		select {
		case <-r.done:
			return
		case <-r.rescan:
			r.scanAdopted()
		}
	}
}

// scanDelay is how long after a reap the scan for adopted orphans runs.
// Measured on the 2-core dev VM, a scan right after each reap (every thread's
// children file read, the reaper's mutex taken) added about 0.6 ms to the
// restart latency; 100 ms later it is off that path, and a crash loop gets at
// most ten scans a second. Adopted() still scans at once.
const scanDelay = 100 * time.Millisecond

// requestScan asks adoptLoop for a scan scanDelay from now; requests within
// that time coalesce into the one scan.
func (r *Reaper) requestScan() {
	if r.scanArmed.Swap(true) {
		return
	}
	time.AfterFunc(scanDelay, func() {
		r.scanArmed.Store(false)
		select {
		case r.rescan <- struct{}{}:
		default:
		}
	})
}

// scanAdopted records every child of this process that no Spawn registered and
// that is not known yet, logs it once as an adopted orphan and opens a pidfd on
// it. The children are listed without the lock; the decision is taken under
// r.mu, which Spawn holds across fork and registration and the reap loop across
// each wait4: a child listed here is either registered by then, or still ours
// and unreaped (its stat file says so), or gone.
func (r *Reaper) scanAdopted() {
	r.scanMu.Lock()
	defer r.scanMu.Unlock()
	kids, err := childPids()
	if err != nil {
		r.log.Warn("cannot list our children", "error", err)
		return
	}
	self := os.Getpid()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	for _, pid := range kids {
		if r.procs[pid] != nil || r.adopted[pid] != nil {
			continue
		}
		n, err := proctree.Read(pid)
		if err != nil || n.PPid != self {
			continue // reaped (and maybe reused) before we took the lock
		}
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			pidfd = -1
			r.log.Debug("cannot open a pidfd on an adopted orphan", "pid", pid, "error", err)
		}
		a := &adoptedProc{Orphan: Orphan{Pid: pid, Comm: n.Comm, StartTicks: n.StartTicks, Seen: time.Now()}, pidfd: pidfd}
		r.adopted[pid] = a
		r.log.Info("adopted orphan", "pid", pid, "comm", n.Comm, "state", string(n.State), "command", n.Command())
	}
}

// forgetAdoptedLocked drops pid from the adopted orphans once it is reaped and
// reports whether it was known. r.mu must be held.
func (r *Reaper) forgetAdoptedLocked(pid int) (Orphan, bool) {
	a := r.adopted[pid]
	if a == nil {
		return Orphan{}, false
	}
	delete(r.adopted, pid)
	if a.pidfd >= 0 {
		_ = unix.Close(a.pidfd)
	}
	return a.Orphan, true
}

// closeAdoptedLocked closes every pidfd held on adopted orphans. r.mu must be held.
func (r *Reaper) closeAdoptedLocked() {
	for pid := range r.adopted {
		r.forgetAdoptedLocked(pid)
	}
}

// childPids lists the children of this process from /proc/self/task/*/children
// (per thread: a child is listed under the thread that forked it or, for an
// adopted one, the thread the kernel chose). Without that file (a kernel built
// without CONFIG_PROC_CHILDREN) it scans the whole table instead.
func childPids() ([]int, error) {
	files, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return childPidsByScan()
	}
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread ended; its children moved to another thread
			}
			return nil, err
		}
		for _, w := range bytes.Fields(b) {
			if pid, err := strconv.Atoi(string(w)); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out, nil
}

func childPidsByScan() ([]int, error) {
	all, err := procfs.All()
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var out []int
	for _, st := range all {
		if st.PPid == self {
			out = append(out, st.Pid)
		}
	}
	return out, nil
}

// Adopted lists the orphans the supervisor's reaper has adopted and not yet
// reaped (see Reaper.Adopted). Safe for concurrent use.
func (s *Supervisor) Adopted() []Orphan { return s.r.Adopted() }

// ErrNotOurChild is returned by Follow for a pid that is not a live child of
// this process.
var ErrNotOurChild = errors.New("supervise: not a child of the supervisor")

// Follow registers pid, a child this process did not spawn (a daemon's main
// process, re-parented to us when the process that forked it exited), as if
// Spawn had started it: from now on its exit goes to onExit, not to the log of
// adopted orphans, and the returned Proc signals it through a pidfd. It fails
// with ErrNotOurChild unless pid is, under the reaper's lock, a live child of
// ours (so it cannot be reaped, or its pid reused, meanwhile).
func (r *Reaper) Follow(pid int, onExit func(Exit)) (*Proc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if _, ok := r.procs[pid]; ok {
		return nil, fmt.Errorf("%w: pid %d was spawned by us already", ErrNotOurChild, pid)
	}
	st, err := procfs.ReadStat(pid)
	if err != nil || st.PPid != os.Getpid() || st.State == 'Z' {
		return nil, fmt.Errorf("%w: pid %d", ErrNotOurChild, pid)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		pidfd = -1 // signalled by pid: our unreaped child, and r.mu is held when we do
	}
	r.forgetAdoptedLocked(pid)
	p := &Proc{Pid: pid, Started: time.Now(), r: r, pidfd: pidfd, onExit: onExit}
	p.killGroup.Store(true) // as for a spawned leader: its group dies with it
	r.procs[pid] = p
	return p, nil
}

// killLeftover SIGKILLs pid, a child of ours that no Spawn registered (a
// daemon re-parented to us), and the process group it leads, if it is still
// the process that started at startTicks. It holds the reaper's lock, so the
// child cannot be reaped, nor its pid or group id reused, meanwhile.
func (r *Reaper) killLeftover(pid int, startTicks uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.procs[pid]; ok {
		return
	}
	st, err := procfs.ReadStat(pid)
	if err != nil || st.PPid != os.Getpid() || st.StartTicks != startTicks || st.State == 'Z' {
		return
	}
	if st.Pgrp == pid {
		_ = unix.Kill(-pid, unix.SIGKILL) // its workers too, which are not our children yet
	}
	_ = unix.Kill(pid, unix.SIGKILL)
}
