package supervise

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/procfs"
	"github.com/supervisor/supervisor/internal/shim"
	"github.com/supervisor/supervisor/internal/worker"
)

// ErrReaperExists is returned by NewReaper when this process already has a Reaper:
// wait4(-1) is process-wide, so there can be only one.
var ErrReaperExists = errors.New("supervise: a reaper already runs in this process")

// ErrClosed is returned by Spawn after Close.
var ErrClosed = errors.New("supervise: reaper closed")

var reaperExists atomic.Bool

// Reaper is the one place in the process that creates child processes and the only
// caller of wait4. See the package doc for the invariants it keeps.
type Reaper struct {
	log  hclog.Logger
	pid1 bool

	mu        sync.Mutex           // held across fork+register and across each wait4 and its lookup
	procs     map[int]*Proc        // registered children not yet reaped
	adopted   map[int]*adoptedProc // adopted orphans found by scanAdopted, not yet reaped
	closed    bool
	scanMu    sync.Mutex    // one scanAdopted at a time
	rescan    chan struct{} // capacity 1: the reap loop reaped something
	scanArmed atomic.Bool   // a scan is scheduled (requestScan)

	sigs chan os.Signal // SIGCHLD, only while the process has no child
	kick chan struct{}  // capacity 1: Spawn made a child
	done chan struct{}

	// childNofile, once ensureFds raised this process's fd limit, is the limit
	// it had before: every child is given it back right after its spawn.
	childNofile *unix.Rlimit // guarded by mu

	onOrphan func(Exit) // optional; called from the reap goroutine
	devNull  *os.File

	// light forks from a thread with a small fd table once this process holds
	// lightMin fds or more (spawnlight.go); started at the first such spawn.
	light       *lightSpawner // guarded by mu
	lightMin    int
	lightSpawns int // guarded by mu

	// delivering counts exits reaped (under mu) whose OnExit has not
	// returned yet: Freeze waits for them, so that once it holds mu every
	// exit reaped so far is in its owner's hands (upgrade.go).
	delivering sync.WaitGroup
	// resumed are the processes Resume registered and Claim has not taken
	// yet; guarded by mu.
	resumed map[int]*Proc
}

// ReaperOptions configures a Reaper.
type ReaperOptions struct {
	// OnOrphan, if set, is called (from the reap goroutine; it must not block) for
	// every reaped process that no Spawn registered: orphans the kernel re-parented
	// to us because we are a subreaper or PID 1.
	OnOrphan func(Exit)
	// NoSubreaper leaves PR_SET_CHILD_SUBREAPER off: orphans of our children go
	// to the nearest subreaper or init above us, not to us. Only for callers that
	// must behave as a tool that does not reap (tini without -s, dumb-init).
	NoSubreaper bool
	// Resume lists the children an old image of this process handed over
	// (upgrade.go): each is registered before the reap loop starts, so its
	// exit, even one that happened during the exec, is kept for Claim.
	Resume []ResumedProc
	// LightMinFds is how many open fds make Spawn fork from the light
	// spawner (spawnlight.go); 0 means 1024. Its children are forked by
	// another thread than the main one and would not survive an upgrade's
	// exec, so a supervisor that can upgrade raises it.
	LightMinFds int
}

// NewReaper makes this process a child subreaper (unless it is PID 1 or
// opts.NoSubreaper is set), marks every
// inherited fd above 2 close-on-exec, registers for SIGCHLD and starts the reap
// loop (Spawn forks on the caller's goroutine, or once this process holds many
// fds on the light spawner's thread, started then: spawnlight.go). Only
// one Reaper may exist per process at a time; Close releases the slot.
func NewReaper(log hclog.Logger, opts ReaperOptions) (*Reaper, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if !reaperExists.CompareAndSwap(false, true) {
		return nil, ErrReaperExists
	}
	r := &Reaper{
		log:      log.Named("reaper"),
		pid1:     os.Getpid() == 1,
		procs:    make(map[int]*Proc),
		adopted:  make(map[int]*adoptedProc),
		rescan:   make(chan struct{}, 1),
		sigs:     make(chan os.Signal, 1),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		onOrphan: opts.OnOrphan,
		lightMin: lightSpawnMinFds,
	}
	if opts.LightMinFds > 0 {
		r.lightMin = opts.LightMinFds
	}
	fail := func(err error) (*Reaper, error) {
		reaperExists.Store(false)
		return nil, err
	}
	// Inherited fds must not leak into children (pitfalls 2.6, E7).
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		r.log.Warn("cannot mark inherited fds close-on-exec", "error", err)
	}
	if !r.pid1 && !opts.NoSubreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fail(fmt.Errorf("set child subreaper: %w", err))
		}
	}
	// Let Go probe pidfd support before our wait4(-1) loop runs (pitfalls 2.2, E11).
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Release()
	}
	devNull, err := openDevNull(r.log, devNullPath)
	if err != nil {
		return fail(err)
	}
	r.devNull = devNull
	for _, rp := range opts.Resume {
		r.resume(rp)
	}
	go r.reapLoop()
	go r.adoptLoop()
	r.log.Debug("reaper started", "pid1", r.pid1)
	return r, nil
}

// devNullPath is the file openDevNull opens: os.DevNull; tests name one that
// does not exist.
var devNullPath = os.DevNull

// openDevNull opens path (/dev/null) read-only: what a child gets as fd 0, and
// as fd 1 or 2 when its SpawnRequest gives none. A root file system without it
// (a hand-built image, FROM scratch with no /dev) gets instead the read end of a
// pipe whose write end is closed at once, and a warning: reading it is EOF at
// once, as reading /dev/null is, and writing to it fails (EBADF), as writing to
// the read-only /dev/null does; it costs one fd and no goroutine.
func openDevNull(log hclog.Logger, path string) (*os.File, error) {
	f, err := os.Open(path)
	if err == nil {
		return f, nil
	}
	rd, wr, perr := os.Pipe()
	if perr != nil {
		return nil, fmt.Errorf("open %s: %w (and no pipe instead: %w)", path, err, perr)
	}
	wr.Close() // nobody writes: the read end is at EOF, for every child that gets it
	log.Warn("no /dev/null: children get an empty pipe as stdin instead", "path", path, "error", err)
	return rd, nil
}

// PID1 reports whether this process is PID 1 of its namespace.
func (r *Reaper) PID1() bool { return r.pid1 }

// Close stops reaping and spawning. Children still running are not signalled and
// will not be reaped by this Reaper; stop them first. The reap thread, if it sleeps
// in waitid, leaves at the next child exit without reaping it. Safe to call more
// than once.
func (r *Reaper) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	r.closeAdoptedLocked()
	r.mu.Unlock()
	r.devNull.Close()
	reaperExists.Store(false)
	return nil
}

// reapLoop sleeps in a blocking waitid(P_ALL, WEXITED|WNOWAIT) on its own thread,
// which returns as soon as any child is a zombie without reaping it, then reaps
// everything that has ended. Waking straight from the kernel, rather than through
// SIGCHLD and the runtime's signal goroutine, takes two goroutine hand-offs out of
// every restart; the thread costs nothing while it sleeps. With no child at all,
// waitid fails at once with ECHILD; the loop then waits for Spawn's kick, or (for
// processes re-parented to a PID 1 without any Spawn, such as ones nsenter'ed into
// its namespace) for SIGCHLD.
func (r *Reaper) reapLoop() {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, nil)
		select {
		case <-r.done:
			return // never reap after Close: a later Reaper may own the children
		default:
		}
		switch err {
		case nil:
			r.reapAll()
			// Let whoever reapAll readied (the state goroutine, which restarts
			// the program) run before this goroutine blocks in waitid again. A
			// goroutine that enters a blocking syscall keeps its P until sysmon
			// takes it back (20 µs at best, more once sysmon has backed off), and
			// with GOMAXPROCS=1 (procs.Default) the readied goroutine waits for
			// exactly that P. Measured on the dev VM: restart latency median
			// 0.41-0.50 ms without, 0.36-0.39 ms with (bare os/exec loop 0.31-0.41).
			runtime.Gosched()
		case unix.EINTR:
		case unix.ECHILD:
			if !r.awaitChild() {
				return
			}
		default:
			r.log.Error("waitid failed", "error", err)
			if !r.awaitChild() {
				return
			}
		}
	}
}

// awaitChild blocks until this process may have a child again. It reports false
// when the reaper is closed.
func (r *Reaper) awaitChild() bool {
	signal.Notify(r.sigs, syscall.SIGCHLD)
	defer signal.Stop(r.sigs)
	// A child adopted between the ECHILD and Notify would be missed: look again.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != unix.ECHILD {
		return true
	}
	select {
	case <-r.done:
		return false
	case <-r.kick:
	case <-r.sigs:
	}
	return true
}

// reapAll reaps every child that has ended and hands each exit to the Proc
// registered for its pid, or to the orphan hook. Each zombie is first looked at
// without being reaped (waitid WNOWAIT), so that the process group of a registered
// child can be SIGKILLed while its leader is still a zombie: the group id cannot
// have been reused, and whatever the program left in its group dies with it.
// Once it has reaped anything it asks for a scan for adopted orphans (run a
// little later, see scanDelay): a process that ended may have left children,
// which the kernel gave to us.
func (r *Reaper) reapAll() {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		pid := siginfoPid(&info)
		if err != nil || pid <= 0 {
			if err != nil && err != unix.ECHILD {
				r.log.Error("waitid failed", "error", err)
			}
			return
		}
		var ws unix.WaitStatus
		var ru unix.Rusage
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return
		}
		p := r.procs[pid]
		if p != nil && p.killGroup.Load() {
			_ = unix.Kill(-pid, unix.SIGKILL) // only the zombie left: a no-op
		}
		wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, &ru)
		if err != nil || wpid != pid {
			r.mu.Unlock()
			if err == unix.EINTR {
				continue
			}
			r.log.Error("wait4 failed after waitid saw an exit", "pid", pid, "error", err)
			return
		}
		var orphan Orphan
		var known bool
		if p != nil {
			delete(r.procs, pid)
			p.reaped = true
			p.releaseLocked()
			if p.onExit == nil { // handed over by an old image, not claimed yet
				exit := exitFromWait(pid, ws, &ru, time.Now())
				exit.MaxRSSInherited = exit.MaxRSS <= p.parentRSS
				p.held = &exit
				r.mu.Unlock()
				continue
			}
			r.delivering.Add(1)
		} else {
			orphan, known = r.forgetAdoptedLocked(pid)
		}
		r.mu.Unlock()
		r.requestScan()

		exit := exitFromWait(pid, ws, &ru, time.Now())
		if p != nil {
			exit.MaxRSSInherited = exit.MaxRSS <= p.parentRSS
			p.onExit(exit)
			r.delivering.Done()
			continue
		}
		if known {
			r.log.Info("reaped adopted orphan", "pid", pid, "exit", exit.String(), "comm", orphan.Comm, "adopted_for", time.Since(orphan.Seen).Round(time.Millisecond))
		} else {
			r.log.Info("reaped adopted orphan", "pid", pid, "exit", exit.String())
		}
		if r.onOrphan != nil {
			r.onOrphan(exit)
		}
	}
}

// siginfoPid reads si_pid, which x/sys/unix leaves in Siginfo's padding: for
// SIGCHLD it is the first field of the union, at byte offset 16 on Linux.
func siginfoPid(info *unix.Siginfo) int {
	b := (*[unsafe.Sizeof(*info)]byte)(unsafe.Pointer(info))
	return int(int32(binary.NativeEndian.Uint32(b[16:20])))
}

// SpawnRequest says what to start. The caller owns every *os.File in it and closes
// its copies after Spawn returns (the child keeps its own).
type SpawnRequest struct {
	Kind   SpawnerKind
	Argv   []string // for SpawnReexec, Argv[0] names the built-in worker
	Dir    string
	Env    []string // the complete environment; nil means the supervisor's
	Stdin  *os.File // nil means /dev/null
	Stdout *os.File // nil means /dev/null
	Stderr *os.File // nil means /dev/null
	// ExtraFiles become fds 3, 4, ... in the child.
	ExtraFiles []*os.File
	// OnExit is called exactly once, from the reap goroutine, with the process's
	// exit. It must not block.
	OnExit func(Exit)
	// KillGroupOnExit: when the process ends, SIGKILL whatever is left in its
	// process group, before the process is reaped.
	KillGroupOnExit bool
	// Foreground makes the child's new process group the foreground group of the
	// terminal Stdin, which must be the caller's controlling terminal (the spawn
	// fails otherwise).
	Foreground bool
	// Setsid makes the child the leader of a new session (and of a new process
	// group), without a controlling terminal unless Setctty is set too.
	// Foreground and KeepProcessGroup must be off.
	Setsid bool
	// Setctty makes Stdin the controlling terminal of the child's new session
	// (Setsid required). The terminal must not be another session's: Go's
	// TIOCSCTTY would steal it from that session when we are root.
	Setctty bool
	// KeepProcessGroup leaves the child in our process group instead of a new
	// one (as dumb-init -c does); SignalGroup then signals the child alone.
	KeepProcessGroup bool
	// Cgroup, if not nil, is an open cgroup v2 directory the process is created
	// in (CLONE_INTO_CGROUP), so it and all its descendants belong to it from
	// the start. The caller keeps it open for as long as it may be needed.
	Cgroup *os.File
	// Cred, if set, is the user the process runs as. Limits, if not zero,
	// are set up by the exec shim (package shim) before the program's first
	// instruction; the shim then also switches to Cred.
	Cred   *shim.Cred
	Limits *Limits
}

// Spawn starts a process in its own process group, registered with the reaper
// before anything can reap it. It blocks until the program has been exec'ed or has
// failed to start; on failure no process exists and OnExit is never called. Safe
// for concurrent use.
//
// Children get Pdeathsig SIGKILL, which the kernel ties to the forking thread, not
// the process. Spawn forks from the caller's thread without pinning it: Go ends an
// OS thread only when a goroutine exits while locked to it (runtime.LockOSThread
// without Unlock; idle threads are never freed, golang/go#14592), and nothing in
// this program does that, so the forking thread lives as long as the supervisor.
// A dedicated locked spawner thread would guard against libraries that do, but
// every hand-off to a locked thread doubled the measured restart latency. The
// exception is scale: once the request's fds show lightSpawnMinFds fds open,
// the fork goes to the light spawner's locked thread, whose small fd table
// makes it cheaper than the hand-off costs (spawnlight.go); that thread lives
// until Close (ReaperOptions.LightMinFds moves the threshold). The thread
// that forked each child is recorded (Proc.ForkedOnMain): a caller that
// upgrades in place forks from the main thread only (see the package doc).
func (r *Reaper) Spawn(req SpawnRequest) (*Proc, error) {
	if req.OnExit == nil {
		return nil, errors.New("supervise: SpawnRequest.OnExit is nil")
	}
	return r.spawn(&req)
}

func (r *Reaper) spawn(req *SpawnRequest) (*Proc, error) {
	stdin, stdout, stderr := req.Stdin, req.Stdout, req.Stderr
	if stdin == nil {
		stdin = r.devNull
	}
	if stdout == nil {
		stdout = r.devNull
	}
	if stderr == nil {
		stderr = r.devNull
	}
	sys := &syscall.SysProcAttr{
		Setpgid:   true,            // own process group: stopped as a group
		Pdeathsig: syscall.SIGKILL, // dies with the supervisor (see Spawn)
	}
	switch {
	case (req.Setsid || req.KeepProcessGroup) && req.Foreground,
		req.Setsid && req.KeepProcessGroup,
		req.Setctty && !req.Setsid:
		return nil, fmt.Errorf("%w: Setsid, Setctty, Foreground and KeepProcessGroup do not combine that way", ErrInvalidSpec)
	case req.Setsid:
		sys.Setpgid = false // setsid makes it a group leader; setpgid would fail
		sys.Setsid = true
		sys.Setctty = req.Setctty
		sys.Ctty = 0 // a child fd: Stdin
	case req.KeepProcessGroup:
		sys.Setpgid = false
	}
	if req.Foreground {
		sys.Foreground = true
		sys.Ctty = int(stdin.Fd()) // a parent fd: Go sets the foreground group before moving fds
	}
	if req.Cred != nil && req.Limits.IsZero() {
		sys.Credential = sysCredential(req.Cred) // Go sets Pdeathsig after it
	}
	if req.Cgroup != nil {
		sys.UseCgroupFD = true // clone3(CLONE_INTO_CGROUP), for all three spawners
		sys.CgroupFD = int(req.Cgroup.Fd())
	}
	p := &Proc{r: r, pidfd: -1, onExit: req.OnExit}
	p.killGroup.Store(req.KillGroupOnExit)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	var err error
	if r.wantLight(req, stdin, stdout, stderr) {
		err = r.spawnLight(req, p, sys, stdin, stdout, stderr)
		p.forkTid = -1 // the light spawner's thread
	} else {
		tid := unix.Gettid()
		err = r.spawnHeavy(req, p, sys, stdin, stdout, stderr)
		if p.forkTid = tid; unix.Gettid() != tid {
			p.forkTid = -1 // the goroutine moved: which thread forked is unknown
		}
	}
	if err != nil {
		return nil, err
	}
	// Our peak RSS, which the child's includes (Exit.MaxRSSInherited): read
	// after the fork, as our RSS at the fork is at most our peak since (a
	// peak read before it could miss what another goroutine allocated in
	// between), and under the lock, before the reap loop can look at p.
	var self unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &self) == nil {
		p.parentRSS = self.Maxrss * 1024
	}
	return r.register(p, !req.Limits.IsZero()), nil
}

// spawnHeavy forks p from the calling thread, with the process's whole fd
// table; r.mu must be held.
func (r *Reaper) spawnHeavy(req *SpawnRequest, p *Proc, sys *syscall.SysProcAttr, stdin, stdout, stderr *os.File) error {
	switch req.Kind {
	case SpawnExec, SpawnReexec:
		cmd := &exec.Cmd{
			Args:        req.Argv,
			Env:         req.Env,
			Dir:         req.Dir,
			Stdin:       stdin,
			Stdout:      stdout,
			Stderr:      stderr,
			ExtraFiles:  req.ExtraFiles,
			SysProcAttr: sys,
		}
		if req.Kind == SpawnReexec {
			cmd.Path = "/proc/self/exe"
			cmd.Args = append([]string{worker.Arg0}, req.Argv...)
		} else {
			path, err := lookPath(req.Argv[0], req.Dir)
			if err != nil {
				return err
			}
			cmd.Path = path
		}
		if !req.Limits.IsZero() {
			cmd.Path, cmd.Args = r.shimmed(req, cmd.Path, cmd.Args)
		}
		// Start, never Wait: the reap loop owns the exit status (DESIGN rule 1).
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %q: %w", cmd.Path, explainExec(cmd.Path, err))
		}
		p.Pid = cmd.Process.Pid
		p.os = cmd.Process
	case SpawnForkExec:
		path, err := lookPath(req.Argv[0], req.Dir)
		if err != nil {
			return err
		}
		files := []uintptr{stdin.Fd(), stdout.Fd(), stderr.Fd()}
		for _, f := range req.ExtraFiles {
			files = append(files, f.Fd())
		}
		pidfd := -1
		sys.PidFD = &pidfd
		env := req.Env
		if env == nil {
			env = os.Environ()
		}
		argv := req.Argv
		if !req.Limits.IsZero() {
			path, argv = r.shimmed(req, path, argv)
		}
		pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Dir: req.Dir, Env: env, Files: files, Sys: sys})
		if err != nil {
			return fmt.Errorf("fork/exec %q: %w", path, explainExec(path, err))
		}
		p.Pid = pid
		p.pidfd = pidfd
	default:
		return fmt.Errorf("%w: unknown spawner %q", ErrInvalidSpec, req.Kind)
	}
	return nil
}

// register records p, just spawned, for the reap loop; r.mu must be held.
func (r *Reaper) register(p *Proc, shimmed bool) *Proc {
	p.Started = time.Now()
	if r.childNofile != nil && !shimmed { // else the shim set it (Reaper.shimmed)
		// Before the child can have opened many fds: it runs exec or its first
		// instructions now. (os/exec and ForkExec have no hook in the child.)
		_ = unix.Prlimit(p.Pid, unix.RLIMIT_NOFILE, r.childNofile, nil)
	}
	r.procs[p.Pid] = p
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return p
}

// Proc is one process started by Spawn, until it is reaped.
type Proc struct {
	Pid     int
	Started time.Time

	r         *Reaper
	os        *os.Process // exec/reexec: holds Go's pidfd
	pidfd     int         // forkexec: our own pidfd, or -1
	onExit    func(Exit)
	killGroup atomic.Bool // SIGKILL the group when the leader ends (SpawnRequest.KillGroupOnExit)
	parentRSS int64       // this process's peak RSS at the spawn (Exit.MaxRSSInherited)
	reaped    bool        // guarded by r.mu
	// forkTid is the thread that forked the process (its Pdeathsig is tied to
	// that thread, E12), or -1 when unknown; an upgrade keeps only children
	// forked by the main thread, the one that execs.
	forkTid int
	held    *Exit // a resumed process's exit, reaped before Claim; guarded by r.mu
}

// spareGroup keeps the reaper from killing the process group when this process
// ends, for a stop: its group got the stop signal too and keeps its grace period
// (the caller signals what is left by other means once the leader is reaped).
func (p *Proc) spareGroup() { p.killGroup.Store(false) }

// releaseLocked drops the pidfd once the process is reaped. r.mu must be held.
func (p *Proc) releaseLocked() {
	if p.os != nil {
		_ = p.os.Release()
	}
	if p.pidfd >= 0 {
		_ = unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

// Signal sends sig to the process itself, through its pidfd, so a pid reused by a
// stranger is never signalled. It returns os.ErrProcessDone once the process has
// been reaped.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	if p.reaped {
		return os.ErrProcessDone
	}
	return p.signalLocked(sig)
}

func (p *Proc) signalLocked(sig syscall.Signal) error {
	if p.os != nil {
		return p.os.Signal(sig)
	}
	if p.pidfd >= 0 {
		return unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
	}
	return unix.Kill(p.Pid, sig) // unreaped, so the pid is still ours
}

// ErrLeftGroup is returned by SignalGroup when the process had moved to another
// process group; the signal was sent to the process alone.
var ErrLeftGroup = errors.New("supervise: process left its process group; signalled it alone")

// Stopped reports whether the process is stopped (by SIGSTOP, SIGTSTP, SIGTTIN
// or SIGTTOU; not a ptrace stop), as /proc says. It reads /proc under the
// reaper's lock, while the process is not reaped, so the pid is still this
// process's; it waits for nothing. It returns os.ErrProcessDone once the process
// has been reaped.
func (p *Proc) Stopped() (bool, error) {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	if p.reaped {
		return false, os.ErrProcessDone
	}
	st, err := procfs.ReadStat(p.Pid)
	if err != nil {
		return false, fmt.Errorf("read state of %d: %w", p.Pid, err)
	}
	return st.State == 'T', nil
}

// SignalGroup sends sig to the process's whole process group. While the leader is
// not reaped its pid (the group id) cannot be reused, so kill(-pgid) is safe; it is
// sent under the same lock the reaper takes. It returns os.ErrProcessDone once the
// leader has been reaped, and ErrLeftGroup (after signalling the process through
// its pidfd) when the process had left its group.
func (p *Proc) SignalGroup(sig syscall.Signal) error {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	if p.reaped {
		return os.ErrProcessDone
	}
	err := unix.Kill(-p.Pid, sig)
	if err != unix.ESRCH {
		return err
	}
	if err := p.signalLocked(sig); err != nil {
		return err
	}
	return ErrLeftGroup
}

// lookPath finds the file argv0 names, as the child's exec will: a bare name in
// PATH; a relative path from dir, the directory the child changes to before its
// exec (as os/exec documents and supervisord does); else as given. A dir that is
// not a directory is named as the problem, not argv0 (the kernel's chdir error
// would read as the command's ENOENT).
func lookPath(argv0, dir string) (string, error) {
	if dir != "" {
		fi, err := os.Stat(dir)
		switch {
		case err != nil:
			return "", fmt.Errorf("directory %q: %w", dir, errors.Unwrap(err))
		case !fi.IsDir():
			return "", fmt.Errorf("directory %q: %w", dir, syscall.ENOTDIR)
		}
		if strings.Contains(argv0, "/") && !filepath.IsAbs(argv0) {
			abs, err := filepath.Abs(filepath.Join(dir, argv0))
			if err != nil {
				return "", fmt.Errorf("look up %q in %q: %w", argv0, dir, err)
			}
			argv0 = abs
		}
	}
	path, err := exec.LookPath(argv0)
	if err != nil {
		return "", fmt.Errorf("look up %q: %w", argv0, err)
	}
	return path, nil
}

// explainExec adds why an exec of an existing file failed with ENOENT: a script
// whose #! line names an interpreter that does not exist (the kernel reports the
// interpreter's ENOENT as the script's).
func explainExec(path string, err error) error {
	if !errors.Is(err, syscall.ENOENT) {
		return err
	}
	if why := InterpreterProblem(path); why != nil {
		return fmt.Errorf("%w (%w)", err, why)
	}
	return err
}

// InterpreterProblem says why the script at path cannot be run for its #! line:
// no interpreter named, an interpreter that does not exist, or a line that ends
// in a carriage return (DOS line endings: the kernel looks for "/bin/sh\r"). It
// is nil for a script whose interpreter exists and for any file that is not a
// script. run --check asks it too.
func InterpreterProblem(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var buf [256]byte
	n, _ := f.Read(buf[:])
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	rest, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return nil
	}
	interp := strings.Fields(rest)
	switch {
	case len(interp) == 0:
		return errors.New("its #! line names no interpreter")
	case strings.HasSuffix(line, "\r"):
		return fmt.Errorf("its #! line %q ends in a carriage return (DOS line endings), which the kernel takes as part of the interpreter's name or last argument", line)
	}
	if _, err := os.Stat(interp[0]); err != nil {
		return fmt.Errorf("its #! line names %q, which does not exist", interp[0])
	}
	return nil
}
