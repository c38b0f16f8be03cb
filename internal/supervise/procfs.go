package supervise

import (
	"bytes"
	"errors"
	"os"
	"strconv"
)

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
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
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
