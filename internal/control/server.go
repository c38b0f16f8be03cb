package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/supervise"
)

// Target is what the server steers: a *supervise.Supervisor.
type Target interface {
	Status(ctx context.Context) ([]supervise.Status, error)
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
	Signal(ctx context.Context, name string, sig syscall.Signal) error
	Shutdown(ctx context.Context) error
	// Reload re-reads the configuration and applies it, or changes nothing.
	Reload(ctx context.Context) (supervise.ReloadResult, error)
	// Adopted lists the orphans adopted and not yet reaped.
	Adopted() []supervise.Orphan
}

// TreeInfo is what a client needs to draw the supervisor's process tree from
// its own view of /proc: whose tree, which pids are programs, which orphans.
type TreeInfo struct {
	Pid      int             `json:"pid"`
	Programs []ProgramStatus `json:"programs"`
	Adopted  []AdoptedOrphan `json:"adopted"`
}

// AdoptedOrphan is an orphan the supervisor adopted and has not reaped yet.
type AdoptedOrphan struct {
	Pid        int       `json:"pid"`
	Comm       string    `json:"comm"`
	StartTicks uint64    `json:"start_ticks"`
	Seen       time.Time `json:"seen"`
}

// ProgramStatus is one program in the status reply: supervise.Status made for
// people and scripts.
type ProgramStatus struct {
	Name          string     `json:"name"`
	State         string     `json:"state"`
	Pid           int        `json:"pid,omitempty"`
	Kind          string     `json:"kind,omitempty"` // "goroutine" for a goroutine worker (no pid), else its spawner
	Started       *time.Time `json:"started,omitempty"`
	UptimeSeconds float64    `json:"uptime_seconds,omitempty"`
	Restarts      int        `json:"restarts"`
	LastExit      string     `json:"last_exit,omitempty"` // "exit status 1", "signal SIGKILL", ...
	LastExitCode  *int       `json:"last_exit_code,omitempty"`
	Reason        string     `json:"reason,omitempty"`
	StatusText    string     `json:"status_text,omitempty"`
	// Protocol programs: seconds since the last heartbeat (or Ready), and its sequence number.
	HeartbeatAgeSeconds *float64 `json:"heartbeat_age_seconds,omitempty"`
	HeartbeatSeq        uint64   `json:"heartbeat_seq,omitempty"`
	// Goroutine workers: runs that ignored their stop and still run.
	Leaked int `json:"leaked,omitempty"`
}

// apiError is the body of every error reply.
type apiError struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

// Server answers the control API for one Target.
type Server struct {
	log hclog.Logger
	t   Target
	j   *Journal
	srv *http.Server
}

// NewServer returns a Server for t, showing output and events from j (which must
// be t's OnEvent and OnOutput hooks).
func NewServer(log hclog.Logger, t Target, j *Journal) *Server {
	s := &Server{log: log, t: t, j: j}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("GET /v1/tree", s.tree)
	mux.HandleFunc("GET /v1/programs/{name}/logs", s.logs)
	mux.HandleFunc("POST /v1/programs/{name}/{op}", s.program)
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.t.Reload(r.Context())
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, apiError{Error: err.Error(), Kind: "reload_refused"})
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /v1/shutdown", func(w http.ResponseWriter, r *http.Request) {
		s.reply(w, s.t.Shutdown(r.Context()), map[string]string{"result": "shutting down"})
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})}
	return s
}

// Serve answers connections on ln until Close; it returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the server and closes its listener (which removes the socket).
func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.t.Status(r.Context())
	if err != nil {
		s.reply(w, err, nil)
		return
	}
	s.reply(w, nil, StatusOf(st, time.Now()))
}

// StatusOf converts supervise.Status snapshots taken at now.
func StatusOf(st []supervise.Status, now time.Time) []ProgramStatus {
	out := make([]ProgramStatus, 0, len(st))
	for _, p := range st {
		ps := ProgramStatus{Name: p.Name, State: string(p.State), Pid: p.Pid, Kind: string(p.Kind), Restarts: p.Restarts, Reason: p.Reason,
			StatusText: p.StatusText, HeartbeatSeq: p.HeartbeatSeq, Leaked: p.Leaked}
		if !p.Started.IsZero() {
			t := p.Started
			ps.Started = &t
			if p.Live() {
				ps.UptimeSeconds = now.Sub(t).Seconds()
			}
		}
		if p.LastExit != nil {
			ps.LastExit = p.LastExit.String()
			code := p.LastExit.ShellCode()
			ps.LastExitCode = &code
		}
		if !p.LastHeartbeat.IsZero() && p.Live() {
			age := now.Sub(p.LastHeartbeat).Seconds()
			ps.HeartbeatAgeSeconds = &age
		}
		out = append(out, ps)
	}
	return out
}

func (s *Server) program(w http.ResponseWriter, r *http.Request) {
	name, op := r.PathValue("name"), r.PathValue("op")
	var err error
	switch op {
	case "start":
		err = s.t.Start(r.Context(), name)
	case "stop":
		err = s.t.Stop(r.Context(), name)
	case "restart":
		err = s.t.Restart(r.Context(), name)
	case "signal":
		sig, perr := ParseSignal(r.URL.Query().Get("sig"))
		if perr != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: perr.Error(), Kind: "bad_request"})
			return
		}
		err = s.t.Signal(r.Context(), name, sig)
	default:
		writeJSON(w, http.StatusNotFound, apiError{Error: "unknown operation " + op + " (want start, stop, restart or signal)", Kind: "bad_request"})
		return
	}
	if err == nil {
		s.log.Info("control: done", "op", op, "program", name)
	}
	s.reply(w, err, map[string]string{"result": op + " " + name + ": ok"})
}

func (s *Server) reply(w http.ResponseWriter, err error, body any) {
	if err == nil {
		writeJSON(w, http.StatusOK, body)
		return
	}
	code, kind := http.StatusInternalServerError, "failed"
	switch {
	case errors.Is(err, supervise.ErrNoSuchProgram):
		code, kind = http.StatusNotFound, "no_such_program"
	case errors.Is(err, supervise.ErrAlreadyStarted), errors.Is(err, supervise.ErrNotRunning),
		errors.Is(err, supervise.ErrBusy), errors.Is(err, supervise.ErrShuttingDown):
		code, kind = http.StatusConflict, "conflict"
	}
	writeJSON(w, code, apiError{Error: err.Error(), Kind: kind})
}

func (s *Server) tree(w http.ResponseWriter, r *http.Request) {
	st, err := s.t.Status(r.Context())
	if err != nil {
		s.reply(w, err, nil)
		return
	}
	info := TreeInfo{Pid: os.Getpid(), Programs: StatusOf(st, time.Now()), Adopted: []AdoptedOrphan{}}
	for _, o := range s.t.Adopted() {
		info.Adopted = append(info.Adopted, AdoptedOrphan{Pid: o.Pid, Comm: o.Comm, StartTicks: o.StartTicks, Seen: o.Seen})
	}
	s.reply(w, nil, info)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ch, cancel := s.j.FollowEvents()
	defer cancel()
	stream(w, r, nil, ch, nil)
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st, err := s.t.Status(r.Context())
	if err != nil {
		s.reply(w, err, nil)
		return
	}
	if !slices.ContainsFunc(st, func(p supervise.Status) bool { return p.Name == name }) {
		s.reply(w, fmt.Errorf("logs %s: %w", name, supervise.ErrNoSuchProgram), nil)
		return
	}
	n := DefaultLogLines
	if v := r.URL.Query().Get("lines"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "lines=" + v + ": want a number >= 0", Kind: "bad_request"})
			return
		}
	}
	if r.URL.Query().Get("follow") == "" {
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, l := range s.j.Recent(name, n) {
			_ = enc.Encode(l)
		}
		return
	}
	recent, ch, cancel := s.j.Follow(name, n)
	defer cancel()
	stream(w, r, recent, ch, func(l LogRecord) bool { return l.Program == name })
}

// stream writes first, then every record from ch that keep accepts (all if keep
// is nil), one JSON object a line, flushed per record, until the client goes or
// ch is closed (the follower fell behind: the last line says so).
func stream[T any](w http.ResponseWriter, r *http.Request, first []T, ch <-chan T, keep func(T) bool) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	for _, v := range first {
		_ = enc.Encode(v)
	}
	_ = rc.Flush()
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				_ = enc.Encode(apiError{Error: "this follower fell behind and records were dropped; reconnect", Kind: "lagged"})
				return
			}
			if keep == nil || keep(v) {
				if enc.Encode(v) != nil || rc.Flush() != nil {
					return
				}
			}
		case <-r.Context().Done():
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// ParseSignal parses "TERM", "SIGTERM", "term" or a number.
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return 0, errors.New("no signal given")
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	var n int
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("unknown signal " + s)
		}
		n = n*10 + int(c-'0')
		if n > 64 {
			return 0, errors.New("signal number " + s + " out of range")
		}
	}
	if n == 0 {
		return 0, errors.New("signal 0 is not a signal")
	}
	return syscall.Signal(n), nil
}
