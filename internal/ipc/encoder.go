package ipc

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// DefaultMaxFrame is the default limit on a frame's declared length (the type byte
// and the payload, not the 4 length bytes), and the limit every Encoder enforces.
const DefaultMaxFrame = 1 << 20

// frameHeaderLen is the length prefix: a little-endian uint32.
const frameHeaderLen = 4

// An Encoder writes messages as frames to an io.Writer. It is safe for concurrent
// use: each frame is written with exactly one Write call, under a mutex, so frames
// from several goroutines never interleave as long as this Encoder is the only
// writer of w. The caller owns w and closes it; the Encoder never does.
type Encoder struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte // reused for every frame; grows to the largest frame sent
	err error  // the first failed Write; sticky
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: w, buf: make([]byte, 0, 256)}
}

// Encode writes m as one frame with a single Write to the underlying writer, and
// blocks until that Write returns (for a pipe: until the kernel took the whole
// frame, which may wait for the reader when the pipe is full).
//
// A message that would be malformed (a Status over MaxStatusLen, a negative Stop
// deadline, a Pid out of range) or whose frame would exceed DefaultMaxFrame is
// refused with an error wrapping ErrMalformed or ErrFrameTooLarge, and nothing is
// written: the stream stays usable. A failed Write may have left part of a frame on
// the stream, so after one every Encode returns that same error.
//
// In steady state Encode does not allocate: the frame is built in a buffer kept
// from call to call.
func (e *Encoder) Encode(m Message) error {
	t, plen, err := describe(m)
	if err != nil {
		return err
	}
	n := 1 + plen
	if n > DefaultMaxFrame {
		return newError(ErrFrameTooLarge, nil, "%s frame of %d bytes exceeds the %d-byte limit", t, n, DefaultMaxFrame)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	b := e.buf[:0]
	if cap(b) < frameHeaderLen+n {
		b = make([]byte, 0, frameHeaderLen+n)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, byte(t))
	b = appendPayload(b, m)
	if len(b) != frameHeaderLen+n {
		panic(fmt.Sprintf("ipc: internal error: %s payload is %d bytes, payloadLen said %d", t, len(b)-frameHeaderLen-1, n-1))
	}
	e.buf = b
	nw, err := e.w.Write(b)
	if err == nil && nw != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		e.err = fmt.Errorf("ipc: write %s frame: %w", t, err)
		return e.err
	}
	return nil
}
