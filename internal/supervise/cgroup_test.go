package supervise

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// A program's cgroup with cgroups of its own below it (what a supervisor run
// as a program leaves when it is SIGKILLed) is removed whole, as is a stale
// supervisor's tree found by sweepStale; a populated cgroup is left alone.
func TestCgroupRemovalIsRecursive(t *testing.T) {
	tree, err := newCgroupTree()
	if err != nil {
		t.Skipf("cgroup v2 is not usable here: %v", err)
	}
	defer tree.remove()
	c, err := tree.run("host", 1)
	if err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(c.path, "supervisor-1-1", "prog-x-1")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.remove(); err != nil {
		t.Fatalf("remove with nested cgroups: %v", err)
	}
	if _, err := os.Stat(c.path); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", c.path, err)
	}

	// A stale supervisor's tree of our PID namespace (pid 2^22+1 cannot exist:
	// above pid_max's ceiling), nested two levels deep, is swept; another
	// namespace's is not (its pids mean nothing here: it may be alive).
	parent := filepath.Dir(tree.dir)
	stale := filepath.Join(parent, fmt.Sprintf("supervisor-%d-4194305-1", pidNamespace()))
	if err := os.MkdirAll(filepath.Join(stale, "prog-host-1", "supervisor-1-4194306-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(parent, fmt.Sprintf("supervisor-%d-4194305-1", pidNamespace()+1))
	if err := os.MkdirAll(filepath.Join(other, "prog-w-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer rmdirTree(other)
	sweepStale(parent)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale tree %s not swept: %v", stale, err)
		rmdirTree(stale)
	}
	if _, err := os.Stat(filepath.Join(other, "prog-w-1")); err != nil {
		t.Errorf("another PID namespace's cgroup was swept: %v", err)
	}
}

// A dead supervisor's cgroup that still holds a process is not removed but
// reported, so that Serve can warn about the unsupervised leftovers.
func TestSweepReportsPopulatedStale(t *testing.T) {
	tree, err := newCgroupTree()
	if err != nil {
		t.Skipf("cgroup v2 is not usable here: %v", err)
	}
	defer tree.remove()
	parent := filepath.Dir(tree.dir)
	stale := filepath.Join(parent, fmt.Sprintf("supervisor-%d-4194307-1", pidNamespace()))
	prog := filepath.Join(stale, "prog-left-1")
	if err := os.MkdirAll(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	defer rmdirTree(stale)
	// Started here but never waited for: the test binary's Reaper reaps every
	// child (DESIGN rule 1); the cgroup.kill below ends it.
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Skipf("no sleep: %v", err)
	}
	defer func() {
		(&cgroup{path: stale}).kill()
		if !(&cgroup{path: prog}).waitEmpty(time.Now().Add(10 * time.Second)) {
			t.Errorf("sleep %d outlived cgroup.kill", sleep.Process.Pid)
		}
		sleep.Process.Release()
	}()
	if err := os.WriteFile(filepath.Join(prog, "cgroup.procs"), []byte(strconv.Itoa(sleep.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	got := sweepStale(parent)
	if !slices.Contains(got, stale) {
		t.Errorf("sweepStale = %q, want it to report %s", got, stale)
	}
	if pids := treePids(stale); !slices.Contains(pids, sleep.Process.Pid) {
		t.Errorf("treePids(%s) = %v, want %d in it", stale, pids, sleep.Process.Pid)
	}
	if _, err := os.Stat(prog); err != nil {
		t.Errorf("the populated stale cgroup was removed: %v", err)
	}
}
