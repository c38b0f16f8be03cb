package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// terminal is an interactive bash on a pseudo-terminal the test opened.
type terminal struct {
	ptm  *os.File
	bash *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	wake chan struct{}
}

// openPty opens a pseudo-terminal pair: /dev/ptmx, unlocked (TIOCSPTLCK), and
// the terminal it names (TIOCGPTN).
func openPty(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0) // pollable: Close ends a Read
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	ptm = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		ptm.Close()
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		ptm.Close()
		t.Fatalf("pty number: %v", err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ptm.Close()
		t.Fatal(err)
	}
	return ptm, pts
}

// startTerminal starts bash -i as the session leader of a new pseudo-terminal.
// Cleanup SIGKILLs every process of its session, and bash.
func startTerminal(t *testing.T) *terminal {
	t.Helper()
	ptm, pts := openPty(t)
	bash := exec.Command("bash", "--norc", "--noprofile", "-i")
	bash.Env = append(os.Environ(), "PS1=PROMPT> ", "TERM=dumb", "INPUTRC=/dev/null")
	bash.Stdin, bash.Stdout, bash.Stderr = pts, pts, pts
	bash.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := bash.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	term := &terminal{ptm: ptm, bash: bash, wake: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			select {
			case term.wake <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		killSession(bash.Process.Pid)
		_ = bash.Process.Kill()
		_ = bash.Wait()
		ptm.Close()
		<-done
	})
	term.expect(t, "PROMPT> ")
	return term
}

// killSession SIGKILLs every process whose session is sid (pidfds: each is
// checked again once pinned).
func killSession(sid int) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == sid {
			continue
		}
		if s, err := unix.Getsid(pid); err == nil && s == sid {
			if fd, err := unix.PidfdOpen(pid, 0); err == nil {
				if s, err := unix.Getsid(pid); err == nil && s == sid {
					_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
				}
				unix.Close(fd)
			}
		}
	}
}

// programsNamed lists the descendants of root whose comm is name.
func programsNamed(root int, name string) []int {
	ppid := map[int]int{}
	comm := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		var pid, pp int
		var state string
		fmt.Sscan(s[:i], &pid)
		fmt.Sscan(s[j+1:], &state, &pp)
		ppid[pid], comm[pid] = pp, s[i+1:j]
	}
	var out []int
	for pid, c := range comm {
		if c != name {
			continue
		}
		for p := ppid[pid]; p > 1; p = ppid[p] {
			if p == root {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

func (term *terminal) send(t *testing.T, s string) {
	t.Helper()
	if _, err := term.ptm.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// expect waits until the output since the last expect holds want, and
// consumes it.
func (term *terminal) expect(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		term.mu.Lock()
		s := term.out.String()
		if i := strings.Index(s, want); i >= 0 {
			rest := s[i+len(want):]
			term.out.Reset()
			term.out.WriteString(rest)
			term.mu.Unlock()
			return
		}
		term.mu.Unlock()
		select {
		case <-term.wake:
		case <-deadline:
			t.Fatalf("the terminal never showed %q; it shows:\n%q", want, s)
		}
	}
}

// Ctrl-Z and fg at an interactive bash: the shell gets its prompt back with the
// job stopped, fg resumes it with the terminal, and the program then reads the
// terminal again; Ctrl-D ends it and init exits 0. For our modes, as PID 1 and
// as a subreaper, and for the tini and dumb-init names (real tini freezes
// here: its differential is that it does not).
func TestInitJobControlAtTerminal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		doc  string
		argv func(t *testing.T) []string
	}{
		{"ours", func(t *testing.T) []string { return []string{bin("supervisor"), "init", "--"} }},
		{"ours -g", func(t *testing.T) []string { return []string{bin("supervisor"), "init", "-g", "--"} }},
		{"ours --session", func(t *testing.T) []string { return []string{bin("supervisor"), "init", "--session", "--"} }},
		{"tini", func(t *testing.T) []string { return []string{dropIn(t, "tini"), "-s", "--"} }},
		{"dumb-init", func(t *testing.T) []string { return []string{dropIn(t, "dumb-init")} }},
		{"real dumb-init", func(t *testing.T) []string { return []string{realTool(t, "dumb-init")} }},
	}
	for _, mode := range initModes {
		for _, tc := range cases {
			t.Run(mode.name+"/"+tc.doc, func(t *testing.T) {
				t.Parallel()
				argv := tc.argv(t)
				if mode.pid1 {
					argv = append(append(asPID1(t), "--kill-child"), argv...)
				}
				term := startTerminal(t)
				// The program prefixes what it reads with "got:", so its output
				// cannot be mistaken for the terminal's echo of what we type.
				term.send(t, strings.Join(argv, " ")+" sed -u s/^/got:/\n")
				term.send(t, "one\n")
				term.expect(t, "got:one\r\n")
				term.send(t, "\x1a") // Ctrl-Z
				term.expect(t, "Stopped")
				term.expect(t, "PROMPT> ")
				// Under dumb-init's rule the program is stopped by a SIGSTOP
				// init sends before stopping itself, so it may still be
				// reading the terminal when the shell's prompt is back.
				pollUntil(t, "the program stopped", func() bool {
					pids := programsNamed(term.bash.Process.Pid, "sed")
					return len(pids) == 1 && stopped(pids[0])
				})
				term.send(t, "fg\n")
				term.send(t, "two\n")
				term.expect(t, "got:two\r\n")
				term.send(t, "\x04") // Ctrl-D: the program ends, and init with it
				term.expect(t, "PROMPT> ")
				term.send(t, "echo status=$?\n")
				term.expect(t, "status=0")
			})
		}
	}
}
