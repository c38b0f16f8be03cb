package initmode

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// ownsTerminal reports whether f is our controlling terminal and our process
// group is its foreground group: only then is the terminal handed to the program.
func ownsTerminal(f *os.File) bool {
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// giveTerminal makes pgid the foreground process group of the terminal f, if
// our own group is its foreground group now (a shell's fg gave the job, our
// group, the terminal back). It reports whether it did. SIGTTOU is blocked on
// the calling thread meanwhile: should a shell move us to the background
// between the check and the ioctl, the kernel then lets the ioctl through
// rather than sending SIGTTOU to a group whose handler would restart it for
// ever (pitfalls E9).
func giveTerminal(f *os.File, pgid int) (bool, error) {
	if !ownsTerminal(f) {
		return false, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread() // never left locked: see supervise's doc on Pdeathsig
	var set, old unix.Sigset_t
	set.Val[0] = 1 << (unix.SIGTTOU - 1)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		return false, fmt.Errorf("block SIGTTOU: %w", err)
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.TIOCSPGRP, pgid); err != nil {
		return false, fmt.Errorf("give the terminal to process group %d: %w", pgid, err)
	}
	return true, nil
}

// detachTerminal gives up f as our controlling terminal (TIOCNOTTY), so that the
// program's new session can take it, as dumb-init does. It reports whether f was
// our controlling terminal and whether we were the session leader: then the
// kernel has sent SIGHUP and SIGCONT to our foreground group, that is to us,
// and the caller drops the first of each (dumb-init #136).
func detachTerminal(f *os.File) (detached, wasLeader bool) {
	wasLeader = isSessionLeader()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.TIOCNOTTY, 0); err != nil {
		return false, wasLeader
	}
	return true, wasLeader
}

func isSessionLeader() bool {
	sid, err := unix.Getsid(0)
	return err == nil && sid == os.Getpid()
}
