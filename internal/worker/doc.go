// Package worker holds the built-in test and demo workers: small programs the
// supervisor runs as children to exercise exits, signals, output and orphans.
//
// A worker runs in one of two ways:
//
//   - as its own binary: cmd/child's main is os.Exit(Run("child", os.Args[1:], os.Stdout, os.Stderr));
//   - as the supervisor binary re-executed through /proc/self/exe with argv[0] == Arg0
//     and argv[1] naming the worker (re-exec dispatch, as moby/sys/reexec). Every main and
//     TestMain that may be re-executed calls Dispatch before anything else.
//
// The package is Linux-only (it uses /proc/self/exe, setsid and raw rt_sigaction).
//
// # Invariants
//
//   - Dispatch decides on filepath.Base(os.Args[0]) == Arg0 alone (no environment
//     variable), and when it dispatches it never returns: it calls os.Exit.
//   - Run is the only entry point of a worker. It returns the exit code instead of
//     exiting, except for --signal-self, where the process dies by the signal.
//   - A worker never waits for a process. Its grandchildren (--grandchild,
//     --grandchild-setsid) are started with os.StartProcess and released; whoever
//     adopts them when the worker dies (the supervisor as a subreaper, or init)
//     reaps them. A grandchild that dies while its worker still runs stays a zombie
//     until the worker ends.
//   - Signals: the "child" worker catches SIGTERM and SIGINT with signal.Notify and
//     drains them in its main loop. It never calls signal.Ignore, so no SIG_IGN
//     disposition is inherited by grandchildren. Every other signal keeps the Go
//     runtime's default behaviour (a write to a closed pipe on fd 1 or 2 kills the
//     worker with SIGPIPE).
//   - Output: every line ends in "\n" and is written with a single Write to the
//     writer Run was given, with no buffering in between, so a line to a pipe is
//     atomic (it is shorter than PIPE_BUF) and visible at once.
//   - File descriptors: a worker reads no input. Before starting a grandchild it marks
//     every fd >= 3 close-on-exec (fds inherited from the supervisor included), so a
//     grandchild has exactly fds 0, 1 and 2: fd 0 and fd 2 are /dev/null, and fd 1 is
//     /dev/null, or the worker's stdout with --hold-stdout. A grandchild therefore
//     holds none of the supervisor's pipes open unless asked to.
//
// # The "child" worker
//
// Output on stdout, in order: "child PID started"; one "grandchild PID" line per
// grandchild flag (--grandchild first); "ready" with --ready-line, once the signal
// handler is installed and the grandchildren started; "tick N" (N from 1) every
// --tick; and "stopping on SIGTERM" (or SIGINT) when a signal ends it. On stderr:
// "[WARN] tick N" with --stderr-tick, "ignoring SIGTERM" (or SIGINT) with
// --ignore-term, and error messages.
//
// Exit codes:
//
//	0          stopped by SIGTERM or SIGINT (without --ignore-term), or -h/--help
//	--exit N   --run elapsed (default 0)
//	1          a grandchild could not be started, or --signal-self failed
//	2          bad flags or arguments, or an unknown worker name
//	signal     --run elapsed with --signal-self: killed by that signal (128+sig in a shell)
//
// Without --run the worker runs until a signal stops it, so --exit and
// --signal-self need --run; "--run 0s" ends at once, right after "ready".
package worker
