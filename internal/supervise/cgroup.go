package supervise

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/procfs"
)

// KillMode says how a program's whole process tree is stopped.
type KillMode string

const (
	// KillAuto uses KillCgroup where the host allows it, else KillGroup.
	KillAuto KillMode = "auto"
	// KillCgroup puts each program in its own cgroup v2, entered at clone time;
	// stopping ends with cgroup.kill, which reaches every descendant, also those
	// that called setsid or double-forked.
	KillCgroup KillMode = "cgroup"
	// KillGroup signals each program's process group only; descendants that left
	// the group are reported after a stop, not killed.
	KillGroup KillMode = "group"
)

// KillModes lists every KillMode, in the order docs show them.
var KillModes = []KillMode{KillAuto, KillCgroup, KillGroup}

// ErrNoCgroups is wrapped by the error Serve returns when the group asks for
// KillCgroup and this host cannot give it.
var ErrNoCgroups = errors.New("supervise: cgroup v2 cannot be used")

// cgroupBase is where this process's cgroup v2 directory is, found once.
type cgroupBase struct {
	mount string // the cgroup2 mount point, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified
	self  string // our own cgroup as a directory under mount
	rel   string // our own cgroup as /proc/self/cgroup names it ("/" for the root)
}

// findCgroupBase locates the cgroup2 mount (/proc/self/mountinfo) and our own
// cgroup in it (/proc/self/cgroup, the "0::/path" line). The error says why
// cgroups cannot be used.
var findCgroupBase = sync.OnceValues(func() (cgroupBase, error) {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return cgroupBase{}, fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	var rel string
	found := false
	for line := range strings.SplitSeq(string(cg), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			rel, found = p, true
		}
	}
	if !found {
		return cgroupBase{}, errors.New("this process is in no cgroup v2 hierarchy (no 0:: line in /proc/self/cgroup)")
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return cgroupBase{}, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	mount, root, ok := cgroup2Mount(mi)
	if !ok {
		return cgroupBase{}, errors.New("no cgroup2 filesystem is mounted (/proc/self/mountinfo)")
	}
	// The mount may show a subtree only (a bind mount, or a cgroup namespace's
	// view): our cgroup must lie under its root.
	sub, ok := strings.CutPrefix(rel, root)
	if root == "/" {
		sub, ok = rel, true
	}
	if !ok || strings.HasSuffix(rel, " (deleted)") {
		return cgroupBase{}, fmt.Errorf("our cgroup %q is not visible under the cgroup2 mount %s (root %q)", rel, mount, root)
	}
	return cgroupBase{mount: mount, self: filepath.Join(mount, sub), rel: rel}, nil
})

// cgroup2Mount finds the first cgroup2 mount in a mountinfo file and returns its
// mount point and the root of the hierarchy it shows.
func cgroup2Mount(mountinfo []byte) (mount, root string, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		// "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS"
		f := strings.Fields(sc.Text())
		sep := -1
		for i, s := range f {
			if s == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(f) || f[sep+1] != "cgroup2" {
			continue
		}
		return unescapeMountinfo(f[4]), unescapeMountinfo(f[3]), true
	}
	return "", "", false
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupSeq numbers the cgroup trees of the Supervisors of this process.
var cgroupSeq atomic.Int64

// cgroupPrefix is the name every supervisor cgroup of this process starts with:
// supervisor-<pid namespace>-<pid>-. The pid alone does not name a process: a
// supervisor in another PID namespace (a container's, or one run under unshare
// as PID 1) shares the cgroup tree but not the pids, and would take ours for a
// dead supervisor's and sweep them, cgroups of live programs between two runs
// included (seen: a restart's clone3 into a removed cgroup failed with ENOENT).
func cgroupPrefix() string {
	return "supervisor-" + strconv.FormatUint(pidNamespace(), 10) + "-" + strconv.Itoa(os.Getpid()) + "-"
}

// pidNamespace is the inode of this process's PID namespace (0 if unknown).
var pidNamespace = sync.OnceValue(func() uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return 0
	}
	return st.Ino
})

// cgroupTree is one Supervisor's cgroups: a parent directory, created at Serve
// start under our own cgroup, and one child per program. It is used only by the
// state goroutine.
type cgroupTree struct {
	base cgroupBase
	dir  string // <base.self>/supervisor-<pidns>-<pid>-<n>
	// stale lists the cgroups of dead supervisors that still hold processes
	// (found by sweepStale; Serve warns about each).
	stale []string
}

// newCgroupTree creates this Supervisor's parent cgroup. The parent holds no
// process and enables no controller, so cgroup v2's "no internal processes" rule
// never applies to it, whatever our own cgroup holds (the root cgroup, or a
// cgroup we share with other processes: it has no controller enabled for its
// children either, or we could not be in it).
func newCgroupTree() (*cgroupTree, error) {
	base, err := findCgroupBase()
	if err != nil {
		return nil, err
	}
	stale := sweepStale(base.self)
	dir := filepath.Join(base.self, cgroupPrefix()+strconv.FormatInt(cgroupSeq.Add(1), 10))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	// The root cgroup has no cgroup.kill; a child cgroup has it since Linux 5.14.
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err != nil {
		_ = unix.Rmdir(dir)
		return nil, fmt.Errorf("no cgroup.kill (needs Linux 5.14): %w", err)
	}
	return &cgroupTree{base: base, dir: dir, stale: stale}, nil
}

// sweepStale removes the cgroups a supervisor killed by SIGKILL left behind
// under dir (supervisor-NS-PID-N of our PID namespace whose PID is gone), as far
// as they are empty. A cgroup with processes in it is left alone: they are that
// supervisor's leftovers, and ending them is an operator's call (cgroup.kill);
// sweepStale returns their paths, for a warning. Another namespace's are never
// touched: its pids cannot be checked from here.
func sweepStale(dir string) (populated []string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		var ns uint64
		var pid, n int
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "supervisor-") {
			continue
		}
		if _, err := fmt.Sscanf(e.Name(), "supervisor-%d-%d-%d", &ns, &pid, &n); err != nil || ns != pidNamespace() || ns == 0 || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			continue // its supervisor (or a process with its pid) lives
		}
		path := filepath.Join(dir, e.Name())
		if rmdirTree(path) != nil && (&cgroup{path: path}).populated() {
			populated = append(populated, path)
		}
	}
	return populated
}

// rmdirTree removes the cgroup at path and every cgroup below it, deepest
// first, as far as they hold no process (rmdir fails with EBUSY on a populated
// one, and then on its ancestors). A program's cgroup can have cgroups of its
// own below it: a supervisor run as a program makes its own there, and leaves
// them behind when it is SIGKILLed. It returns the error of the rmdir of path.
func rmdirTree(path string) error {
	err := unix.Rmdir(path)
	if err != unix.EBUSY && err != unix.ENOTEMPTY {
		return err // removed, gone already, or no use looking below
	}
	ents, err := os.ReadDir(path)
	if err == nil {
		for _, e := range ents {
			if e.IsDir() {
				_ = rmdirTree(filepath.Join(path, e.Name()))
			}
		}
	}
	return unix.Rmdir(path)
}

// run creates the cgroup of one run of the named program.
func (t *cgroupTree) run(name string, run uint64) (*cgroup, error) {
	// Program names may be "." or collide with interface files ("cgroup.procs"):
	// the prefix keeps every one a plain new directory.
	path := filepath.Join(t.dir, "prog-"+name+"-"+strconv.FormatUint(run, 10))
	if err := os.Mkdir(path, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	rel := filepath.Join(t.base.rel, strings.TrimPrefix(path, t.base.self))
	return &cgroup{path: path, rel: rel}, nil
}

// remove removes the parent cgroup; its programs' cgroups must be gone already.
func (t *cgroupTree) remove() error {
	if err := rmdirTree(t.dir); err != nil && err != unix.ENOENT {
		return fmt.Errorf("remove cgroup %s: %w", t.dir, err)
	}
	return nil
}

// cgroup is one program's cgroup. No fd is held for it between events: its
// directory is opened for each clone into it (open) and every other use goes
// by path, so a program costs the supervisor no fd for its cgroup while it runs.
type cgroup struct {
	path string // directory under the cgroup2 mount
	rel  string // as /proc/PID/cgroup names it
	// killed: cgroup.kill was written. Such a cgroup is never used for another
	// run (see retireCgroup); one that emptied without it is, because the
	// first clone into a fresh cgroup costs about 1 ms (the kernel builds the
	// css_set; measured on the dev VM: 1.2 ms against 0.3 ms into a cgroup
	// used before), which would be most of a restart.
	killed bool
}

// open opens the cgroup's directory, for Spawn's CLONE_INTO_CGROUP; the caller
// closes it once the spawn returned.
func (c *cgroup) open() (*os.File, error) {
	// unix.Open, not os.OpenFile: this is on the restart path, and os.OpenFile
	// costs twice as much (measured: 9.2 against 5.5 us for open and close).
	// O_PATH is enough: clone3 takes the fd with fget_raw.
	fd, err := unix.Open(c.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup: %w", &os.PathError{Op: "open", Path: c.path, Err: err})
	}
	return os.NewFile(uintptr(fd), c.path), nil
}

// kill SIGKILLs every process in the cgroup at once (cgroup.kill): the kernel
// also kills processes forked while it runs.
func (c *cgroup) kill() error {
	c.killed = true
	if err := os.WriteFile(filepath.Join(c.path, "cgroup.kill"), []byte("1"), 0); err != nil {
		return fmt.Errorf("cgroup.kill: %w", err)
	}
	return nil
}

// populated reports whether any live process is in the cgroup (cgroup.events).
// Zombies do not count. An unreadable file counts as empty.
func (c *cgroup) populated() bool {
	var buf [128]byte
	b, err := procfs.ReadSmall(c.path+"/cgroup.events", buf[:], true)
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("populated 1"))
}

// pids lists the processes in the cgroup now.
func (c *cgroup) pids() []int {
	var buf [256]byte
	b, err := procfs.ReadSmall(c.path+"/cgroup.procs", buf[:], false)
	if err != nil {
		return nil
	}
	var out []int
	for f := range bytes.FieldsSeq(b) {
		if pid, err := strconv.Atoi(string(f)); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// treePids lists the processes in the cgroup and every cgroup below it.
func treePids(path string) []int {
	out := (&cgroup{path: path}).pids()
	ents, _ := os.ReadDir(path)
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, treePids(filepath.Join(path, e.Name()))...)
		}
	}
	return out
}

// signalOthers sends sig to every process in the cgroup that is not in process
// group pgid (the caller signals that group itself: a second copy of the stop
// signal could arrive after a program's handler is gone and kill it). Each is
// signalled through a pidfd opened first and checked to still belong to the
// cgroup, so a pid reused by a stranger since cgroup.procs was read is never
// signalled. It returns how many processes were signalled.
// pids, if not nil, is cgroup.procs as read a moment ago (by the escape check).
func (c *cgroup) signalOthers(sig syscall.Signal, pgid int, pids []int) int {
	if pids == nil {
		pids = c.pids()
	}
	n := 0
	for _, pid := range pids {
		if pid == pgid {
			continue // the leader: in the group
		}
		// Still in our cgroup once pinned: the process that was listed (or
		// another one of ours).
		if procfs.SignalIfStill(pid, sig, func(st procfs.Stat) bool { return st.Pgrp != pgid && procCgroup(pid) == c.rel }) {
			n++
		}
	}
	return n
}

// waitEmpty blocks until the cgroup holds no live process or the deadline passes,
// sleeping in poll(2) on cgroup.events, which the kernel wakes on every change
// (no busy polling). It reports whether the cgroup is empty.
func (c *cgroup) waitEmpty(deadline time.Time) bool {
	f, err := os.Open(filepath.Join(c.path, "cgroup.events"))
	if err != nil {
		return true // gone
	}
	defer f.Close()
	buf := make([]byte, 256)
	for {
		n, err := f.ReadAt(buf, 0)
		if n == 0 && err != nil {
			return true
		}
		if !bytes.Contains(buf[:n], []byte("populated 1")) {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		// kernfs signals a change as POLLPRI|POLLERR on a file read before.
		fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLPRI}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return false
		}
	}
}

// remove removes the cgroup. It fails (EBUSY) while a process is left in it.
func (c *cgroup) remove() error {
	if err := rmdirTree(c.path); err != nil && err != unix.ENOENT {
		return fmt.Errorf("remove cgroup %s: %w", c.path, err)
	}
	return nil
}

// procCgroup is the cgroup v2 path of a process ("" if unknown).
func procCgroup(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	return ""
}
