//go:build amd64 || arm64

package supervise

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSigaction is the kernel's struct sigaction on amd64 and arm64 (both
// have sa_restorer), for rt_sigaction.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// stopSignals are the signals whose default action ends a Go process before
// it calls signal.Notify: an upgrade's new image is exposed to them from the
// exec to its first init.
var stopSignals = []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// ignoreStopSignals sets stopSignals to SIG_IGN, for the exec: an ignored
// signal stays ignored across execve, which covers the kernel's part of the
// exec and the new runtime's start, until the runtime installs its own
// handlers (it does for SIGTERM, SIGQUIT and the SIGUSRs even when they are
// ignored; SIGINT and SIGHUP stay ignored until the new image's
// signal.Notify). A signal meanwhile is lost, not fatal. restore puts back
// the handlers (Go's) as they were, after a failed exec.
func ignoreStopSignals() (restore func()) {
	type saved struct {
		sig syscall.Signal
		old kernelSigaction
	}
	var all []saved
	ign := kernelSigaction{handler: 1} // SIG_IGN
	for _, sig := range stopSignals {
		var old kernelSigaction
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&ign)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e == 0 {
			all = append(all, saved{sig, old})
		}
	}
	return func() {
		for _, s := range all {
			_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s.sig), uintptr(unsafe.Pointer(&s.old)), 0, 8, 0, 0)
		}
	}
}
