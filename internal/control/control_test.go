package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/supervise"
)

// fake is a Target that records what it was asked.
type fake struct {
	mu  sync.Mutex
	ops []string
	j   *Journal
}

func (f *fake) journal() *Journal {
	if f.j == nil {
		f.j = NewJournal(3)
	}
	return f.j
}

func (f *fake) record(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, op)
	if strings.HasSuffix(op, " nope") {
		return errors.New("wrapped: " + supervise.ErrNoSuchProgram.Error())
	}
	return nil
}

func (f *fake) Status(context.Context) ([]supervise.Status, error) {
	return []supervise.Status{{Name: "a", State: supervise.StateRunning, Pid: 42, Started: time.Now()}}, nil
}
func (f *fake) Start(_ context.Context, n string) error   { return f.record("start " + n) }
func (f *fake) Stop(_ context.Context, n string) error    { return f.record("stop " + n) }
func (f *fake) Restart(_ context.Context, n string) error { return f.record("restart " + n) }
func (f *fake) StartWait(_ context.Context, n string) error {
	return f.record("start " + n + " (wait)")
}
func (f *fake) RestartWait(_ context.Context, n string) error {
	return f.record("restart " + n + " (wait)")
}
func (f *fake) Signal(_ context.Context, n string, s syscall.Signal) error {
	return f.record("signal " + s.String() + " " + n)
}
func (f *fake) Group(_ context.Context, op string, names []string, s syscall.Signal, wait bool) ([]supervise.Outcome, error) {
	var outs []supervise.Outcome
	for _, n := range names {
		outs = append(outs, supervise.Outcome{Program: n, Err: f.record(fmt.Sprintf("group %s %s %v %v", op, n, s, wait))})
	}
	return outs, nil
}
func (f *fake) Shutdown(context.Context) error { return f.record("shutdown") }
func (f *fake) Adopted() []supervise.Orphan    { return nil }
func (f *fake) Request(ctx context.Context, name, method string, body []byte) ([]byte, error) {
	switch {
	case name == "nope":
		return nil, fmt.Errorf("request to nope: %w", supervise.ErrNoSuchProgram)
	case name == "plain":
		return nil, fmt.Errorf("request to plain: %w", supervise.ErrNotProtocol)
	case method == "sleep": // until the server's timeout
		<-ctx.Done()
		return nil, fmt.Errorf("request sleep to %q: %w", name, ctx.Err())
	}
	return append([]byte(name+":"), body...), f.record("request " + method + " " + name)
}
func (f *fake) RequestAny(ctx context.Context, pattern, method string, body []byte) (string, []byte, error) {
	if pattern != "w-*" {
		return "", nil, fmt.Errorf("request to %s: %w", pattern, supervise.ErrNoSuchProgram)
	}
	b, err := f.Request(ctx, "w-2", method, body)
	return "w-2", b, err
}
func (f *fake) Reload(context.Context) (supervise.ReloadResult, error) {
	return supervise.ReloadResult{Added: []string{"x"}}, f.record("reload")
}

func serveOn(t *testing.T, ln net.Listener, tg Target) {
	t.Helper()
	serveLimitedOn(t, ln, tg, Limits{})
}

// serveLimitedOn serves tg (a fake Target with its journal) on ln, bounded
// by lim, until the test ends.
func serveLimitedOn(t *testing.T, ln net.Listener, tg Target, lim Limits) {
	t.Helper()
	srv := NewServer(hclog.NewNullLogger(), tg, tg.(interface{ journal() *Journal }).journal(), lim)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// serveFake serves f on a fresh socket at sock (its directory created as
// Listen does) and returns a client of it.
func serveFake(t *testing.T, sock string, f *fake) *Client {
	t.Helper()
	ln, err := Listen(hclog.NewNullLogger(), sock)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, ln, f)
	c, err := NewClient(sock)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestServeAndClient(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "d", "s.sock")
	f := &fake{}
	c := serveFake(t, sock, f)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || len(st) != 1 || st[0].Name != "a" || st[0].Pid != 42 || st[0].State != "running" {
		t.Fatalf("Status: %+v, %v", st, err)
	}
	for _, op := range []string{"start", "stop", "restart"} {
		if err := c.Program(ctx, op, "a", "", false); err != nil {
			t.Errorf("%s: %v", op, err)
		}
	}
	for _, op := range []string{"start", "restart"} {
		if err := c.Program(ctx, op, "a", "", true); err != nil {
			t.Errorf("%s --no-wait: %v", op, err)
		}
	}
	if err := c.Program(ctx, "signal", "a", "usr1", false); err != nil {
		t.Error(err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Error(err)
	}
	want := "start a (wait),stop a,restart a (wait),start a,restart a,signal user defined signal 1 a,shutdown"
	if got := strings.Join(f.ops, ","); got != want {
		t.Errorf("ops %q, want %q", got, want)
	}
	var api *APIError
	if err := c.Program(ctx, "signal", "a", "nosuch", false); !errors.As(err, &api) || api.Kind != "bad_request" {
		t.Errorf("bad signal: %v", err)
	}
	if err := c.Program(ctx, "frob", "a", "", false); !errors.As(err, &api) || api.Status != 404 {
		t.Errorf("unknown op: %v", err)
	}
}

func TestRequestEndpoint(t *testing.T) {
	c := serveFake(t, filepath.Join(t.TempDir(), "s.sock"), &fake{})
	ctx := context.Background()
	bin := []byte{0, 0xff, 'x', 0x80}
	rep, err := c.Request(ctx, "a", "echo", bin, 0)
	if err != nil || rep.Program != "a" || string(rep.Body) != "a:"+string(bin) || rep.Text != "" {
		t.Errorf("binary echo: %+v, %v; want the bytes back and no text", rep, err)
	}
	if rep, err := c.Request(ctx, "w-*", "echo", []byte("hi"), 0); err != nil || rep.Program != "w-2" || rep.Text != "w-2:hi" {
		t.Errorf("pool request: %+v, %v", rep, err)
	}
	for _, tc := range []struct {
		doc, name, method string
		timeout           time.Duration
		status            int
		kind              string
	}{
		{"unknown program", "nope", "echo", 0, 404, "no_such_program"},
		{"unknown pool", "x-*", "echo", 0, 404, "no_such_program"},
		{"not a protocol program", "plain", "echo", 0, 409, "not_protocol"},
		{"no method", "a", "", 0, 400, "bad_request"},
		{"timeout", "a", "sleep", 20 * time.Millisecond, 504, "timeout"},
	} {
		var api *APIError
		_, err := c.Request(ctx, tc.name, tc.method, nil, tc.timeout)
		if !errors.As(err, &api) || api.Status != tc.status || api.Kind != tc.kind {
			t.Errorf("%s: %v (%+v), want %d %s", tc.doc, err, api, tc.status, tc.kind)
		}
	}
	// The text form, as curl users send it, and a bad timeout.
	for _, tc := range []struct{ in, want string }{
		{`{"method":"echo","text":"plain words"}`, `"text":"a:plain words"`},
		{`{"method":"echo","timeout":"soon"}`, `"kind":"bad_request"`},
		{`{"method":"echo","bogus":1}`, `"kind":"bad_request"`},
	} {
		resp, err := c.send(ctx, "POST", "/v1/programs/a/request", []byte(tc.in))
		var got string
		var api *APIError
		switch {
		case err == nil:
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got = string(b)
		case errors.As(err, &api):
			got = `"kind":"` + api.Kind + `"`
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("POST %s: %q (%v), want %s", tc.in, got, err, tc.want)
		}
	}
}

// A peer the policy does not allow is refused before a byte is read: here the
// policy allows nobody, so our own (root or not) connection is refused.
func TestPeerCredentialsRefused(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	var logged strings.Builder
	var mu sync.Mutex
	log := hclog.New(&hclog.LoggerOptions{Output: syncWriter{&mu, &logged}})
	ln, err := listen(log, sock, 0o600, false, func(*unix.Ucred) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, ln, &fake{})
	c, err := NewClient(sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(context.Background()); err == nil {
		t.Fatal("a refused peer got an answer")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "refused a connection from another user") ||
		!strings.Contains(logged.String(), "uid="+strconv.Itoa(os.Geteuid())) {
		t.Errorf("refusal not logged with the uid:\n%s", logged.String())
	}
}

func TestListenStaleLiveAndNotASocket(t *testing.T) {
	dir := t.TempDir()
	log := hclog.NewNullLogger()

	// Stale: a socket file nobody listens on.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	ln, err := Listen(log, stale)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	// Live: ln is listening now.
	if _, err := Listen(log, stale); !errors.Is(err, ErrInUse) {
		t.Errorf("Listen on a live socket: %v, want ErrInUse", err)
	}
	ln.Close()
	if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}

	// Not a socket: never removed.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(log, file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen on a regular file: %v", err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "mine" {
		t.Errorf("the regular file was touched: %q, %v", b, err)
	}

	// No supervisor: ErrNotRunning, from NewClient or from the dial.
	if _, err := NewClient(filepath.Join(dir, "none.sock")); !errors.Is(err, ErrNotRunning) {
		t.Errorf("NewClient on a missing socket: %v", err)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"TERM": syscall.SIGTERM, "sigusr1": syscall.SIGUSR1, "9": syscall.SIGKILL, "hup": syscall.SIGHUP} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65", "BOGUS", "1x"} {
		if _, err := ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q) succeeded", in)
		}
	}
}

type syncWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestRing(t *testing.T) {
	j := NewJournal(3)
	if got := j.recent("a", 10); len(got) != 0 {
		t.Fatalf("recent of a silent program: %v", got)
	}
	texts := func(ls []LogRecord) string {
		var s []string
		for _, l := range ls {
			s = append(s, l.Text)
		}
		return strings.Join(s, ",")
	}
	for i, want := range []string{"1", "1,2", "1,2,3", "2,3,4", "3,4,5", "4,5,6", "5,6,7"} {
		j.Output(supervise.OutputLine{Program: "a", Text: strconv.Itoa(i + 1)})
		if got := texts(j.recent("a", 10)); got != want {
			t.Errorf("after %d lines: %q, want %q", i+1, got, want)
		}
	}
	if got := texts(j.recent("a", 2)); got != "6,7" {
		t.Errorf("last 2: %q", got)
	}
}

// A program that floods long lines keeps its last logBytes of text, not
// defaultLogLines of its lines; a line longer than that alone is still kept.
func TestJournalBoundedInBytes(t *testing.T) {
	j := NewJournal(0)
	line := strings.Repeat("x", 16<<10)
	for i := range 3 * defaultLogLines {
		j.Output(supervise.OutputLine{Program: "flood", Text: strconv.Itoa(i) + line})
	}
	got := j.recent("flood", defaultLogLines)
	size := 0
	for _, l := range got {
		size += len(l.Text)
	}
	if size > logBytes || len(got) < logBytes/len(line)-1 {
		t.Errorf("kept %d lines, %d bytes; want about %d lines within %d bytes", len(got), size, logBytes/len(line), logBytes)
	}
	if last := got[len(got)-1].Text; !strings.HasPrefix(last, strconv.Itoa(3*defaultLogLines-1)) {
		t.Errorf("newest line kept starts %.10q, want the last one written", last)
	}
	huge := strings.Repeat("y", 2*logBytes)
	j.Output(supervise.OutputLine{Program: "flood", Text: huge})
	if got := j.recent("flood", 10); len(got) != 1 || got[0].Text != huge {
		t.Errorf("after a line longer than the budget: %d lines kept, want just it", len(got))
	}
}

func TestLogsAndEventsStream(t *testing.T) {
	f := &fake{}
	j := f.journal()
	c := serveFake(t, filepath.Join(t.TempDir(), "s.sock"), f)
	j.Output(supervise.OutputLine{Program: "a", Text: "old"})
	j.Output(supervise.OutputLine{Program: "b", Text: "other"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	if err := c.Logs(ctx, "a", 10, false, func(l LogRecord) error { got = append(got, l.Text); return nil }); err != nil || strings.Join(got, ",") != "old" {
		t.Errorf("Logs: %q, %v", got, err)
	}
	var api *APIError
	if err := c.Logs(ctx, "nope", 10, false, func(LogRecord) error { return nil }); !errors.As(err, &api) || api.Kind != "no_such_program" {
		t.Errorf("Logs of an unknown program: %v", err)
	}

	// follow: the old line, then new ones of a only, until we stop.
	lines := make(chan string, 10)
	errc := make(chan error, 1)
	fctx, fcancel := context.WithCancel(ctx)
	go func() {
		errc <- c.Logs(fctx, "a", 10, true, func(l LogRecord) error { lines <- l.Text; return nil })
	}()
	if l := <-lines; l != "old" {
		t.Fatalf("first followed line %q", l)
	}
	j.Output(supervise.OutputLine{Program: "b", Text: "not a's"})
	j.Output(supervise.OutputLine{Program: "a", Text: "new"})
	if l := <-lines; l != "new" {
		t.Errorf("followed line %q, want new", l)
	}
	fcancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("follow ended with %v", err)
	}

	events := make(chan EventRecord, 10)
	ectx, ecancel := context.WithCancel(ctx)
	go func() {
		errc <- c.Events(ectx, func(e EventRecord) error { events <- e; return nil })
	}()
	// The subscription starts when the request arrives: publish until one comes.
	for got := false; !got; {
		if ctx.Err() != nil {
			t.Fatal("no event arrived")
		}
		j.Event(supervise.Event{Program: "a", From: supervise.StateRunning, To: supervise.StateBackoff, Reason: "test"})
		select {
		case e := <-events:
			got = e.Program == "a" && e.To == "backoff" && e.Reason == "test"
			if !got {
				t.Fatalf("event %+v", e)
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
	ecancel()
	<-errc
}

// A goroutine worker has no pid, but it is live: uptime and heartbeat age are
// shown for it as for a process, and leaked runs are reported.
func TestStatusOfGoroutineWorker(t *testing.T) {
	t.Parallel()
	now := time.Now()
	st := []supervise.Status{
		{Name: "g", Kind: supervise.SpawnGoroutine, State: supervise.StateRunning, Started: now.Add(-2 * time.Second),
			LastHeartbeat: now.Add(-time.Second), HeartbeatSeq: 3, Leaked: 1},
		{Name: "stopped", Kind: supervise.SpawnGoroutine, State: supervise.StateStopped, Started: now.Add(-time.Second),
			LastHeartbeat: now.Add(-time.Second)},
	}
	got := statusOf(st, now)
	if g := got[0]; g.Pid != 0 || g.Kind != "goroutine" || g.UptimeSeconds != 2 || g.HeartbeatAgeSeconds == nil || g.Leaked != 1 {
		t.Errorf("running goroutine worker: %+v", g)
	}
	if s := got[1]; s.UptimeSeconds != 0 || s.HeartbeatAgeSeconds != nil {
		t.Errorf("stopped goroutine worker shows uptime or heartbeat: %+v", s)
	}
}
