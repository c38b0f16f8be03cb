package main_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// --http: /metrics parses with the Prometheus text parser and has the program
// metrics; /healthz is 200 until a program turns fatal, then 503 naming it.
func TestHTTPMetricsAndHealthz(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, `
[program:up]
command = CHILD
[program:doomed]
command = CHILD --run 0s --exit 3
min_uptime = 1h
start_retries = 2
backoff_initial = 1ms
`)
	p := start(t, "run", "-c", conf, "--http", "127.0.0.1:0")
	line := p.waitLine(t, "http listener ready")
	m := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no address in %q", line)
	}
	base := "http://" + m[1]
	if strings.Contains(p.log(), "reachable from other hosts") { // logged before "ready" if at all
		t.Errorf("--http 127.0.0.1:0 warned of other hosts:\n%s", p.log())
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}

	p.waitLine(t, "supervisor.doomed", "program fatal")
	code, body := get("/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "doomed") {
		t.Errorf("/healthz with a fatal program: %d %q, want 503 naming it", code, body)
	}

	var families map[string]*dtoFamily
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, body = get("/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d\n%s", code, body)
		}
		parser := expfmt.NewTextParser(model.LegacyValidation) // what a classic Prometheus server accepts
		fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("/metrics does not parse: %v\n%s", err, body)
		}
		families = map[string]*dtoFamily{}
		for name, f := range fams {
			df := &dtoFamily{}
			for _, mt := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range mt.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				v := mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
				df.samples = append(df.samples, sample{labels, v})
			}
			families[name] = df
		}
		if families["supervisor_program_state"].get(map[string]string{"program": "up", "state": "running"}) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("up never shows running in /metrics:\n%s", body)
		}
	}
	checks := []struct {
		family string
		labels map[string]string
		want   func(float64) bool
	}{
		{"supervisor_program_state", map[string]string{"program": "doomed", "state": "fatal"}, func(v float64) bool { return v == 1 }},
		{"supervisor_program_exits_total", map[string]string{"program": "doomed", "cause": "exit", "code": "3"}, func(v float64) bool { return v == 3 }},
		{"supervisor_program_restarts", map[string]string{"program": "doomed"}, func(v float64) bool { return v == 2 }},
		{"process_resident_memory_bytes", nil, func(v float64) bool { return v > 0 }},
		{"process_open_fds", nil, func(v float64) bool { return v > 0 }},
		{"go_goroutines", nil, func(v float64) bool { return v > 0 }},
	}
	for _, c := range checks {
		if v := families[c.family].get(c.labels); !c.want(v) {
			t.Errorf("%s%v = %v", c.family, c.labels, v)
		}
	}
}

type sample struct {
	labels map[string]string
	v      float64
}

type dtoFamily struct{ samples []sample }

// get returns the value of the sample whose labels include want, or -1.
func (f *dtoFamily) get(want map[string]string) float64 {
	if f == nil {
		return -1
	}
next:
	for _, s := range f.samples {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.v
	}
	return -1
}
