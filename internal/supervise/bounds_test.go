package supervise_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/ipc"
	"github.com/supervisor/supervisor/internal/supervise"
)

// Hostile protocol children: what they can make the supervisor hold is bounded.

func init() {
	// lease-flood says Ready, then sends 5,000 Acquires with distinct names and
	// never reads its fd 4; it prints "flooded" once they are all written.
	helpers["lease-flood"] = func([]string) {
		c, enc := helperChild()
		if err := c.Ready(); err != nil {
			os.Exit(1)
		}
		for i := range 5000 {
			name := fmt.Sprintf("%0200d", i)
			if err := enc.Encode(ipc.Acquire{ID: uint64(i + 1), Name: name, Limit: 1}); err != nil {
				os.Exit(1)
			}
		}
		fmt.Println("flooded")
		waitTerm()
	}
	// lease-cap acquires distinct names until one is refused, and prints how
	// many it got and why the next was refused.
	helpers["lease-cap"] = func([]string) {
		c, _ := helperChild()
		go func() { _ = c.Serve(context.Background(), nil) }()
		if err := c.Ready(); err != nil {
			os.Exit(1)
		}
		for i := 0; ; i++ {
			if _, err := c.Acquire(context.Background(), fmt.Sprint("n", i), 1); err != nil {
				fmt.Printf("held %d, refused: %v\n", i, err)
				break
			}
		}
		waitTerm()
	}
	// beat-flood says Ready, then writes heartbeats as fast as a pipe takes them.
	helpers["beat-flood"] = func([]string) {
		c, _ := helperChild()
		if err := c.Ready(); err != nil {
			os.Exit(1)
		}
		w := bufio.NewWriterSize(os.NewFile(3, "ipc-out"), 64<<10)
		enc := ipc.NewEncoder(w)
		fmt.Println("flooding")
		for seq := uint64(1); ; seq++ {
			if enc.Encode(ipc.Heartbeat{Seq: seq}) != nil {
				os.Exit(1)
			}
			if seq%4096 == 0 && w.Flush() != nil {
				os.Exit(1)
			}
		}
	}
}

// helperChild does the protocol handshake on fds 3 and 4 and returns the Child
// and a raw encoder on fd 3, for frames the Child would not send that way.
func helperChild() (*ipc.Child, *ipc.Encoder) {
	out := os.NewFile(3, "ipc-out")
	c, err := ipc.NewChild(os.NewFile(4, "ipc-in"), out, os.Getpid(), os.Getenv("SUPERVISOR_PROGRAM"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return c, ipc.NewEncoder(out)
}

func waitTerm() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	<-stop
}

func helperSpec(t *testing.T, name, helper string) supervise.Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := spec(name, supervise.SpawnExec)
	s.Command = []string{exe}
	s.Env = []string{"SUPERVISE_TEST_HELPER=" + helper}
	s.Protocol = true
	s.StopGrace = time.Second
	return s
}

// A child that floods Acquires and reads nothing gets at most maxLeasesPerRun
// (64) leases; the rest are refused, the replies it does not read are dropped,
// and no goroutine is left per message. Not parallel: it counts goroutines.
func TestLeaseFloodIsBounded(t *testing.T) {
	before := runtime.NumGoroutine()
	rn := serve(t, group(supervise.OneForOne, helperSpec(t, "flood", "lease-flood")))
	rn.rec.waitLine(t, "flood", "stream=stdout", "flooded")
	rn.rec.waitLine(t, "does not read its fd 4")
	// Everything it sent was read (it printed "flooded" only once every frame
	// was written): the supervisor's goroutines are those of any protocol run.
	if n := runtime.NumGoroutine(); n > before+20 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before the flood:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	rn.stop(t)
	rn.rec.waitLine(t, "lease released: its holder's run ended", "names=64", "leases=64")
}

// An Acquire beyond the cap is refused in its Lease reply, with the reason.
func TestLeaseCapRefuses(t *testing.T) {
	t.Parallel()
	rn := serve(t, group(supervise.OneForOne, helperSpec(t, "greedy", "lease-cap")))
	rn.rec.waitLine(t, "greedy", "stream=stdout", "held 64, refused:", "at most 64")
}

// A child flooding heartbeats cannot starve the others: another program keeps
// restarting and Status keeps answering while it floods.
func TestHeartbeatFloodDoesNotStarve(t *testing.T) {
	t.Parallel()
	// false(1), not this test binary: the test measures the supervisor, not
	// how long a race-built binary takes to start on a loaded machine.
	flapper := spec("flapper", supervise.SpawnExec)
	flapper.Command = []string{"false"}
	flapper.MaxRestarts, flapper.BackoffMax = 0, time.Millisecond
	rn := serve(t, group(supervise.OneForOne, helperSpec(t, "flood", "beat-flood"), flapper))
	rn.rec.waitLine(t, "flood", "stream=stdout", "flooding")
	// Each restart is one backoff event: wait for 50 more while it floods.
	from := rn.status(t, "flapper").Restarts
	rn.rec.waitEvent(t, from+50, func(e supervise.Event) bool { return e.Program == "flapper" && e.To == supervise.StateBackoff })
	if st := rn.status(t, "flood"); st.State != supervise.StateRunning || st.HeartbeatSeq == 0 {
		t.Errorf("flood: %+v, want running with heartbeats counted", st)
	}
}

func init() {
	// fd-limit lowers its own fd limit to 300, then supervises 150 programs of
	// sleep in process-group mode (450 fds and the reserve: more than 300). It
	// prints the limit it ends with, each child's limit, and how many ran.
	helpers["fd-limit"] = func([]string) {
		low := unix.Rlimit{Cur: 300, Max: 300}
		if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &low, nil); err != nil {
			fmt.Println("prlimit:", err)
			os.Exit(1)
		}
		r, err := supervise.NewReaper(nil, supervise.ReaperOptions{})
		if err != nil {
			os.Exit(1)
		}
		defer r.Close()
		sleep, err := exec.LookPath("sleep")
		if err != nil {
			os.Exit(1)
		}
		var specs []supervise.Spec
		for i := range 150 {
			s := supervise.DefaultSpec()
			s.Name, s.Command, s.MinUptime = fmt.Sprint("s", i), []string{sleep, "3600"}, 0
			specs = append(specs, s)
		}
		running := make(chan int, 1000)
		log := hclog.New(&hclog.LoggerOptions{Output: os.Stdout, Level: hclog.Warn})
		sup, err := supervise.New(log, supervise.Group{Strategy: supervise.OneForOne, KillMode: supervise.KillGroup, Programs: specs},
			supervise.Options{Reaper: r, OnEvent: func(e supervise.Event) {
				if e.To == supervise.StateRunning || e.To == supervise.StateBackoff {
					running <- e.Pid
				}
			}})
		if err != nil {
			os.Exit(1)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = sup.Serve(ctx); close(done) }()
		ran, childLimit := 0, ""
		for range specs {
			if pid := <-running; pid != 0 {
				ran++
				if childLimit == "" {
					childLimit = openFilesLimit(pid)
				}
			}
		}
		var lim unix.Rlimit
		_ = unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &lim)
		fmt.Printf("limit %d, child limit %s, running %d\n", lim.Cur, childLimit, ran)
		cancel()
		<-done
	}
}

// openFilesLimit is the soft "Max open files" of pid, from /proc/PID/limits.
func openFilesLimit(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 5 && strings.HasPrefix(line, "Max open files") {
			return f[3]
		}
	}
	return "?"
}

// canRaiseHardLimits reports whether this process has CAP_SYS_RESOURCE (root
// usually has; some sandboxes drop it).
func canRaiseHardLimits() bool {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}

// runHelper runs a test helper as this process's child (through the reaper,
// the one waiter) and returns its exit and its output.
func runHelper(t *testing.T, name string) (supervise.Exit, string) {
	t.Helper()
	_, r, exited := startHelper(t, name)
	defer r.Close()
	out, _ := io.ReadAll(r) // until the helper and its children closed it
	return <-exited, string(out)
}

// startHelper starts this test binary as the helper name, its stdout and
// stderr on the pipe r; exited receives its exit. The caller closes r.
func startHelper(t *testing.T, name string) (p *supervise.Proc, r *os.File, exited chan supervise.Exit) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	exited = make(chan supervise.Exit, 1)
	p, err = testReaper.Spawn(supervise.SpawnRequest{Kind: supervise.SpawnExec, Argv: []string{exe},
		Env: append(os.Environ(), "SUPERVISE_TEST_HELPER="+name), Stdout: w, Stderr: w,
		OnExit: func(e supervise.Exit) { exited <- e }})
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	return p, r, exited
}

// When the programs need more fds than the limit, the supervisor raises its own
// (with CAP_SYS_RESOURCE) and its children keep the limit they would have had;
// without the privilege, it says how many programs do not fit.
func TestFdLimitRaisedForThePrograms(t *testing.T) {
	t.Parallel()
	e, out := runHelper(t, "fd-limit")
	if e.Code != 0 {
		t.Fatalf("helper: %s\n%s", e, out)
	}
	if canRaiseHardLimits() {
		if !strings.Contains(out, "child limit 300, running 150") || strings.Contains(out, "limit 300,") {
			t.Errorf("with CAP_SYS_RESOURCE, want the limit raised above 300, children at 300 and all 150 running; got:\n%s", out)
		}
		return
	}
	if !strings.Contains(out, "need=962 limit=300 programs_that_do_not_fit=221") {
		t.Errorf("without CAP_SYS_RESOURCE, want the programs that do not fit said; got:\n%s", out)
	}
}
