package supervise

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// ReloadResult says what a Reload did, by program name, in config order.
type ReloadResult struct {
	Added     []string `json:"added"`     // started (if autostart)
	Removed   []string `json:"removed"`   // stopped and forgotten
	Changed   []string `json:"changed"`   // stopped, then started with the new settings (if autostart)
	Unchanged []string `json:"unchanged"` // not touched
	// Settings describes changes to the [supervisor] section: "strategy
	// one_for_one -> one_for_all" (in force from now on), or a kill_mode change,
	// which is chosen once at start and so waits for the next start.
	Settings []string `json:"settings,omitempty"`
}

func (r ReloadResult) String() string {
	part := func(what string, names []string) string {
		if len(names) == 0 {
			return ""
		}
		return fmt.Sprintf("%s %s; ", what, strings.Join(names, ", "))
	}
	s := part("added", r.Added) + part("removed", r.Removed) + part("changed", r.Changed) + part("unchanged", r.Unchanged)
	for _, x := range r.Settings {
		s += x + "; "
	}
	return strings.TrimSuffix(s, "; ")
}

type reloadMsg struct {
	g     Group
	reply chan reloadReply
	// Set by reload for its continuation (reloaded).
	res  ReloadResult
	old  map[string]*program
	kind map[string]string // name -> added, changed, unchanged
}

type reloadReply struct {
	res ReloadResult
	err error
}

func (reloadMsg) isMessage() {}

// Reload replaces the group with g, as supervisord's update does: programs new in
// g start (if autostart), programs no longer in g are stopped and forgotten,
// programs whose settings changed are stopped and started again with the new
// ones, and the rest are not touched (same process, same counters). Removed and
// changed programs are stopped as at shutdown. An invalid g is
// refused whole and nothing changes. Reload returns once the new programs were
// spawned. The strategy is g's from then on.
func (s *Supervisor) Reload(ctx context.Context, g Group) (ReloadResult, error) {
	if g.Strategy == "" {
		g.Strategy = OneForOne
	}
	if err := g.Validate(); err != nil {
		return ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	if err := s.opts.Workers.CheckGroup(&g); err != nil {
		return ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	if err := g.CheckUsers(); err != nil {
		return ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	m := reloadMsg{g: g, reply: make(chan reloadReply, 1)}
	s.inbox.push(m)
	select {
	case r := <-m.reply:
		return r.res, r.err
	case <-ctx.Done():
		// Sent is sent: the state goroutine goes on with it, and logs the end.
		return ReloadResult{}, fmt.Errorf("%w (%w)", ErrReloadDetached, ctx.Err())
	case <-s.done:
		return ReloadResult{}, ErrShuttingDown
	}
}

// ErrReloadDetached is returned by Reload when its ctx ended first: the reload
// was handed over and goes on (it is not undone); its outcome is logged.
var ErrReloadDetached = errors.New("reload: handed over and still in progress; its outcome will be logged")

// reload runs a Reload on the state goroutine.
func (s *Supervisor) reload(m reloadMsg) {
	switch {
	case s.m.shuttingDown:
		m.reply <- reloadReply{err: fmt.Errorf("reload: %w", ErrShuttingDown)}
		return
	case s.m.busy():
		m.reply <- reloadReply{err: fmt.Errorf("reload: %w", ErrBusy)}
		return
	}
	old := make(map[string]*program, len(s.progs))
	for _, p := range s.progs {
		old[p.spec.Name] = p
	}
	res := ReloadResult{Added: []string{}, Removed: []string{}, Changed: []string{}, Unchanged: []string{}}
	if m.g.Strategy != s.group.Strategy {
		res.Settings = append(res.Settings, fmt.Sprintf("strategy %s -> %s", s.group.Strategy, m.g.Strategy))
	}
	// The kill mode is chosen once, at start: compare the file's with the mode in
	// use (not with the last file's), so a pending change is said at every reload.
	want, was := cmp.Or(m.g.KillMode, KillAuto), cmp.Or(s.group.KillMode, KillAuto)
	if (want != KillAuto && want != s.killMode) || (want == KillAuto && was != KillAuto) {
		note := fmt.Sprintf("kill_mode %s: not applied until the supervisor restarts (chosen once, at start); %s is in use", want, s.killMode)
		res.Settings = append(res.Settings, note)
		s.log.Warn("reload: " + note)
	}
	kind := map[string]string{} // name -> added, changed, unchanged
	for _, spec := range m.g.Programs {
		switch p, ok := old[spec.Name]; {
		case !ok:
			res.Added = append(res.Added, spec.Name)
			kind[spec.Name] = "added"
		case reflect.DeepEqual(p.spec, spec):
			res.Unchanged = append(res.Unchanged, spec.Name)
			kind[spec.Name] = "unchanged"
		default:
			res.Changed = append(res.Changed, spec.Name)
			kind[spec.Name] = "changed"
		}
	}
	var toStop []*program
	for i := len(s.progs) - 1; i >= 0; i-- {
		p := s.progs[i]
		switch kind[p.spec.Name] {
		case "":
			res.Removed = append([]string{p.spec.Name}, res.Removed...)
			fallthrough
		case "changed":
			p.held = false
			toStop = append(toStop, p)
		}
	}
	s.checkFds(&m.g)
	s.log.Info("reloading", "result", res.String())
	m.res, m.old, m.kind = res, old, kind
	s.m.replacing(toStop)
	s.m.stopSequence(toStop, m, time.Now())
	s.do(s.m.take())
}

// reloaded ends a Reload once its stops are done: the new list of programs
// takes over, and those added or changed start.
func (s *Supervisor) reloaded(m reloadMsg) {
	res, old, kind := m.res, m.old, m.kind
	progs := make([]*program, len(m.g.Programs))
	for i, spec := range m.g.Programs {
		if kind[spec.Name] == "unchanged" {
			progs[i] = old[spec.Name]
		} else {
			progs[i] = s.newProgram(spec)
		}
	}
	for _, name := range res.Removed {
		old[name].log.Info("program removed by reload")
	}
	for _, name := range append(res.Removed, res.Changed...) {
		// Its cgroups go now if empty, else when Serve returns.
		if q := old[name]; q.cg != nil || len(q.oldCgs) > 0 {
			s.releaseCgroup(q)
			if len(q.oldCgs) > 0 {
				s.retired = append(s.retired, q)
			}
		}
	}
	s.progs, s.group = progs, m.g
	s.m.setPrograms(m.g.Strategy, progs)
	s.publishNames()
	s.do(s.m.startNew(func(p *program) bool { return kind[p.spec.Name] != "unchanged" }, time.Now()))
	s.log.Info("reloaded", "result", res.String())
	m.reply <- reloadReply{res: res}
}
