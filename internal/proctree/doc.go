// Package proctree takes snapshots of the live process table and renders them as
// indented ASCII trees: the PID-tree view of the demos and of a later
// `supervisor tree` command.
//
// # Invariants
//
//   - The tree is built from the parent pid (field 4 of /proc/PID/stat) of every
//     process listed in /proc, read once per process with package procfs (the
//     module's one parser of that file). Nothing here forks, execs or
//     waits: gopsutil v3's Process.Children runs pgrep and waits for it, which would
//     race the supervisor's reaper (DESIGN.md, hard rule 1), so it is never called.
//     Nor are gopsutil's per-process getters used here (the supervisor's own
//     metrics do use them, in package control): each re-reads a /proc file for its
//     field, and the parent pids the tree is built from need a read of every stat
//     file anyway. Measured on the 2-core dev VM for 1,000 processes: gopsutil
//     v3.24.5's Times and MemoryInfo took 61 ms with its boot-time cache on (150 ms
//     without), on top of that read; Take, with one read of stat and one of cmdline
//     per process for every field a Node has, takes 38-50 ms (BenchmarkTree1000),
//     against a 100 ms budget for the whole tree.
//   - A snapshot is not atomic: the kernel offers no consistent view of the whole
//     table. Each Node is consistent with itself (its fields come from one read of
//     its stat file); across nodes, a process that forked, exited or was re-parented
//     during the scan may be missing, or appear under a parent that is no longer in
//     the snapshot. Such a node becomes a root. Processes that vanish mid-read are
//     skipped, never reported as errors.
//   - A Node is identified by (Pid, StartTicks): a pid alone may be reused once its
//     process has been reaped. Callers that act on a pid later must check both, or
//     hold a pidfd.
//   - CPUPercent is the average over the process's lifetime (CPU time divided by
//     wall time since it started, as ps(1) prints it), not a recent rate: a rate
//     would need two samples and a sleep between them.
//   - Snapshots are read-only values; they may be shared between goroutines once
//     taken.
//
// Only threads' group leaders are listed (/proc lists no other thread at its top
// level), so a Node is a process, not a thread.
package proctree
