package proctree

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// RenderOptions says what Render prints besides pid, state and command.
type RenderOptions struct {
	// Annotate, if set, returns notes for a node, printed after its command in
	// square brackets: "[zombie]", "[adopted orphan]", a program name.
	Annotate func(*Node) []string
	// Metrics adds RSS, lifetime CPU % and uptime to each line.
	Metrics bool
	// MaxCommand truncates commands longer than this many bytes (0: 60; < 0: never).
	MaxCommand int
	// Indent is written before every line.
	Indent string
}

// Render writes root and its descendants as an indented ASCII tree, one process
// per line:
//
//	100 S supervisor demo zombie
//	|-- 101 S supervisor-worker zombie-parent  [never reaps]
//	|   `-- 102 Z [supervisor-work]  [zombie]
//	`-- 103 S supervisor-worker hold
//
// It returns the first write error.
func Render(w io.Writer, root *Node, opts RenderOptions) error {
	bw := bufio.NewWriter(w)
	maxCmd := opts.MaxCommand
	if maxCmd == 0 {
		maxCmd = 60
	}
	var line func(n *Node, prefix, branch, childPrefix string)
	line = func(n *Node, prefix, branch, childPrefix string) {
		cmd := n.Command()
		if maxCmd > 0 && len(cmd) > maxCmd {
			cmd = cmd[:maxCmd-3] + "..."
		}
		fmt.Fprintf(bw, "%s%s%s%d %c %s", opts.Indent, prefix, branch, n.Pid, n.State, cmd)
		if opts.Metrics {
			fmt.Fprintf(bw, "  (rss %s, cpu %.1f%%, up %s)", formatBytes(n.RSS), n.CPUPercent, n.Uptime.Round(10*time.Millisecond))
		}
		if opts.Annotate != nil {
			for _, a := range opts.Annotate(n) {
				fmt.Fprintf(bw, "  [%s]", a)
			}
		}
		bw.WriteByte('\n')
		for i, c := range n.Children {
			if i == len(n.Children)-1 {
				line(c, prefix+childPrefix, "`-- ", "    ")
			} else {
				line(c, prefix+childPrefix, "|-- ", "|   ")
			}
		}
	}
	line(root, "", "", "")
	return bw.Flush()
}

// String renders root with default options.
func String(root *Node) string {
	var b strings.Builder
	_ = Render(&b, root, RenderOptions{})
	return b.String()
}

// formatBytes prints n in KiB, MiB or GiB with one decimal.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
}
