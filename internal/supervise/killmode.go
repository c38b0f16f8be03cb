package supervise

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// chooseKillMode decides, once per Serve, whether programs get cgroups, creates
// this Supervisor's parent cgroup if so, and logs the choice and, for a
// fallback, why. It fails only when the group demands KillCgroup and cgroups
// cannot be used.
func (s *Supervisor) chooseKillMode() error {
	mode := s.group.KillMode
	if mode == "" {
		mode = KillAuto
	}
	if mode == KillGroup {
		s.setKillMode(KillGroup)
		s.log.Info("kill mode chosen", "mode", string(KillGroup), "why", "kill_mode = group")
		return nil
	}
	if st := s.opts.Resume; st != nil {
		return s.adoptKillMode(st.Supervisor.KillMode, st.Supervisor.CgroupDir)
	}
	tree, err := newCgroupTree()
	if err != nil {
		if mode == KillCgroup {
			return fmt.Errorf("kill_mode = cgroup: %w: %w", ErrNoCgroups, err)
		}
		s.setKillMode(KillGroup)
		s.log.Warn("kill mode chosen", "mode", string(KillGroup),
			"why", "cgroup v2 cannot be used; descendants that leave their process group are reported, not killed",
			"error", err)
		return nil
	}
	s.cgroups = tree
	s.setKillMode(KillCgroup)
	for _, path := range tree.stale {
		s.log.Warn("processes of a dead supervisor's programs still run, unsupervised",
			"cgroup", path, "pids", treePids(path), "to end them", "echo 1 > "+filepath.Join(path, "cgroup.kill"))
	}
	s.log.Info("kill mode chosen", "mode", string(KillCgroup), "cgroup", tree.dir)
	return nil
}

// chosenKillMode is the kill mode Serve chose: KillCgroup or KillGroup, or ""
// until Serve has chosen. Safe for concurrent use.
func (s *Supervisor) chosenKillMode() KillMode {
	m, _ := s.chosenMode.Load().(KillMode)
	return m
}

func (s *Supervisor) setKillMode(m KillMode) {
	s.killMode = m
	s.chosenMode.Store(m)
}

// cloneIntoCgroupRefused reports whether a spawn into a cgroup failed because
// clone3 or CLONE_INTO_CGROUP is refused (a seccomp filter that predates clone3
// answers ENOSYS or EPERM). Then cgroups are dropped for good, the programs'
// cgroups removed, and the caller spawns again without one.
func (s *Supervisor) cloneIntoCgroupRefused(err error) bool {
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
		return false
	}
	s.log.Warn("kill mode changed", "mode", string(KillGroup),
		"why", "clone3 with CLONE_INTO_CGROUP was refused", "error", err)
	s.removeCgroups()
	s.setKillMode(KillGroup)
	return true
}

// cgroupFor returns the cgroup for p's run number no, or nil (group mode, or
// none could be made). The last run's cgroup is used again if it emptied
// without a cgroup.kill (see doc.go); otherwise this run gets a fresh one, and
// the last run's is removed once empty (tidyCgroups).
func (s *Supervisor) cgroupFor(p *program, no uint64) *cgroup {
	if s.cgroups == nil {
		return nil
	}
	if p.cg != nil && p.cg.killed {
		p.oldCgs = append(p.oldCgs, p.cg)
		p.cg = nil
	}
	if p.cg == nil {
		var err error
		if p.cg, err = s.cgroups.run(p.spec.Name, no); err != nil {
			p.log.Error("no cgroup for this run; it is stopped by its process group only", "error", err)
		}
	}
	return p.cg
}

// retireCgroup moves p's current cgroup to the ones to remove, and removes
// those that are empty (p has ended for good).
func (s *Supervisor) retireCgroup(p *program) {
	if p.cg != nil {
		p.oldCgs = append(p.oldCgs, p.cg)
		p.cg = nil
	}
	s.tidyCgroups(p)
}

// tidyCgroups removes p's earlier runs' cgroups that are empty.
func (s *Supervisor) tidyCgroups(p *program) {
	kept := p.oldCgs[:0]
	for _, c := range p.oldCgs {
		if c.populated() {
			kept = append(kept, c)
			continue
		}
		if err := c.remove(); err != nil {
			p.log.Debug("cgroup not removed yet", "error", err)
			kept = append(kept, c)
		}
	}
	p.oldCgs = kept
}

// releaseCgroup removes p's cgroups once p has ended for good, if nothing is
// left in them; otherwise removeCgroups does it when Serve returns. While the
// whole supervisor stops, it leaves them all to removeCgroups: the stop
// sequence goes on to the next program without this directory work (measured:
// about 60ms of a 500-program stop).
func (s *Supervisor) releaseCgroup(p *program) {
	if s.m.shuttingDown {
		return
	}
	if p.cg != nil || len(p.oldCgs) > 0 {
		s.retireCgroup(p)
	}
}

// removeCgroups kills what is left in every program's cgroup, waits (up to 2s
// each) for it to be empty, and removes the cgroups and the parent. Called when
// Serve returns, and when cgroups are given up.
func (s *Supervisor) removeCgroups() {
	if s.cgroups == nil {
		return
	}
	for _, p := range append(s.progs, s.retired...) {
		if p.cg != nil {
			p.oldCgs = append(p.oldCgs, p.cg)
			p.cg = nil
		}
		for _, c := range p.oldCgs {
			if c.remove() == nil {
				continue // empty: the usual case, one rmdir
			}
			if c.populated() {
				_ = c.kill()
				if !c.waitEmpty(time.Now().Add(2 * time.Second)) {
					p.log.Error("processes left in the program's cgroup after cgroup.kill", "cgroup", c.path, "pids", c.pids())
				}
			}
			if err := c.remove(); err != nil {
				p.log.Error("cannot remove the program's cgroup", "error", err)
			}
		}
		p.oldCgs = nil
	}
	if err := s.cgroups.remove(); err != nil {
		s.log.Error("cannot remove the supervisor's cgroup", "error", err)
	}
	s.cgroups = nil
}

// checkCgroups reports why this process could not give programs cgroups, or nil
// if it can: it finds the cgroup2 mount and our cgroup, and creates and removes
// a cgroup the way Serve would.
func checkCgroups() error {
	t, err := newCgroupTree()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoCgroups, err)
	}
	return t.remove()
}
