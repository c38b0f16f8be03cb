package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is the version stamped at link time (see the package doc); "devel"
// when nothing stamped it.
var Version = "devel"

// Commit is the commit stamped at link time (`git rev-parse HEAD`), for builds
// where Go recorded none: Go does not see a git worktree, whose .git is a file,
// as a checkout. vcs.revision wins when both are there.
var Commit = ""

// Info is what the running binary knows about its own build.
type Info struct {
	Version  string `json:"version"`            // Version, or "devel"
	Commit   string `json:"commit,omitempty"`   // vcs.revision: the full commit hash, if Go recorded one
	Modified bool   `json:"modified,omitempty"` // vcs.modified: the tree had uncommitted changes
	Go       string `json:"go"`                 // the Go release that built it
}

// Get returns this binary's build information.
func Get() Info {
	info := Info{Version: Version, Go: runtime.Version()}
	if info.Version == "" {
		info.Version = "devel"
	}
	// Stamped by the Makefile: "-dirty" is git describe's word for modified.
	info.Commit, info.Modified = Commit, strings.HasSuffix(info.Version, "-dirty")
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the version for people, on one line: "v1.2.0-3-gabc1234 (commit
// abc1234def56, modified, go1.26.0)", or "devel (commit unknown, go1.26.0)".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	b.WriteString(" (commit ")
	switch {
	case i.Commit == "":
		b.WriteString("unknown")
	case len(i.Commit) > 12:
		b.WriteString(i.Commit[:12])
	default:
		b.WriteString(i.Commit)
	}
	if i.Modified {
		b.WriteString(", modified")
	}
	b.WriteString(", " + i.Go + ")")
	return b.String()
}
