package control

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Limits bounds what the clients of one HTTP server (the control socket's, or
// --http's) can make the supervisor hold. The zero value means the defaults.
type Limits struct {
	// MaxConns caps the connections held at once; 0 means DefaultMaxConns().
	// At the cap, a new connection closes the one idle the longest (a
	// keep-alive connection between requests, or one that has not sent its
	// request yet), or is refused with a 503 (kind "busy") when every one is
	// busy (a request running, or a stream: events, logs -f).
	MaxConns int
	// IdleTimeout closes a keep-alive connection that sends no new request for
	// this long; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// HeaderTimeout closes a connection that has not sent a whole request
	// header this long after it connected or its request began; 0 means
	// DefaultHeaderTimeout.
	HeaderTimeout time.Duration
}

const (
	// DefaultIdleTimeout: `supervisor ctl` makes one request a connection;
	// keep-alive is for curl loops and scrapers, which reconnect at no cost.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultHeaderTimeout bounds a client that connects and sends nothing.
	DefaultHeaderTimeout = 5 * time.Second
	// maxConnsCeiling is the most DefaultMaxConns returns: ctl clients are
	// short-lived, and a few streams (events, logs -f) and scrapers need far
	// fewer; each connection costs a goroutine and about 10 KiB of buffers.
	maxConnsCeiling = 128
	// maxConnsFloor is the fewest, however low the fd limit.
	maxConnsFloor = 4
)

// DefaultMaxConns is the connection cap of each server whose Limits.MaxConns is
// 0: an eighth of the soft RLIMIT_NOFILE, at least 4 and at most 128. The two
// servers (control socket, --http) together hold at most a quarter of the fd
// limit, and the rest stays for the programs: the supervisor holds about 4 fds
// per running program (pipes, pidfd), so with the limit at 600 the servers hold
// at most 150 and 450 remain, room for about 110 programs. (Go raises the soft
// limit to the hard one at start, so this is usually 128.)
func DefaultMaxConns() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return maxConnsCeiling
	}
	return int(min(max(rl.Cur/8, maxConnsFloor), maxConnsCeiling))
}

func (l Limits) withDefaults() Limits {
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns()
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.HeaderTimeout <= 0 {
		l.HeaderTimeout = DefaultHeaderTimeout
	}
	return l
}

// newHTTPServer returns an http.Server for h bounded by lim (with its defaults
// filled in), and a listener wrapper that applies lim.MaxConns: serve
// srv.Serve(wrap(ln)).
func newHTTPServer(log hclog.Logger, h http.Handler, lim Limits) (srv *http.Server, wrap func(net.Listener) net.Listener) {
	srv, wrap, _ = newHTTPServerConns(log, h, lim)
	return srv, wrap
}

// newHTTPServerConns is newHTTPServer, with the connections' bookkeeping.
func newHTTPServerConns(log hclog.Logger, h http.Handler, lim Limits) (srv *http.Server, wrap func(net.Listener) net.Listener, cl *connLimit) {
	lim = lim.withDefaults()
	cl = &connLimit{max: lim.MaxConns, log: log, conns: map[net.Conn]*connEntry{}, lingering: make(chan struct{}, maxLingering)}
	srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.HeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		ConnState:         cl.track,
		ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	return srv, func(ln net.Listener) net.Listener { return &limitListener{Listener: ln, cl: cl} }, cl
}

// open counts the connections admitted and not closed yet.
func (cl *connLimit) open() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.conns)
}

// connLimit holds the connections of one http.Server: the listener admits them,
// the server's ConnState hook says what each is doing and when it closes.
// Unlike golang.org/x/net/netutil.LimitListener, which stops accepting at the
// cap (and so makes every newcomer, an operator's `ctl status` too, wait for
// some client to leave), it closes the connection idle the longest.
type connLimit struct {
	max       int
	log       hclog.Logger
	lingering chan struct{} // a slot for each refused connection held open (see refuse)

	mu       sync.Mutex
	conns    map[net.Conn]*connEntry // admitted and not closed (by the server or by eviction)
	evicted  int
	refused  int
	lastWarn time.Time
}

type connEntry struct {
	state http.ConnState
	used  time.Time // when it was accepted or its last request began
}

// limitListener admits each accepted connection through cl.
type limitListener struct {
	net.Listener
	cl *connLimit
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.cl.admit(c) {
			return c, nil
		}
	}
}

// admit makes room for c and returns true, or refuses c (answers 503 and closes
// it) and returns false.
func (cl *connLimit) admit(c net.Conn) bool {
	cl.mu.Lock()
	var victim net.Conn
	if len(cl.conns) >= cl.max {
		victim = cl.oldestIdle()
		if victim != nil {
			delete(cl.conns, victim)
			cl.evicted++
		} else {
			cl.refused++
		}
		cl.warnLocked()
	}
	admitted := len(cl.conns) < cl.max
	if admitted {
		cl.conns[c] = &connEntry{state: http.StateNew, used: time.Now()}
	}
	cl.mu.Unlock()
	if victim != nil {
		victim.Close() // its server goroutine sees the error and ends; its StateClosed finds no entry
	}
	if !admitted {
		cl.refuse(c)
	}
	return admitted
}

// oldestIdle returns the connection idle the longest: a keep-alive one between
// requests first, else one that has not sent its request yet; nil if every
// connection is busy. "Longest" counts from the start of its last request (or
// its accept): least recently used, which is also the order its client saw,
// since a request begins before its reply is sent.
func (cl *connLimit) oldestIdle() net.Conn {
	var best net.Conn
	var bestE *connEntry
	for c, e := range cl.conns {
		if e.state != http.StateIdle && e.state != http.StateNew {
			continue
		}
		if bestE == nil || rank(e) < rank(bestE) || rank(e) == rank(bestE) && e.used.Before(bestE.used) {
			best, bestE = c, e
		}
	}
	return best
}

func rank(e *connEntry) int {
	if e.state == http.StateIdle {
		return 0
	}
	return 1
}

// warnLocked logs that the cap was reached: the first time, then at most once a
// minute, with the counts so far (a flood must not flood the log too).
func (cl *connLimit) warnLocked() {
	now := time.Now()
	if !cl.lastWarn.IsZero() && now.Sub(cl.lastWarn) < time.Minute {
		return
	}
	cl.lastWarn = now
	cl.log.Warn("connection cap reached: closing the longest idle connections, refusing new ones while every one is busy",
		"max", cl.max, "closed_idle", cl.evicted, "refused", cl.refused)
}

// track is the server's ConnState hook.
func (cl *connLimit) track(c net.Conn, state http.ConnState) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	e, ok := cl.conns[c]
	switch {
	case !ok: // evicted
	case state == http.StateClosed || state == http.StateHijacked:
		delete(cl.conns, c)
	case state == http.StateActive:
		e.state, e.used = state, time.Now()
	default:
		e.state = state
	}
}

// refuse answers a connection over the cap with a 503 and closes it. The client
// may not have sent its request yet, and a request written to a closed socket
// fails (EPIPE) before its reply is read: so, while fewer than maxLingering
// others do, it waits up to lingerFor, in its own goroutine, for the request
// (read and dropped) before closing. Beyond that, it closes at once.
func (cl *connLimit) refuse(c net.Conn) {
	body := `{"error":"too many connections (` + strconv.Itoa(cl.max) + `), every one busy; try again","kind":"busy"}` + "\n"
	reply := fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	select {
	case cl.lingering <- struct{}{}:
	default: // too many held already: answer and close at once
		_ = c.SetWriteDeadline(time.Now().Add(lingerFor))
		_, _ = io.WriteString(c, reply)
		c.Close()
		return
	}
	go func() {
		defer func() { <-cl.lingering }()
		defer c.Close()
		// The request's header first (or whatever comes within lingerFor): an
		// HTTP client that gets a reply before it sent its request takes it
		// for a broken connection, not for the 503 (Go's Transport says
		// "readLoopPeekFailLocked").
		_ = c.SetReadDeadline(time.Now().Add(lingerFor))
		readHeader(c)
		_ = c.SetWriteDeadline(time.Now().Add(lingerFor))
		_, _ = io.WriteString(c, reply)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_ = c.SetReadDeadline(time.Now().Add(lingerFor))
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}()
}

// readHeader reads from c until the end of an HTTP request header (a blank
// line), an error or the read deadline, at most 64 KiB, and keeps nothing.
func readHeader(c net.Conn) {
	var buf [4096]byte
	var tail [3]byte // the last bytes of the previous read, for a "\r\n\r\n" split across reads
	seen := 0
	for seen < 64<<10 {
		n, err := c.Read(buf[:])
		if n > 0 {
			chunk := append(tail[:min(seen, 3)], buf[:n]...)
			if strings.Contains(string(chunk), "\r\n\r\n") {
				return
			}
			seen += n
			copy(tail[:], chunk[max(len(chunk)-3, 0):])
		}
		if err != nil {
			return
		}
	}
}

const (
	// maxLingering bounds the refused connections held open at once, and
	// lingerFor how long each (see refuse).
	maxLingering = 4
	lingerFor    = 200 * time.Millisecond
)
