package main_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// When the supervisor is SIGKILLed it cannot stop anything, but its direct
// children die with it (Pdeathsig SIGKILL, set at fork on a thread that lives
// as long as the process), whatever their spawner and the kill mode.
func TestSIGKILLedSupervisorTakesItsChildren(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"group", "auto"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			conf := "[supervisor]\nkill_mode = " + mode + "\n"
			var names []string
			for _, sp := range []string{"exec", "forkexec", "reexec"} {
				for i := 1; i <= 2; i++ {
					name := sp + strconv.Itoa(i)
					cmd := "CHILD --ready-line"
					if sp == "reexec" {
						cmd = "child --ready-line"
					}
					conf += "[program:" + name + "]\ncommand = " + cmd + "\nspawner = " + sp + "\n"
					names = append(names, name)
				}
			}
			p := start(t, "run", "-c", writeConf(t, conf))
			modeLine := p.waitLine(t, "kill mode chosen")
			var pidfds []int
			t.Cleanup(func() {
				for _, fd := range pidfds {
					unix.Close(fd)
				}
			})
			pids := map[int]string{}
			for _, n := range names {
				p.waitLine(t, n+" | ready")
				pid := valueAfter(t, p.waitLine(t, "supervisor."+n+":", "program started"), "pid=")
				// Pin each child with a pidfd while it is alive and unreaped (the
				// supervisor has not stopped anything), so its death is seen even
				// if its pid is reused afterwards.
				fd, err := unix.PidfdOpen(pid, 0)
				if err != nil {
					t.Fatalf("pidfd_open %d: %v", pid, err)
				}
				pidfds = append(pidfds, fd)
				pids[fd] = n + " (pid " + strconv.Itoa(pid) + ")"
			}
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if got := p.exitCode(t); got != 128+int(syscall.SIGKILL) {
				t.Fatalf("exit code %d, want 137", got)
			}
			// A pidfd turns readable when its process has ended.
			deadline := time.Now().Add(10 * time.Second)
			for _, fd := range pidfds {
				for {
					left := time.Until(deadline)
					if left <= 0 {
						t.Fatalf("child %s still alive 10s after the supervisor was SIGKILLed:\n%s", pids[fd], p.log())
					}
					n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left/time.Millisecond)+1)
					if err == nil && n == 1 {
						break
					}
					if err != nil && err != unix.EINTR {
						t.Fatal(err)
					}
				}
			}
			if !strings.Contains(modeLine, "mode=cgroup") {
				return
			}
			// The cgroups outlive the supervisor (nobody is left to remove them);
			// they are empty now. Remove them, deepest first.
			dir := strings.Trim(strings.Fields(modeLine[strings.Index(modeLine, "cgroup=")+len("cgroup="):])[0], `"`)
			if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
				// Another supervisor of this PID namespace (a parallel test)
				// started since and swept them: empty, and their pid gone.
				t.Logf("the supervisor's cgroup %s was swept already", dir)
				return
			} else if err != nil {
				t.Fatalf("the supervisor's cgroup %s: %v; want it left behind", dir, err)
			}
			removeCgroupTree(t, dir)
		})
	}
}

// removeCgroupTree removes an empty cgroup and its children, retrying under a
// deadline while the last processes finish exiting.
func removeCgroupTree(t *testing.T, dir string) {
	t.Helper()
	kids, _ := filepath.Glob(filepath.Join(dir, "prog-*"))
	deadline := time.Now().Add(10 * time.Second)
	for _, d := range append(kids, dir) {
		for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
			err := unix.Rmdir(d)
			if err == nil || err == unix.ENOENT {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("cannot remove cgroup %s: %v", d, err)
				return
			}
			time.Sleep(delay) // polling the OS under a deadline
		}
	}
}

// valueAfter returns the integer that follows key in a log line.
func valueAfter(t *testing.T, line, key string) int {
	t.Helper()
	i := strings.Index(line, key)
	if i < 0 {
		t.Fatalf("no %q in %q", key, line)
	}
	f := strings.Fields(line[i+len(key):])
	n, err := strconv.Atoi(strings.Trim(f[0], `"`))
	if err != nil {
		t.Fatalf("no number after %q in %q", key, line)
	}
	return n
}
