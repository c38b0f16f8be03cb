package proctree

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/procfs"
)

// ErrNotFound is returned when a process is not in the process table (or not in
// a snapshot).
var ErrNotFound = errors.New("proctree: no such process")

// ErrMalformed is returned for a /proc/uptime that cannot be parsed (a
// /proc/PID/stat line that cannot be parsed is procfs.ErrMalformed).
var ErrMalformed = errors.New("proctree: malformed /proc stat line")

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat. The kernel fixes
// it at 100 on every architecture Go supports (sysconf(_SC_CLK_TCK) reads it from
// the auxiliary vector, where the kernel puts the same constant).
const clockTicks = 100

// maxCmdline bounds how much of /proc/PID/cmdline is read.
const maxCmdline = 4096

// Node is one process in a snapshot.
type Node struct {
	Pid   int
	PPid  int
	Pgrp  int
	Sid   int
	State byte   // R, S, D, Z, T, t, X, I, ...
	Comm  string // the kernel's name for it (at most 15 bytes)
	// Cmdline is the command line, empty for zombies and kernel threads; at most
	// 4096 bytes of it are read.
	Cmdline    []string
	Threads    int
	RSS        int64         // resident set size, bytes
	CPUTime    time.Duration // user + system time so far
	StartTicks uint64        // start time in clock ticks since boot: with Pid, the process's identity
	Started    time.Time     // StartTicks as wall time (boot time + StartTicks)
	Uptime     time.Duration // how long it had run when the snapshot was taken
	CPUPercent float64       // CPUTime / Uptime * 100, the lifetime average

	Parent   *Node   // nil for a root
	Children []*Node // sorted by pid
}

// Zombie reports whether the process has ended and waits to be reaped.
func (n *Node) Zombie() bool { return n.State == 'Z' }

// Command is the command line joined by spaces, or "[comm]" when there is none
// (a zombie, a kernel thread), as ps(1) shows it.
func (n *Node) Command() string {
	if len(n.Cmdline) == 0 {
		return "[" + n.Comm + "]"
	}
	return strings.Join(n.Cmdline, " ")
}

// Walk calls fn for n and every descendant of n, parents before children, in pid
// order, with the depth below n (0 for n).
func (n *Node) Walk(fn func(n *Node, depth int)) {
	var walk func(*Node, int)
	walk = func(n *Node, d int) {
		fn(n, d)
		for _, c := range n.Children {
			walk(c, d+1)
		}
	}
	walk(n, 0)
}

// Snapshot is the process table at one moment (see the package doc for how
// consistent it is).
type Snapshot struct {
	Taken time.Time
	Nodes map[int]*Node
	Roots []*Node // nodes whose parent is not in the snapshot, sorted by pid
}

// Get returns the node for pid, or nil.
func (s *Snapshot) Get(pid int) *Node { return s.Nodes[pid] }

// Subtree returns the node for pid with its descendants, or ErrNotFound.
func (s *Snapshot) Subtree(pid int) (*Node, error) {
	n := s.Nodes[pid]
	if n == nil {
		return nil, fmt.Errorf("pid %d: %w", pid, ErrNotFound)
	}
	return n, nil
}

// Take reads the whole process table. It forks nothing and waits for nothing.
func Take() (*Snapshot, error) {
	uptime, err := readUptime()
	if err != nil {
		return nil, err
	}
	taken := time.Now()
	pids, err := procfs.Pids()
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	s := &Snapshot{Taken: taken, Nodes: make(map[int]*Node, len(pids))}
	r := reader{buf: make([]byte, maxCmdline)}
	for _, pid := range pids {
		n, err := r.read(pid, uptime)
		if err != nil {
			continue // gone since the listing, or unreadable: skipped
		}
		s.Nodes[pid] = n
	}
	for _, n := range s.Nodes {
		if p := s.Nodes[n.PPid]; p != nil && n.PPid != n.Pid {
			n.Parent = p
			p.Children = append(p.Children, n)
		} else {
			s.Roots = append(s.Roots, n)
		}
	}
	byPid := func(a, b *Node) int { return a.Pid - b.Pid }
	for _, n := range s.Nodes {
		slices.SortFunc(n.Children, byPid)
	}
	slices.SortFunc(s.Roots, byPid)
	return s, nil
}

// Read reads one process, without its relatives (Parent and Children are nil).
// It returns an error wrapping ErrNotFound if the process does not exist.
func Read(pid int) (*Node, error) {
	uptime, err := readUptime()
	if err != nil {
		return nil, err
	}
	r := reader{buf: make([]byte, maxCmdline)}
	return r.read(pid, uptime)
}

// reader reads /proc/PID files into one reused buffer.
type reader struct{ buf []byte }

func (r *reader) read(pid int, uptime time.Duration) (*Node, error) {
	st, err := procfs.ReadStatBuf(pid, r.buf)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return nil, fmt.Errorf("pid %d: %w", pid, ErrNotFound)
		}
		return nil, err
	}
	n := &Node{
		Pid:        st.Pid,
		PPid:       st.PPid,
		Pgrp:       st.Pgrp,
		Sid:        st.Sid,
		State:      st.State,
		Comm:       st.Comm,
		Threads:    st.Threads,
		RSS:        st.RSSPages * int64(os.Getpagesize()),
		CPUTime:    ticks(st.UTime + st.STime),
		StartTicks: st.StartTicks,
	}
	n.Started = bootTime().Add(ticks(n.StartTicks))
	n.Uptime = max(uptime-ticks(n.StartTicks), 0)
	if n.Uptime > 0 {
		n.CPUPercent = 100 * n.CPUTime.Seconds() / n.Uptime.Seconds()
	}
	if n.State != 'Z' {
		// Empty for kernel threads; a process that exits meanwhile just has none.
		c, err := procfs.ReadUpTo("/proc/"+strconv.Itoa(pid)+"/cmdline", r.buf[:maxCmdline])
		if err == nil && len(c) > 0 {
			c = bytes.TrimRight(c, "\x00")
			for _, a := range bytes.Split(c, []byte{0}) {
				n.Cmdline = append(n.Cmdline, string(a))
			}
		}
	}
	return n, nil
}

func ticks(t uint64) time.Duration {
	return time.Duration(t) * (time.Second / clockTicks)
}

// readUptime reads the time since boot from /proc/uptime.
func readUptime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, fmt.Errorf("read uptime: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0, fmt.Errorf("/proc/uptime %q: %w", b, ErrMalformed)
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/uptime %q: %w", b, ErrMalformed)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// bootTime is the wall time of boot, from the btime line of /proc/stat (whole
// seconds), or the zero time if it cannot be read.
var bootTime = sync.OnceValue(func() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(s, 0)
			}
		}
	}
	return time.Time{}
})
