// Package initmode is "supervisor init": a container init in the manner of tini
// and dumb-init. It runs one program, reaps every process that ends under it,
// forwards signals to the program and exits with the program's status. Under
// the names tini, docker-init and dumb-init (Flavor) it follows those tools'
// rules where theirs and ours differ.
//
// # Who waits
//
// Nothing in this package waits. The program is started with
// supervise.Reaper.Spawn, and the Reaper's reap loop, the only waiter in the
// process, reaps it and every orphan the kernel re-parents to us: as PID 1 of a
// PID namespace every orphan of the namespace, otherwise (the Reaper sets
// PR_SET_CHILD_SUBREAPER unless told not to, as tini without -s) every orphan
// among our descendants. Whether the program is stopped is read from /proc
// (supervise.Proc.Stopped).
//
// # The program
//
// It is started with our stdin, stdout and stderr (init reads and writes
// neither: its own log, off below warnings by default, goes to stderr) and with
// Pdeathsig SIGKILL, so it dies if init is killed. A program that cannot be
// found exits 127, one that cannot be executed 126 (Options.ExecFailure: 2 for
// dumb-init), without a process. By default it leads a new process group, and
// when stdin is our controlling terminal and our group its foreground group,
// the program's group is made the foreground group (as tini's isolate_child),
// so Ctrl-C, Ctrl-Z and reads from the terminal go to it directly. With
// Options.Session it leads a new session instead and takes the terminal as its
// controlling terminal when init could give it up (init was the session
// leader; TIOCNOTTY), as dumb-init does; init's group keeps the foreground.
// With Options.SameGroup (dumb-init -c) it stays in init's group.
//
// Signals init's parent left ignored stay ignored in the program (nohup): init
// reads its SigIgn from /proc at start and ignores those signals just around
// the fork (SIG_IGN survives exec), then catches them again; one sent in that
// window is dropped, as the parent asked. Measured limit (Go 1.26): the runtime
// has replaced an inherited SIG_IGN with its own handler before main runs for
// every signal but HUP, INT, CONT, TSTP, TTIN, TTOU, 32 and 34, so an ignored
// QUIT, TERM, USR1 or PIPE is lost. Blocked signals pass through the fork's
// copy of the thread mask, except the ones every Go thread must unblock (HUP,
// INT, QUIT, TERM, ABRT, the faults, CHLD, URG, PROF, 32 to 34).
//
// Once the program runs, init changes its working directory to / (the
// program keeps its own), so it does not hold the directory it started in busy.
//
// # Signals
//
// Init asks os/signal for every signal it can catch, so none sent to it, from
// inside its PID namespace or outside, keeps the Go runtime's default (a crash
// with a traceback for ABRT, ILL, TRAP, BUS, FPE, SEGV, STKFLT and SYS sent by
// kill(2); exit 2 for HUP, INT, TERM). What it does with each:
//
//	CHLD                      not forwarded (the reaper's business)
//	PIPE                      not forwarded by us (most likely our own stderr
//	                          closing); tini and dumb-init forward it
//	TSTP TTIN TTOU            forwarded (as SIGSTOP with Session), then init stops
//	                          itself with SIGSTOP unless PID 1 (dumb-init's rule);
//	                          tini forwards TSTP without stopping, and neither
//	                          TTIN nor TTOU
//	FPE ILL SEGV BUS ABRT     forwarded; not by tini, which never receives them
//	TRAP SYS
//	35 to 64 (RTMIN+1 to      forwarded; SIGRTMIN+3 is what systemd and many
//	RTMAX)                    container runtimes send to stop an init
//	every other 1 to 31       forwarded
//	KILL STOP                 uncatchable
//	URG                       not caught: the Go runtime's preemption signal,
//	                          indistinguishable from a sender's
//	PROF                      not caught: the runtime keeps it for its profiler
//	32 33 34                  not caught: reserved by the runtime (glibc's and
//	                          musl's internal signals); 32 and 34 are ignored
//	                          once the program runs, so they cannot kill init
//
// Forwarding goes to the program, or with Options.Group (-g, and dumb-init's
// setsid mode) to its whole process group, after Options.Rewrite (a signal
// rewritten to 0 is dropped). A signal that arrives after the program was
// reaped is not forwarded; during the clean-up below, TERM, INT, QUIT or HUP
// skip the rest of the grace period. Real-time signals are caught through
// os/signal, which does not queue: several of one number sent at once may be
// forwarded once.
//
// Job control. When the program holds the terminal, Ctrl-Z stops its group and
// never reaches init; init sees the program stopped (SIGCHLD, then /proc) and
// stops its own process group with SIGSTOP, so the shell that started it sees
// the job stopped (as PID 1 init itself cannot stop, but the rest of its group,
// such as unshare, does). The shell's fg sends SIGCONT to init's group: init
// gives the terminal back to the program's group if the shell gave it to ours,
// and forwards SIGCONT to the program's whole group. After bg the program,
// reading from the terminal in the background, is stopped by SIGTTIN, and the
// same happens again.
//
// # When the program ends
//
// Init exits with the program's status, as a shell reports it: its exit code, or
// 128+signal when a signal killed it; a status in Options.SuccessCodes becomes 0.
// With KillLeftovers (ours) it cleans up first, so nothing it started outlives
// it, even as a subreaper (where leftovers would otherwise go to the host's
// init): every process still left below it (as PID 1: every other process of
// the namespace; otherwise its descendants, found through /proc) gets SIGTERM;
// whatever is still alive after Options.Grace (--grace, default 2s) gets
// SIGKILL; init waits until the reaper has reaped them all, then exits. With
// nothing left, which is the common case, it exits at once. LeaveLeftovers is
// tini's rule: exit at once and, as PID 1, leave the rest to the kernel's
// SIGKILL of the namespace. TermGroup is dumb-init's: SIGTERM to what is left
// of the program's group, then exit at once. Leftovers are signalled through a
// pidfd opened after they were found and checked to still have the same parent
// (or group), so a recycled pid is never signalled.
package initmode
