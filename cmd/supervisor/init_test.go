package main_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/procfs"
)

// initModes are the two ways init runs: PID 1 of a new PID namespace, and a plain
// process (a child subreaper).
var initModes = []struct {
	name string
	pid1 bool
}{{"pid1", true}, {"subreaper", false}}

// startInit starts "supervisor init ARGS", as PID 1 of a new PID namespace when
// pid1 is set, and returns it with init's own pid (as seen from here).
func startInit(t *testing.T, pid1 bool, args ...string) (*proc, func() int) {
	t.Helper()
	argv := append([]string{bin("supervisor"), "init"}, args...)
	if pid1 {
		argv = append(asPID1(t), argv...)
	}
	p := startCmd(t, exec.Command(argv[0], argv[1:]...))
	initPid := func() int {
		if pid1 {
			return childOf(t, p.cmd.Process.Pid)
		}
		return p.cmd.Process.Pid
	}
	return p, initPid
}

func TestInitExitCodes(t *testing.T) {
	t.Parallel()
	notExec := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		doc  string
		argv []string
		want int
	}{
		{"exit 0", []string{bin("child"), "--run", "0s", "--exit", "0"}, 0},
		{"exit 1", []string{bin("child"), "--run", "0s", "--exit", "1"}, 1},
		{"exit 2", []string{bin("child"), "--run", "0s", "--exit", "2"}, 2},
		{"exit 254", []string{bin("child"), "--run", "0s", "--exit", "254"}, 254},
		{"exit 255", []string{bin("child"), "--run", "0s", "--exit", "255"}, 255},
		{"SIGTERM", []string{bin("child"), "--run", "0s", "--signal-self", "TERM"}, 128 + 15},
		{"SIGKILL", []string{bin("child"), "--run", "0s", "--signal-self", "KILL"}, 128 + 9},
		{"SIGUSR1", []string{bin("child"), "--run", "0s", "--signal-self", "USR1"}, 128 + 10},
		{"missing program", []string{"/nonexistent/program"}, 127},
		{"not executable", []string{notExec}, 126},
	}
	for _, mode := range initModes {
		for _, tc := range cases {
			t.Run(mode.name+"/"+tc.doc, func(t *testing.T) {
				t.Parallel()
				p, _ := startInit(t, mode.pid1, append([]string{"--"}, tc.argv...)...)
				if got := p.exitCode(t); got != tc.want {
					t.Fatalf("exit code %d, want %d:\n%s", got, tc.want, p.log())
				}
			})
		}
	}
}

// Every signal of the allow-list sent to init reaches the program.
func TestInitForwardsSignals(t *testing.T) {
	t.Parallel()
	for _, mode := range initModes {
		for _, group := range []bool{false, true} {
			name := mode.name
			args := []string{"--", bin("child"), "signals", "--exit-on", "USR2", "--code", "9"}
			if group {
				name += "/group"
				args = append([]string{"-g"}, args...)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				p, initPid := startInit(t, mode.pid1, args...)
				p.waitLine(t, "ready")
				pid := initPid()
				for _, sig := range []syscall.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT,
					unix.SIGUSR1, unix.SIGWINCH, unix.SIGALRM, unix.SIGPWR, unix.SIGUSR2} {
					if err := syscall.Kill(pid, sig); err != nil {
						t.Fatal(err)
					}
					p.waitLine(t, "got "+unix.SignalName(sig))
				}
				if got := p.exitCode(t); got != 9 {
					t.Fatalf("exit code %d, want 9:\n%s", got, p.log())
				}
				for _, never := range []string{"got SIGCHLD", "got SIGURG", "got SIGPIPE"} {
					if strings.Contains(p.log(), never) {
						t.Errorf("forwarded what it must not (%s):\n%s", never, p.log())
					}
				}
			})
		}
	}
}

// With -g the signal goes to the program's whole process group: the orphans'
// lingers, in that group, die by the SIGTERM itself.
func TestInitGroupForwarding(t *testing.T) {
	t.Parallel()
	p, initPid := startInit(t, false, "-g", "--log-level", "info", "--", bin("child"), "orphans", "--count", "3", "--hold")
	p.waitLine(t, "orphans 3 started")
	if err := syscall.Kill(initPid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
	}
	if n := strings.Count(p.log(), `reaped adopted orphan`); n != 3 {
		t.Fatalf("%d orphans reaped, want 3:\n%s", n, p.log())
	}
	if n := strings.Count(p.log(), `exit="signal SIGTERM"`); n != 3 {
		t.Errorf("%d orphans ended by SIGTERM, want 3 (the group got it):\n%s", n, p.log())
	}
}

// 100 orphans left by the program's child are all reaped by init, and a check
// inside the namespace (or below the subreaper) sees no process and no zombie
// left. The check runs as init's program, so init's exit code is its verdict.
func TestInitReapsOrphans(t *testing.T) {
	t.Parallel()
	for _, mode := range initModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			p, _ := startInit(t, mode.pid1, "--log-level", "info", "--",
				bin("child"), "reap-check", "--", bin("child"), "orphans", "--count", "100")
			if got := p.exitCode(t); got != 0 {
				t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
			}
			p.waitLine(t, "reap-check: 0 left, 0 zombies")
			if n := strings.Count(p.log(), "reaped adopted orphan"); n != 100 {
				t.Fatalf("init reaped %d orphans, want 100:\n%s", n, p.log())
			}
		})
	}
}

// Negative control: the same check, with a PID 1 that does not reap (the
// checker itself), finds the zombies. So the check above can fail.
func TestReapCheckSeesZombiesWithoutInit(t *testing.T) {
	t.Parallel()
	argv := append(asPID1(t), bin("child"), "reap-check", "--within", "1s", "--", bin("child"), "orphans", "--count", "10")
	p := startCmd(t, exec.Command(argv[0], argv[1:]...))
	if got := p.exitCode(t); got != 1 {
		t.Fatalf("exit code %d, want 1:\n%s", got, p.log())
	}
	p.waitLine(t, "reap-check: 10 left, 10 zombies")
}

// What the program leaves behind (here a grandchild in its own session, which
// runs until SIGTERM) is stopped before init exits, with the program's status.
func TestInitStopsLeftovers(t *testing.T) {
	t.Parallel()
	for _, mode := range initModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			p, _ := startInit(t, mode.pid1, "--log-level", "info", "--",
				bin("child"), "--grandchild-setsid", "--run", "0s", "--exit", "5")
			if got := p.exitCode(t); got != 5 {
				t.Fatalf("exit code %d, want 5:\n%s", got, p.log())
			}
			p.waitLine(t, "processes left behind after the program ended", "count=1", "signal=SIGTERM")
			p.waitLine(t, "every process left behind has ended")
		})
	}
}

// SIGTSTP is forwarded; then init stops itself, unless it is PID 1; the SIGCONT
// that resumes it is forwarded too.
func TestInitJobControl(t *testing.T) {
	t.Parallel()
	for _, mode := range initModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			p, initPid := startInit(t, mode.pid1, "--", bin("child"), "signals")
			p.waitLine(t, "ready")
			pid := initPid()
			if err := syscall.Kill(pid, syscall.SIGTSTP); err != nil {
				t.Fatal(err)
			}
			p.waitLine(t, "got SIGTSTP")
			if mode.pid1 {
				// Not stopped: it still forwards.
				if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
					t.Fatal(err)
				}
				p.waitLine(t, "got SIGUSR1")
			} else {
				waitProcState(t, pid, 'T')
				if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				p.waitLine(t, "got SIGCONT")
			}
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if got := p.exitCode(t); got != 0 {
				t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
			}
		})
	}
}

// waitProcState polls /proc until pid is in state (e.g. 'T', stopped).
func waitProcState(t *testing.T, pid int, state byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d := time.Millisecond; ; d = min(2*d, 50*time.Millisecond) {
		st, err := procfs.ReadStat(pid)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never reached state %c: %+v", pid, state, st)
		}
		time.Sleep(d) // polling the OS under a deadline
	}
}

func TestInitUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"init"},
		{"init", "--"},
		{"init", "--grace", "-1s", "--", "true"},
		{"init", "--log-level", "loud", "--", "true"},
		{"init", "--bogus", "--", "true"},
	} {
		out, err := exec.Command(bin("supervisor"), args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || len(out) == 0 {
			t.Errorf("supervisor %q: %v, want exit code 2 with a message; output:\n%s", args, err, out)
		}
	}
	out, err := exec.Command(bin("supervisor"), "init", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "usage: supervisor init") {
		t.Errorf("init --help: %v\n%s", err, out)
	}
}

// In a root file system without /dev/null (here: a mount namespace with an
// empty tmpfs on /dev), init and run start, and a program reads EOF from its
// stdin as it would from /dev/null: the reaper gives it an empty pipe.
func TestNoDevNull(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare --mount")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not installed")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	// $0: what to run once /dev is empty.
	noDev := func(args ...string) *exec.Cmd {
		return exec.Command(unshare, append([]string{"--mount", "--propagation", "private", sh, "-c",
			`mount -t tmpfs none /dev && [ ! -e /dev/null ] && exec "$0" "$@"`}, args...)...)
	}
	out, errOut, code := runBinary(t, noDev(bin("supervisor"), "init", "--", bin("child"), "--run", "0s", "--exit", "3"))
	if code != 3 || strings.Contains(errOut, "cannot start the reaper") || !strings.Contains(errOut, "no /dev/null") {
		t.Errorf("init without /dev/null: exit %d, want 3 (the program's) and a warning:\n%s%s", code, out, errOut)
	}
	p := startCmd(t, noDev(bin("supervisor"), "run", "--socket", "none", "--", sh, "-c", `read x; echo "read status $?"`))
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("run without /dev/null: exit %d, want 0:\n%s", got, p.log())
	}
	// read's status 1 is EOF: the program's stdin was empty and closed, as
	// /dev/null would have been.
	p.logSays(t, "no /dev/null: children get an empty pipe as stdin instead", "read status 1", "exited successfully")
}
