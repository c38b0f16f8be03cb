// Package notify receives readiness from ordinary daemons, the ones that do not
// speak the pipe protocol (internal/ipc): systemd's sd_notify datagrams on
// $NOTIFY_SOCKET (Listener, Parse, Env) and s6's notification fd (WaitS6).
//
// It only receives and parses. It never starts, signals or waits for a process
// (so nothing here can race the supervisor's reaper, DESIGN.md hard rule 1), and
// it does not import internal/supervise: the supervisor calls it, attributes each
// message to a program (Message.Pid and Uid are facts from the kernel; whether
// that pid belongs to the program's tree is the supervisor's decision) and feeds
// the result to its policy as events.
//
// # sd_notify: one socket per program
//
// The supervisor gives each program with sd_notify readiness its own socket:
// Listen(path) in a directory the supervisor owns, then the child's environment
// gets StripEnv(inherited) plus Env(l.Path(), watchdog, 0). One goroutine per
// Listener runs Serve; the supervisor Closes the Listener when the program's run
// ends.
//
// Contracts:
//
//   - Fds. The Listener owns its socket fd; Close closes it and removes the socket
//     file (only if the file at the path is still the one Listen created). Fds a
//     sender passes (SCM_RIGHTS) are received close-on-exec and are always closed
//     by Serve, after the handler returns for their datagram, whatever the
//     datagram held (FDSTORE=1 fds are not stored), malformed ones included. No fd
//     ever reaches the handler.
//   - The handler. Serve calls it from Serve's goroutine, once per datagram, in
//     arrival order, never concurrently; malformed datagrams arrive as a Message
//     with Err set, which the caller logs and drops. Serve reads the next datagram
//     only when the handler returns, so the handler must be quick (typically:
//     attribute Pid by reading /proc/PID through internal/procfs, then a select
//     that sends an event to the supervisor's state goroutine or gives up when
//     the supervisor is done). It must not wait for Close or for Serve to
//     return, and must do whatever needs the sender still alive (that
//     attribution) before it returns: see the barrier below.
//   - Stopping. Close (any goroutine, any number of times, does not wait) makes
//     Serve return ErrClosed after its current handler call; a done ctx makes it
//     return ctx.Err() and leaves the socket open.
//   - Bounds, whatever a sender does. A datagram is read into one MaxDatagram
//     (4096-byte, systemd's NOTIFY_BUFFER_MAX) buffer; a longer one is reported
//     as malformed (MSG_TRUNC), never half-parsed. The control buffer holds the
//     credentials and MaxFds (32) fds; a datagram with more is malformed
//     (MSG_CTRUNC): the kernel discards the fds that do not fit and Serve closes
//     the 32 that arrived (measured: 200 sent, 32 arrived, all closed). A Message
//     holds at most the datagram's bytes plus MaxIgnored (16) ignored lines. The
//     queue in front of a slow handler is the kernel's: net.unix.max_dgram_qlen
//     (10 on the test host; 11 datagrams queued, then a non-blocking sender got
//     EAGAIN and a blocking one, like sd_notify's, waits). Serve allocates its two
//     buffers once per call.
//   - Permissions. The socket file is mode 0600, owned by the supervisor's user.
//     A program running as another user gets EACCES on sendto (measured) until
//     the caller chowns the file to it (os.Chown(l.Path(), uid, gid)) and lets
//     it search the directory. Attribution never relies on the permissions: every
//     datagram carries the sender's credentials (SO_PASSCRED is set before bind).
//   - Paths. Listen takes an absolute filesystem path of at most 107 bytes.
//     Abstract names ("@name"), which sd_notify clients also accept in
//     NOTIFY_SOCKET, are refused: they have no file permissions (any process in
//     the network namespace could send) and no file to clean up, and the
//     supervisor chooses the name anyway. A stale socket left by a receiver that
//     died (connect refused) is replaced; anything else at the path is an error.
//
// # The message format
//
// Parse follows systemd's receiver: newline-separated KEY=VALUE lines (systemd
// also splits on '\r'); one trailing NUL allowed, any other NUL malformed;
// flags need the exact value 1 (WATCHDOG also "trigger"); for valued keys the
// first occurrence wins; an unknown key or an invalid value (MAINPID=0,
// STATUS= not UTF-8) is skipped and kept in Message.Ignored for logging, as
// systemd logs and skips it. Credentials: Pid is the sender's as of sending; by
// the time the datagram is read the sender may be gone (Pid still names it, and
// may name a reused pid by the time the supervisor looks), and a privileged
// sender may state any pid (below).
//
// # What systemd-notify does (measured, systemd 252.38, Debian 12, strace)
//
// systemd-notify --ready --status=hello sends two datagrams from two sockets:
//
//  1. "READY=1\nSTATUS=hello". Run as root it attaches SCM_CREDENTIALS with the
//     pid of its PARENT (getppid: the daemon or script that ran it), so the
//     message is attributed to a process that outlives systemd-notify. Run
//     unprivileged that sendmsg fails with EPERM and it resends without
//     credentials, so the kernel's (its own pid) arrive.
//  2. "BARRIER=1" with one fd in SCM_RIGHTS: the write end of a pipe2 it made.
//     It closes its copy and waits in ppoll on the read end for POLLHUP, for at
//     most 5 s. When the receiver closes the fd it exits 0 at once (measured:
//     the whole run, fork and exec included, took 8-12 ms against a Listener;
//     against a receiver holding the fd 1 s, 1.04 s). If nobody closes it
//     within 5 s it prints "Failed to invoke barrier: Connection timed out" and
//     exits 1 (TestSystemdNotifyBarrierNeedsReceiver).
//
// Plain field sends (systemd-notify WATCHDOG=1 MAINPID=1234) do the same: the
// fields, then the barrier. When sending fails (no receiver bound) it tries to
// send ERRNO=<errno> and exits 1. sd_notify_barrier in libsystemd works the same
// way. The barrier exists so that systemd handles the message while its sender
// is still alive; here the handler plays systemd's part, so a daemon waiting on
// a barrier is alive until the handler has returned for every datagram before it
// (TestSystemdNotifyBarrierWaitsForHandler holds the handler and sees
// systemd-notify still running). The BARRIER=1 datagram itself is delivered
// too (Message.Barrier); there is nothing to do with it.
//
// # Watchdog environment
//
// Env sets WATCHDOG_USEC when the program has a watchdog. WATCHDOG_PID would
// name the main process, but os/exec builds the environment before the fork, so
// the supervisor passes 0 and Env leaves it out; sd_watchdog_enabled then
// reports the watchdog to any process that inherits the variable. The watchdog
// timer itself (WATCHDOG=1 pings, WATCHDOG=trigger) is the supervisor's policy.
//
// # s6 notification fd
//
// The supervisor makes a pipe, gives the write end to the child as fd N
// (ExtraFiles[N-3]), closes its own copy of the write end right after the
// child starts, and runs WaitS6(ctx, readEnd) in a goroutine. WaitS6 owns the
// read end and closes it on return: nil at the first newline (anything before
// it ignored), ErrNotReady at EOF without one (every holder of the write end,
// the daemon and anything it forked, closed it), ctx.Err() when ctx ends. Reads
// go through one 512-byte buffer and keep nothing. After the newline the read
// end is closed, as s6-supervise closes it: a daemon writing again gets EPIPE
// or SIGPIPE (TestS6Ready).
package notify
