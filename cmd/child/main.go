// Command child is the built-in test and demo workers as a standalone binary; see
// package worker for their flags, output and exit codes. "child ARGS" runs the
// "child" worker; "child NAME ARGS", where NAME is another built-in worker
// (orphans, linger, reap-check, signals), runs that one.
package main

import (
	"os"
	"slices"

	"github.com/supervisor/supervisor/internal/procs"
	"github.com/supervisor/supervisor/internal/worker"
)

func main() {
	procs.Default()
	name, args := "child", os.Args[1:]
	if len(args) > 0 && slices.Contains(worker.Names(), args[0]) {
		name, args = args[0], args[1:]
	}
	os.Exit(worker.Run(name, args, os.Stdout, os.Stderr))
}
