package supervise

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// readSmall reads a /proc or cgroupfs file with open, read and close, growing
// buf while reads fill it: three syscalls where os.ReadFile makes six (two
// fstats, and a read that returns EOF). With oneRecord it stops at the first
// read that does not fill the buffer, which is right only for a file the kernel
// produces in one piece (seq_file with a single record: /proc/PID/stat,
// cgroup.events); for a list (cgroup.procs) a read returns at most a page of
// records, so it reads on until EOF. The supervisor reads such files on its
// restart and stop paths.
func readSmall(path string, buf []byte, oneRecord bool) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for {
		if n == len(buf) {
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

// ProcStat is the part of /proc/PID/stat the supervisor reads.
type ProcStat struct {
	Pid   int
	Comm  string
	State byte // R, S, D, Z, T, ...
	PPid  int
	Pgrp  int
	Sid   int
}

// ReadProcStat parses /proc/PID/stat.
func ReadProcStat(pid int) (ProcStat, error) {
	var buf [512]byte
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", buf[:], true)
	if err != nil {
		return ProcStat{}, err
	}
	return parseStat(b)
}

var errBadStat = errors.New("supervise: malformed /proc stat line")

func parseStat(b []byte) (ProcStat, error) {
	// "pid (comm) S ppid pgrp session ...": comm may hold spaces and ')'.
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open || closing+2 >= len(b) {
		return ProcStat{}, errBadStat
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return ProcStat{}, errBadStat
	}
	f := bytes.Fields(b[closing+2:])
	if len(f) < 4 || len(f[0]) != 1 {
		return ProcStat{}, errBadStat
	}
	st := ProcStat{Pid: pid, Comm: string(b[open+1 : closing]), State: f[0][0]}
	if st.PPid, err = strconv.Atoi(string(f[1])); err != nil {
		return ProcStat{}, errBadStat
	}
	if st.Pgrp, err = strconv.Atoi(string(f[2])); err != nil {
		return ProcStat{}, errBadStat
	}
	if st.Sid, err = strconv.Atoi(string(f[3])); err != nil {
		return ProcStat{}, errBadStat
	}
	return st, nil
}

// AllProcs reads the stat line of every process in /proc. Processes that vanish
// while it reads are skipped.
func AllProcs() ([]ProcStat, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := make([]ProcStat, 0, len(names))
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if st, err := ReadProcStat(pid); err == nil {
			out = append(out, st)
		}
	}
	return out, nil
}

// signalIfStill sends sig to pid through a pidfd if, once the pidfd pins the
// process, its /proc entry still passes still: a pid reused by a stranger since
// it was listed is never signalled. It reports whether the signal was sent.
func signalIfStill(pid int, sig syscall.Signal, still func(ProcStat) bool) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false // gone already
	}
	defer unix.Close(fd)
	st, err := ReadProcStat(pid)
	return err == nil && still(st) && unix.PidfdSendSignal(fd, sig, nil, 0) == nil
}
