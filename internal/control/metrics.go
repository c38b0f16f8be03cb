package control

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/shirou/gopsutil/v3/process"

	"github.com/supervisor/supervisor/internal/supervise"
)

// Metrics is the Prometheus view of a supervisor: program states, restarts,
// exits by cause and heartbeat ages (read from Status at scrape time), exits
// counted as they happen (Event), and the supervisor process's own RSS, CPU,
// open fds and goroutines (the names the Prometheus client library's process
// and Go collectors use, so existing dashboards work).
//
// The text exposition format is written here rather than by
// github.com/prometheus/client_golang: the library and its protobuf
// dependencies make the binary 2.9 MB larger, and since the kernel maps a
// binary's pages in around every page touched, merely linking it, with no
// collector registered, costs 1.9 MiB more PSS in every supervisor (measured
// with 100 children: 11.15 MiB with it, 9.25 without; anonymous memory the
// same), over issue 2's 10 MiB, for five gauges and a counter. The test parses
// our output with the reference parser (prometheus/common/expfmt).
type Metrics struct {
	t Target

	mu    sync.Mutex
	exits map[[3]string]float64 // program, cause, code -> count
}

// NewMetrics returns the metrics of t. Its Event method must be called for every
// supervise.Event (chain it into Options.OnEvent).
func NewMetrics(t Target) *Metrics {
	return &Metrics{t: t, exits: map[[3]string]float64{}}
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

var allStates = []supervise.State{supervise.StateStopped, supervise.StateWaiting, supervise.StateStarting, supervise.StateRunning,
	supervise.StateBackoff, supervise.StateStopping, supervise.StateExited, supervise.StateFatal}

// writeTo writes every metric in the Prometheus text exposition format
// (version 0.0.4).
func (m *Metrics) writeTo(ctx context.Context, w io.Writer) error {
	st, err := m.t.Status(ctx)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	now := time.Now()
	e := &expo{w: bufio.NewWriter(w)}

	e.family("supervisor_program_state", "gauge", "1 for the state each program is in, 0 for the others.")
	for _, p := range st {
		for _, s := range allStates {
			v := 0.0
			if p.State == s {
				v = 1
			}
			e.sample("supervisor_program_state", v, "program", p.Name, "state", string(s))
		}
	}
	e.family("supervisor_program_restarts", "gauge", "Restarts of each program since the supervisor started it (or since its last start by request).")
	for _, p := range st {
		e.sample("supervisor_program_restarts", float64(p.Restarts), "program", p.Name)
	}
	e.family("supervisor_program_uptime_seconds", "gauge", "Seconds each program's current process has been running.")
	for _, p := range st {
		if p.Live() {
			e.sample("supervisor_program_uptime_seconds", now.Sub(p.Started).Seconds(), "program", p.Name)
		}
	}
	e.family("supervisor_program_ready", "gauge", "1 if the program is running (ready), else 0; source says where its readiness comes from (protocol, sd_notify, s6, ready_probe, forking, min_uptime).")
	for _, p := range st {
		v := 0.0
		if p.State == supervise.StateRunning {
			v = 1
		}
		e.sample("supervisor_program_ready", v, "program", p.Name, "source", p.Readiness)
	}
	e.family("supervisor_program_heartbeat_age_seconds", "gauge", "Seconds since each running program's last heartbeat or Ready (protocol), or WATCHDOG=1 (sd_notify with a watchdog).")
	for _, p := range st {
		if p.Live() && !p.LastHeartbeat.IsZero() {
			e.sample("supervisor_program_heartbeat_age_seconds", now.Sub(p.LastHeartbeat).Seconds(), "program", p.Name)
		}
	}
	e.family("supervisor_program_exits_total", "counter", "Exits of each program's processes, by cause (exit, signal, spawn_error; for goroutine workers also panic, leaked) and code (exit code or signal name).")
	m.mu.Lock()
	keys := make([][3]string, 0, len(m.exits))
	for k := range m.exits {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [3]string) int { return slices.Compare(a[:], b[:]) })
	for _, k := range keys {
		e.sample("supervisor_program_exits_total", m.exits[k], "program", k[0], "cause", k[1], "code", k[2])
	}
	m.mu.Unlock()

	self := selfStats()
	e.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
	e.sample("process_resident_memory_bytes", self.rss)
	e.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
	e.sample("process_cpu_seconds_total", self.cpu)
	e.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
	e.sample("process_start_time_seconds", self.start)
	e.family("process_open_fds", "gauge", "Number of open file descriptors.")
	e.sample("process_open_fds", self.fds)
	e.family("go_goroutines", "gauge", "Number of goroutines that currently exist.")
	e.sample("go_goroutines", float64(runtime.NumGoroutine()))
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}

// expo writes the text format; the first write error sticks.
type expo struct {
	w   *bufio.Writer
	err error
}

func (e *expo) family(name, typ, help string) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, "# HELP %s %s\n# TYPE %s %s\n", name, helpEscaper.Replace(help), name, typ)
}

// sample writes one sample; labels are name, value pairs.
func (e *expo) sample(name string, v float64, labels ...string) {
	if e.err != nil {
		return
	}
	e.w.WriteString(name)
	if len(labels) > 0 {
		e.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				e.w.WriteByte(',')
			}
			e.w.WriteString(labels[i])
			e.w.WriteString(`="`)
			e.w.WriteString(labelEscaper.Replace(labels[i+1]))
			e.w.WriteByte('"')
		}
		e.w.WriteByte('}')
	}
	e.w.WriteByte(' ')
	e.w.WriteString(formatValue(v))
	_, e.err = e.w.WriteString("\n")
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// processStats is what /proc says of this process, for the process_* metrics.
type processStats struct{ rss, cpu, start, fds float64 }

// selfStats reads this process's metrics with gopsutil (the design's library for
// process metrics); a field it cannot read stays 0. Each getter reads its own
// /proc file, which is nothing for one process per scrape (proctree reads the
// whole table itself, where it would be: see its doc). Open fds count the one
// gopsutil holds while it lists /proc/self/fd, as client_golang's process
// collector counts.
func selfStats() processStats {
	var ps processStats
	p := &process.Process{Pid: int32(os.Getpid())}
	if m, err := p.MemoryInfo(); err == nil {
		ps.rss = float64(m.RSS)
	}
	if t, err := p.Times(); err == nil {
		ps.cpu = t.User + t.System
	}
	if ms, err := p.CreateTime(); err == nil {
		ps.start = float64(ms) / 1000
	}
	if n, err := p.NumFDs(); err == nil {
		ps.fds = float64(n)
	}
	return ps
}

// httpHandler serves /metrics (Prometheus text format) and /healthz: 200 "ok"
// while no program is fatal, 503 naming the fatal programs otherwise (what an
// orchestrator's liveness probe wants).
func (m *Metrics) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		if err := m.writeTo(r.Context(), &b); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write(b.Bytes())
	})
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

// ServeHTTP listens on addr (host:port) and serves m.httpHandler, bounded by lim
// (the zero Limits: the defaults), until the returned stop is called. The
// listener is open when ServeHTTP returns. A listener that is not on a loopback
// address (":9100", "0.0.0.0:9100", a host's own address) is served all the same
// (a probe from outside a container needs one) but logged as a warning: what it
// serves has no authentication.
func (m *Metrics) ServeHTTP(log hclog.Logger, addr string, lim Limits) (stop func(), err error) {
	h, err := m.ServeHTTPFrom(log, addr, lim, nil)
	if err != nil {
		return nil, err
	}
	return h.Stop, nil
}

// HTTPServer is a running --http server (ServeHTTPFrom).
type HTTPServer struct {
	ln   net.Listener
	gate *acceptGate
	srv  *http.Server
	cl   *connLimit
	stop func()
}

// Stop closes the listener and ends the server.
func (h *HTTPServer) Stop() { h.stop() }

// Listener is its listening socket, for ListenerFile.
func (h *HTTPServer) Listener() net.Listener { return h.ln }

// pauseDrain bounds how long Pause waits for the connections open to end.
const pauseDrain = time.Second

// Pause stops accepting connections without closing the listener, as
// Server's does, and ends the connections open: idle keep-alive ones at once,
// busy ones once their request is answered ("Connection: close"). It waits
// for that up to a second, so that an exec after it cuts no request: a
// scraper's next request finds a new connection, in the backlog. Resume
// undoes it.
func (h *HTTPServer) Pause() {
	h.gate.pause()
	h.srv.SetKeepAlivesEnabled(false)
	deadline := time.Now().Add(pauseDrain)
	for wait := time.Millisecond; h.cl.open() > 0 && time.Now().Before(deadline); wait = min(2*wait, 50*time.Millisecond) {
		time.Sleep(wait) // polling the server's own bookkeeping, under a deadline
	}
}

// Resume accepts connections again after Pause, with keep-alives.
func (h *HTTPServer) Resume() {
	h.srv.SetKeepAlivesEnabled(true)
	h.gate.resume()
}

// ServeHTTPFrom is ServeHTTP on inherited, a TCP listening socket an old
// image of the supervisor served addr on (ListenerFile there), when it is not
// nil; it falls back to listening on addr if inherited is not a TCP listener.
// The caller closes inherited.
func (m *Metrics) ServeHTTPFrom(log hclog.Logger, addr string, lim Limits, inherited *os.File) (*HTTPServer, error) {
	var ln net.Listener
	if inherited != nil {
		l, err := net.FileListener(inherited)
		if _, tcp := l.(*net.TCPListener); err == nil && tcp {
			ln = l
		} else {
			if l != nil {
				l.Close()
			}
			log.Error("upgrade: the http listener was not handed over; listening again", "addr", addr, "error", err)
		}
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("--http %s: %w", addr, err)
		}
	}
	srv, wrap, cl := newHTTPServerConns(log, m.httpHandler(), lim)
	gate := newAcceptGate()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(gate.wrap(wrap(ln))); !errors.Is(err, http.ErrServerClosed) {
			log.Error("http listener failed", "error", err)
		}
	}()
	if !IsLoopback(ln.Addr()) {
		log.Warn("the http listener is reachable from other hosts: /healthz and /metrics (program names, states, exit codes, the supervisor's memory) are served to anyone who can connect, without authentication; listen on 127.0.0.1:PORT unless that is what you want",
			"addr", ln.Addr().String())
	}
	if inherited == nil {
		log.Info("http listener ready", "addr", ln.Addr().String(), "paths", "/healthz /metrics")
	}
	return &HTTPServer{ln: ln, gate: gate, srv: srv, cl: cl, stop: func() { srv.Close(); <-done }}, nil
}

// IsLoopback says whether a is a loopback address (127.0.0.0/8, ::1): reachable
// from this host only. The unspecified address (every interface) is not.
func IsLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
