package worker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/ipc"
	"github.com/supervisor/supervisor/internal/worker"
)

// fakeHost is a worker.Host in the test's hands: no supervisor, no pipes.
type fakeHost struct {
	ready    chan struct{} // closed by the first Ready
	once     sync.Once
	handler  atomic.Pointer[ipc.Handler]
	progress atomic.Int64
	mu       sync.Mutex
	out      bytes.Buffer
}

var _ worker.Host = (*fakeHost)(nil)

func newFakeHost() *fakeHost { return &fakeHost{ready: make(chan struct{})} }

func (h *fakeHost) Name() string                    { return "fake" }
func (h *fakeHost) Handle(f ipc.Handler)            { h.handler.Store(&f) }
func (h *fakeHost) Ready() error                    { h.once.Do(func() { close(h.ready) }); return nil }
func (h *fakeHost) SetStatus(string) error          { return nil }
func (h *fakeHost) Progress()                       { h.progress.Add(1) }
func (h *fakeHost) StartHeartbeats(d time.Duration) {}
func (h *fakeHost) Stdout() io.Writer               { return h }
func (h *fakeHost) Stderr() io.Writer               { return h }
func (h *fakeHost) Acquire(context.Context, string, int) (func() error, error) {
	return func() error { return nil }, nil
}

func (h *fakeHost) Write(b []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.out.Write(b)
}

func (h *fakeHost) output() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.out.String()
}

func (h *fakeHost) call(t *testing.T, method string, body []byte) ([]byte, error) {
	t.Helper()
	f := h.handler.Load()
	if f == nil {
		t.Fatal("no handler set")
	}
	return (*f)(context.Background(), method, body)
}

func TestServiceIsAFunc(t *testing.T) {
	t.Parallel()
	if got := worker.FuncNames(); !slices.Equal(got, []string{"service", "trouble"}) {
		t.Errorf("FuncNames() = %v, want [service trouble]", got)
	}
	if _, ok := worker.Lookup("service"); !ok {
		t.Error("Lookup(service) failed")
	}
	if _, ok := worker.Lookup("child"); ok {
		t.Error("Lookup(child) succeeded: child is a process worker only")
	}
	if !slices.Contains(worker.Names(), "service") {
		t.Error("service is not a process worker too")
	}
}

func TestServiceServesAndStops(t *testing.T) {
	t.Parallel()
	fn, _ := worker.Lookup("service")
	h := newFakeHost()
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx, h, []string{"--heartbeat", "2ms"}) }()
	<-h.ready
	if b, err := h.call(t, "echo", []byte("hi")); err != nil || string(b) != "hi" {
		t.Errorf("echo: %q, %v", b, err)
	}
	sum := sha256.Sum256([]byte("x"))
	if b, err := h.call(t, "hash", []byte("x")); err != nil || string(b) != hex.EncodeToString(sum[:]) {
		t.Errorf("hash: %q, %v", b, err)
	}
	if b, err := h.call(t, "sleep", []byte("1ms")); err != nil || string(b) != "slept" {
		t.Errorf("sleep: %q, %v", b, err)
	}
	if _, err := h.call(t, "nope", nil); err == nil || !strings.Contains(err.Error(), "unknown method") {
		t.Errorf("unknown method: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("crash did not panic")
			}
		}()
		_, _ = h.call(t, "crash", nil)
	}()
	cancel(worker.ErrStop)
	if err := <-done; err != nil {
		t.Fatalf("service returned %v after the stop, want nil", err)
	}
	if out := h.output(); !strings.Contains(out, "service fake started") || !strings.Contains(out, "service stopping (stop requested)") {
		t.Errorf("output %q", out)
	}
}

func TestServiceMisbehaviour(t *testing.T) {
	t.Parallel()
	fn, _ := worker.Lookup("service")
	for _, tc := range []struct {
		doc       string
		args      []string
		wantErr   string
		wantPanic bool
	}{
		{doc: "bad flag", args: []string{"--frobnicate"}, wantErr: "flag provided but not defined"},
		{doc: "bad heartbeat", args: []string{"--heartbeat", "0s"}, wantErr: "not positive"},
		{doc: "extra argument", args: []string{"extra"}, wantErr: "unexpected argument"},
		{doc: "--fail", args: []string{"--fail"}, wantErr: "failing on request"},
		{doc: "--panic", args: []string{"--panic"}, wantPanic: true},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			var err error
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				err = fn(context.Background(), newFakeHost(), tc.args)
				return false
			}()
			if panicked != tc.wantPanic {
				t.Fatalf("panicked %v, want %v", panicked, tc.wantPanic)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want one with %q", err, tc.wantErr)
			}
		})
	}
}
