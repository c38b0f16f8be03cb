package demo

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/proctree"
	"github.com/supervisor/supervisor/internal/supervise"
)

// waitLimit bounds every wait for the system to do something.
const waitLimit = 30 * time.Second

// errCheck marks a failed check: the system did not do what the narration says.
var errCheck = errors.New("demo: check failed")

// scenarios maps a name to its demonstration.
var scenarios = map[string]func(d *demo) error{
	"zombie":    zombie,
	"orphan":    orphan,
	"semaphore": semaphore,
}

// IsScenario reports whether name is a demonstration Run knows.
func IsScenario(name string) bool { _, ok := scenarios[name]; return ok }

// Run runs the demonstration name with its command-line args, narrating on
// stdout and logging on stderr, and returns the process exit code: 0 when every
// check held, 1 when one failed or something broke, 2 for bad usage. It blocks
// until the demonstration and its cleanup are over; cancelling ctx (Ctrl-C) stops
// it early, cleanup included. It creates the process's Reaper, so no other may
// exist.
func Run(ctx context.Context, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	scenario, ok := scenarios[name]
	if !ok {
		fmt.Fprintf(stderr, "supervisor demo: unknown demonstration %q\n", name)
		return 2
	}
	fs := flag.NewFlagSet("supervisor demo "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	step := fs.Bool("step", false, "pause after each step until Enter (a line on stdin)")
	metrics := fs.Bool("metrics", false, "show RSS, CPU % and uptime in the trees")
	noReap := false
	if name == "zombie" {
		fs.BoolVar(&noReap, "no-reap", false, "negative control: the supervisor does not reap (zombies stay; the check fails)")
	}
	logLevel := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "supervisor demo %s: unexpected argument %q\n", name, fs.Arg(0))
		return 2
	}
	lvl := hclog.LevelFromString(*logLevel)
	if lvl == hclog.NoLevel {
		fmt.Fprintf(stderr, "supervisor demo %s: bad --log-level %q\n", name, *logLevel)
		return 2
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "supervisor", Level: lvl, Output: stderr})

	d := &demo{
		ctx:     ctx,
		name:    name,
		out:     stdout,
		log:     log,
		self:    os.Getpid(),
		noReap:  noReap,
		metrics: *metrics,
		roles:   map[int]string{os.Getpid(): "supervisor"},
		reaped:  map[int]supervise.Exit{},
		wake:    make(chan struct{}, 1),
	}
	if *step {
		d.stdin = readLines(stdin)
	}
	if !noReap {
		r, err := supervise.NewReaper(log, supervise.ReaperOptions{OnOrphan: d.onOrphan})
		if err != nil {
			log.Error("cannot start the reaper", "error", err)
			return 1
		}
		d.r = r
		defer r.Close()
	}
	err := scenario(d)
	if cerr := d.cleanup(); cerr != nil {
		log.Error("cleanup incomplete", "error", cerr)
		if err == nil {
			err = cerr
		}
	}
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "demo %s: ok\n", name)
		return 0
	case errors.Is(err, errCheck):
		fmt.Fprintf(stdout, "demo %s: FAILED\n", name)
		return 1
	case ctx.Err() != nil:
		fmt.Fprintf(stdout, "demo %s: interrupted; every process it started is gone\n", name)
		return 1
	default:
		fmt.Fprintf(stdout, "demo %s: error: %v\n", name, err)
		return 1
	}
}

// demo is one run of a demonstration.
type demo struct {
	ctx     context.Context // the run's lifetime: Ctrl-C cancels it
	name    string
	out     io.Writer
	log     hclog.Logger
	r       *supervise.Reaper // nil with --no-reap
	self    int
	noReap  bool
	metrics bool
	stdin   <-chan string // with --step: lines from stdin; closed at EOF
	stepN   int
	roles   map[int]string // pid -> what it is in the story, for the trees

	mu     sync.Mutex
	reaped map[int]supervise.Exit // adopted orphans the reaper reaped
	wake   chan struct{}          // capacity 1: reaped changed

	cleanups []func() // run in reverse order by cleanup
}

// onOrphan is the reaper's hook for every reaped process no Spawn started.
func (d *demo) onOrphan(e supervise.Exit) {
	d.mu.Lock()
	d.reaped[e.Pid] = e
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// waitReaped waits until the reaper has reaped the adopted orphan pid.
func (d *demo) waitReaped(pid int) (supervise.Exit, error) {
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		d.mu.Lock()
		e, ok := d.reaped[pid]
		d.mu.Unlock()
		if ok {
			return e, nil
		}
		select {
		case <-d.wake:
		case <-d.ctx.Done():
			return supervise.Exit{}, d.ctx.Err()
		case <-deadline.C:
			return supervise.Exit{}, fmt.Errorf("%w: the supervisor did not reap pid %d within %v", errCheck, pid, waitLimit)
		}
	}
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, format+"\n", args...)
}

func (d *demo) beginStep(title string) {
	d.stepN++
	d.say("\n== step %d: %s", d.stepN, title)
}

// endStep ends a step; with --step it waits for Enter (or EOF, or Ctrl-C).
func (d *demo) endStep() error {
	if d.stdin == nil {
		d.say("-- end of step %d", d.stepN)
		return nil
	}
	d.say("-- end of step %d (press Enter to go on)", d.stepN)
	select {
	case _, ok := <-d.stdin:
		if !ok {
			d.stdin = nil // EOF: no more pausing
		}
		return nil
	case <-d.ctx.Done():
		return d.ctx.Err()
	}
}

func (d *demo) fail(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	d.say("CHECK FAILED: %s", msg)
	return fmt.Errorf("%w: %s", errCheck, msg)
}

// fact reads pid from /proc and prints what it read.
func (d *demo) fact(pid int) (*proctree.Node, error) {
	n, err := proctree.Read(pid)
	if err != nil {
		return nil, fmt.Errorf("read pid %d: %w", pid, err)
	}
	d.printFact(n)
	return n, nil
}

// printFact prints what was read of a process.
func (d *demo) printFact(n *proctree.Node) {
	d.say("  fact pid=%d ppid=%d state=%c start=%d comm=%s", n.Pid, n.PPid, n.State, n.StartTicks, n.Comm)
}

// factGone checks that the process (pid, start) no longer exists and prints it.
func (d *demo) factGone(pid int, start uint64) error {
	n, err := proctree.Read(pid)
	if err == nil && n.StartTicks == start {
		return d.fail("pid %d is still there: state %c, parent %d", pid, n.State, n.PPid)
	}
	if err != nil && !errors.Is(err, proctree.ErrNotFound) {
		return fmt.Errorf("read pid %d: %w", pid, err)
	}
	d.say("  fact pid=%d gone start=%d", pid, start)
	return nil
}

// waitGone polls /proc, with backoff under a deadline, until the process
// (pid, start) is gone (true) or still a zombie when the deadline passes
// (false): for a process someone else must reap.
func (d *demo) waitGone(pid int, start uint64) (bool, error) {
	deadline := time.Now().Add(waitLimit)
	for delay := 100 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		n, err := proctree.Read(pid)
		if err != nil && !errors.Is(err, proctree.ErrNotFound) {
			return false, fmt.Errorf("read pid %d: %w", pid, err)
		}
		if err != nil || n.StartTicks != start {
			d.say("  fact pid=%d gone start=%d", pid, start)
			return true, nil
		}
		if time.Now().After(deadline) {
			if n.State == 'Z' {
				d.printFact(n)
				return false, nil
			}
			return false, d.fail("pid %d still running after %v: state %c", pid, waitLimit, n.State)
		}
		select {
		case <-time.After(delay): // polling the OS under a deadline
		case <-d.ctx.Done():
			return false, d.ctx.Err()
		}
	}
}

// waitState polls /proc, with backoff under a deadline, until pid is in one of
// states, and returns what it read.
func (d *demo) waitState(pid int, states string) (*proctree.Node, error) {
	deadline := time.Now().Add(waitLimit)
	var last *proctree.Node
	for delay := 100 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		n, err := proctree.Read(pid)
		if err == nil && strings.IndexByte(states, n.State) >= 0 {
			return n, nil
		}
		last = n
		if time.Now().After(deadline) {
			return nil, d.fail("pid %d not in state %s after %v (last read: %+v, %v)", pid, states, waitLimit, last, err)
		}
		select {
		case <-time.After(delay): // polling the OS under a deadline
		case <-d.ctx.Done():
			return nil, d.ctx.Err()
		}
	}
}

// tree prints the supervisor's process tree, read from /proc now.
func (d *demo) tree() error {
	s, err := proctree.Take()
	if err != nil {
		return err
	}
	root, err := s.Subtree(d.self)
	if err != nil {
		return err
	}
	adopted := map[int]bool{}
	if d.r != nil {
		for _, o := range d.r.Adopted() {
			if n := s.Get(o.Pid); n != nil && n.StartTicks == o.StartTicks {
				adopted[o.Pid] = true
			}
		}
	}
	d.say("  process tree under the supervisor (pid %d), read from /proc:", d.self)
	return proctree.Render(d.out, root, proctree.RenderOptions{
		Indent:  "    ",
		Metrics: d.metrics,
		Annotate: func(n *proctree.Node) []string {
			var notes []string
			if role := d.roles[n.Pid]; role != "" {
				notes = append(notes, role)
			}
			if n.Zombie() {
				notes = append(notes, "zombie")
			}
			if adopted[n.Pid] {
				notes = append(notes, "adopted orphan")
			}
			return notes
		},
	})
}

// lines is a helper's stdout, read line by line.
type lines struct {
	d    *demo
	c    <-chan string
	seen []string
}

// next returns the next line starting with prefix (skipping others), without
// the prefix.
func (l *lines) next(prefix string) (string, error) {
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		select {
		case s, ok := <-l.c:
			if !ok {
				return "", fmt.Errorf("helper output ended before a %q line (had %q)", prefix, l.seen)
			}
			l.seen = append(l.seen, s)
			if v, ok := strings.CutPrefix(s, prefix); ok {
				return v, nil
			}
		case <-l.d.ctx.Done():
			return "", l.d.ctx.Err()
		case <-deadline.C:
			return "", fmt.Errorf("no %q line from the helper within %v (had %q)", prefix, waitLimit, l.seen)
		}
	}
}

func (l *lines) nextPid(prefix string) (int, error) {
	v, err := l.next(prefix)
	if err != nil {
		return 0, err
	}
	var pid int
	if _, err := fmt.Sscan(v, &pid); err != nil {
		return 0, fmt.Errorf("line %q%s: %w", prefix, v, err)
	}
	return pid, nil
}

// readLines delivers r's lines on a channel, closed at EOF. The goroutine ends
// at EOF.
func readLines(r io.Reader) <-chan string {
	c := make(chan string, 64)
	go func() {
		defer close(c)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			c <- sc.Text()
		}
	}()
	return c
}

// pipe makes a pipe whose both ends are closed by cleanup (closing twice is harmless).
func (d *demo) pipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	d.cleanups = append(d.cleanups, func() { r.Close(); w.Close() })
	return r, w, nil
}

// helper is a demo worker the supervisor started.
type helper struct {
	pid    int
	out    *lines
	exited chan struct{} // closed when it has exited (reaped, or a zombie with --no-reap)
}

// start starts the demo worker argv (argv[0] names it) in its own process group,
// with its stdout to a pipe the demo reads and extra as fds 3, 4, ... The demo's
// copies of extra are closed once it runs.
func (d *demo) start(extra []*os.File, argv ...string) (*helper, error) {
	outR, outW, err := d.pipe()
	if err != nil {
		return nil, err
	}
	h := &helper{exited: make(chan struct{})}
	if d.r != nil {
		p, err := d.r.Spawn(supervise.SpawnRequest{
			Kind:       supervise.SpawnReexec,
			Argv:       argv,
			Stdout:     outW,
			Stderr:     os.Stderr,
			ExtraFiles: extra,
			OnExit:     func(supervise.Exit) { close(h.exited) },
		})
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", argv[0], err)
		}
		h.pid = p.Pid
		d.cleanups = append(d.cleanups, func() { _ = p.SignalGroup(syscall.SIGKILL) })
	} else {
		p, err := startUnreaped(extra, outW, argv)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", argv[0], err)
		}
		h.pid = p.Pid
		go func() { waitExitedNoReap(p.Pid); close(h.exited) }()
		d.cleanups = append(d.cleanups, func() { _ = p.Signal(syscall.SIGKILL) })
	}
	outW.Close()
	for _, f := range extra {
		f.Close()
	}
	h.out = &lines{d: d, c: readLines(outR)}
	return h, nil
}

// waitExited waits until h has exited.
func (d *demo) waitExited(h *helper) error {
	select {
	case <-h.exited:
		return nil
	case <-d.ctx.Done():
		return d.ctx.Err()
	case <-time.After(waitLimit):
		return d.fail("helper %d did not exit within %v", h.pid, waitLimit)
	}
}

// cleanup closes every pipe and kills every helper and adopted orphan, then
// waits (polling /proc under a deadline) until the supervisor has no descendant.
func (d *demo) cleanup() error {
	for _, f := range slices.Backward(d.cleanups) {
		f()
	}
	d.cleanups = nil
	if d.r != nil {
		for _, o := range d.r.Adopted() {
			_ = d.r.SignalAdopted(o.Pid, syscall.SIGKILL)
		}
	} else {
		reapAllNoReap()
	}
	deadline := time.Now().Add(waitLimit)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		s, err := proctree.Take()
		if err != nil {
			return err
		}
		root, err := s.Subtree(d.self)
		if err != nil {
			return err
		}
		if len(root.Children) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes left under pid %d:\n%s", d.self, proctree.String(root))
		}
		if d.r != nil {
			for _, o := range d.r.Adopted() { // adopted since the first round
				_ = d.r.SignalAdopted(o.Pid, syscall.SIGKILL)
			}
		}
		time.Sleep(delay) // polling the OS under a deadline; not interruptible: cleanup must finish
	}
}
