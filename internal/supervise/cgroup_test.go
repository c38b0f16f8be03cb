package supervise

import (
	"os"
	"path/filepath"
	"testing"
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

	// A stale supervisor's tree (pid 2^22+1 cannot exist: above pid_max's
	// ceiling), nested two levels deep, is swept.
	stale := filepath.Join(filepath.Dir(tree.dir), "supervisor-4194305-1")
	if err := os.MkdirAll(filepath.Join(stale, "prog-host-1", "supervisor-4194306-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	sweepStale(filepath.Dir(tree.dir))
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale tree %s not swept: %v", stale, err)
		rmdirTree(stale)
	}
}
