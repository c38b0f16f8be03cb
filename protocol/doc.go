// Package protocol is the public face of the supervisor's pipe protocol for Go
// workers in any module: a program run with protocol = true imports it to say
// Ready, prove progress with heartbeats, report status, serve requests and take
// leases. The wire format is specified in docs/protocol.md; the implementation
// is the module's internal/ipc (ipc.Child), of which this package is a thin
// wrapper, so a worker using it speaks exactly what cmd/child speaks.
//
// # Invariants
//
//   - Pipes: Open uses fd 3 (to the supervisor) and fd 4 (from it), checks that
//     both are pipes or sockets, marks them close-on-exec so that no child of the
//     worker inherits them, and never closes them: they close when the process
//     exits, which is how the supervisor learns that the worker is gone. With
//     New, the caller owns the reader and the writer.
//   - Frames: every frame goes through one encoder and is written with one
//     write(2) under a mutex, so Ready, SetStatus, heartbeats, replies and
//     lease messages from any goroutine never interleave.
//   - Heartbeats prove progress: the heartbeat goroutine sends one only if
//     Progress was called since the previous one. Call Progress from the main
//     loop, never from a helper goroutine, so a deadlocked loop goes silent and
//     heartbeat_timeout catches it.
//   - Serve returns ErrStopRequested after a Stop (it has answered Stopping),
//     and an error wrapping ErrPeerGone when the supervisor went away (EOF on
//     fd 4); in both cases the worker should exit 0. Any other error is a
//     protocol error, and the worker should exit non-zero.
//   - Errors are internal/ipc's sentinels, re-exported: check them with
//     errors.Is.
//
// # Goroutines
//
// Serve runs one reader goroutine and one goroutine per Request; StartHeartbeats
// one heartbeat goroutine. Close stops the heartbeats and makes Serve return;
// Serve returns only after every handler it started has returned.
package protocol
