package procs

import (
	"os"
	"runtime"
)

// Default sets GOMAXPROCS to 1 unless the GOMAXPROCS environment variable is
// set, and returns the value in effect.
func Default() int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	runtime.GOMAXPROCS(1)
	return 1
}
