// Package supervise is the lifecycle of supervised programs: spawn, reap, restart,
// stop, and the process trees they leave.
//
// # Who waits
//
// Exactly one goroutine in the process waits: the Reaper's reap loop. It sleeps in a
// blocking waitid(P_ALL, WEXITED|WNOWAIT), which wakes it as soon as any child has
// ended without reaping it, then loops wait4(-1, WNOHANG) until the kernel reports
// nothing more, handing each exit, with its rusage, to the Proc registered for that
// pid or, for a pid nobody registered, logging it as a reaped adopted orphan. This
// departs from DESIGN.md's "run on SIGCHLD": waking straight from the kernel saves
// the signal goroutine's two hand-offs on every restart (measured: kill-to-reaped
// median 300µs via SIGCHLD under load, against 100µs for a direct wait) and costs
// one sleeping thread, not one per child. SIGCHLD is listened to only while the
// process has no child at all (waitid says ECHILD), so that an orphan re-parented
// to a PID 1 without any Spawn is still reaped. Spawn holds the same
// mutex across fork and registration, so a child that exits at once is never reaped
// unregistered. Nothing else may call exec.Cmd.Wait, exec.Cmd.Run or
// os.Process.Wait, and no wait passes __WALL or __WCLONE (that would steal Go's pidfd
// probe). Libraries that fork and wait (gopsutil v3 Process.Children runs pgrep) are
// not called. One Reaper exists per process (NewReaper enforces it); several
// Supervisors may share it.
//
// The Reaper sets PR_SET_CHILD_SUBREAPER unless the process is PID 1 (or
// ReaperOptions.NoSubreaper asks it not to, for an init that must behave as tini
// without -s), so orphans of our children are re-parented to us and reaped.
// Whether a child is stopped (Proc.Stopped, for an init following a Ctrl-Z) is
// read from /proc under the reaper's mutex, never asked of wait: stop reports
// stay unconsumed, and no wait but the reaper's exists.
//
// # Adopted orphans
//
// Adoption itself sends no signal, so the Reaper looks for adopted orphans: its
// children (read from /proc/self/task/*/children, which lists them per thread)
// that no Spawn registered. It looks after every reap pass that reaped anything
// (the process that ended may have left children, which the kernel re-parented to
// us before it became a zombie) and whenever Reaper.Adopted is called; never on a
// timer, so an idle supervisor still makes no wake-up. The scan runs on its own
// goroutine, off the reap loop, and requests coalesce. It lists children without
// the lock and decides under the reaper's mutex, which Spawn holds across fork
// and registration and the reap loop across each wait4, so a child being spawned
// is never taken for an orphan and a pid reaped meanwhile is skipped. Each orphan
// is recorded once (pid, comm, start time in ticks: the pair that identifies it),
// logged once as "adopted orphan", and a pidfd is opened on it, through which
// SignalAdopted signals it. It stays ours, and its pid cannot be reused, until
// the reap loop reaps it; then its record and pidfd are dropped in the same
// critical section as the wait4 and "reaped adopted orphan" is logged. An orphan
// that is adopted and exits between two scans is only logged as reaped. The
// children file may miss a child while the list changes under the read; the next
// scan finds it.
//
// Reaper.Follow turns an adopted child into a registered one, as if Spawn had
// started it: a forking daemon's main process (type = forking), re-parented to
// us when the process that forked it exited. It checks, under the reaper's
// mutex, that the pid is a live child of ours, so it cannot have been reaped.
//
// # Who spawns
//
// Reaper.Spawn forks on the caller's goroutine (the Supervisor's state goroutine
// for programs), under the reaper's mutex. Children get Pdeathsig SIGKILL: if the
// supervisor dies, its direct children die too. The kernel ties Pdeathsig to the
// forking thread; Go ends a thread only when a goroutine exits while locked to it,
// and nothing else in this program locks a thread (the light spawner, below, is
// the one locked thread, and lives until the Reaper is closed), so every forking
// thread lives as long as the process. Checked: the other LockOSThreads in the
// module are internal/worker's dieBySignal and internal/shim's init, which run
// in a worker or shim process about to die or exec, never in the supervisor, and
// internal/initmode's giveTerminal, which unlocks before it returns; the standard library (os/exec, syscall
// ForkExec, os/signal) locks no thread on Linux; this package's blocking
// syscalls (waitid, poll on cgroup.events) park their thread without ending it.
// Any change that locks a thread must unlock it before the goroutine returns,
// or the children forked on that thread are SIGKILLed (TestSIGKILLedSupervisorTakesItsChildren in
// cmd/supervisor checks the other half: when the supervisor dies, they die). (DESIGN.md asks for one spawner goroutine locked to its thread;
// measured, each hand-off to a locked thread doubled the restart latency, so the
// invariant "never exit a goroutine while locked" is kept instead.) Three spawners:
// os/exec (exec.Cmd.Start, never Wait), syscall.ForkExec (with a pidfd from
// SysProcAttr.PidFD), and re-exec of /proc/self/exe with argv[0]
// "supervisor-worker" running a built-in worker.
//
// The main-thread rule, for in-place upgrades (upgrade.go, docs/upgrade.md):
// execve ends every thread but the caller, and with each ended thread the
// children it forked get their Pdeathsig (E12). A caller that wants Upgrade
// runs Serve on its main goroutine locked to the main thread from an init
// function (cmd/supervisor does) and sets Options.MainThread: every spawn of
// the state goroutine then forks on the main thread, and Upgrade execs from
// the state goroutine, so on that very thread; after the exec the new image's
// main thread is the same one, so the rule holds for the next upgrade. The
// Reaper records each Proc's forking thread (forkTid) and Freeze refuses while
// a child forked elsewhere lives (the light spawner's, a probe's); such a
// caller also raises ReaperOptions.LightMinFds. Serve never locks a thread
// itself. Upgrade's freeze holds the reaper's mutex until the exec (or, if it
// fails, Thaw): nothing is reaped or spawned meanwhile, a child that ends stays
// a zombie for the new image's reaper (ReaperOptions.Resume registers the
// handed-over pids before the reap loop starts; Claim hands each to its
// program, with an exit reaped before the claim). The output mux pauses
// without draining: unread bytes stay in the pipes, whose read ends (and
// nothing else of this package's) are inherited, and each half line goes into
// the state. A protocol run's reader stops at a frame boundary (a read deadline,
// readerHandover) and hands its fd 3 read end over with what it read and did
// not deliver; its writer flushes the outbox and ends; both fds go across the
// exec and the new image's Conn resumes the stream after the handshake
// (ipc.NewResumedConn). Who owns what across the exec is in internal/upgrade's
// doc.
//
// The one locked thread: once the process holds lightSpawnMinFds fds (a fork
// copies the whole fd table, so each spawn cost grew with the programs running),
// Spawn hands the fork to the light spawner (spawnlight.go), a goroutine locked
// to a thread that unshared its fd table and emptied it but for the runtime's
// eventpoll and eventfd fds. The state goroutine still holds the reaper's mutex
// across the hand-off and the registration. Each spawn copies the fds the child
// needs into the thread's table (pidfd_getfd), forks (os/exec is not used: the
// child's fds are given by number, ForkExec style), and closes the copies; the
// pidfd is opened afterwards in the process's table. The thread owns only those
// copies and a pidfd of this process. Its goroutine returns (and the thread
// ends, its children getting their Pdeathsig) only when the Reaper is closed.
//
// # Identity and limits
//
// A program with Spec.User runs as that user: with no Limits, through Go's
// SysProcAttr.Credential (setgroups, setgid, setuid in the child, then the
// Pdeathsig prctl: Go sets Pdeathsig after the credential change, so the
// kernel's clearing of it on a uid change does not undo it), and the exec of
// an ordinary binary keeps it (the kernel clears it only on exec of a set-uid,
// set-gid or file-capability binary: a program that is one does not die with
// a SIGKILLed supervisor). A program with Limits (umask, rlimits, nice,
// oom_score_adj) is spawned through the exec shim (package shim): any of the
// three spawners' command, resolved as usual, forked from the calling thread
// or by the light spawner alike (TestSpawnIdentity checks both), is run as
// /proc/self/exe with argv[0] "supervisor-exec-shim", which applies the
// limits while it still has our privileges, then the user, sets
// PR_SET_PDEATHSIG SIGKILL again on the thread that execs, checks that its
// parent is still us, and execs the program: same pid, fds, group and cgroup,
// so the Proc, its pidfd and the reaper's registration are the program's; its
// Started time is the shim's. A program with neither is spawned as before,
// and pays nothing. New and Reload refuse (CheckUser) a group with a user this
// process cannot switch to: not the one we are, without CAP_SETUID and
// CAP_SETGID. A user's program gets HOME, USER and LOGNAME from the user
// database unless its Env sets them. When this process raised its own fd limit
// (fdlimit.go), Spawn gives each child the original back with prlimit right
// after the spawn; for a shimmed spawn that would race the shim, so the shim
// applies it instead, unless Limits sets rlimit_nofile. TestSIGKILLedSupervisorTakesOtherUsersChildren
// (cmd/supervisor) checks both paths for all three spawners; without the
// shim's prctl its children outlive a SIGKILLed supervisor (checked).
//
// # Goroutine workers
//
// A program of kind goroutine (Spec.Spawner SpawnGoroutine) is a built-in
// worker.Func run inside this process; nothing is spawned or reaped for it and it
// has no pid (Status.Pid 0, Exit.Pid 0). The state goroutine starts each run
// (startGoroutine) as a goRun, a run like a process's; exactly one goroutine per
// run calls the function, recovers a panic, and pushes the run's exit into the
// inbox, as the reaper does for a process. Its Host (Ready, Status, Heartbeat)
// pushes the same link messages as readChild does for a pipe, so readiness,
// heartbeat and start timeouts, restarts, strategies and Request (handled by a
// goroutine per request, as ipc.Child does) are the same code. Exits: a return is
// status 0, a returned error status 1 (Exit.Err, logged), a panic in the function
// or in a request handler status 2 (Exit.Panic; value and stack logged), a crash.
// Stopping, or ending a run (timeouts, a handler's panic), cancels the function's
// context; a goroutine cannot be killed, so one that has not returned when
// stop_grace ends is abandoned: it is leaked. A leak is logged with the
// program's name, counted until the goroutine returns (Supervisor.Leaked,
// Status.Leaked), ends the run with Exit.Leaked (shell status 137, as if
// SIGKILLed), and the program counts as stopped, so the supervisor goes on and
// Serve can return although the goroutine still runs. Its later exit, if any, is
// stale (logged, otherwise ignored). What a goroutine cannot survive (a fatal
// runtime error, os.Exit, unbounded memory) ends the supervisor: that is the
// price of no isolation.
//
// # Signals
//
// A process is signalled through its pidfd (Proc.Signal), so a pid reaped a moment
// ago is never signalled. Each child is the leader of its own process group; the
// group is signalled with kill(-pgid) only while the leader is not yet reaped, under
// the reaper's mutex, so the group id cannot have been reused. When a leader ends,
// the reaper sees it first without reaping it (waitid WNOWAIT) and SIGKILLs its
// group while the zombie still holds the group id: outside a stop, a program's
// group lives and dies with its leader. (A run in a cgroup is spawned without
// that group kill: its exit kills the cgroup instead, once it has looked at what
// a daemonizing program left there, which the group kill could have taken
// before the daemon left the group.) Stop = the program's stop signal to the
// group, its grace period, then SIGKILL to the group; the program counts as
// stopped only once its group is gone. The grace period is the whole tree's: a
// stop spares the group (Proc.spareGroup), and if the leader ends first, what is
// left of its group gets the rest of the grace period (and the stop signal, if
// only the pipe's Stop went out), then SIGKILL, each sent through a pidfd to every
// process still in the group (kill(-pgid) is no longer safe once the leader is
// reaped). Supervisor.SignalAll sends a signal to the group of every
// program that is starting or running (cmd/supervisor forwards SIGUSR1 and
// SIGUSR2 that way; SIGINT, SIGTERM, SIGHUP and SIGQUIT stop everything).
// Descendants that left the group (setsid) are out of reach here: that is what
// cgroups are for (next section).
//
// # Cgroups and kill modes
//
// Group.KillMode picks how trees are stopped; Serve decides once, at start, and
// logs the mode and, for a fallback, why. KillCgroup (auto's choice where the
// host allows it: a cgroup2 mount, our own cgroup visible in it, permission to
// create a child cgroup with cgroup.kill, Linux 5.14+): Serve creates
// <our cgroup>/supervisor-<pidns>-<pid>-<n> (pidns: the inode of our PID
// namespace), holding no process and enabling no
// controller, and each run of a program gets its own child cgroup
// prog-<name>-<run>, entered at clone time (CLONE_INTO_CGROUP) by all three
// spawners, so no descendant is ever outside it. (The run number in the name is
// that of the first run in it.) Stop = the stop signal to the
// process group and, through pidfds checked for membership, to every other
// process of the cgroup; the grace period; cgroup.kill; the program counts as
// stopped once cgroup.events says populated 0 (polled with backoff under a 2s
// deadline). When a run's leader ends, its cgroup is killed if anything is left
// in it, as its group is (in a stop: once the grace period is over). The next run reuses the cgroup if it emptied without
// a cgroup.kill: the first clone into a fresh cgroup costs about 1 ms (the
// kernel builds a css_set; measured 1.2 ms against 0.3 ms on the dev VM), most
// of a restart. A cgroup that went through cgroup.kill is never reused:
// measured on Linux 6.18, a process cloned into one is SIGKILLed at birth; that
// run gets a fresh one (made on the restart path: a cgroup made ahead would
// save its mkdir, 70 us, but not the first clone's 1 ms, and would double the
// cgroups of every supervisor for a case that is rare: a tree outliving its
// leader).
//
// Ownership: the state goroutine owns every cgroup (program.cg, the current or
// last run; program.oldCgs, earlier runs not yet empty) and holds no fd for any
// between events: a run's cgroup directory is opened for its clone and closed
// once Spawn returned; the rest goes by path. A run's cgroup is removed (rmdir) once it
// is empty and the program starts again or ends for good; when Serve returns,
// every cgroup left is killed, awaited (poll on cgroup.events, 2s each) and
// removed, then the parent. A SIGKILLed supervisor leaves its cgroups behind;
// the next supervisor of the same PID namespace to create its own under the
// same parent removes those whose supervisor pid is gone and that are empty, and
// leaves populated ones (their processes are for an operator to end). Another
// namespace's are never touched: a supervisor run as PID 1 under unshare shares
// the cgroup tree but cannot see our pids (it once took a live supervisor's
// empty cgroups for stale ones and removed them between two runs). KillGroup:
// process groups only, as above.
//
// After each stop sequence (a shutdown, a group restart) one /proc scan reports
// every live process not accounted for (escape.go): descendants recorded before
// the first signal that survived, under their program's name, and processes
// adopted by us that no Spawn registered. Reported, never killed (the one
// exception: what a program that daemonized itself left behind, forking.go). In
// cgroup mode this finds nothing of the stopped programs'.
//
// # File descriptors
//
// NewReaper marks every inherited fd above 2 close-on-exec. A child gets exactly
// fd 0 (/dev/null), 1 and 2 (the write ends of two pipes per run, closed in the
// parent right after the spawn; with Spec.RedirectStderr fd 2 is the stdout
// pipe too, and the stderr pipe's read end sees EOF at once) and, when asked,
// ExtraFiles from fd 3 on. The
// parent keeps the read ends (non-blocking) and hands them to the Supervisor's
// output mux (outmux.go): one goroutine in epoll_wait drains every pipe to EOF,
// independently of the exit (a grandchild may hold it open), splits it into
// lines of at most MaxLineLen bytes and hands them on (next section); the mux
// owns each read end from then on and closes it at EOF. When Serve
// returns, the mux reads what the pipes still hold (up to 1 MiB each, without
// waiting for a writer that outlived its program) and closes them all.
//
// Fd 0 is the Reaper's one read-only /dev/null. In a root file system that has
// none (a hand-built image), NewReaper opens instead a pipe and closes its write
// end at once, and logs a warning: every child reads EOF at once from it, as
// from /dev/null (openDevNull); nothing else in this package opens /dev/null.
//
// Log files (Spec.StdoutLog, StderrLog): each is an internal/logfile.File,
// which owns its fd, shared by every stream that names its path (stdout and
// stderr of one program, of several, of an old run still draining and the
// new one) and counted in the Supervisor's logFiles (logs.go): opened on the
// state goroutine when a run's stream starts, closed by whoever ends the last
// stream holding it (the mux goroutine at EOF; a goroutine worker's run when
// its function returns). No other fd is opened for it.
//
// # Output
//
// Every line of a program's stdout and stderr, on the goroutine that read it
// (the mux's, or the goroutine worker's that wrote it), and with no goroutine
// or queue per line: gets its level (ClassifyLevel over the stream's:
// Info, or Spec.StderrLevel for stderr); is buffered into its log file, which
// is written once per read (one write(2) for up to 16 KiB of lines) and rotated
// between two lines; goes to Options.OnOutput (ctl logs's ring); and goes to
// Options.Console if set (cmd/supervisor's "name | line"), else to the
// program's logger with its pid and stream as fields. Memory per stream: the
// unterminated line (up to MaxLineLen) and the file's batch (up to 64 KiB,
// then written). ReopenLogs does not go through the state goroutine: it takes
// logFiles' mutex, then each file's, the same mutex the writers take per line
// and per batch, so a reopen lands between two batches and no line is split
// or lost by it.
//
// # State
//
// A Supervisor's state is owned by the goroutine running Serve. The reaper, the
// goroutine workers' runners, timers and callers reach it through an inbox
// (nothing blocks on it, nothing is dropped; what bounds it is under Bounds);
// stale timer and exit messages are recognised by generation and run numbers.
//
// The decisions are a pure machine's (policy.go): given the programs' policy
// state (pstate), one input (a run spawned or failed to, said Hello or Ready, sent
// a heartbeat, exited, had its tree gone after a stop; a policy timer fired; a
// start, stop, restart, shutdown or kill was asked) and the time, it updates that
// state and returns actions (spawn, stop or end a run, kill it now, arm or cancel
// a timer, emit an event, publish a link, answer a caller, continue after a stop
// sequence). It orders programs by their dependencies (Spec.After, Requires): a
// program waits (StateWaiting) until those it starts after are running, a
// program whose required one ended for good is not started or is stopped, and
// a stop sequence stops a program only once those that start after it have
// stopped, independent ones at once (one after another in reverse dependency
// order under one_for_all and rest_for_one), and only once every program of the
// sequence with a higher Spec.StopPhase has stopped. Serve returns once every
// program has ended for good, unless Options.StayUp keeps it until a
// shutdown. It makes no syscall and reads no
// clock; the state goroutine feeds it
// and carries out its actions in order (Supervisor.do), and policy_test.go drives
// it from tables without a process. It never asks which kind of worker it drives.
//
// A run (run.go) is one start of a program: a procRun (a process: its output
// and protocol pipes, its ipc.Conn and pending requests, its stop mechanics:
// the stop request over the pipe, the stop signal, the grace period, the tree
// kill and the wait for remnants) or a goRun (goroutine.go). A run owns what it
// holds, leases and its own timers included, and releases it in close, called
// once when the run is over (at its exit; after a stop, once its tree is gone).
// A program's cgroups outlive runs (a run's cgroup is reused by the next when it
// emptied without a cgroup.kill): the program owns them and a run borrows one.
//
// Start, Stop, Restart, Signal and Shutdown (control.go) are inbox messages too,
// answered on a reply channel once done; a program stopped by Stop is "held": it
// keeps Serve running until Start or shutdown, where a program that ended on its
// own does not. Group (group.go) is one inbox message for several programs
// (names, glob patterns, "all"): it resolves them and begins the operation in
// the same step, so no reload comes between; a name or pattern matching nothing
// means nothing is done. Its stop and restart are one stop sequence (reverse
// dependency order), its starts go in dependency order, and its waits for
// readiness are the state goroutine's (startWaiters), not a goroutine per
// program. Stops and Restarts (single or Group) of different programs run side
// by side: one asked while another's stop runs joins that stop sequence (in
// dependency order with its members) and is answered once its own programs have
// stopped (Restart: started again). A Stop or Restart of a program already
// being stopped, and any during a group restart or a reload, is refused
// (ErrBusy), never interleaved.
// Request and RequestAny (request.go) are the exception: they do not go through
// the inbox. They read the program's link, an atomic pointer the state goroutine
// sets when a run says Ready and clears when the run ends, and wait for the reply
// on the link's pending table; a run that ends fails what is in flight on it.
// Each program counts its requests in flight (an atomic, Status.InFlight);
// RequestAny sends to the least busy ready program matching a glob pattern,
// round-robin among ties, and never retries on another.
//
// # Readiness and liveness
//
// One model: a program counts as running once it is ready (Spec.waitsForReady),
// whatever said so: the pipe protocol's Ready, sd_notify's READY=1 on the run's
// own socket (notify.go: a listener goroutine per run, the socket file in a
// 0700 directory of the Supervisor's, closed and removed with the run; for a
// program with a User, the socket is chowned to it and the directory made
// 0711, searchable but not listable), s6's
// readiness line on fd NotifyFd (a pipe whose read end a goroutine per run
// owns), or the ready probe's first success (probes.go: package probe's
// goroutine per probe, exec probes spawned and reaped through the Reaper). The
// others count after MinUptime. Liveness: the protocol's heartbeats,
// sd_notify's WATCHDOG=1, the live probe. Each source pushes tagged messages
// (program, run) into the inbox; the machine sees only readyBy, heartbeat,
// watchdog, extendStart and runFailed. A run's sources end in its close.
//
// The built-in workers that programs of spawner reexec and goroutine may name are
// injected (Options.Workers, a Catalogue; cmd/supervisor fills it from
// internal/worker's registry): this package keeps no registry.
//
// # Bounds
//
// What a child can make the supervisor hold is bounded, whatever it sends:
//   - Frames: a protocol run's reader (procRun.readChild) holds a credit for
//     every message it has queued for the state goroutine, at most frameCredit
//     (64); with none left it stops reading, so a flooding child fills its own
//     pipe, and other programs' messages never queue behind more than 64 of its.
//     (The inbox is unbounded in type, but every producer is bounded: a credit
//     per pipe, one exit per process, one timer per program or run, one message
//     per control call.)
//   - Messages to a child (Stop, Lease) go through one bounded queue per run
//     (outboxLen, 80) and one writer goroutine; what does not fit because the
//     child does not read its fd 4 is dropped, counted and logged once. No
//     goroutine is started per message. (Requests are written by their caller's
//     goroutine: they are bounded by the callers.)
//   - Output: each pipe is read in chunks of 16 KiB into lines of at most
//     MaxLineLen; after a burst of 16 MiB or more, once output stops for a
//     second, the output mux gives the burst's garbage back to the kernel
//     (debug.FreeOSMemory) rather than wait minutes for the scavenger. (The
//     bytes kept per program for ctl logs are internal/control's to bound.)
//   - Leases: a run may hold or wait for at most maxLeasesPerRun (64) leases in
//     all; an Acquire beyond is refused in its Lease reply. A semaphore's state
//     is forgotten once nobody holds or waits for it.
//
// There is no periodic wake-up: an idle supervisor sleeps until a signal, a timer
// it set, or a request. The number of live workers is bounded only by the kernel
// and the fd limit: a process worker holds its two output pipes (read by the
// output mux's one goroutine, not one per pipe), its pidfd and, in cgroup mode,
// its cgroup directory; a protocol program adds its two protocol pipes and one
// goroutine (readChild); a goroutine worker is its function's goroutine and,
// with heartbeats, one more. None holds an OS thread.
package supervise
