package svrpc_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/svrpc"
	"github.com/supervisor/supervisor/internal/xmlrpc"
)

// fake is a Backend with fixed programs that does nothing.
type fake struct{ g supervise.Group }

func (f *fake) Status(context.Context) ([]supervise.Status, error) {
	var sts []supervise.Status
	for i, s := range f.g.Programs {
		st := supervise.Status{Name: s.Name, State: supervise.StateStopped}
		if i%2 == 0 {
			st.State, st.Pid = supervise.StateRunning, 4242
		}
		sts = append(sts, st)
	}
	return sts, nil
}
func (f *fake) Start(context.Context, string) error                  { return nil }
func (f *fake) StartWait(context.Context, string) error              { return supervise.ErrStartFailed }
func (f *fake) Stop(context.Context, string) error                   { return nil }
func (f *fake) Signal(context.Context, string, syscall.Signal) error { return errors.New("no") }
func (f *fake) Shutdown(context.Context) error                       { return nil }
func (f *fake) ShuttingDown() bool                                   { return false }
func (f *fake) Reload(context.Context, supervise.Group) (supervise.ReloadResult, error) {
	return supervise.ReloadResult{}, nil
}
func (f *fake) Group(_ context.Context, _ string, names []string, _ syscall.Signal, _ bool) ([]supervise.Outcome, error) {
	var outs []supervise.Outcome
	for _, n := range names {
		outs = append(outs, supervise.Outcome{Program: n})
	}
	return outs, nil
}

// FuzzHandler: whatever the body of POST /RPC2, the answer is 200 and a
// methodResponse: a value or a fault.
func FuzzHandler(f *testing.F) {
	for _, c := range []struct {
		m string
		p []any
	}{
		{"supervisor.getAllProcessInfo", nil},
		{"supervisor.startProcess", []any{"g:*", true}},
		{"supervisor.stopProcessGroup", []any{"g"}},
		{"supervisor.signalProcess", []any{"a", "HUP"}},
		{"supervisor.tailProcessStdoutLog", []any{"a", 0, 100}},
		{"supervisor.readLog", []any{-100, 0}},
		{"system.multicall", []any{[]any{map[string]any{"methodName": "supervisor.getPID", "params": []any{}}}}},
		{"system.methodSignature", []any{"supervisor.startProcess"}},
		{"supervisor.reloadConfig", nil},
	} {
		var b bytes.Buffer
		if err := xmlrpc.EncodeCall(&b, c.m, c.p...); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte("<methodCall><methodName>x</methodName><params><param><value><struct></struct></value></param></params></methodCall>"))
	g := supervise.Group{Programs: []supervise.Spec{spec("a", true, "/bin/true"), spec("g:x", true, "/bin/true"), spec("g:y", false, "/bin/true")}}
	l := svrpc.LayoutOf(g)
	srv, err := svrpc.NewServer(hclog.NewNullLogger(), svrpc.Options{Backend: &fake{g: g}, Layout: l, Loader: func() (svrpc.Layout, error) { return l, nil }})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler(svrpc.Auth{})
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/RPC2", bytes.NewReader(body)))
		if w.Code != 200 {
			t.Fatalf("HTTP %d for %q", w.Code, body)
		}
		if _, err := xmlrpc.DecodeResponse(w.Body); err != nil {
			var fl *xmlrpc.Fault
			if !errors.As(err, &fl) {
				t.Fatalf("not a methodResponse: %v\n%s", err, w.Body.Bytes())
			}
		}
	})
}
