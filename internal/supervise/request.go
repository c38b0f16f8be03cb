package supervise

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/supervisor/supervisor/internal/ipc"
)

// ErrNotReady is returned by Request for a program that is not running and ready.
var ErrNotReady = errors.New("supervise: program is not running and ready")

// ErrNotProtocol is returned by Request for a program that does not speak the
// pipe protocol (Spec.Protocol false): there is nobody to answer a request.
var ErrNotProtocol = errors.New("supervise: program does not speak the protocol (protocol = true), so it takes no requests")

// Request sends method and body to the named protocol program and returns the
// body of its reply. It blocks until the reply comes, the program's run ends (the
// error says so), or ctx ends. Safe for concurrent use; it does not go through the
// state goroutine: it uses the program's link, which the state goroutine sets
// when the run says Ready and clears when the run ends. Errors wrap
// ErrNoSuchProgram, ErrNotProtocol, ErrNotReady, or ctx.Err().
func (s *Supervisor) Request(ctx context.Context, name, method string, body []byte) ([]byte, error) {
	p := (*s.byName.Load())[name]
	if p == nil {
		return nil, fmt.Errorf("request %s to %q: %w", method, name, ErrNoSuchProgram)
	}
	if !p.spec.Protocol { // spec never changes after newProgram: safe to read here
		return nil, fmt.Errorf("request %s to %q: %w", method, name, ErrNotProtocol)
	}
	l := p.link.Load()
	if l == nil {
		return nil, fmt.Errorf("request %s to %q: %w", method, name, ErrNotReady)
	}
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	return s.send(ctx, p, l, method, body)
}

// IsPattern reports whether name is a pool pattern for RequestAny rather than a
// program name: it holds one of the glob characters * ? [ (program names never do).
func IsPattern(name string) bool { return strings.ContainsAny(name, "*?[") }

// RequestAny sends method and body to one of the protocol programs whose names
// match pattern (path.Match syntax: "worker-*", "w?", "w[0-3]"), and returns
// that program's name and the body of its reply. It picks, among the matching
// programs that are running and ready, the one with the fewest requests in flight
// (Status.InFlight), round-robin among ties; programs that are not ready
// (starting, restarting, stopped, in backoff) or not protocol programs are
// skipped. A request is sent once: if the chosen worker dies before it answers,
// the error says so and nothing is retried (the request may have been partly
// done). Errors wrap ErrNoSuchProgram (nothing matches), ErrNotProtocol (no
// match speaks the protocol), ErrNotReady (no protocol match is ready),
// path.ErrBadPattern, or whatever Request's would. Safe for concurrent use;
// like Request, it does not go through the state goroutine.
func (s *Supervisor) RequestAny(ctx context.Context, pattern, method string, body []byte) (string, []byte, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return "", nil, fmt.Errorf("request %s to %q: %w", method, pattern, err)
	}
	var matched, protocol int
	type cand struct {
		p *program
		l *link
	}
	var cands []cand
	for name, p := range *s.byName.Load() {
		if ok, _ := path.Match(pattern, name); !ok {
			continue
		}
		matched++
		if !p.spec.Protocol {
			continue
		}
		protocol++
		if l := p.link.Load(); l != nil {
			cands = append(cands, cand{p, l})
		}
	}
	switch {
	case matched == 0:
		return "", nil, fmt.Errorf("request %s to %q: no program matches: %w", method, pattern, ErrNoSuchProgram)
	case protocol == 0:
		return "", nil, fmt.Errorf("request %s to %q: none of the %d matching programs: %w", method, pattern, matched, ErrNotProtocol)
	case len(cands) == 0:
		return "", nil, fmt.Errorf("request %s to %q: none of the %d matching protocol programs: %w", method, pattern, protocol, ErrNotReady)
	}
	// A stable order (map order is random), then a rotating start: among equally
	// busy programs the first one found from there wins, so ties go round-robin.
	slices.SortFunc(cands, func(a, b cand) int { return strings.Compare(a.p.spec.Name, b.p.spec.Name) })
	start := int(s.rr.Add(1) % uint64(len(cands)))
	best := -1
	var least int64
	for i := range cands {
		c := cands[(start+i)%len(cands)]
		if n := c.p.inFlight.Load(); best < 0 || n < least {
			best, least = (start+i)%len(cands), n
		}
	}
	c := cands[best]
	// Counted before the send, so that a concurrent RequestAny sees it busy. (Two
	// calls may still read the same counts and pick the same program: the choice
	// is a balance, not a guarantee.)
	c.p.inFlight.Add(1)
	defer c.p.inFlight.Add(-1)
	b, err := s.send(ctx, c.p, c.l, method, body)
	return c.p.spec.Name, b, err
}

// send sends one request over l, p's link, and waits for the reply, the end of
// the run, or ctx.
func (s *Supervisor) send(ctx context.Context, p *program, l *link, method string, body []byte) ([]byte, error) {
	name := p.spec.Name
	if l.local != nil {
		b, err := l.local.request(ctx, method, body)
		if err != nil {
			return nil, fmt.Errorf("request %s to %q: %w", method, name, err)
		}
		return b, nil
	}
	id, ch, err := l.pending.Add()
	if err != nil {
		return nil, fmt.Errorf("request %s to %q: %w", method, name, err)
	}
	// Sent from its own goroutine: a child that stopped reading can leave the pipe
	// full, and the caller's ctx must still work. The write ends, at the latest,
	// when the run ends and its pipe is closed.
	sent := make(chan error, 1)
	go func() { sent <- l.conn.Send(ipc.Request{ID: id, Method: method, Body: body}) }()
	for {
		select {
		case err := <-sent:
			if err != nil {
				l.pending.Remove(id)
				return nil, fmt.Errorf("request %s to %q: %w", method, name, err)
			}
			sent = nil
			continue
		case r := <-ch:
			switch {
			case r.Err != nil:
				return nil, fmt.Errorf("request %s to %q: %w", method, name, r.Err)
			case r.Reply.Err != "":
				return nil, fmt.Errorf("request %s to %q: the program answered: %s", method, name, r.Reply.Err)
			}
			return r.Reply.Body, nil
		case <-ctx.Done():
			l.pending.Remove(id)
			return nil, fmt.Errorf("request %s to %q: %w", method, name, ctx.Err())
		}
	}
}
