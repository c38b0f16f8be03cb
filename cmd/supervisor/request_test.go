package main_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/control"
)

// ctlIn is ctl with stdin, and stdout as bytes.
func ctlIn(t *testing.T, sock string, stdin []byte, args ...string) ([]byte, string, int) {
	t.Helper()
	cmd := exec.Command(bin("supervisor"), append([]string{"ctl", "--socket", sock}, args...)...)
	var out bytes.Buffer
	var errb strings.Builder
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.Bytes(), errb.String(), 0
	case errors.As(err, &ee):
		return out.Bytes(), errb.String(), ee.ExitCode()
	}
	t.Fatal(err)
	return nil, "", -1
}

const requestConf = `
[program:plain]
command = CHILD --tick 1h
[program:w-1]
command = CHILD --protocol --heartbeat 50ms
protocol = true
[program:w-2]
command = child --protocol --heartbeat 50ms
spawner = reexec
protocol = true
[program:w-3]
command = service --heartbeat 50ms
kind = goroutine
# Never says Ready: a pool member that must be skipped.
[program:w-starting]
command = CHILD --protocol --never-ready
protocol = true
start_timeout = 1h
[program:victim]
command = CHILD --protocol --heartbeat 50ms
protocol = true
`

func TestCtlRequest(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s.sock")
	p := start(t, "run", "-c", writeConf(t, requestConf), "--socket", sock)
	p.waitLine(t, "control socket ready")
	for _, n := range []string{"w-1", "w-2", "w-3", "victim"} {
		waitState(t, sock, n, "running", 0)
	}

	// The reply, raw, on stdout: a hash computed here.
	payload := "hash me, please"
	sum := sha256.Sum256([]byte(payload))
	if out, errOut, code := ctlIn(t, sock, nil, "request", "w-1", "hash", payload); code != 0 || string(out) != hex.EncodeToString(sum[:]) {
		t.Errorf("request w-1 hash: exit %d, stdout %q, want %x: %s", code, out, sum, errOut)
	}
	// Any bytes, from stdin, and back.
	raw := []byte{0, 1, 0xfe, 0xff, '\n', 0x80}
	if out, errOut, code := ctlIn(t, sock, raw, "request", "w-2", "echo", "-"); code != 0 || !bytes.Equal(out, raw) {
		t.Errorf("request w-2 echo - (binary on stdin): exit %d, stdout %q, want %q: %s", code, out, raw, errOut)
	}
	// --json: who answered, the body in base64, and as text.
	out, errOut, code := ctlIn(t, sock, nil, "request", "--json", "w-3", "echo", "in process")
	var rep control.RequestReply
	if err := json.Unmarshal(out, &rep); code != 0 || err != nil || rep.Program != "w-3" || string(rep.Body) != "in process" || rep.Text != "in process" {
		t.Errorf("request --json w-3 echo: exit %d, %+v (%v): %s%s", code, rep, err, out, errOut)
	}

	// Flags may follow the operands; after --, a payload may start with '-'.
	out, errOut, code = ctlIn(t, sock, nil, "request", "w-3", "echo", "late flag", "--json")
	if err := json.Unmarshal(out, &rep); code != 0 || err != nil || rep.Text != "late flag" {
		t.Errorf("request w-3 echo 'late flag' --json: exit %d, %s%s", code, out, errOut)
	}
	if out, errOut, code := ctlIn(t, sock, nil, "request", "w-1", "echo", "--", "-n"); code != 0 || string(out) != "-n" {
		t.Errorf("request w-1 echo -- -n: exit %d, stdout %q: %s", code, out, errOut)
	}

	for _, tc := range []struct {
		doc  string
		args []string
		code int
		want string
	}{
		{"unknown program", []string{"request", "nope", "echo", "x"}, 4, "no such program"},
		{"unknown pool", []string{"request", "nope-*", "echo", "x"}, 4, "no program matches"},
		{"not a protocol program", []string{"request", "plain", "echo", "x"}, 1, "does not speak the protocol"},
		{"not ready", []string{"request", "w-starting", "echo", "x"}, 1, "not running and ready"},
		{"unknown method", []string{"request", "w-1", "frobnicate"}, 1, `the program answered: unknown method "frobnicate"`},
		{"timeout", []string{"request", "--timeout", "200ms", "w-1", "sleep", "1h"}, 1, "timeout 200ms"},
		{"too few arguments", []string{"request", "w-1"}, 2, "want NAME METHOD"},
		{"bad pattern", []string{"request", "w-[", "echo"}, 2, "syntax error in pattern"},
	} {
		if out, errOut, code := ctlIn(t, sock, nil, tc.args...); code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: ctl %q: exit %d, stderr %q, stdout %q; want %d and %q", tc.doc, tc.args, code, errOut, out, tc.code, tc.want)
		}
	}
	if out, _, code := ctlIn(t, sock, nil, "--json", "request", "nope", "echo"); code != 4 || !strings.Contains(string(out), `"kind":"no_such_program"`) {
		t.Errorf("--json request nope: exit %d, %s", code, out)
	}

	// Pool dispatch: every ready member answers some requests, the one not ready
	// none, and each reply is right.
	got := map[string]int{}
	for i := range 12 {
		payload := strings.Repeat("p", i)
		out, errOut, code := ctlIn(t, sock, nil, "request", "--json", "w-*", "hash", payload)
		var rep control.RequestReply
		sum := sha256.Sum256([]byte(payload))
		if err := json.Unmarshal(out, &rep); code != 0 || err != nil || rep.Text != hex.EncodeToString(sum[:]) {
			t.Fatalf("request %d to w-*: exit %d, %+v (%v): %s", i, code, rep, err, errOut)
		}
		got[rep.Program]++
	}
	if len(got) != 3 || got["w-1"] == 0 || got["w-2"] == 0 || got["w-3"] == 0 {
		t.Errorf("requests to w-* went to %v, want some to each of w-1, w-2, w-3 and none elsewhere", got)
	}

	// A request in flight when its worker is SIGKILLed ends with an error.
	victim := waitState(t, sock, "victim", "running", 0)
	req := exec.Command(bin("supervisor"), "ctl", "--socket", sock, "request", "victim", "sleep", "1h")
	var reqErr strings.Builder
	req.Stderr = &reqErr
	if err := req.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- req.Wait() }()
	t.Cleanup(func() { req.Process.Kill(); <-done })
	for deadline := time.Now().Add(30 * time.Second); ctlStatus(t, sock)["victim"].RequestsInFlight != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the request to victim never showed as in flight")
		}
	}
	if out, _, _ := ctl(t, sock, "status", "victim"); !strings.Contains(out, "requests in flight 1") {
		t.Errorf("status does not show the request in flight: %s", out)
	}
	if err := syscall.Kill(victim.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(reqErr.String(), "ended") {
			t.Errorf("request to a worker killed meanwhile: %v, stderr %q; want exit 1 saying it ended", err, reqErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a request to a worker killed meanwhile hangs")
	}
	done <- nil // for the cleanup

	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %d %s", code, errOut)
	}
	p.exitCode(t)
}
