package supervise

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/supervisor/supervisor/internal/probe"
)

// Health probes (Spec.ReadyProbe, Spec.LiveProbe): package probe makes the
// attempts in its own goroutines; their results come back through the inbox as
// probeMsg, tagged with the run, and feed the policy machine as readiness (the
// ready probe's first success) and liveness (the live probe's verdict) events.
// A run owns its probes: close cancels them.

// probeMsg is one result of a probe of p's run number run.
type probeMsg struct {
	p    *program
	run  uint64
	live bool
	res  probe.Result
}

func (probeMsg) isMessage() {}

// reaperRunner runs exec probes through the Reaper, the one waiter of this
// process (DESIGN.md, hard rule 1): os/exec's Wait would race it.
type reaperRunner struct{ r *Reaper }

var _ probe.Runner = reaperRunner{}

// Run spawns argv in its own process group, copies its output to output until
// it exits (not until EOF: a grandchild may keep the pipe open), and returns its
// shell-style status; when ctx ends first it SIGKILLs the group and returns
// ctx.Err() once the process was reaped.
func (rr reaperRunner) Run(ctx context.Context, argv []string, output io.Writer) (int, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return -1, fmt.Errorf("probe output pipe: %w", err)
	}
	defer outR.Close()
	exited := make(chan Exit, 1)
	proc, err := rr.r.Spawn(SpawnRequest{Kind: SpawnExec, Argv: argv, Stdout: outW, Stderr: outW,
		OnExit: func(e Exit) { exited <- e }, KillGroupOnExit: true})
	outW.Close()
	if err != nil {
		return -1, err
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(output, outR)
	}()
	var e Exit
	select {
	case e = <-exited:
	case <-ctx.Done():
		_ = proc.SignalGroup(syscall.SIGKILL)
		<-exited
		outR.Close() // the copy ends now, whoever holds the write end
		<-copied
		return -1, ctx.Err()
	}
	outR.Close() // the group was killed with its leader; stop reading what is left
	<-copied
	return e.ShellCode(), nil
}

// startReadyProbe starts r's ready probe, if its program has one.
func (b *runBase) startReadyProbe() { b.startProbe(b.p.spec.ReadyProbe, false) }

// startLiveProbe starts r's live probe, once its program is running.
func (b *runBase) startLiveProbe() { b.startProbe(b.p.spec.LiveProbe, true) }

func (b *runBase) startProbe(spec *probe.Spec, live bool) {
	if spec == nil || b.over {
		return
	}
	if b.probeCtx == nil {
		b.probeCtx, b.probeCancel = context.WithCancel(context.Background())
	}
	s, p, no := b.s, b.p, b.no
	report := func(res probe.Result) { s.inbox.push(probeMsg{p: p, run: no, live: live, res: res}) }
	start := probe.StartReady
	if live {
		start = probe.StartLive
	}
	if _, err := start(b.probeCtx, *spec, reaperRunner{s.r}, report); err != nil {
		p.log.Error("probe not started", "probe", spec.String(), "error", err)
	}
}

// stopProbes cancels the run's probes (an attempt in flight is cancelled and
// not reported).
func (b *runBase) stopProbes() {
	if b.probeCancel != nil {
		b.probeCancel()
		b.probeCtx, b.probeCancel = nil, nil
	}
}

// probed handles a probe's result for p's current run.
func (s *Supervisor) probed(p *program, m probeMsg) {
	spec, res := p.spec.ReadyProbe, m.res
	if m.live {
		spec = p.spec.LiveProbe
	}
	switch {
	case !m.live && res.OK:
		s.do(s.m.readyBy(p, "ready probe passed ("+spec.String()+")", time.Now()))
	case !m.live:
		p.log.Debug("ready probe: not yet", "probe", spec.String(), "attempt", res.Attempt, "error", res.Err)
	case res.Failed:
		why := fmt.Sprintf("live probe failed %d times in a row (%s): %v", res.Failures, spec.String(), res.Err)
		p.log.Warn("live probe failed: ending the run", "probe", spec.String(), "failures", res.Failures, "error", res.Err)
		s.do(s.m.runFailed(p, why, p.spec.StopSignal))
	case res.Recovered > 0:
		p.log.Info("live probe recovered", "probe", spec.String(), "after_failures", res.Recovered)
	case !res.OK:
		p.log.Warn("live probe failed", "probe", spec.String(), "failures_in_a_row", res.Failures, "of", spec.Failures, "error", res.Err)
	}
}
