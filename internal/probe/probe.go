package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// ErrTimeout is wrapped by the Err of an attempt that ran past Spec.Timeout.
var ErrTimeout = errors.New("probe: timed out")

// ErrNoRunner is returned by StartReady and StartLive for an Exec probe
// without a Runner.
var ErrNoRunner = errors.New("probe: exec probe needs a Runner")

// Result is the outcome of one attempt, as passed to the report callback.
type Result struct {
	Attempt int           // 1 for the probe's first attempt, counting every reported one
	OK      bool          // the attempt succeeded
	Err     error         // why it failed; nil exactly when OK
	Took    time.Duration // how long the attempt ran
	// Failures is the number of failed attempts in a row, this one included: 0
	// when OK.
	Failures int
	// Failed (liveness only): this failure is the Spec.Failures-th in a row.
	// It is set once per run of failures, on the attempt that reached the
	// threshold, not on the failures after it; the next success ends the run.
	Failed bool
	// Recovered is set on a success that ends a run of failures: how many
	// there were (0 otherwise).
	Recovered int
}

// Runner runs an exec probe's command. The supervisor implements it with its
// reaper; see the package doc for why the probe cannot wait for a process itself.
// Probes of different programs call Run concurrently.
type Runner interface {
	// Run starts argv and blocks until the process has ended and been reaped,
	// then returns its exit status as a shell reports it (128+N for signal N).
	// When ctx is done first, Run kills the process (and what it started: its
	// process group or cgroup), waits until it has been reaped, and returns
	// ctx.Err(). err != nil means no exit status: the program could not be
	// started, or ctx ended.
	//
	// The process's stdout and stderr go to output, which is never nil, is
	// safe for concurrent use and keeps only a bounded tail (MaxOutputLine).
	// Run must not wait for output's end-of-file after the process has ended:
	// a descendant may hold the pipe open. Writes after Run returns are
	// ignored.
	Run(ctx context.Context, argv []string, output io.Writer) (code int, err error)
}

// Probe is one running probe, as returned by StartReady and StartLive.
type Probe struct {
	done chan struct{}
}

// Done is closed when the probe's goroutine has returned: after ctx ended, or
// for a readiness probe after the report of its first success returned. After
// Done is closed report is never called again, and no attempt is in flight:
// an exec attempt's process has been reaped (Runner.Run returned).
func (p *Probe) Done() <-chan struct{} { return p.done }

type mode int

const (
	ready mode = iota
	live
)

// StartReady starts a readiness probe and returns at once. It attempts s at
// once, then every s.Interval, until an attempt succeeds or ctx ends. report is
// called after each attempt. A readiness probe never reports Failed: how long
// a program may take to become ready is the caller's policy (start_timeout).
//
// ctx bounds the probe's whole lifetime: when it ends, an attempt in flight is
// cancelled and not reported, and the probe returns. report is called from the
// probe's own goroutine, one call at a time, never after Done is closed; it
// should not block for long (it delays the next attempt), and it must not wait
// for whoever cancels ctx (the typical report sends on a channel and selects on
// a done channel too). A report may still start just as ctx is cancelled:
// callers that restart programs tag their callback with the run it belongs to.
//
// run is needed for Exec probes only (nil is an error then). The error is
// s.Validate's, or ErrNoRunner; on error no goroutine was started.
func StartReady(ctx context.Context, s Spec, run Runner, report func(Result)) (*Probe, error) {
	return start(ctx, ready, s, run, report)
}

// StartLive starts a liveness probe and returns at once. Its first attempt is
// one s.Interval after the start (the program was just found running), then
// one every s.Interval until ctx ends. report is called after each attempt; the
// attempt that makes s.Failures failures in a row has Result.Failed set, and
// the success that ends the run has Result.Recovered. The probe goes on after
// Failed: stopping it is the caller's decision (cancel ctx).
//
// ctx, report and run are as for StartReady.
func StartLive(ctx context.Context, s Spec, run Runner, report func(Result)) (*Probe, error) {
	return start(ctx, live, s, run, report)
}

func start(ctx context.Context, m mode, s Spec, run Runner, report func(Result)) (*Probe, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Kind == Exec && run == nil {
		return nil, ErrNoRunner
	}
	if report == nil {
		return nil, errors.New("probe: report is nil")
	}
	s.Argv = slices.Clone(s.Argv) // the caller may reuse its slice
	p := &Probe{done: make(chan struct{})}
	c := newChecker(s, run)
	go p.loop(ctx, m, s, c, report)
	return p, nil
}

// loop runs the attempts. It is the only goroutine that calls report.
func (p *Probe) loop(ctx context.Context, m mode, s Spec, c checker, report func(Result)) {
	defer close(p.done)
	defer c.close()
	first := time.Duration(0)
	if m == live {
		first = s.Interval
	}
	timer := time.NewTimer(first)
	defer timer.Stop()
	var attempt, failures int
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		started := time.Now()
		err := attemptOnce(ctx, s.Timeout, c)
		took := time.Since(started)
		if ctx.Err() != nil {
			return // stopped, not a verdict on the program
		}
		attempt++
		r := Result{Attempt: attempt, OK: err == nil, Err: err, Took: took}
		if r.OK {
			r.Recovered = failures
			failures = 0
		} else {
			failures++
			r.Failures = failures
			r.Failed = m == live && failures == s.Failures
		}
		report(r)
		if m == ready && r.OK {
			return
		}
		timer.Reset(max(0, s.Interval-took))
	}
}

// attemptOnce runs one check bounded by timeout, turning its deadline into
// ErrTimeout.
func attemptOnce(ctx context.Context, timeout time.Duration, c checker) error {
	actx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()
	err := c.check(actx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), ErrTimeout) {
		return fmt.Errorf("%w after %s", ErrTimeout, timeout)
	}
	return err
}
