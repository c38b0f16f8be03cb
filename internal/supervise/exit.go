package supervise

import (
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Exit is what the kernel reported about one ended process, plus its resource usage.
type Exit struct {
	Pid        int
	Code       int            // exit code; -1 when the process was killed by a signal
	Signal     syscall.Signal // the signal that killed it, or 0
	CoreDumped bool
	UserTime   time.Duration // CPU time in user mode
	SysTime    time.Duration // CPU time in kernel mode
	MaxRSS     int64         // peak resident set size, bytes, as the kernel counts it (see MaxRSSInherited)
	// MaxRSSInherited: MaxRSS is not above the supervisor's own peak RSS when it
	// spawned the process. The kernel counts the parent's high-water mark for
	// every child (fork copies it, exec keeps it), so the child's own peak is
	// then unknown: at most MaxRSS.
	MaxRSSInherited bool
	Time            time.Time // when it was reaped
	// SpawnErr is set when no process could be started at all (Pid is 0); Code is then
	// 127 (program not found) or 126 (found but not executable), as a shell reports it.
	SpawnErr error

	// Goroutine workers only (Pid 0). Err is the error the worker function
	// returned (Code 1); Panic the value of a recovered panic (Code 2, a crash, as
	// for a Go process that panics); Leaked: the worker ignored its stop and was
	// abandoned after the stop grace (Code -1; it still runs, see
	// Supervisor.Leaked).
	Err    error
	Panic  string
	Leaked bool
}

// clean reports whether the process exited by itself with status 0.
func (e Exit) clean() bool { return e.SpawnErr == nil && e.Signal == 0 && e.Code == 0 }

// ShellCode is the exit status as a shell would report it: the exit code, or
// 128+signal for a process killed by a signal.
//
// A leaked goroutine worker counts as 128+SIGKILL, what a process that ignored
// its stop would have ended with.
func (e Exit) ShellCode() int {
	if e.Leaked {
		return 128 + int(syscall.SIGKILL)
	}
	if e.Signal != 0 {
		return 128 + int(e.Signal)
	}
	return e.Code
}

// String describes the exit the way users read it: "exit status 3",
// "signal SIGKILL", "signal SIGSEGV (core dumped)", or the spawn error.
func (e Exit) String() string {
	switch {
	case e.Leaked:
		return "leaked (ignored its stop; the goroutine still runs)"
	case e.Panic != "":
		return fmt.Sprintf("panic (status %d): %s", e.Code, e.Panic)
	case e.Err != nil:
		return fmt.Sprintf("exit status %d: %v", e.Code, e.Err)
	case e.SpawnErr != nil:
		return fmt.Sprintf("start failed (status %d): %v", e.Code, e.SpawnErr)
	case e.Signal != 0:
		s := "signal " + SignalName(e.Signal)
		if e.CoreDumped {
			s += " (core dumped)"
		}
		return s
	default:
		return fmt.Sprintf("exit status %d", e.Code)
	}
}

func exitFromWait(pid int, ws unix.WaitStatus, ru *unix.Rusage, now time.Time) Exit {
	e := Exit{
		Pid:      pid,
		Code:     -1,
		UserTime: time.Duration(ru.Utime.Nano()),
		SysTime:  time.Duration(ru.Stime.Nano()),
		MaxRSS:   ru.Maxrss * 1024, // Linux reports KiB
		Time:     now,
	}
	switch {
	case ws.Exited():
		e.Code = ws.ExitStatus()
	case ws.Signaled():
		e.Signal = syscall.Signal(ws.Signal())
		e.CoreDumped = ws.CoreDump()
	}
	return e
}

// SpawnExit is the Exit a shell would report for a Spawn that failed with err:
// status 127 when the program does not exist, 126 when it cannot be executed.
func SpawnExit(err error) Exit { return spawnExit(err, time.Now()) }

// spawnExit turns a failed spawn into the Exit a shell would report: 127 when the
// program does not exist, 126 when it cannot be executed.
func spawnExit(err error, now time.Time) Exit {
	code := 126
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		code = 127
	}
	return Exit{Code: code, Time: now, SpawnErr: err}
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT", syscall.SIGILL: "SIGILL",
	syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE",
	syscall.SIGKILL: "SIGKILL", syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM", syscall.SIGCHLD: "SIGCHLD",
	syscall.SIGCONT: "SIGCONT", syscall.SIGSTOP: "SIGSTOP", syscall.SIGTSTP: "SIGTSTP", syscall.SIGTTIN: "SIGTTIN",
	syscall.SIGTTOU: "SIGTTOU", syscall.SIGURG: "SIGURG", syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ",
	syscall.SIGVTALRM: "SIGVTALRM", syscall.SIGPROF: "SIGPROF", syscall.SIGWINCH: "SIGWINCH", syscall.SIGIO: "SIGIO",
	syscall.SIGPWR: "SIGPWR", syscall.SIGSYS: "SIGSYS", syscall.SIGSTKFLT: "SIGSTKFLT",
}

// SignalName returns "SIGTERM" for SIGTERM, or "SIG<n>" for a signal without a name.
func SignalName(sig syscall.Signal) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return fmt.Sprintf("SIG%d", int(sig))
}
