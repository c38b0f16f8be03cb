package supervise_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/procfs"
	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/worker"
)

// The test binary doubles as every child the tests start:
//   - argv[0] "supervisor-worker" (a symlink, or the reexec spawner) runs the built-in
//     "child" worker, so all three spawners run the same program;
//   - SUPERVISE_TEST_HELPER=name runs one of the helpers below.
var (
	testReaper *supervise.Reaper
	// testWorkers is what cmd/supervisor passes as Options.Workers.
	testWorkers = supervise.Catalogue{Reexec: worker.Names(), Funcs: worker.Funcs()}
	workerPath  string // symlink named supervisor-worker pointing at this test binary
)

var helpers = map[string]func(args []string){
	// zombie-maker forks a child that exits at once and never reaps it, then
	// prints "zombie PID" and blocks: a process that leaves a zombie behind.
	"zombie-maker": func([]string) {
		pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("zombie %d\n", pid)
		// Block until stopped (a bare select{} would be a runtime deadlock crash).
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM)
		<-stop
	},
}

func TestMain(m *testing.M) {
	worker.Dispatch()
	if name := os.Getenv("SUPERVISE_TEST_HELPER"); name != "" {
		h, ok := helpers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
			os.Exit(2)
		}
		h(os.Args[1:])
		os.Exit(0)
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "supervise-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	workerPath = filepath.Join(dir, worker.Arg0)
	if err := os.Symlink(exe, workerPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testReaper, err = supervise.NewReaper(nil, supervise.ReaperOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv("SUPERVISE_TEST_LIGHT_SPAWN") == "1" { // the whole suite through the light spawner
		testReaper.SetLightSpawnMinFds(0)
	}
	code := m.Run()
	// Leak check: after every test, this process has no child left, live or zombie.
	if left := waitNoDescendants(os.Getpid(), 10*time.Second); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "LEAK: processes left behind by the tests: %v\n", left)
		code = 1
	}
	testReaper.Close()
	return code
}

// descendants lists every process below root, zombies included.
func descendants(root int) []procfs.Stat {
	all, err := procfs.All()
	if err != nil {
		panic(err)
	}
	kids := map[int][]procfs.Stat{}
	for _, st := range all {
		kids[st.PPid] = append(kids[st.PPid], st)
	}
	var out []procfs.Stat
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, k := range kids[pid] {
			out = append(out, k)
			queue = append(queue, k.Pid)
		}
	}
	return out
}

// waitNoDescendants polls (with backoff, under a deadline) until root has no
// descendants, and returns what is still there when the deadline passes.
func waitNoDescendants(root int, limit time.Duration) []procfs.Stat {
	deadline := time.Now().Add(limit)
	for d := time.Millisecond; ; d = min(2*d, 100*time.Millisecond) {
		left := descendants(root)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(d) // polling the OS under a deadline, not synchronising
	}
}

// childCmd is the argv of the built-in child worker for a spawner.
func childCmd(kind supervise.SpawnerKind, args ...string) []string {
	if kind == supervise.SpawnReexec {
		return append([]string{"child"}, args...)
	}
	return append([]string{workerPath, "child"}, args...)
}

// spec returns a fast-moving spec: no jitter, tiny backoff, no min uptime.
func spec(name string, kind supervise.SpawnerKind, args ...string) supervise.Spec {
	s := supervise.DefaultSpec()
	s.Name = name
	s.Spawner = kind
	s.Command = childCmd(kind, args...)
	s.MinUptime = 0
	s.BackoffInitial = time.Millisecond
	s.BackoffMax = time.Second
	s.BackoffJitter = 0
	s.StopGrace = 5 * time.Second
	return s
}

// recorder collects events and log lines so tests can wait on them.
type recorder struct {
	mu     sync.Mutex
	events []supervise.Event
	lines  []string
	wake   chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) hook(e supervise.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	r.poke()
}

// Write receives the supervisor's log output, one entry per call.
func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		r.lines = append(r.lines, l)
	}
	r.mu.Unlock()
	r.poke()
	return len(b), nil
}

func (r *recorder) logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "test", Output: r, Level: hclog.Debug})
}

// waitEvent waits for the n-th (1-based) event matching pred and returns it.
func (r *recorder) waitEvent(t *testing.T, n int, pred func(supervise.Event) bool) supervise.Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		seen := 0
		for _, e := range r.events {
			if pred(e) {
				if seen++; seen == n {
					r.mu.Unlock()
					return e
				}
			}
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatalf("timed out waiting for event; have:\n%s", r.dump())
		}
	}
}

// waitLine waits for a log line containing every one of subs and returns it.
func (r *recorder) waitLine(t *testing.T, subs ...string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		for _, l := range r.lines {
			if containsAll(l, subs) {
				r.mu.Unlock()
				return l
			}
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatalf("timed out waiting for a log line with %q; log:\n%s", subs, r.dump())
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func (r *recorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b bytes.Buffer
	for _, e := range r.events {
		fmt.Fprintf(&b, "  event %s %s->%s pid=%d delay=%s %s\n", e.Program, e.From, e.To, e.Pid, e.Delay, e.Reason)
	}
	for _, l := range r.lines {
		fmt.Fprintf(&b, "  log %s\n", l)
	}
	return b.String()
}

func (r *recorder) transitions(prog string) []supervise.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []supervise.State
	for _, e := range r.events {
		if e.Program == prog {
			out = append(out, e.To)
		}
	}
	return out
}

func is(prog string, to supervise.State) func(supervise.Event) bool {
	return func(e supervise.Event) bool { return e.Program == prog && e.To == to }
}

// running is a Supervisor served in the background for one test.
type running struct {
	sup    *supervise.Supervisor
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
}

// serve starts a supervisor for g; the test's cleanup stops it and waits.
func serve(t *testing.T, g supervise.Group) *running {
	t.Helper()
	rec := newRecorder()
	sup, err := supervise.New(rec.logger(), g, supervise.Options{Workers: testWorkers, Reaper: testReaper, OnEvent: rec.hook})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rn := &running{sup: sup, rec: rec, cancel: cancel, done: make(chan error, 1)}
	go func() { rn.done <- sup.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		rn.wait(t)
	})
	return rn
}

// wait waits for Serve to return.
func (rn *running) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-rn.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		rn.done <- err // let later waits return too
	case <-time.After(60 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("Serve did not return; log:\n%s\ngoroutines:\n%s", rn.rec.dump(), buf[:runtime.Stack(buf, true)])
	}
}

// stop cancels Serve and waits for it to return.
func (rn *running) stop(t *testing.T) {
	t.Helper()
	rn.cancel()
	rn.wait(t)
}

func (rn *running) status(t *testing.T, name string) supervise.Status {
	t.Helper()
	all, err := rn.sup.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range all {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no program %q", name)
	return supervise.Status{}
}

// pidFromLine pulls the integer after word from a log line ("grandchild 123").
func pidFromLine(t *testing.T, line, word string) int {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(line))
	sc.Split(bufio.ScanWords)
	for sc.Scan() {
		if strings.HasSuffix(sc.Text(), word) && sc.Scan() {
			if n, err := strconv.Atoi(strings.Trim(sc.Text(), "\",:")); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no %q PID in %q", word, line)
	return 0
}

// recorder is the log output of the supervisors under test.
var _ io.Writer = (*recorder)(nil)

// lineList returns a copy of the log lines so far.
func (r *recorder) lineList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}
