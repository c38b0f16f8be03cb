//go:build amd64 || arm64

package supervise

import (
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sigIgn reads this process's ignored signals from /proc.
func sigIgn(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no SigIgn in /proc/self/status")
	return 0
}

// The stop signals are ignored for the exec, and Go's handlers are back
// after restore: a signal.Notify registered before still gets them.
func TestIgnoreStopSignals(t *testing.T) {
	got := make(chan os.Signal, 1)
	signal.Notify(got, syscall.SIGUSR2)
	defer signal.Stop(got)
	restore := ignoreStopSignals()
	for _, sig := range stopSignals {
		if sigIgn(t)&(1<<(uint(sig)-1)) == 0 {
			t.Errorf("%v not ignored", sig)
		}
	}
	restore()
	for _, sig := range stopSignals {
		if sigIgn(t)&(1<<(uint(sig)-1)) != 0 {
			t.Errorf("%v still ignored after restore", sig)
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("SIGUSR2 after restore did not reach signal.Notify")
	}
}
