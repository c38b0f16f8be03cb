// Command child is the built-in "child" test and demo worker as a standalone
// binary; see package worker for its flags, output and exit codes.
package main

import (
	"os"

	"github.com/supervisor/supervisor/internal/procs"
	"github.com/supervisor/supervisor/internal/worker"
)

func main() {
	procs.Default()
	os.Exit(worker.Run("child", os.Args[1:], os.Stdout, os.Stderr))
}
