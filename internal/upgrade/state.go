package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Format names the state document; Version is the newest version this build
// writes. Reads lists every version it reads (a newer binary reads the older
// versions too).
const (
	Format  = "supervisor-upgrade"
	Version = 1
	// EnvVar carries the state to the new image: "fd:N", N an inherited memfd.
	EnvVar = "SUPERVISOR_UPGRADE_STATE"
	// maxState bounds what Read accepts (a state of 10,000 programs is about
	// 10 MB).
	maxState = 64 << 20
)

// Reads are the state versions this build can resume from.
var Reads = []int{1}

// State is what an old image hands to the new one (version 1). Times are
// ages or remaining durations on CLOCK_MONOTONIC at Freeze, never wall times:
// the new image adds its own clock's reading (see Since).
type State struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Old is the version string of the image that wrote the state.
	Old string `json:"old"`
	// Freeze is CLOCK_MONOTONIC (ns) when the old image froze: every age
	// below is measured from it.
	Freeze int64 `json:"freeze_mono_ns"`
	Pid    int   `json:"pid"`
	// Binary is the file the old image exec'ed.
	Binary string `json:"binary"`
	// Supervisor is the supervise package's part; App is the command's
	// (listeners, the upgrade connection, its config's digest).
	Supervisor Supervisor      `json:"supervisor"`
	App        json.RawMessage `json:"app,omitempty"`
}

// Supervisor is one supervise.Supervisor's state.
type Supervisor struct {
	KillMode  string    `json:"kill_mode"`            // "cgroup" or "group"
	CgroupDir string    `json:"cgroup_dir,omitempty"` // the Supervisor's parent cgroup, adopted as it is
	Programs  []Program `json:"programs"`
	// Restart are programs stopped before the exec (goroutine workers, and
	// programs whose pipes v1 does not hand over): the new image starts them.
	Restart []string `json:"restart,omitempty"`
	// PendingExits are exits reaped by the old image and not yet handled.
	PendingExits []PendingExit `json:"pending_exits,omitempty"`
	ExitCode     int           `json:"exit_code"`
	Leases       []Lease       `json:"leases,omitempty"`
	// ChildNofile is the fd limit children are given back (Reaper), if raised.
	ChildNofile *[2]uint64 `json:"child_nofile,omitempty"`
}

// Program is one program's policy state and its current run.
type Program struct {
	Name  string `json:"name"`
	RunNo uint64 `json:"run_no"`

	State        string   `json:"state"`
	Reason       string   `json:"reason,omitempty"`
	Pid          int      `json:"pid,omitempty"`
	Live         bool     `json:"live,omitempty"`
	HasRun       bool     `json:"has_run,omitempty"`
	Ready        bool     `json:"ready,omitempty"`
	Greeted      bool     `json:"greeted,omitempty"`
	Held         bool     `json:"held,omitempty"`
	Failure      string   `json:"failure,omitempty"`
	StartedAge   *int64   `json:"started_age_ns,omitempty"`
	LastExit     *Exit    `json:"last_exit,omitempty"`
	Restarts     int      `json:"restarts"`
	Failures     int      `json:"failures"`
	FailedStarts int      `json:"failed_starts"`
	RestartAges  []int64  `json:"restart_ages_ns,omitempty"`
	RestartIn    *int64   `json:"restart_in_ns,omitempty"` // backoff: when the restart is due
	StatusText   string   `json:"status_text,omitempty"`
	Timer        *Timer   `json:"timer,omitempty"`
	Cgroup       *Cgroup  `json:"cgroup,omitempty"`
	OldCgroups   []Cgroup `json:"old_cgroups,omitempty"`
	Run          *Run     `json:"run,omitempty"`
}

// Timer is an armed policy timer: its kind (the supervise package's name) and
// when it is due, from the freeze (negative: overdue).
type Timer struct {
	Kind string `json:"kind"`
	In   int64  `json:"in_ns"`
}

// Cgroup is a program's cgroup.
type Cgroup struct {
	Path   string `json:"path"`
	Rel    string `json:"rel"`
	Killed bool   `json:"killed,omitempty"`
}

// Run is a program's current run, a process the new image adopts.
type Run struct {
	No         uint64 `json:"no"`
	Pid        int    `json:"pid"`
	StartedAge int64  `json:"started_age_ns"`
	BootStart  int64  `json:"boot_start_ns"`
	KillGroup  bool   `json:"kill_group_on_exit,omitempty"`
	ParentRSS  int64  `json:"parent_rss,omitempty"`
	Stdout     Stream `json:"stdout"`
	Stderr     Stream `json:"stderr"`
	// Reaped: the old image reaped the process; its exit is among
	// PendingExits, and its pid is not to be adopted (it may be reused).
	Reaped bool `json:"reaped,omitempty"`
	// Proto is a protocol program's pipes, kept connected.
	Proto *Proto `json:"protocol,omitempty"`
}

// Proto is a protocol run's connection: the read end of the child's fd 3 and
// the write end of its fd 4, inherited at From and To, and the stream from
// the child from the last message handled on: Rest (frames read and not
// handled, then bytes read and not decoded) comes before what From holds.
type Proto struct {
	From    int    `json:"from_fd"`
	FromIno uint64 `json:"from_ino"`
	To      int    `json:"to_fd"`
	ToIno   uint64 `json:"to_ino"`
	Rest    []byte `json:"rest,omitempty"`
	LastID  uint64 `json:"last_request_id"` // requests of the new image are numbered after it
	Dropped int    `json:"dropped,omitempty"`
}

// Lease is one semaphore of the protocol's leases: who holds it and who
// waits, by program and run.
type Lease struct {
	Name    string        `json:"name"`
	Limit   int           `json:"limit"`
	Holders []LeaseHolder `json:"holders,omitempty"`
	Queue   []LeaseHolder `json:"queue,omitempty"`
}

// LeaseHolder is one Acquire of one run.
type LeaseHolder struct {
	Program string `json:"program"`
	Run     uint64 `json:"run"`
	ID      uint64 `json:"id"`
}

// Stream is the read end of one output pipe, inherited at fd FD, and the
// unterminated line read from it before the freeze.
type Stream struct {
	FD      int    `json:"fd"` // -1: none (the stream had ended)
	Pending []byte `json:"pending,omitempty"`
}

// Exit is a reaped exit, as the supervise package records it.
type Exit struct {
	Pid     int    `json:"pid"`
	Code    int    `json:"code"`
	Signal  int    `json:"signal,omitempty"`
	Core    bool   `json:"core,omitempty"`
	Age     int64  `json:"age_ns"`
	UserNS  int64  `json:"user_ns,omitempty"`
	SysNS   int64  `json:"sys_ns,omitempty"`
	MaxRSS  int64  `json:"max_rss,omitempty"`
	Inherit bool   `json:"max_rss_inherited,omitempty"`
	Spawn   string `json:"spawn_error,omitempty"`
	Err     string `json:"error,omitempty"`
	Panic   string `json:"panic,omitempty"`
	Leaked  bool   `json:"leaked,omitempty"`
}

// PendingExit is an exit reaped and not yet handled, for a program's run.
type PendingExit struct {
	Program string `json:"program"`
	Run     uint64 `json:"run"`
	Exit    Exit   `json:"exit"`
}

// Mono reads CLOCK_MONOTONIC, in ns: the clock every age in State uses.
func Mono() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// Age is how long before the freeze t was, for a wall-clock t of this image
// (its monotonic reading is used when it has one); freeze is time.Now() taken
// with Freeze.
func Age(freeze, t time.Time) int64 { return int64(freeze.Sub(t)) }

// Write puts st into a sealed memfd the new image inherits (close-on-exec
// cleared) and returns it with the environment entry that names it.
func Write(st *State) (f *os.File, env string, err error) {
	st.Format, st.Version = Format, Version
	b, err := json.Marshal(st)
	if err != nil {
		return nil, "", fmt.Errorf("upgrade state: %w", err)
	}
	fd, err := unix.MemfdCreate("supervisor-upgrade-state", unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, "", fmt.Errorf("upgrade state: memfd_create: %w", err)
	}
	f = os.NewFile(uintptr(fd), "upgrade-state")
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("upgrade state: write: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("upgrade state: seal: %w", err)
	}
	return f, EnvVar + "=fd:" + strconv.Itoa(fd), nil
}

// ErrNoState is returned by FromEnv when this image was not started by an
// upgrade.
var ErrNoState = errors.New("upgrade: no state handed over")

// FromEnv reads the state an old image handed over, closes its fd and unsets
// EnvVar, so that no child inherits either. It returns ErrNoState when the
// variable is not set.
func FromEnv() (*State, error) {
	b, err := ReadEnv()
	if err != nil {
		return nil, err
	}
	return Decode(b)
}

// ReadEnv is FromEnv's first half: the state's bytes, read and the fd closed
// and EnvVar unset, for Decode (which may run on another goroutine).
func ReadEnv() ([]byte, error) {
	v, ok := os.LookupEnv(EnvVar)
	if !ok {
		return nil, ErrNoState
	}
	os.Unsetenv(EnvVar)
	n, ok := strings.CutPrefix(v, "fd:")
	fd, err := strconv.Atoi(n)
	if !ok || err != nil || fd < 3 {
		return nil, fmt.Errorf("upgrade: %s=%q: want fd:N with N >= 3", EnvVar, v)
	}
	f := os.NewFile(uintptr(fd), "upgrade-state")
	defer f.Close()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("upgrade: state fd %d: %w", fd, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxState+1))
	if err != nil {
		return nil, fmt.Errorf("upgrade: read state: %w", err)
	}
	if len(b) > maxState {
		return nil, fmt.Errorf("upgrade: state larger than %d bytes", maxState)
	}
	return b, nil
}

// Read decodes a state document from r, of any version in Reads.
func Read(r io.Reader) (*State, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxState+1))
	if err != nil {
		return nil, fmt.Errorf("upgrade: read state: %w", err)
	}
	if len(b) > maxState {
		return nil, fmt.Errorf("upgrade: state larger than %d bytes", maxState)
	}
	return Decode(b)
}

// Decode decodes a state document, of any version in Reads.
func Decode(b []byte) (*State, error) {
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("upgrade: state: %w", err)
	}
	if head.Format != Format {
		return nil, fmt.Errorf("upgrade: state format %q, want %q", head.Format, Format)
	}
	switch head.Version {
	case 1:
		var st State
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("upgrade: state version 1: %w", err)
		}
		return &st, nil
	}
	return nil, fmt.Errorf("upgrade: state version %d; this build reads %v", head.Version, Reads)
}

// Inherit clears close-on-exec on fd, so the new image gets it; Uninherit
// sets it again (after a failed exec).
func Inherit(fd int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
	return err
}

func Uninherit(fd int) { _, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC) }

// CheckPipe reports whether fd is a pipe with inode ino (0: any).
func CheckPipe(fd int, ino uint64) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fd %d: %w", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return fmt.Errorf("fd %d is not a pipe (mode %#o)", fd, st.Mode)
	}
	if ino != 0 && st.Ino != ino {
		return fmt.Errorf("fd %d is pipe inode %d, want %d", fd, st.Ino, ino)
	}
	return nil
}

// PipeIno is the inode of the pipe at fd, or 0.
func PipeIno(fd int) uint64 {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	return st.Ino
}

// FileFd is f's descriptor, without os.File.Fd's side effect: Fd makes the
// file blocking, so that after the exec the new image could no longer stop a
// read of it with a deadline.
func FileFd(f *os.File) int {
	sc, err := f.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	_ = sc.Control(func(u uintptr) { fd = int(u) })
	return fd
}
