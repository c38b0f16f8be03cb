package main_test

// Integration tests of `supervisor demo zombie` and `supervisor demo orphan`: each
// runs the built binary with --step and, at the end of every step (while the demo
// waits for Enter), checks each "fact" line it printed against /proc.

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/procfs"
)

// demoRun is a running `supervisor demo NAME --step`.
type demoRun struct {
	*proc
	stdin *os.File // write end of its stdin: a line goes on to the next step
	next  int      // index of the next unread output line
}

func startDemo(t *testing.T, args ...string) *demoRun {
	t.Helper()
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin("supervisor"), append([]string{"demo"}, args...)...)
	cmd.Stdin = stdinR
	p := startCmd(t, cmd)
	stdinR.Close()
	// Runs before startCmd's cleanup: at EOF the demo stops pausing and finishes.
	t.Cleanup(func() { stdinW.Close() })
	return &demoRun{proc: p, stdin: stdinW}
}

// line returns the next output line (stdout and stderr interleaved by line).
func (d *demoRun) line(t *testing.T) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		d.mu.Lock()
		if d.next < len(d.lines) {
			l := d.lines[d.next]
			d.next++
			d.mu.Unlock()
			return l
		}
		d.mu.Unlock()
		select {
		case <-d.wake:
		case <-d.eof:
			d.mu.Lock()
			more := d.next < len(d.lines)
			d.mu.Unlock()
			if !more {
				t.Fatalf("output ended; so far:\n%s", d.log())
			}
		case <-deadline:
			t.Fatalf("no output line within 30s; so far:\n%s", d.log())
		}
	}
}

// fact is one parsed "fact" line.
type fact struct {
	line  string
	pid   int
	ppid  int
	state string
	start uint64
	gone  bool
}

func parseFact(t *testing.T, line string) (fact, bool) {
	t.Helper()
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "fact ")
	if !ok {
		return fact{}, false
	}
	f := fact{line: line, ppid: -1}
	for _, kv := range strings.Fields(rest) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "pid":
			f.pid, _ = strconv.Atoi(v)
		case "ppid":
			f.ppid, _ = strconv.Atoi(v)
		case "state":
			f.state = v
		case "start":
			f.start, _ = strconv.ParseUint(v, 10, 64)
		case "gone":
			f.gone = true
		}
	}
	if f.pid <= 0 {
		t.Fatalf("fact without a pid: %q", line)
	}
	return f, true
}

// procStat reads pid's state, parent and start time (field 22) from /proc.
func procStat(pid int) (state string, ppid int, start uint64, err error) {
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return "", 0, 0, err
	}
	return string(st.State), st.PPid, st.StartTicks, nil
}

// check verifies a fact against the process table now.
func (f fact) check(t *testing.T) {
	t.Helper()
	state, ppid, start, err := procStat(f.pid)
	if f.gone {
		if err == nil && start == f.start {
			t.Errorf("%q: but pid %d is there (state %s, parent %d)", f.line, f.pid, state, ppid)
		}
		return
	}
	if f.state == "" {
		return // a "reaped-by" fact: checked by the "gone" fact that follows it
	}
	if err != nil || start != f.start {
		t.Errorf("%q: but /proc says %v (start %d)", f.line, err, start)
		return
	}
	// A live process moves between R and S all the time (its runtime's threads
	// wake); what a fact claims is alive or zombie, and the parent.
	live := func(s string) bool { return s == "R" || s == "S" }
	ok := state == f.state || (live(f.state) && live(state))
	if !ok || ppid != f.ppid {
		t.Errorf("%q: but /proc says state %s, parent %d", f.line, state, ppid)
	}
}

// steps reads the demo's output to the end, checking every step's facts while
// the demo waits at the step's end; it returns the facts by step (1-based).
func (d *demoRun) steps(t *testing.T) map[int][]fact {
	t.Helper()
	facts := map[int][]fact{}
	step := 0
	for {
		l := d.line(t)
		switch {
		case strings.HasPrefix(l, "== step "):
			step, _ = strconv.Atoi(strings.Fields(l)[2][:len(strings.Fields(l)[2])-1])
		case strings.HasPrefix(l, "-- end of step "):
			for _, f := range facts[step] {
				f.check(t)
			}
			if _, err := d.stdin.WriteString("\n"); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(l, "demo ") && strings.Contains(l, ": "):
			if strings.HasSuffix(l, ": ok") || strings.HasSuffix(l, ": FAILED") {
				return facts
			}
		default:
			if f, ok := parseFact(t, l); ok {
				facts[step] = append(facts[step], f)
			}
		}
	}
}

func zombieFacts(fs []fact) []fact {
	var out []fact
	for _, f := range fs {
		if f.state == "Z" {
			out = append(out, f)
		}
	}
	return out
}

func TestDemoZombie(t *testing.T) {
	t.Parallel()
	d := startDemo(t, "zombie", "--step")
	facts := d.steps(t)
	if got := d.exitCode(t); got != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", got, d.log())
	}
	sup := d.cmd.Process.Pid
	// Step 3: three zombies under one parent, itself a child of the supervisor.
	z := zombieFacts(facts[3])
	if len(z) != 3 {
		t.Fatalf("step 3: %d zombie facts, want 3:\n%s", len(z), d.log())
	}
	parent := z[0].ppid
	if parent == sup || facts[3][0].pid != parent || facts[3][0].ppid != sup {
		t.Errorf("step 3: zombies' parent %d, first fact %q; want a parent that is the supervisor's (%d) child", parent, facts[3][0].line, sup)
	}
	// Step 4: every one of them gone, and the parent too.
	gone := map[int]bool{}
	for _, f := range facts[4] {
		if f.gone {
			gone[f.pid] = true
		}
	}
	for _, f := range append(z, fact{pid: parent}) {
		if !gone[f.pid] {
			t.Errorf("step 4: no fact that pid %d is gone:\n%s", f.pid, d.log())
		}
	}
	d.waitLine(t, "supervisor.reaper", "reaped adopted orphan", fmt.Sprintf("pid=%d", z[0].pid))
}

// The negative control: with the supervisor's reaping off, the zombies stay
// (checked against /proc while the demo waits) and the demo's check fails.
func TestDemoZombieNoReap(t *testing.T) {
	t.Parallel()
	d := startDemo(t, "zombie", "--step", "--no-reap")
	facts := d.steps(t)
	if got := d.exitCode(t); got != 1 {
		t.Fatalf("exit code %d, want 1 (check failed):\n%s", got, d.log())
	}
	d.waitLine(t, "CHECK FAILED", "3 zombies were not reaped")
	sup := d.cmd.Process.Pid
	z := zombieFacts(facts[4])
	if len(z) != 3 {
		t.Fatalf("step 4: %d zombie facts, want 3:\n%s", len(z), d.log())
	}
	for _, f := range z {
		if f.ppid != sup {
			t.Errorf("%q: want the supervisor %d as parent", f.line, sup)
		}
	}
	// f.check ran while the demo waited: /proc agreed they were zombies of the
	// supervisor. After the demo's cleanup they are gone.
	for _, f := range z {
		if _, _, start, err := procStat(f.pid); err == nil && start == f.start {
			t.Errorf("zombie %d still there after the demo exited", f.pid)
		}
	}
}

func TestDemoOrphan(t *testing.T) {
	t.Parallel()
	d := startDemo(t, "orphan", "--step")
	facts := d.steps(t)
	if got := d.exitCode(t); got != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", got, d.log())
	}
	sup := d.cmd.Process.Pid
	// Step 1: host off, the orphan's parent is the supervisor; step 3: host on,
	// its parent is the host, a child of the supervisor.
	for _, tc := range []struct {
		step      int
		bySuper   bool
		adoptLine string
	}{{1, true, "adopted orphan"}, {3, false, ""}} {
		fs := facts[tc.step]
		if len(fs) < 3 {
			t.Fatalf("step %d: facts %v", tc.step, fs)
		}
		grand, adopter := fs[1], fs[2] // after the child's reaped-by fact
		if adopter.pid != grand.ppid {
			t.Fatalf("step %d: adopter fact %q does not match orphan fact %q", tc.step, adopter.line, grand.line)
		}
		if tc.bySuper != (grand.ppid == sup) || (!tc.bySuper && adopter.ppid != sup) {
			t.Errorf("step %d: orphan %q, adopter %q; supervisor %d", tc.step, grand.line, adopter.line, sup)
		}
		if tc.adoptLine != "" {
			d.waitLine(t, "supervisor.reaper", tc.adoptLine, fmt.Sprintf("pid=%d", grand.pid))
		}
	}
	// Step 5: the supervisor's bit off too: the orphan went past the host and
	// the supervisor, to PID 1 or a subreaper above us; step 6: it is gone, or a
	// zombie of that adopter, never of ours.
	fs := facts[5]
	if len(fs) < 3 {
		t.Fatalf("step 5: facts %v", fs)
	}
	grand, adopter := fs[1], fs[2] // after the child's reaped-by fact
	// Not the supervisor, and not the host (a child of the supervisor).
	if adopter.pid != grand.ppid || grand.ppid == sup || adopter.ppid == sup {
		t.Errorf("step 5: orphan %q, adopter %q; supervisor %d", grand.line, adopter.line, sup)
	}
	for _, f := range facts[6] {
		if f.pid == grand.pid && !f.gone && f.ppid == sup {
			t.Errorf("step 6: %q: the orphan came back to the supervisor", f.line)
		}
	}
}

// Ctrl-C in the middle: the demo stops, and everything it started is gone.
func TestDemoInterrupted(t *testing.T) {
	t.Parallel()
	d := startDemo(t, "orphan", "--step")
	var orphan fact
	for {
		l := d.line(t)
		if f, ok := parseFact(t, l); ok && f.ppid == d.cmd.Process.Pid && orphan.pid == 0 && f.state != "" {
			orphan = f // the orphan the supervisor adopted
		}
		if strings.HasPrefix(l, "-- end of step 1") {
			break
		}
	}
	if orphan.pid == 0 {
		t.Fatalf("no orphan adopted by the supervisor in step 1:\n%s", d.log())
	}
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if got := d.exitCode(t); got != 1 {
		t.Fatalf("exit code %d after SIGINT, want 1:\n%s", got, d.log())
	}
	d.waitLine(t, "interrupted; every process it started is gone")
	if _, _, start, err := procStat(orphan.pid); err == nil && start == orphan.start {
		t.Errorf("orphan %d outlived the interrupted demo", orphan.pid)
	}
}

// demo semaphore: with the lease every record is whole (as many runs as
// records), and a holder's death frees the lease for the next worker.
func TestDemoSemaphore(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(bin("supervisor"), "demo", "semaphore", "--log-level", "warn").Output()
	if err != nil {
		t.Fatalf("demo semaphore: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"fact file=lease records=4 lines=1200 runs=4", "doomed_lines=1 w0_lines=3", "demo semaphore: ok"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in:\n%s", want, s)
		}
	}
}
