package supervise_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/proctree"
	"github.com/supervisor/supervisor/internal/supervise"
)

func adoptedPids(r *supervise.Reaper) map[int]supervise.Orphan {
	out := map[int]supervise.Orphan{}
	for _, o := range r.Adopted() {
		out[o.Pid] = o
	}
	return out
}

// A child forks a grandchild and exits: the grandchild is re-parented to us (a
// subreaper), shows up in Adopted() with its identity, and is forgotten once it
// has exited and been reaped.
func TestAdoptedOrphan(t *testing.T) {
	t.Parallel()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	exited := make(chan supervise.Exit, 1)
	p, err := testReaper.Spawn(supervise.SpawnRequest{
		Kind:   supervise.SpawnExec,
		Argv:   []string{workerPath, "child", "--grandchild", "--ready-line"},
		Stdout: outW,
		OnExit: func(e supervise.Exit) { exited <- e },
	})
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	gpid := 0
	t.Cleanup(func() {
		p.SignalGroup(syscall.SIGKILL) // the child and, while it lives, the grandchild
		if gpid != 0 {
			testReaper.SignalAdopted(gpid, syscall.SIGKILL)
		}
	})
	sc := bufio.NewScanner(outR)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "grandchild "); ok {
			gpid, _ = strconv.Atoi(v)
		}
		if sc.Text() == "ready" {
			break
		}
	}
	if gpid == 0 {
		t.Fatalf("no grandchild pid from the child (scan error %v)", sc.Err())
	}

	// While the child lives, neither it (registered) nor the grandchild (not ours
	// yet) is an adopted orphan.
	before := adoptedPids(testReaper)
	if _, ok := before[p.Pid]; ok {
		t.Errorf("Adopted() lists the registered child %d", p.Pid)
	}
	if _, ok := before[gpid]; ok {
		t.Errorf("Adopted() lists grandchild %d while its parent lives", gpid)
	}

	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-exited:
		if e.Code != 0 {
			t.Fatalf("child exit %v, want exit status 0", e)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not exit after SIGTERM")
	}
	// The kernel re-parented the grandchild before its parent became a zombie,
	// so it is ours by now.
	o, ok := adoptedPids(testReaper)[gpid]
	if !ok {
		t.Fatalf("grandchild %d not in Adopted() after its parent exited: %v", gpid, testReaper.Adopted())
	}
	n, err := proctree.Read(gpid)
	if err != nil {
		t.Fatal(err)
	}
	if n.PPid != os.Getpid() || o.StartTicks != n.StartTicks || o.Comm != n.Comm {
		t.Errorf("orphan %+v; /proc says ppid %d, start %d, comm %q; want ppid %d", o, n.PPid, n.StartTicks, n.Comm, os.Getpid())
	}

	if err := testReaper.SignalAdopted(gpid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The reaper reaps it and forgets it; poll (under a deadline) for that.
	deadline := time.Now().Add(30 * time.Second)
	for d := time.Millisecond; ; d = min(2*d, 50*time.Millisecond) {
		if _, ok := adoptedPids(testReaper)[gpid]; !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still in Adopted() 30s after SIGTERM", gpid)
		}
		time.Sleep(d) // polling the reaper's view of the OS under a deadline
	}
	if n, err := proctree.Read(gpid); err == nil && n.StartTicks == o.StartTicks {
		t.Errorf("grandchild %d forgotten but still in /proc: %+v", gpid, n)
	}
	if err := testReaper.SignalAdopted(gpid, syscall.SIGTERM); err != os.ErrProcessDone {
		t.Errorf("SignalAdopted on a reaped orphan: %v, want os.ErrProcessDone", err)
	}
}

// Not an orphan: nothing the reaper spawned is ever listed.
func TestAdoptedIgnoresRegistered(t *testing.T) {
	t.Parallel()
	rn := serve(t, group(supervise.OneForOne, spec("plain", supervise.SpawnForkExec, "--ready-line")))
	rn.rec.waitLine(t, "plain", "ready")
	pid := rn.status(t, "plain").Pid
	for _, o := range testReaper.Adopted() {
		if o.Pid == pid {
			t.Fatalf("Adopted() lists the running program %d: %+v", pid, o)
		}
	}
}
