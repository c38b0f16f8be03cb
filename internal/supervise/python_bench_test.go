package supervise_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// BenchmarkPythonRoundTrip is an echo Request's round trip through
// Supervisor.Request to the Python example worker (clients/python, exec'd by
// python3) beside the Go "child" worker (--protocol, exec'd), in one supervisor
// and one run: each op is one round trip to each, alternating, so both see the
// same load. It reports the median of each, their ratio, and each 90th percentile.
func BenchmarkPythonRoundTrip(b *testing.B) {
	// The interpreter itself (sys.executable), not a pyenv shim in front of it.
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	py := strings.TrimSpace(string(out))
	if err != nil || py == "" {
		b.Skipf("python3 not found: %v", err)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "clients", "python", "example_worker.py"))
	if err != nil {
		b.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // as cmd/supervisor runs (package procs)
	goSpec := pspec("go", supervise.SpawnExec)
	pySpec := spec("py", supervise.SpawnExec)
	pySpec.Command = []string{py, script, "--heartbeat", "50ms"}
	pySpec.Protocol = true
	pySpec.StartTimeout = 30 * time.Second
	sup, running := benchServe(b, goSpec, pySpec)
	benchAwait(b, running)
	benchAwait(b, running)
	body := []byte("ping")
	ctx := context.Background()
	var goLat, pyLat []time.Duration
	b.ResetTimer()
	for range b.N {
		for _, w := range []struct {
			name string
			lat  *[]time.Duration
		}{{"go", &goLat}, {"py", &pyLat}} {
			t0 := time.Now()
			out, err := sup.Request(ctx, w.name, "echo", body)
			if err != nil || !bytes.Equal(out, body) {
				b.Fatalf("echo to %s: %q, %v", w.name, out, err)
			}
			*w.lat = append(*w.lat, time.Since(t0))
		}
	}
	b.StopTimer()
	g, p := benchMedian(goLat), benchMedian(pyLat)
	b.ReportMetric(float64(g.Nanoseconds()), "go-median-ns/roundtrip")
	b.ReportMetric(float64(p.Nanoseconds()), "py-median-ns/roundtrip")
	b.ReportMetric(float64(p)/float64(g), "py/go-median")
	b.ReportMetric(float64(p90(goLat).Nanoseconds()), "go-p90-ns")
	b.ReportMetric(float64(p90(pyLat).Nanoseconds()), "py-p90-ns")
}

// p90 is the 90th percentile of d.
func p90(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*9/10]
}
