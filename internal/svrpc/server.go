package svrpc

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/buildinfo"
	"github.com/supervisor/supervisor/internal/control"
	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/xmlrpc"
)

// Backend is what the interface steers: a *supervise.Supervisor.
type Backend interface {
	Status(ctx context.Context) ([]supervise.Status, error)
	Start(ctx context.Context, name string) error
	StartWait(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	Signal(ctx context.Context, name string, sig syscall.Signal) error
	Group(ctx context.Context, op string, names []string, sig syscall.Signal, wait bool) ([]supervise.Outcome, error)
	Reload(ctx context.Context, g supervise.Group) (supervise.ReloadResult, error)
	Shutdown(ctx context.Context) error
	ShuttingDown() bool
}

var _ Backend = (*supervise.Supervisor)(nil)

// Options configures a Server.
type Options struct {
	// Backend is the supervisor; required.
	Backend Backend
	// Layout is the configuration the Backend runs now.
	Layout Layout
	// Loader re-reads the configuration (reloadConfig, restart); nil makes
	// reloadConfig fail with CANT_REREAD and restart only restart the programs.
	Loader Loader
	// Logfile is the supervisor's own log file (readLog, clearLog,
	// /mainlogtail); "" for none (NO_FILE).
	Logfile string
	// Identification is getIdentification's answer; "" means "supervisor"
	// (supervisord's default identifier).
	Identification string
	// Version is getSupervisorVersion's answer; "" means buildinfo's.
	Version string
	// MaxStreams bounds the /logtail and /mainlogtail streams open at once;
	// 0 means DefaultMaxStreams. One more is answered 503.
	MaxStreams int
	// Limits bound each listener's connections (control.Limits: the control
	// socket's caps and timeouts).
	Limits control.Limits
	// Restart, if set, is what supervisor.restart does (supervisorctl
	// reload): cmd/supervisor may re-execute itself. It is called on its own
	// goroutine once the reply is on its way. Nil means: stop every program,
	// re-read the configuration (Loader), apply it (Backend.Reload) and start
	// the programs that autostart.
	Restart func(ctx context.Context) error
	// Poll is how often a log stream looks for new bytes; 0 means 200ms.
	Poll time.Duration
	// OnChange, if set, is called with the new running Layout each time this
	// interface changes what the Backend runs (addProcessGroup,
	// removeProcessGroup, restart), after Backend.Reload succeeded, so that
	// other views of the configuration (the native control socket's reload)
	// can follow. It must not block for long, nor call back into the Server.
	OnChange func(Layout)
}

// DefaultMaxStreams is the default bound of log streams open at once.
const DefaultMaxStreams = 16

// Auth is the HTTP Basic credentials a listener requires: none when Username
// is "". A Password that starts with "{SHA}" is the hex SHA-1 of the password,
// as supervisord reads it.
type Auth struct {
	Username, Password string
}

// Server serves supervisord's XML-RPC interface (POST /RPC2) and its log
// streams (GET /logtail/..., /mainlogtail) for one Backend, on any number of
// listeners.
type Server struct {
	log     hclog.Logger
	o       Options
	streams chan struct{} // a slot per open log stream
	ctx     context.Context
	cancel  context.CancelFunc // Close: ends streams and background work

	// cfg serializes what changes the configuration (addProcessGroup,
	// removeProcessGroup, restart): each reads running, reloads, and writes it.
	cfg sync.Mutex

	mu      sync.Mutex
	running Layout // what the Backend runs
	pending Layout // the configuration last read (at start, or by reloadConfig)
	srvs    []*http.Server
	closed  bool
	gate    control.AcceptGate // Pause, Resume
}

// NewServer returns a Server for o. Nothing is served until Serve.
func NewServer(log hclog.Logger, o Options) (*Server, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if o.Backend == nil {
		return nil, errors.New("svrpc: Options.Backend is nil")
	}
	if o.Identification == "" {
		o.Identification = "supervisor"
	}
	if o.Version == "" {
		o.Version = buildinfo.Get().Version
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := o.Layout.normalize()
	return &Server{log: log, o: o, streams: make(chan struct{}, o.MaxStreams), ctx: ctx, cancel: cancel, running: l, pending: l,
		gate: control.NewAcceptGate()}, nil
}

// SetLayout says that the Backend now runs l (after a reload by other means:
// the native control socket, SIGHUP): the process names, groups and log files
// this interface answers with, and the configuration reloadConfig compares
// with. Safe for concurrent use.
func (s *Server) SetLayout(l Layout) {
	l = l.normalize()
	s.mu.Lock()
	s.running, s.pending = l, l
	s.mu.Unlock()
}

// setRunning records what the Backend runs after a change made here.
func (s *Server) setRunning(l Layout) {
	s.mu.Lock()
	s.running = l
	s.mu.Unlock()
	if s.o.OnChange != nil {
		s.o.OnChange(l)
	}
}

// Handler is the HTTP handler, requiring a (if a.Username is set).
func (s *Server) Handler(a Auth) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/RPC2", s.rpc)
	mux.HandleFunc("/logtail/", s.logtail)
	mux.HandleFunc("/mainlogtail", s.mainlogtail)
	if a.Username == "" {
		return mux
	}
	return requireAuth(mux, a)
}

// Serve serves ln with a's credentials until Close, and closes ln. It returns
// nil after Close, else why it stopped.
func (s *Server) Serve(ln net.Listener, a Auth) error {
	srv, wrap := control.NewHTTPServer(s.log, s.Handler(a), s.o.Limits)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.srvs = append(s.srvs, srv)
	s.mu.Unlock()
	err := srv.Serve(s.gate.Wrap(wrap(ln)))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Pause stops accepting connections on every listener without closing them,
// and closes idle keep-alive connections, for an in-place upgrade of the
// supervisor: clients wait in the backlog for the new image. Resume undoes it.
func (s *Server) Pause() {
	s.gate.Pause()
	s.keepAlives(false)
}

// Resume accepts connections again after Pause.
func (s *Server) Resume() {
	s.keepAlives(true)
	s.gate.Resume()
}

func (s *Server) keepAlives(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, srv := range s.srvs {
		srv.SetKeepAlivesEnabled(on)
	}
}

// Close stops every Serve, ends the log streams, and waits up to a second for
// requests still running. Safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	srvs := s.srvs
	s.srvs = nil
	s.mu.Unlock()
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var errs []error
	for _, srv := range srvs {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err, srv.Close())
		}
	}
	return errors.Join(errs...)
}

// requireAuth answers 401 unless the request carries a's credentials.
func requireAuth(h http.Handler, a Auth) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || !checkPassword(a, u, p) {
			w.Header().Set("WWW-Authenticate", `Basic realm="default"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func checkPassword(a Auth, user, pass string) bool {
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(a.Username)) == 1
	want := a.Password
	if hash, ok := strings.CutPrefix(want, "{SHA}"); ok {
		sum := sha1.Sum([]byte(pass))
		return okUser && subtle.ConstantTimeCompare([]byte(strings.ToLower(hash)), []byte(hex.EncodeToString(sum[:]))) == 1
	}
	return okUser && subtle.ConstantTimeCompare([]byte(pass), []byte(want)) == 1
}

// rpc answers POST /RPC2.
func (s *Server) rpc(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "XML-RPC wants POST", http.StatusMethodNotAllowed)
		return
	}
	method, params, err := xmlrpc.DecodeCall(r.Body)
	var v any
	if err != nil {
		v = &xmlrpc.Fault{Code: ParseError, String: "PARSE_ERROR: " + err.Error()}
	} else {
		budget := MaxRead
		v = s.call(r.Context(), method, params, 0, &budget)
	}
	w.Header().Set("Content-Type", "text/xml")
	if f, ok := v.(*xmlrpc.Fault); ok {
		_ = xmlrpc.EncodeFault(w, f) // a client gone is not ours to report
		return
	}
	var b strings.Builder
	if err := xmlrpc.EncodeResponse(&b, v); err != nil {
		s.log.Error("cannot encode a reply", "method", method, "error", err)
		_ = xmlrpc.EncodeFault(w, &xmlrpc.Fault{Code: Failed, String: "FAILED: " + err.Error()})
		return
	}
	_, _ = w.Write([]byte(b.String()))
}

// pid is getPID's answer.
func pid() int { return os.Getpid() }
