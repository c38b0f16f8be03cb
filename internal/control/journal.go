package control

import (
	"slices"
	"sync"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// EventRecord is one state change as `ctl events` streams it.
type EventRecord struct {
	Time         time.Time `json:"time"`
	Program      string    `json:"program"`
	From         string    `json:"from"`
	To           string    `json:"to"`
	Pid          int       `json:"pid,omitempty"`
	Exit         string    `json:"exit,omitempty"`
	DelaySeconds float64   `json:"delay_seconds,omitempty"`
	Reason       string    `json:"reason,omitempty"`
}

// LogRecord is one line of a program's output as `ctl logs` shows it.
type LogRecord struct {
	Time    time.Time `json:"time"`
	Program string    `json:"program"`
	Pid     int       `json:"pid"`
	Stream  string    `json:"stream"`
	Text    string    `json:"text"`
	Partial bool      `json:"partial,omitempty"`
}

// defaultLogLines is how many recent lines per program a Journal keeps.
const defaultLogLines = 1000

// logBytes bounds the text a Journal keeps per program, whatever the lines'
// count: a program that floods its output with long lines keeps its last 256
// KiB (at least one line), not defaultLogLines lines of up to
// supervise.MaxLineLen bytes (16 MiB). Lines of 256 bytes or less all fit.
const logBytes = 256 << 10

// followerBuffer is how many records a follower may fall behind before it is
// dropped (its stream ends saying so); publishing never blocks.
const followerBuffer = 4096

// Journal keeps what the control API shows of the past and the present: each
// program's recent output in a bounded ring, and followers of events and output.
// Its Event and Output methods are the Supervisor's OnEvent and OnOutput hooks;
// they never block (a follower that falls followerBuffer records behind is
// dropped). Safe for concurrent use.
type Journal struct {
	mu      sync.Mutex
	perProg int
	logs    map[string]*ring
	events  hub[EventRecord]
	output  hub[LogRecord] // published under mu, so follow neither misses nor repeats a line
}

// NewJournal returns a Journal keeping perProgram lines per program (<= 0 means
// 1000, defaultLogLines).
func NewJournal(perProgram int) *Journal {
	if perProgram <= 0 {
		perProgram = defaultLogLines
	}
	return &Journal{perProg: perProgram, logs: map[string]*ring{}}
}

// Event records a state change (the Supervisor's OnEvent).
func (j *Journal) Event(e supervise.Event) {
	r := EventRecord{Time: e.Time, Program: e.Program, From: string(e.From), To: string(e.To), Pid: e.Pid,
		DelaySeconds: e.Delay.Seconds(), Reason: e.Reason}
	if e.Exit != nil {
		r.Exit = e.Exit.String()
	}
	j.events.publish(r)
}

// Output records a line of output (the Supervisor's OnOutput).
func (j *Journal) Output(l supervise.OutputLine) {
	r := LogRecord{Time: l.Time, Program: l.Program, Pid: l.Pid, Stream: l.Stream, Text: l.Text, Partial: l.Partial}
	j.mu.Lock()
	rg := j.logs[l.Program]
	if rg == nil {
		rg = &ring{maxLines: j.perProg, maxBytes: logBytes}
		j.logs[l.Program] = rg
	}
	rg.add(r)
	j.output.publish(r)
	j.mu.Unlock()
}

// Export returns up to perProgram of each program's most recent lines, and
// at most maxBytes of text in all (the newest lines kept), for an upgrade to
// hand to the new image's Journal (Import).
func (j *Journal) Export(perProgram, maxBytes int) []LogRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []LogRecord
	for _, rg := range j.logs {
		out = append(out, rg.last(perProgram)...)
	}
	slices.SortStableFunc(out, func(a, b LogRecord) int { return a.Time.Compare(b.Time) })
	n := 0
	for i := len(out) - 1; i >= 0; i-- {
		if n += len(out[i].Text); n > maxBytes {
			return out[i+1:]
		}
	}
	return out
}

// Import adds recs (oldest first) to the rings, as if they had just been
// output, without publishing them to followers.
func (j *Journal) Import(recs []LogRecord) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range recs {
		rg := j.logs[r.Program]
		if rg == nil {
			rg = &ring{maxLines: j.perProg, maxBytes: logBytes}
			j.logs[r.Program] = rg
		}
		rg.add(r)
	}
}

// recent returns up to n of program's most recent lines, oldest first.
func (j *Journal) recent(program string, n int) []LogRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	rg := j.logs[program]
	if rg == nil {
		return nil
	}
	return rg.last(n)
}

// followSet returns the n most recent lines of each of programs, merged in
// time order, and a channel of every later line of every program (the caller
// filters), with no line missed or repeated between the two; the channel is
// closed if the follower falls behind, or by cancel.
func (j *Journal) followSet(programs []string, n int) ([]LogRecord, <-chan LogRecord, func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	recent := j.recentSetLocked(programs, n)
	ch, cancel := j.output.subscribe()
	return recent, ch, cancel
}

// recentSet is recent for several programs: up to n lines of each, merged in
// time order (oldest first).
func (j *Journal) recentSet(programs []string, n int) []LogRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.recentSetLocked(programs, n)
}

func (j *Journal) recentSetLocked(programs []string, n int) []LogRecord {
	var out []LogRecord
	for _, p := range programs {
		if rg := j.logs[p]; rg != nil {
			out = append(out, rg.last(n)...)
		}
	}
	slices.SortStableFunc(out, func(a, b LogRecord) int { return a.Time.Compare(b.Time) })
	return out
}

// followEvents returns a channel of every later event; it is closed if the
// follower falls behind, or by cancel.
func (j *Journal) followEvents() (<-chan EventRecord, func()) { return j.events.subscribe() }

// ring keeps a program's last records, at most maxLines of them holding at
// most maxBytes of text (but always the newest one); it grows as lines come, so
// a quiet program costs nothing.
type ring struct {
	maxLines, maxBytes int
	buf                []LogRecord // buf[head:] are the records, oldest first
	head               int
	bytes              int // text bytes in buf[head:]
}

func (r *ring) add(l LogRecord) {
	r.buf = append(r.buf, l)
	r.bytes += len(l.Text)
	for n := len(r.buf) - r.head; n > r.maxLines || (r.bytes > r.maxBytes && n > 1); n-- {
		r.bytes -= len(r.buf[r.head].Text)
		r.buf[r.head] = LogRecord{} // its text can be collected
		r.head++
	}
	if r.head > 0 && r.head >= len(r.buf)/2 {
		n := copy(r.buf, r.buf[r.head:])
		clear(r.buf[n:])
		r.buf, r.head = r.buf[:n], 0
	}
}

// last returns the last n records, oldest first.
func (r *ring) last(n int) []LogRecord {
	live := r.buf[r.head:]
	n = min(max(n, 0), len(live))
	return append([]LogRecord(nil), live[len(live)-n:]...)
}

// hub fans records out to followers without ever blocking the publisher.
type hub[T any] struct {
	mu   sync.Mutex
	subs map[chan T]struct{}
}

// subscribe returns a channel receiving every record published from now on. It is
// closed when the follower fell too far behind, or by cancel.
func (h *hub[T]) subscribe() (<-chan T, func()) {
	ch := make(chan T, followerBuffer)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan T]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (h *hub[T]) publish(v T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- v:
		default: // too slow: dropped, and its stream says so
			delete(h.subs, ch)
			close(ch)
		}
	}
}
