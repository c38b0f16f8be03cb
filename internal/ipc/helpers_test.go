package ipc_test

import (
	"context"
	"encoding/binary"
	"os"
	"testing"

	"github.com/supervisor/supervisor/internal/ipc"
)

// pipe returns the two ends of an os.Pipe, closed when the test ends.
func pipe(t testing.TB) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return r, w
}

// frame builds a raw frame: the length of typ and payload, typ, then payload.
func frame(typ byte, payload ...byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(1+len(payload)))
	b = append(b, typ)
	return append(b, payload...)
}

// header is a bare 4-byte length.
func header(n uint32) []byte {
	return binary.LittleEndian.AppendUint32(nil, n)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// pair is a supervisor-side Conn and a Child talking over two real pipes, with the
// four pipe ends named by direction so tests can close one side.
type pair struct {
	conn *ipc.Conn
	kid  *ipc.Child
	// supervisor -> child: the supervisor writes s2cW, the child reads s2cR.
	s2cR, s2cW *os.File
	// child -> supervisor: the child writes c2sW, the supervisor reads c2sR.
	c2sR, c2sW *os.File
	hello      ipc.Hello
}

// newPair connects a Conn and a Child and runs both halves of the handshake.
func newPair(t testing.TB) *pair {
	t.Helper()
	p := new(pair)
	p.s2cR, p.s2cW = pipe(t)
	p.c2sR, p.c2sW = pipe(t)
	p.conn = ipc.NewConn(p.c2sR, p.s2cW, 0)
	type result struct {
		kid *ipc.Child
		err error
	}
	done := make(chan result, 1)
	go func() {
		kid, err := ipc.NewChild(p.s2cR, p.c2sW, 4242, "test-worker")
		done <- result{kid, err}
	}()
	hello, err := p.conn.Handshake()
	if err != nil {
		t.Fatalf("Handshake: %v", err)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("NewChild: %v", res.err)
	}
	p.kid, p.hello = res.kid, hello
	t.Cleanup(func() { p.kid.Close() })
	return p
}

// serve runs p.kid.Serve(ctx, h) in a goroutine and returns a channel for its
// result. The test must make Serve return (most close p.s2cW, which its cleanup
// also does).
func (p *pair) serve(ctx context.Context, h ipc.Handler) <-chan error {
	done := make(chan error, 1)
	go func() { done <- p.kid.Serve(ctx, h) }()
	return done
}

// recv receives one message, failing the test on error.
func (p *pair) recv(t testing.TB) ipc.Message {
	t.Helper()
	m, err := p.conn.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return m
}

// send sends m, failing the test on error.
func (p *pair) send(t testing.TB, m ipc.Message) {
	t.Helper()
	if err := p.conn.Send(m); err != nil {
		t.Fatalf("Send(%#v): %v", m, err)
	}
}

// echo is a Handler that returns method + ":" + body.
func echo(_ context.Context, method string, body []byte) ([]byte, error) {
	return append([]byte(method+":"), body...), nil
}
