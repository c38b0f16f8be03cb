// Package procfs reads the process table from /proc: one process's
// /proc/PID/stat line (ReadStat, ReadStatBuf), every process's (All), the pids
// listed (Pids), and small /proc or cgroupfs files in general (ReadSmall,
// ReadUpTo); and it signals a listed process only if it is still the one listed
// (SignalIfStill). It is the one parser of /proc/PID/stat in this module: the
// supervisor (stop, restart and escape checks), the PID-tree view, the init mode
// and the test workers all read through it.
//
// # Contracts
//
//   - Nothing here forks, execs or waits, so nothing can race the supervisor's
//     reaper (DESIGN.md, hard rule 1). The one function that acts on a process,
//     SignalIfStill, signals through a pidfd and only after re-reading the stat
//     line of the process the pidfd pins (hard rule 2: a listed pid may have been
//     reused since). It keeps no state; every function is safe for concurrent
//     use.
//   - A stat file is read with open, one read and close (three system calls;
//     os.ReadFile makes six): the kernel produces it in one piece, so a read that
//     does not fill the buffer has all of it. The supervisor reads it on its
//     restart and stop paths.
//   - comm, the second field, is the kernel's name for the process and may hold
//     spaces and parentheses (a process may name itself "a) (b"): it runs from the
//     first '(' to the LAST ')' of the line, and every later field is counted from
//     that last ')'.
//   - A line with fewer fields than Stat needs, or a field that is not a number,
//     is ErrMalformed. A process that does not exist is an error matching
//     fs.ErrNotExist (ENOENT); one that ended between the open and the read,
//     unix.ESRCH. Errors from files are *os.PathError.
//   - The process table is not a consistent snapshot: the kernel offers none. All
//     and Pids skip processes that vanish while they read, and never report them
//     as errors; a process forked during the scan may be missing.
//   - Only thread-group leaders are listed (/proc lists no other thread at its top
//     level): a Stat is a process, not a thread.
//   - The pids are those of the PID namespace of the /proc mounted: a process in
//     another namespace than the mount's sees pids that are not its own.
package procfs
