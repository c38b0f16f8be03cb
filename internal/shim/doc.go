// Package shim is the exec shim: the supervisor binary re-executed under
// argv[0] Arg0 to set up what Go's SysProcAttr cannot (the umask, resource
// limits, the nice value, oom_score_adj) in the process that then becomes the
// program, so that they are in effect from the program's first instruction.
//
// # How it runs
//
// The supervisor spawns /proc/self/exe with the argv that Command builds:
// Arg0, the settings, "--", the program's resolved path and its argv. This
// package's init function (not main: it runs while the runtime still holds
// the main goroutine on the main thread, and before most of the binary's
// other packages initialise) sees Arg0, applies the settings in this order
// and then execve(2)s the program:
//
//  1. oom_score_adj (written to /proc/self/oom_score_adj), the nice value
//     (setpriority on this thread, the one that execs), the resource limits
//     (setrlimit) and the umask, while the process still has the
//     supervisor's privileges: lowering oom_score_adj, a negative nice and
//     raising a hard limit need them;
//  2. the user and groups, if asked: setgroups, setgid, setuid (Go applies
//     each to every thread);
//  3. PR_SET_PDEATHSIG SIGKILL again, on the thread that execs: the kernel
//     clears it on any change of effective uid or gid, and only the thread
//     Go forked had it. If the parent changed meanwhile (the supervisor died
//     between the shim's start and the prctl), the shim exits with 1 rather
//     than exec an orphan.
//
// The exec keeps the pid, the process group, the cgroup, every fd without
// close-on-exec (0, 1, 2 and the ExtraFiles) and the environment: to the
// supervisor and its reaper the shim and the program are one process. A
// failure at any step is written to stderr (the program's stderr, which the
// supervisor logs) as "supervisor-exec-shim: ..." and ends the process with
// status 127 for a program that cannot be found, 126 for one that cannot be
// executed, 1 for anything else; so it reads like the program's own failure.
//
// # Invariants
//
// The shim never returns to the binary's main, never forks, and writes
// nothing but its one error line. A binary links it by importing this package
// (internal/supervise does), which is all the dispatch there is: init does
// nothing at all unless argv[0]'s base name is Arg0. Programs that set none of
// the keys the shim serves are spawned directly and never pay for it.
package shim
