package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/worker"
)

// TestMain lets this test binary run the hostile workers: the config names it
// through a link called worker.Arg0.
func TestMain(m *testing.M) {
	worker.Dispatch()
	os.Exit(m.Run())
}

// TestChaosSmoke runs every phase with tiny numbers against freshly built
// binaries: the rows that must be 0 are, and each phase did its work.
func TestChaosSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs the supervisor for about 20s")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "../../cmd/supervisor", "../../cmd/child")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{binDir: bin, self: self, programs: 10, storm: time.Second, floodBytes: 100_000, floods: 3,
		leases: 500, conns: 20, connCap: 128, late: 2, rateWindow: 300 * time.Millisecond, seed: 1}
	var out bytes.Buffer
	code := mainRun(hclog.NewNullLogger(), cfg, &out)
	t.Logf("\n%s", out.String())
	if code != 0 {
		t.Fatalf("chaos exited %d", code)
	}
	for _, want := range []string{"lost exit statuses", "zombies of the supervisor", "500 lease requests: PSS growth", "2 of 2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table has no %q", want)
		}
	}
	if strings.Contains(out.String(), "ctl status answers                              false") {
		t.Error("ctl status did not answer")
	}
}
