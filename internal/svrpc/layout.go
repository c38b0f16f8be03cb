package svrpc

import (
	"strings"

	"github.com/supervisor/supervisor/internal/supervise"
)

// Proc is one supervisord process of a Layout: the program Group.Programs[i]
// of the same index.
type Proc struct {
	Name     string // the process name within its group ("web_0")
	Group    string // its supervisord group ("web")
	Priority int    // supervisord's priority (getAllConfigInfo's process_prio)
	// The program's log files, "" for none: what readProcessStdoutLog,
	// tailProcessStdoutLog and /logtail read.
	StdoutLogfile, StderrLogfile string
}

// GroupInfo is one supervisord process group of a Layout.
type GroupInfo struct {
	Name     string
	Priority int
	Members  []string // Spec names, in start order
}

// Layout is a configuration as supervisord's interface sees it: the programs
// to run and how they fall into supervisord's process groups.
type Layout struct {
	Group  supervise.Group // every process as a Spec (Name "GROUP:NAME", or "NAME" for a group of one), in start order
	Procs  []Proc          // one per Group.Programs entry, same order
	Groups []GroupInfo     // the process groups, in start order
}

// Loader re-reads the configuration from disk (supervisor.reloadConfig,
// supervisor.restart).
type Loader func() (Layout, error)

// LayoutOf is the Layout of a group with no more to say than its specs: a
// program "G:P" is process P of group G, any other name N is process N of
// group N (supervisord's rule for a program of one process); the log files are
// the specs' StdoutLog and StderrLog; groups come in order of first appearance.
func LayoutOf(g supervise.Group) Layout {
	l := Layout{Group: g}
	idx := map[string]int{}
	for _, s := range g.Programs {
		gname, pname := s.Name, s.Name
		if i := strings.IndexByte(s.Name, ':'); i >= 0 {
			gname, pname = s.Name[:i], s.Name[i+1:]
		}
		l.Procs = append(l.Procs, Proc{Name: pname, Group: gname, StdoutLogfile: s.StdoutLog, StderrLogfile: s.StderrLog})
		i, ok := idx[gname]
		if !ok {
			i = len(l.Groups)
			idx[gname] = i
			l.Groups = append(l.Groups, GroupInfo{Name: gname})
		}
		l.Groups[i].Members = append(l.Groups[i].Members, s.Name)
	}
	return l
}

// normalize fills in what a Layout leaves out: Procs from the spec names when
// their count does not match, Groups from the Procs when there are none.
func (l Layout) normalize() Layout {
	if len(l.Procs) != len(l.Group.Programs) {
		d := LayoutOf(l.Group)
		l.Procs = d.Procs
		if len(l.Groups) == 0 {
			l.Groups = d.Groups
		}
	}
	if len(l.Groups) == 0 {
		idx := map[string]int{}
		for i, p := range l.Procs {
			j, ok := idx[p.Group]
			if !ok {
				j = len(l.Groups)
				idx[p.Group] = j
				l.Groups = append(l.Groups, GroupInfo{Name: p.Group})
			}
			l.Groups[j].Members = append(l.Groups[j].Members, l.Group.Programs[i].Name)
		}
	}
	return l
}

// entry is one process: its spec, its Proc, and its group's priority.
type entry struct {
	spec supervise.Spec
	proc Proc
}

func (e entry) namespec() string { return namespec(e.proc.Group, e.proc.Name) }

// namespec is supervisord's make_namespec: "G:P", or "P" when they are the same.
func namespec(group, name string) string {
	if group == name {
		return name
	}
	return group + ":" + name
}

// splitNamespec is supervisord's split_namespec: "G:P" is process P of group G;
// "G:" and "G:*" are group G (process ""); "N" is process N of group N.
func splitNamespec(ns string) (group, process string) {
	if i := strings.IndexByte(ns, ':'); i >= 0 {
		group, process = ns[:i], ns[i+1:]
		if process == "*" {
			process = ""
		}
		return group, process
	}
	return ns, ns
}

// entries lists the processes of l, in start order.
func (l Layout) entries() []entry {
	es := make([]entry, len(l.Procs))
	for i, p := range l.Procs {
		es[i] = entry{spec: l.Group.Programs[i], proc: p}
	}
	return es
}

func (l Layout) hasGroup(name string) bool {
	for _, g := range l.Groups {
		if g.Name == name {
			return true
		}
	}
	return false
}

func (l Layout) groupInfo(name string) (GroupInfo, bool) {
	for _, g := range l.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return GroupInfo{}, false
}

// members lists group's processes, in start order.
func (l Layout) members(group string) []entry {
	var es []entry
	for _, e := range l.entries() {
		if e.proc.Group == group {
			es = append(es, e)
		}
	}
	return es
}

// without is l less group's processes.
func (l Layout) without(group string) Layout {
	n := Layout{Group: l.Group}
	n.Group.Programs = nil
	for i, p := range l.Procs {
		if p.Group != group {
			n.Group.Programs = append(n.Group.Programs, l.Group.Programs[i])
			n.Procs = append(n.Procs, p)
		}
	}
	for _, g := range l.Groups {
		if g.Name != group {
			n.Groups = append(n.Groups, g)
		}
	}
	return n
}

// with is l plus group's processes as from has them.
func (l Layout) with(from Layout, group string) Layout {
	n := l.without(group)
	n.Group.Programs = append([]supervise.Spec(nil), n.Group.Programs...)
	for i, p := range from.Procs {
		if p.Group == group {
			n.Group.Programs = append(n.Group.Programs, from.Group.Programs[i])
			n.Procs = append(n.Procs, p)
		}
	}
	if g, ok := from.groupInfo(group); ok {
		n.Groups = append(n.Groups, g)
	}
	return n
}
