package initmode

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Flavor says whose rules init follows where tini, dumb-init and ours differ:
// which signals are forwarded, whether init stops itself after a job-control
// signal, the status of a program that cannot be started, and what happens to
// what the program leaves behind. The package doc has the table.
type Flavor int

const (
	// Ours is "supervisor init".
	Ours Flavor = iota
	// Tini is the binary run under the name tini or docker-init.
	Tini
	// DumbInit is the binary run under the name dumb-init.
	DumbInit
)

func (f Flavor) String() string {
	switch f {
	case Tini:
		return "tini"
	case DumbInit:
		return "dumb-init"
	default:
		return "supervisor"
	}
}

// maxSignal is the highest signal number on Linux (SIGRTMAX).
const maxSignal = 64

// uncatchable are the signals init cannot receive in a Go program at all: KILL
// and STOP (nobody can), PROF (the runtime keeps it for its profiler and never
// passes it to os/signal), URG (the runtime's preemption signal: os/signal
// would hand us the runtime's own, indistinguishable from a sender's), and 32,
// 33 and 34 (reserved by the runtime for glibc's and musl's internal signals:
// os/signal cannot ask for them).
var uncatchable = map[syscall.Signal]string{
	unix.SIGKILL: "cannot be caught",
	unix.SIGSTOP: "cannot be caught",
	unix.SIGPROF: "kept by the Go runtime for its profiler",
	unix.SIGURG:  "the Go runtime's preemption signal",
	32:           "reserved by the Go runtime (glibc's SIGCANCEL)",
	33:           "reserved by the Go runtime (glibc's SIGSETXID)",
	34:           "reserved by the Go runtime (musl's SIGSYNCCALL)",
}

// caught lists every signal init asks os/signal for: all but the uncatchable.
// None of them keeps the Go runtime's default (for ABRT, ILL, TRAP, BUS, FPE,
// SEGV, STKFLT and SYS sent by kill(2), a crash with a traceback; for HUP,
// INT, TERM, exit 2), so no signal sent to init can end it.
func caught() []os.Signal {
	var out []os.Signal
	for s := syscall.Signal(1); s <= maxSignal; s++ {
		if _, no := uncatchable[s]; !no {
			out = append(out, s)
		}
	}
	return out
}

// jobControl reports whether sig is one of the terminal's stop signals.
func jobControl(sig syscall.Signal) bool {
	return sig == unix.SIGTSTP || sig == unix.SIGTTIN || sig == unix.SIGTTOU
}

// forwards reports whether the flavor passes sig on (before any rewriting).
// CHLD is never forwarded: it is the reaper's business.
func (f Flavor) forwards(sig syscall.Signal) bool {
	if _, no := uncatchable[sig]; no || sig == unix.SIGCHLD {
		return false
	}
	switch f {
	case Tini:
		// tini leaves these unblocked with their default action (the faults and
		// SYS) or ignored (TTIN, TTOU), so it never sees them to forward.
		switch sig {
		case unix.SIGFPE, unix.SIGILL, unix.SIGSEGV, unix.SIGBUS, unix.SIGABRT, unix.SIGTRAP,
			unix.SIGSYS, unix.SIGTTIN, unix.SIGTTOU:
			return false
		}
	case Ours:
		// A SIGPIPE is most likely our own, from a write to a closed stderr.
		if sig == unix.SIGPIPE {
			return false
		}
	}
	return true
}

// stopsSelf reports whether init stops itself after forwarding the job-control
// signal sig (dumb-init's rule, and ours; tini does not).
func (f Flavor) stopsSelf(sig syscall.Signal) bool {
	return f != Tini && jobControl(sig)
}

// ParseSignal reads a signal as a name (TERM, SIGTERM, term), a number (15),
// or a real-time signal relative to SIGRTMIN (34) or SIGRTMAX (64):
// RTMIN+3, SIGRTMAX-2.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > maxSignal {
			return 0, fmt.Errorf("signal %d is not between 1 and %d", n, maxSignal)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	for _, rt := range []struct {
		prefix string
		base   int
	}{{"SIGRTMIN", 34}, {"SIGRTMAX", maxSignal}} {
		rest, ok := strings.CutPrefix(name, rt.prefix)
		if !ok {
			continue
		}
		n := rt.base
		if rest != "" {
			off, err := strconv.Atoi(rest) // "+3" or "-2"
			if err != nil || (rest[0] != '+' && rest[0] != '-') {
				return 0, fmt.Errorf("unknown signal %q", s)
			}
			n += off
		}
		if n < 34 || n > maxSignal {
			return 0, fmt.Errorf("%q is not a real-time signal (34 to %d)", s, maxSignal)
		}
		return syscall.Signal(n), nil
	}
	switch name { // aliases unix.SignalNum does not know
	case "SIGIOT":
		return unix.SIGABRT, nil
	case "SIGPOLL":
		return unix.SIGIO, nil
	}
	if n := unix.SignalNum(name); n != 0 {
		return n, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// ParseRewrite reads "FROM:TO" (names or numbers, as ParseSignal; TO may be 0,
// which drops FROM instead of forwarding it) into rw.
func ParseRewrite(rw map[syscall.Signal]syscall.Signal, s string) error {
	from, to, ok := strings.Cut(s, ":")
	if !ok {
		return fmt.Errorf("rewrite %q: want FROM:TO", s)
	}
	f, err := ParseSignal(from)
	if err != nil {
		return fmt.Errorf("rewrite %q: %w", s, err)
	}
	var t syscall.Signal
	if to != "0" {
		if t, err = ParseSignal(to); err != nil {
			return fmt.Errorf("rewrite %q: %w", s, err)
		}
	}
	rw[f] = t
	return nil
}

// SignalName is sig's name (SIGTERM), SIGRTMIN+n for a real-time one, or its
// number.
func SignalName(sig syscall.Signal) string {
	switch {
	case sig == 34:
		return "SIGRTMIN"
	case sig > 34 && sig <= maxSignal:
		return fmt.Sprintf("SIGRTMIN+%d", sig-34)
	}
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return strconv.Itoa(int(sig))
}

// Inherited is what init's own parent left it: signals ignored and signals
// blocked, as the kernel reports them for this process (/proc/self/status
// SigIgn and SigBlk) before init asks os/signal for anything.
//
// The Go runtime has installed its handlers before main runs, and it overrides
// an inherited SIG_IGN for every signal but HUP and INT (and the job-control
// signals, CONT and 32 to 34, which it leaves alone), so an ignored TERM, QUIT,
// USR1 or PIPE cannot be seen any more; likewise every thread has unblocked the
// signals the runtime must receive (HUP, INT, TERM, QUIT, the faults, CHLD,
// URG, PROF, 32 to 34). What is left is measured, not guessed: see the package
// doc.
type Inherited struct {
	Ignored []syscall.Signal
	Blocked []syscall.Signal
}

// ReadInherited reads Inherited from /proc/self/status. Call it before
// signal.Notify changes any disposition.
func ReadInherited() (Inherited, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return Inherited{}, fmt.Errorf("read inherited signals: %w", err)
	}
	defer f.Close()
	var in Inherited
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "SigIgn" && key != "SigBlk") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(val), 16, 64)
		if err != nil {
			return Inherited{}, fmt.Errorf("read inherited signals: %s: %w", key, err)
		}
		var set []syscall.Signal
		for s := syscall.Signal(1); s <= maxSignal; s++ {
			if mask&(1<<(s-1)) != 0 {
				set = append(set, s)
			}
		}
		if key == "SigIgn" {
			in.Ignored = set
		} else {
			in.Blocked = set
		}
	}
	if err := sc.Err(); err != nil {
		return Inherited{}, fmt.Errorf("read inherited signals: %w", err)
	}
	return in, nil
}

// ignoredForChild are the inherited-ignored signals os/signal can re-ignore
// around the spawn (Ignore works only on signals Notify can ask for). 32 and
// 34 stay ignored throughout, since nothing ever installs a handler for them.
func (in Inherited) ignoredForChild() []os.Signal {
	var out []os.Signal
	for _, s := range in.Ignored {
		if _, no := uncatchable[s]; !no && s != unix.SIGCHLD {
			out = append(out, s)
		}
	}
	return out
}

// ignoreRuntimeReserved gives 32 and 34, which no Go handler covers, the
// disposition SIG_IGN, so that one sent to init from outside its PID namespace
// (or to a non-PID-1 init) does not kill it. Called after the program was
// spawned: SIG_IGN survives exec, and the program must get the disposition init
// inherited.
func ignoreRuntimeReserved() error {
	var errs []error
	for _, s := range []syscall.Signal{32, 34} {
		// struct kernel_sigaction: handler, flags, restorer, mask (8 bytes).
		act := [4]uintptr{1 /* SIG_IGN */, 0, 0, 0}
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
			errs = append(errs, fmt.Errorf("ignore signal %d: %w", s, e))
		}
	}
	return errors.Join(errs...)
}
