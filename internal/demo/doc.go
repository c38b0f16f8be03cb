// Package demo holds the narrated demonstrations `supervisor demo zombie` and
// `supervisor demo orphan`: small process families (the demo workers of
// internal/worker) made to leave zombies and orphans, with the PID tree printed
// at each step.
//
// # Invariants
//
//   - Every claim is read from the live system. A "fact" line is printed only
//     after the value in it was read from /proc (state, parent, start time), from
//     the supervisor's reaper (an orphan it reaped, with its wait status) or from a
//     helper's own report of a wait4 it made (the host's "reaped PID"). The format
//     is fixed, for tests and scripts:
//
//     fact pid=PID ppid=PPID state=S start=TICKS comm=COMM
//     fact pid=PID gone start=TICKS
//     fact pid=PID reaped-by=PID status="exit status 0"
//
//     A step starts with "== step N: TITLE" and ends with "-- end of step N".
//     When the system does not do what the narration expects, the demo prints
//     "CHECK FAILED: ..." and exits 1; on success it ends with "demo NAME: ok".
//
//   - Nothing waits with a sleep for a state change: the demo waits on pipes (the
//     helpers' report lines), on the reaper's exit callbacks, or polls /proc with
//     backoff under a deadline. With --step it stops after each step until a line
//     (Enter) arrives on stdin, so a person or a test can look at the processes;
//     EOF on stdin ends the pausing.
//
//   - The demo process is the supervisor: it owns the one Reaper of the process
//     (a subreaper), and every helper is started by Reaper.Spawn. Only with
//     --no-reap (the zombie demo's negative control) is there no Reaper: the demo
//     then sets the subreaper bit itself, starts its helper with os.StartProcess
//     and waits for nothing until its cleanup, so zombies it is given stay.
//
//   - Cleanup, also on Ctrl-C (the context): every pipe the helpers live on is
//     closed, every helper's process group and every adopted orphan is SIGKILLed
//     through pidfds, and the demo returns only once it has no descendant left
//     (polled under a deadline). A helper also ends by itself when the demo dies,
//     since the pipes it lives on close then.
package demo
