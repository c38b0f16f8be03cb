package ipc

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns for a broken stream or a refused
// message wraps exactly one of them; check with errors.Is. The error's own text says
// what was wrong ("ipc: unknown message type 0x7f").
var (
	// ErrFrameTooLarge: a frame's declared length exceeds the decoder's limit, or a
	// message to encode would exceed DefaultMaxFrame.
	ErrFrameTooLarge = errors.New("ipc: frame too large")
	// ErrUnknownType: a frame's type byte names no message of this protocol version.
	ErrUnknownType = errors.New("ipc: unknown message type")
	// ErrMalformed: a zero-length frame, or a payload that breaks the encoding rules
	// (a bad varint, a length beyond the frame, a value out of range, bytes after the
	// last field). Encode returns it, unsent, for a message Decode would reject.
	ErrMalformed = errors.New("ipc: malformed frame")
	// ErrTruncated: the stream ended inside a frame. Such errors also wrap
	// io.ErrUnexpectedEOF.
	ErrTruncated = errors.New("ipc: truncated frame")

	// ErrVersion: the peer speaks another protocol version.
	ErrVersion = errors.New("ipc: protocol version mismatch")
	// ErrUnexpectedMessage: a well-formed message arrived where the protocol does not
	// allow it (a first frame other than Hello, a Request sent by a child, ...), or
	// Conn.Send was given a message only a child sends.
	ErrUnexpectedMessage = errors.New("ipc: unexpected message")
	// ErrPeerGone: the peer closed its end of the pipe (the reader saw EOF at a frame
	// boundary). Such errors also wrap io.EOF.
	ErrPeerGone = errors.New("ipc: peer gone")
	// ErrStopRequested: Child.Serve received Stop and answered Stopping.
	ErrStopRequested = errors.New("ipc: stop requested")
	// ErrClosed: the Child was closed.
	ErrClosed = errors.New("ipc: closed")
)

// protoError is an error with its own text that wraps a sentinel (kind) and, when
// there is one, the error that caused it, so that both errors.Is(err, ErrTruncated)
// and errors.Is(err, io.ErrUnexpectedEOF) hold while the text reads
// "ipc: truncated Request frame: got 3 of 70 bytes: unexpected EOF".
type protoError struct {
	msg   string
	kind  error
	cause error // nil if none
}

// newError returns a protoError whose text is "ipc: " + the formatted message,
// followed by ": " + cause's text when cause is not nil.
func newError(kind, cause error, format string, args ...any) error {
	return &protoError{msg: "ipc: " + fmt.Sprintf(format, args...), kind: kind, cause: cause}
}

func (e *protoError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *protoError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}
