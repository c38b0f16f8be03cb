// Package svrpc serves supervisord's XML-RPC interface (the supervisor.* and
// system.* methods of supervisord 4.2, API version 3.0) and its HTTP log
// streams, so that supervisord's own supervisorctl, and any tool written for
// supervisord's API, steers this supervisor unchanged.
//
// Endpoints (Server.Handler):
//
//	POST /RPC2                            XML-RPC (internal/xmlrpc): supervisor.*, system.*
//	GET  /logtail/NAME[/stdout|/stderr]   a program's log file: its last 1024 bytes, then
//	                                      what is appended (supervisorctl tail -f)
//	GET  /mainlogtail                     the same for the supervisor's own log (maintail -f)
//
// Names are supervisord's: "GROUP:PROCESS", "GROUP:*" (or "GROUP:") for a whole
// group, and a bare "NAME" for process NAME of group NAME. A Layout says which
// of our programs (supervise.Spec names) is which process of which group.
// States are supervisord's names and codes (StateCode: our "waiting" is
// STARTING), and faults are supervisord's codes with its strings ("BAD_NAME:
// foo"), since supervisorctl prints them and derives its exit status from them.
// A body that is not a methodCall is answered with fault -32700
// (PARSE_ERROR); every answer to /RPC2 is a methodResponse (FuzzHandler).
//
// What differs from supervisord, and why:
//   - sendProcessStdin is a NO_FILE fault: programs' stdin is not held open
//     by the supervisor, so there is nothing to write to;
//   - sendRemoteCommEvent is a FAILED fault: there are no event listeners;
//   - reading a log with length 0 ("to the end") returns at most MaxRead bytes;
//   - clearing a log truncates the file in place (supervisord removes and
//     reopens it); the writer appends, so the next line lands at offset 0;
//   - restart (supervisorctl reload) stops every program, re-reads the
//     configuration and starts it, in this process, unless Options.Restart
//     says otherwise; the supervisor's pid does not change.
//
// Waiting: startProcess with wait returns once the program is running
// (supervise.Supervisor.StartWait: up for its startsecs), or with SPAWN_ERROR
// if it could not be spawned or ended before that, ABNORMAL_TERMINATION if it
// was stopped meanwhile; stopProcess with wait once its process group is gone. The group
// forms return one {name, group, status, description} per process they
// acted on, as supervisord's do. A request waits as long as that takes; a
// client that goes away ends the wait, not the operation.
//
// Security: ListenUnix makes the [unix_http_server] socket with the native
// control socket's guarantees (mode set before the first accept, default
// 0600; SO_PEERCRED checked on every connection: our uid, root and the chown
// user or group only; a stale socket replaced, a live one never). ListenInet
// refuses an address beyond loopback without a username and a password. HTTP
// Basic auth (Auth, "{SHA}" + hex SHA-1 accepted as supervisord does) is
// checked on every request of a listener served with credentials.
//
// Bounds: each listener's connections are capped and timed out as the native
// control socket's (control.Limits); a request body is at most xmlrpc.MaxBody;
// a system.multicall at most 1000 calls, not nested; a log read at most
// MaxRead log bytes per request (multicall included); log streams at most
// Options.MaxStreams at once (503 beyond).
// Close ends every stream.
package svrpc
