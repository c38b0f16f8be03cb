package main_test

// A Go worker in its own module (clients/go) against the public package
// protocol, under the real binary.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/control"
)

// A Go worker written in its own module (clients/go) against the public package
// protocol, built here, runs under the supervisor and answers requests.
func TestGoWorkerOutsideTheModule(t *testing.T) {
	t.Parallel()
	dir := clientsDir(t, "go")
	exe := filepath.Join(t.TempDir(), "go-worker")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", exe, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build clients/go: %v\n%s", err, out)
	}
	sock := filepath.Join(t.TempDir(), "s.sock")
	p := start(t, "run", "-c", writeConf(t, fmt.Sprintf(`
[program:gw]
command = %s
protocol = true
heartbeat_timeout = 5s
`, exe)), "--socket", sock)
	p.waitLine(t, "control socket ready")
	waitStateWithin(t, sock, "gw", "running", 0, time.Minute)
	if out, errOut, code := ctlIn(t, sock, nil, "request", "gw", "echo", "hi"); code != 0 || string(out) != "hi" {
		t.Errorf("ctl request gw echo hi: exit %d, %q: %s", code, out, errOut)
	}
	pollStatus(t, sock, "gw", "heartbeating", func(s control.ProgramStatus) bool { return s.HeartbeatSeq >= 2 })
	pollStatus(t, sock, "gw", "its status", func(s control.ProgramStatus) bool { return s.StatusText == "go worker outside the module" })
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %d %s", code, errOut)
	}
	p.waitLine(t, "gw | stopping on request")
	p.exitCode(t)
}
