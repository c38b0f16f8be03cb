package supervise

import (
	"bytes"
	"io"
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

// logLines reads r until EOF (or error) and logs each line through log, at the
// level a "[WARN]"-style prefix names, or Info, and hands it to tap if not nil.
// It never stops draining early: a
// child blocked on a full pipe would hang. The caller owns r and closes it after.
//
// The read buffer is small (512 bytes) so that a thousand idle children cost little;
// a line that spans reads is assembled in a separate slice.
func logLines(log hclog.Logger, r io.Reader, tap func(text string, partial bool)) {
	chunk := make([]byte, 512)
	var pending []byte // start of a line split across reads
	for {
		n, err := r.Read(chunk)
		data := chunk[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				pending = append(pending, data...)
				for len(pending) >= MaxLineLen {
					emitLine(log, tap, pending[:MaxLineLen], true)
					pending = append(pending[:0], pending[MaxLineLen:]...)
				}
				break
			}
			if len(pending) > 0 {
				pending = append(pending, data[:i]...)
				for len(pending) > MaxLineLen {
					emitLine(log, tap, pending[:MaxLineLen], true)
					pending = append(pending[:0], pending[MaxLineLen:]...)
				}
				emitLine(log, tap, pending, false)
				pending = pending[:0]
			} else {
				emitLine(log, tap, data[:i], false)
			}
			data = data[i+1:]
		}
		if err != nil {
			if len(pending) > 0 {
				emitLine(log, tap, pending, true)
			}
			return
		}
	}
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
