package supervise

import (
	"bytes"
	"time"

	"github.com/hashicorp/go-hclog"
)

// MaxLineLen is the longest line of child output logged as one entry; a longer line
// is logged in pieces of this size, each marked "partial".
const MaxLineLen = 16 << 10

// OutputLine is one line a program wrote, as Options.OnOutput receives it.
type OutputLine struct {
	Time    time.Time
	Program string
	Pid     int
	Stream  string // "stdout" or "stderr"
	Text    string // without the newline
	Partial bool   // a piece of a line longer than MaxLineLen, or the unterminated end
}

// lineSplitter splits a stream of child output into lines and logs each
// through log, at the level a "[WARN]"-style prefix names, or Info, and hands
// it to tap if not nil. A line longer than MaxLineLen is logged in pieces of
// that size, each marked partial. Not safe for concurrent use: the output mux
// feeds each stream from its one goroutine, lineWriter holds a mutex.
type lineSplitter struct {
	log     hclog.Logger
	tap     func(text string, partial bool)
	pending []byte // the start of a line split across feeds
}

// feed takes the next bytes of the stream.
func (l *lineSplitter) feed(data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			l.pending = append(l.pending, data...)
			for len(l.pending) >= MaxLineLen {
				emitLine(l.log, l.tap, l.pending[:MaxLineLen], true)
				l.pending = append(l.pending[:0], l.pending[MaxLineLen:]...)
			}
			return
		}
		if len(l.pending) > 0 {
			l.pending = append(l.pending, data[:i]...)
			for len(l.pending) > MaxLineLen {
				emitLine(l.log, l.tap, l.pending[:MaxLineLen], true)
				l.pending = append(l.pending[:0], l.pending[MaxLineLen:]...)
			}
			emitLine(l.log, l.tap, l.pending, false)
			l.pending = l.pending[:0]
		} else {
			emitLine(l.log, l.tap, data[:i], false)
		}
		data = data[i+1:]
	}
	if cap(l.pending) > 4<<10 && len(l.pending) == 0 {
		l.pending = nil // a long line came and went: do not keep its buffer
	}
}

// flush logs an unterminated last line, marked partial (the stream ended).
func (l *lineSplitter) flush() {
	if len(l.pending) > 0 {
		emitLine(l.log, l.tap, l.pending, true)
	}
	l.pending = nil
}

var levelPrefixes = []struct {
	prefix string
	level  hclog.Level
}{
	{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
	{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error},
}

func emitLine(log hclog.Logger, tap func(string, bool), line []byte, partial bool) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if tap != nil {
		tap(string(line), partial)
	}
	level := hclog.Info
	for _, lp := range levelPrefixes {
		if bytes.HasPrefix(line, []byte(lp.prefix)) {
			level = lp.level
			line = bytes.TrimLeft(line[len(lp.prefix):], " ")
			break
		}
	}
	if partial {
		log.Log(level, string(line), "partial", true)
		return
	}
	log.Log(level, string(line))
}
