package demo

// The negative control's plumbing (--no-reap): the supervisor with its reaping
// turned off. There is no Reaper in the process then, so this file, and only
// while no Reaper exists, waits for processes.

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/worker"
)

// startUnreaped starts the demo worker argv in its own process group, with the
// subreaper bit set on us (as the supervisor would have it) and nothing that
// will reap it or the orphans it leaves.
func startUnreaped(extra []*os.File, stdout *os.File, argv []string) (*os.Process, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("set child subreaper: %w", err)
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	files := append([]*os.File{devNull, stdout, os.Stderr}, extra...)
	return os.StartProcess("/proc/self/exe", append([]string{worker.Arg0}, argv...), &os.ProcAttr{
		Files: files,
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
}

// waitExitedNoReap blocks until pid, our child, has exited, without reaping it.
func waitExitedNoReap(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// reapAllNoReap, at cleanup, reaps every child we have until none is left: the
// helpers (killed or at EOF by now) and the zombies we were handed.
func reapAllNoReap() {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return // ECHILD
		}
	}
}
