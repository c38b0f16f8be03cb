package control

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/supervisor/supervisor/internal/supervise"
)

// statusTarget is a fake whose Status is given.
type statusTarget struct {
	fake
	st []supervise.Status
}

func (s *statusTarget) Status(context.Context) ([]supervise.Status, error) { return s.st, nil }

// The exposition we write by hand must parse with the reference parser, label
// values that need escaping included, with the values we put in.
func TestMetricsExposition(t *testing.T) {
	odd := `we"ird\name`
	tg := &statusTarget{st: []supervise.Status{
		{Name: odd, State: supervise.StateRunning, Pid: 42, Started: time.Now().Add(-time.Minute), Restarts: 7},
		{Name: "down", State: supervise.StateFatal, Restarts: 3},
	}}
	m := NewMetrics(tg)
	for range 2 {
		m.Event(supervise.Event{Program: "down", Exit: &supervise.Exit{Code: 3}})
	}
	var b bytes.Buffer
	if err := m.writeTo(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("does not parse: %v\n%s", err, b.String())
	}
	find := func(family string, labels map[string]string) (float64, bool) {
		f := fams[family]
		if f == nil {
			return 0, false
		}
	next:
		for _, mt := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range mt.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return mt.GetGauge().GetValue() + mt.GetCounter().GetValue() + mt.GetUntyped().GetValue(), true
		}
		return 0, false
	}
	for _, c := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"supervisor_program_state", map[string]string{"program": odd, "state": "running"}, 1},
		{"supervisor_program_state", map[string]string{"program": odd, "state": "fatal"}, 0},
		{"supervisor_program_state", map[string]string{"program": "down", "state": "fatal"}, 1},
		{"supervisor_program_restarts", map[string]string{"program": odd}, 7},
		{"supervisor_program_exits_total", map[string]string{"program": "down", "cause": "exit", "code": "3"}, 2},
	} {
		if v, ok := find(c.family, c.labels); !ok || v != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.family, c.labels, v, ok, c.want)
		}
	}
	if v, ok := find("supervisor_program_uptime_seconds", map[string]string{"program": odd}); !ok || v < 59 {
		t.Errorf("uptime of a program started a minute ago: %v %v", v, ok)
	}
	if _, ok := find("supervisor_program_uptime_seconds", map[string]string{"program": "down"}); ok {
		t.Error("uptime of a program that is not running")
	}
	for _, name := range []string{"process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds", "go_goroutines"} {
		if v, ok := find(name, nil); !ok || v <= 0 {
			t.Errorf("%s = %v (found %v), want > 0", name, v, ok)
		}
	}
	// The process_* metrics are this test process's own: plausible values, not zeros.
	if v, _ := find("process_resident_memory_bytes", nil); v < 1<<20 || v > 1<<32 {
		t.Errorf("process_resident_memory_bytes = %v, want between 1 MiB and 4 GiB", v)
	}
	if v, _ := find("process_start_time_seconds", nil); v > float64(time.Now().Unix()+1) || v < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("process_start_time_seconds = %v, want within the last hour", v)
	}
	// CPU time is counted in clock ticks (10ms): a quick test may not have one.
	if v, ok := find("process_cpu_seconds_total", nil); !ok || v < 0 {
		t.Errorf("process_cpu_seconds_total = %v (found %v)", v, ok)
	}
	if got := fams["supervisor_program_exits_total"].GetType().String(); got != "COUNTER" {
		t.Errorf("exits_total type %s", got)
	}
}

// --http on anything but a loopback address is served, with a warning; on
// 127.0.0.1, [::1] or localhost, silently.
func TestServeHTTPWarnsBeyondLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		warn bool
	}{
		{"127.0.0.1:0", false},
		{"[::1]:0", false},
		{"localhost:0", false},
		{":0", true},
		{"0.0.0.0:0", true},
		{"[::]:0", true},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var logged strings.Builder
			log := hclog.New(&hclog.LoggerOptions{Output: syncWriter{&mu, &logged}})
			stop, err := NewMetrics(&fake{}).ServeHTTP(log, tc.addr, Limits{})
			if err != nil {
				if strings.Contains(tc.addr, "::") {
					t.Skipf("no IPv6 here: %v", err)
				}
				t.Fatal(err)
			}
			stop()
			mu.Lock()
			defer mu.Unlock()
			if got := strings.Contains(logged.String(), "[WARN]  the http listener is reachable from other hosts"); got != tc.warn {
				t.Errorf("warned %v, want %v; log:\n%s", got, tc.warn, logged.String())
			}
		})
	}
}
