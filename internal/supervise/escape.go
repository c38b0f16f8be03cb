package supervise

import (
	"bytes"
	"os"
	"strconv"

	"github.com/supervisor/supervisor/internal/procfs"
)

// What escaped a stop: the check below runs once per stop sequence (a shutdown,
// a group restart). Before the first program of the sequence is signalled it
// records what each program's tree holds: in cgroup mode the cgroup's processes
// (cgroup.procs, per program, cheap); in process-group mode the descendants of
// each leader, from one /proc scan for the whole sequence (a scan costs about
// 25ms with 500 processes, so not one per program). After the last program of
// the sequence is gone it scans /proc once more and reports every process that
// is alive and not accounted for:
//   - a recorded descendant that survived: it left its process group (setsid) or
//     its cgroup; reported under its program's name;
//   - a process adopted by this process (PPid == us, we are a subreaper or PID
//     1) that no Spawn registered, with its descendants: typically a double-forked
//     daemon; its program cannot be told for sure once its parent is gone.
//
// A process is accounted for, and never reported, while it is a registered
// child (a program's leader), is in the process group of one, or is in a
// cgroup of a Supervisor of this process: it will be stopped with its program.
// Each process is reported once per Supervisor. This file only reads /proc; it
// kills nothing.

// procID names a process for as long as it lives: pids are reused, start times
// (in clock ticks since boot) tell the processes apart.
type procID struct {
	pid   int
	start uint64
}

// escapeCheck is the state of the check; owned by the state goroutine.
type escapeCheck struct {
	pending  bool              // a stop sequence signalled something: check when it ends
	scanned  bool              // process-group mode: the sequence's /proc scan was taken
	known    map[procID]string // recorded before the kill: process -> program name
	reported map[procID]bool
}

// beforeStop records the tree of r, a run about to be stopped, before it is
// first signalled.
func (s *Supervisor) beforeStop(r *procRun) {
	p := r.p
	e := &s.escapes
	if e.known == nil {
		e.known = map[procID]string{}
	}
	e.pending = true
	if r.cg != nil {
		r.stopPids = r.cg.pids()
		if r.stopPids == nil {
			r.stopPids = []int{} // read, and empty
		}
		for _, pid := range r.stopPids {
			if pid == r.proc.Pid {
				continue // the leader, a registered child: always accounted for
			}
			if start, ok := startTime(pid); ok {
				e.known[procID{pid, start}] = p.spec.Name
			}
		}
		return
	}
	if e.scanned {
		return
	}
	e.scanned = true
	all, err := procfs.All()
	if err != nil {
		s.log.Debug("cannot list processes", "error", err)
		return
	}
	kids := map[int][]int{}
	for _, st := range all {
		kids[st.PPid] = append(kids[st.PPid], st.Pid)
	}
	// Every program of the sequence not stopped yet, p first.
	runs := []*procRun{r}
	for _, q := range s.m.seq.members() {
		if qr, ok := q.cur.(*procRun); ok && qr != r && !qr.over {
			runs = append(runs, qr)
		}
	}
	for _, q := range runs {
		if q.cg != nil {
			continue
		}
		queue := []int{q.proc.Pid}
		for len(queue) > 0 {
			pid := queue[0]
			queue = queue[1:]
			for _, k := range kids[pid] {
				if start, ok := startTime(k); ok {
					e.known[procID{k, start}] = q.p.spec.Name
				}
				queue = append(queue, k)
			}
		}
	}
}

// reportEscapes runs when a stop sequence has ended: see above.
func (s *Supervisor) reportEscapes() {
	e := &s.escapes
	if !e.pending {
		return
	}
	known := e.known
	e.pending, e.scanned, e.known = false, false, nil
	if e.reported == nil {
		e.reported = map[procID]bool{}
	}
	all, err := procfs.All()
	if err != nil {
		s.log.Debug("cannot list processes", "error", err)
		return
	}
	self := os.Getpid()
	live := map[int]procfs.Stat{}
	kids := map[int][]int{}
	for _, st := range all {
		if st.State == 'Z' {
			continue
		}
		live[st.Pid] = st
		kids[st.PPid] = append(kids[st.PPid], st.Pid)
	}
	type found struct {
		id      procID
		st      procfs.Stat
		program string
	}
	var cands []found
	seen := map[int]bool{}
	add := func(pid int, program string) {
		st, ok := live[pid]
		if !ok || seen[pid] {
			return
		}
		start, ok := startTime(pid)
		if !ok {
			return
		}
		seen[pid] = true
		cands = append(cands, found{procID{pid, start}, st, program})
	}
	for id, prog := range known {
		if st, ok := live[id.pid]; ok {
			if start, ok := startTime(id.pid); ok && start == id.start {
				add(st.Pid, prog)
			}
		}
	}
	// Adopted processes and everything below them. A registered child is a
	// live program's leader: its tree is checked when that program stops.
	leaders := s.r.registered(kids[self])
	var queue []int
	for _, pid := range kids[self] {
		if !leaders[pid] {
			queue = append(queue, pid)
		}
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		add(pid, "")
		queue = append(queue, kids[pid]...)
	}
	if len(cands) == 0 {
		return
	}
	pids := make([]int, 0, 2*len(cands))
	for _, c := range cands {
		pids = append(pids, c.st.Pid, c.st.Pgrp)
	}
	registered := s.r.registered(pids)
	base, baseErr := findCgroupBase()
	prefix := ""
	if baseErr == nil {
		prefix = joinCgroup(base.rel, cgroupPrefix())
	}
	msg := "escaped the process group"
	if s.killMode == KillCgroup {
		msg = "escaped the cgroup"
	}
	now := map[procID]bool{}
	for _, c := range cands {
		now[c.id] = true
		switch {
		case registered[c.st.Pid], registered[c.st.Pgrp]:
			continue // a program's leader, or in its group: stopped with it
		case prefix != "" && hasPrefix(procCgroup(c.st.Pid), prefix):
			continue // in a program's cgroup: stopped with it
		case e.reported[c.id]:
			continue
		}
		e.reported[c.id] = true
		log := s.log
		program := c.program
		if program == "" {
			program = "unknown"
		} else {
			log = s.log.Named(program)
		}
		log.Warn(msg, "pid", c.st.Pid, "cmd", cmdline(c.st), "program", program,
			"ppid", c.st.PPid, "pgid", c.st.Pgrp, "sid", c.st.Sid)
	}
	for id := range e.reported {
		if !now[id] {
			delete(e.reported, id) // gone: forget it
		}
	}
}

// registered reports which of pids are processes started by Spawn and not yet
// reaped (so their pids, and the process groups they lead, are still theirs).
func (r *Reaper) registered(pids []int) map[int]bool {
	out := make(map[int]bool, len(pids))
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pid := range pids {
		if _, ok := r.procs[pid]; ok {
			out[pid] = true
		}
	}
	return out
}

// startTime reads field 22 of /proc/PID/stat: when the process started, in clock
// ticks since boot.
func startTime(pid int) (uint64, bool) {
	st, err := procfs.ReadStat(pid)
	return st.StartTicks, err == nil
}

// cmdline is a process's command line for a log line, or its [comm].
func cmdline(st procfs.Stat) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/cmdline")
	b = bytes.TrimRight(b, "\x00")
	if err != nil || len(b) == 0 {
		return "[" + st.Comm + "]"
	}
	if len(b) > 256 {
		b = append(b[:256], "..."...)
	}
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

// joinCgroup joins a cgroup path and a name prefix ("/" + "x" is "/x").
func joinCgroup(dir, name string) string {
	if dir == "/" || dir == "" {
		return "/" + name
	}
	return dir + "/" + name
}
