package supervise_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/supervise"
)

// The light spawner (forking from a thread with a small fd table, used once the
// supervisor holds many fds) behaves as a plain fork does: every spawner kind,
// exit statuses, output, the protocol's extra fds, stops. Not parallel: it
// makes testReaper fork every process that way while it runs.
func TestLightSpawner(t *testing.T) {
	defer testReaper.SetLightSpawnMinFds(testReaper.SetLightSpawnMinFds(0))
	before := testReaper.LightSpawns()
	for _, kind := range supervise.Spawners {
		t.Run(string(kind), func(t *testing.T) {
			exits := spec("exits", kind, "--run", "0s", "--exit", "3")
			exits.Restart = supervise.RestartNever
			long := spec("long", kind)
			rn := serve(t, group(supervise.OneForOne, exits, long, pspec("proto", kind)))
			rn.rec.waitEvent(t, 1, is("exits", supervise.StateExited))
			if st := rn.status(t, "exits"); st.LastExit == nil || st.LastExit.Code != 3 {
				t.Fatalf("exits: last exit %v, want status 3", st.LastExit)
			}
			rn.rec.waitEvent(t, 1, is("proto", supervise.StateRunning))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			body, err := rn.sup.Request(ctx, "proto", "echo", []byte("hi"))
			if err != nil || string(body) != "hi" {
				t.Fatalf("echo through the protocol's fds: %q, %v", body, err)
			}
			rn.rec.waitEvent(t, 1, is("long", supervise.StateRunning))
			pid := rn.status(t, "long").Pid
			rn.rec.waitLine(t, "started", "stream=stdout")
			if err := rn.sup.Stop(ctx, "long"); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if _, err := os.Stat("/proc/" + itoa(pid)); err == nil {
				t.Errorf("pid %d still exists after its stop", pid)
			}
		})
	}
	if err := testReaper.LightSpawnerErr(); err != nil {
		t.Skipf("the light spawner cannot work here (every spawn was a plain fork): %v", err)
	}
	if n := testReaper.LightSpawns() - before; n < 6 {
		t.Errorf("%d processes forked through the light spawner, want 6 or more", n)
	}
}

func init() {
	// light-parent: a reaper that forks everything through the light spawner
	// starts `sleep 3600`, prints its pid and waits to be killed.
	helpers["light-parent"] = func([]string) {
		r, err := supervise.NewReaper(nil, supervise.ReaperOptions{})
		if err != nil {
			fmt.Println("reaper:", err)
			os.Exit(1)
		}
		r.SetLightSpawnMinFds(0)
		p, err := r.Spawn(supervise.SpawnRequest{Kind: supervise.SpawnExec, Argv: []string{"sleep", "3600"}, OnExit: func(supervise.Exit) {}})
		if err == nil && r.LightSpawnerErr() != nil {
			fmt.Println("unavailable:", r.LightSpawnerErr())
			p.Signal(syscall.SIGKILL)
			os.Exit(0)
		}
		if err != nil || r.LightSpawns() != 1 {
			fmt.Println("spawn:", err, r.LightSpawns())
			os.Exit(1)
		}
		fmt.Printf("pid %d\n", p.Pid)
		select {}
	}
}

// A process forked through the light spawner still dies with the supervisor:
// its parent-death signal is tied to the spawner's thread, which lives as long
// as the process.
func TestLightSpawnerChildDiesWithSupervisor(t *testing.T) {
	t.Parallel()
	parent, r, exited := startHelper(t, "light-parent")
	defer r.Close()
	line, err := bufio.NewReader(r).ReadString('\n')
	if strings.HasPrefix(line, "unavailable:") {
		<-exited
		t.Skipf("the light spawner cannot work here: %s", line)
	}
	var pid int
	if _, serr := fmt.Sscanf(line, "pid %d", &pid); err != nil || serr != nil {
		parent.Signal(syscall.SIGKILL)
		<-exited
		t.Fatalf("helper said %q (%v)", line, err)
	}
	// A pidfd taken while the helper (its parent) lives is the child's for sure;
	// it turns readable when the child exits.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd of %d: %v", pid, err)
	}
	defer unix.Close(pidfd)
	if err := parent.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	// The child, orphaned, comes to testReaper (a subreaper), which reaps it.
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if err == unix.EINTR {
			continue
		}
		if n == 0 || err != nil {
			unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
			t.Fatalf("pid %d outlived its supervisor by 10s (%v)", pid, err)
		}
		return
	}
}
