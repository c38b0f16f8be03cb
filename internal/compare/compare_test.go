package compare_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/compare"
	"github.com/supervisor/supervisor/internal/procfs"
	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/worker"
)

// The test binary doubles as every worker process: the reexec kind and the
// sacrificial supervisor re-execute it, and worker.Dispatch runs them.
var testReaper *supervise.Reaper

func TestMain(m *testing.M) {
	worker.Dispatch()
	os.Exit(func() int {
		// Under -race a process sleeps 1s at exit (the race runtime's default
		// atexit_sleep_ms), and every stop of a worker process would wait for it.
		// The workers inherit this environment.
		if os.Getenv("GORACE") == "" {
			os.Setenv("GORACE", "atexit_sleep_ms=0")
		}
		var err error
		testReaper, err = supervise.NewReaper(nil, supervise.ReaperOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer testReaper.Close()
		code := m.Run()
		// Every worker process and sacrificial supervisor is gone, reaped.
		if left := waitNoChildren(10 * time.Second); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "LEAK: processes left behind by the tests: %v\n", left)
			code = 1
		}
		return code
	}())
}

// waitNoChildren polls /proc with backoff, under a deadline, until this process
// has no child (live or zombie), and returns those left when it gives up.
func waitNoChildren(limit time.Duration) []procfs.Stat {
	deadline := time.Now().Add(limit)
	for d := time.Millisecond; ; d = min(2*d, 100*time.Millisecond) {
		all, err := procfs.All()
		if err != nil {
			panic(err)
		}
		var left []procfs.Stat
		for _, st := range all {
			if st.PPid == os.Getpid() {
				left = append(left, st)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(d) // polling the OS under a deadline, not synchronising
	}
}

// measure runs the named rows at small scale and returns the report.
func measure(t *testing.T, rows ...string) compare.Report {
	t.Helper()
	return measureN(t, 3, rows...)
}

// measureN is measure with n workers for the start-up and memory rows.
func measureN(t *testing.T, n int, rows ...string) compare.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := compare.Run(ctx, nil, compare.Options{Reaper: testReaper, Workers: n, Requests: 200, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != len(rows) {
		t.Fatalf("got %d rows, want %d", len(rep.Rows), len(rows))
	}
	for _, r := range rep.Rows {
		t.Logf("%s\n  goroutine: %s\n  process:   %s", r.Title, r.Goroutine.Text, r.Process.Text)
	}
	return rep
}

func row(t *testing.T, rep compare.Report, name string) compare.Row {
	t.Helper()
	r, ok := rep.Row(name)
	if !ok {
		t.Fatalf("no row %s", name)
	}
	return r
}

// alive reports whether pid is a live process.
func alive(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && st.State != 'Z'
}

// The performance rows: every value measured and positive, and the ordering the
// README reads from them. Not parallel: the memory row reads this process's heap,
// and Go runs the parallel tests only after the serial ones.
func TestPerformanceRows(t *testing.T) {
	// 10 workers: the memory row divides a heap growth by their number, and a
	// few KiB per worker must stand out of the noise earlier tests (-count) leave.
	rep := measureN(t, 10, "memory", "startup", "roundtrip", "throughput")
	for _, tc := range []struct {
		name, unit    string
		goroutineLess bool // the goroutine's value is the smaller one
	}{
		{"memory", "B", true},
		{"startup", "s", true},
		{"roundtrip", "s", true},
		{"throughput", "req/s", false},
	} {
		r := row(t, rep, tc.name)
		g, p := r.Goroutine, r.Process
		if g.Unit != tc.unit || p.Unit != tc.unit || g.Value <= 0 || p.Value <= 0 {
			t.Errorf("%s: goroutine %v %s, process %v %s: want positive values in %s", tc.name, g.Value, g.Unit, p.Value, p.Unit, tc.unit)
		}
		if (g.Value < p.Value) != tc.goroutineLess {
			t.Errorf("%s: goroutine %v, process %v: the goroutine's should be the %s", tc.name, g.Value, p.Value,
				map[bool]string{true: "smaller", false: "larger"}[tc.goroutineLess])
		}
		if g.Facts != nil || p.Facts != nil {
			t.Errorf("%s: a performance row with facts", tc.name)
		}
	}
}

// A panic: the goroutine worker's run ends as a crash in this process, which
// carries on; the process worker dies alone. Either way it is restarted and its
// sibling answers, never restarted.
func TestPanicRow(t *testing.T) {
	t.Parallel()
	r := row(t, measure(t, "panic"), "panic")
	for kind, c := range map[string]compare.Cell{"goroutine": r.Goroutine, "process": r.Process} {
		f := c.Facts
		switch {
		case f == nil:
			t.Fatalf("%s: no facts", kind)
		case !f.SupervisorSurvived || f.SupervisorPid != os.Getpid() || !alive(os.Getpid()):
			t.Errorf("%s: the supervisor did not survive: %+v", kind, f)
		case f.ExitCode != 2:
			t.Errorf("%s: exit %q (%d), want status 2", kind, f.Exit, f.ExitCode)
		case !f.Restarted:
			t.Errorf("%s: not restarted", kind)
		case !f.SiblingAnswered || f.SiblingRestarts != 0:
			t.Errorf("%s: sibling answered %v, restarts %d: want an untouched sibling", kind, f.SiblingAnswered, f.SiblingRestarts)
		}
	}
	if r.Goroutine.Facts.WorkerPid != os.Getpid() {
		t.Errorf("the goroutine worker answered pid %d, want ours (%d)", r.Goroutine.Facts.WorkerPid, os.Getpid())
	}
	if pid := r.Process.Facts.WorkerPid; pid == os.Getpid() || pid <= 0 || alive(pid) {
		t.Errorf("the process worker's pid %d: want another process, now gone", pid)
	}
}

// Fatal runtime error and os.Exit: in a goroutine worker they kill the whole
// (sacrificial) supervisor and the sibling goroutine with it; in a process
// worker only that process, which is restarted.
func TestFatalAndExitRows(t *testing.T) {
	t.Parallel()
	rep := measure(t, "fatal", "exit")
	for _, tc := range []struct {
		name   string
		code   int
		output string
	}{
		{"fatal", 2, "concurrent map writes"},
		{"exit", 7, "calling os.Exit(7)"},
	} {
		r := row(t, rep, tc.name)
		g, p := r.Goroutine.Facts, r.Process.Facts
		if g == nil || p == nil {
			t.Fatalf("%s: missing facts", tc.name)
		}
		// Goroutine: the sacrificial supervisor, another process, died whole.
		switch {
		case g.SupervisorPid == os.Getpid() || g.SupervisorPid <= 0:
			t.Errorf("%s: goroutine case ran in pid %d, want a sacrificial process", tc.name, g.SupervisorPid)
		case g.WorkerPid != g.SupervisorPid:
			t.Errorf("%s: the goroutine worker answered pid %d, want its supervisor's %d", tc.name, g.WorkerPid, g.SupervisorPid)
		case g.SupervisorSurvived || alive(g.SupervisorPid):
			t.Errorf("%s: the sacrificial supervisor %d survived", tc.name, g.SupervisorPid)
		case g.ExitCode != tc.code || !strings.Contains(g.Output, tc.output):
			t.Errorf("%s: goroutine case exit %q (%d), output %q; want status %d and %q", tc.name, g.Exit, g.ExitCode, g.Output, tc.code, tc.output)
		case g.SiblingAnswered:
			t.Errorf("%s: the sibling goroutine answered after its process died", tc.name)
		}
		// Process: only the worker died; restarted; the sibling untouched.
		switch {
		case !p.SupervisorSurvived || p.SupervisorPid != os.Getpid():
			t.Errorf("%s: process case: the supervisor did not survive: %+v", tc.name, p)
		case p.ExitCode != tc.code || !strings.Contains(p.Output, tc.output):
			t.Errorf("%s: process case exit %q (%d), output %q; want status %d and %q", tc.name, p.Exit, p.ExitCode, p.Output, tc.code, tc.output)
		case !p.Restarted || !p.SiblingAnswered || p.SiblingRestarts != 0:
			t.Errorf("%s: process case restarted %v, sibling answered %v after %d restarts", tc.name, p.Restarted, p.SiblingAnswered, p.SiblingRestarts)
		}
	}
}

// Corrupted shared state: goroutine workers share it (the sibling reads the
// scribble, even after the culprit's restart); processes each have their own.
func TestSharedStateRow(t *testing.T) {
	t.Parallel()
	r := row(t, measure(t, "shared-state"), "shared-state")
	g, p := r.Goroutine.Facts, r.Process.Facts
	if g == nil || p == nil {
		t.Fatal("missing facts")
	}
	if g.SiblingRead != "scribbled by bad" || g.AfterRestart != "scribbled by bad" {
		t.Errorf("goroutine sibling read %q, then %q: want the scribble both times", g.SiblingRead, g.AfterRestart)
	}
	if p.SiblingRead != "pristine" || p.AfterRestart != "pristine" {
		t.Errorf("process sibling read %q, then %q: want pristine both times", p.SiblingRead, p.AfterRestart)
	}
	for _, f := range []*compare.Facts{g, p} {
		if !f.SupervisorSurvived || !f.Restarted || !f.SiblingAnswered {
			t.Errorf("facts %+v", f)
		}
	}
}

// Ignoring the stop: a goroutine cannot be killed and is leaked; a process is
// SIGKILLed at the end of the grace and is gone.
func TestIgnoreStopRow(t *testing.T) {
	t.Parallel()
	r := row(t, measure(t, "ignore-stop"), "ignore-stop")
	g, p := r.Goroutine.Facts, r.Process.Facts
	if g == nil || p == nil {
		t.Fatal("missing facts")
	}
	if !slices.Contains(g.Leaked, "bad") || g.Killed || !g.SupervisorSurvived || !g.SiblingAnswered || g.SiblingRestarts != 0 {
		t.Errorf("goroutine: %+v, want bad leaked and an untouched sibling", g)
	}
	if !p.Killed || len(p.Leaked) != 0 || !p.SupervisorSurvived || !p.SiblingAnswered || p.SiblingRestarts != 0 {
		t.Errorf("process: %+v, want bad SIGKILLed, nothing leaked, an untouched sibling", p)
	}
	if alive(p.WorkerPid) {
		t.Errorf("the killed worker's pid %d is still alive", p.WorkerPid)
	}
	for kind, c := range map[string]compare.Cell{"goroutine": r.Goroutine, "process": r.Process} {
		if c.Value < 0.2 {
			t.Errorf("%s: Stop took %vs, less than the 200ms grace", kind, c.Value)
		}
	}
}

// A deadlocked main loop: the heartbeat timeout catches it under both kinds; the
// goroutine is leaked, the process SIGKILLed, and Go's deadlock detector stays
// silent (other goroutines live); both are restarted beside a sibling.
func TestDeadlockRow(t *testing.T) {
	t.Parallel()
	r := row(t, measure(t, "deadlock"), "deadlock")
	g, p := r.Goroutine.Facts, r.Process.Facts
	if g == nil || p == nil {
		t.Fatal("missing facts")
	}
	if !slices.Contains(g.Leaked, "bad") || g.Killed || !g.Restarted {
		t.Errorf("goroutine: %+v, want bad leaked and restarted", g)
	}
	if !p.Killed || !p.Restarted || p.Output != "" {
		t.Errorf("process: %+v, want bad SIGKILLed (not ended by Go's deadlock detector) and restarted", p)
	}
	for kind, f := range map[string]*compare.Facts{"goroutine": g, "process": p} {
		if !f.SupervisorSurvived || !f.SiblingAnswered || f.SiblingRestarts != 0 {
			t.Errorf("%s: %+v, want the supervisor alive and an untouched sibling", kind, f)
		}
	}
}

func TestUnknownRow(t *testing.T) {
	t.Parallel()
	_, err := compare.Run(context.Background(), nil, compare.Options{Reaper: testReaper, Rows: []string{"nope"}})
	if err == nil || !strings.Contains(err.Error(), "unknown row") {
		t.Fatalf("Run with an unknown row: %v", err)
	}
}

// The three formats, from one real (small) run.
func TestFormats(t *testing.T) {
	t.Parallel()
	rep := measure(t, "roundtrip", "shared-state")

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back compare.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("the JSON does not parse: %v\n%s", err, js.String())
	}
	if len(back.Rows) != 2 || back.Rows[0].Name != "roundtrip" || back.Rows[0].Process.Value != rep.Rows[0].Process.Value ||
		back.Rows[1].Goroutine.Facts == nil || back.Rows[1].Goroutine.Facts.SiblingRead != rep.Rows[1].Goroutine.Facts.SiblingRead {
		t.Errorf("the JSON round trip lost something:\n%s", js.String())
	}

	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(md.String(), "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "| row | goroutine") || lines[1] != "|---|---|---|" {
		t.Fatalf("markdown without a header row:\n%s", md.String())
	}
	for _, l := range lines[2:4] {
		if strings.Count(l, " | ") != 2 || !strings.HasPrefix(l, "| ") {
			t.Errorf("markdown row %q: want three cells", l)
		}
	}

	var txt bytes.Buffer
	if err := rep.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	// A block per row: the title, then the goroutine and the process cells on
	// lines of their own, the cells aligned.
	text := txt.String()
	for _, r := range rep.Rows {
		block := r.Title + "\n  goroutine  " + r.Goroutine.Text + "\n  process    " + r.Process.Text + "\n"
		if !strings.Contains(text, block) {
			t.Errorf("no block for row %q in:\n%s", r.Title, text)
		}
	}
	if !strings.Contains(text, "process (kind reexec)") || !strings.Contains(text, "Measured in this run") {
		t.Errorf("text report without its heading or footer:\n%s", text)
	}
}
