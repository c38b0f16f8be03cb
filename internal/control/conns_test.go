package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// serveLimited serves f on a fresh socket bounded by lim and returns the socket's
// path and a client of it.
func serveLimited(t *testing.T, f *fake, lim Limits) (string, *Client) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	return sock, serveSock(t, sock, f, lim)
}

// serveSock serves tg (a fake Target with its journal) on a socket at sock,
// bounded by lim, until the test ends, and returns a client of it.
func serveSock(t *testing.T, sock string, tg Target, lim Limits) *Client {
	t.Helper()
	ln, err := Listen(hclog.NewNullLogger(), sock)
	if err != nil {
		t.Fatal(err)
	}
	serveLimitedOn(t, ln, tg, lim)
	c, err := NewClient(sock)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawConn is a client connection made by hand, to hold it open as a hostile
// client would.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, sock string) *rawConn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// get sends GET path, keep-alive, and returns the response with its body read.
func (c *rawConn) get(path string) (*http.Response, []byte, error) {
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return nil, nil, err
	}
	return c.read()
}

func (c *rawConn) read() (*http.Response, []byte, error) {
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// idleConns opens n connections one after the other; each makes one status
// request and stays open, idle, as a keep-alive client leaves it.
func idleConns(t *testing.T, sock string, n int) []*rawConn {
	t.Helper()
	cs := make([]*rawConn, n)
	for i := range cs {
		cs[i] = dialRaw(t, sock)
		if resp, _, err := cs[i].get("/v1/status"); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: %v %v", i, resp, err)
		}
	}
	return cs
}

// At the cap, each new connection closes the one idle the longest: of 300 idle
// keep-alive clients and a cap of 50, the 250 oldest are closed, the 50 newest
// still answer, and a status request (which closes one more) answers too.
func TestConnCapClosesOldestIdle(t *testing.T) {
	t.Parallel()
	const n, limit = 300, 50
	sock, c := serveLimited(t, &fake{}, Limits{MaxConns: limit, IdleTimeout: time.Hour})
	cs := idleConns(t, sock, n)

	st, err := c.Status(t.Context()) // a 301st connection: closes the oldest idle one left
	if err != nil || len(st) != 1 {
		t.Fatalf("status with %d idle connections held: %v, %v", n, st, err)
	}
	// "Idle the longest" counts from the start of a connection's last request,
	// before its reply, so the order is the one the connections were opened in;
	// but the server marks a connection idle only after sending its reply, and
	// the newest one may still look busy when the next one arrives (the slack).
	const closed, slack = n - limit + 1, 2
	var open []int
	for i, rc := range cs {
		// Each was closed, if at all, before a later connection was served, so
		// what a request on it gets is settled now.
		resp, _, err := rc.get("/v1/status")
		ok := err == nil && resp.StatusCode == http.StatusOK
		switch {
		case ok && i < closed-slack:
			t.Errorf("connection %d (of the %d oldest) still answers", i, closed)
		case !ok && i >= closed+slack:
			t.Errorf("connection %d (of the %d newest) was closed: %v", i, n-closed, err)
		}
		if ok {
			open = append(open, i)
		}
	}
	if len(open) != n-closed {
		t.Errorf("%d connections still answer (%v), want the cap %d less the status client's", len(open), open, limit)
	}
}

// Idle keep-alive connections are closed after IdleTimeout, and the server
// answers meanwhile.
func TestIdleConnsTimeOut(t *testing.T) {
	t.Parallel()
	const n = 300
	sock, c := serveLimited(t, &fake{}, Limits{MaxConns: 1000, IdleTimeout: 100 * time.Millisecond})
	cs := idleConns(t, sock, n)
	if _, err := c.Status(t.Context()); err != nil {
		t.Fatalf("status with %d idle connections: %v", n, err)
	}
	for i, rc := range cs {
		// The server closing the connection is the event: EOF, well before
		// the 30 s deadline that would fail the test.
		if err := rc.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := rc.br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("connection %d: read %v, want EOF (closed as idle)", i, err)
		}
	}
}

// A connection that sends nothing is closed after HeaderTimeout.
func TestSilentConnTimesOut(t *testing.T) {
	t.Parallel()
	sock, _ := serveLimited(t, &fake{}, Limits{HeaderTimeout: 100 * time.Millisecond})
	rc := dialRaw(t, sock)
	if err := rc.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc.br); err != nil {
		t.Fatalf("read %v, want EOF (closed for sending nothing)", err)
	}
}

// At the cap with every connection busy (streams), a newcomer is refused with
// a 503 of kind "busy", and is served again once a stream ends.
func TestConnCapRefusesWhenAllBusy(t *testing.T) {
	t.Parallel()
	const limit = 3
	sock, c := serveLimited(t, &fake{}, Limits{MaxConns: limit, IdleTimeout: time.Hour})
	streams := make([]*rawConn, limit)
	for i := range streams {
		streams[i] = dialRaw(t, sock)
		if _, err := io.WriteString(streams[i], "GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		// The headers come once the handler runs: the connection is busy.
		if _, err := http.ReadResponse(streams[i].br, nil); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}

	// Refused at once, before it sends anything.
	resp, body, err := dialRaw(t, sock).read()
	if err != nil {
		t.Fatalf("over the cap: %v, want a 503", err)
	}
	var e apiError
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(body, &e) != nil || e.Kind != "busy" {
		t.Fatalf("over the cap: %s %q, want 503 kind busy", resp.Status, body)
	}

	// A client that writes its request first reads the 503 too.
	var api *APIError
	if _, err := c.Status(t.Context()); !errors.As(err, &api) || api.Status != http.StatusServiceUnavailable || api.Kind != "busy" {
		t.Fatalf("status over the cap: %v, want a 503 of kind busy", err)
	}

	// One stream ends; its slot is free once the server has seen it go.
	streams[0].Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		_, err := c.Status(ctx)
		if err == nil {
			break
		}
		if !errors.As(err, &api) || api.Kind != "busy" || ctx.Err() != nil {
			t.Fatalf("status after a stream ended: %v", err)
		}
		select { // polling: the server notices the hang-up in its own time
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
}

func TestDefaultMaxConns(t *testing.T) {
	t.Parallel()
	if n := DefaultMaxConns(); n < maxConnsFloor || n > maxConnsCeiling {
		t.Fatalf("DefaultMaxConns() = %d, want %d..%d", n, maxConnsFloor, maxConnsCeiling)
	}
}
