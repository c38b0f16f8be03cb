package worker

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// selfExe is the running binary, even if the file was replaced since.
const selfExe = "/proc/self/exe"

// startGrandchild starts a plain "child" worker (no flags: it runs until
// signalled) by re-executing this binary, and returns its pid without waiting
// for it. With setsid it gets its own session and process group; otherwise it
// stays in ours. Its fds are 0: /dev/null, 1: stdout if holdStdout (as an
// *os.File, else os.Stdout) or /dev/null, 2: /dev/null; nothing else.
func startGrandchild(setsid, holdStdout bool, stdout io.Writer) (int, error) {
	// Fds we inherited (e.g. the supervisor's pipes as ExtraFiles) have
	// close-on-exec cleared; without this the grandchild would hold them open.
	if err := closeOnExecFrom(3); err != nil {
		return 0, fmt.Errorf("start grandchild: %w", err)
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("start grandchild: %w", err)
	}
	defer devNull.Close() // the grandchild has its own copy once started

	out := devNull
	if holdStdout {
		out = os.Stdout
		if f, ok := stdout.(*os.File); ok {
			out = f
		}
	}
	// Keep argv[0]: a worker re-executed under Arg0 must name the worker again;
	// cmd/child (any other argv[0]) runs the child worker directly.
	argv := []string{os.Args[0]}
	if filepath.Base(os.Args[0]) == Arg0 {
		argv = append(argv, "child")
	}
	proc, err := os.StartProcess(selfExe, argv, &os.ProcAttr{
		Files: []*os.File{devNull, out, devNull},
		Sys:   &syscall.SysProcAttr{Setsid: setsid},
	})
	if err != nil {
		return 0, fmt.Errorf("start grandchild: %w", err)
	}
	pid := proc.Pid
	// Never waited: our adopter (the supervisor as subreaper, or init) reaps it.
	if err := proc.Release(); err != nil {
		return 0, fmt.Errorf("release grandchild %d: %w", pid, err)
	}
	return pid, nil
}

// closeOnExecFrom sets close-on-exec on every open fd >= minFd.
func closeOnExecFrom(minFd int) error {
	err := unix.CloseRange(uint(minFd), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("close_range: %w", err)
	}
	// Before Linux 5.11: walk /proc/self/fd.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < minFd {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // the directory's own fd, closed by now
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC); err != nil {
			return fmt.Errorf("set close-on-exec on fd %d: %w", fd, err)
		}
	}
	return nil
}

// dieBySignal kills the process with sig, whose default action must end the
// process. It returns only if that fails.
//
// The Go runtime's handlers do not die by every signal, and signal.Reset
// restores them rather than SIG_DFL: after Reset, a SIGSEGV or SIGABRT sent by
// kill makes the runtime crash with exit code 2, and a SIGUSR1 is dropped. So the
// disposition is set to SIG_DFL with a raw rt_sigaction, and the signal is sent
// to the current thread, which runs Go code and so does not block it: the
// kernel then ends the whole process before tgkill returns to user space.
func dieBySignal(sig syscall.Signal) error {
	runtime.LockOSThread() // never unlocked: the process ends here
	if sig != unix.SIGKILL {
		if err := setDefaultAction(sig); err != nil {
			return fmt.Errorf("reset %s: %w", unix.SignalName(sig), err)
		}
	}
	if err := unix.Tgkill(unix.Getpid(), unix.Gettid(), sig); err != nil {
		return fmt.Errorf("send %s to self: %w", unix.SignalName(sig), err)
	}
	return fmt.Errorf("still alive after %s", unix.SignalName(sig))
}

// setDefaultAction sets sig's disposition to SIG_DFL, bypassing the Go runtime.
func setDefaultAction(sig syscall.Signal) error {
	// An all-zero kernel struct sigaction is SIG_DFL with no flags and an empty
	// mask whatever the architecture's field order; 64 bytes covers every layout.
	var act [8]uint64
	rtSigaction := func(sigsetSize uintptr) syscall.Errno {
		_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig),
			uintptr(unsafe.Pointer(&act)), 0, sigsetSize, 0, 0)
		return errno
	}
	// The kernel insists on its own sigset size: 8 bytes, but 16 on mips.
	errno := rtSigaction(8)
	if errno == unix.EINVAL {
		errno = rtSigaction(16)
	}
	if errno != 0 {
		return errno
	}
	return nil
}
