package supervise

import (
	"syscall"

	"github.com/supervisor/supervisor/internal/procfs"
)

// The supervisor reads /proc and cgroupfs through package procfs; the names
// below keep its vocabulary inside this package.

// readSmall is procfs.ReadSmall: open, read, close (three syscalls) for the
// /proc and cgroupfs files the restart and stop paths read.
func readSmall(path string, buf []byte, oneRecord bool) ([]byte, error) {
	return procfs.ReadSmall(path, buf, oneRecord)
}

// ProcStat is the part of /proc/PID/stat the supervisor reads.
type ProcStat = procfs.Stat

// ReadProcStat parses /proc/PID/stat (procfs.ReadStat).
func ReadProcStat(pid int) (ProcStat, error) { return procfs.ReadStat(pid) }

// AllProcs reads the stat line of every process in /proc. Processes that vanish
// while it reads are skipped (procfs.All).
func AllProcs() ([]ProcStat, error) { return procfs.All() }

// signalIfStill is procfs.SignalIfStill: it sends sig to pid through a pidfd
// if, once the pidfd pins the process, its /proc entry still passes still, and
// reports whether the signal was sent.
func signalIfStill(pid int, sig syscall.Signal, still func(ProcStat) bool) bool {
	return procfs.SignalIfStill(pid, sig, still)
}
