package supervise

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/logfile"
)

// logFiles holds the programs' log files (Spec.StdoutLog, StderrLog) that are
// open, by path: a file is opened when the first stream that writes it starts
// (a run's stdout or stderr, on the state goroutine) and closed when the last
// one ends (the output mux at EOF, a goroutine worker's run when it returns).
// Streams that name the same path, stdout and stderr of one program or of
// several, share one *logfile.File, so rotation sees all they write.
// The mutex guards the map and the counts only: writes go through each file's
// own mutex, from the goroutine that read the line; ReopenLogs runs on its
// caller's goroutine and takes both, map first.
type logFiles struct {
	log  hclog.Logger
	mu   sync.Mutex
	open map[string]*logFileEntry
}

type logFileEntry struct {
	f    *logfile.File
	refs int
}

// acquire returns a hold on the file at path, opening it if no stream holds
// it, or nil if it cannot be opened (logged: the stream's lines then go only
// to the console and ctl logs).
func (l *logFiles) acquire(log hclog.Logger, path string, opts logfile.Options) *logFileRef {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.open[path]
	if e == nil {
		f, err := logfile.Open(l.log, path, opts)
		if err != nil {
			log.Error("cannot open the log file; this run's output goes to the console and ctl logs only", "path", path, "error", err)
			return nil
		}
		if l.open == nil {
			l.open = map[string]*logFileEntry{}
		}
		e = &logFileEntry{f: f}
		l.open[path] = e
	}
	e.refs++
	var once sync.Once
	return &logFileRef{f: e.f, release: func() { once.Do(func() { l.release(path, e) }) }}
}

func (l *logFiles) release(path string, e *logFileEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.refs--
	if e.refs > 0 {
		return
	}
	delete(l.open, path)
	if err := e.f.Close(); err != nil {
		l.log.Error("closing a log file", "path", path, "error", err)
	}
}

// reopen reopens every open log file.
func (l *logFiles) reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for path, e := range l.open {
		if err := e.f.Reopen(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	return errors.Join(errs...)
}

// ReopenLogs reopens every program log file that is open (those of programs
// with no stream open are opened afresh by their next run anyway), so that
// after an external logrotate moved them, output goes to new files at their
// paths. Safe to call from any goroutine, at any time (after Serve returned
// it does nothing); it does not go through the state goroutine: each file's
// mutex hands it over from the goroutines that write it. A file that cannot be
// reopened keeps being written where it was; the error names each one.
func (s *Supervisor) ReopenLogs() error {
	if err := s.logs.reopen(); err != nil {
		return fmt.Errorf("reopen logs: %w", err)
	}
	return nil
}

// streamFile returns the hold on p's log file for stream ("stdout" or
// "stderr"), or nil if it has none.
func (s *Supervisor) streamFile(p *program, stream string) *logFileRef {
	path := p.spec.StdoutLog
	if stream == "stderr" {
		path = p.spec.StderrLog
	}
	if path == "" {
		return nil
	}
	return s.logs.acquire(p.log, path, logfile.Options{MaxBytes: p.spec.LogMaxBytes, Backups: p.spec.LogBackups, Timestamps: p.spec.LogTimestamps})
}

// splitter returns the lineSplitter of p's stream, for the run of pid (0 for
// a goroutine worker), holding its log file if it has one.
func (s *Supervisor) splitter(p *program, pid int, stream string, log hclog.Logger) lineSplitter {
	sp := lineSplitter{log: log, tap: s.opts.OnOutput, console: s.opts.Console,
		prog: p.spec.Name, pid: pid, stderr: stream == "stderr", file: s.streamFile(p, stream)}
	if sp.stderr {
		sp.level = p.spec.StderrLevel
	}
	return sp
}

// validateLogs checks that programs naming the same log file agree on how it
// rotates and whether it is stamped: one File serves them all.
func (g *Group) validateLogs() error {
	type use struct {
		prog string
		opts logfile.Options
	}
	first := map[string]use{}
	for _, sp := range g.Programs {
		opts := logfile.Options{MaxBytes: sp.LogMaxBytes, Backups: sp.LogBackups, Timestamps: sp.LogTimestamps}
		for _, f := range []struct{ key, path string }{{"stdout_log", sp.StdoutLog}, {"stderr_log", sp.StderrLog}} {
			if f.path == "" {
				continue
			}
			u, ok := first[f.path]
			if !ok {
				first[f.path] = use{sp.Name, opts}
				continue
			}
			if u.opts != opts {
				return fmt.Errorf("%w: program %q: %s: %q is also program %q's log file, with other log_max_bytes, log_backups or log_timestamps",
					ErrInvalidSpec, sp.Name, f.key, f.path, u.prog)
			}
		}
	}
	return nil
}
