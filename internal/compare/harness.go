package compare

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/worker"
)

// harness is one Supervisor served in the background for one measurement, with
// everything it reports (state changes, output lines) kept so the measurement
// can wait for them. The Supervisor's state stays on its own goroutine; the
// harness only records what OnEvent and OnOutput hand it.
type harness struct {
	sup    *supervise.Supervisor
	cancel context.CancelFunc
	served chan error

	mu     sync.Mutex
	events []supervise.Event
	lines  []supervise.OutputLine
	wake   chan struct{} // closed and replaced whenever an event or a line arrives
}

// serve starts a Supervisor of specs (one_for_one) on r and returns once Serve
// runs; it does not wait for the programs. The caller must call close.
func serve(log hclog.Logger, r *supervise.Reaper, specs ...supervise.Spec) (*harness, error) {
	h := &harness{served: make(chan error, 1), wake: make(chan struct{})}
	sup, err := supervise.New(log, supervise.Group{Strategy: supervise.OneForOne, Programs: specs},
		supervise.Options{Workers: supervise.Catalogue{Reexec: worker.Names(), Funcs: worker.Funcs()}, Reaper: r, OnEvent: h.event, OnOutput: h.output})
	if err != nil {
		return nil, fmt.Errorf("new supervisor: %w", err)
	}
	h.sup = sup
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.served <- sup.Serve(ctx) }()
	return h, nil
}

// close stops every program (stop request, grace, SIGKILL; a goroutine worker
// that ignores it is leaked) and blocks until Serve has returned.
func (h *harness) close() error {
	h.cancel()
	if err := <-h.served; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func (h *harness) event(e supervise.Event) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.wakeLocked()
	h.mu.Unlock()
}

func (h *harness) output(l supervise.OutputLine) {
	h.mu.Lock()
	h.lines = append(h.lines, l)
	h.wakeLocked()
	h.mu.Unlock()
}

// wakeLocked wakes every waiter (h.mu held): they look again at what arrived.
func (h *harness) wakeLocked() {
	close(h.wake)
	h.wake = make(chan struct{})
}

// errTimeout says that what a measurement waited for did not happen in time.
var errTimeout = errors.New("compare: timed out")

// waitEvent blocks until the n-th (from 1) event of program prog entering state
// to, and returns it; or until ctx ends.
func (h *harness) waitEvent(ctx context.Context, n int, prog string, to supervise.State) (supervise.Event, error) {
	for {
		h.mu.Lock()
		seen := 0
		for _, e := range h.events {
			if e.Program == prog && e.To == to {
				if seen++; seen == n {
					h.mu.Unlock()
					return e, nil
				}
			}
		}
		wake := h.wake
		h.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return supervise.Event{}, fmt.Errorf("%w: waiting for %s to be %s (time %d): %w", errTimeout, prog, to, n, context.Cause(ctx))
		}
	}
}

// waitRunning waits until every program named has been running once.
func (h *harness) waitRunning(ctx context.Context, names ...string) error {
	for _, name := range names {
		if _, err := h.waitEvent(ctx, 1, name, supervise.StateRunning); err != nil {
			return err
		}
	}
	return nil
}

// waitLine blocks until prog wrote a line containing sub on stderr and returns
// it; or until ctx ends.
func (h *harness) waitLine(ctx context.Context, prog, sub string) (string, error) {
	for {
		h.mu.Lock()
		for _, l := range h.lines {
			if l.Program == prog && l.Stream == "stderr" && strings.Contains(l.Text, sub) {
				h.mu.Unlock()
				return l.Text, nil
			}
		}
		wake := h.wake
		h.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return "", fmt.Errorf("%w: waiting for %q on the stderr of %s: %w", errTimeout, sub, prog, context.Cause(ctx))
		}
	}
}

// hasLine reports whether prog wrote a line containing sub on stderr so far.
func (h *harness) hasLine(prog, sub string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.lines {
		if l.Program == prog && l.Stream == "stderr" && strings.Contains(l.Text, sub) {
			return true
		}
	}
	return false
}

// count is how many times prog has entered state to so far.
func (h *harness) count(prog string, to supervise.State) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.events {
		if e.Program == prog && e.To == to {
			n++
		}
	}
	return n
}

// status is the current status of prog.
func (h *harness) status(ctx context.Context, prog string) (supervise.Status, error) {
	all, err := h.sup.Status(ctx)
	if err != nil {
		return supervise.Status{}, fmt.Errorf("status: %w", err)
	}
	for _, st := range all {
		if st.Name == prog {
			return st, nil
		}
	}
	return supervise.Status{}, fmt.Errorf("status of %q: %w", prog, supervise.ErrNoSuchProgram)
}

// request sends method and body to prog and returns the reply as a string.
func (h *harness) request(ctx context.Context, prog, method, body string) (string, error) {
	b, err := h.sup.Request(ctx, prog, method, []byte(body))
	return string(b), err
}

// troubleSpec is the "trouble" worker (internal/worker) as a program of kind:
// restarted at once after a failure, without limit, and stopped within grace.
func troubleSpec(name string, kind supervise.SpawnerKind, args ...string) supervise.Spec {
	s := supervise.DefaultSpec()
	s.Name = name
	s.Spawner = kind
	s.Command = append([]string{"trouble", "--heartbeat", "100ms"}, args...)
	s.Protocol = true
	s.MinUptime = 0
	s.BackoffInitial, s.BackoffMax, s.BackoffJitter = 0, 0, 0
	s.MaxRestarts = 0
	s.StartRetries = 1000
	s.StartTimeout = 10 * time.Second
	s.StopGrace = 2 * time.Second
	return s
}

// serveRunning serves specs under one supervisor and returns once every one of
// them runs; the caller closes h.
func serveRunning(ctx context.Context, c *comparer, specs ...supervise.Spec) (*harness, error) {
	h, err := serve(c.log, c.r, specs...)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	if err := h.waitRunning(ctx, names...); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}
