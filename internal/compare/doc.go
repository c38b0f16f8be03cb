// Package compare is `supervisor compare`: the same built-in worker function
// (internal/worker's "trouble") run as a goroutine inside the supervisor (kind
// goroutine) and as a re-executed process (kind reexec), measured side by side in
// one run and printed as one table (text, Markdown or JSON).
//
// Rows: memory per worker, start-up per worker, request round trip, request
// throughput; then what happens when a worker panics, hits a fatal runtime error
// (concurrent map writes), calls os.Exit, corrupts state shared by its process,
// hangs ignoring its stop, or deadlocks. Each failure row runs the faulty worker
// ("bad") beside a well-behaved sibling of the same kind and records Facts.
//
// # Invariants
//
//   - Nothing in a cell is written down in advance: every number and every word
//     that states an outcome comes from that run (an event or status of the
//     supervisor, a reply, /proc, a line the dying process wrote). The tests
//     assert the Facts, not the text.
//   - Real supervise.Supervisors run every row, with the policy code the product
//     uses; compare never spawns, signals or waits for a process itself. Who
//     reaps: the one supervise.Reaper of the process (Options.Reaper), for every
//     worker process and for the sacrificial supervisor; nothing else waits.
//   - Rows and kinds run one after another, never at once, so one measurement
//     does not load another. Each row's Supervisor is stopped (Serve returned)
//     before the next starts; the only thing a row leaves behind is what it
//     demonstrates: a goroutine worker of the ignore-stop and deadlock rows
//     stays blocked in this process for good (Supervisor.Leaked listed it), and
//     the shared-state row's scribble stays in the worker package's table
//     (under a key unique to the run).
//   - Faults that kill the whole process (fatal runtime error, os.Exit) are
//     never provoked in a goroutine worker of this process: they run in a
//     sacrificial supervisor, this binary re-executed as the built-in worker
//     hostWorker ("compare-host", registered with worker.Register by this
//     package's init), which runs "bad" and "sibling" as goroutine workers of a
//     Supervisor of its own, with its own Reaper. This process supervises it as
//     a program of kind reexec that is never restarted, and observes its exit
//     status, its last stderr line and its pid gone. Any binary that imports
//     this package must call worker.Dispatch first thing in main (cmd/supervisor
//     and the tests' TestMain do).
//   - File descriptors: a worker process (and the sacrificial supervisor) gets
//     what supervise gives every protocol program: 0 (/dev/null), 1 and 2 (pipes
//     the Supervisor drains line by line and hands to the harness), 3 and 4 (the
//     protocol pipes). The harness owns no fd: it only records events and lines.
//   - One goroutine owns each Supervisor's state (its Serve goroutine); the
//     harness reads it only through OnEvent, OnOutput, Status and Request.
//
// Memory: a goroutine worker's cost is the growth of this process's live heap
// and goroutine stacks (runtime.MemStats after a GC, before and after starting
// the workers) divided by their number; a process worker's is its proportional
// set size (Pss of /proc/PID/smaps_rollup: pages shared with other processes,
// such as the binary's text, are divided among them) plus its share of the same
// growth in the supervisor (pipes, reader goroutines). RSS is shown beside PSS.
package compare
