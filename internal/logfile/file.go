package logfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Mode is the permission a new log file is created with (before the umask).
const Mode = 0o640

// TimeFormat is what Options.Timestamps puts before each line: RFC 3339 with
// milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// flushAt bounds what Line buffers before it writes by itself.
const flushAt = 64 << 10

// Options says how a File rotates and what it adds to lines.
type Options struct {
	MaxBytes   int64 // rotate before a line would take the file over this size; 0: never
	Backups    int   // rotated files kept: PATH.1 (the newest) .. PATH.Backups
	Timestamps bool  // Line prefixes each line with its time (TimeFormat) and a space
}

// File is a log file; see the package doc for its contracts.
type File struct {
	path string
	opts Options
	log  hclog.Logger

	mu      sync.Mutex
	f       *os.File // nil when opening failed (lines are dropped until Reopen succeeds)
	size    int64    // the file's size at open plus what was written since
	buf     []byte   // whole lines not written yet
	failing bool     // a failure was logged; the next success says so

	// The last stamp's second and zone, formatted: most lines share them, and
	// formatting a time costs more than writing the line.
	stampSec  int64
	stampHead []byte // "2006-01-02T15:04:05"
	stampZone []byte // "Z" or "+01:00"
}

// Open opens (creating it if need be) the log file at path for appending.
// Failures of later writes, rotations and reopens are logged through log,
// which must not write to this File (nil: not logged).
func Open(log hclog.Logger, path string, opts Options) (*File, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	f := &File{path: path, opts: opts, log: log}
	fd, size, err := open(path)
	if err != nil {
		return nil, err
	}
	f.f, f.size = fd, size
	return f, nil
}

func open(path string) (*os.File, int64, error) {
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, Mode)
	if err != nil {
		return nil, 0, fmt.Errorf("open log file: %w", err)
	}
	st, err := fd.Stat()
	if err != nil {
		fd.Close()
		return nil, 0, fmt.Errorf("stat log file: %w", err)
	}
	if !st.Mode().IsRegular() {
		fd.Close()
		return nil, 0, fmt.Errorf("open log file %s: not a regular file", path)
	}
	return fd, st.Size(), nil
}

// Path is the path the File was opened with.
func (f *File) Path() string { return f.path }

// Line buffers text (without its newline) as one line of the file, stamped
// with now if Options.Timestamps. It rotates first if the line would take the
// file over MaxBytes (unless the file is empty). It writes only when the
// buffer is full: call Flush once a batch of lines is in.
func (f *File) Line(text []byte, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := len(f.buf)
	if f.opts.Timestamps {
		f.buf = f.appendStamp(f.buf, now)
		f.buf = append(f.buf, ' ')
	}
	f.buf = append(f.buf, text...)
	f.buf = append(f.buf, '\n')
	if f.opts.MaxBytes > 0 && f.size+int64(len(f.buf)) > f.opts.MaxBytes && f.size+int64(start) > 0 {
		// The new line does not fit: what came before it goes to this file,
		// the line starts the next one.
		f.writeLocked(f.buf[:start])
		f.rotateLocked()
		n := copy(f.buf, f.buf[start:])
		f.buf = f.buf[:n]
	}
	if len(f.buf) >= flushAt {
		f.flushLocked()
	}
}

// appendStamp appends now as TimeFormat does, formatting only what changed
// since the last line's stamp.
func (f *File) appendStamp(b []byte, now time.Time) []byte {
	if sec := now.Unix(); sec != f.stampSec || f.stampHead == nil {
		f.stampSec = sec
		f.stampHead = now.AppendFormat(f.stampHead[:0], "2006-01-02T15:04:05")
		f.stampZone = now.AppendFormat(f.stampZone[:0], "Z07:00")
	}
	ms := now.Nanosecond() / 1e6
	b = append(b, f.stampHead...)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, f.stampZone...)
}

// Flush writes the buffered lines.
func (f *File) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushLocked()
}

// Write writes p, whole lines, unbuffered (after any buffered ones), rotating
// first as Line does: it makes a File the io.Writer of a logger. It always
// reports success: a failure is logged once (see the package doc).
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushLocked()
	if f.opts.MaxBytes > 0 && f.size > 0 && f.size+int64(len(p)) > f.opts.MaxBytes {
		f.rotateLocked()
	}
	f.writeLocked(p)
	return len(p), nil
}

// Reopen writes what is buffered, then opens the path again (creating the
// file) and writes there from now on: after a logrotate moved the file away,
// new lines go to a new file at the path. If the open fails, the File keeps
// writing to the file it had, and the error is returned.
func (f *File) Reopen() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushLocked()
	fd, size, err := open(f.path)
	if err != nil {
		f.fail("reopen", err)
		return err
	}
	if f.f != nil {
		f.f.Close()
	}
	f.f, f.size = fd, size
	return nil
}

// Close writes what is buffered and closes the file. Lines given after Close
// are dropped.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushLocked()
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	f.buf = nil
	return err
}

func (f *File) flushLocked() {
	if len(f.buf) == 0 {
		return
	}
	f.writeLocked(f.buf)
	f.buf = f.buf[:0]
	if cap(f.buf) > flushAt*2 {
		f.buf = nil // a burst of long lines: do not keep its buffer
	}
}

// writeLocked writes b to the file, or drops it (a failure is logged once).
func (f *File) writeLocked(b []byte) {
	if len(b) == 0 {
		return
	}
	if f.f == nil {
		return // opening failed, and was logged
	}
	n, err := f.f.Write(b)
	f.size += int64(n)
	if err != nil {
		f.fail("write", err)
		return
	}
	f.recovered()
}

// rotateLocked moves PATH to PATH.1 (and each PATH.i to PATH.i+1) and opens a
// new PATH; with no backups it truncates PATH.
func (f *File) rotateLocked() {
	if f.opts.Backups == 0 {
		if f.f == nil {
			return
		}
		if err := f.f.Truncate(0); err != nil {
			f.fail("truncate", err)
			return
		}
		f.size = 0
		return
	}
	for i := f.opts.Backups - 1; i >= 1; i-- {
		err := os.Rename(f.path+"."+strconv.Itoa(i), f.path+"."+strconv.Itoa(i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			f.fail("rotate", err)
		}
	}
	if err := os.Rename(f.path, f.path+".1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.fail("rotate", err)
		return // keep writing to the file we have
	}
	fd, size, err := open(f.path)
	if err != nil {
		f.fail("rotate", err)
		return // keep writing to the file we have (now PATH.1)
	}
	if f.f != nil {
		f.f.Close()
	}
	f.f, f.size = fd, size
}

func (f *File) fail(op string, err error) {
	if f.failing {
		return
	}
	f.failing = true
	f.log.Error("log file failing; output that cannot be written is dropped, and further failures are not logged until a write succeeds",
		"path", f.path, "op", op, "error", err)
}

func (f *File) recovered() {
	if f.failing {
		f.failing = false
		f.log.Info("log file writable again", "path", f.path)
	}
}
