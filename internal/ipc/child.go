package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// A Handler answers one Request: it runs method with body and returns the Reply's
// body, or an error whose text becomes the Reply's Err. It runs in its own
// goroutine and must return once ctx is done (see Child.Serve). Like an
// io.Writer's Write, it must not keep body, or hand it to a goroutine that
// outlives it: once the handler returned and its Reply was written, body goes back
// to the decoder's pools and a later Request's bytes overwrite it. It may
// return body, or a slice of it, as the Reply's body. A panic in a handler is not
// recovered: it ends the worker, as any goroutine's panic does.
type Handler func(ctx context.Context, method string, body []byte) ([]byte, error)

// Child is a worker's side of the conversation with its supervisor: the
// handshake, Ready, status, heartbeats that prove progress, and serving Requests.
//
// Ownership: the worker owns r and w and closes them (after Serve and Close
// returned); the Child never does. Once NewChild returned, only Serve reads r.
// Every frame the Child sends goes through one Encoder, so frames written by
// Ready, SetStatus, the heartbeat goroutine, handlers' replies, Stopping, Acquire
// and Release never interleave.
type Child struct {
	dec *decoder // r: supervisor -> child. The handshake, then Serve's reader goroutine.
	enc *Encoder // w: child -> supervisor. Any goroutine.

	ready   func() error // sends Ready once, then returns the first result
	beat    Beat         // progress-gated heartbeats
	serving atomic.Bool  // Serve was called

	closed   chan struct{} // closed by Close
	gone     chan struct{} // closed when Serve's reader hit the end of r: the supervisor is gone
	goneOnce sync.Once

	leaseMu   sync.Mutex
	leaseNext uint64                // the last Acquire ID
	leases    map[uint64]chan Lease // Acquires waiting for their Lease

	mu        sync.Mutex
	isClosed  bool           // closed has been closed
	hbStarted bool           // StartHeartbeats started the heartbeat goroutine
	hbDone    sync.WaitGroup // the heartbeat goroutine
	stopAt    time.Time      // when the Stop deadline expires; zero if no Stop came
}

// NewChild performs the client handshake over r (the pipe from the supervisor)
// and w (the pipe to the supervisor): it sends Hello{ProtocolVersion, pid, name}
// and blocks until the supervisor's HelloAck arrives. pid is carried as data only.
// Errors: as for Conn.Handshake, with "want HelloAck" (and no Hello returned).
func NewChild(r io.Reader, w io.Writer, pid int, name string) (*Child, error) {
	c := &Child{
		dec:    newDecoder(r, 0),
		enc:    NewEncoder(w),
		closed: make(chan struct{}),
		gone:   make(chan struct{}),
	}
	c.ready = sync.OnceValue(func() error { return c.send(Ready{}) })
	if err := clientHandshake(c.dec, c.enc, pid, name); err != nil {
		return nil, err
	}
	return c, nil
}

// send writes m unless the Child is closed.
func (c *Child) send(m Message) error {
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	return c.enc.Encode(m)
}

// Ready tells the supervisor that initialisation is done. Only the first call
// sends; it is safe to call multiple times, and every call returns the first
// call's result.
func (c *Child) Ready() error {
	return c.ready()
}

// SetStatus sends text (at most MaxStatusLen bytes, else ErrMalformed and nothing
// is sent) as the child's status. It blocks until the frame is written.
func (c *Child) SetStatus(text string) error {
	return c.send(Status{Text: text})
}

// Progress records that the worker's own main loop made progress. It is cheap (one
// atomic load when called again before the next heartbeat) and safe for concurrent
// use. Call it from the loop whose liveness the supervisor should see, not from a
// helper goroutine: a heartbeat is sent only if Progress was called since the
// previous one, so a deadlocked main loop stops the heartbeats even though the
// heartbeat goroutine is alive.
func (c *Child) Progress() { c.beat.Progress() }

// StartHeartbeats starts the heartbeat goroutine: every interval, if Progress was
// called since the last heartbeat, it sends Heartbeat with the next Seq (from 1).
// It stops when Close is called, when Serve saw the supervisor gone, or when a
// write fails. interval must be positive (StartHeartbeats panics otherwise). Only
// the first call starts anything; later calls, and calls after Close, do nothing.
func (c *Child) StartHeartbeats(interval time.Duration) {
	if interval <= 0 {
		panic("ipc: StartHeartbeats with a non-positive interval")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed || c.hbStarted {
		return
	}
	c.hbStarted = true
	c.hbDone.Add(1)
	go c.heartbeats(interval)
}

func (c *Child) heartbeats(interval time.Duration) {
	defer c.hbDone.Done()
	c.beat.Run(interval, c.closed, c.gone, func(h Heartbeat) error { return c.send(h) })
}

// Serve reads frames from the supervisor and runs h for each Request, each in its
// own goroutine, writing h's result back as a Reply with the Request's ID. It
// blocks until one of:
//
//   - the supervisor closed its end (EOF at a frame boundary): an error wrapping
//     ErrPeerGone and io.EOF; heartbeats stop too;
//   - a Stop arrived: Serve sends Stopping at once, reads no further Request, and
//     returns ErrStopRequested (joined with the error of sending Stopping, if that
//     failed);
//   - ctx is done: ctx.Err();
//   - Close was called: ErrClosed;
//   - a protocol error: a Decode error (ErrTruncated etc.), or ErrUnexpectedMessage
//     for a frame only a child may send.
//
// Each handler's context is a child of ctx. It is cancelled when Serve ends for
// any reason but Stop; after Stop it is cancelled when the Stop deadline expires,
// so in-flight Requests may finish within it. Either way Serve returns only after
// every handler it started has returned and its Reply was written (or refused,
// after Close).
//
// When Serve returns for ctx or Close, a read of r may still be in progress in a
// goroutine; it ends when r returns (when the worker closes r or the supervisor
// closes its end). Serve may be called once.
func (c *Child) Serve(ctx context.Context, h Handler) error {
	if !c.serving.CompareAndSwap(false, true) {
		return errors.New("ipc: Serve called more than once")
	}
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // Close cancels the handlers too.
		select {
		case <-c.closed:
			cancel()
		case <-hctx.Done():
		}
	}()

	hs := new(handlerSet)
	end := make(chan error, 1) // the reader's last word; it sends at most once
	go c.read(hctx, h, hs, end)

	var err error
	select {
	case err = <-end:
	case <-ctx.Done():
		err = ctx.Err()
	case <-c.closed:
		err = ErrClosed
	}
	if dl, ok := c.stopDeadline(); ok && errors.Is(err, ErrStopRequested) {
		t := time.AfterFunc(time.Until(dl), cancel)
		defer t.Stop()
	} else {
		cancel()
	}
	hs.stopAndWait()
	return err
}

// read is Serve's reader goroutine: it decodes frames and starts a handler per
// Request until the stream ends, a Stop arrives, a protocol error occurs, or a
// Request finds Serve finished. It reports why it stopped on end, if it was not
// Serve that stopped it.
func (c *Child) read(ctx context.Context, h Handler, hs *handlerSet, end chan<- error) {
	for {
		m, err := c.dec.Decode()
		if err != nil {
			if err == io.EOF {
				c.markGone()
				end <- newError(ErrPeerGone, io.EOF, "supervisor closed the pipe")
				return
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				c.markGone()
			}
			end <- err
			return
		}
		if hs.isStopped() { // Serve has returned: act on nothing more
			return
		}
		switch m := m.(type) {
		case Request:
			if !hs.start(func() { c.handle(ctx, h, m) }) {
				return
			}
		case Lease:
			c.leaseMu.Lock()
			ch := c.leases[m.ID]
			delete(c.leases, m.ID)
			c.leaseMu.Unlock()
			if ch != nil {
				ch <- m // buffered
			}
		case Stop:
			c.mu.Lock()
			c.stopAt = time.Now().Add(m.Deadline)
			c.mu.Unlock()
			if err := c.send(Stopping{}); err != nil {
				end <- errors.Join(ErrStopRequested, err)
			} else {
				end <- ErrStopRequested
			}
			return
		default:
			end <- newError(ErrUnexpectedMessage, nil, "%s from the supervisor", m.Type())
			return
		}
	}
}

// handle runs h for req and sends the Reply. A reply that cannot be encoded (too
// large) is replaced by an error Reply; one that cannot be written is dropped (the
// supervisor is gone, or the Child closed).
func (c *Child) handle(ctx context.Context, h Handler, req Request) {
	body, err := h(ctx, req.Method, req.Body)
	rep := Reply{ID: req.ID, Body: body}
	if err != nil {
		rep.Err = err.Error()
		if rep.Err == "" {
			rep.Err = "handler returned an error with no text"
		}
	}
	if err := c.send(rep); errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMalformed) {
		_ = c.send(Reply{ID: req.ID, Err: "reply not sent: " + err.Error()})
	}
	recycle(req.Body) // the Reply was copied out: nothing refers to body now
}

// ErrLeaseRefused wraps the supervisor's reason for refusing an Acquire.
var ErrLeaseRefused = errors.New("ipc: lease refused")

// Acquire asks the supervisor for one unit of the semaphore name, which lets
// at most limit holders in at once (1: a mutex), and blocks until it is granted,
// refused (ErrLeaseRefused), ctx ends, or the supervisor goes. On success the
// caller holds the lease until it calls release (once); if the process dies
// first, the supervisor releases it at once. Serve must be running: it reads
// the answers. Safe for concurrent use.
func (c *Child) Acquire(ctx context.Context, name string, limit int) (release func() error, err error) {
	if limit < 1 || limit > math.MaxUint32 {
		return nil, newError(ErrMalformed, nil, "Acquire: limit %d", limit)
	}
	ch := make(chan Lease, 1)
	c.leaseMu.Lock()
	if c.leases == nil {
		c.leases = map[uint64]chan Lease{}
	}
	c.leaseNext++
	id := c.leaseNext
	c.leases[id] = ch
	c.leaseMu.Unlock()
	forget := func() {
		c.leaseMu.Lock()
		delete(c.leases, id)
		c.leaseMu.Unlock()
	}
	if err := c.send(Acquire{ID: id, Name: name, Limit: uint32(limit)}); err != nil {
		forget()
		return nil, err
	}
	select {
	case l := <-ch:
		if l.Err != "" {
			return nil, fmt.Errorf("%w: %s: %s", ErrLeaseRefused, name, l.Err)
		}
		var once sync.Once
		return func() error {
			var err error
			once.Do(func() { err = c.send(Release{ID: id}) })
			return err
		}, nil
	case <-ctx.Done():
		forget()
		_ = c.send(Release{ID: id}) // withdraws it, or gives it back if granted meanwhile
		return nil, ctx.Err()
	case <-c.gone:
		forget()
		return nil, newError(ErrPeerGone, nil, "supervisor gone while waiting for lease %s", name)
	case <-c.closed:
		forget()
		return nil, ErrClosed
	}
}

func (c *Child) markGone() {
	c.goneOnce.Do(func() { close(c.gone) })
}

// stopDeadline returns when the stop deadline of the Stop that ended Serve
// expires (its receipt plus Stop.Deadline), and false if no Stop arrived.
func (c *Child) stopDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopAt, !c.stopAt.IsZero()
}

// Close stops the heartbeat goroutine, waiting for a heartbeat write in progress,
// and makes a running Serve cancel its handlers and return ErrClosed once they
// returned (Close does not wait for that). Frames requested after Close are refused
// with ErrClosed. Close does not close r or w. It is safe to call multiple times
// and concurrently, and always returns nil.
func (c *Child) Close() error {
	c.mu.Lock()
	if !c.isClosed {
		c.isClosed = true
		close(c.closed)
	}
	c.mu.Unlock()
	c.hbDone.Wait()
	return nil
}

// handlerSet tracks Serve's handler goroutines, so that none starts after Serve
// began waiting for them.
type handlerSet struct {
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// start runs f in a new goroutine and reports true, or reports false if
// stopAndWait was called.
func (hs *handlerSet) start(f func()) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.stopped {
		return false
	}
	hs.wg.Add(1)
	go func() {
		defer hs.wg.Done()
		f()
	}()
	return true
}

func (hs *handlerSet) isStopped() bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.stopped
}

// stopAndWait makes later starts fail and waits for the running goroutines.
func (hs *handlerSet) stopAndWait() {
	hs.mu.Lock()
	hs.stopped = true
	hs.mu.Unlock()
	hs.wg.Wait()
}
