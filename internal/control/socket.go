package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// DefaultSocket is the socket path used when none is given: $SUPERVISOR_SOCKET if
// set; for root /run/supervisor/supervisor.sock; otherwise
// $XDG_RUNTIME_DIR/supervisor/supervisor.sock, or /tmp/supervisor-UID/supervisor.sock
// without XDG_RUNTIME_DIR.
func DefaultSocket() string {
	if p := os.Getenv("SUPERVISOR_SOCKET"); p != "" {
		return p
	}
	if os.Geteuid() == 0 {
		return "/run/supervisor/supervisor.sock"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "supervisor", "supervisor.sock")
	}
	return filepath.Join(os.TempDir(), "supervisor-"+strconv.Itoa(os.Geteuid()), "supervisor.sock")
}

// ErrInUse is returned by Listen when a live supervisor answers on the socket.
var ErrInUse = errors.New("a running supervisor is listening there")

// Listen creates the control socket at path, as the package doc says: the
// directory 0700, the socket 0600, a stale socket replaced, a live one left alone
// (ErrInUse). Every connection the returned listener accepts comes from our own
// uid or root; others are logged and closed.
func Listen(log hclog.Logger, path string) (net.Listener, error) {
	return listen(log, path, 0o600, false, func(c *unix.Ucred) bool { return defaultAllow(c.Uid) })
}

func defaultAllow(uid uint32) bool { return uid == 0 || int(uid) == os.Geteuid() }

// listen makes the socket at path with mode, serving the peers allow accepts
// (by SO_PEERCRED). Its directory is created 0700 if missing; an existing
// one must be ours or root's and not writable by group or others, unless
// sticky is set and it is sticky (/tmp: nobody else can remove or replace
// our socket there). A stale socket is replaced, a live one never.
func listen(log hclog.Logger, path string, mode uint32, sticky bool, allow func(*unix.Ucred) bool) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if err := checkDir(dir, sticky); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if stale, err := clearStale(path); err != nil {
		return nil, err
	} else if stale {
		log.Info("removed a stale control socket (its supervisor is gone)", "path", path)
	}
	// The socket is created with the umask's mode and chmod-ed before Accept;
	// peers are checked on every accept besides, so the moment between bind
	// and chmod lets nobody else in.
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, os.FileMode(mode&0o777)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket: %w", err)
	}
	return &credListener{Listener: ln, log: log, allow: allow}, nil
}

// checkDir is checkOwned for a socket's directory, which may also be a
// sticky one when sticky is set.
func checkDir(dir string, sticky bool) error {
	if sticky {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err == nil && st.Mode&unix.S_ISVTX != 0 && (st.Uid == 0 || int(st.Uid) == os.Geteuid()) {
			return nil
		}
	}
	return checkOwned(dir, false)
}

// clearStale removes path if it is a socket nobody listens on (and says so),
// fails with ErrInUse if somebody does, and fails if it is anything but a socket.
func clearStale(path string) (removed bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("socket: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return false, fmt.Errorf("socket %s exists and is not a socket (%s): not touching it", path, fi.Mode().Type())
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false, fmt.Errorf("socket %s: %w", path, ErrInUse)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return false, fmt.Errorf("socket %s: probing it: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("socket %s is stale but cannot be removed: %w", path, err)
	}
	return true, nil
}

// checkOwned fails unless path is owned by root or by us and not writable by
// group or others (for a directory: not readable or searchable by them either,
// when strict).
func checkOwned(path string, strict bool) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not by us (uid %d) or root", path, st.Uid, os.Geteuid())
	}
	bad := uint32(0o022)
	if strict {
		bad = 0o077
	}
	if perm := st.Mode & 0o777; perm&bad != 0 {
		return fmt.Errorf("%s has mode %#o: group or others may use it (want %#o)", path, perm, perm&^bad)
	}
	return nil
}

// credListener serves only peers that allow accepts, by SO_PEERCRED.
type credListener struct {
	net.Listener
	log   hclog.Logger
	allow func(*unix.Ucred) bool
}

func (l *credListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cred, err := peerCred(c)
		switch {
		case err != nil:
			l.log.Warn("control: refused a connection: no peer credentials", "error", err)
		case !l.allow(cred):
			l.log.Warn("control: refused a connection from another user", "uid", cred.Uid, "pid", cred.Pid)
		default:
			return c, nil
		}
		c.Close()
	}
}

func peerCred(c net.Conn) (*unix.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("not a unix connection: %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}
