package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/control"
	"github.com/supervisor/supervisor/internal/proctree"
)

// treeNode is one process of `tree --json`.
type treeNode struct {
	Pid           int         `json:"pid"`
	PPid          int         `json:"ppid"`
	State         string      `json:"state"`
	Command       string      `json:"command"`
	RSSBytes      int64       `json:"rss_bytes"`
	CPUPercent    float64     `json:"cpu_percent"`
	UptimeSeconds float64     `json:"uptime_seconds"`
	Zombie        bool        `json:"zombie,omitempty"`
	Adopted       bool        `json:"adopted_orphan,omitempty"`
	Supervisor    bool        `json:"supervisor,omitempty"`
	Program       *progInfo   `json:"program,omitempty"`
	Children      []*treeNode `json:"children"`
}

// progInfo is what a supervised node carries of its program.
type progInfo struct {
	Name                string   `json:"name"`
	State               string   `json:"state"`
	Restarts            int      `json:"restarts"`
	LastExit            string   `json:"last_exit,omitempty"`
	HeartbeatAgeSeconds *float64 `json:"heartbeat_age_seconds,omitempty"`
	Readiness           string   `json:"readiness,omitempty"`
	Reason              string   `json:"reason,omitempty"`
	StatusText          string   `json:"status_text,omitempty"`
}

// view is a process tree with what we know of its nodes.
type view struct {
	root    *proctree.Node
	sup     int                  // the supervisor's pid, or 0 for a plain --pid tree
	progs   map[int]*progInfo    // by pid
	adopted map[int]bool         // pids of adopted orphans
	prev    map[int]nodeSnapshot // previous frame's CPU times, by pid (top)
}

type nodeSnapshot struct {
	cpu   time.Duration
	start uint64
}

// load takes a snapshot and fills v: from the running supervisor on c, or, with
// pid != 0, the plain tree under pid.
func (v *view) load(ctx context.Context, c *control.Client, pid int) error {
	var info control.TreeInfo
	if pid == 0 {
		var err error
		if info, err = c.Tree(ctx); err != nil {
			return err
		}
		pid = info.Pid
	}
	snap, err := proctree.Take()
	if err != nil {
		return err
	}
	root, err := snap.Subtree(pid)
	if err != nil {
		return err
	}
	v.root, v.sup = root, info.Pid
	v.progs, v.adopted = map[int]*progInfo{}, map[int]bool{}
	for _, p := range info.Programs {
		if p.Pid != 0 {
			v.progs[p.Pid] = &progInfo{Name: p.Name, State: p.State, Restarts: p.Restarts, LastExit: p.LastExit, HeartbeatAgeSeconds: p.HeartbeatAgeSeconds,
				Readiness: p.Readiness, Reason: p.Reason, StatusText: p.StatusText}
		}
	}
	for _, o := range info.Adopted {
		v.adopted[o.Pid] = true
	}
	return nil
}

func (v *view) annotate(n *proctree.Node) []string {
	var notes []string
	if n.Pid == v.sup {
		notes = append(notes, "supervisor")
	}
	if p := v.progs[n.Pid]; p != nil {
		s := fmt.Sprintf("program %s, %s, restarts %d", p.Name, p.State, p.Restarts)
		if p.LastExit != "" {
			s += ", last exit: " + p.LastExit
		}
		if p.HeartbeatAgeSeconds != nil {
			s += fmt.Sprintf(", heartbeat %.1fs ago", *p.HeartbeatAgeSeconds)
		}
		if p.State == "running" && p.Readiness != "" && p.Readiness != "min_uptime" {
			s += ", ready: " + p.Reason
		}
		if p.StatusText != "" {
			s += fmt.Sprintf(", status %q", p.StatusText)
		}
		notes = append(notes, s)
	}
	if v.adopted[n.Pid] {
		notes = append(notes, "adopted orphan")
	}
	if n.Zombie() {
		notes = append(notes, "zombie")
	}
	return notes
}

func (v *view) json(n *proctree.Node) *treeNode {
	t := &treeNode{Pid: n.Pid, PPid: n.PPid, State: string(n.State), Command: n.Command(), RSSBytes: n.RSS,
		CPUPercent: n.CPUPercent, UptimeSeconds: n.Uptime.Seconds(), Zombie: n.Zombie(), Adopted: v.adopted[n.Pid],
		Supervisor: v.sup != 0 && n.Pid == v.sup, Program: v.progs[n.Pid], Children: []*treeNode{}}
	for _, c := range n.Children {
		t.Children = append(t.Children, v.json(c))
	}
	return t
}

const treeUsage = `usage: supervisor tree [--socket PATH] [--json] [--metrics]   the running supervisor's tree
       supervisor tree --pid N [--json] [--metrics]               any process's tree
`

// cmdTree is `supervisor tree` and `supervisor ctl tree`.
func cmdTree(args []string, stdout, stderr io.Writer, socketDefault string) int {
	fs := flag.NewFlagSet("supervisor tree", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, treeUsage); fs.PrintDefaults() }
	socket := fs.String("socket", socketDefault, "control socket `path` of the running supervisor")
	pid := fs.Int("pid", 0, "show the tree under this `pid` instead of the supervisor's")
	asJSON := fs.Bool("json", false, "print JSON")
	metrics := fs.Bool("metrics", true, "show RSS, lifetime CPU % and uptime")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return ctlUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "supervisor tree: unexpected %q\n%s", fs.Args(), treeUsage)
		return ctlUsage
	}
	pidSet := false
	fs.Visit(func(f *flag.Flag) { pidSet = pidSet || f.Name == "pid" })
	if pidSet && *pid <= 0 {
		fmt.Fprintf(stderr, "supervisor tree: --pid %d: want a process id (1 or more)\n", *pid)
		return ctlUsage
	}
	var c *control.Client
	if *pid == 0 {
		var err error
		if c, err = control.NewClient(*socket); err != nil {
			return ctlError(stderr, *asJSON, stdout, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := &view{}
	if err := v.load(ctx, c, *pid); err != nil {
		if *pid != 0 {
			fmt.Fprintf(stderr, "supervisor tree: %v\n", err)
			return ctlNoSuchProg
		}
		return ctlError(stderr, *asJSON, stdout, err)
	}
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(v.json(v.root))
		return ctlOK
	}
	_ = proctree.Render(stdout, v.root, proctree.RenderOptions{Annotate: v.annotate, Metrics: *metrics})
	return ctlOK
}

// cmdTop is `supervisor top`: the supervisor's tree, redrawn every interval
// with CPU % over the last interval, until q, Ctrl-C or SIGTERM.
func cmdTop(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("supervisor top", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", control.DefaultSocket(), "control socket `path` of the running supervisor")
	every := fs.Duration("interval", time.Second, "refresh interval")
	frames := fs.Int("frames", 0, "stop after this many frames (0: until q or Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return ctlUsage
	}
	if *every < 100*time.Millisecond {
		fmt.Fprintln(stderr, "supervisor top: --interval must be at least 100ms")
		return ctlUsage
	}
	c, err := control.NewClient(*socket)
	if err != nil {
		return ctlError(stderr, false, stdout, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// q quits: read the terminal a key at a time (no echo) when it is one.
	quit := make(chan struct{})
	if restore, ok := cbreak(int(os.Stdin.Fd())); ok {
		defer restore()
	}
	go func() {
		r := bufio.NewReader(os.Stdin)
		for {
			b, err := r.ReadByte()
			if err != nil {
				return // no input (not a terminal, or closed): Ctrl-C still works
			}
			if b == 'q' || b == 'Q' {
				close(quit)
				return
			}
		}
	}()

	v := &view{}
	prevTime := time.Time{}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for frame := 1; ; frame++ {
		if err := v.load(ctx, c, 0); err != nil {
			if ctx.Err() != nil {
				return ctlOK
			}
			return ctlError(stderr, false, stdout, err)
		}
		now := time.Now()
		cur := map[int]nodeSnapshot{}
		v.root.Walk(func(n *proctree.Node, _ int) {
			cur[n.Pid] = nodeSnapshot{cpu: n.CPUTime, start: n.StartTicks}
			if p, ok := v.prev[n.Pid]; ok && p.start == n.StartTicks && !prevTime.IsZero() {
				n.CPUPercent = 100 * (n.CPUTime - p.cpu).Seconds() / now.Sub(prevTime).Seconds()
			}
		})
		v.prev, prevTime = cur, now
		var b strings.Builder
		b.WriteString("\x1b[H\x1b[2J") // home, clear
		fmt.Fprintf(&b, "supervisor top — pid %d — %s — %d processes — q or Ctrl-C to quit\n\n", v.sup, now.Format("15:04:05"), len(cur))
		_ = proctree.Render(&b, v.root, proctree.RenderOptions{Annotate: v.annotate, Metrics: true})
		fmt.Fprint(stdout, b.String())
		if *frames > 0 && frame >= *frames {
			return ctlOK
		}
		select {
		case <-tick.C:
		case <-quit:
			return ctlOK
		case <-ctx.Done():
			return ctlOK
		}
	}
}

// cbreak puts the terminal on fd into no-echo, key-at-a-time mode and returns
// what restores it; ok is false when fd is not a terminal.
func cbreak(fd int) (restore func(), ok bool) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, false
	}
	t := *old
	t.Lflag &^= unix.ICANON | unix.ECHO
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, false
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, true
}
