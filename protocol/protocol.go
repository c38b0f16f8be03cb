package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/supervisor/supervisor/internal/ipc"
)

// The fds a program run with protocol = true gets its pipes on.
const (
	FDToSupervisor   = 3 // the worker writes frames here
	FDFromSupervisor = 4 // the worker reads frames here
)

// Limits of protocol version 1.
const (
	Version      = ipc.ProtocolVersion // the only version spoken; peers must match exactly
	MaxFrame     = ipc.DefaultMaxFrame // a frame's type byte and payload, in bytes
	MaxStatusLen = ipc.MaxStatusLen    // the longest status text, in bytes
	MaxLeaseName = ipc.MaxLeaseName    // the longest lease name, in bytes
)

// Errors, checked with errors.Is. They are internal/ipc's own.
var (
	// ErrStopRequested: Serve received Stop and answered Stopping.
	ErrStopRequested = ipc.ErrStopRequested
	// ErrPeerGone: the supervisor closed its end (EOF at a frame boundary).
	ErrPeerGone = ipc.ErrPeerGone
	// ErrLeaseRefused: the supervisor refused an Acquire; the text has its reason.
	ErrLeaseRefused = ipc.ErrLeaseRefused
	// ErrClosed: the Worker was closed.
	ErrClosed = ipc.ErrClosed
	// ErrVersion: the supervisor speaks another protocol version.
	ErrVersion = ipc.ErrVersion
	// ErrUnexpectedMessage: a message where the protocol does not allow it.
	ErrUnexpectedMessage = ipc.ErrUnexpectedMessage
	// ErrFrameTooLarge, ErrUnknownType, ErrMalformed, ErrTruncated: a broken stream.
	ErrFrameTooLarge = ipc.ErrFrameTooLarge
	ErrUnknownType   = ipc.ErrUnknownType
	ErrMalformed     = ipc.ErrMalformed
	ErrTruncated     = ipc.ErrTruncated
	// ErrNotPipe: Open found no pipe at fd 3 or 4 (is protocol = true set?).
	ErrNotPipe = errors.New("protocol: no pipe at the protocol fd")
)

// A Handler answers one Request: it runs method with body and returns the
// Reply's body, or an error whose text becomes the Reply's error. It runs in
// its own goroutine and must return once ctx is done. It must not keep body
// after it returned (the memory is reused); it may return body itself.
type Handler = func(ctx context.Context, method string, body []byte) ([]byte, error)

// Worker is a worker's side of the conversation with its supervisor.
type Worker struct {
	c *ipc.Child
}

// Open connects on fds 3 and 4 as a program run with protocol = true: it checks
// that both are pipes (else an error wrapping ErrNotPipe), marks them
// close-on-exec, sends Hello with the process's pid and $SUPERVISOR_PROGRAM (or
// the executable's base name) as its name, and blocks until the supervisor's
// HelloAck arrives. The fds stay open until the process exits.
func Open() (*Worker, error) {
	files := make([]*os.File, 2)
	for i, fd := range []int{FDToSupervisor, FDFromSupervisor} {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return nil, fmt.Errorf("%w: fd %d: %w", ErrNotPipe, fd, err)
		}
		if mode := st.Mode & syscall.S_IFMT; mode != syscall.S_IFIFO && mode != syscall.S_IFSOCK {
			return nil, fmt.Errorf("%w: fd %d is a file of mode %#o", ErrNotPipe, fd, mode)
		}
		syscall.CloseOnExec(fd)
		// Non-blocking, so reads wait in the runtime's poller rather than hold an
		// OS thread: the supervisor closed its copies of these ends.
		if err := syscall.SetNonblock(fd, true); err != nil {
			return nil, fmt.Errorf("fd %d: %w", fd, err)
		}
		files[i] = os.NewFile(uintptr(fd), fmt.Sprintf("protocol-fd-%d", fd))
	}
	name := os.Getenv("SUPERVISOR_PROGRAM")
	if name == "" {
		name = filepath.Base(os.Args[0])
	}
	return New(files[1], files[0], os.Getpid(), name)
}

// New connects over r (the pipe from the supervisor) and w (the pipe to it):
// it sends Hello{Version, pid, name} and blocks until the HelloAck arrives. The
// caller owns r and w and closes them, after Serve and Close returned. Errors
// wrap ErrVersion, ErrUnexpectedMessage, ErrPeerGone or a stream error.
func New(r io.Reader, w io.Writer, pid int, name string) (*Worker, error) {
	c, err := ipc.NewChild(r, w, pid, name)
	if err != nil {
		return nil, fmt.Errorf("protocol: handshake: %w", err)
	}
	return &Worker{c: c}, nil
}

// Ready tells the supervisor that initialisation is done: the program becomes
// running. Only the first call sends; every call returns its result.
func (w *Worker) Ready() error { return w.c.Ready() }

// SetStatus sends text (at most MaxStatusLen bytes, else ErrMalformed and
// nothing is sent) as the worker's status, shown by `supervisor ctl status`.
func (w *Worker) SetStatus(text string) error { return w.c.SetStatus(text) }

// Progress records that the main loop made progress, so the next heartbeat is
// sent. Cheap, and safe for concurrent use; call it from the main loop.
func (w *Worker) Progress() { w.c.Progress() }

// StartHeartbeats starts the heartbeat goroutine: every interval (> 0, else it
// panics), if Progress was called since the last heartbeat, it sends one. Only
// the first call starts anything.
func (w *Worker) StartHeartbeats(interval time.Duration) { w.c.StartHeartbeats(interval) }

// Serve reads the supervisor's frames and runs h for each Request in its own
// goroutine. It blocks until a Stop arrived (ErrStopRequested; requests in
// flight get until the stop deadline), the supervisor went away (ErrPeerGone),
// ctx is done (ctx.Err()), Close was called (ErrClosed), or the stream broke (a
// protocol error). Serve must be running for Acquire to get its answers. It may
// be called once.
func (w *Worker) Serve(ctx context.Context, h Handler) error { return w.c.Serve(ctx, h) }

// Acquire asks the supervisor for one unit of the semaphore name, which admits
// at most limit holders at once (1: a mutex), and blocks until it is granted,
// refused (ErrLeaseRefused), ctx ends, or the supervisor goes. On success the
// caller holds the lease until it calls release (once); if the process dies
// first, the supervisor releases it. Safe for concurrent use.
func (w *Worker) Acquire(ctx context.Context, name string, limit int) (release func() error, err error) {
	return w.c.Acquire(ctx, name, limit)
}

// Close stops the heartbeats and makes a running Serve return ErrClosed once its
// handlers returned. It does not close the pipes. Safe to call more than once.
func (w *Worker) Close() error { return w.c.Close() }
