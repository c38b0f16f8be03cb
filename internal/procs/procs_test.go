package procs

import (
	"os"
	"runtime"
	"testing"
)

func TestDefault(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	runtime.GOMAXPROCS(2)
	if got := Default(); got != 1 || runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("without GOMAXPROCS in the environment: Default() = %d, GOMAXPROCS %d; want 1", got, runtime.GOMAXPROCS(0))
	}
	t.Setenv("GOMAXPROCS", "2")
	runtime.GOMAXPROCS(2)
	if got := Default(); got != 2 || runtime.GOMAXPROCS(0) != 2 {
		t.Errorf("with GOMAXPROCS=2 in the environment: Default() = %d, GOMAXPROCS %d; want 2 left alone", got, runtime.GOMAXPROCS(0))
	}
}
