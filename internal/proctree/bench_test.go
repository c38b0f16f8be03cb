package proctree

import (
	"io"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// BenchmarkTree1000: the tree of 1,000 processes (sleep children of the
// benchmark), from a snapshot of the whole process table to the rendered text,
// as `supervisor tree` does it. Target: under 100 ms.
func BenchmarkTree1000(b *testing.B) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skip("no sleep binary")
	}
	const n = 1000
	procs := make([]*os.Process, 0, n)
	defer func() {
		for _, p := range procs {
			p.Kill()
			p.Wait()
		}
	}()
	for range n {
		p, err := os.StartProcess(sleep, []string{"sleep", "3600"}, &os.ProcAttr{})
		if err != nil {
			b.Fatal(err)
		}
		procs = append(procs, p)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		s, err := Take()
		if err != nil {
			b.Fatal(err)
		}
		root, err := s.Subtree(os.Getpid())
		if err != nil {
			b.Fatal(err)
		}
		if err := Render(io.Discard, root, RenderOptions{Metrics: true}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		if len(root.Children) < n {
			b.Fatalf("%d children in the tree, want %d", len(root.Children), n)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
}
