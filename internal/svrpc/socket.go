package svrpc

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/control"
)

// DefaultSocketMode is the unix socket's mode when the configuration gives no
// chmod. supervisord's default is 0700; ours is 0600 (a socket needs no x
// bit), and peers are checked besides (see ListenUnix).
const DefaultSocketMode os.FileMode = 0o600

// Chown is who the unix socket is given to ([unix_http_server] chown): -1 in
// either field leaves it as it is.
type Chown struct{ Uid, Gid int }

// NoChown leaves the socket ours.
var NoChown = Chown{Uid: -1, Gid: -1}

// ListenUnix creates supervisord's [unix_http_server] socket at path, with the
// native control socket's guarantees (control.ListenWith): mode (0 means
// DefaultSocketMode) set before anything is accepted, a stale socket replaced,
// a live one left alone (control.ErrInUse), an existing directory that others
// could write refused unless sticky. Given to own (as supervisord's chown), the
// socket is chowned to it, which takes root unless it is ours already. Every
// connection's SO_PEERCRED is checked: our own uid and root are served, and
// own's uid, and processes whose group or supplementary groups include own's
// gid; others are logged and closed, whatever the mode lets through.
func ListenUnix(log hclog.Logger, path string, mode os.FileMode, own Chown) (net.Listener, error) {
	return ListenUnixFrom(log, nil, path, mode, own)
}

// ListenUnixFrom is ListenUnix, on inherited (when not nil): the same socket,
// made by an old image of the supervisor and handed over by an upgrade
// (control.ListenerFile there). Its peers are checked as ListenUnix's are.
func ListenUnixFrom(log hclog.Logger, inherited *os.File, path string, mode os.FileMode, own Chown) (net.Listener, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if mode == 0 {
		mode = DefaultSocketMode
	}
	allow := func(uid, gid uint32, pid int32) bool {
		if own.Uid >= 0 && uid == uint32(own.Uid) {
			return true
		}
		return own.Gid >= 0 && (gid == uint32(own.Gid) || inGroup(pid, own.Gid))
	}
	if inherited != nil {
		ln, err := control.ListenFileWith(log, inherited, path, allow)
		if err == nil {
			return ln, nil
		}
		log.Error("upgrade: the unix_http_server socket was not handed over; making it again", "error", err)
	}
	ln, err := control.ListenWith(log, path, uint32(mode.Perm()), allow)
	if err != nil {
		return nil, fmt.Errorf("unix_http_server: %w", err)
	}
	if own.Uid >= 0 || own.Gid >= 0 {
		if err := os.Lchown(path, own.Uid, own.Gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("unix_http_server: chown %s to %d:%d (adjust chown, or run as root): %w", path, own.Uid, own.Gid, err)
		}
	}
	return ln, nil
}

// inGroup reports whether process pid has gid among its supplementary groups
// (/proc/PID/status, Groups:).
func inGroup(pid int32, gid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Groups:"); ok {
			for _, f := range strings.Fields(rest) {
				if f == strconv.Itoa(gid) {
					return true
				}
			}
		}
	}
	return false
}

// ErrNoAuth is returned by ListenInet for an address beyond loopback without
// both a username and a password.
var ErrNoAuth = errors.New("inet_http_server listens beyond loopback: it needs a username and a password")

// ListenInet listens on supervisord's [inet_http_server] port: "HOST:PORT",
// "*:PORT" or ":PORT" (every address), or a bare "PORT" (every address).
// Unless the host is loopback only (127.0.0.0/8, ::1, localhost), user and pass
// must both be set, or it fails with ErrNoAuth and listens on nothing: the
// supervisor's programs would be anyone's to stop and start.
func ListenInet(log hclog.Logger, addr, user, pass string) (net.Listener, error) {
	return ListenInetFrom(log, nil, addr, user, pass)
}

// ListenInetFrom is ListenInet, on inherited (when not nil): the listening
// socket an old image of the supervisor served addr on, handed over by an
// upgrade.
func ListenInetFrom(log hclog.Logger, inherited *os.File, addr, user, pass string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, perr := strconv.Atoi(addr); perr != nil {
			return nil, fmt.Errorf("inet_http_server port %q: %w", addr, err)
		}
		host, port = "", addr
	}
	if host == "*" {
		host = ""
	}
	if !loopback(host) && (user == "" || pass == "") {
		return nil, fmt.Errorf("inet_http_server port %s: %w", addr, ErrNoAuth)
	}
	if inherited != nil {
		ln, err := net.FileListener(inherited)
		if _, tcp := ln.(*net.TCPListener); err == nil && tcp {
			return ln, nil
		}
		if ln != nil {
			ln.Close()
		}
		if log != nil {
			log.Error("upgrade: the inet_http_server socket was not handed over; listening again", "error", err)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("inet_http_server: %w", err)
	}
	if log != nil {
		log.Info("serving supervisord's XML-RPC interface", "address", ln.Addr().String(), "auth", user != "")
	}
	return ln, nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
