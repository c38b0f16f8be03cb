// Package probe checks, from outside, whether a program that speaks nothing (no
// pipe protocol, no sd_notify) is ready or alive: it connects to a TCP port,
// GETs a URL, or runs a command (issue 15: ready_probe, live_probe,
// probe_interval, probe_timeout, probe_failures).
//
// It does not import internal/supervise: the supervisor starts probes and turns
// their results into its own readiness and liveness events.
//
// # Probes
//
//	tcp HOST:PORT   success: the connection is accepted (it is then closed at once)
//	http URL        success: a response with status 2xx or 3xx; redirects are not
//	                followed
//	exec COMMAND    success: the command exits with status 0
//
// Parse reads these; Spec.Validate checks a Spec built any other way.
//
// # Semantics
//
// As Kubernetes and Docker HEALTHCHECK users expect. A readiness probe
// (StartReady) attempts at once, then every Spec.Interval, until the first
// success, which is "ready"; then it ends. It never reports Failed: how long a
// program may take to become ready is the supervisor's start_timeout. A
// liveness probe (StartLive) attempts one Interval after it starts, then every
// Interval, until its context ends; Spec.Failures failed attempts in a row
// report Result.Failed, once per run of failures, and the success that ends
// such a run reports Result.Recovered, so that each failure, the verdict and
// the recovery can all be logged.
//
// Attempts never overlap: the next one starts Interval after the previous one
// started, or at once if that one took longer. Each attempt is bounded by
// Spec.Timeout, past which it is cancelled (the connection closed, the HTTP
// request's context cancelled, the exec process killed) and fails with
// ErrTimeout.
//
// # Goroutines and callbacks
//
// Starting a probe never blocks: StartReady and StartLive check the Spec and
// start one goroutine per probe, which makes the attempts and calls the report
// callback after each, one call at a time. The caller is the supervisor's state
// goroutine, so report must not block on it: it sends on a channel and selects
// on a done channel too. Cancelling the context stops the probe: an attempt in
// flight is cancelled and not reported (it says nothing about the program).
// Probe.Done is closed once the goroutine has returned; from then on report is
// never called and no process is left from an exec attempt. A report racing
// with the cancel may still arrive before Done, so results are tagged with the
// run they belong to by the callback.
//
// # Exec probes and the reaper
//
// In the supervisor process exactly one goroutine waits for children: the
// reaper of internal/supervise (DESIGN.md, hard rule 1). os/exec's Cmd.Wait
// and Cmd.Run, and os.Process.Wait, would race it and lose exit statuses, so
// this package never starts or waits for a process itself: exec probes run
// through a Runner, which the supervisor implements with Reaper.Spawn and an
// OnExit callback. A Runner kills the process (and its process group or
// cgroup) when the attempt's context ends and returns only after the reaper
// has reaped it, so a probe stopped or timed out leaves nothing running. The
// package's tests use a Runner built on os/exec, which is right only in a
// process with no reaper.
//
// The supervisor's Runner, in outline: make an os.Pipe for the output; Spawn
// with the write end as Stdout and Stderr, KillGroupOnExit, and an OnExit that
// sends the Exit on a buffered channel; close the write end; copy the read end
// into output on a goroutine; then select on that channel and ctx.Done, and on
// ctx.Done kill the group (Proc.SignalGroup(SIGKILL), or the cgroup) and
// still receive the Exit; close the read end (so a descendant holding the
// write end cannot keep Run waiting) and return Exit.ShellCode, or ctx.Err().
// A probe's exec therefore costs a spawn and a reap like any child's, and its
// exit is the reaper's, never logged as an adopted orphan.
//
// # Bounds
//
// Per probe: one goroutine; at most one attempt in flight, hence at most one
// connection or one process; an HTTP attempt reads at most 64 KiB of headers
// and 4 KiB of body, and keeps no connection open between attempts (no
// keep-alive); an exec attempt keeps at most MaxOutputLine bytes of output
// (the last non-blank line, for the error).
package probe
