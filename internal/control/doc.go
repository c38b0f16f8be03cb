// Package control is the control API of a running supervisor: a server on a unix
// socket that `supervisor ctl` talks to, and that client.
//
// Transport: HTTP/1.1 with JSON bodies over a unix stream socket. The standard
// library serves and speaks it, so there is no protocol code of ours to get wrong;
// it streams (events) with chunked responses; and an operator can use curl
// --unix-socket when the client is not at hand. Endpoints:
//
//	GET  /v1/status                       every program's Status
//	GET  /v1/tree                         TreeInfo: our pid, programs, adopted orphans
//	GET  /v1/events                       state changes, one JSON object a line, as they come
//	GET  /v1/programs/{name}/logs         recent output (?lines=N), ?follow=1 streams
//	POST /v1/programs/{name}/start        Supervisor.Start
//	POST /v1/programs/{name}/stop         Supervisor.Stop
//	POST /v1/programs/{name}/restart      Supervisor.Restart
//	POST /v1/programs/{name}/signal?sig=S Supervisor.Signal
//	POST /v1/group/{op}                   GroupArgs -> GroupReply: start, stop, restart or
//	                                      signal on several programs (names, glob patterns,
//	                                      "all"), resolved at once: Supervisor.Group
//	GET  /v1/logs?program=P&program=Q     recent output of several (names, patterns, all),
//	                                      merged in time order; ?follow=1 streams them all
//	GET  /v1/version                      buildinfo.Info: the supervisor's version and commit
//	POST /v1/programs/{name}/request      RequestArgs -> RequestReply: Supervisor.Request, or
//	                                      RequestAny when name is a pool pattern (worker-*)
//	POST /v1/reload                       re-read the config: supervise.ReloadResult
//	POST /v1/reopen-logs                  reopen every log file (a Target that is a LogReopener; 501 otherwise)
//	POST /v1/shutdown                     Supervisor.Shutdown
//	POST /v1/upgrade                      UpgradeArgs: exec a new binary in place (a Target
//	                                      that is an Upgrader; 501 otherwise). The handler
//	                                      hijacks the connection and hands a dup of it to
//	                                      Upgrade; the new image answers on it
//	                                      (WriteUpgradeReply), a refusal is a 422 written here
//
// An upgrade hands the control socket's listening socket to the new image
// (ListenerFile, then ListenFile there); Server.Pause stops accepting meanwhile,
// so clients wait in the kernel's backlog rather than being refused.
//
// Names and patterns of several programs are resolved by the supervisor, never
// by the client from a status list: a group operation resolves them and begins
// in one step of the state goroutine (no reload in between), and a name or
// pattern that matches nothing fails the whole request (404, nothing done).
// A group's per-program failures are outcomes in its 200 reply, each with the
// kind its single-program request would have had.
//
// Streams (events, logs with follow) are one JSON object a line. Their last line
// may be an error object: kind "lagged" (the follower fell behind and records were
// dropped) or "closed" (the supervisor stops; Server.Close ends every stream so,
// then waits up to a second for requests still running).
//
// Errors are JSON {"error": text, "kind": word} with an HTTP status: 404 and kind
// "no_such_program", 409 and "conflict" (already started, not running, busy,
// shutting down), 400 "bad_request", 422 "reload_refused" (the config did not
// load; nothing changed), 500 "failed". Requests add 409 "not_protocol" (the
// program has no protocol = true) and "not_ready" (not running and ready, or no
// member of the pool is), 413 "too_large" (a payload over one ipc frame), 504
// "timeout", and 502 "failed" (the worker died with the request in flight, or
// answered with an error). A connection over the cap (see Bounds) gets 503 and
// "busy".
//
// Requests: the JSON body is one object {"method": M, "body": base64} (or
// "text": T for a payload that is text) and optionally "timeout": a Go
// duration, default DefaultRequestTimeout; unknown keys, a second value after
// it, or more than two frames' worth of bytes are refused (400, 413). The
// request also ends when the client disconnects. The reply is {"program": who
// answered, "body": base64, "text": the same if it is valid UTF-8}. Requests do
// not go through the supervisor's state goroutine (see
// supervise.Supervisor.Request) and are never retried: a request may have side
// effects.
//
// Security invariants:
//   - the socket's directory is created with mode 0700 (an existing one must be
//     owned by us and not writable by group or others) and the socket is chmod
//     0600 before the listener accepts anything;
//   - every accepted connection's peer credentials (SO_PEERCRED) are checked:
//     only the supervisor's own uid and root are served; others are logged and
//     closed before a byte is read;
//   - a socket path that already exists is probed: if a supervisor answers there,
//     Listen fails and the socket is left alone (a live socket is never stolen);
//     if the connection is refused, the socket is stale (its supervisor died) and
//     is replaced; anything that is not a socket is an error, never removed.
//   - the client refuses a socket that is not owned by root or the caller, or that
//     group or others may write: it would be talking to someone else.
//
// What a client sends is decoded by decodeRequest (request bodies),
// ParseSignal (?sig=), parseLines (?lines=) and the router (paths); the fuzz
// targets FuzzDecodeRequest, FuzzParseSignal, FuzzParseLines and FuzzHandler
// (any method, path, query and body) check that none panics and that every
// answer is 200 or a documented JSON error.
//
// Bounds (issue 13: a client must not make the supervisor hold what its programs
// need). Each server, the control socket's and --http's (Metrics.ServeHTTP),
// holds at most Limits.MaxConns connections, by default DefaultMaxConns: an
// eighth of RLIMIT_NOFILE's soft limit, between 4 and 128 (128 whenever the limit
// is 1024 or more). The two together take at most a quarter of the fds, so at
// least three quarters stay for the programs (about 4 fds each: pipes, pidfd)
// and the supervisor's own files. At the cap, a newcomer closes the connection
// idle the longest (a keep-alive one between requests first, then one that has
// sent nothing yet; least recently used, counted from the start of its last
// request or its connect) rather than waiting for a slot, so `ctl status` answers
// however many idle clients there are; only when every connection is busy (a
// request running, or a stream: events, logs -f) is it refused, with a 503 of
// kind "busy" and the connection closed (after up to 200ms to read its request,
// for at most 4 such at a time, so the client can read the 503). Clients alone
// cannot make accept fail for lack of fds. A keep-alive connection idle for DefaultIdleTimeout (30s)
// is closed, as is one that has not sent a whole request header within
// DefaultHeaderTimeout (5s) of connecting or of starting its request. The cap
// being reached is logged at warn level, at most once a minute, with the counts
// of connections closed and refused. Tests set shorter bounds through Limits.
//
// Ownership: the Server owns its listener and the socket file: Close closes the
// listener and removes the file (only if it is still the one it created).
package control
