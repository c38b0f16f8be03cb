package control

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/worker"
)

// BenchmarkCtlStatus1000: `ctl status` round trips (client, unix socket, HTTP,
// state goroutine, JSON both ways) against a real supervisor running 1,000
// programs (sleep processes). Target: median under 20 ms.
func BenchmarkCtlStatus1000(b *testing.B) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skip("no sleep binary")
	}
	reaper, err := supervise.NewReaper(hclog.NewNullLogger(), supervise.ReaperOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer reaper.Close()
	const n = 1000
	var g supervise.Group
	for i := range n {
		s := supervise.DefaultSpec()
		s.Name = fmt.Sprintf("p%04d", i)
		s.Command = []string{sleep, "3600"}
		s.Spawner = supervise.SpawnForkExec
		s.MinUptime = 0
		g.Programs = append(g.Programs, s)
	}
	running := make(chan struct{}, n)
	sup, err := supervise.New(hclog.NewNullLogger(), g, supervise.Options{Workers: supervise.Catalogue{Reexec: worker.Names(), Funcs: worker.Funcs()}, Reaper: reaper, OnEvent: func(e supervise.Event) {
		if e.To == supervise.StateRunning {
			running <- struct{}{}
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	for range n {
		<-running
	}

	sock := filepath.Join(b.TempDir(), "s.sock")
	ln, err := Listen(hclog.NewNullLogger(), sock)
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(hclog.NewNullLogger(), noReload{sup}, NewJournal(0), Limits{})
	go srv.Serve(ln)
	defer srv.Close()
	c, err := NewClient(sock)
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		st, err := c.Status(context.Background())
		lat = append(lat, time.Since(t0))
		if err != nil || len(st) != n {
			b.Fatalf("status: %d programs, %v", len(st), err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
}

type noReload struct{ *supervise.Supervisor }

func (noReload) Reload(context.Context) (supervise.ReloadResult, error) {
	return supervise.ReloadResult{}, fmt.Errorf("no reload here")
}
