// Package notify receives readiness from ordinary daemons: the sd_notify
// datagram protocol ($NOTIFY_SOCKET) and s6's notification fd. It does not
// import internal/supervise; the supervisor calls it.
package notify
