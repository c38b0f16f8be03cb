package main

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/logfile"
	"github.com/supervisor/supervisor/internal/supervise"
)

// console is where run and demo write: the supervisor's own log (hclog) and, in
// the text format, the programs' output lines rendered as
//
//	2026-12-05T00:10:00.123Z web | a line the program wrote on stdout
//	2026-12-05T00:10:00.124Z web ! a line the program wrote on stderr
//
// (docker compose's and foreman's "name | line", with '!' for stderr: one
// character, so both streams line up, and `grep ' web ! '` finds a program's
// stderr). A name never holds a space, '|' or '!'. In the JSON format program
// lines stay hclog entries with pid and stream as fields. One mutex orders
// every write, so a program line never lands inside a log entry. The output is
// stderr, or the --log-file, which reopen swaps for a new file at its path.
type console struct {
	mu      sync.Mutex
	w       io.Writer     // stderr or file, escaped in the text format
	file    *logfile.File // --log-file, or nil
	level   hclog.Level   // lines below it are not shown
	buf     []byte        // a program line being rendered (under mu)
	text    bool          // the text format: program lines are rendered here
	close   func() error  // closes the log file, if any
	logPath string        // the log file's path, if any
}

// newConsole opens path (if not "") as the log file, or writes to stderr; to
// both with tee (a supervisord config's logfile: supervisord -n writes both).
// rot is the file's rotation ([supervisord] logfile_maxbytes and _backups).
func newConsole(stderr io.Writer, path, format string, level hclog.Level, tee bool, rot logfile.Options) (*console, error) {
	c := &console{w: stderr, level: level, text: format != "json", close: func() error { return nil }}
	if path != "" {
		// The file's own failures go to stderr: it cannot log them to itself.
		f, err := logfile.Open(hclog.New(&hclog.LoggerOptions{Name: "supervisor", Output: stderr}), path, rot)
		if err != nil {
			return nil, fmt.Errorf("--log-file: %w", err)
		}
		c.w, c.file, c.close, c.logPath = f, f, f.Close, path
		if tee {
			c.w = teeWriter{f, stderr}
		}
	}
	if c.text {
		c.w = escapeControls{c.w}
	}
	return c, nil
}

// Write writes one log entry of the supervisor's logger.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.Write(p)
}

// timeFormat is hclog's, so program lines line up with the supervisor's.
const timeFormat = "2006-01-02T15:04:05.000Z0700"

// line renders one program output line (the Supervisor's Console hook).
func (c *console) line(l supervise.OutputLine) {
	if l.Level < c.level {
		return
	}
	mark := " | "
	if l.Stream == "stderr" {
		mark = " ! "
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := l.Time.AppendFormat(c.buf[:0], timeFormat)
	b = append(b, ' ')
	b = append(b, l.Program...)
	b = append(b, mark...)
	b = append(b, l.Text...)
	b = append(b, '\n')
	_, _ = c.w.Write(b)
	if cap(b) <= 64<<10 {
		c.buf = b
	}
}

// hook is the Console option: nil in the JSON format.
func (c *console) hook() func(supervise.OutputLine) {
	if !c.text {
		return nil
	}
	return c.line
}

// path is the log file's path, "" for none.
func (c *console) path() string {
	if c.file == nil {
		return ""
	}
	return c.logPath
}

// reopen reopens the log file (nothing without one).
func (c *console) reopen() error {
	if c.file == nil {
		return nil
	}
	if err := c.file.Reopen(); err != nil {
		return fmt.Errorf("--log-file: %w", err)
	}
	return nil
}

// ReopenLogs reopens every program's log file and the supervisor's own
// (supervisor ctl reopen-logs).
func (s steer) ReopenLogs() error {
	err := errors.Join(s.Supervisor.ReopenLogs(), s.out.reopen())
	if err != nil {
		s.log.Error("reopening log files", "error", err)
		return err
	}
	s.log.Info("log files reopened")
	return nil
}

// teeWriter writes to the log file and to stderr; only the file's failure is
// one (a closed stderr must not lose the file its lines).
type teeWriter struct{ file, also io.Writer }

func (t teeWriter) Write(p []byte) (int, error) {
	_, _ = t.also.Write(p)
	return t.file.Write(p)
}
