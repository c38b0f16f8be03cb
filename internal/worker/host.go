package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/ipc"
)

// Host is what a built-in worker (a Func) sees of its supervisor, whichever kind
// runs it: the same calls go over the pipes of internal/ipc when the worker runs in
// its own process (kinds reexec and exec), and over channels into the supervisor's
// state goroutine when it runs as a goroutine inside the supervisor (kind
// goroutine). A worker is written once against Host and runs unchanged under all
// three kinds.
//
// Every method is safe for concurrent use.
type Host interface {
	// Name is the program's name (the supervisor's, or "child" outside one).
	Name() string
	// Handle sets the handler of the supervisor's Requests. Requests that arrive
	// before it is set are answered with an error; set it before Ready. Each
	// Request runs in its own goroutine with a context that ends when the run
	// ends; as ipc.Handler says, it must not keep its body once it returned (a
	// process's bodies are recycled). A panic in the handler is a crash of the
	// whole worker, under every kind: a process dies with exit status 2 and its
	// stack on stderr; a goroutine worker's run ends with status 2, the panic
	// value and stack logged.
	Handle(h ipc.Handler)
	// Ready says that initialisation is done: the program counts as running from
	// now on. Only the first call sends; later calls return its result.
	Ready() error
	// SetStatus sends text (at most ipc.MaxStatusLen bytes) as the status.
	SetStatus(text string) error
	// Progress records that the worker's main loop made progress. Call it from
	// that loop: a heartbeat is sent only if Progress was called since the last
	// one, so a stuck main loop goes silent and the heartbeat timeout catches it.
	Progress()
	// StartHeartbeats starts sending heartbeats every interval (> 0), each only if
	// Progress was called since the previous one. Later calls do nothing.
	StartHeartbeats(interval time.Duration)
	// Stdout and Stderr are the worker's output, logged by the supervisor line by
	// line with the program's name (a "[WARN]"-style prefix sets the level).
	Stdout() io.Writer
	Stderr() io.Writer
	// Acquire takes one unit of the supervisor's semaphore name (at most limit
	// holders at once) and blocks until granted, refused (ipc.ErrLeaseRefused),
	// ctx ends or the run ends. The lease is held until release is called, or the
	// run ends: then the supervisor releases it at once.
	Acquire(ctx context.Context, name string, limit int) (release func() error, err error)
}

// Func is a built-in worker written against Host. It blocks until the worker is
// done. ctx is cancelled when the supervisor asks the worker to stop (a Stop
// message over the pipe or a stop signal for a process; the stop for a goroutine)
// or goes away: the worker must then return promptly. A worker that does not
// return within the program's stop grace is SIGKILLed as a process, and reported
// as leaked as a goroutine (it cannot be killed). Returning nil is exit status 0,
// returning an error is exit status 1 (the error is logged); a panic is a crash
// with exit status 2. A Func must never call os.Exit or change process-wide state
// (signal handlers, the working directory, the environment): as a goroutine it
// shares the supervisor's process.
type Func func(ctx context.Context, host Host, args []string) error

// funcs is the registry of Host-based workers, filled during package
// initialisation and never modified after. Each is also a process worker in
// workers (see init below), so Run and Dispatch run it too.
var funcs = map[string]Func{
	"service": runService,
	"trouble": runTrouble, // trouble.go: misbehaves on request, for supervisor compare
}

func init() {
	for name, fn := range funcs {
		workers[name] = func(args []string, stdout, stderr io.Writer) int {
			return RunProcess(fn, args, stdout, stderr)
		}
	}
}

// Lookup returns the Host-based worker named name, which a supervisor may run as
// a goroutine.
func Lookup(name string) (Func, bool) {
	fn, ok := funcs[name]
	return fn, ok
}

// Funcs returns the Host-based workers by name (those kind goroutine can run).
// The caller owns the returned map.
func Funcs() map[string]Func { return maps.Clone(funcs) }

// FuncNames lists the Host-based workers (those kind goroutine can run), sorted.
// The caller owns the returned slice.
func FuncNames() []string {
	names := make([]string, 0, len(funcs))
	for name := range funcs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// RunProcess runs fn as the main of a worker process whose Host is an ipc.Child on
// fds 3 (to the supervisor) and 4 (from it): it checks that both are pipes, does
// the handshake, serves Requests, and cancels fn's context when a Stop arrives,
// when the supervisor goes away (EOF on fd 4), or on SIGTERM or SIGINT. It returns
// the process exit code: 0 when fn returned nil, 1 when it returned an error (or
// the pipes could not be set up). A panic in fn or a handler is not recovered: the
// process dies with status 2, as Go programs do. Call it only from a worker
// process's main (it installs signal handlers and takes over fds 3 and 4).
func RunProcess(fn Func, args []string, stdout, stderr io.Writer) int {
	out, in, err := openIPC()
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 1
	}
	c, err := ipc.NewChild(in, out, os.Getpid(), programName())
	if err != nil {
		fmt.Fprintf(stderr, "worker: handshake: %v\n", err)
		return 1
	}
	defer c.Close()
	h := &procHost{c: c, name: programName(), stdout: stdout, stderr: stderr}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	defer signal.Stop(sigs)

	served := make(chan error, 1)
	go func() { served <- c.Serve(context.Background(), h.handle) }()
	done := make(chan error, 1)
	go func() { done <- fn(ctx, h, args) }()

	for {
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintf(stderr, "worker: %v\n", err)
				return 1
			}
			return 0
		case err := <-served:
			served = nil
			switch {
			case errors.Is(err, ipc.ErrStopRequested):
			case errors.Is(err, ipc.ErrPeerGone):
				fmt.Fprintln(stderr, "supervisor gone")
			default:
				fmt.Fprintf(stderr, "worker: %v\n", err)
			}
			cancel(ErrStop)
		case s := <-sigs:
			cancel(fmt.Errorf("%w by %s", ErrStop, unix.SignalName(s.(unix.Signal))))
		}
	}
}

// procHost is Host over the pipes, for a worker in its own process.
type procHost struct {
	c              *ipc.Child
	name           string
	h              atomic.Pointer[ipc.Handler]
	stdout, stderr io.Writer
}

var _ Host = (*procHost)(nil)

func (h *procHost) Name() string                           { return h.name }
func (h *procHost) Handle(f ipc.Handler)                   { h.h.Store(&f) }
func (h *procHost) Ready() error                           { return h.c.Ready() }
func (h *procHost) SetStatus(text string) error            { return h.c.SetStatus(text) }
func (h *procHost) Progress()                              { h.c.Progress() }
func (h *procHost) StartHeartbeats(interval time.Duration) { h.c.StartHeartbeats(interval) }
func (h *procHost) Stdout() io.Writer                      { return h.stdout }
func (h *procHost) Stderr() io.Writer                      { return h.stderr }
func (h *procHost) Acquire(ctx context.Context, name string, limit int) (func() error, error) {
	return h.c.Acquire(ctx, name, limit)
}

// ErrStop is the cause (context.Cause) of a Func's context when the supervisor
// asked it to stop, under every kind.
var ErrStop = errors.New("stop requested")

// ErrNoHandler answers Requests that arrive before the worker called Host.Handle.
var ErrNoHandler = errors.New("worker: no request handler set")

func (h *procHost) handle(ctx context.Context, method string, body []byte) ([]byte, error) {
	f := h.h.Load()
	if f == nil {
		return nil, ErrNoHandler
	}
	return (*f)(ctx, method, body)
}
