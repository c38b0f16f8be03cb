package notify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// MaxFds is how many file descriptors one datagram may carry. A datagram with
// more is malformed (MSG_CTRUNC): the kernel discards the fds beyond the control
// buffer, and Serve closes those that arrived. systemd-notify sends one (the
// barrier); FDSTORE=1 senders more, but this package stores none.
const MaxFds = 32

// maxSocketPath is sun_path's size minus its terminating NUL.
const maxSocketPath = 107

var (
	// ErrClosed: Serve returns it once the Listener is closed.
	ErrClosed = errors.New("notify: listener closed")
	// ErrServing: Serve was called while another Serve on the same Listener runs.
	ErrServing = errors.New("notify: already serving")
	// ErrBadPath: Listen's path is not an absolute filesystem path short enough
	// for sun_path (107 bytes). Abstract names ("@...") are refused on purpose.
	ErrBadPath = errors.New("notify: bad socket path")
)

// oobSize fits the sender's credentials and MaxFds descriptors.
var oobSize = unix.CmsgSpace(unix.SizeofUcred) + unix.CmsgSpace(4*MaxFds)

// Listener is one program's sd_notify socket: an AF_UNIX SOCK_DGRAM socket bound
// to a path, with SO_PASSCRED on. Create it with Listen; one goroutine runs Serve;
// Close from any goroutine.
type Listener struct {
	conn *net.UnixConn
	path string
	log  hclog.Logger
	// file is the socket file's identity, so that Close removes only the file this
	// Listener created, not one someone bound at the same path since.
	file fs.FileInfo

	serving   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Listen creates the socket at path, with SO_PASSCRED on before bind (so every
// datagram carries its sender's credentials) and mode 0600 after it. path must be
// absolute (it goes into a child's environment, and the child may chdir). The
// parent directory is the caller's: it should exist and be writable only by the
// supervisor, because between bind and chmod the file has the umask's mode.
//
// A program that runs as another user cannot send to a 0600 socket owned by
// root (sendto fails with EACCES): the caller chowns the file to that user,
// os.Chown(l.Path(), uid, gid), and makes the directory searchable by it.
//
// If a socket file is already at path and nobody receives on it (connect is
// refused: a supervisor that died without Close), Listen removes it and binds
// again, once. Any other file there, or a live socket, is an error wrapping
// syscall.EADDRINUSE. log may be nil. The caller must Close the Listener.
func Listen(path string, log hclog.Logger) (*Listener, error) {
	if !filepath.IsAbs(path) || len(path) > maxSocketPath {
		return nil, fmt.Errorf("notify: listen %q: %w", path, ErrBadPath)
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	log = log.Named("notify").With("socket", path)
	conn, err := bind(path)
	if errors.Is(err, syscall.EADDRINUSE) && stale(path) {
		log.Debug("removing stale notify socket")
		if rmErr := os.Remove(path); rmErr == nil || errors.Is(rmErr, fs.ErrNotExist) {
			conn, err = bind(path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("notify: listen %q: %w", path, err)
	}
	l := &Listener{conn: conn, path: path, log: log}
	fail := func(err error) (*Listener, error) {
		_ = conn.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("notify: listen %q: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fail(err)
	}
	if l.file, err = os.Lstat(path); err != nil {
		return fail(err)
	}
	return l, nil
}

func bind(path string) (*net.UnixConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var soErr error
		if err := c.Control(func(fd uintptr) {
			soErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		}); err != nil {
			return err
		}
		return soErr
	}}
	pc, err := lc.ListenPacket(context.Background(), "unixgram", path)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UnixConn), nil
}

// stale reports whether path is a socket file nobody receives on.
func stale(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket {
		return false
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err == nil {
		_ = c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// Path returns the socket's path, the value for the child's NOTIFY_SOCKET (see Env).
func (l *Listener) Path() string { return l.path }

// Serve reads datagrams until ctx is done (it returns ctx.Err()) or the Listener
// is closed (ErrClosed), and calls handle once per datagram, in arrival order,
// from Serve's own goroutine: never concurrently, and the next datagram is not
// read until handle returns. A malformed datagram is delivered too, with
// Message.Err set; handle logs and drops it. Any other read error ends Serve and
// is returned.
//
// File descriptors that came with a datagram are closed after handle returns
// for it. A BARRIER=1 datagram's fd is therefore closed only when handle has
// returned for that datagram and every earlier one; that is what releases a
// waiting sd_notify_barrier or systemd-notify (see the package doc). So handle
// must not block long, and must finish whatever needs the sender alive (reading
// /proc/PID to attribute it) before it returns: a sender waiting on the barrier
// is alive until then. handle must not wait for Close or for Serve to return.
//
// A cancelled ctx leaves the socket open: Serve may be called again. Only one
// Serve may run at a time (ErrServing).
func (l *Listener) Serve(ctx context.Context, handle func(Message)) error {
	if !l.serving.CompareAndSwap(false, true) {
		return ErrServing
	}
	defer l.serving.Store(false)
	if err := l.conn.SetReadDeadline(time.Time{}); err != nil {
		return l.readErr(ctx, err)
	}
	// Cancelling ctx sets a deadline in the past, which wakes the blocked read.
	stop := context.AfterFunc(ctx, func() { _ = l.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	buf := make([]byte, MaxDatagram)
	oob := make([]byte, oobSize)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// net sets MSG_CMSG_CLOEXEC on Linux, so received fds never leak into a
		// child spawned meanwhile.
		n, oobn, flags, _, err := l.conn.ReadMsgUnix(buf, oob)
		if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
			// Not our ctx: the AfterFunc of an earlier, cancelled Serve that
			// fired late. Clear its deadline and read on.
			if err := l.conn.SetReadDeadline(time.Time{}); err != nil {
				return l.readErr(ctx, err)
			}
			continue
		}
		if err != nil {
			return l.readErr(ctx, err)
		}
		l.dispatch(buf[:n], oob[:oobn], flags, handle)
	}
}

func (l *Listener) readErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, net.ErrClosed):
		return ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("notify: read %q: %w", l.path, err)
}

// dispatch parses one datagram, hands it to handle, then closes its fds.
func (l *Listener) dispatch(data, oob []byte, flags int, handle func(Message)) {
	fds, cred := parseControl(oob)
	defer closeFds(fds)
	var m Message
	switch {
	case flags&unix.MSG_TRUNC != 0:
		m.Err = fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxDatagram)
	case flags&unix.MSG_CTRUNC != 0:
		m.Err = fmt.Errorf("%w: control data truncated (more than %d fds?)", ErrMalformed, MaxFds)
	default:
		m, _ = Parse(data)
	}
	if cred != nil {
		m.Pid, m.Uid, m.Gid = int(cred.Pid), int(cred.Uid), int(cred.Gid)
	}
	m.Fds = len(fds)
	l.log.Trace("datagram", "bytes", len(data), "fds", len(fds), "pid", m.Pid)
	handle(m)
}

// parseControl returns every fd (SCM_RIGHTS) and the credentials in oob. It stops
// at the first control message it cannot parse, keeping what it found so far, so
// the fds before it are still closed.
func parseControl(oob []byte) (fds []int, cred *unix.Ucred) {
	for len(oob) > 0 {
		hdr, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		oob = rest
		if hdr.Level != unix.SOL_SOCKET {
			continue
		}
		scm := unix.SocketControlMessage{Header: hdr, Data: data}
		switch hdr.Type {
		case unix.SCM_RIGHTS:
			if r, err := unix.ParseUnixRights(&scm); err == nil {
				fds = append(fds, r...)
			}
		case unix.SCM_CREDENTIALS:
			if c, err := unix.ParseUnixCredentials(&scm); err == nil {
				cred = c
			}
		}
	}
	return fds, cred
}

func closeFds(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// Close removes the socket file (if it is still the one Listen created) and
// closes the socket; a running Serve returns ErrClosed once its current handle
// call returns. Close does not wait for Serve. Safe to call more than once and
// from any goroutine; later calls return the first call's result.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		// Remove first: once the file is gone no sender can queue a datagram
		// that nobody would read.
		if fi, err := os.Lstat(l.path); err == nil && os.SameFile(fi, l.file) {
			if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if err := l.conn.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			l.closeErr = fmt.Errorf("notify: close %q: %w", l.path, err)
		}
	})
	return l.closeErr
}
