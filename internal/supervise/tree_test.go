package supervise_test

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/procfs"
	"github.com/supervisor/supervisor/internal/supervise"
)

// needCgroups skips the test where this process cannot create cgroups.
func needCgroups(t *testing.T) {
	t.Helper()
	if err := supervise.CheckCgroups(); err != nil {
		t.Skipf("cgroup v2 is not usable here: %v", err)
	}
}

// treeSpec is a program whose leader ignores SIGTERM and which leaves a
// grandchild in its own session and a double-forked daemon re-parented to us.
func treeSpec(kind supervise.SpawnerKind) supervise.Spec {
	s := spec("tree", kind, "--grandchild-setsid", "--grandchild-daemon", "--ignore-term", "--ready-line")
	s.StopGrace = 50 * time.Millisecond
	return s
}

// startTree serves one treeSpec program and returns the pids of the setsid
// grandchild and of the daemon, once the program said ready.
func startTree(t *testing.T, kind supervise.SpawnerKind, mode supervise.KillMode) (rn *running, setsid, daemon int) {
	t.Helper()
	g := group(supervise.OneForOne, treeSpec(kind))
	g.KillMode = mode
	rn = serve(t, g)
	setsid = pidFromLine(t, rn.rec.waitLine(t, "tree", "stream=stdout", "grandchild "), "grandchild")
	daemon = pidFromLine(t, rn.rec.waitLine(t, "tree", "stream=stdout", "daemon "), "daemon")
	rn.rec.waitLine(t, "tree", "stream=stdout", "ready")
	if got := rn.sup.KillMode(); got != mode {
		t.Fatalf("kill mode %q, want %q", got, mode)
	}
	return rn, setsid, daemon
}

func TestCgroupStopKillsWholeTree(t *testing.T) {
	t.Parallel()
	needCgroups(t)
	for _, kind := range supervise.Spawners {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			rn, setsid, daemon := startTree(t, kind, supervise.KillCgroup)
			dir := pidFromLineStr(t, rn.rec.waitLine(t, "kill mode chosen", "mode=cgroup"), "cgroup=")
			leader := rn.status(t, "tree").Pid
			// Everything runs in the program's cgroup, from clone on.
			for _, pid := range []int{leader, setsid, daemon} {
				cg := procCgroup(t, pid)
				if !strings.Contains(cg, "/prog-tree-") || !strings.HasSuffix(dir, cg[:strings.LastIndex(cg, "/")]) {
					t.Errorf("pid %d is in cgroup %q, want %s/prog-tree-N", pid, cg, dir)
				}
			}
			waitAdopted(t, daemon)
			rn.stop(t)
			rn.rec.waitLine(t, "grace period over", "how=cgroup.kill")
			// Serve returned: the cgroup was seen empty, then removed.
			for _, pid := range []int{leader, setsid, daemon} {
				if alive(pid) {
					t.Errorf("pid %d still alive after the stop", pid)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("cgroup %s still there after Serve returned: %v", dir, err)
			}
			// The escape check ran and found nothing of ours.
			for _, l := range rn.rec.lineList() {
				if strings.Contains(l, "escaped") && (strings.Contains(l, pidKV(setsid)) || strings.Contains(l, pidKV(daemon))) {
					t.Errorf("escape reported in cgroup mode: %s", l)
				}
			}
		})
	}
}

func TestGroupModeReportsEscapes(t *testing.T) {
	t.Parallel()
	for _, kind := range supervise.Spawners {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			rn, setsid, daemon := startTree(t, kind, supervise.KillGroup)
			rn.rec.waitLine(t, "kill mode chosen", "mode=group", "kill_mode = group")
			waitAdopted(t, daemon)
			t.Cleanup(func() { killAndWait(t, setsid, daemon) })
			rn.stop(t)
			// Neither left with the group: both are reported, by pid and command.
			rn.rec.waitLine(t, "escaped the process group", pidKV(setsid), "cmd=", "program=tree")
			rn.rec.waitLine(t, "escaped the process group", pidKV(daemon), "cmd=")
			if !alive(setsid) || !alive(daemon) {
				t.Errorf("escapees gone already (setsid %v, daemon %v): the test proves nothing", alive(setsid), alive(daemon))
			}
		})
	}
}

// waitAdopted waits until pid's parent is this process: a double-forked daemon
// is re-parented to its subreaper right after its first parent exits.
func waitAdopted(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d := time.Millisecond; ; d = min(2*d, 100*time.Millisecond) {
		st, err := procfs.ReadStat(pid)
		if err == nil && st.PPid == os.Getpid() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon %d: %+v %v; want our child (we are the subreaper)", pid, st, err)
		}
		time.Sleep(d) // polling the OS under a deadline
	}
}

// killAndWait SIGKILLs processes that escaped into our hands (we are their
// subreaper, so their pids cannot be reused before the reaper reaps them) and
// waits until they are gone.
func killAndWait(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for d := time.Millisecond; ; d = min(2*d, 100*time.Millisecond) {
		left := 0
		for _, pid := range pids {
			if _, err := procfs.ReadStat(pid); err == nil {
				left++
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("escapees %v not reaped within 10s", pids)
			return
		}
		time.Sleep(d) // polling the OS under a deadline
	}
}

func pidKV(pid int) string { return "pid=" + itoa(pid) + " " }

func procCgroup(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	t.Fatalf("pid %d: no cgroup v2 line in %q", pid, b)
	return ""
}

// pidFromLineStr returns the value after key (up to a space) in a log line.
func pidFromLineStr(t *testing.T, line, key string) string {
	t.Helper()
	_, after, ok := strings.Cut(line, key)
	if !ok {
		t.Fatalf("no %q in %q", key, line)
	}
	v, _, _ := strings.Cut(after, " ")
	return strings.Trim(v, `"`)
}
