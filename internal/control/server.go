package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/buildinfo"
	"github.com/supervisor/supervisor/internal/ipc"
	"github.com/supervisor/supervisor/internal/supervise"
)

// Target is what the server steers: a *supervise.Supervisor.
type Target interface {
	Status(ctx context.Context) ([]supervise.Status, error)
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
	// StartWait and RestartWait return once the program is running or failed
	// to get there (supervise.ErrStartFailed).
	StartWait(ctx context.Context, name string) error
	RestartWait(ctx context.Context, name string) error
	Signal(ctx context.Context, name string, sig syscall.Signal) error
	// Group runs start, stop, restart or signal on every program that names
	// (names, glob patterns, "all") name, resolved at once, and returns one
	// outcome per program (supervise.Supervisor.Group).
	Group(ctx context.Context, op string, names []string, sig syscall.Signal, wait bool) ([]supervise.Outcome, error)
	Shutdown(ctx context.Context) error
	// Reload re-reads the configuration and applies it, or changes nothing.
	Reload(ctx context.Context) (supervise.ReloadResult, error)
	// Adopted lists the orphans adopted and not yet reaped.
	Adopted() []supervise.Orphan
	// Request sends a request to one protocol program and returns its reply's body.
	Request(ctx context.Context, name, method string, body []byte) ([]byte, error)
	// RequestAny sends it to the least busy ready program matching pattern, and
	// says which one answered.
	RequestAny(ctx context.Context, pattern, method string, body []byte) (string, []byte, error)
}

// LogReopener is a Target that can reopen its log files (POST
// /v1/reopen-logs): every program's and its own, for an external logrotate.
// A Target without it answers 501.
type LogReopener interface {
	ReopenLogs() error
}

// reopenLogs answers POST /v1/reopen-logs.
func (s *Server) reopenLogs(w http.ResponseWriter, r *http.Request) {
	lr, ok := s.t.(LogReopener)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, apiError{Error: "this supervisor has no log files to reopen", Kind: "failed"})
		return
	}
	if err := lr.ReopenLogs(); err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error(), Kind: "failed"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": "log files reopened"})
}

// RequestArgs is the body of POST /v1/programs/{name}/request.
type RequestArgs struct {
	Method string `json:"method"`
	// Body is the payload, base64 in JSON (any bytes). Text is the same for a
	// payload that is text, for people typing curl; give one or neither.
	Body []byte `json:"body,omitempty"`
	Text string `json:"text,omitempty"`
	// Timeout is a Go duration ("5s"); empty means DefaultRequestTimeout. The
	// request also ends when the client goes away.
	Timeout string `json:"timeout,omitempty"`
}

// GroupArgs is the body of POST /v1/group/{op}.
type GroupArgs struct {
	// Programs are names, path.Match patterns ("web-*", "db?") and "all".
	Programs []string `json:"programs"`
	Sig      string   `json:"sig,omitempty"`     // signal: TERM, USR1, 15, ...
	NoWait   bool     `json:"no_wait,omitempty"` // start, restart: answer once spawned, not once running (ready) or failed
}

// GroupResult is one program's outcome in the reply to POST /v1/group/{op}:
// Result "ok", or Error and Kind as an error reply's.
type GroupResult struct {
	Program string `json:"program"`
	Result  string `json:"result,omitempty"`
	Error   string `json:"error,omitempty"`
	Kind    string `json:"kind,omitempty"`
}

// GroupReply is the reply to POST /v1/group/{op}: every program's outcome, in
// config order.
type GroupReply struct {
	Results []GroupResult `json:"results"`
}

// maxGroupJSON bounds the body of a group operation.
const maxGroupJSON = 1 << 20

// RequestReply is the answer to a request that the program answered.
type RequestReply struct {
	Program string `json:"program"`        // who answered: the name, or the pool member chosen
	Body    []byte `json:"body"`           // the reply, base64 in JSON
	Text    string `json:"text,omitempty"` // the reply again, if it is valid UTF-8
}

// DefaultRequestTimeout bounds a request that names no timeout.
const DefaultRequestTimeout = 30 * time.Second

// maxRequestJSON bounds the JSON of a request: a payload of one frame
// (ipc.DefaultMaxFrame), in base64, with room to spare.
const maxRequestJSON = 2 * ipc.DefaultMaxFrame

// TreeInfo is what a client needs to draw the supervisor's process tree from
// its own view of /proc: whose tree, which pids are programs, which orphans.
type TreeInfo struct {
	Pid      int             `json:"pid"`
	PidNS    uint64          `json:"pid_ns,omitempty"` // inode of the supervisor's PID namespace: its pids mean something only there
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
	// Protocol programs: requests sent and not answered yet.
	RequestsInFlight int `json:"requests_in_flight,omitempty"`
	// In backoff: seconds until the next start, counted down (absent when the
	// start waits for a group restart's stops).
	RestartInSeconds *float64 `json:"restart_in_seconds,omitempty"`
	// Readiness is where its readiness comes from: protocol, sd_notify, s6,
	// ready_probe, forking or min_uptime; when running, Reason says how it got
	// there. HeartbeatAgeSeconds is then also the age of sd_notify's last
	// WATCHDOG=1.
	Readiness string `json:"readiness,omitempty"`
}

// apiError is the body of every error reply.
type apiError struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

// Server answers the control API for one Target.
type Server struct {
	log     hclog.Logger
	t       Target
	j       *Journal
	srv     *http.Server
	wrap    func(net.Listener) net.Listener // applies the connection cap
	gate    *acceptGate                     // Pause and Resume
	closing chan struct{}                   // closed by Close: streams end with a last "closed" line
	once    sync.Once
}

// NewServer returns a Server for t, showing output and events from j (which must
// be t's OnEvent and OnOutput hooks), bounded by lim (the zero Limits: the
// defaults).
func NewServer(log hclog.Logger, t Target, j *Journal, lim Limits) *Server {
	s := &Server{log: log, t: t, j: j, closing: make(chan struct{}), gate: newAcceptGate()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("GET /v1/tree", s.tree)
	mux.HandleFunc("GET /v1/programs/{name}/logs", s.logs)
	mux.HandleFunc("GET /v1/logs", s.logsOf)
	mux.HandleFunc("POST /v1/programs/{name}/{op}", s.program)
	mux.HandleFunc("POST /v1/programs/{name}/request", s.request) // more specific than {op}: wins
	mux.HandleFunc("POST /v1/group/{op}", s.group)
	mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, buildinfo.Get())
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.t.Reload(r.Context())
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, apiError{Error: err.Error(), Kind: "reload_refused"})
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /v1/reopen-logs", s.reopenLogs)
	mux.HandleFunc("POST /v1/upgrade", s.upgrade)
	mux.HandleFunc("POST /v1/shutdown", func(w http.ResponseWriter, r *http.Request) {
		s.reply(w, s.t.Shutdown(r.Context()), map[string]string{"result": "shutting down"})
	})
	s.srv, s.wrap = newHTTPServer(log, mux, lim)
	return s
}

// Serve answers connections on ln until Close, holding at most the Limits'
// MaxConns of them; it returns nil after Close. It may be called for several
// listeners (a unix one from Listen, a TCP one), each in its own goroutine;
// Pause pauses them all.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(s.gate.wrap(s.wrap(ln))); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the server and closes its listener (which removes the socket).
// Streams (events, logs -f) end first with a last line of kind "closed", so their
// clients see the supervisor stop rather than a cut connection; requests still
// running get a second to finish.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.closing) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.t.Status(r.Context())
	if err != nil {
		s.reply(w, err, nil)
		return
	}
	s.reply(w, nil, statusOf(st, time.Now()))
}

// statusOf converts supervise.Status snapshots taken at now.
func statusOf(st []supervise.Status, now time.Time) []ProgramStatus {
	out := make([]ProgramStatus, 0, len(st))
	for _, p := range st {
		ps := ProgramStatus{Name: p.Name, State: string(p.State), Pid: p.Pid, Kind: string(p.Kind), Restarts: p.Restarts, Reason: p.Reason,
			StatusText: p.StatusText, HeartbeatSeq: p.HeartbeatSeq, Leaked: p.Leaked, RequestsInFlight: p.InFlight,
			Readiness: p.Readiness}
		if !p.Started.IsZero() {
			t := p.Started
			ps.Started = &t
			if p.Live() {
				ps.UptimeSeconds = now.Sub(t).Seconds()
			}
		}
		if !p.RestartAt.IsZero() {
			in := max(p.RestartAt.Sub(now).Seconds(), 0)
			ps.RestartInSeconds = &in
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
	// start and restart answer once the program is running (ready) or failed
	// to get there; ?wait=false once it was spawned.
	wait := r.URL.Query().Get("wait") != "false"
	var err error
	switch op {
	case "start":
		if wait {
			err = s.t.StartWait(r.Context(), name)
		} else {
			err = s.t.Start(r.Context(), name)
		}
	case "stop":
		err = s.t.Stop(r.Context(), name)
	case "restart":
		if wait {
			err = s.t.RestartWait(r.Context(), name)
		} else {
			err = s.t.Restart(r.Context(), name)
		}
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

// group answers POST /v1/group/{op}: op on every program GroupArgs.Programs
// name. 200 with every program's outcome (some may have failed); 404 when a
// name or pattern matches nothing, and then nothing was done.
func (s *Server) group(w http.ResponseWriter, r *http.Request) {
	op := r.PathValue("op")
	switch op {
	case "start", "stop", "restart", "signal":
	default:
		writeJSON(w, http.StatusNotFound, apiError{Error: "unknown operation " + op + " (want start, stop, restart or signal)", Kind: "bad_request"})
		return
	}
	var args GroupArgs
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxGroupJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "request body: " + err.Error(), Kind: "bad_request"})
		return
	}
	if len(args.Programs) == 0 || slices.Contains(args.Programs, "") {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "programs: give one or more names, patterns or all (none empty)", Kind: "bad_request"})
		return
	}
	var sig syscall.Signal
	if op == "signal" {
		var err error
		if sig, err = ParseSignal(args.Sig); err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error(), Kind: "bad_request"})
			return
		}
	}
	outs, err := s.t.Group(r.Context(), op, args.Programs, sig, !args.NoWait)
	if errors.Is(err, path.ErrBadPattern) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error(), Kind: "bad_request"})
		return
	}
	if err != nil {
		s.reply(w, err, nil)
		return
	}
	rep := GroupReply{Results: make([]GroupResult, len(outs))}
	for i, o := range outs {
		rep.Results[i] = GroupResult{Program: o.Program, Result: "ok"}
		if o.Err != nil {
			_, kind := errorKind(o.Err)
			rep.Results[i] = GroupResult{Program: o.Program, Error: o.Err.Error(), Kind: kind}
		} else {
			s.log.Info("control: done", "op", op, "program", o.Program)
		}
	}
	writeJSON(w, http.StatusOK, rep)
}

// request answers POST /v1/programs/{name}/request: name is a program, or a
// pool pattern (supervise.IsPattern) for RequestAny.
func (s *Server) request(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	call, code, problem := decodeRequest(http.MaxBytesReader(w, r.Body, maxRequestJSON))
	if problem != nil {
		writeJSON(w, code, problem)
		return
	}
	timeout := call.timeout
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	var out []byte
	var err error
	who := name
	if supervise.IsPattern(name) {
		who, out, err = s.t.RequestAny(ctx, name, call.method, call.body)
	} else {
		out, err = s.t.Request(ctx, name, call.method, call.body)
	}
	if err != nil {
		s.log.Debug("request failed", "program", name, "method", call.method, "error", err)
		code, kind := http.StatusBadGateway, "failed" // the worker failed, or failed to answer
		switch {
		case errors.Is(err, supervise.ErrNoSuchProgram):
			code, kind = http.StatusNotFound, "no_such_program"
		case errors.Is(err, supervise.ErrNotProtocol):
			code, kind = http.StatusConflict, "not_protocol"
		case errors.Is(err, supervise.ErrNotReady):
			code, kind = http.StatusConflict, "not_ready"
		case errors.Is(err, path.ErrBadPattern):
			code, kind = http.StatusBadRequest, "bad_request"
		case errors.Is(err, ipc.ErrFrameTooLarge):
			code, kind = http.StatusRequestEntityTooLarge, "too_large"
		case errors.Is(err, context.DeadlineExceeded):
			code, kind = http.StatusGatewayTimeout, "timeout"
			err = fmt.Errorf("%w (timeout %s)", err, timeout)
		}
		writeJSON(w, code, apiError{Error: err.Error(), Kind: kind})
		return
	}
	rep := RequestReply{Program: who, Body: out}
	if utf8.Valid(out) {
		rep.Text = string(out)
	}
	writeJSON(w, http.StatusOK, rep)
}

// requestCall is a request body, decoded and checked.
type requestCall struct {
	method  string
	body    []byte
	timeout time.Duration
}

// decodeRequest decodes the JSON body of a request (RequestArgs; from an
// http.MaxBytesReader of maxRequestJSON) and checks it; on failure it returns
// the status and error body to answer with.
func decodeRequest(rd io.Reader) (requestCall, int, *apiError) {
	var args RequestArgs
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return requestCall{}, http.StatusRequestEntityTooLarge, &apiError{Error: fmt.Sprintf("request body over %d bytes", maxRequestJSON), Kind: "too_large"}
		}
		return requestCall{}, http.StatusBadRequest, &apiError{Error: "request body: " + err.Error(), Kind: "bad_request"}
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) { // one object, nothing after it
		return requestCall{}, http.StatusBadRequest, &apiError{Error: "request body: more than one JSON object", Kind: "bad_request"}
	}
	call := requestCall{method: args.Method, body: args.Body, timeout: DefaultRequestTimeout}
	var problem string
	switch {
	case args.Method == "":
		problem = "no method given"
	case len(args.Body) > 0 && args.Text != "":
		problem = "give body or text, not both"
	case args.Timeout != "":
		d, err := time.ParseDuration(args.Timeout)
		if err != nil || d <= 0 {
			problem = "timeout " + strconv.Quote(args.Timeout) + ": want a positive duration such as 5s"
		}
		call.timeout = d
	}
	if problem != "" {
		return requestCall{}, http.StatusBadRequest, &apiError{Error: problem, Kind: "bad_request"}
	}
	if args.Text != "" {
		call.body = []byte(args.Text)
	}
	return call, http.StatusOK, nil
}

func (s *Server) reply(w http.ResponseWriter, err error, body any) {
	if err == nil {
		writeJSON(w, http.StatusOK, body)
		return
	}
	code, kind := errorKind(err)
	writeJSON(w, code, apiError{Error: err.Error(), Kind: kind})
}

// errorKind is the HTTP status and kind of an error of a program operation.
func errorKind(err error) (int, string) {
	switch {
	case errors.Is(err, supervise.ErrNoSuchProgram):
		return http.StatusNotFound, "no_such_program"
	case errors.Is(err, supervise.ErrAlreadyStarted), errors.Is(err, supervise.ErrNotRunning),
		errors.Is(err, supervise.ErrBusy), errors.Is(err, supervise.ErrShuttingDown):
		return http.StatusConflict, "conflict"
	}
	return http.StatusInternalServerError, "failed"
}

func (s *Server) tree(w http.ResponseWriter, r *http.Request) {
	st, err := s.t.Status(r.Context())
	if err != nil {
		s.reply(w, err, nil)
		return
	}
	info := TreeInfo{Pid: os.Getpid(), PidNS: pidNamespace(), Programs: statusOf(st, time.Now()), Adopted: []AdoptedOrphan{}}
	for _, o := range s.t.Adopted() {
		info.Adopted = append(info.Adopted, AdoptedOrphan{Pid: o.Pid, Comm: o.Comm, StartTicks: o.StartTicks, Seen: o.Seen})
	}
	s.reply(w, nil, info)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ch, cancel := s.j.followEvents()
	defer cancel()
	stream(w, r, s.closing, nil, ch, nil)
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
	s.serveLogs(w, r, []string{name})
}

// logsOf answers GET /v1/logs?program=A&program=web-*&lines=N[&follow=1]: the
// output of every program the program parameters name (names, glob patterns,
// "all"), resolved once against the programs there are; the last N lines of
// each, merged in time order, and with follow every later line of any of them,
// on one connection however many programs. A name or pattern that matches
// nothing is a 404 naming it.
func (s *Server) logsOf(w http.ResponseWriter, r *http.Request) {
	args := r.URL.Query()["program"]
	if len(args) == 0 || slices.Contains(args, "") {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "give one or more program=NAME (a name, a pattern or all)", Kind: "bad_request"})
		return
	}
	st, err := s.t.Status(r.Context())
	if err != nil {
		s.reply(w, err, nil)
		return
	}
	names := make([]string, len(st))
	for i, p := range st {
		names[i] = p.Name
	}
	progs, missing, err := supervise.MatchPrograms(names, args)
	switch {
	case err != nil:
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error(), Kind: "bad_request"})
		return
	case len(missing) > 0:
		s.reply(w, fmt.Errorf("logs %s: %w", quoteAll(missing), supervise.ErrNoSuchProgram), nil)
		return
	}
	s.serveLogs(w, r, progs)
}

// serveLogs answers a logs request for progs, programs there are: the last
// lines= lines of each, merged in time order, and with follow= every later one.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request, progs []string) {
	n, err := parseLines(r.URL.Query().Get("lines"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error(), Kind: "bad_request"})
		return
	}
	if r.URL.Query().Get("follow") == "" {
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, l := range s.j.recentSet(progs, n) {
			_ = enc.Encode(l)
		}
		return
	}
	recent, ch, cancel := s.j.followSet(progs, n)
	defer cancel()
	set := make(map[string]bool, len(progs))
	for _, p := range progs {
		set[p] = true
	}
	stream(w, r, s.closing, recent, ch, func(l LogRecord) bool { return set[l.Program] })
}

// quoteAll quotes each of ss and joins them with ", ".
func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// parseLines parses the lines parameter of logs: empty means defaultLogLines.
func parseLines(v string) (int, error) {
	if v == "" {
		return defaultLogLines, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errors.New("lines=" + v + ": want a number >= 0")
	}
	return n, nil
}

// stream writes first, then every record from ch that keep accepts (all if keep
// is nil), one JSON object a line, flushed per record, until the client goes, ch
// is closed (the follower fell behind) or closing is (the supervisor stops); the
// last line says which of the last two.
func stream[T any](w http.ResponseWriter, r *http.Request, closing <-chan struct{}, first []T, ch <-chan T, keep func(T) bool) {
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
		case <-closing:
			_ = enc.Encode(apiError{Error: "the supervisor stopped", Kind: KindClosed})
			return
		}
	}
}

// KindClosed is the kind of the last line of a stream the supervisor ended
// because it stops.
const KindClosed = "closed"

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

// pidNamespace is the inode of this process's PID namespace, or 0 if unknown.
func pidNamespace() uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/pid", &st); err != nil {
		return 0
	}
	return st.Ino
}
