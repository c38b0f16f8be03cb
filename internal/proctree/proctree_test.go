package proctree_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/proctree"
)

// The test binary doubles as the children the tests start: with
// PROCTREE_TEST_HELPER=hold it reads stdin until EOF, then exits 0.
func TestMain(m *testing.M) {
	switch h := os.Getenv("PROCTREE_TEST_HELPER"); h {
	case "":
	case "hold":
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", h)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// startHold starts a helper that runs until its stdin is closed. The returned
// function closes it; the cleanup also reaps the helper.
func startHold(t *testing.T) (*exec.Cmd, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "hold-helper-arg")
	cmd.Env = append(os.Environ(), "PROCTREE_TEST_HELPER=hold")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	return cmd, func() { stdin.Close() }
}

// waitState polls the process table (under a deadline) until pid is in state.
func waitState(t *testing.T, pid int, state byte) *proctree.Node {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d := time.Millisecond; ; d = min(2*d, 50*time.Millisecond) {
		n, err := proctree.Read(pid)
		if err == nil && n.State == state {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: not in state %c after 30s (last: %+v, %v)", pid, state, n, err)
		}
		time.Sleep(d) // polling the OS under a deadline
	}
}

func TestSnapshotFindsSelfAndChild(t *testing.T) {
	cmd, _ := startHold(t)
	child := cmd.Process.Pid
	// Blocked reading its stdin: asleep. Until then it may still be starting.
	waitState(t, child, 'S')

	s, err := proctree.Take()
	if err != nil {
		t.Fatal(err)
	}
	self := s.Get(os.Getpid())
	if self == nil {
		t.Fatalf("the test process %d is not in the snapshot", os.Getpid())
	}
	if self.PPid != os.Getppid() || self.State != 'R' && self.State != 'S' {
		t.Errorf("self: ppid %d state %c, want ppid %d, state R or S", self.PPid, self.State, os.Getppid())
	}
	if len(self.Cmdline) == 0 || self.Cmdline[0] != os.Args[0] {
		t.Errorf("self: cmdline %q, want it to start with %q", self.Cmdline, os.Args[0])
	}
	if self.RSS <= 0 || self.Threads < 1 || self.Uptime <= 0 || self.Started.IsZero() {
		t.Errorf("self: rss %d, threads %d, uptime %v, started %v: want all positive", self.RSS, self.Threads, self.Uptime, self.Started)
	}
	n := s.Get(child)
	if n == nil {
		t.Fatalf("child %d is not in the snapshot", child)
	}
	// R too: the child is a Go program, whose leader thread the runtime may
	// wake (GC, sysmon) while it waits on its stdin (seen in a full run).
	if n.PPid != os.Getpid() || n.Parent != self || n.State != 'S' && n.State != 'R' {
		t.Errorf("child: ppid %d (parent %p, self %p), state %c; want ppid %d, state S or R", n.PPid, n.Parent, self, n.State, os.Getpid())
	}
	found := false
	for _, c := range self.Children {
		found = found || c == n
	}
	if !found {
		t.Errorf("child %d not among the test process's children", child)
	}
	if got := n.Command(); !strings.Contains(got, "hold-helper-arg") {
		t.Errorf("child command %q, want it to contain hold-helper-arg", got)
	}
	if len(s.Roots) == 0 || s.Roots[0].Pid > 2 {
		t.Errorf("roots %v: want pid 1 (or 0/2) first", s.Roots)
	}
}

func TestZombieShowsZ(t *testing.T) {
	cmd, release := startHold(t)
	child := cmd.Process.Pid
	release()
	// Wait until it has exited, without reaping it: a zombie now, for certain.
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, child, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	s, err := proctree.Take()
	if err != nil {
		t.Fatal(err)
	}
	n := s.Get(child)
	if n == nil || !n.Zombie() || n.PPid != os.Getpid() {
		t.Fatalf("exited child %d: %+v, want a zombie with parent %d", child, n, os.Getpid())
	}
	if got := n.Command(); !strings.HasPrefix(got, "[") || len(n.Cmdline) != 0 {
		t.Errorf("zombie command %q, want [comm]", got)
	}
	sub, err := s.Subtree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	out := new(strings.Builder)
	err = proctree.Render(out, sub, proctree.RenderOptions{
		Annotate: func(n *proctree.Node) []string {
			if n.Zombie() {
				return []string{"zombie"}
			}
			return nil
		},
		Metrics: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("-- %d Z [", child)
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "[zombie]") {
		t.Errorf("render:\n%s\nwant a line with %q and [zombie]", out, want)
	}
	if first := strings.SplitN(out.String(), "\n", 2)[0]; !strings.HasPrefix(first, strconv.Itoa(os.Getpid())+" ") {
		t.Errorf("first line %q, want the root %d", first, os.Getpid())
	}
	cmd.Wait() // reap it
	if _, err := proctree.Read(child); !errors.Is(err, proctree.ErrNotFound) {
		t.Errorf("reaped child %d: Read error %v, want ErrNotFound", child, err)
	}
}

func TestSubtreeMissing(t *testing.T) {
	s, err := proctree.Take()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subtree(-5); !errors.Is(err, proctree.ErrNotFound) {
		t.Errorf("Subtree(-5) error %v, want ErrNotFound", err)
	}
}

func TestRenderShape(t *testing.T) {
	leaf := func(pid int, state byte, cmd ...string) *proctree.Node {
		return &proctree.Node{Pid: pid, State: state, Comm: "c" + strconv.Itoa(pid), Cmdline: cmd}
	}
	root := leaf(1, 'S', "init")
	a, b, a1 := leaf(2, 'S', "a", "x"), leaf(3, 'Z'), leaf(4, 'R', strings.Repeat("y", 100))
	root.Children = []*proctree.Node{a, b}
	a.Children = []*proctree.Node{a1}
	got := new(strings.Builder)
	if err := proctree.Render(got, root, proctree.RenderOptions{Indent: "  "}); err != nil {
		t.Fatal(err)
	}
	want := "  1 S init\n" +
		"  |-- 2 S a x\n" +
		"  |   `-- 4 R " + strings.Repeat("y", 57) + "...\n" +
		"  `-- 3 Z [c3]\n"
	if got.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func BenchmarkTake(b *testing.B) {
	for b.Loop() {
		if _, err := proctree.Take(); err != nil {
			b.Fatal(err)
		}
	}
}
