package worker

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/procfs"
)

// The workers the init tests need: "orphans" leaves processes behind, "linger" is
// what it leaves, "reap-check" verifies that an adopter reaped them, "signals"
// reports every signal it gets. See the package doc.
func init() {
	workers["orphans"] = runOrphans
	workers["linger"] = runLinger
	workers["reap-check"] = runReapCheck
	workers["signals"] = runSignals
}

// runOrphans starts --count "linger" processes that outlive it, then exits with
// --exit (or, with --hold, waits for SIGTERM or SIGINT and exits 0). Each linger
// reads its stdin, the read end of a pipe whose only write end this process holds
// (close-on-exec, so no linger has it): when this process ends, every linger sees
// EOF and exits 0, after (or while) being re-parented to the adopter. Nothing here
// depends on timing.
func runOrphans(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("orphans", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int("count", 1, "how many orphans to leave behind (1..10000)")
	exit := fs.Int("exit", 0, "exit code once they are started (0..255)")
	setsid := fs.Bool("setsid", false, "start each orphan in its own session (out of reach of a group kill)")
	hold := fs.Bool("hold", false, "wait for SIGTERM or SIGINT instead of exiting; exit 0 then")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "orphans: unexpected argument %q\n", fs.Arg(0))
		return 2
	case *count < 1 || *count > 10000:
		fmt.Fprintf(stderr, "orphans: --count %d is outside 1..10000\n", *count)
		return 2
	case *exit < 0 || *exit > 255:
		fmt.Fprintf(stderr, "orphans: --exit %d is outside 0..255\n", *exit)
		return 2
	}
	sigs := make(chan os.Signal, 1)
	if *hold {
		signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
		defer signal.Stop(sigs)
	}
	if err := closeOnExecFrom(3); err != nil {
		fmt.Fprintf(stderr, "orphans: %v\n", err)
		return 1
	}
	// lingerR goes to every linger as fd 0; lingerW stays with us, unwritten, until
	// we exit. Both are close-on-exec, so no linger holds lingerW.
	lingerR, lingerW, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "orphans: %v\n", err)
		return 1
	}
	defer lingerW.Close()
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		lingerR.Close()
		fmt.Fprintf(stderr, "orphans: %v\n", err)
		return 1
	}
	argv := []string{os.Args[0], "linger"} // Dispatch and cmd/child both read argv[1] as the worker name
	for i := 0; i < *count; i++ {
		p, err := os.StartProcess(selfExe, argv, &os.ProcAttr{
			Files: []*os.File{lingerR, devNull, devNull},
			Sys:   &syscall.SysProcAttr{Setsid: *setsid},
		})
		if err != nil {
			fmt.Fprintf(stderr, "orphans: start orphan %d: %v\n", i+1, err)
			return 1 // those started so far see EOF and end
		}
		fmt.Fprintf(stdout, "orphan %d\n", p.Pid)
		// Never waited: our adopter reaps it.
		_ = p.Release()
	}
	lingerR.Close()
	devNull.Close()
	fmt.Fprintf(stdout, "orphans %d started\n", *count)
	if *hold {
		<-sigs
		return 0
	}
	return *exit
}

// runLinger reads stdin to EOF and exits 0.
func runLinger(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "linger: takes no arguments\n")
		return 2
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// runReapCheck runs PROGRAM as its child and waits for it (the one worker that
// waits: only for the child it started itself), then watches the processes
// adopted by its adopter (its parent, or itself as PID 1): it succeeds once none
// is left, other than itself, and fails with a count of what is left (zombies
// included) when --within passes first.
func runReapCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reap-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	within := fs.Duration("within", 30*time.Second, "how long the adopter may take to reap everything")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "reap-check: missing PROGRAM (reap-check [--within DUR] -- PROGRAM [ARG...])\n")
		return 2
	}
	if err := closeOnExecFrom(3); err != nil {
		fmt.Fprintf(stderr, "reap-check: %v\n", err)
		return 1
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(stdout, "reap-check: program failed: %v\n", err)
		return 1
	}
	self := os.Getpid()
	adopter := os.Getppid()
	if self == 1 {
		adopter = 1
	}
	deadline := time.Now().Add(*within)
	for d := time.Millisecond; ; d = min(2*d, 50*time.Millisecond) {
		left, zombies, err := adopted(adopter, self)
		if err != nil {
			fmt.Fprintf(stderr, "reap-check: %v\n", err)
			return 1
		}
		if left == 0 {
			fmt.Fprintf(stdout, "reap-check: 0 left, 0 zombies\n")
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(stdout, "reap-check: %d left, %d zombies\n", left, zombies)
			return 1
		}
		time.Sleep(d) // polling the OS under a deadline
	}
}

// adopted counts the processes whose parent is adopter, other than self, and how
// many of them are zombies.
func adopted(adopter, self int) (left, zombies int, err error) {
	all, err := procfs.All()
	if err != nil {
		return 0, 0, fmt.Errorf("list /proc: %w", err)
	}
	for _, st := range all {
		if st.Pid == self || st.PPid != adopter {
			continue
		}
		left++
		if st.State == 'Z' {
			zombies++
		}
	}
	return left, zombies, nil
}

// runSignals writes "ready" once it catches every signal, then "got SIGNAME" for
// each signal it receives (SIGURG, the Go runtime's own, and SIGCHLD excepted),
// and exits with --code when the --exit-on signal comes.
func runSignals(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("signals", flag.ContinueOnError)
	fs.SetOutput(stderr)
	exitOn := unix.SIGTERM
	fs.Func("exit-on", "exit on this signal (default TERM)", func(s string) error {
		name := strings.ToUpper(s)
		if !strings.HasPrefix(name, "SIG") {
			name = "SIG" + name
		}
		if exitOn = unix.SignalNum(name); exitOn == 0 {
			return fmt.Errorf("unknown signal %q", s)
		}
		return nil
	})
	code := fs.Int("code", 0, "exit code on the --exit-on signal (0..255)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *code < 0 || *code > 255 {
		fmt.Fprintf(stderr, "signals: want [--exit-on SIG] [--code 0..255] and no arguments\n")
		return 2
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs) // every signal: none keeps its default action, none is ignored
	defer signal.Stop(sigs)
	fmt.Fprintln(stdout, "ready")
	for s := range sigs {
		sig := s.(syscall.Signal)
		if sig == unix.SIGURG || sig == unix.SIGCHLD {
			continue
		}
		fmt.Fprintf(stdout, "got %s\n", unix.SignalName(sig))
		if sig == exitOn {
			return *code
		}
	}
	return 1 // not reached: sigs is never closed
}
