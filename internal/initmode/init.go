package initmode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
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

// Options configures Run.
type Options struct {
	// Reaper starts the program and reaps it and every orphan; required.
	Reaper *supervise.Reaper
	// Argv is the program and its arguments; Argv[0] is looked up in $PATH.
	Argv []string
	// Group: forward signals to the program's whole process group, not only to
	// the program (tini -g).
	Group bool
	// Grace is how long processes left after the program ended get between
	// SIGTERM and SIGKILL. Zero means SIGKILL at once.
	Grace time.Duration
	// Stdin, Stdout and Stderr are the program's; nil means ours. The caller
	// keeps ownership.
	Stdin, Stdout, Stderr *os.File
}

// forwarded are the signals passed on to the program as they are.
var forwarded = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGWINCH, unix.SIGALRM, unix.SIGCONT, unix.SIGPWR,
}

// jobControl are forwarded, then init stops itself (unless PID 1).
var jobControl = []os.Signal{unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU}

// Run starts the program, forwards signals to it, and blocks until it has ended
// and every process left below init has ended and been reaped (see the package
// doc). It returns the status init should exit with: the program's exit code,
// 128+signal if a signal killed it, 127 or 126 if it could not be started. The
// error is non-nil only for bad Options. ctx covers the whole run: when it ends,
// the program's process group is SIGKILLed and leftovers are killed without
// grace.
func Run(ctx context.Context, log hclog.Logger, opts Options) (int, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.Reaper == nil {
		return 0, errors.New("initmode: Options.Reaper is nil")
	}
	if len(opts.Argv) == 0 || opts.Argv[0] == "" {
		return 0, errors.New("initmode: no program to run")
	}
	if opts.Grace < 0 {
		return 0, fmt.Errorf("initmode: negative grace %s", opts.Grace)
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

	// Registered before the spawn: a signal sent right after it is forwarded, and
	// as PID 1 none of these may keep the Go runtime's default (exit 2).
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, append(append([]os.Signal{unix.SIGPIPE}, forwarded...), jobControl...)...)
	defer signal.Stop(sigs)

	exited := make(chan supervise.Exit, 1)
	fg := ownsTerminal(stdin)
	proc, err := opts.Reaper.Spawn(supervise.SpawnRequest{
		Kind:       supervise.SpawnExec,
		Argv:       opts.Argv,
		Stdin:      stdin,
		Stdout:     stdout,
		Stderr:     stderr,
		Foreground: fg,
		OnExit:     func(e supervise.Exit) { exited <- e },
	})
	if err != nil {
		e := supervise.SpawnExit(err)
		log.Error("program could not be started", "error", err, "status", e.Code)
		return e.Code, nil
	}
	in := &initProc{log: log, proc: proc, group: opts.Group, pid1: opts.Reaper.PID1()}
	log.Debug("program started", "pid", proc.Pid, "argv", opts.Argv, "pid1", in.pid1, "foreground", fg)

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
	in.cleanup(ctx, sigs, grace)
	return exit.ShellCode(), nil
}

type initProc struct {
	log   hclog.Logger
	proc  *supervise.Proc
	group bool
	pid1  bool
}

// handle forwards one caught signal, and stops init after a job-control one.
func (in *initProc) handle(sig syscall.Signal) {
	if sig == unix.SIGPIPE {
		return // our stderr is gone; nothing to forward
	}
	in.forward(sig)
	switch sig {
	case unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		if in.pid1 {
			return
		}
		// Stopped here until a SIGCONT, which is then caught and forwarded too.
		if err := unix.Kill(os.Getpid(), unix.SIGSTOP); err != nil {
			in.log.Warn("cannot stop", "error", err)
		}
	}
}

func (in *initProc) forward(sig syscall.Signal) {
	var err error
	if in.group {
		err = in.proc.SignalGroup(sig)
	} else {
		err = in.proc.Signal(sig)
	}
	switch {
	case err == nil:
		in.log.Debug("forwarded signal", "signal", supervise.SignalName(sig), "pid", in.proc.Pid, "group", in.group)
	case errors.Is(err, os.ErrProcessDone), errors.Is(err, unix.ESRCH):
		in.log.Debug("signal not forwarded: the program has ended", "signal", supervise.SignalName(sig))
	case errors.Is(err, supervise.ErrLeftGroup):
		in.log.Debug("the program left its process group; signalled it alone", "signal", supervise.SignalName(sig))
	default:
		in.log.Warn("cannot forward signal", "signal", supervise.SignalName(sig), "error", err)
	}
}

// ownsTerminal reports whether f is our controlling terminal and our process
// group is its foreground group: only then is the terminal handed to the program.
func ownsTerminal(f *os.File) bool {
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
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
