package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/supervisor/supervisor/internal/ipc"
	"github.com/supervisor/supervisor/internal/worker"
)

// goRun is one run of a goroutine worker (kind goroutine): the built-in worker
// function running inside the supervisor process, and its Host, which talks to the
// state goroutine through the inbox as readChild does for a process. It is the
// in-process counterpart of a Proc plus an ipc.Conn.
//
// Exactly one goroutine runs the function (main); it recovers a panic and pushes
// the run's exit into the inbox when the function has returned. The state
// goroutine ends the run by cancelling the function's context (stop) and, if the
// function has not returned by the end of the stop grace, abandons it (leaked).
type goRun struct {
	runBase
	name string
	fn   worker.Func
	args []string

	ctx    context.Context         // the function's: cancelled to stop it
	cancel context.CancelCauseFunc // cancels ctx with a cause
	hctx   context.Context         // handlers': ends when the run ends
	hend   context.CancelFunc

	ended    chan struct{} // closed when the run ended for the supervisor: returned or abandoned
	endOnce  sync.Once
	started  time.Time
	handler  atomic.Pointer[ipc.Handler]
	ready    func() error
	beat     ipc.Beat
	hbOn     atomic.Bool
	panicked atomic.Pointer[string] // the first panic's value, from the function or a handler

	stdout, stderr *lineWriter

	leaseMu   sync.Mutex
	leaseNext uint64
	leases    map[uint64]chan ipc.Lease // Acquires waiting for their Lease

	// Guarded by s.leakMu.
	returned  bool // the function has returned
	abandoned bool // counted as leaked
}

var _ worker.Host = (*goRun)(nil)

// errRunEnded is returned by Host calls of a goroutine worker whose run has ended
// (it returned, or was abandoned as leaked).
var errRunEnded = errors.New("supervise: the goroutine worker's run has ended")

// startGoroutine starts p's run number no as a goroutine. Called on the state
// goroutine.
func (s *Supervisor) startGoroutine(p *program, no uint64) *goRun {
	fn := s.opts.Workers.Funcs[p.spec.Command[0]] // New and Reload checked it
	g := &goRun{runBase: runBase{s: s, p: p, no: no}, name: p.spec.Name, fn: fn, args: slices.Clone(p.spec.Command[1:]),
		ended: make(chan struct{}), started: time.Now()}
	g.ctx, g.cancel = context.WithCancelCause(context.Background())
	g.hctx, g.hend = context.WithCancel(context.Background())
	g.ready = sync.OnceValue(func() error { return g.push(ipc.Ready{}) })
	g.stdout = &lineWriter{split: s.splitter(p, 0, "stdout", p.log.With("stream", "stdout"))}
	g.stderr = &lineWriter{split: s.splitter(p, 0, "stderr", p.log.With("stream", "stderr"))}
	p.log.Info("program started", "kind", string(SpawnGoroutine), "worker", p.spec.Command[0])
	go g.main()
	return g
}

// The run interface, on the state goroutine.

func (g *goRun) pid() int { return 0 }

func (g *goRun) linkUp() *link { return &link{local: g} }

// stop cancels the function's context; a function that has not returned by the
// end of the grace period is abandoned as leaked (runKill). After Kill it gets
// a moment to return (killAllGoroutineGrace), not none: it cannot be killed.
func (g *goRun) stop() {
	p := g.p
	g.stopping = true
	grace := p.spec.StopGrace
	if g.s.m.killAll {
		grace = min(p.spec.StopGrace, killAllGoroutineGrace)
	}
	p.log.Info("stopping goroutine worker", "grace", grace)
	g.cancel(worker.ErrStop)
	g.setTimer(g, grace, runKill)
}

func (g *goRun) end(why string, _ syscall.Signal) {
	p := g.p
	p.log.Error("ending the program's run", "kind", string(SpawnGoroutine), "why", why)
	g.cancel(fmt.Errorf("%w: %s", worker.ErrStop, why))
	g.killing = true
	g.setTimer(g, p.spec.StopGrace, runKill)
}

func (g *goRun) killNow() {
	if g.ending() {
		g.setTimer(g, min(g.p.spec.StopGrace, killAllGoroutineGrace), runKill)
	}
}

func (g *goRun) fire(kind runTimerKind) {
	if kind == runKill && g.ending() {
		g.s.abandon(g)
	}
}

func (g *goRun) exited(e Exit) bool {
	g.over = true
	g.releaseShared()
	uptime := e.Time.Sub(g.p.started)
	if g.stopping {
		g.p.log.Info("program stopped", "pid", 0, "exit", e.String(), "uptime", uptime.Round(time.Millisecond))
	} else {
		logExit(g.p, 0, e, uptime)
	}
	return true // nothing outlives a goroutine's run
}

func (g *goRun) signal(syscall.Signal) error {
	return fmt.Errorf("%w: a goroutine worker has no process to signal", ErrNotRunning)
}

func (g *goRun) signalTree(syscall.Signal) {}

func (g *goRun) sendLease(l ipc.Lease) { g.deliverLease(l) }

func (g *goRun) close() { g.releaseShared() }

// main runs the worker function and reports the run's exit through the inbox.
func (g *goRun) main() {
	g.finish(g.call())
}

// finish reports the run's exit once the function has returned (or panicked, or
// called runtime.Goexit) with err.
func (g *goRun) finish(err error) {
	g.stdout.flush()
	g.stderr.flush()
	e := Exit{Code: 0, Time: time.Now()}
	switch v := g.panicked.Load(); {
	case v != nil:
		e.Code, e.Panic = 2, *v
	case err != nil:
		e.Code, e.Err = 1, err
		g.p.log.Error("goroutine worker returned an error", "error", err)
	}
	g.s.leakMu.Lock()
	g.returned = true
	late := g.abandoned
	if late {
		delete(g.s.leaked, g)
	}
	g.s.leakMu.Unlock()
	if late {
		g.p.log.Warn("leaked goroutine worker returned at last", "run", g.no, "exit", e.String())
	}
	g.markEnded()
	g.s.inbox.push(exitMsg{p: g.p, run: g.no, exit: e}) // stale if abandoned: the state goroutine drops it
}

// call runs the function, turning a panic into a recorded crash. A function that
// ends its goroutine with runtime.Goexit (recover sees nil) is recorded as a
// crash too, and main is not skipped: the exit is reported in every case.
func (g *goRun) call() (err error) {
	returned := false
	defer func() {
		if v := recover(); v != nil {
			g.recordPanic(v, "goroutine worker panicked")
		} else if !returned {
			g.recordPanic("runtime.Goexit called", "goroutine worker ended its goroutine")
			g.finish(nil)
		}
	}()
	err = g.fn(g.ctx, g, g.args)
	returned = true
	return err
}

// recordPanic logs a recovered panic with its stack and keeps the first value: the
// run's exit is then a crash (status 2), as an unrecovered panic ends a process.
func (g *goRun) recordPanic(v any, msg string) {
	text := fmt.Sprint(v)
	g.panicked.CompareAndSwap(nil, &text)
	g.p.log.Error(msg, "run", g.no, "panic", text, "stack", string(debug.Stack()))
}

// markEnded marks the run as over for everyone waiting on it: heartbeats stop,
// Host calls fail, Requests in flight fail, handlers' contexts end.
func (g *goRun) markEnded() {
	g.endOnce.Do(func() {
		close(g.ended)
		g.hend()
		g.cancel(errRunEnded)
	})
}

// push hands a link message to the state goroutine, unless the run has ended.
func (g *goRun) push(m ipc.Message) error {
	select {
	case <-g.ended:
		return errRunEnded
	default:
	}
	g.s.inbox.push(protoMsg{p: g.p, run: g.no, msg: m})
	return nil
}

// Host, for the worker function.

// Acquire is ipc.Child.Acquire over the inbox instead of a pipe.
func (g *goRun) Acquire(ctx context.Context, name string, limit int) (func() error, error) {
	if limit < 1 || limit > math.MaxUint32 || name == "" || len(name) > ipc.MaxLeaseName {
		return nil, fmt.Errorf("acquire %q limit %d: %w", name, limit, ipc.ErrMalformed)
	}
	ch := make(chan ipc.Lease, 1)
	g.leaseMu.Lock()
	if g.leases == nil {
		g.leases = map[uint64]chan ipc.Lease{}
	}
	g.leaseNext++
	id := g.leaseNext
	g.leases[id] = ch
	g.leaseMu.Unlock()
	forget := func() {
		g.leaseMu.Lock()
		delete(g.leases, id)
		g.leaseMu.Unlock()
	}
	if err := g.push(ipc.Acquire{ID: id, Name: name, Limit: uint32(limit)}); err != nil {
		forget()
		return nil, err
	}
	select {
	case l := <-ch:
		if l.Err != "" {
			return nil, fmt.Errorf("%w: %s: %s", ipc.ErrLeaseRefused, name, l.Err)
		}
		var once sync.Once
		return func() error {
			var err error
			once.Do(func() { err = g.push(ipc.Release{ID: id}) })
			return err
		}, nil
	case <-ctx.Done():
		forget()
		_ = g.push(ipc.Release{ID: id})
		return nil, ctx.Err()
	case <-g.ended:
		forget()
		return nil, errRunEnded
	}
}

// deliverLease hands the state goroutine's answer to the Acquire waiting for it;
// it never blocks.
func (g *goRun) deliverLease(l ipc.Lease) {
	g.leaseMu.Lock()
	ch := g.leases[l.ID]
	delete(g.leases, l.ID)
	g.leaseMu.Unlock()
	if ch != nil {
		ch <- l
	}
}

func (g *goRun) Name() string         { return g.name }
func (g *goRun) Handle(h ipc.Handler) { g.handler.Store(&h) }
func (g *goRun) Ready() error         { return g.ready() }
func (g *goRun) Stdout() io.Writer    { return g.stdout }
func (g *goRun) Stderr() io.Writer    { return g.stderr }

func (g *goRun) SetStatus(text string) error {
	if len(text) > ipc.MaxStatusLen {
		return fmt.Errorf("%w: status text of %d bytes exceeds %d", ipc.ErrMalformed, len(text), ipc.MaxStatusLen)
	}
	return g.push(ipc.Status{Text: text})
}

func (g *goRun) Progress() { g.beat.Progress() }

func (g *goRun) StartHeartbeats(interval time.Duration) {
	if interval <= 0 {
		panic("supervise: StartHeartbeats with a non-positive interval")
	}
	if g.hbOn.CompareAndSwap(false, true) {
		go g.heartbeats(interval)
	}
}

// heartbeats sends a Heartbeat every interval if Progress was called since the
// previous one, until the run ends, as ipc.Child does in a worker process.
func (g *goRun) heartbeats(interval time.Duration) {
	g.beat.Run(interval, g.ended, nil, func(h ipc.Heartbeat) error { return g.push(h) })
}

// request runs the worker's handler for one Request in its own goroutine (as
// ipc.Child does) and waits for its result, the end of the run, or ctx.
func (g *goRun) request(ctx context.Context, method string, body []byte) ([]byte, error) {
	h := g.handler.Load()
	if h == nil {
		return nil, fmt.Errorf("the program answered: %w", worker.ErrNoHandler)
	}
	type result struct {
		body []byte
		err  error
	}
	ch := make(chan result, 1)
	body = bytes.Clone(body) // the caller keeps its slice; the handler may not keep this one either (ipc.Handler)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				g.recordPanic(v, "goroutine worker panicked in a request handler")
				g.s.inbox.push(goPanicMsg{p: g.p, run: g.no})
				ch <- result{err: fmt.Errorf("program %q panicked: %v", g.name, v)}
			}
		}()
		b, err := (*h)(g.hctx, method, body)
		if err != nil {
			err = fmt.Errorf("the program answered: %w", err)
		}
		ch <- result{body: b, err: err}
	}()
	select {
	case r := <-ch:
		return r.body, r.err
	case <-g.ended:
		select {
		case r := <-ch:
			return r.body, r.err
		default:
			return nil, fmt.Errorf("program %q ended: %w", g.name, errRunEnded)
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// goPanicMsg says that a request handler of p's run panicked: the run must end.
type goPanicMsg struct {
	p   *program
	run uint64
}

func (goPanicMsg) isMessage() {}

// abandon gives up on g, a goroutine worker that has not returned within the
// stop grace: it is counted as leaked (Leaked, Status.Leaked) and the run ends
// now, so that the supervisor can go on. Called on the state goroutine.
func (s *Supervisor) abandon(g *goRun) {
	p := g.p
	s.leakMu.Lock()
	if g.returned {
		s.leakMu.Unlock()
		return // it returned just now: its exit is in the inbox
	}
	g.abandoned = true
	if s.leaked == nil {
		s.leaked = make(map[*goRun]struct{})
	}
	s.leaked[g] = struct{}{}
	n := len(s.leaked)
	s.leakMu.Unlock()
	p.log.Error("goroutine worker ignored its stop: leaked (a goroutine cannot be killed)",
		"run", g.no, "grace", p.spec.StopGrace, "kill_requested", s.m.killAll, "leaked_total", n)
	g.markEnded()
	s.exited(p, Exit{Code: -1, Leaked: true, Time: time.Now()})
}

// Leaked names the program of every goroutine worker that ignored its stop and
// still runs, one entry per leaked run, sorted. A leaked goroutine that returns at
// last is dropped from the list (and logged). Safe for concurrent use.
func (s *Supervisor) Leaked() []string {
	s.leakMu.Lock()
	defer s.leakMu.Unlock()
	out := make([]string, 0, len(s.leaked))
	for g := range s.leaked {
		out = append(out, g.name)
	}
	slices.Sort(out)
	return out
}

func (s *Supervisor) leakedOf(name string) int {
	s.leakMu.Lock()
	defer s.leakMu.Unlock()
	n := 0
	for g := range s.leaked {
		if g.name == name {
			n++
		}
	}
	return n
}

// lineWriter is a goroutine worker's stdout or stderr: it splits what is written
// into lines and logs them as the output mux does for a process's pipes.
type lineWriter struct {
	mu    sync.Mutex
	split lineSplitter
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.split.feed(b)
	return len(b), nil
}

// flush logs an unterminated last line, marked partial.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.split.flush()
}
