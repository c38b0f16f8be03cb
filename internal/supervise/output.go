package supervise

import (
	"bytes"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/logfile"
)

// MaxLineLen is the longest line of child output logged as one entry; a longer line
// is logged in pieces of this size, each marked "partial".
const MaxLineLen = 16 << 10

// OutputLine is one line a program wrote, as Options.OnOutput and
// Options.Console receive it.
type OutputLine struct {
	Time    time.Time
	Program string
	Pid     int
	Stream  string // "stdout" or "stderr"
	Text    string // without the newline
	Partial bool   // a piece of a line longer than MaxLineLen, or the unterminated end
	// Level is the line's level: the one its prefix names (ClassifyLevel), or
	// the stream's (Info for stdout, Spec.StderrLevel for stderr).
	Level hclog.Level
}

// lineSplitter splits a stream of child output into lines and hands each to
// the stream's sinks: the program's log file, if it has one (written in a
// batch at the end of each feed), OnOutput (tap), and either Console or the
// program's logger (log, at the line's level). A line longer than MaxLineLen
// is handed on in pieces of that size, each marked partial (and each a line
// of its own in the file). Not safe for concurrent use: the output mux feeds
// each stream from its one goroutine, lineWriter holds a mutex.
type lineSplitter struct {
	log     hclog.Logger     // used when console is nil
	tap     func(OutputLine) // Options.OnOutput, or nil
	console func(OutputLine) // Options.Console, or nil
	file    *logFileRef      // the stream's log file, or nil; released by flush
	pending []byte           // the start of a line split across feeds
	prog    string           // the program's name
	pid     int              // the run's pid, 0 for a goroutine worker
	level   hclog.Level      // for a line whose prefix names none; 0 means Info
	stderr  bool             // the stream is stderr (else stdout)
}

// feed takes the next bytes of the stream.
func (l *lineSplitter) feed(data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			l.pending = append(l.pending, data...)
			for len(l.pending) >= MaxLineLen {
				l.emit(l.pending[:MaxLineLen], true)
				l.pending = append(l.pending[:0], l.pending[MaxLineLen:]...)
			}
			break
		}
		if len(l.pending) > 0 {
			l.pending = append(l.pending, data[:i]...)
			for len(l.pending) > MaxLineLen {
				l.emit(l.pending[:MaxLineLen], true)
				l.pending = append(l.pending[:0], l.pending[MaxLineLen:]...)
			}
			l.emit(l.pending, false)
			l.pending = l.pending[:0]
		} else {
			l.emit(data[:i], false)
		}
		data = data[i+1:]
	}
	if l.file != nil {
		l.file.f.Flush()
	}
	if cap(l.pending) > 4<<10 && len(l.pending) == 0 {
		l.pending = nil // a long line came and went: do not keep its buffer
	}
}

// flush hands on an unterminated last line, marked partial (the stream
// ended), and releases the stream's log file.
func (l *lineSplitter) flush() {
	if len(l.pending) > 0 {
		l.emit(l.pending, true)
	}
	l.pending = nil
	if l.file != nil {
		l.file.release()
		l.file = nil
	}
}

// hclogPrefixes are the prefixes go-hclog and go-plugin write; the logger
// path strips them from the message (the level says it), as it always did.
var hclogPrefixes = []struct {
	prefix string
	level  hclog.Level
}{
	{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
	{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error},
}

func (l *lineSplitter) emit(raw []byte, partial bool) {
	line := bytes.TrimSuffix(raw, []byte{'\r'})
	base := l.level
	if base == hclog.NoLevel {
		base = hclog.Info
	}
	level := ClassifyLevel(line, base)
	var now time.Time
	if l.file != nil || l.tap != nil || l.console != nil {
		now = time.Now()
	}
	if l.file != nil {
		l.file.f.Line(line, now)
	}
	if l.tap != nil || l.console != nil {
		ol := OutputLine{Time: now, Program: l.prog, Pid: l.pid, Stream: "stdout", Text: string(line), Partial: partial, Level: level}
		if l.stderr {
			ol.Stream = "stderr"
		}
		if l.tap != nil {
			l.tap(ol)
		}
		if l.console != nil {
			l.console(ol)
			return
		}
	}
	for _, lp := range hclogPrefixes {
		if bytes.HasPrefix(line, []byte(lp.prefix)) {
			line = bytes.TrimLeft(line[len(lp.prefix):], " ")
			break
		}
	}
	if partial {
		l.log.Log(level, string(line), "partial", true)
		return
	}
	l.log.Log(level, string(line))
}

// logFileRef is a stream's hold on a shared log file (logs.go).
type logFileRef struct {
	f       *logfile.File
	release func()
}
