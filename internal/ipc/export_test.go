package ipc

import "time"

// The black-box tests (package ipc_test) reach the framing layer under the
// package's API: newDecoder, the handshake halves, the body pools, and two
// accessors only tests need.

var (
	NewDecoder      = newDecoder
	ServerHandshake = serverHandshake
	ClientHandshake = clientHandshake
	Recycle         = recycle
)

// StopDeadline is stopDeadline.
func (c *Child) StopDeadline() (time.Time, bool) { return c.stopDeadline() }

// Len returns the number of requests in flight.
func (p *Pending) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}
