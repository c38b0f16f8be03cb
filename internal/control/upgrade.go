package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Upgrader is a Target that can replace its own binary in place (POST /v1/upgrade).
// A Target without it answers 501.
type Upgrader interface {
	// Upgrade checks binary ("" means the default binary) and, if it passes, execs it in
	// place. It returns only if the upgrade was refused or failed before the exec; nothing
	// changed then. reply is a duplicate of the client's connection (its fd without
	// close-on-exec is the Upgrader's business): after a successful exec the new image
	// writes the answer on it with WriteUpgradeReply. Upgrade closes reply only on success;
	// on error the caller still owns it.
	Upgrade(ctx context.Context, binary string, reply *os.File) error
}

// UpgradeArgs is the body of POST /v1/upgrade.
type UpgradeArgs struct {
	Binary string `json:"binary,omitempty"` // the new binary; empty: the one the supervisor was started from
}

// UpgradeResult is the answer to POST /v1/upgrade, written by the new image.
type UpgradeResult struct {
	Pid        int      `json:"pid"`
	Old        string   `json:"old"` // version of the image that was replaced
	New        string   `json:"new"` // version now serving
	Binary     string   `json:"binary"`
	HandoverMS float64  `json:"handover_ms"`         // from the freeze in the old image to the new one serving
	Kept       int      `json:"kept"`                // children kept across the exec
	Restarted  []string `json:"restarted,omitempty"` // programs stopped before and started again after
}

// KindUpgradeRefused is the kind of the 422 answering an upgrade that was
// refused or failed before the exec (nothing changed).
const KindUpgradeRefused = "upgrade_refused"

// maxUpgradeJSON bounds the body of POST /v1/upgrade.
const maxUpgradeJSON = 64 << 10

// rawReplyTimeout bounds the write of a reply on a hijacked connection, when
// the file supports deadlines.
const rawReplyTimeout = 5 * time.Second

// upgrade answers POST /v1/upgrade. The connection is hijacked: the answer
// comes either from here (a refusal, 422) or, after the exec, from the new
// image (WriteUpgradeReply on the duplicate handed to Upgrade).
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) {
	up, ok := s.t.(Upgrader)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, apiError{Error: "this supervisor cannot upgrade itself in place", Kind: "failed"})
		return
	}
	var args UpgradeArgs
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxUpgradeJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil && !errors.Is(err, io.EOF) { // an empty body is no arguments
		writeJSON(w, http.StatusBadRequest, apiError{Error: "request body: " + err.Error(), Kind: "bad_request"})
		return
	}
	if args.Binary != "" && !filepath.IsAbs(args.Binary) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "binary " + args.Binary + ": want an absolute path", Kind: "bad_request"})
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "upgrade: cannot take over the connection: " + err.Error(), Kind: "failed"})
		return
	}
	// From here the server no longer owns conn (nor counts it against the
	// connection cap: ConnState StateHijacked). reply is a second fd on the
	// same socket; closing conn leaves the socket open through reply.
	reply, err := connFile(conn)
	if err != nil {
		s.log.Error("control: upgrade: no duplicate of the client's connection", "error", err)
		_ = writeRaw(conn, http.StatusInternalServerError, apiError{Error: "upgrade: " + err.Error(), Kind: "failed"})
		conn.Close()
		return
	}
	conn.Close()
	s.log.Info("control: upgrade requested", "binary", args.Binary)
	// The upgrade must not end when the client hangs up: the old image may be
	// halfway through stopping programs.
	err = up.Upgrade(context.WithoutCancel(r.Context()), args.Binary, reply)
	if err == nil {
		return // Upgrade closed reply (in the test fakes; a real one has exec-ed)
	}
	s.log.Warn("control: upgrade refused", "binary", args.Binary, "error", err)
	if werr := writeRaw(reply, http.StatusUnprocessableEntity, apiError{Error: err.Error(), Kind: KindUpgradeRefused}); werr != nil {
		s.log.Debug("control: upgrade: the refusal was not delivered", "error", werr)
	}
	reply.Close()
}

// WriteUpgradeReply writes res as a complete HTTP/1.1 200 response (Content-Type
// application/json, Content-Length, Connection: close) on f, then closes f,
// whether or not the write succeeded. The write is bounded by a few seconds
// when f supports deadlines (a pollable, non-blocking socket).
func WriteUpgradeReply(f *os.File, res UpgradeResult) error {
	err := writeRaw(f, http.StatusOK, res)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("upgrade reply: %w", cerr)
	}
	return err
}

// writeRaw writes a complete HTTP/1.1 response of status code with body as
// JSON on w, a connection taken from the http.Server, saying the connection
// closes after it.
func writeRaw(w io.Writer, code int, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("upgrade reply: %w", err)
	}
	b = append(b, '\n')
	if d, ok := w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		_ = d.SetWriteDeadline(time.Now().Add(rawReplyTimeout)) // a blocking fd has none: then unbounded
	}
	msg := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		code, http.StatusText(code), len(b))
	if _, err := io.WriteString(w, msg+string(b)); err != nil {
		return fmt.Errorf("upgrade reply: %w", err)
	}
	return nil
}

// connFile returns a duplicate (close-on-exec) of c's socket: c as an
// http.Server accepted it from a listener of this package, a *net.UnixConn or
// *net.TCPConn. c stays open.
func connFile(c net.Conn) (*os.File, error) {
	fc, ok := c.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("connection of type %T has no file descriptor", c)
	}
	f, err := fc.File()
	if err != nil {
		return nil, fmt.Errorf("duplicate the connection: %w", err)
	}
	return f, nil
}

// rawListener returns the *net.UnixListener or *net.TCPListener (or whatever
// else) under this package's wrappers of ln.
func rawListener(ln net.Listener) net.Listener {
	for {
		switch l := ln.(type) {
		case *credListener:
			ln = l.Listener
		case *limitListener:
			ln = l.Listener
		case *gateListener:
			ln = l.Listener
		default:
			return ln
		}
	}
}

// ListenerFile returns a duplicate of ln's listening socket (ln as returned by Listen, or
// any *net.UnixListener / *net.TCPListener, possibly wrapped by this package), close-on-exec
// cleared, for handing to a new image. ln stays open and usable (its fd keeps
// its non-blocking mode). The caller owns the file and must close it.
func ListenerFile(ln net.Listener) (*os.File, error) {
	var f *os.File
	var err error
	switch l := rawListener(ln).(type) {
	case *net.UnixListener:
		f, err = l.File()
	case *net.TCPListener:
		f, err = l.File()
	default:
		return nil, fmt.Errorf("listener file: a %T is not a unix or TCP listener", l)
	}
	if err != nil {
		return nil, fmt.Errorf("listener file: %w", err)
	}
	// Through SyscallConn, not f.Fd(): Fd would put the open file
	// description, which ln shares, in blocking mode.
	if err := control(f, func(fd int) error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
		return err
	}); err != nil {
		f.Close()
		return nil, fmt.Errorf("listener file: clear close-on-exec: %w", err)
	}
	return f, nil
}

// control runs fn on f's fd without changing its blocking mode.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// ListenFile wraps an inherited listening unix socket f (from ListenerFile in the old image)
// as Listen would have made it at path: SO_PEERCRED checked as Listen does, and the socket
// file unlinked when the listener is closed. It checks that f is a listening unix stream socket bound to path
// (getsockname) and fails with a clear error otherwise. The listener holds its own
// duplicate of the fd: f stays the caller's, to close once ListenFile returns
// (either way).
func ListenFile(log hclog.Logger, f *os.File, path string) (net.Listener, error) {
	return listenFile(log, f, path, func(c *unix.Ucred) bool { return defaultAllow(c.Uid) })
}

// ListenFileWith is ListenFile for a socket ListenWith made: allow is asked
// as there.
func ListenFileWith(log hclog.Logger, f *os.File, path string, allow func(uid, gid uint32, pid int32) bool) (net.Listener, error) {
	return listenFile(log, f, path, func(c *unix.Ucred) bool {
		return defaultAllow(c.Uid) || allow != nil && allow(c.Uid, c.Gid, c.Pid)
	})
}

func listenFile(log hclog.Logger, f *os.File, path string, allow func(*unix.Ucred) bool) (net.Listener, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if err := checkListening(f, path); err != nil {
		return nil, fmt.Errorf("inherited socket %s (fd %s): %w", path, f.Name(), err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("inherited socket %s: %w", path, err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok { // checkListening saw AF_UNIX and SOCK_STREAM; cannot happen
		ln.Close()
		return nil, fmt.Errorf("inherited socket %s: a %T, not a unix listener", path, ln)
	}
	ul.SetUnlinkOnClose(true)
	return &credListener{Listener: ul, log: log, allow: allow}, nil
}

// AcceptGate pauses the Accept of the listeners it wraps, as Server.Pause
// does for the control socket's: for another package's HTTP servers
// (internal/svrpc).
type AcceptGate struct{ g *acceptGate }

// NewAcceptGate returns a gate, open.
func NewAcceptGate() AcceptGate { return AcceptGate{newAcceptGate()} }

// Wrap returns ln with its Accept gated.
func (a AcceptGate) Wrap(ln net.Listener) net.Listener { return a.g.wrap(ln) }

// Pause and Resume close and open the gate.
func (a AcceptGate) Pause()  { a.g.pause() }
func (a AcceptGate) Resume() { a.g.resume() }

// checkListening fails unless f is a listening unix stream socket bound to path.
func checkListening(f *os.File, path string) error {
	return control(f, func(fd int) error {
		domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
		if errors.Is(err, unix.ENOTSOCK) {
			return errors.New("not a socket")
		}
		if err != nil {
			return fmt.Errorf("socket domain: %w", err)
		}
		if domain != unix.AF_UNIX {
			return fmt.Errorf("not a unix socket (address family %d)", domain)
		}
		if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
			return fmt.Errorf("socket type: %w", err)
		} else if typ != unix.SOCK_STREAM {
			return fmt.Errorf("not a stream socket (type %d)", typ)
		}
		if acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil {
			return fmt.Errorf("socket state: %w", err)
		} else if acc == 0 {
			return errors.New("not listening (a connection, or never listened)")
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return fmt.Errorf("getsockname: %w", err)
		}
		ua, ok := sa.(*unix.SockaddrUnix)
		if !ok {
			return fmt.Errorf("getsockname: a %T, not a unix address", sa)
		}
		if !samePath(ua.Name, path) {
			return fmt.Errorf("bound to %q, not to %q", ua.Name, path)
		}
		return nil
	})
}

// samePath reports whether a and b name the same path from our working
// directory (lexically: the socket was bound to one of them by this process,
// in its old image, with the same working directory).
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == ab
}

// Pause stops accepting new connections without closing the listener:
// connections that arrive wait in the kernel's backlog, for a new image to accept.
// Requests already accepted run on. Resume undoes it (after a failed exec).
// It applies to every listener Serve serves, also those served after it; safe
// to call more than once.
func (s *Server) Pause() {
	s.gate.pause()
	s.srv.SetKeepAlivesEnabled(false) // idle keep-alive connections close now
}

// Resume accepts connections again after Pause (those queued meanwhile
// first, in order). Safe to call without Pause and more than once.
func (s *Server) Resume() {
	s.srv.SetKeepAlivesEnabled(true)
	s.gate.resume()
}

// acceptGate pauses the Accept of the listeners it wraps. While paused, each
// raw listener's deadline is in the past, so that an Accept blocked in the
// kernel returns; the wrapper then waits for resume instead of handing the
// timeout to http.Server.
type acceptGate struct {
	mu      sync.Mutex
	paused  bool
	resumed chan struct{} // closed by resume; a fresh one per pause
	gen     uint64        // counts pauses: a deadline error after one is ours
	lns     map[*gateListener]struct{}
}

func newAcceptGate() *acceptGate {
	return &acceptGate{lns: map[*gateListener]struct{}{}}
}

// deadliner is a listener whose Accept a deadline can interrupt.
type deadliner interface{ SetDeadline(time.Time) error }

func (g *acceptGate) wrap(ln net.Listener) net.Listener {
	gl := &gateListener{Listener: ln, g: g, closed: make(chan struct{})}
	gl.raw, _ = rawListener(ln).(deadliner)
	g.mu.Lock()
	g.lns[gl] = struct{}{}
	if g.paused && gl.raw != nil {
		_ = gl.raw.SetDeadline(time.Unix(1, 0))
	}
	g.mu.Unlock()
	return gl
}

func (g *acceptGate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		return
	}
	g.paused, g.resumed = true, make(chan struct{})
	g.gen++
	for gl := range g.lns {
		if gl.raw != nil {
			_ = gl.raw.SetDeadline(time.Unix(1, 0)) // in the past: a blocked Accept returns now
		}
	}
}

func (g *acceptGate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		return
	}
	for gl := range g.lns {
		if gl.raw != nil {
			_ = gl.raw.SetDeadline(time.Time{})
		}
	}
	g.paused = false
	close(g.resumed)
}

// state returns the channel to wait on if paused (nil if not), and the
// pause count.
func (g *acceptGate) state() (<-chan struct{}, uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		return g.resumed, g.gen
	}
	return nil, g.gen
}

// gateListener is a listener whose Accept waits while its gate is paused.
type gateListener struct {
	net.Listener
	g      *acceptGate
	raw    deadliner // the listener under the wrappers; nil: Pause cannot interrupt a blocked Accept
	closed chan struct{}
	once   sync.Once
}

func (l *gateListener) Accept() (net.Conn, error) {
	for {
		wait, gen := l.g.state()
		if wait != nil {
			select {
			case <-wait:
				continue
			case <-l.closed:
				return nil, net.ErrClosed
			}
		}
		c, err := l.Listener.Accept()
		if err == nil {
			return c, nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if _, now := l.g.state(); now != gen {
				continue // interrupted by a Pause: wait at the gate
			}
		}
		return nil, err
	}
}

func (l *gateListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.g.mu.Lock()
		delete(l.g.lns, l)
		l.g.mu.Unlock()
	})
	return l.Listener.Close()
}
