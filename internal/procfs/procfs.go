package procfs

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrMalformed is returned (wrapped) for a /proc/PID/stat line that cannot be
// parsed.
var ErrMalformed = errors.New("procfs: malformed /proc stat line")

// Stat is the part of /proc/PID/stat this module reads. Field numbers are
// proc(5)'s.
type Stat struct {
	Pid   int    // field 1
	Comm  string // field 2, without its parentheses: at most 15 bytes, may hold spaces and ')'
	State byte   // field 3: R, S, D, Z, T, t, X, I, ...
	PPid  int    // field 4
	Pgrp  int    // field 5
	Sid   int    // field 6
	// UTime and STime (fields 14 and 15) are the CPU time spent in user and
	// kernel mode, in clock ticks (USER_HZ, 100 on Linux).
	UTime, STime uint64
	Threads      int    // field 20
	StartTicks   uint64 // field 22: start time in clock ticks since boot; with Pid, the process's identity
	RSSPages     int64  // field 24: resident set size, in pages
}

// statFields is how many fields after comm parseStat needs: fields 3 to 24.
const statFields = 22

// parseStat parses a /proc/PID/stat line: "pid (comm) S ppid pgrp session ...".
// comm ends at the last ')' of b. It does not keep b.
func parseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open || closing+2 >= len(b) || b[closing+1] != ' ' {
		return Stat{}, ErrMalformed
	}
	pid, ok := atoi(trimSpace(b[:open]))
	if !ok {
		return Stat{}, ErrMalformed
	}
	// Fields 3 to 24, after comm, split on spaces (the kernel writes one
	// between fields, and a newline at the end): f[i] is field i+3.
	var f [statFields][]byte
	n := 0
	rest := b[closing+2:]
	for n < statFields && len(rest) > 0 {
		j := 0
		for j < len(rest) && rest[j] != ' ' && rest[j] != '\n' {
			j++
		}
		if j > 0 {
			f[n] = rest[:j]
			n++
		}
		if j == len(rest) {
			break
		}
		rest = rest[j+1:]
	}
	if n < statFields || len(f[0]) != 1 {
		return Stat{}, ErrMalformed
	}
	var p numbers
	st := Stat{
		Pid:        pid,
		Comm:       string(b[open+1 : closing]),
		State:      f[0][0],
		PPid:       p.int(f[1]),
		Pgrp:       p.int(f[2]),
		Sid:        p.int(f[3]),
		UTime:      p.uint(f[11]),
		STime:      p.uint(f[12]),
		Threads:    p.int(f[17]),
		StartTicks: p.uint(f[19]),
		RSSPages:   int64(p.int(f[21])),
	}
	if p.bad {
		return Stat{}, ErrMalformed
	}
	return st, nil
}

// numbers parses decimal fields, remembering whether any was not a number.
type numbers struct{ bad bool }

func (p *numbers) int(b []byte) int {
	n, ok := atoi(b)
	p.bad = p.bad || !ok
	return n
}

func (p *numbers) uint(b []byte) uint64 {
	n, ok := atou(b)
	p.bad = p.bad || !ok
	return n
}

// atoi parses a decimal int with an optional '-' (pgrp, sid and tty fields
// may be negative) without converting b to a string.
func atoi(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := atou(b)
	if !ok || u > 1<<62 {
		return 0, false
	}
	if neg {
		return -int(u), true
	}
	return int(u), true
}

// atou parses a decimal uint64 without converting b to a string.
func atou(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false // overflow
		}
		n = n*10 + d
	}
	return n, true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// ReadStat reads and parses /proc/PID/stat. For a process that does not exist
// the error matches fs.ErrNotExist (ENOENT); for one that ended between the
// open and the read, unix.ESRCH.
func ReadStat(pid int) (Stat, error) {
	var buf [512]byte // a stat line is about 300 bytes; ReadSmall grows it if need be
	return ReadStatBuf(pid, buf[:])
}

// ReadStatBuf is ReadStat reading into buf (grown if too small), for a caller
// that reads many processes with one buffer.
func ReadStatBuf(pid int, buf []byte) (Stat, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	b, err := ReadSmall(path, buf, true)
	if err != nil {
		return Stat{}, err
	}
	st, err := parseStat(b)
	if err != nil {
		return Stat{}, &os.PathError{Op: "parse", Path: path, Err: err}
	}
	return st, nil
}

// Pids lists the processes in /proc, in directory order.
func Pids() ([]int, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// All reads the stat line of every process in /proc, in directory order.
// Processes that vanish while it reads, or whose line cannot be read, are
// skipped.
func All() ([]Stat, error) {
	pids, err := Pids()
	if err != nil {
		return nil, err
	}
	out := make([]Stat, 0, len(pids))
	var buf [512]byte
	for _, pid := range pids {
		if st, err := ReadStatBuf(pid, buf[:]); err == nil {
			out = append(out, st)
		}
	}
	return out, nil
}

// ReadSmall reads a /proc or cgroupfs file with open, read and close, growing
// buf while reads fill it: three syscalls where os.ReadFile makes six (two
// fstats, and a read that returns EOF). With oneRecord it stops at the first
// read that does not fill the buffer, which is right only for a file the kernel
// produces in one piece (seq_file with a single record: /proc/PID/stat,
// cgroup.events); for a list (cgroup.procs) a read returns at most a page of
// records, so it reads on until EOF. The result may share buf's memory.
// Errors are *os.PathError.
func ReadSmall(path string, buf []byte, oneRecord bool) ([]byte, error) {
	return read(path, buf, oneRecord, true)
}

// ReadUpTo reads at most len(buf) bytes of a /proc file, to EOF or until buf
// is full, whichever comes first: for a file whose head is enough and whose size
// is unbounded (/proc/PID/cmdline). The result shares buf's memory. Errors are
// *os.PathError.
func ReadUpTo(path string, buf []byte) ([]byte, error) {
	return read(path, buf, false, false)
}

func read(path string, buf []byte, oneRecord, grow bool) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for {
		if n == len(buf) {
			if !grow {
				return buf, nil
			}
			buf = append(buf, make([]byte, max(len(buf), 512))...)
		}
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		n += m
		if m == 0 || (oneRecord && n < len(buf)) {
			return buf[:n], nil
		}
	}
}

// SignalIfStill sends sig to pid through a pidfd if, once the pidfd pins the
// process, its stat line (read after the pidfd was opened) passes still: a pid
// that was reused by a stranger since the caller listed it is never signalled.
// It reports whether the signal was sent; false also when the process is gone.
func SignalIfStill(pid int, sig syscall.Signal, still func(Stat) bool) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false // gone already
	}
	defer unix.Close(fd)
	st, err := ReadStat(pid)
	return err == nil && still(st) && unix.PidfdSendSignal(fd, sig, nil, 0) == nil
}
