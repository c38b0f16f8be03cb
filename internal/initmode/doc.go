// Package initmode is "supervisor init": a container init in the manner of tini.
// It runs one program, reaps every process that ends under it, forwards signals
// to the program and exits with the program's status.
//
// # Who waits
//
// Nothing in this package waits. The program is started with
// supervise.Reaper.Spawn, and the Reaper's reap loop, the only waiter in the
// process, reaps it and every orphan the kernel re-parents to us: as PID 1 of a
// PID namespace every orphan of the namespace, otherwise (the Reaper sets
// PR_SET_CHILD_SUBREAPER) every orphan among our descendants. So init works the
// same as PID 1 and as a plain process ("tini -s").
//
// # The program
//
// It is started in its own process group with our stdin, stdout and stderr (init
// reads and writes neither: its own log, off below warnings by default, goes to
// stderr) and with Pdeathsig SIGKILL, so it dies if init is killed. When stdin is
// our controlling terminal the program's group is made the terminal's foreground
// group (as tini's isolate_child), so Ctrl-C, Ctrl-Z and reads from the terminal
// go to it directly. A program that cannot be found exits 127, one that cannot be
// executed 126, without a process.
//
// # Signals
//
// Init catches the signals below with signal.Notify (never signal.Ignore: a
// SIG_IGN disposition would be inherited by the program) and forwards them to the
// program, or with Options.Group (-g) to its whole process group:
//
//	HUP INT QUIT TERM USR1 USR2 WINCH ALRM CONT PWR   forwarded as they are
//	TSTP TTIN TTOU   forwarded, then init stops itself with SIGSTOP (as dumb-init),
//	                 so the shell that started it sees the job stopped; the SIGCONT
//	                 that resumes init is forwarded too. As PID 1 init does not stop
//	                 itself (the kernel would drop the SIGSTOP anyway).
//	PIPE             caught and dropped, so a closed stderr never kills init
//
// Never forwarded: CHLD (the reaper's business), URG (the Go runtime's preemption
// signal), KILL and STOP (uncatchable) and the synchronous faults (SEGV, BUS, FPE,
// ILL, TRAP, SYS, ABRT), which keep the Go runtime's meaning. A signal that
// arrives after the program was reaped is not forwarded; during the clean-up
// below, TERM, INT, QUIT or HUP skip the rest of the grace period.
//
// # When the program ends
//
// Init exits with the program's status, as a shell reports it: its exit code, or
// 128+signal when a signal killed it. Before that it cleans up, so nothing it
// started outlives it, even as a subreaper (where leftovers would otherwise go to
// the host's init): every process still left below it (as PID 1: every other
// process of the namespace; otherwise its descendants, found through /proc)
// gets SIGTERM; whatever is still alive after Options.Grace (--grace, default 2s)
// gets SIGKILL; init waits until the reaper has reaped them all, then exits. With
// nothing left, which is the common case, it exits at once. (tini exits at once
// and, as PID 1, leaves the rest to the kernel's SIGKILL of the namespace; an
// exit by SIGKILL gives no process a chance to flush anything.) Leftovers are
// signalled through a pidfd opened after they were found and checked to still
// have the same parent, so a recycled pid is never signalled.
package initmode
