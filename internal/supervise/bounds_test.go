package supervise_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
	"time"

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
	flapper := spec("flapper", supervise.SpawnExec, "--run", "0s", "--exit", "1")
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
