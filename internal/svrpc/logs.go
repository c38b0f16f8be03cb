package svrpc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// MaxRead bounds the log bytes one request's answer carries (readLog,
// readProcess*Log, tail*Log, all the calls of a system.multicall together):
// supervisord reads "the rest of the file" for a length of 0; we read at most
// this much of it.
const MaxRead = 1 << 20

// readFile is supervisord's readFile: length bytes from offset; a negative
// offset with length 0 reads the last -offset bytes; length 0 reads to the end
// (at most limit bytes in any case). BAD_ARGUMENTS for a negative length, or
// a negative offset with a length; FAILED when the file cannot be read.
func readFile(path string, offset, length, limit int) (string, error) {
	if length < 0 || offset < 0 && length != 0 {
		return "", fault(BadArguments)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fault(Failed)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fault(Failed)
	}
	size := fi.Size()
	var pos, n int64
	switch {
	case offset < 0:
		pos = max(size+int64(offset), 0)
		n = size - pos
	case length == 0:
		pos, n = int64(offset), max(size-int64(offset), 0)
	default:
		pos, n = int64(offset), int64(length)
	}
	n = max(min(n, size-pos, int64(limit)), 0)
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, pos)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fault(Failed)
	}
	return string(buf[:got]), nil
}

// tailFile is supervisord's tailFile: [bytes, the file's size, overflow],
// with at most limit bytes.
func tailFile(path string, offset, length, limit int) []any {
	length = min(length, limit)
	f, err := os.Open(path)
	if err != nil {
		return []any{"", offset, false}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return []any{"", offset, false}
	}
	sz := int(min(fi.Size(), 1<<62))
	overflow := false
	if sz > offset+length {
		overflow = true
		offset = sz - 1
	}
	if offset+length > sz {
		if offset > sz-1 {
			length = 0
		}
		offset = sz - length
	}
	offset, length = max(offset, 0), max(length, 0)
	data := ""
	if length = min(length, max(sz-offset, 0)); length > 0 {
		buf := make([]byte, length)
		n, err := f.ReadAt(buf, int64(offset))
		if err != nil && !errors.Is(err, io.EOF) {
			return []any{"", offset, false}
		}
		data = string(buf[:n])
	}
	return []any{data, capped(int64(sz)), overflow}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (s *Server) readLog(_ context.Context, a args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	off, err := a.int(0)
	if err != nil {
		return nil, err
	}
	n, err := a.int(1)
	if err != nil {
		return nil, err
	}
	if s.o.Logfile == "" {
		return nil, fault(NoFile)
	}
	if !exists(s.o.Logfile) {
		return nil, fault(NoFile, s.o.Logfile)
	}
	data, err := readFile(s.o.Logfile, off, n, a.take())
	a.took(len(data))
	return data, err
}

func (s *Server) clearLog(context.Context, args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	if s.o.Logfile == "" {
		return nil, fault(NoFile)
	}
	if err := truncate(s.o.Logfile); err != nil {
		return nil, fault(Failed)
	}
	return true, nil
}

// truncate empties a log file in place: the writer appends, so its next line
// lands at offset 0. A file that does not exist is fine.
func truncate(path string) error {
	if err := os.Truncate(path, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// logOf is the log file of name's channel ("stdout" or "stderr").
func (s *Server) logOf(name, channel string) (string, error) {
	e, err := s.process(name)
	if err != nil {
		return "", err
	}
	if channel == "stderr" {
		return e.proc.StderrLogfile, nil
	}
	return e.proc.StdoutLogfile, nil
}

// logArgs reads the (name, offset, length) of a process log read or tail,
// and returns the log file of channel it names ("" for none).
func (s *Server) logArgs(a args, channel string) (path string, off, n int, err error) {
	if err := s.update(); err != nil {
		return "", 0, 0, err
	}
	name, err := a.str(0)
	if err != nil {
		return "", 0, 0, err
	}
	if off, err = a.int(1); err != nil {
		return "", 0, 0, err
	}
	if n, err = a.int(2); err != nil {
		return "", 0, 0, err
	}
	path, err = s.logOf(name, channel)
	return path, off, n, err
}

func (s *Server) readProcessLog(a args, channel string) (any, error) {
	path, off, n, err := s.logArgs(a, channel)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, fault(NoFile)
	}
	if !exists(path) {
		return nil, fault(NoFile, path)
	}
	data, err := readFile(path, off, n, a.take())
	a.took(len(data))
	return data, err
}

func (s *Server) tailProcessLog(a args, channel string) (any, error) {
	path, off, n, err := s.logArgs(a, channel)
	if err != nil {
		return nil, err
	}
	if path == "" || !exists(path) {
		return []any{"", 0, false}, nil
	}
	v := tailFile(path, off, n, a.take())
	a.took(len(v[0].(string)))
	return v, nil
}

func (s *Server) readStdout(_ context.Context, a args) (any, error) {
	return s.readProcessLog(a, "stdout")
}
func (s *Server) readStderr(_ context.Context, a args) (any, error) {
	return s.readProcessLog(a, "stderr")
}
func (s *Server) tailStdout(_ context.Context, a args) (any, error) {
	return s.tailProcessLog(a, "stdout")
}
func (s *Server) tailStderr(_ context.Context, a args) (any, error) {
	return s.tailProcessLog(a, "stderr")
}

func (s *Server) clearProcessLogs(_ context.Context, a args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	name, err := a.str(0)
	if err != nil {
		return nil, err
	}
	e, err := s.process(name)
	if err != nil {
		return nil, err
	}
	if err := clearLogs(*e, name); err != nil {
		return nil, err
	}
	return true, nil
}

func clearLogs(e entry, name string) error {
	for _, p := range []string{e.proc.StdoutLogfile, e.proc.StderrLogfile} {
		if p == "" {
			continue
		}
		if err := truncate(p); err != nil {
			return fault(Failed, name)
		}
	}
	return nil
}

func (s *Server) clearAllProcessLogs(context.Context, args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	es := s.running.entries()
	s.mu.Unlock()
	out := []any{}
	for _, e := range es {
		out = append(out, result(e, clearLogs(e, e.namespec())))
	}
	return out, nil
}

// logtail answers GET /logtail/NAME[/stdout|/stderr]: the log file's last
// 1024 bytes, then what is appended to it, until the client goes or Close.
func (s *Server) logtail(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	p := strings.TrimLeft(r.URL.Path, "/")
	p = strings.TrimPrefix(p, "logtail/")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	name, channel, ok := strings.Cut(p, "/")
	if !ok {
		channel = "stdout"
	}
	if channel != "stdout" && channel != "stderr" {
		http.NotFound(w, r)
		return
	}
	path, err := s.logOf(name, channel)
	if err != nil || path == "" || !exists(path) {
		http.NotFound(w, r)
		return
	}
	s.follow(w, r, path)
}

// mainlogtail answers GET /mainlogtail: the same for the supervisor's own log.
func (s *Server) mainlogtail(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	if s.o.Logfile == "" || !exists(s.o.Logfile) {
		http.NotFound(w, r)
		return
	}
	s.follow(w, r, s.o.Logfile)
}

// tailHead is how much of the file a stream begins with, as supervisord's.
const tailHead = 1024

// follow streams path: its last tailHead bytes, then what is appended,
// polling every Options.Poll; a file truncated says so ("==> File truncated
// <==") and goes on from its start; a file replaced (rotated) is reopened.
func (s *Server) follow(w http.ResponseWriter, r *http.Request, path string) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		http.Error(w, "too many log streams open", http.StatusServiceUnavailable)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer func() { f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ino := inode(fi)
	pos := max(fi.Size()-tailHead, 0)
	w.Header().Set("Content-Type", "text/plain;charset=utf-8")
	w.Header().Set("Last-Modified", fi.ModTime().UTC().Format(http.TimeFormat))
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	buf := make([]byte, 64<<10)
	tick := time.NewTicker(s.o.Poll)
	defer tick.Stop()
	for {
		// Rotated: the path names another file now; read the new one from its start.
		if nfi, err := os.Stat(path); err == nil && inode(nfi) != ino {
			if nf, err := os.Open(path); err == nil {
				f.Close()
				f, ino, pos = nf, inode(nfi), 0
			}
		}
		fi, err := f.Stat()
		if err != nil {
			return
		}
		if fi.Size() < pos {
			pos = 0
			if _, err := io.WriteString(w, "==> File truncated <==\n"); err != nil {
				return
			}
		}
		for pos < fi.Size() {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), fi.Size()-pos)], pos)
			if n > 0 {
				if _, err := w.Write(buf[:n]); err != nil {
					return
				}
				pos += int64(n)
			}
			if err != nil {
				break
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		}
	}
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
