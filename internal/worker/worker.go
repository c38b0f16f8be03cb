package worker

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/supervisor/supervisor/internal/procs"
)

// Arg0 is the argv[0] under which a re-executed supervisor runs a built-in worker.
const Arg0 = "supervisor-worker"

// workerFunc runs one worker and returns the process exit code.
type workerFunc func(args []string, stdout, stderr io.Writer) int

// workers is the registry of built-in workers. It is filled during package
// initialisation (initmodes.go adds its own) and never modified after.
var workers = map[string]workerFunc{
	"child": runChild,
	// The demo workers (demo.go).
	"hold":          runHold,
	"zombie-parent": runZombieParent,
	"orphan-maker":  runOrphanMaker,
	"host":          runHost,
}

// Dispatch runs a built-in worker and exits the process if the base name of
// os.Args[0] is Arg0; otherwise it returns at once and does nothing.
// os.Args[1] names the worker and the rest are its arguments; a missing or
// unknown name exits with code 2. Call it first thing in main and in TestMain,
// before flags are parsed or goroutines started.
func Dispatch() {
	if filepath.Base(os.Args[0]) != Arg0 {
		return
	}
	procs.Default()
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "%s: missing worker name (one of %s)\n", Arg0, strings.Join(Names(), ", "))
		os.Exit(2)
	}
	os.Exit(Run(os.Args[1], os.Args[2:], os.Stdout, os.Stderr))
}

// Register adds a process-only built-in worker: run is a process's main
// (arguments without the worker name, stdout, stderr) and returns its exit code.
// It exists for workers that must live outside this package because they import
// packages that import this one (internal/compare's sacrificial supervisor). Call
// it only from an init function; it panics on an empty or taken name. Dispatch,
// Run and Names then know the worker; Lookup does not (it cannot run as a
// goroutine).
func Register(name string, run func(args []string, stdout, stderr io.Writer) int) {
	if name == "" || run == nil {
		panic("worker: Register with an empty name or a nil function")
	}
	if _, taken := workers[name]; taken {
		panic(fmt.Sprintf("worker: Register: %q is already a worker", name))
	}
	workers[name] = run
}

// Names lists the built-in workers, sorted. The caller owns the returned slice.
func Names() []string {
	names := make([]string, 0, len(workers))
	for name := range workers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Run runs the named worker with args (without the worker name), writing to
// stdout and stderr, and blocks until the worker ends; it returns the process
// exit code. An unknown name writes a message to stderr and returns 2.
//
// Run installs signal handlers for the duration of the call and, for some
// flags, starts processes by re-executing /proc/self/exe, takes over fds 3 and 4,
// or ends the process with a signal or os.Exit, so outside tests of argument
// handling it should only be called from the main of a worker process
// (cmd/child, or Dispatch).
func Run(name string, args []string, stdout, stderr io.Writer) int {
	w, ok := workers[name]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown worker %q (one of %s)\n", Arg0, name, strings.Join(Names(), ", "))
		return 2
	}
	return w(args, stdout, stderr)
}
