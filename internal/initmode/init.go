package initmode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/procfs"
	"github.com/supervisor/supervisor/internal/supervise"
)

// DefaultGrace is how long leftovers get between SIGTERM and SIGKILL once the
// program has ended.
const DefaultGrace = 2 * time.Second

// killWait bounds the wait for leftovers to be reaped after SIGKILL (a process
// in uninterruptible sleep can take a while).
const killWait = 10 * time.Second

// Leftovers says what init does, once the program has ended, with the processes
// it left behind.
type Leftovers int

const (
	// KillLeftovers (ours): SIGTERM to every process left below init, SIGKILL
	// after Options.Grace, and exit once all are reaped.
	KillLeftovers Leftovers = iota
	// LeaveLeftovers (tini's rule, --leave-leftovers): exit at once. As PID 1
	// the kernel then SIGKILLs the rest of the namespace; otherwise they live on.
	LeaveLeftovers
	// TermGroup (dumb-init's rule): SIGTERM (as Options.Rewrite rewrites it) to
	// what is left of the program's process group, or to nothing in
	// single-child mode, then exit at once.
	TermGroup
)

// Options configures Run.
type Options struct {
	// Reaper starts the program and reaps it and every orphan; required.
	Reaper *supervise.Reaper
	// Argv is the program and its arguments; Argv[0] is looked up in $PATH.
	Argv []string
	// Flavor picks tini's or dumb-init's rules where they and ours differ.
	Flavor Flavor
	// Group: forward signals to the program's whole process group, not only to
	// the program (tini -g).
	Group bool
	// Session: the program leads a new session, and takes our controlling
	// terminal when we can give it up (dumb-init's default mode). TSTP, TTIN and
	// TTOU are then forwarded as SIGSTOP unless Rewrite says otherwise. Init
	// keeps the terminal's foreground group, so the terminal's job-control
	// signals come to init.
	Session bool
	// SameGroup leaves the program in init's process group (dumb-init -c). Not
	// with Session.
	SameGroup bool
	// Rewrite maps a signal init receives to the one it forwards; 0 drops it.
	Rewrite map[syscall.Signal]syscall.Signal
	// SuccessCodes are program exit statuses init exits 0 for (tini -e).
	SuccessCodes []int
	// ParentDeathSignal, if not 0, is sent to init when its parent dies
	// (PR_SET_PDEATHSIG, tini -p); init handles it as any signal it receives.
	ParentDeathSignal syscall.Signal
	// Leftovers says what happens to the processes the program left behind.
	Leftovers Leftovers
	// Grace is how long processes left after the program ended get between
	// SIGTERM and SIGKILL (KillLeftovers). Zero means SIGKILL at once.
	Grace time.Duration
	// ExecFailure, if not 0, is the status for a program that cannot be started
	// (dumb-init: 2); 0 means a shell's: 127 if not found, 126 if not executable.
	ExecFailure int
	// Stdin, Stdout and Stderr are the program's; nil means ours. The caller
	// keeps ownership.
	Stdin, Stdout, Stderr *os.File
}

// Run starts the program, forwards signals to it, and blocks until it has ended
// and (with KillLeftovers) every process left below init has ended and been
// reaped (see the package doc). It returns the status init should exit with:
// the program's exit code, 128+signal if a signal killed it, 127 or 126 (or
// Options.ExecFailure) if it could not be started, 0 for one of SuccessCodes.
// The error is non-nil only for bad Options. ctx covers the whole run: when it
// ends, the program's process group is SIGKILLed and leftovers are killed
// without grace.
//
// Run changes process-wide state: signal dispositions (every catchable signal
// is caught until Run returns), the working directory (/ once the program
// runs), and with ParentDeathSignal the parent-death signal.
func Run(ctx context.Context, log hclog.Logger, opts Options) (int, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	switch {
	case opts.Reaper == nil:
		return 0, errors.New("initmode: Options.Reaper is nil")
	case len(opts.Argv) == 0 || opts.Argv[0] == "":
		return 0, errors.New("initmode: no program to run")
	case opts.Grace < 0:
		return 0, fmt.Errorf("initmode: negative grace %s", opts.Grace)
	case opts.Session && opts.SameGroup:
		return 0, errors.New("initmode: Session and SameGroup exclude each other")
	case opts.ExecFailure < 0 || opts.ExecFailure > 255:
		return 0, fmt.Errorf("initmode: exec failure status %d is not 0..255", opts.ExecFailure)
	}
	stdin, stdout, stderr := opts.Stdin, opts.Stdout, opts.Stderr
	if stdin == nil {
		stdin = os.Stdin
	}
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}

	// What our parent left us, read before Notify replaces any disposition.
	inherited, err := ReadInherited()
	if err != nil {
		log.Warn("cannot read the inherited signal dispositions; the program gets none ignored", "error", err)
	}
	if opts.ParentDeathSignal != 0 {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(opts.ParentDeathSignal), 0, 0, 0); err != nil {
			log.Error("cannot set the parent-death signal", "signal", SignalName(opts.ParentDeathSignal), "error", err)
			return 1, nil
		}
	}

	// Registered before the spawn: a signal sent right after it is forwarded, and
	// none of these may keep the Go runtime's default (exit 2, or a crash).
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs, caught()...)
	defer signal.Stop(sigs)

	in := &initProc{
		log:     log,
		opts:    opts,
		stdin:   stdin,
		pid1:    opts.Reaper.PID1(),
		skipped: map[syscall.Signal]bool{},
	}
	setctty := false
	if opts.Session {
		detached, leader := detachTerminal(stdin)
		setctty = detached && leader // else the terminal is still another session's
		if setctty {
			in.skipped[unix.SIGHUP], in.skipped[unix.SIGCONT] = true, true
		}
		log.Debug("session mode", "detached", detached, "was_leader", leader)
	}
	in.fg = !opts.Session && !opts.SameGroup && ownsTerminal(stdin)

	exited := make(chan supervise.Exit, 1)
	req := supervise.SpawnRequest{
		Kind:             supervise.SpawnExec,
		Argv:             opts.Argv,
		Stdin:            stdin,
		Stdout:           stdout,
		Stderr:           stderr,
		Foreground:       in.fg,
		Setsid:           opts.Session,
		Setctty:          setctty,
		KeepProcessGroup: opts.SameGroup,
		OnExit:           func(e supervise.Exit) { exited <- e },
	}
	proc, err := spawnInheriting(opts.Reaper, req, inherited, sigs)
	if err != nil {
		e := supervise.SpawnExit(err)
		code := e.Code
		if opts.ExecFailure != 0 {
			code = opts.ExecFailure
		}
		log.Error("program could not be started", "error", err, "status", code)
		return in.status(code), nil
	}
	in.proc = proc
	log.Debug("program started", "pid", proc.Pid, "argv", opts.Argv, "pid1", in.pid1, "foreground", in.fg,
		"session", opts.Session, "flavor", opts.Flavor, "inherited_ignored", names(inherited.Ignored),
		"inherited_blocked", names(inherited.Blocked))
	// Now that the program has its own dispositions: 32 and 34 can no longer
	// kill init. And init no longer holds the directory it was started in.
	if err := ignoreRuntimeReserved(); err != nil {
		log.Warn("cannot ignore the runtime's reserved signals", "error", err)
	}
	if err := os.Chdir("/"); err != nil {
		log.Warn("cannot change directory to /", "error", err)
	}

	grace := opts.Grace
	var exit supervise.Exit
	done := ctx.Done()
wait:
	for {
		select {
		case e := <-exited:
			exit = e
			break wait
		case s := <-sigs:
			in.handle(s.(syscall.Signal))
		case <-done:
			done = nil
			grace = 0
			log.Warn("cancelled; killing the program's process group", "cause", context.Cause(ctx))
			if err := proc.SignalGroup(unix.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
				log.Warn("cannot kill the program's process group", "error", err)
			}
		}
	}
	log.Debug("program ended", "pid", exit.Pid, "exit", exit.String())
	switch opts.Leftovers {
	case KillLeftovers:
		in.cleanup(ctx, sigs, grace)
	case TermGroup:
		in.termGroup()
	}
	return in.status(exit.ShellCode()), nil
}

// spawnInheriting spawns req with the signals init inherited as ignored
// ignored in the program too, as they would be without init (nohup). SIG_IGN
// survives exec, so they are ignored in init just around the fork, then caught
// again: one of them sent meanwhile is dropped, as init's parent asked. (Blocked
// signals need nothing: the fork copies the forking thread's mask, which keeps
// what the runtime lets stay blocked.)
func spawnInheriting(r *supervise.Reaper, req supervise.SpawnRequest, in Inherited, sigs chan<- os.Signal) (*supervise.Proc, error) {
	ign := in.ignoredForChild()
	if len(ign) == 0 {
		return r.Spawn(req)
	}
	signal.Ignore(ign...)
	defer signal.Notify(sigs, ign...)
	return r.Spawn(req)
}

func names(set []syscall.Signal) string {
	var b strings.Builder
	for i, s := range set {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(SignalName(s))
	}
	return b.String()
}

type initProc struct {
	log   hclog.Logger
	opts  Options
	proc  *supervise.Proc
	stdin *os.File
	pid1  bool
	// fg: the program's group was given the terminal (tini's isolate_child).
	fg bool
	// stopped: init has stopped itself (or its group) for a stop of the program,
	// and the SIGCONT that resumes it has not been forwarded yet.
	stopped bool
	// skipped: signals whose next delivery is dropped (the kernel's after
	// TIOCNOTTY).
	skipped map[syscall.Signal]bool
}

// status applies SuccessCodes to an exit status.
func (in *initProc) status(code int) int {
	if slices.Contains(in.opts.SuccessCodes, code) {
		return 0
	}
	return code
}

// handle deals with one caught signal: CHLD may mean the program stopped;
// anything else is forwarded (rewritten) as the flavor says, CONT resumes the
// program after a job-control stop, and a job-control signal stops init.
func (in *initProc) handle(sig syscall.Signal) {
	if sig == unix.SIGCHLD {
		in.followStop()
		return
	}
	if in.skipped[sig] {
		delete(in.skipped, sig)
		in.log.Debug("dropped the signal the terminal hand-off caused", "signal", SignalName(sig))
		return
	}
	contSent := false
	if sig == unix.SIGCONT {
		contSent = in.resume()
	}
	if !in.opts.Flavor.forwards(sig) {
		in.log.Debug("signal not forwarded", "signal", SignalName(sig), "flavor", in.opts.Flavor)
		return
	}
	out := sig
	if to, ok := in.opts.Rewrite[sig]; ok {
		out = to
	} else if in.opts.Session && jobControl(sig) {
		out = unix.SIGSTOP
	}
	switch {
	case out == 0:
		in.log.Debug("signal dropped by a rewrite", "signal", SignalName(sig))
	case out == unix.SIGCONT && contSent:
		in.log.Debug("forwarded signal", "got", SignalName(sig), "signal", "SIGCONT", "pid", in.proc.Pid, "group", true)
	default:
		in.forward(sig, out)
	}
	if in.opts.Flavor.stopsSelf(sig) && !in.pid1 {
		// Stopped here until a SIGCONT, which is then caught and forwarded too.
		in.stopped = true
		if err := unix.Kill(os.Getpid(), unix.SIGSTOP); err != nil {
			in.log.Warn("cannot stop", "error", err)
		}
	}
}

// followStop: when the program, holding the terminal, has been stopped (Ctrl-Z
// reached its group, not ours), stop our own process group too, so that the
// shell waiting for us sees the job stopped and gives its prompt back. As PID 1
// init cannot stop, but the rest of its group can (unshare, in the shell's job).
func (in *initProc) followStop() {
	if !in.fg || in.proc == nil {
		return
	}
	stopped, err := in.proc.Stopped()
	if err != nil || !stopped {
		in.stopped = false
		return
	}
	if in.stopped {
		return // this stop is already followed
	}
	in.stopped = true
	in.log.Debug("the program stopped; stopping our process group")
	if err := unix.Kill(0, unix.SIGSTOP); err != nil {
		in.log.Warn("cannot stop our process group", "error", err)
	}
}

// resume runs on SIGCONT before it is forwarded: after a job-control stop, if a
// shell's fg gave our group the terminal, hand it back to the program's group,
// and continue that whole group (the terminal stopped all of it). It reports
// whether it sent SIGCONT to the program's group.
func (in *initProc) resume() bool {
	if !in.stopped {
		return false
	}
	in.stopped = false
	if in.fg {
		if gave, err := giveTerminal(in.stdin, in.proc.Pid); err != nil {
			in.log.Warn("cannot give the terminal back to the program", "error", err)
		} else if gave {
			in.log.Debug("gave the terminal back to the program's process group")
		}
	}
	if in.opts.SameGroup {
		return false
	}
	err := in.proc.SignalGroup(unix.SIGCONT)
	return err == nil || errors.Is(err, supervise.ErrLeftGroup)
}

func (in *initProc) forward(got, sig syscall.Signal) {
	var err error
	if in.opts.Group {
		err = in.proc.SignalGroup(sig)
	} else {
		err = in.proc.Signal(sig)
	}
	switch {
	case err == nil:
		in.log.Debug("forwarded signal", "got", SignalName(got), "signal", SignalName(sig), "pid", in.proc.Pid, "group", in.opts.Group)
	case errors.Is(err, os.ErrProcessDone), errors.Is(err, unix.ESRCH):
		in.log.Debug("signal not forwarded: the program has ended", "signal", SignalName(sig))
	case errors.Is(err, supervise.ErrLeftGroup):
		in.log.Debug("the program left its process group; signalled it alone", "signal", SignalName(sig))
	default:
		in.log.Warn("cannot forward signal", "signal", SignalName(sig), "error", err)
	}
}

// termGroup is dumb-init's farewell: SIGTERM (rewritten as Rewrite says) to
// every process left in the program's process group, through pidfds.
func (in *initProc) termGroup() {
	if !in.opts.Group {
		return // single-child mode: dumb-init signals the (reaped) program alone
	}
	sig := unix.SIGTERM
	if to, ok := in.opts.Rewrite[sig]; ok {
		sig = to
	}
	if sig == 0 {
		return
	}
	all, err := procfs.All()
	if err != nil {
		return
	}
	pgid := in.proc.Pid
	for _, st := range all {
		if st.Pgrp == pgid && st.Pid != os.Getpid() {
			procfs.SignalIfStill(st.Pid, sig, func(now procfs.Stat) bool { return now.Pgrp == pgid })
		}
	}
}

// cleanup ends every process left below init after the program ended: SIGTERM,
// up to grace, SIGKILL; and returns once none is left (the reaper reaps them).
// A TERM, INT, QUIT or HUP meanwhile, or the end of ctx, cuts the grace short.
func (in *initProc) cleanup(ctx context.Context, sigs <-chan os.Signal, grace time.Duration) {
	self, err := os.Readlink("/proc/self")
	if err != nil || self != strconv.Itoa(os.Getpid()) {
		in.log.Warn("/proc is missing or not of our PID namespace: processes left behind are not looked for", "error", err)
		return
	}
	sig := unix.SIGTERM
	if grace == 0 {
		sig = unix.SIGKILL
	}
	signalled := map[int]bool{}
	deadline := time.Now().Add(grace)
	killDeadline := time.Time{}
	logged := false
	done := ctx.Done()
	for poll := time.Millisecond; ; poll = min(2*poll, 50*time.Millisecond) {
		left := descendants(os.Getpid())
		if len(left) == 0 {
			if logged {
				in.log.Info("every process left behind has ended")
			}
			return
		}
		if !logged {
			in.log.Info("processes left behind after the program ended", "count", len(left),
				"signal", supervise.SignalName(sig), "grace", grace)
			logged = true
		}
		if sig == unix.SIGTERM && !time.Now().Before(deadline) {
			in.log.Warn("grace period over; killing what is left", "count", len(left))
			sig = unix.SIGKILL
			clear(signalled)
		}
		if sig == unix.SIGKILL && killDeadline.IsZero() {
			killDeadline = time.Now().Add(killWait)
		}
		if !killDeadline.IsZero() && time.Now().After(killDeadline) {
			in.log.Error("processes still left after SIGKILL; exiting anyway", "count", len(left))
			return
		}
		for pid, ppid := range left {
			if !signalled[pid] {
				signalled[pid] = signalDescendant(pid, ppid, sig)
			}
		}
		timer := time.NewTimer(poll) // polling the OS until the deadline
		select {
		case <-timer.C:
		case s := <-sigs:
			timer.Stop()
			switch s {
			case unix.SIGTERM, unix.SIGINT, unix.SIGQUIT, unix.SIGHUP:
				deadline = time.Now()
			}
		case <-done:
			timer.Stop()
			done = nil
			deadline = time.Now()
		}
	}
}

// descendants maps every process below root (zombies included) to its parent.
func descendants(root int) map[int]int {
	all, err := procfs.All()
	if err != nil {
		return nil
	}
	kids := map[int][]int{}
	for _, st := range all {
		kids[st.PPid] = append(kids[st.PPid], st.Pid)
	}
	out := map[int]int{}
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, k := range kids[p] {
			out[k] = p
			queue = append(queue, k)
		}
	}
	return out
}

// signalDescendant signals pid through a pidfd, after checking that the process
// the pidfd refers to still has the parent the scan saw: a pid recycled since
// the scan is never signalled. A process gone, or re-parented to us since the
// scan (its parent died), is not signalled: the next scan sees it again with its
// new parent. It reports whether the signal was sent.
func signalDescendant(pid, ppid int, sig syscall.Signal) bool {
	return procfs.SignalIfStill(pid, sig, func(st procfs.Stat) bool { return st.PPid == ppid })
}
