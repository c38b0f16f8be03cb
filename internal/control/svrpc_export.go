package control

import (
	"net"
	"net/http"

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
	if mode == 0 {
		mode = 0o600
	}
	return listen(log, path, mode, true, func(c *unix.Ucred) bool {
		return defaultAllow(c.Uid) || allow != nil && allow(c.Uid, c.Gid, c.Pid)
	})
}
