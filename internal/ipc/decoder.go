package ipc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"
)

const (
	// readBufSize is the decoder's bufio.Reader size. Frames that fit in it
	// (nearly all: heartbeats, status, small requests) are parsed in place.
	readBufSize = 4096
	// growStep bounds the first allocation for a frame larger than the read buffer;
	// beyond it the buffer doubles only as bytes actually arrive.
	growStep = 256 << 10
)

// A decoder reads frames from an io.Reader and returns the messages in them. It
// is not safe for concurrent use: one goroutine reads. It reads through its own
// bufio.Reader, so it may read ahead of the frame it returns; nothing else may read
// from r once the decoder has. The caller owns r and closes it; the decoder never
// does.
type decoder struct {
	r   *bufio.Reader
	max int   // limit on a frame's declared length
	err error // the first error; sticky
	// inFrame: part of the current frame was consumed from r (a frame longer
	// than the buffer is read in pieces); Detach refuses then.
	inFrame bool
	pre     *bytes.Reader // bytes handed over from an earlier reader, read before r's (NewResumedConn)
}

// newDecoder returns a decoder reading from r that refuses frames whose declared
// length exceeds maxFrame bytes; maxFrame <= 0 means DefaultMaxFrame.
func newDecoder(r io.Reader, maxFrame int) *decoder {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &decoder{r: bufio.NewReaderSize(r, readBufSize), max: maxFrame}
}

// Decode reads the next frame and returns its message. It blocks until a whole
// frame has arrived or the stream fails.
//
// At a frame boundary, the end of the stream is io.EOF itself. Any other failure
// wraps ErrFrameTooLarge, ErrUnknownType, ErrMalformed or ErrTruncated (the stream
// ended inside a frame; also wraps io.ErrUnexpectedEOF), or is the reader's own
// error with context. Errors are sticky: once Decode has failed, every later call
// returns the same error, because the stream can no longer be trusted to be at a
// frame boundary.
//
// Memory: the declared length is checked against the limit before anything is
// allocated for the frame. A frame that fits in the 4 KiB read buffer is parsed in
// place. A larger Request or Reply whose fields before the Body fit in the read
// buffer, with a Body of up to 256 KiB, has its Body read straight into a buffer
// of exactly the declared length, from the body pools if one there is big enough
// (see recycle). Any other large frame is read into a buffer that starts at most
// 256 KiB and doubles only as bytes arrive, never beyond the declared length, and
// its Body is a slice of that buffer. Strings are copied out, and a small frame's
// Body is copied out of the read buffer, so a Body never aliases memory the
// decoder reuses: it is the caller's until the caller recycles it. Decoding a message
// whose fields are all numbers allocates only to box it in the Message interface
// (8 bytes for Heartbeat; nothing for Ready and Stopping).
//
// Decode never panics, whatever the input.
func (d *decoder) Decode() (Message, error) {
	if d.err != nil {
		return nil, d.err
	}
	m, err := d.decode()
	if err != nil {
		d.err = err
	}
	return m, err
}

func (d *decoder) decode() (Message, error) {
	hdr, err := d.r.Peek(frameHeaderLen)
	if err != nil {
		if len(hdr) == 0 && err == io.EOF {
			return nil, io.EOF
		}
		if err == io.EOF {
			return nil, newError(ErrTruncated, io.ErrUnexpectedEOF, "truncated frame: got %d of %d length bytes", len(hdr), frameHeaderLen)
		}
		return nil, fmt.Errorf("ipc: read frame length: %w", err)
	}
	n := binary.LittleEndian.Uint32(hdr)
	switch {
	case n == 0:
		return nil, newError(ErrMalformed, nil, "zero-length frame")
	case uint64(n) > uint64(d.max):
		return nil, newError(ErrFrameTooLarge, nil, "frame of %d bytes exceeds the %d-byte limit", n, d.max)
	}
	b, err := d.r.Peek(frameHeaderLen + 1)
	if err != nil {
		return nil, readError(err, "frame", 0, n)
	}
	t := Type(b[frameHeaderLen])
	if !t.known() {
		return nil, newError(ErrUnknownType, nil, "unknown message type 0x%02x", uint8(t))
	}

	if total := frameHeaderLen + int(n); total <= d.r.Size() {
		b, err := d.r.Peek(total)
		if err != nil {
			return nil, readError(err, t.String()+" frame", len(b)-frameHeaderLen, n)
		}
		m, err := decodePayload(t, b[frameHeaderLen+1:], false)
		d.r.Discard(total) // cannot fail: the bytes are buffered
		return m, err
	}

	d.r.Discard(frameHeaderLen + 1)
	d.inFrame = true
	if t == TypeRequest || t == TypeReply {
		if m, ok, err := d.readBodied(t, int(n)-1); ok {
			d.inFrame = err != nil
			return m, err
		}
	}
	p, err := d.readLarge(t, int(n)-1)
	if err != nil {
		return nil, err
	}
	d.inFrame = false
	return decodePayload(t, p, true)
}

// readBodied reads a large Request or Reply payload of n bytes whose fields
// before the Body arrived in the read buffer: it parses them there, then reads the
// Body straight into a buffer of its own from the body pools (see recycle). ok is
// false, with nothing consumed, for any other payload (those fields longer than
// the buffer, a Body over 256 KiB, or malformed: readLarge then reads it, growing
// its buffer as bytes arrive, and names what is wrong).
func (d *decoder) readBodied(t Type, n int) (m Message, ok bool, err error) {
	pre, err := d.r.Peek(min(n, d.r.Size()))
	if err != nil { // the frame ends (or the reader fails) within its first 4 KiB
		return nil, true, readError(err, t.String()+" frame", 1+len(pre), uint32(n+1))
	}
	p := payload{b: pre, t: t}
	id := p.uvarint("ID")
	s := p.bytes("string", len(pre))
	size := p.uvarint("Body")
	head := len(pre) - len(p.b)
	if p.err != nil || size == 0 || size > growStep || uint64(head)+size != uint64(n) {
		return nil, false, nil
	}
	str := string(s)
	d.r.Discard(head) // cannot fail: the bytes are buffered
	body := newBody(int(size))
	for got := 0; got < len(body); {
		k, err := d.r.Read(body[got:])
		got += k
		if err != nil && got < len(body) {
			recycle(body)
			return nil, true, readError(err, t.String()+" frame", 1+head+got, uint32(n+1))
		}
	}
	if t == TypeRequest {
		return Request{ID: id, Method: str, Body: body}, true, nil
	}
	return Reply{ID: id, Err: str, Body: body}, true, nil
}

// readLarge reads a payload of n bytes that does not fit in the read buffer into a
// new buffer that grows with the bytes received.
func (d *decoder) readLarge(t Type, n int) ([]byte, error) {
	buf := make([]byte, min(n, growStep))
	got := 0
	for got < n {
		if got == len(buf) {
			next := make([]byte, min(n, 2*len(buf)))
			copy(next, buf)
			buf = next
		}
		k, err := d.r.Read(buf[got:])
		got += k
		if err != nil && got < n {
			return nil, readError(err, t.String()+" frame", 1+got, uint32(n+1))
		}
	}
	return buf, nil
}

// readError describes a failed read inside a frame: got of want bytes arrived.
func readError(err error, what string, got int, want uint32) error {
	if err == io.EOF {
		return newError(ErrTruncated, io.ErrUnexpectedEOF, "truncated %s: got %d of %d bytes", what, got, want)
	}
	return fmt.Errorf("ipc: read %s: %w", what, err)
}

// payload parses one frame's payload. The first error is kept and makes every
// later read return a zero value, so decodePayload checks once at the end.
type payload struct {
	b     []byte
	t     Type
	owned bool // b is the frame's own buffer: blobs may alias it
	err   error
}

func (p *payload) fail(field, format string, args ...any) {
	if p.err == nil {
		p.err = newError(ErrMalformed, nil, "malformed %s frame: %s: %s", p.t, field, fmt.Sprintf(format, args...))
	}
}

// uvarint reads a minimally encoded uvarint of at most 64 bits.
func (p *payload) uvarint(field string) uint64 {
	if p.err != nil {
		return 0
	}
	var x uint64
	var s uint
	for i, c := range p.b {
		if i == binary.MaxVarintLen64-1 && c > 1 {
			p.fail(field, "varint overflows 64 bits")
			return 0
		}
		if c < 0x80 {
			if c == 0 && i > 0 {
				p.fail(field, "varint is not minimally encoded")
				return 0
			}
			p.b = p.b[i+1:]
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	p.fail(field, "varint runs past the end of the frame")
	return 0
}

// uint reads a uvarint that must not exceed limit.
func (p *payload) uint(field string, limit uint64) uint64 {
	x := p.uvarint(field)
	if x > limit {
		p.fail(field, "%d exceeds %d", x, limit)
		return 0
	}
	return x
}

// bytes reads a length-prefixed byte string of at most limit bytes; the result
// aliases the payload.
func (p *payload) bytes(field string, limit int) []byte {
	n := p.uvarint(field)
	if p.err != nil {
		return nil
	}
	if n > uint64(len(p.b)) {
		p.fail(field, "length %d exceeds the %d bytes left in the frame", n, len(p.b))
		return nil
	}
	if n > uint64(limit) {
		p.fail(field, "length %d exceeds the %d-byte limit", n, limit)
		return nil
	}
	s := p.b[:n:n]
	p.b = p.b[n:]
	return s
}

func (p *payload) str(field string, limit int) string {
	return string(p.bytes(field, limit))
}

// blob reads a Body: nil when empty, else a copy or, if the payload is owned, a
// sub-slice of it.
func (p *payload) blob(field string) []byte {
	b := p.bytes(field, math.MaxInt)
	if len(b) == 0 {
		return nil
	}
	if p.owned {
		return b
	}
	return append([]byte(nil), b...)
}

// finish returns the first error, or an error if bytes are left after the last field.
func (p *payload) finish() error {
	if p.err == nil && len(p.b) > 0 {
		p.err = newError(ErrMalformed, nil, "malformed %s frame: %d bytes after the last field", p.t, len(p.b))
	}
	return p.err
}

// decodePayload decodes the payload b of a frame of known type t. If owned, b
// belongs to the message from now on.
func decodePayload(t Type, b []byte, owned bool) (Message, error) {
	p := payload{b: b, t: t, owned: owned}
	var m Message
	switch t {
	case TypeHello:
		var h Hello
		h.Version = uint32(p.uint("Version", math.MaxUint32))
		h.Pid = int(p.uint("Pid", maxPid))
		h.Name = p.str("Name", math.MaxInt)
		m = h
	case TypeHelloAck:
		m = HelloAck{Version: uint32(p.uint("Version", math.MaxUint32))}
	case TypeReady:
		m = Ready{}
	case TypeHeartbeat:
		m = Heartbeat{Seq: p.uvarint("Seq")}
	case TypeStatus:
		m = Status{Text: p.str("Text", MaxStatusLen)}
	case TypeRequest:
		var r Request
		r.ID = p.uvarint("ID")
		r.Method = p.str("Method", math.MaxInt)
		r.Body = p.blob("Body")
		m = r
	case TypeReply:
		var r Reply
		r.ID = p.uvarint("ID")
		r.Err = p.str("Err", math.MaxInt)
		r.Body = p.blob("Body")
		m = r
	case TypeStop:
		m = Stop{Deadline: time.Duration(p.uint("Deadline", math.MaxInt64))}
	case TypeStopping:
		m = Stopping{}
	case TypeAcquire:
		var a Acquire
		a.ID = p.uvarint("ID")
		a.Name = p.str("Name", MaxLeaseName)
		a.Limit = uint32(p.uint("Limit", math.MaxUint32))
		if p.err == nil && (a.Name == "" || a.Limit == 0) {
			p.fail("Acquire", "empty name or Limit 0")
		}
		m = a
	case TypeLease:
		var l Lease
		l.ID = p.uvarint("ID")
		l.Err = p.str("Err", math.MaxInt)
		m = l
	case TypeRelease:
		m = Release{ID: p.uvarint("ID")}
	default:
		// Unreachable: the caller checked t.known().
		return nil, newError(ErrUnknownType, nil, "unknown message type 0x%02x", uint8(t))
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return m, nil
}
