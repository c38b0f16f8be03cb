package supervise_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// Reload with added, removed, changed and unchanged programs: only the changed
// and removed ones are stopped, only the added and changed ones started; the
// unchanged one keeps its process.
func TestReload(t *testing.T) {
	t.Parallel()
	keep, change, drop := spec("keep", supervise.SpawnExec), spec("change", supervise.SpawnForkExec), spec("drop", supervise.SpawnReexec)
	rn := serve(t, group(supervise.OneForOne, keep, change, drop))
	kept := rn.rec.waitEvent(t, 1, is("keep", supervise.StateStarting))
	rn.rec.waitEvent(t, 1, is("drop", supervise.StateStarting))

	changed := change
	changed.StopGrace = 3 * time.Second
	add := spec("add", supervise.SpawnExec)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// An invalid group is refused whole.
	bad := group(supervise.OneForOne, keep, changed, add, spec("add", supervise.SpawnExec))
	if _, err := rn.sup.Reload(ctx, bad); err == nil {
		t.Fatal("Reload of a group with a duplicate name succeeded")
	}

	res, err := rn.sup.Reload(ctx, group(supervise.OneForOne, keep, changed, add))
	if err != nil {
		t.Fatal(err)
	}
	want := supervise.ReloadResult{Added: []string{"add"}, Removed: []string{"drop"}, Changed: []string{"change"}, Unchanged: []string{"keep"}}
	if !slices.Equal(res.Added, want.Added) || !slices.Equal(res.Removed, want.Removed) ||
		!slices.Equal(res.Changed, want.Changed) || !slices.Equal(res.Unchanged, want.Unchanged) {
		t.Errorf("Reload: %+v, want %+v", res, want)
	}
	rn.rec.waitEvent(t, 1, is("add", supervise.StateStarting))
	rn.rec.waitEvent(t, 2, is("change", supervise.StateStarting))
	st, err := rn.sup.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range st {
		names = append(names, s.Name)
		if s.Name == "keep" && s.Pid != kept.Pid {
			t.Errorf("the unchanged program was restarted: pid %d, was %d", s.Pid, kept.Pid)
		}
	}
	if !slices.Equal(names, []string{"keep", "change", "add"}) {
		t.Errorf("programs after reload: %v", names)
	}
	if got := rn.rec.transitions("keep"); slices.Contains(got, supervise.StateStopping) {
		t.Errorf("the unchanged program was stopped: %v", got)
	}
	if got := rn.rec.transitions("drop"); !slices.Contains(got, supervise.StateStopped) {
		t.Errorf("the removed program was not stopped: %v", got)
	}

	// [supervisor] changes are reported: the strategy applies from now on, a
	// kill_mode change only at the next start.
	g := group(supervise.OneForAll, keep, changed, add)
	g.KillMode = supervise.KillGroup // the other mode than the one in use
	if rn.sup.KillMode() == supervise.KillGroup {
		g.KillMode = supervise.KillCgroup
	}
	res, err = rn.sup.Reload(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Settings) != 2 || res.Settings[0] != "strategy one_for_one -> one_for_all" ||
		!strings.HasPrefix(res.Settings[1], "kill_mode "+string(g.KillMode)+": not applied until the supervisor restarts") {
		t.Errorf("settings reported: %q", res.Settings)
	}
	if len(res.Unchanged) != 3 || res.Added == nil || len(res.Added) != 0 {
		t.Errorf("a settings-only reload: %+v (empty lists must be [], not null)", res)
	}
}
