package control

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// NewHTTPServer returns an http.Server for h bounded by lim as the control
// socket's is (connection cap evicting the idlest, header and idle timeouts),
// and the listener wrapper that applies the cap: serve srv.Serve(wrap(ln)).
// internal/svrpc serves supervisord's XML-RPC interface with it.
func NewHTTPServer(log hclog.Logger, h http.Handler, lim Limits) (srv *http.Server, wrap func(net.Listener) net.Listener) {
	return newHTTPServer(log, h, lim)
}

// ListenWith is Listen with the socket's mode (0 means 0600) and who may
// connect besides our own uid and root: allow (if not nil) is asked for every
// other peer, with its SO_PEERCRED credentials; others are logged and closed.
// The stale-socket probe is Listen's. The directory is created 0700 if it does
// not exist; an existing one must be owned by us or root, and not writable by
// group or others unless it is sticky (/tmp: nobody else can remove or replace
// our socket there). internal/svrpc makes supervisord's [unix_http_server]
// socket with it.
func ListenWith(log hclog.Logger, path string, mode uint32, allow func(uid, gid uint32, pid int32) bool) (net.Listener, error) {
	return listenWith(log, path, mode, allow)
}

func listenWith(log hclog.Logger, path string, mode uint32, allow func(uid, gid uint32, pid int32) bool) (net.Listener, error) {
	if mode == 0 {
		mode = 0o600
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return nil, fmt.Errorf("socket directory %s: %w", dir, err)
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("socket directory %s is owned by uid %d, not by us (uid %d) or root", dir, st.Uid, os.Geteuid())
	}
	if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return nil, fmt.Errorf("socket directory %s has mode %#o: group or others may replace the socket (want it not writable by them, or sticky)", dir, st.Mode&0o7777)
	}
	if stale, err := clearStale(path); err != nil {
		return nil, err
	} else if stale {
		log.Info("removed a stale socket (its server is gone)", "path", path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	// Peers are checked on every accept, so the moment between bind and
	// chmod (the socket has the umask's mode) lets nobody else in.
	if err := os.Chmod(path, os.FileMode(mode&0o777)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket: %w", err)
	}
	return &peerListener{Listener: ln, log: log, allow: allow}, nil
}

// peerListener serves our own uid, root, and the peers allow accepts.
type peerListener struct {
	net.Listener
	log   hclog.Logger
	allow func(uid, gid uint32, pid int32) bool
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cred, err := peerCred(c)
		switch {
		case err != nil:
			l.log.Warn("refused a connection: no peer credentials", "error", err)
		case defaultAllow(cred.Uid) || l.allow != nil && l.allow(cred.Uid, cred.Gid, cred.Pid):
			return c, nil
		default:
			l.log.Warn("refused a connection from another user", "uid", cred.Uid, "pid", cred.Pid)
		}
		c.Close()
	}
}
