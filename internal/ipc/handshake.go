package ipc

import (
	"fmt"
	"io"
)

// serverHandshake is the supervisor's half of the handshake. It blocks until the
// first frame arrives, requires it to be a Hello of ProtocolVersion, and answers
// HelloAck{ProtocolVersion}.
//
// Errors: the first frame is not a Hello (ErrUnexpectedMessage, "ipc: first frame
// is Heartbeat, want Hello"); the peer closed the pipe first (ErrPeerGone); the
// Hello has another version (ErrVersion, "ipc: protocol version 7, want 1"; the
// Hello is returned too, and the HelloAck is still sent, so the child can report
// the mismatch from its side); any error of Decode or Encode. After an error the
// caller should close both pipes.
func serverHandshake(d *decoder, e *Encoder) (Hello, error) {
	m, err := d.Decode()
	if err != nil {
		if err == io.EOF {
			return Hello{}, newError(ErrPeerGone, io.EOF, "peer closed the pipe before Hello")
		}
		return Hello{}, fmt.Errorf("read Hello: %w", err)
	}
	h, ok := m.(Hello)
	if !ok {
		return Hello{}, newError(ErrUnexpectedMessage, nil, "first frame is %s, want Hello", m.Type())
	}
	if err := e.Encode(HelloAck{Version: ProtocolVersion}); err != nil {
		return h, fmt.Errorf("send HelloAck: %w", err)
	}
	if h.Version != ProtocolVersion {
		return h, newError(ErrVersion, nil, "protocol version %d, want %d", h.Version, ProtocolVersion)
	}
	return h, nil
}

// clientHandshake is the child's half of the handshake. It sends
// Hello{ProtocolVersion, pid, name} and blocks until the answer arrives, which
// must be a HelloAck of ProtocolVersion. pid is carried as data only.
//
// Errors: as for serverHandshake, with "want HelloAck".
func clientHandshake(d *decoder, e *Encoder, pid int, name string) error {
	if err := e.Encode(Hello{Version: ProtocolVersion, Pid: pid, Name: name}); err != nil {
		return fmt.Errorf("send Hello: %w", err)
	}
	m, err := d.Decode()
	if err != nil {
		if err == io.EOF {
			return newError(ErrPeerGone, io.EOF, "peer closed the pipe before HelloAck")
		}
		return fmt.Errorf("read HelloAck: %w", err)
	}
	ack, ok := m.(HelloAck)
	if !ok {
		return newError(ErrUnexpectedMessage, nil, "first frame is %s, want HelloAck", m.Type())
	}
	if ack.Version != ProtocolVersion {
		return newError(ErrVersion, nil, "protocol version %d, want %d", ack.Version, ProtocolVersion)
	}
	return nil
}
