package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/supervisor/supervisor/internal/supervise"
)

// Metrics is the Prometheus view of a supervisor: program states, restarts,
// exits by cause and heartbeat ages (read from Status at scrape time), exits
// counted as they happen (Event), and the supervisor process's own RSS, open fds
// and goroutines (the client library's process and Go collectors).
type Metrics struct {
	t   Target
	reg *prometheus.Registry

	mu    sync.Mutex
	exits map[[3]string]float64 // program, cause, code -> count

	state, restarts, hbAge, uptime, exitsDesc *prometheus.Desc
}

// NewMetrics returns the metrics of t. Its Event method must be called for every
// supervise.Event (chain it into Options.OnEvent).
func NewMetrics(t Target) *Metrics {
	m := &Metrics{t: t, reg: prometheus.NewRegistry(), exits: map[[3]string]float64{}}
	m.state = prometheus.NewDesc("supervisor_program_state", "1 for the state each program is in, 0 for the others.", []string{"program", "state"}, nil)
	m.restarts = prometheus.NewDesc("supervisor_program_restarts", "Restarts of each program since the supervisor started it (or since its last start by request).", []string{"program"}, nil)
	m.hbAge = prometheus.NewDesc("supervisor_program_heartbeat_age_seconds", "Seconds since each running protocol program's last heartbeat (or Ready).", []string{"program"}, nil)
	m.uptime = prometheus.NewDesc("supervisor_program_uptime_seconds", "Seconds each program's current process has been running.", []string{"program"}, nil)
	m.exitsDesc = prometheus.NewDesc("supervisor_program_exits_total", "Exits of each program's processes, by cause (exit, signal, spawn_error; for goroutine workers also panic, leaked) and code (exit code or signal name).", []string{"program", "cause", "code"}, nil)
	m.reg.MustRegister(m, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	return m
}

// Event counts the exit an event carries, if any.
func (m *Metrics) Event(e supervise.Event) {
	if e.Exit == nil {
		return
	}
	cause, code := "exit", fmt.Sprint(e.Exit.Code)
	switch {
	case e.Exit.SpawnErr != nil:
		cause, code = "spawn_error", fmt.Sprint(e.Exit.ShellCode())
	case e.Exit.Signal != 0:
		cause, code = "signal", supervise.SignalName(e.Exit.Signal)
	case e.Exit.Leaked:
		cause, code = "leaked", fmt.Sprint(e.Exit.ShellCode())
	case e.Exit.Panic != "":
		cause = "panic"
	}
	m.mu.Lock()
	m.exits[[3]string{e.Program, cause, code}]++
	m.mu.Unlock()
}

var allStates = []supervise.State{supervise.StateStopped, supervise.StateStarting, supervise.StateRunning,
	supervise.StateBackoff, supervise.StateStopping, supervise.StateExited, supervise.StateFatal}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.state, m.restarts, m.hbAge, m.uptime, m.exitsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := m.t.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.state, err)
		return
	}
	now := time.Now()
	for _, p := range st {
		for _, s := range allStates {
			v := 0.0
			if p.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(m.state, prometheus.GaugeValue, v, p.Name, string(s))
		}
		ch <- prometheus.MustNewConstMetric(m.restarts, prometheus.GaugeValue, float64(p.Restarts), p.Name)
		if p.Live() {
			ch <- prometheus.MustNewConstMetric(m.uptime, prometheus.GaugeValue, now.Sub(p.Started).Seconds(), p.Name)
			if !p.LastHeartbeat.IsZero() {
				ch <- prometheus.MustNewConstMetric(m.hbAge, prometheus.GaugeValue, now.Sub(p.LastHeartbeat).Seconds(), p.Name)
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range m.exits {
		ch <- prometheus.MustNewConstMetric(m.exitsDesc, prometheus.CounterValue, v, k[0], k[1], k[2])
	}
}

// HTTPHandler serves /metrics (Prometheus text format) and /healthz: 200 "ok"
// while no program is fatal, 503 naming the fatal programs otherwise (what an
// orchestrator's liveness probe wants).
func (m *Metrics) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		st, err := m.t.Status(r.Context())
		if err != nil {
			http.Error(w, "status: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		var fatal []string
		for _, p := range st {
			if p.State == supervise.StateFatal {
				fatal = append(fatal, p.Name)
			}
		}
		if len(fatal) > 0 {
			http.Error(w, "fatal: "+strings.Join(fatal, ", "), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// ServeHTTP listens on addr (host:port) and serves m.HTTPHandler until the
// returned stop is called. The listener is open when ServeHTTP returns.
func (m *Metrics) ServeHTTP(log hclog.Logger, addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", addr, err)
	}
	srv := &http.Server{Handler: m.HTTPHandler(), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("http listener failed", "error", err)
		}
	}()
	log.Info("http listener ready", "addr", ln.Addr().String(), "paths", "/healthz /metrics")
	return func() { srv.Close(); <-done }, nil
}
