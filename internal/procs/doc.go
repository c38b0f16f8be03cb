// Package procs sets how many Ps (GOMAXPROCS) a supervisor or worker process
// runs Go code on.
//
// Both default to one P. A supervisor and its workers spend their time waiting:
// on pipes, on the reaper's waitid, on timers. With several Ps, every goroutine
// hand-off (a reply reaching the goroutine waiting in Supervisor.Request, an exit
// reaching the state goroutine) wakes another OS thread, which then spins looking
// for work on a core the other process needs. On the 2-core machines this project
// is measured on, one P each made a request/reply round trip through
// Supervisor.Request about 3x faster (91 us to 28 us median, side by side in one
// run), and 64 KiB frames through a pipe within one process 2.5x faster. Blocking
// system calls still get
// threads of their own (the reaper's waitid thread among them), so one P never
// stalls the process.
//
// The GOMAXPROCS environment variable, when set, wins: a CPU-heavy worker can ask
// for more.
//
// Invariants: Default is called once, first thing in main (or in a re-executed
// worker's entry point), before any goroutine is started; it reads only the
// environment.
package procs
