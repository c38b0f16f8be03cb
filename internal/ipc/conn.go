package ipc

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// Conn is the supervisor's side of the conversation with one child: a decoder on
// the pipe from the child and an Encoder on the pipe to it. It knows nothing of
// processes; request/reply correlation and timeouts are the caller's (see Pending).
//
// Ownership: the caller owns r and w. It must keep w open while it may Send, close
// w to tell the child to go (the child reads EOF), and close r only after the
// reader goroutine is done with Recv.
type Conn struct {
	dec *decoder // child -> supervisor; one reader goroutine
	enc *Encoder // supervisor -> child; any goroutine
}

// NewConn returns a Conn that reads frames from the child on r (refusing frames
// longer than maxFrame bytes; <= 0 means DefaultMaxFrame) and writes frames to the
// child on w.
func NewConn(r io.Reader, w io.Writer, maxFrame int) *Conn {
	return &Conn{dec: newDecoder(r, maxFrame), enc: NewEncoder(w)}
}

// NewResumedConn is NewConn for a connection whose handshake happened
// before, in another Conn (another image of the supervisor, across an
// upgrade): rest, what that Conn had read from r and not decoded (Detach),
// is decoded first. Call Recv, never Handshake.
func NewResumedConn(r io.Reader, w io.Writer, maxFrame int, rest []byte) *Conn {
	pre := bytes.NewReader(rest)
	c := &Conn{dec: newDecoder(io.MultiReader(pre, r), maxFrame), enc: NewEncoder(w)}
	c.dec.pre = pre
	return c
}

// ErrInsideFrame is returned by Detach when the reader stopped inside a frame.
var ErrInsideFrame = errors.New("ipc: the reader stopped inside a frame")

// Detach returns what the Conn read from its reader and did not decode yet,
// once Recv has returned because the reader failed (a read deadline set to
// stop it, for a handover). Those bytes, then the reader's, are the rest of
// the stream, from a frame boundary: NewResumedConn carries on from there. It
// fails with ErrInsideFrame if Recv stopped inside a frame it had begun to
// consume (one longer than the read buffer); the stream cannot be resumed
// then. The Conn must not be used afterwards.
func (c *Conn) Detach() ([]byte, error) {
	d := c.dec
	if d.inFrame {
		return nil, ErrInsideFrame
	}
	b, _ := d.r.Peek(d.r.Buffered()) // cannot fail: the bytes are buffered
	rest := bytes.Clone(b)
	if d.pre != nil && d.pre.Len() > 0 {
		more := make([]byte, d.pre.Len())
		n, _ := d.pre.Read(more)
		rest = append(rest, more[:n]...)
	}
	return rest, nil
}

// Frame encodes m as one frame, for a stream handed over (NewResumedConn's
// rest): messages a reader had decoded and not delivered go back in front.
func Frame(m Message) ([]byte, error) {
	var b bytes.Buffer
	if err := NewEncoder(&b).Encode(m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Handshake is the supervisor's half of the handshake: it blocks until the
// child's first frame arrives, requires it to be a Hello of ProtocolVersion, and
// answers HelloAck{ProtocolVersion}. It must be called once, before any Recv or
// Send.
//
// Errors: the first frame is not a Hello (ErrUnexpectedMessage, "ipc: first
// frame is Heartbeat, want Hello"); the child closed the pipe first
// (ErrPeerGone); the Hello has another version (ErrVersion, "ipc: protocol
// version 7, want 1"; the Hello is returned too, and the HelloAck is still sent,
// so the child can report the mismatch from its side); any error of decoding or
// Encode. After an error the caller should close both pipes.
func (c *Conn) Handshake() (Hello, error) {
	return serverHandshake(c.dec, c.enc)
}

// Recv blocks until the next message from the child arrives and returns it: a
// Ready, Heartbeat, Status, Reply, Stopping, Acquire or Release. It must be called by one goroutine
// only, after a successful Handshake.
//
// When the child closed its end at a frame boundary (it exited, or closed the
// pipe), Recv returns an error wrapping ErrPeerGone and io.EOF. A message that a
// child may not send (Hello after the handshake, HelloAck, Request, Stop) is
// returned as an error wrapping ErrUnexpectedMessage; the stream stays in sync, so
// Recv may be called again. Other errors are the decoder's, and sticky.
func (c *Conn) Recv() (Message, error) {
	m, err := c.dec.Decode()
	if err != nil {
		if err == io.EOF {
			return nil, newError(ErrPeerGone, io.EOF, "child closed the pipe")
		}
		return nil, err
	}
	switch m.(type) {
	case Ready, Heartbeat, Status, Reply, Stopping, Acquire, Release:
		return m, nil
	}
	return nil, newError(ErrUnexpectedMessage, nil, "%s from the child", m.Type())
}

// Send writes m to the child as one frame; m must be a Request, a Stop or a Lease (other
// messages are refused with ErrUnexpectedMessage, unsent). It is safe for
// concurrent use and blocks until the frame is written (see Encoder.Encode for
// errors).
func (c *Conn) Send(m Message) error {
	switch m.(type) {
	case Request, Stop, Lease:
		return c.enc.Encode(m)
	case nil:
		return c.enc.Encode(nil)
	}
	return newError(ErrUnexpectedMessage, nil, "Send of %s: only a child sends it", m.Type())
}

// Result is how a pending request ends: with the child's Reply, or with Err when
// the request failed before a Reply came (see Pending.Fail).
type Result struct {
	Reply Reply
	Err   error
}

// Pending correlates Requests with Replies on one connection. It hands out request
// IDs, keeps a channel per request in flight, delivers each Reply to its channel,
// and fails everything in flight when the connection dies. The zero value is ready
// to use; it is safe for concurrent use.
//
// Typical use: a caller does id, ch, err := p.Add(), sends Request{ID: id, ...},
// and waits on ch and its own timeout (calling Remove(id) if it gives up); the
// reader goroutine calls Resolve for each Reply that Recv returns, and Fail when Recv
// fails.
type Pending struct {
	mu    sync.Mutex
	last  uint64                   // the last ID handed out; IDs start at 1
	calls map[uint64]chan<- Result // in flight; each channel has a buffer of 1
	err   error                    // set by Fail
}

// Add registers a new request. It returns the ID to send it with and the channel
// that will receive exactly one Result (buffered: delivering never blocks), unless
// the request is removed first. After Fail, Add returns the Fail error.
func (p *Pending) Add() (uint64, <-chan Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return 0, nil, p.err
	}
	if p.calls == nil {
		p.calls = make(map[uint64]chan<- Result)
	}
	p.last++
	ch := make(chan Result, 1)
	p.calls[p.last] = ch
	return p.last, ch, nil
}

// NewPendingAfter returns a Pending whose first ID is last+1: a connection
// handed over keeps numbering its requests where the old Pending stopped
// (Last), so that a late Reply to a request of the old one matches nothing.
func NewPendingAfter(last uint64) *Pending { return &Pending{last: last} }

// Last is the last ID Add handed out.
func (p *Pending) Last() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Resolve delivers r to the request with ID r.ID and forgets that request. It
// reports false, and does nothing, if no such request is in flight (it was removed
// after a timeout, already answered, or never sent): the caller decides whether a
// stray Reply is a protocol error.
func (p *Pending) Resolve(r Reply) bool {
	p.mu.Lock()
	ch, ok := p.calls[r.ID]
	delete(p.calls, r.ID)
	p.mu.Unlock()
	if ok {
		ch <- Result{Reply: r}
	}
	return ok
}

// Remove forgets the request with ID id, whose channel then never receives
// anything. It reports whether the request was in flight; false means its Result
// has been delivered already (or it never existed).
func (p *Pending) Remove(id uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.calls[id]
	delete(p.calls, id)
	return ok
}

// Fail ends every request in flight with Result{Err: err} and makes every later
// Add fail with err (nil means ErrPeerGone). Call it when the connection is gone.
// It is safe to call more than once: later calls find nothing in flight, and Add
// keeps returning the first error. It returns the number of requests it ended.
func (p *Pending) Fail(err error) int {
	if err == nil {
		err = ErrPeerGone
	}
	p.mu.Lock()
	calls := p.calls
	p.calls = nil
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	for _, ch := range calls {
		ch <- Result{Err: err}
	}
	return len(calls)
}
