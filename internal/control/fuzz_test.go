package control

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// What a client sends that the server decodes: request bodies, signal names,
// the lines parameter, and any request at all through the router. Plain go
// test runs the seeds; go test -fuzz=FuzzX ./internal/control/ explores.

// FuzzDecodeRequest: any body decodes to a checked call or to a 400/413 with a
// JSON error of the matching kind; a call survives a round trip through
// RequestArgs.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"method":"hash","text":"hello"}`,
		`{"method":"echo","body":"aGk=","timeout":"5s"}`,
		`{"method":"sleep","text":"1s","timeout":"1h30m"}`,
		`{"method":"a","body":"aGk=","text":"x"}`,
		`{"method":"","text":"x"}`,
		`{"method":"a","timeout":"-1s"}`,
		`{"method":"a","timeout":"9999999999h"}`,
		`{"method":"a","nope":1}`,
		`{"method":"a"} {"method":"b"}`,
		`{"method":"a","body":"not base64!"}`,
		"",
		"[",
		`{"method":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(data)), maxRequestJSON)
		call, code, problem := decodeRequest(rd)
		if problem != nil {
			want := map[int]string{http.StatusBadRequest: "bad_request", http.StatusRequestEntityTooLarge: "too_large"}[code]
			if want == "" || problem.Kind != want || problem.Error == "" {
				t.Fatalf("refused with %d %+v", code, problem)
			}
			return
		}
		if code != http.StatusOK || call.method == "" || call.timeout <= 0 {
			t.Fatalf("accepted %q as %d %+v", data, code, call)
		}
		again, err := json.Marshal(RequestArgs{Method: call.method, Body: call.body, Timeout: call.timeout.String()})
		if err != nil {
			t.Fatal(err)
		}
		back, code, problem := decodeRequest(bytes.NewReader(again))
		if problem != nil || back.method != call.method || !bytes.Equal(back.body, call.body) || back.timeout != call.timeout {
			t.Fatalf("round trip of %+v: %+v, %d %+v", call, back, code, problem)
		}
	})
}

// FuzzParseSignal: a signal parsed is 1..64 and parses again, from its number
// and from its name.
func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"TERM", "SIGTERM", "term", "sigusr1", "9", "64", "65", "0", "", "-1", "SIG", "99999999999999999999", "SIGRTMIN", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseSignal(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%q: empty error", s)
			}
			return
		}
		if sig < 1 || sig > 64 {
			t.Fatalf("%q parsed to signal %d", s, sig)
		}
		if again, err := ParseSignal(strconv.Itoa(int(sig))); err != nil || again != sig {
			t.Fatalf("%q is %d, which parses to %d, %v", s, sig, again, err)
		}
		if name := unix.SignalName(sig); name != "" {
			if again, err := ParseSignal(name); err != nil || again != sig {
				t.Fatalf("%q is %s, which parses to %d, %v", s, name, again, err)
			}
		}
	})
}

// FuzzParseLines: lines=V is a count >= 0 or an error naming V.
func FuzzParseLines(f *testing.F) {
	for _, s := range []string{"", "0", "20", "-1", "1e3", "99999999999999999999", " 1", "+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n, err := parseLines(v)
		switch {
		case err != nil && !strings.Contains(err.Error(), "lines="+v):
			t.Fatalf("%q: error %q does not name it", v, err)
		case err == nil && n < 0:
			t.Fatalf("%q: %d lines", v, n)
		}
	})
}

// FuzzHandler sends any method, path, query and body through the server's
// router to a fake target: it never panics, and answers 200, an error status
// with a JSON error of a documented kind, or the router's own 404 and 405 for
// what matches no endpoint. (Streams run with their request already over, so
// they end at once.)
func FuzzHandler(f *testing.F) {
	for _, s := range [][3]string{
		{"GET", "/v1/status", ""},
		{"GET", "/v1/tree", ""},
		{"GET", "/v1/events", ""},
		{"GET", "/v1/programs/a/logs?lines=5", ""},
		{"GET", "/v1/programs/a/logs?lines=-5&follow=1", ""},
		{"GET", "/v1/programs/nope/logs", ""},
		{"POST", "/v1/programs/a/start", ""},
		{"POST", "/v1/programs/nope/stop", ""},
		{"POST", "/v1/programs/a/signal?sig=usr1", ""},
		{"POST", "/v1/programs/a/signal?sig=99", ""},
		{"POST", "/v1/programs/a/frob", ""},
		{"POST", "/v1/programs/a/request", `{"method":"hash","text":"x"}`},
		{"POST", "/v1/programs/w-*/request", `{"method":"echo","body":"aGk="}`},
		{"POST", "/v1/programs/[/request", `{"method":"echo"}`},
		{"POST", "/v1/programs/plain/request", `{"method":"echo","timeout":"1ms"}`},
		{"POST", "/v1/group/stop", `{"programs":["a","w-*"]}`},
		{"POST", "/v1/group/signal", `{"programs":["all"],"sig":"usr1"}`},
		{"POST", "/v1/group/signal", `{"programs":["a"],"sig":"bogus"}`},
		{"POST", "/v1/group/start", `{"programs":[],"no_wait":true}`},
		{"POST", "/v1/group/start", `{"programs":["nope"]}`},
		{"POST", "/v1/group/frob", `{"programs":["a"]}`},
		{"GET", "/v1/version", ""},
		{"POST", "/v1/reload", ""},
		{"POST", "/v1/shutdown", ""},
		{"DELETE", "/v1/status", ""},
		{"GET", "/v1/programs/%2e%2e/logs", ""},
		{"GET", "/../v1/status", ""},
	} {
		f.Add(s[0], s[1], []byte(s[2]))
	}
	kinds := []string{"no_such_program", "conflict", "bad_request", "reload_refused", "failed", "not_protocol",
		"not_ready", "too_large", "timeout", "lagged", KindClosed}
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // streams end at once; a request to a worker, too
		req, err := http.NewRequestWithContext(ctx, method, "http://x"+target, bytes.NewReader(body))
		if err != nil || req.URL.Path == "" || req.URL.Path[0] != '/' {
			return // not a request a client could send
		}
		rec := httptest.NewRecorder()
		srv := NewServer(hclog.NewNullLogger(), &fake{}, NewJournal(3), Limits{}) // a fresh fake: it records every call
		srv.srv.Handler.ServeHTTP(rec, req)
		res := rec.Result()
		got, _ := io.ReadAll(res.Body)
		if res.Header.Get("Content-Type") == "text/plain; charset=utf-8" { // the router's own
			if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed && res.StatusCode != http.StatusMovedPermanently && res.StatusCode != http.StatusTemporaryRedirect {
				t.Fatalf("%s %s: %d %q from the router", method, target, res.StatusCode, got)
			}
			return
		}
		if res.StatusCode == http.StatusMovedPermanently || res.StatusCode == http.StatusTemporaryRedirect {
			return // the router cleaning a path (/../v1/status)
		}
		// Every body is JSON: one value, or a stream of them, one a line.
		dec := json.NewDecoder(bytes.NewReader(got))
		var last json.RawMessage
		for {
			var v json.RawMessage
			if err := dec.Decode(&v); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s %s: %d, a body that is not JSON: %q", method, target, res.StatusCode, got)
			}
			last = v
		}
		if res.StatusCode == http.StatusOK {
			return
		}
		var e apiError
		if json.Unmarshal(last, &e) != nil || e.Error == "" || !slices.Contains(kinds, e.Kind) {
			t.Fatalf("%s %s: %d %q is not a documented error", method, target, res.StatusCode, got)
		}
	})
}
