package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/ipc"
	"github.com/supervisor/supervisor/internal/worker"
)

// The hostile workers. They live here, not in internal/worker, and are
// registered with worker.Register: the chaos binary calls worker.Dispatch first
// thing, and the config names them through a symlink called
// worker.Arg0 ("supervisor-worker") to this binary, so the supervisor runs them as
// any exec program. Each writes a last marker line on stdout when its flood is
// done (the harness waits for it in the supervisor's log), then waits for a
// signal: the flood's effect is measured while it still runs.
const (
	floodWorker = "chaos-flood" // -bytes N: N bytes of output lines as fast as it can
	leaseWorker = "chaos-lease" // -n N: N Acquires with distinct 256-byte names; never reads fd 4
	beatWorker  = "chaos-beat"  // Heartbeat and Status frames as fast as it can, until a signal

	floodDone = "chaos: flood done"
	leaseDone = "chaos: lease flood done"
	beatStart = "chaos: frame flood running"
)

func init() {
	worker.Register(floodWorker, runFlood)
	worker.Register(leaseWorker, runLease)
	worker.Register(beatWorker, runBeat)
}

// runFlood writes -bytes bytes of 1,000-byte lines to stdout in 64 KiB writes,
// then the floodDone line, then waits for a signal.
func runFlood(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(floodWorker, flag.ContinueOnError)
	fs.SetOutput(stderr)
	total := fs.Int64("bytes", 100<<20, "bytes of output")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	const lineLen = 1000
	line := bytes.Repeat([]byte("x"), lineLen)
	line[lineLen-1] = '\n'
	copy(line, "flood ")
	batch := bytes.Repeat(line, 64) // 64,000 bytes a write
	for written := int64(0); written < *total; {
		n := min(int64(len(batch)), (*total-written+lineLen-1)/lineLen*lineLen)
		if _, err := stdout.Write(batch[:n]); err != nil {
			fmt.Fprintf(stderr, "flood: %v\n", err)
			return 1
		}
		written += n
	}
	fmt.Fprintln(stdout, floodDone)
	return waitSignal()
}

// runLease does the handshake and Ready, then sends -n Acquires (IDs 1..n, each
// for its own semaphore of limit 1, named by its number padded to
// ipc.MaxLeaseName bytes) and never reads a Lease: its fd 4 fills, and so does
// the supervisor's queue to it.
func runLease(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(leaseWorker, flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 200_000, "Acquires to send")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	out, c, err := handshake()
	if err != nil {
		fmt.Fprintf(stderr, "lease: %v\n", err)
		return 1
	}
	enc := ipc.NewEncoder(out) // the Child's own encoder is idle: no heartbeats, no Serve
	name := bytes.Repeat([]byte("l"), ipc.MaxLeaseName)
	for i := 1; i <= *n; i++ {
		copy(name, fmt.Sprintf("%010d", i))
		if err := enc.Encode(ipc.Acquire{ID: uint64(i), Name: string(name), Limit: 1}); err != nil {
			fmt.Fprintf(stderr, "lease: Acquire %d: %v\n", i, err)
			return 1
		}
	}
	fmt.Fprintln(stdout, leaseDone, *n)
	_ = c // never Serve: fd 4 is never read again
	return waitSignal()
}

// runBeat does the handshake and Ready, then writes Heartbeat frames (and a
// 1 KiB Status every 16th frame) as fast as the pipe takes them until a signal
// ends it (the Go runtime's default action for SIGTERM).
func runBeat(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(beatWorker, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	out, _, err := handshake()
	if err != nil {
		fmt.Fprintf(stderr, "beat: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, beatStart)
	enc := ipc.NewEncoder(out)
	status := string(bytes.Repeat([]byte("s"), ipc.MaxStatusLen))
	for seq := uint64(1); ; seq++ {
		var m ipc.Message = ipc.Heartbeat{Seq: seq}
		if seq%16 == 0 {
			m = ipc.Status{Text: status}
		}
		if err := enc.Encode(m); err != nil {
			fmt.Fprintf(stderr, "beat: %v\n", err)
			return 1
		}
	}
}

// handshake takes fds 3 (to the supervisor) and 4 (from it), says Hello and
// Ready, and returns the writing end and the Child.
func handshake() (*os.File, *ipc.Child, error) {
	for _, fd := range []int{3, 4} {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			return nil, nil, fmt.Errorf("fd %d is no pipe: run with protocol = true", fd)
		}
		unix.CloseOnExec(fd)
	}
	out, in := os.NewFile(3, "ipc-out"), os.NewFile(4, "ipc-in")
	name := os.Getenv("SUPERVISOR_PROGRAM")
	c, err := ipc.NewChild(in, out, os.Getpid(), name)
	if err != nil {
		return nil, nil, fmt.Errorf("handshake: %w", err)
	}
	if err := c.Ready(); err != nil {
		return nil, nil, fmt.Errorf("ready: %w", err)
	}
	return out, c, nil
}

// waitSignal blocks until SIGTERM or SIGINT and returns 0.
func waitSignal() int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return 0
}
