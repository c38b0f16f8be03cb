package probe_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/probe"
)

// patience bounds every wait in these tests; nothing should come near it.
const patience = 10 * time.Second

// fast is a Spec with test-sized timings.
func fast(s probe.Spec) probe.Spec {
	s.Interval, s.Timeout, s.Failures = 10*time.Millisecond, 2*time.Second, 3
	return s
}

// started is a running probe and the results it reported.
type started struct {
	p       *probe.Probe
	results chan probe.Result
	cancel  context.CancelFunc
}

// start starts a probe (StartReady or StartLive) whose results go to a channel.
// The probe is stopped, and its goroutine waited for, at cleanup.
func start(t *testing.T, startFn func(context.Context, probe.Spec, probe.Runner, func(probe.Result)) (*probe.Probe, error),
	s probe.Spec, run probe.Runner) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	results := make(chan probe.Result, 16)
	report := func(r probe.Result) {
		select {
		case results <- r:
		case <-ctx.Done():
		}
	}
	p, err := startFn(ctx, s, run, report)
	if err != nil {
		cancel()
		t.Fatalf("start %s: %v", s, err)
	}
	st := &started{p: p, results: results, cancel: cancel}
	t.Cleanup(func() { st.stop(t) })
	return st
}

// next waits for the next result.
func (st *started) next(t *testing.T) probe.Result {
	t.Helper()
	select {
	case r := <-st.results:
		return r
	case <-time.After(patience):
		t.Fatalf("no result within %s", patience)
		return probe.Result{}
	}
}

// stop cancels the probe and waits for its goroutine to end.
func (st *started) stop(t *testing.T) {
	t.Helper()
	st.cancel()
	st.waitDone(t)
}

func (st *started) waitDone(t *testing.T) {
	t.Helper()
	select {
	case <-st.p.Done():
	case <-time.After(patience):
		t.Fatalf("probe goroutine still running %s after it should have ended", patience)
	}
}

// noMore asserts that no result is waiting; call it after a causal event (Done).
func (st *started) noMore(t *testing.T) {
	t.Helper()
	select {
	case r := <-st.results:
		t.Fatalf("unexpected result after the probe ended: %+v", r)
	default:
	}
}

// freePort returns a loopback address nothing listens on (it was free a moment ago).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func wantOK(t *testing.T, r probe.Result, attempt int) {
	t.Helper()
	if !r.OK || r.Err != nil || r.Failures != 0 || r.Failed || r.Attempt != attempt {
		t.Fatalf("result %+v, want attempt %d OK", r, attempt)
	}
}

func wantFail(t *testing.T, r probe.Result, attempt, failures int, failed bool, errText string) {
	t.Helper()
	if r.OK || r.Err == nil || r.Attempt != attempt || r.Failures != failures || r.Failed != failed || r.Recovered != 0 {
		t.Fatalf("result %+v, want attempt %d failed (failures %d, Failed %v)", r, attempt, failures, failed)
	}
	if !strings.Contains(r.Err.Error(), errText) {
		t.Fatalf("attempt %d error %q, want it to contain %q", attempt, r.Err, errText)
	}
}

func TestTCPReady(t *testing.T) {
	t.Parallel()
	ln := listen(t, "127.0.0.1:0")
	st := start(t, probe.StartReady, fast(probe.Spec{Kind: probe.TCP, Target: ln.Addr().String()}), nil)
	wantOK(t, st.next(t), 1)
	st.waitDone(t) // readiness ends at its first success, without a cancel
	st.noMore(t)
}

// A readiness probe keeps trying until the program listens, then reports how
// many failures the success ended.
func TestTCPReadyAfterFailures(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	st := start(t, probe.StartReady, fast(probe.Spec{Kind: probe.TCP, Target: addr}), nil)
	for i := 1; i <= 4; i++ { // past Failures: readiness never reports Failed
		wantFail(t, st.next(t), i, i, false, "connection refused")
	}
	listen(t, addr)
	var r probe.Result
	for r = st.next(t); !r.OK; r = st.next(t) { // an attempt may have started before Listen
	}
	if r.Recovered != r.Attempt-1 {
		t.Fatalf("result %+v: Recovered should count the %d failures before", r, r.Attempt-1)
	}
	st.waitDone(t)
	st.noMore(t)
}

func TestTCPLiveFails(t *testing.T) {
	t.Parallel()
	st := start(t, probe.StartLive, fast(probe.Spec{Kind: probe.TCP, Target: freePort(t)}), nil)
	for i := 1; i <= 5; i++ {
		wantFail(t, st.next(t), i, i, i == 3, "connection refused")
	}
}

// counting returns a server whose handler answers request n (from 1) with
// status(n).
func counting(t *testing.T, status func(n int64) int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status(n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// Liveness: Failures in a row report Failed once; the success after reports
// how many failures it ended; a new run of failures counts from 1 again.
func TestLiveFailureAndRecovery(t *testing.T) {
	t.Parallel()
	srv, _ := counting(t, func(n int64) int {
		switch {
		case n == 1, n >= 6 && n <= 7:
			return http.StatusOK
		case n <= 5:
			return http.StatusServiceUnavailable
		}
		return http.StatusInternalServerError
	})
	s := fast(probe.Spec{Kind: probe.HTTP, Target: srv.URL})
	st := start(t, probe.StartLive, s, nil)
	wantOK(t, st.next(t), 1)
	for i := 1; i <= 4; i++ {
		wantFail(t, st.next(t), 1+i, i, i == 3, "status 503 Service Unavailable")
	}
	r := st.next(t)
	wantOK(t, r, 6)
	if r.Recovered != 4 {
		t.Fatalf("result %+v, want Recovered 4", r)
	}
	r = st.next(t)
	wantOK(t, r, 7)
	if r.Recovered != 0 {
		t.Fatalf("result %+v, want Recovered 0 after a success", r)
	}
	for i := 1; i <= 3; i++ {
		wantFail(t, st.next(t), 7+i, i, i == 3, "status 500 Internal Server Error")
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/found", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	})
	mux.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, strings.Repeat("x", 1<<20), http.StatusInternalServerError)
	})
	mux.HandleFunc("/notfound", http.NotFound)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tlsSrv := httptest.NewTLSServer(mux) // self-signed: a probe does not check certificates
	t.Cleanup(tlsSrv.Close)

	tests := []struct {
		doc    string
		url    string
		errStr string // "" for success
	}{
		{doc: "200", url: srv.URL + "/ok"},
		{doc: "204", url: srv.URL + "/nocontent"},
		{doc: "302 is success and not followed", url: srv.URL + "/found"},
		{doc: "https self-signed", url: tlsSrv.URL + "/ok"},
		{doc: "500 with a large body", url: srv.URL + "/error", errStr: "status 500 Internal Server Error"},
		{doc: "404", url: srv.URL + "/notfound", errStr: "status 404 Not Found"},
		{doc: "refused", url: "http://" + freePort(t) + "/", errStr: "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			st := start(t, probe.StartLive, fast(probe.Spec{Kind: probe.HTTP, Target: tc.url}), nil)
			for i := 1; i <= 2; i++ {
				if r := st.next(t); tc.errStr == "" {
					wantOK(t, r, i)
				} else {
					wantFail(t, r, i, i, false, tc.errStr)
				}
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

// hanging returns a server whose handler blocks until its request's context
// is done, and channels that say when a request arrived and when the handler
// saw its context done.
func hanging(t *testing.T) (srv *httptest.Server, entered, cancelled chan struct{}) {
	t.Helper()
	entered, cancelled = make(chan struct{}, 16), make(chan struct{}, 16)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- struct{}{}
		case <-time.After(patience):
		}
	}))
	t.Cleanup(srv.Close)
	return srv, entered, cancelled
}

func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(patience):
		t.Fatalf("%s: not within %s", what, patience)
	}
}

func TestHTTPTimeout(t *testing.T) {
	t.Parallel()
	srv, entered, cancelled := hanging(t)
	s := fast(probe.Spec{Kind: probe.HTTP, Target: srv.URL})
	s.Timeout = 50 * time.Millisecond
	st := start(t, probe.StartLive, s, nil)
	for i := 1; i <= 3; i++ {
		r := st.next(t)
		wantFail(t, r, i, i, i == 3, "probe: timed out after 50ms")
		if !errors.Is(r.Err, probe.ErrTimeout) {
			t.Fatalf("error %v does not wrap ErrTimeout", r.Err)
		}
		if r.Took < s.Timeout {
			t.Fatalf("attempt took %s, less than its timeout %s", r.Took, s.Timeout)
		}
		receive(t, entered, "request arrived")
		receive(t, cancelled, "handler saw its request cancelled")
	}
}

// Stopping a probe cancels the attempt in flight, which is not reported.
func TestStopCancelsAttempt(t *testing.T) {
	t.Parallel()
	srv, entered, cancelled := hanging(t)
	s := fast(probe.Spec{Kind: probe.HTTP, Target: srv.URL})
	s.Timeout = time.Minute
	st := start(t, probe.StartReady, s, nil)
	receive(t, entered, "request arrived")
	st.stop(t)
	receive(t, cancelled, "handler saw its request cancelled")
	st.noMore(t)
}

// Every attempt opens its own connection and closes it: none is left open
// between attempts.
func TestHTTPNoConnectionKept(t *testing.T) {
	t.Parallel()
	var opened atomic.Int64
	closed := make(chan struct{}, 64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, cs http.ConnState) {
		switch cs {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	st := start(t, probe.StartLive, fast(probe.Spec{Kind: probe.HTTP, Target: srv.URL}), nil)
	const attempts = 3
	for i := 1; i <= attempts; i++ {
		wantOK(t, st.next(t), i)
	}
	st.stop(t)
	n := opened.Load()
	if n < attempts {
		t.Fatalf("%d attempts opened %d connections", attempts, n)
	}
	for i := int64(0); i < n; i++ {
		receive(t, closed, "connection closed")
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	report := func(probe.Result) { t.Error("report called") }
	if _, err := probe.StartLive(t.Context(), probe.Spec{Kind: probe.TCP, Target: "127.0.0.1:1"}, nil, report); !errors.Is(err, probe.ErrInvalid) {
		t.Errorf("zero timings: err %v, want ErrInvalid", err)
	}
	s := fast(probe.Spec{Kind: probe.Exec, Argv: []string{"true"}})
	if _, err := probe.StartReady(t.Context(), s, nil, report); !errors.Is(err, probe.ErrNoRunner) {
		t.Errorf("exec without a Runner: err %v, want ErrNoRunner", err)
	}
	if _, err := probe.StartReady(t.Context(), fast(probe.Spec{Kind: probe.TCP, Target: "127.0.0.1:1"}), nil, nil); err == nil {
		t.Error("nil report: no error")
	}
}

// BenchmarkTCPReady is one readiness probe per op against a listener that
// accepts: the goroutine, one connect and close, the report, Done.
func BenchmarkTCPReady(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	s := fast(probe.Spec{Kind: probe.TCP, Target: ln.Addr().String()})
	results := make(chan probe.Result, 1)
	report := func(r probe.Result) { results <- r }
	for b.Loop() {
		p, err := probe.StartReady(b.Context(), s, nil, report)
		if err != nil {
			b.Fatal(err)
		}
		if r := <-results; !r.OK {
			b.Fatal(r.Err)
		}
		<-p.Done()
	}
}
