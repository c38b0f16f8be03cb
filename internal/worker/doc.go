// Package worker holds the built-in test and demo workers: small programs the
// supervisor runs as children to exercise exits, signals, output and orphans.
//
// A worker runs in one of three ways:
//
//   - as its own binary: cmd/child's main is os.Exit(Run("child", os.Args[1:], os.Stdout, os.Stderr));
//   - as the supervisor binary re-executed through /proc/self/exe with argv[0] == Arg0
//     and argv[1] naming the worker (re-exec dispatch, as moby/sys/reexec). Every main and
//     TestMain that may be re-executed calls Dispatch before anything else;
//   - as the supervisor binary run as `supervisor worker NAME ARGS...`, which calls Run:
//     a command line any spawner can run (the demo config's exec and forkexec programs
//     run /proc/self/exe worker child ...).
//
// The package is Linux-only (it uses /proc/self/exe, setsid and raw rt_sigaction).
//
// # Invariants
//
//   - Dispatch decides on filepath.Base(os.Args[0]) == Arg0 alone (no environment
//     variable), and when it dispatches it never returns: it calls os.Exit.
//   - Run is the only entry point of a worker. It returns the exit code instead of
//     exiting, except for --signal-self, where the process dies by the signal, and
//     the protocol's crashes (the "crash" method, --crash-after-requests), which
//     call os.Exit(3) from the goroutine that decided it.
//   - A worker never waits for a process, except the "host" demo worker, a
//     subreaper that reaps its own children (see demo.go for the demo workers:
//     hold, zombie-parent, orphan-maker, host). Its grandchildren (--grandchild,
//     --grandchild-setsid, and the intermediate of --grandchild-daemon) are
//     started with os.StartProcess and released; whoever adopts them when the
//     worker dies (the supervisor as a subreaper, or init) reaps them. A
//     grandchild that dies while its worker still runs stays a zombie until the
//     worker ends. --grandchild-daemon double-forks: an intermediate in its own
//     session (--daemon-intermediate, internal) starts a plain child worker,
//     writes its pid on a pipe and exits, so the daemon is re-parented to the
//     nearest subreaper; the worker prints the pid once the pipe reaches EOF.
//   - Signals: the "child" worker catches SIGTERM and SIGINT with signal.Notify and
//     drains them in its main loop. It never calls signal.Ignore, so no SIG_IGN
//     disposition is inherited by grandchildren. Every other signal keeps the Go
//     runtime's default behaviour (a write to a closed pipe on fd 1 or 2 kills the
//     worker with SIGPIPE).
//   - Output: every line ends in "\n" and is written with a single Write to the
//     writer Run was given, with no buffering in between, so a line to a pipe is
//     atomic (it is shorter than PIPE_BUF) and visible at once.
//   - File descriptors: a worker reads no input except, with --protocol, fd 4.
//     Before starting a grandchild it marks every fd >= 3 close-on-exec (fds
//     inherited from the supervisor included), so a grandchild has exactly fds 0, 1
//     and 2: fd 0 and fd 2 are /dev/null, and fd 1 is /dev/null, or the worker's
//     stdout with --hold-stdout. A grandchild therefore holds none of the
//     supervisor's pipes open unless asked to.
//   - Protocol fds: with --protocol, fd 3 is the pipe to the supervisor (the worker
//     writes frames) and fd 4 the pipe from it (the worker reads). The supervisor
//     creates both pipes and passes these ends; the worker checks at once that both
//     are pipes (or sockets) and marks them close-on-exec, before anything else, and
//     then owns them: it never closes them, they close when it exits. A pipe check,
//     not merely an open check, because without the supervisor's fd 4 the Go runtime
//     may have put one of its own files (a cgroup file) there.
//
// # The "child" worker
//
// Output on stdout, in order: "child PID started"; one "grandchild PID" line per
// grandchild flag (--grandchild first); "daemon PID" with --grandchild-daemon;
// "ready" with --ready-line, once the signal
// handler is installed and the grandchildren started; "tick N" (N from 1) every
// --tick; and "stopping on SIGTERM" (or SIGINT) when a signal ends it, or
// "stopping on request" when a protocol Stop does. On stderr: "[WARN] tick N"
// with --stderr-tick, "ignoring SIGTERM" (or SIGINT) with --ignore-term,
// "supervisor gone" in protocol mode, and error messages.
//
// Exit codes:
//
//	0          stopped by SIGTERM or SIGINT (without --ignore-term), or -h/--help;
//	           with --protocol also by Stop, or by EOF on fd 4 (supervisor gone)
//	--exit N   --run elapsed (default 0)
//	1          a grandchild could not be started, or --signal-self failed; with
//	           --protocol: fd 3 or 4 is no pipe, the handshake or Ready failed,
//	           Serve failed (a protocol error), or --exit-mid-frame
//	2          bad flags or arguments, or an unknown worker name
//	3          --protocol: the "crash" method, or --crash-after-requests reached
//	signal     --run elapsed with --signal-self: killed by that signal (128+sig in a shell)
//
// Without --run the worker runs until a signal stops it, so --exit and
// --signal-self need --run; "--run 0s" ends at once, right after "ready" (with
// --protocol: after the handshake, and after Ready unless --slow-start or
// --never-ready delays it).
//
// # Protocol mode
//
// With --protocol the worker speaks internal/ipc on fds 3 and 4 (see "Protocol
// fds" above). After the setup above (signal handler, grandchildren, "ready"
// line) it sends Hello with its pid and $SUPERVISOR_PROGRAM (or "child") as name,
// waits for HelloAck (signals caught meanwhile are handled after it), sends Ready,
// and starts heartbeats every --heartbeat (default 100ms). Its main loop, which
// also writes the ticks and handles --run and signals, calls Child.Progress every
// --heartbeat/2, so the heartbeats prove that this loop runs. Requests are served
// concurrently by Child.Serve:
//
//	echo    replies with the body
//	hash    replies with the hex SHA-256 of the body
//	sleep   body is a Go duration; sleeps that long, or until cancelled (the Stop
//	        deadline), then replies "slept"; a bad duration is an error Reply
//	crash   exits with code 3 at once, without replying
//	other   error Reply `unknown method "NAME"`
//
// A Stop is answered with Stopping (by ipc); once the requests in flight are
// answered (or their deadline cancelled them) the worker writes "stopping on
// request" on stdout and exits 0. EOF on fd 4 writes "supervisor gone" on stderr
// and exits 0. SIGTERM and SIGINT stop it as without --protocol.
//
// Flags that need --protocol (exit 2 without it):
//
//	--heartbeat DUR             heartbeat interval, > 0 (default 100ms)
//	--crash-after-requests N    exit 3 as soon as the Nth Reply was written (N >= 1)
//	--slow-start DUR            wait DUR (handling signals, serving requests) before Ready
//	--never-ready               handshake, serve requests, but never send Ready or heartbeats
//	--hang                      after Ready, the main loop blocks forever: no Progress,
//	                            so no heartbeat; signals, Stop and EOF are no longer
//	                            acted on (only SIGKILL ends it), but requests are served
//	--deadlock                  after Ready, the main loop and a second goroutine
//	                            deadlock on two mutexes (certainly, not by timing);
//	                            otherwise as --hang
//	--garbage                   instead of Hello, write 64 bytes that are no valid
//	                            frame (a Hello header, then text: ErrMalformed for the
//	                            supervisor), then wait for a signal
//	--oversized                 instead of Hello, write the header of a 2 MiB Hello
//	                            frame (ErrFrameTooLarge), then wait for a signal
//	--exit-mid-frame            write the first half of a Hello frame, exit 1
//	                            (ErrTruncated)
//
// --hang, --deadlock, --never-ready, --garbage, --oversized and --exit-mid-frame
// exclude each other.
//
// # Host-based workers: one function, three kinds
//
// A Func is a worker written against Host instead of a process: Ready, SetStatus,
// Progress and StartHeartbeats, Handle (the request handler), Stdout and Stderr,
// and a context that is cancelled when the supervisor asks it to stop (cause
// ErrStop). The same Func runs
//
//   - as a goroutine inside the supervisor (kind goroutine), with a Host over
//     channels that internal/supervise provides (Lookup finds the Func);
//   - as a process (kinds reexec and exec: "supervisor-worker NAME" or "child
//     NAME"), through RunProcess, whose Host is an ipc.Child on fds 3 and 4; a
//     Stop over the pipe, EOF on fd 4, SIGTERM or SIGINT cancel the context. Exit
//     status: 0 when the Func returned nil, 1 when it returned an error (written
//     on stderr) or the pipes could not be set up, 2 when it panicked (Go's own).
//
// A Func never calls os.Exit and changes no process-wide state: as a goroutine it
// shares the supervisor's process.
//
// The "service" worker is the first Func. It writes "service NAME started", says
// Ready (after --slow-start DUR; never with --never-ready), starts heartbeats every
// --heartbeat (default 100ms) and calls Progress from its main loop twice per
// interval until stopped; then it writes "service stopping (CAUSE)" and returns
// nil. Requests: echo, hash, sleep as the "child" worker's protocol mode; crash
// panics in the handler (status 2 under every kind); other methods get an error
// Reply. Misbehaviour on request: --hang (after Ready the main loop makes no
// more progress, so no heartbeats, but still honours the stop), --ignore-stop
// (on the stop, block forever: a process is SIGKILLed after the grace, a
// goroutine is reported leaked), --fail (return an error after Ready), --panic
// (panic in the main loop after Ready).
//
// The "trouble" worker (trouble.go) is the second Func, for `supervisor
// compare`: the same function as a goroutine and as a process, misbehaving on
// request (panic, a fatal runtime error, os.Exit, scribbling on state shared by
// the process, a deadlocked main loop, ignoring the stop). Its fatal requests
// break the rule above on purpose; internal/compare sends them to a goroutine
// worker only inside a sacrificial re-executed supervisor.
//
// Register adds a process-only worker from another package's init (internal/compare
// registers its sacrificial supervisor, "compare-host", which imports
// internal/supervise and so cannot live here). The registry is still complete
// before main runs and never modified after.
//
// # The init test workers
//
// Four more workers serve the tests of "supervisor init" and of PID 1 (cmd/child
// runs them as "child NAME ARGS"; re-exec dispatch as usual). Bad arguments exit 2.
//
//	orphans [--count N] [--exit CODE] [--setsid] [--hold]
//	        starts N (1..10000, default 1) "linger" processes, re-executing this
//	        binary, each in our process group (with --setsid: in its own session),
//	        writes "orphan PID" for each, then "orphans N started", and exits CODE
//	        (default 0); with --hold it waits for SIGTERM or SIGINT and exits 0
//	        instead. Each linger's stdin is the read end of a pipe whose only
//	        write end this worker holds (close-on-exec), so every linger outlives
//	        it and exits 0 when it reads EOF, that is right after the worker ends,
//	        without any timing: they are orphans for the adopter to reap. Exit 1
//	        if one cannot be started.
//	linger  reads stdin to EOF, exits 0. Takes no arguments.
//	reap-check [--within DUR] -- PROGRAM [ARG...]
//	        runs PROGRAM as its child with our stdout and stderr, and waits for
//	        it: the one exception to "a worker never waits", for the child it
//	        started itself. Then, polling /proc with backoff for at most DUR
//	        (default 30s), it waits until no process other than itself has its
//	        adopter (its parent, or itself when it is PID 1) as parent, and writes
//	        "reap-check: 0 left, 0 zombies" and exits 0; or, when DUR passes first,
//	        "reap-check: N left, Z zombies" and exits 1. If PROGRAM fails it writes
//	        "reap-check: program failed: ..." and exits 1.
//	signals [--exit-on SIG] [--code N]
//	        catches every signal (signal.Notify with no list: no default action,
//	        nothing ignored; so SIGTSTP does not stop it), writes "ready", then
//	        "got SIGNAME" for each signal received except SIGURG and SIGCHLD,
//	        and exits N (default 0) right after writing the line for SIG
//	        (default TERM).
package worker
