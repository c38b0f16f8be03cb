package supervise

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// lineTap collects what a splitter hands on.
type lineTap struct {
	mu    sync.Mutex
	lines []string // text, with " (partial)" appended for partial pieces
	more  chan struct{}
}

func newLineTap() *lineTap { return &lineTap{more: make(chan struct{}, 1)} }

func (c *lineTap) tap(l OutputLine) {
	text := l.Text
	if l.Partial {
		text += " (partial)"
	}
	c.mu.Lock()
	c.lines = append(c.lines, text)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func (c *lineTap) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// waitN waits until n lines arrived (or fails the test after a deadline).
func (c *lineTap) waitN(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := c.get(); len(got) >= n {
			return got
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("waited for %d lines, have %q", n, c.get())
		}
	}
}

func TestLineSplitter(t *testing.T) {
	long := strings.Repeat("x", MaxLineLen)
	for _, c := range []struct {
		name  string
		feeds []string
		want  []string
	}{
		{"lines in one feed", []string{"a\nb\n"}, []string{"a", "b"}},
		{"a line across feeds", []string{"he", "ll", "o\nw", "orld\n"}, []string{"hello", "world"}},
		{"CRLF", []string{"dos\r\n"}, []string{"dos"}},
		{"empty lines", []string{"\n\n"}, []string{"", ""}},
		{"unterminated end", []string{"a\nrest"}, []string{"a", "rest (partial)"}},
		{"a line of exactly MaxLineLen", []string{long + "\n"}, []string{long}},
		{"a line longer than MaxLineLen", []string{long[:100], long, "tail\n"}, []string{long + " (partial)", long[:100] + "tail"}},
		{"two pieces and nothing after", []string{long + long}, []string{long + " (partial)", long + " (partial)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			lt := newLineTap()
			sp := lineSplitter{log: hclog.NewNullLogger(), tap: lt.tap}
			for _, f := range c.feeds {
				sp.feed([]byte(f))
			}
			sp.flush()
			if got := lt.get(); !slices.Equal(got, c.want) {
				t.Errorf("got %d lines %.80q, want %d %.80q", len(got), got, len(c.want), c.want)
			}
		})
	}
}

// The mux reads many pipes at once, logs an unterminated last line at EOF, and
// closes each read end once its writers are gone.
func TestOutputMuxManyPipes(t *testing.T) {
	m, err := newOutputMux(hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	const n = 50
	taps := make([]*lineTap, n)
	writers := make([]*os.File, n)
	for i := range n {
		r, w, err := m.pipe()
		if err != nil {
			t.Fatal(err)
		}
		taps[i], writers[i] = newLineTap(), w
		if err := m.add(r, lineSplitter{log: hclog.NewNullLogger(), tap: taps[i].tap}); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		for i, w := range writers {
			fmt.Fprintf(w, "pipe %d line %d\n", i, round)
		}
	}
	for i, w := range writers {
		fmt.Fprintf(w, "pipe %d end", i)
		w.Close()
	}
	for i, lt := range taps {
		got := lt.waitN(t, 4)
		want := []string{fmt.Sprintf("pipe %d line 0", i), fmt.Sprintf("pipe %d line 1", i), fmt.Sprintf("pipe %d line 2", i), fmt.Sprintf("pipe %d end (partial)", i)}
		if !slices.Equal(got, want) {
			t.Errorf("pipe %d: %q, want %q", i, got, want)
		}
	}
	// Every read end is closed once its stream ended (poll the OS, no sleep).
	for deadline := time.Now().Add(10 * time.Second); ; {
		m.mu.Lock()
		left := len(m.streams)
		m.mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still open after EOF", left)
		}
		runtime.Gosched()
	}
}

// close drains what a pipe holds though its writer is still open (a descendant
// that escaped its program's tree), logs the unterminated line, and returns.
func TestOutputMuxCloseDrains(t *testing.T) {
	m, err := newOutputMux(hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := m.pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	lt := newLineTap()
	if err := m.add(r, lineSplitter{log: hclog.NewNullLogger(), tap: lt.tap}); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "one\ntwo\nhalf")
	m.close()
	if got, want := lt.get(), []string{"one", "two", "half (partial)"}; !slices.Equal(got, want) {
		t.Errorf("after close: %q, want %q", got, want)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("writing after close: the read end is still open")
	}
	if err := m.add(-1, lineSplitter{log: hclog.NewNullLogger()}); err == nil {
		t.Error("add after close succeeded")
	}
	m.close() // twice is fine
}
