package svrpc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/svrpc"
	"github.com/supervisor/supervisor/internal/xmlrpc"
)

// reaper is the process's one Reaper, shared by every test's Supervisor.
var reaper *supervise.Reaper

func TestMain(m *testing.M) {
	var err error
	reaper, err = supervise.NewReaper(hclog.NewNullLogger(), supervise.ReaperOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	reaper.Close()
	os.Exit(code)
}

// rig is a real Supervisor running specs, served by a svrpc.Server.
type rig struct {
	t    *testing.T
	sup  *supervise.Supervisor
	srv  *svrpc.Server
	url  string
	mu   sync.Mutex
	evs  []supervise.Event
	cond chan struct{} // closed and replaced at every event
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skip("no " + name)
	}
	return p
}

// spec is a program running argv, spawned at once, up after 100ms, never restarted.
func spec(name string, autostart bool, argv ...string) supervise.Spec {
	s := supervise.DefaultSpec()
	s.Name = name
	s.Command = argv
	s.Autostart = autostart
	s.MinUptime = 100 * time.Millisecond
	s.Restart = supervise.RestartNever
	s.StartRetries = 0
	s.StopGrace = 5 * time.Second
	return s
}

// newRig runs l's group, serves it with o (Backend and Layout filled in), and
// waits for every autostart program to be running.
func newRig(t *testing.T, l svrpc.Layout, o svrpc.Options) *rig {
	t.Helper()
	r := &rig{t: t, cond: make(chan struct{})}
	sup, err := supervise.New(hclog.NewNullLogger(), l.Group, supervise.Options{Reaper: reaper, OnEvent: func(e supervise.Event) {
		r.mu.Lock()
		r.evs = append(r.evs, e)
		close(r.cond)
		r.cond = make(chan struct{})
		r.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Log(err)
		}
	})
	r.sup = sup
	o.Backend, o.Layout = sup, l
	r.srv, err = svrpc.NewServer(hclog.NewNullLogger(), o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(r.srv.Handler(svrpc.Auth{}))
	t.Cleanup(func() { r.srv.Close(); hs.Close() })
	r.url = hs.URL
	for _, s := range l.Group.Programs {
		if s.Autostart {
			r.waitState(s.Name, supervise.StateRunning)
		}
	}
	return r
}

// waitState waits (up to 20s) for name to be in state st.
func (r *rig) waitState(name string, st supervise.State) {
	r.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		ch := r.cond
		r.mu.Unlock()
		sts, err := r.sup.Status(context.Background())
		if err != nil {
			r.t.Fatal(err)
		}
		for _, s := range sts {
			if s.Name == name && s.State == st {
				return
			}
		}
		select {
		case <-ch:
		case <-deadline:
			r.t.Fatalf("%s never became %s: %+v", name, st, sts)
		}
	}
}

func (r *rig) call(method string, params ...any) (any, error) {
	r.t.Helper()
	return call(r.t, r.url, nil, method, params...)
}

func call(t *testing.T, url string, auth *[2]string, method string, params ...any) (any, error) {
	t.Helper()
	var b bytes.Buffer
	if err := xmlrpc.EncodeCall(&b, method, params...); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", url+"/RPC2", &b)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return xmlrpc.DecodeResponse(resp.Body)
}

func (r *rig) ok(method string, params ...any) any {
	r.t.Helper()
	v, err := r.call(method, params...)
	if err != nil {
		r.t.Fatalf("%s%v: %v", method, params, err)
	}
	return v
}

// fault wants a fault code and string from the call.
func (r *rig) fault(code int, str string, method string, params ...any) {
	r.t.Helper()
	_, err := r.call(method, params...)
	var f *xmlrpc.Fault
	if !errors.As(err, &f) || f.Code != code || str != "" && f.String != str {
		r.t.Fatalf("%s%v: got %v, want fault %d %q", method, params, err, code, str)
	}
}

func info(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not a struct: %#v", v)
	}
	return m
}

func TestIntrospection(t *testing.T) {
	t.Parallel()
	sleep := lookPath(t, "sleep")
	r := newRig(t, svrpc.LayoutOf(supervise.Group{Programs: []supervise.Spec{spec("a", false, sleep, "60")}}), svrpc.Options{Identification: "ident", Version: "9.9"})
	for _, tc := range []struct {
		method string
		want   any
	}{
		{"supervisor.getAPIVersion", "3.0"},
		{"supervisor.getVersion", "3.0"},
		{"supervisor.getSupervisorVersion", "9.9"},
		{"supervisor.getIdentification", "ident"},
		{"supervisor.getState", map[string]any{"statecode": 1, "statename": "RUNNING"}},
		{"supervisor.getPID", os.Getpid()},
	} {
		if got := r.ok(tc.method); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.method, got, tc.want)
		}
	}
	ms := r.ok("system.listMethods").([]any)
	for _, m := range []string{"supervisor.startProcess", "system.multicall", "supervisor.tailProcessStdoutLog"} {
		if !slices.Contains(ms, any(m)) {
			t.Errorf("listMethods lacks %s", m)
		}
	}
	if got := r.ok("system.methodSignature", "supervisor.readLog"); !reflect.DeepEqual(got, []any{"string", "int", "int"}) {
		t.Errorf("methodSignature: %#v", got)
	}
	r.fault(svrpc.SignatureUnsupported, "SIGNATURE_UNSUPPORTED", "system.methodHelp", "nope")
	r.fault(svrpc.UnknownMethod, "UNKNOWN_METHOD", "supervisor.nope")
	r.fault(svrpc.UnknownMethod, "UNKNOWN_METHOD", "supervisor.getAPIVersion.x")
	r.fault(svrpc.IncorrectParameters, "", "supervisor.getProcessInfo")
	r.fault(svrpc.IncorrectParameters, "", "supervisor.getProcessInfo", 5)
	r.fault(svrpc.BadName, "BAD_NAME: nope", "supervisor.getProcessInfo", "nope")

	got := r.ok("system.multicall", []any{
		map[string]any{"methodName": "supervisor.getAPIVersion", "params": []any{}},
		map[string]any{"methodName": "supervisor.getProcessInfo", "params": []any{"nope"}},
		"junk",
	}).([]any)
	want := []any{[]any{"3.0"}, map[string]any{"faultCode": svrpc.BadName, "faultString": "BAD_NAME: nope"}, map[string]any{"faultCode": svrpc.IncorrectParameters, "faultString": "INCORRECT_PARAMETERS"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("multicall: %#v", got)
	}

	// Not a methodCall: a fault, not an HTTP error.
	resp, err := http.Post(r.url+"/RPC2", "text/xml", strings.NewReader("<nope"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = xmlrpc.DecodeResponse(resp.Body)
	resp.Body.Close()
	var f *xmlrpc.Fault
	if !errors.As(err, &f) || f.Code != svrpc.ParseError {
		t.Errorf("garbage: %v", err)
	}
}

func TestProcesses(t *testing.T) {
	t.Parallel()
	sleep, sh := lookPath(t, "sleep"), lookPath(t, "sh")
	g := supervise.Group{Programs: []supervise.Spec{
		spec("a", true, sleep, "60"),
		spec("g:x", true, sleep, "60"),
		spec("g:y", false, sleep, "60"),
		spec("missing", false, "/nonexistent/prog"),
		spec("quick", false, sh, "-c", "exit 3"),
	}}
	g.Programs[4].StartBackoff = 10 * time.Millisecond // supervisord's start retries
	r := newRig(t, svrpc.LayoutOf(g), svrpc.Options{})

	all := r.ok("supervisor.getAllProcessInfo").([]any)
	var names []string
	for _, v := range all {
		m := info(t, v)
		names = append(names, m["group"].(string)+"/"+m["name"].(string)+"/"+m["statename"].(string))
	}
	if want := []string{"a/a/RUNNING", "g/x/RUNNING", "g/y/STOPPED", "missing/missing/STOPPED", "quick/quick/STOPPED"}; !slices.Equal(names, want) {
		t.Fatalf("getAllProcessInfo: %v, want %v", names, want)
	}
	a := info(t, r.ok("supervisor.getProcessInfo", "a"))
	if a["state"] != 20 || a["pid"].(int) <= 0 || !regexp.MustCompile(`^pid \d+, uptime 0:00:\d\d$`).MatchString(a["description"].(string)) {
		t.Fatalf("a: %#v", a)
	}
	if y := info(t, r.ok("supervisor.getProcessInfo", "g:y")); y["description"] != "Not started" || y["pid"] != 0 {
		t.Fatalf("g:y: %#v", y)
	}

	r.fault(svrpc.AlreadyStarted, "ALREADY_STARTED: a", "supervisor.startProcess", "a")
	if v := r.ok("supervisor.stopProcess", "a"); v != true {
		t.Fatalf("stop a: %v", v)
	}
	a = info(t, r.ok("supervisor.getProcessInfo", "a"))
	if a["statename"] != "STOPPED" || !regexp.MustCompile(`^[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M$`).MatchString(a["description"].(string)) {
		t.Fatalf("a stopped: %#v", a)
	}
	r.fault(svrpc.NotRunning, "NOT_RUNNING: a", "supervisor.stopProcess", "a")
	if v := r.ok("supervisor.startProcess", "a", true); v != true {
		t.Fatalf("start a: %v", v)
	}
	if a = info(t, r.ok("supervisor.getProcessInfo", "a")); a["statename"] != "RUNNING" {
		t.Fatalf("a after start: %#v", a)
	}
	r.fault(svrpc.BadName, "BAD_NAME: nope", "supervisor.startProcess", "nope")
	r.fault(svrpc.BadName, "BAD_NAME: g:nope", "supervisor.startProcess", "g:nope")
	r.fault(svrpc.NoFile, "NO_FILE: can't find command '/nonexistent/prog'", "supervisor.startProcess", "missing")
	r.fault(svrpc.SpawnError, "SPAWN_ERROR: quick", "supervisor.startProcess", "quick")
	if q := info(t, r.ok("supervisor.getProcessInfo", "quick")); q["statename"] != "FATAL" && q["statename"] != "BACKOFF" || q["description"] != "Exited too quickly (process log may have details)" || q["exitstatus"] != 3 {
		t.Fatalf("quick: %#v", q)
	}

	// A group: start what is not running, one result each.
	res := r.ok("supervisor.startProcess", "g:*").([]any)
	if want := []any{map[string]any{"name": "y", "group": "g", "status": svrpc.Success, "description": "OK"}}; !reflect.DeepEqual(res, want) {
		t.Fatalf("start g:*: %#v", res)
	}
	res = r.ok("supervisor.stopProcessGroup", "g").([]any)
	if len(res) != 2 || info(t, res[0])["status"] != svrpc.Success || info(t, res[1])["status"] != svrpc.Success {
		t.Fatalf("stop g: %#v", res)
	}
	r.fault(svrpc.BadName, "BAD_NAME: nope", "supervisor.stopProcessGroup", "nope")
	if res = r.ok("supervisor.stopProcessGroup", "g").([]any); len(res) != 0 {
		t.Fatalf("stop g again: %#v", res)
	}

	// Signals.
	if v := r.ok("supervisor.signalProcess", "a", "CONT"); v != true {
		t.Fatalf("signal a: %v", v)
	}
	r.fault(svrpc.BadSignal, "BAD_SIGNAL: NOPE", "supervisor.signalProcess", "a", "NOPE")
	r.fault(svrpc.NotRunning, "NOT_RUNNING: g:x", "supervisor.signalProcess", "g:x", "HUP")
	res = r.ok("supervisor.signalAllProcesses", "18").([]any)
	if len(res) != 1 || info(t, res[0])["name"] != "a" || info(t, res[0])["status"] != svrpc.Success {
		t.Fatalf("signal all: %#v", res)
	}

	// All: start every process not running, then stop every one running.
	res = r.ok("supervisor.startAllProcesses", true).([]any)
	byName := map[string]any{}
	for _, v := range res {
		m := info(t, v)
		byName[m["group"].(string)+":"+m["name"].(string)] = m["status"]
	}
	if byName["g:x"] != svrpc.Success || byName["g:y"] != svrpc.Success || byName["missing:missing"] != svrpc.NoFile || byName["quick:quick"] != svrpc.SpawnError || byName["a:a"] != nil {
		t.Fatalf("start all: %#v", res)
	}
	res = r.ok("supervisor.stopAllProcesses").([]any)
	if len(res) != 3 {
		t.Fatalf("stop all: %#v", res)
	}
	for _, v := range res {
		if info(t, v)["status"] != svrpc.Success {
			t.Fatalf("stop all: %#v", res)
		}
	}

	// stdin and events are not ours to give.
	r.fault(svrpc.NotRunning, "", "supervisor.sendProcessStdin", "a", "x")
	r.fault(svrpc.Failed, "", "supervisor.sendRemoteCommEvent", "t", "d")

	if v := r.ok("supervisor.shutdown"); v != true {
		t.Fatalf("shutdown: %v", v)
	}
	r.fault(svrpc.ShutdownState, "SHUTDOWN_STATE", "supervisor.getAllProcessInfo")
	if st := r.ok("supervisor.getState"); !reflect.DeepEqual(st, map[string]any{"statecode": -1, "statename": "SHUTDOWN"}) {
		t.Fatalf("getState: %#v", st)
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	sleep := lookPath(t, "sleep")
	dir := t.TempDir()
	out, mainLog := filepath.Join(dir, "a.out"), filepath.Join(dir, "main.log")
	for _, f := range []string{out, mainLog} {
		if err := os.WriteFile(f, []byte("0123456789\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l := svrpc.LayoutOf(supervise.Group{Programs: []supervise.Spec{spec("a", false, sleep, "60"), spec("b", false, sleep, "60")}})
	l.Procs[0].StdoutLogfile = out
	l.Procs[1].StdoutLogfile = filepath.Join(dir, "never")
	r := newRig(t, l, svrpc.Options{Logfile: mainLog, Poll: 10 * time.Millisecond})

	if v := r.ok("supervisor.readProcessStdoutLog", "a", -4, 0); v != "789\n" {
		t.Errorf("read -4: %q", v)
	}
	if v := r.ok("supervisor.readProcessStdoutLog", "a", 2, 3); v != "234" {
		t.Errorf("read 2,3: %q", v)
	}
	r.fault(svrpc.BadArguments, "BAD_ARGUMENTS", "supervisor.readProcessStdoutLog", "a", -4, 2)
	r.fault(svrpc.NoFile, "NO_FILE", "supervisor.readProcessStderrLog", "a", 0, 0)
	r.fault(svrpc.NoFile, "NO_FILE: "+filepath.Join(dir, "never"), "supervisor.readProcessStdoutLog", "b", 0, 0)
	r.fault(svrpc.BadName, "BAD_NAME: nope", "supervisor.readProcessStdoutLog", "nope", 0, 0)
	if v := r.ok("supervisor.tailProcessStdoutLog", "a", 0, 4); !reflect.DeepEqual(v, []any{"789\n", 11, true}) {
		t.Errorf("tail 0,4: %#v", v)
	}
	if v := r.ok("supervisor.tailProcessStdoutLog", "a", 11, 100); !reflect.DeepEqual(v, []any{"", 11, false}) {
		t.Errorf("tail 11,100: %#v", v)
	}
	if v := r.ok("supervisor.tailProcessStdoutLog", "b", 0, 100); !reflect.DeepEqual(v, []any{"", 0, false}) {
		t.Errorf("tail of no file: %#v", v)
	}
	if v := r.ok("supervisor.readLog", -3, 0); v != "89\n" {
		t.Errorf("readLog: %q", v)
	}

	// One request returns at most MaxRead log bytes, multicall or not.
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), svrpc.MaxRead*3/4), 0o600); err != nil {
		t.Fatal(err)
	}
	l2 := svrpc.LayoutOf(supervise.Group{Programs: []supervise.Spec{spec("c", false, sleep, "60")}})
	l2.Procs[0].StdoutLogfile = big
	r2 := newRig(t, l2, svrpc.Options{})
	read := map[string]any{"methodName": "supervisor.readProcessStdoutLog", "params": []any{"c", 0, 0}}
	res := r2.ok("system.multicall", []any{read, read, read}).([]any)
	total := 0
	for _, v := range res {
		total += len(v.([]any)[0].(string))
	}
	if total != svrpc.MaxRead {
		t.Errorf("multicall of three reads returned %d bytes, want MaxRead (%d)", total, svrpc.MaxRead)
	}

	// tail -f: the last bytes, then what is appended; a truncation is said.
	resp, err := http.Get(r.url + "/logtail/a")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("logtail: %s", resp.Status)
	}
	readUntil(t, resp.Body, "0123456789\n")
	appendFile(t, out, "more\n")
	readUntil(t, resp.Body, "more\n")
	if v := r.ok("supervisor.clearProcessLogs", "a"); v != true {
		t.Fatalf("clear: %v", v)
	}
	readUntil(t, resp.Body, "==> File truncated <==\n")
	appendFile(t, out, "after\n")
	readUntil(t, resp.Body, "after\n")

	for _, p := range []string{"/logtail/nope", "/logtail/a/stderr", "/logtail/b"} {
		resp, err := http.Get(r.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %s, want 404", p, resp.Status)
		}
	}

	main, err := http.Get(r.url + "/mainlogtail")
	if err != nil {
		t.Fatal(err)
	}
	defer main.Body.Close()
	readUntil(t, main.Body, "0123456789\n")
	if v := r.ok("supervisor.clearLog"); v != true {
		t.Fatalf("clearLog: %v", v)
	}
	if fi, err := os.Stat(mainLog); err != nil || fi.Size() != 0 {
		t.Fatalf("main log after clearLog: %v %v", fi, err)
	}
	res = r.ok("supervisor.clearAllProcessLogs").([]any)
	if len(res) != 2 || info(t, res[0])["status"] != svrpc.Success {
		t.Fatalf("clearAllProcessLogs: %#v", res)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// readUntil reads r until what it read so far ends with want (20s at most).
func readUntil(t *testing.T, r io.Reader, want string) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		var got []byte
		b := make([]byte, 1)
		for !bytes.HasSuffix(got, []byte(want)) {
			if _, err := r.Read(b); err != nil {
				done <- string(got) + " [" + err.Error() + "]"
				return
			}
			got = append(got, b[0])
		}
		done <- ""
	}()
	select {
	case bad := <-done:
		if bad != "" {
			t.Fatalf("stream ended before %q: %q", want, bad)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("stream never said %q", want)
	}
}

func TestReloadConfig(t *testing.T) {
	t.Parallel()
	sleep := lookPath(t, "sleep")
	cur := svrpc.LayoutOf(supervise.Group{Programs: []supervise.Spec{spec("keep", true, sleep, "60"), spec("old", true, sleep, "60"), spec("chg:p", true, sleep, "60")}})
	next := svrpc.LayoutOf(supervise.Group{Programs: []supervise.Spec{spec("keep", true, sleep, "60"), spec("chg:p", true, sleep, "61"), spec("new:q", true, sleep, "60")}})
	var mu sync.Mutex
	fail := false
	loader := func() (svrpc.Layout, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return svrpc.Layout{}, errors.New("line 3: nonsense")
		}
		return next, nil
	}
	var changes []int // the number of programs of each Layout OnChange got
	r := newRig(t, cur, svrpc.Options{Loader: loader, OnChange: func(l svrpc.Layout) {
		mu.Lock()
		changes = append(changes, len(l.Group.Programs))
		mu.Unlock()
	}})
	got := r.ok("supervisor.reloadConfig")
	if want := []any{[]any{[]any{"new"}, []any{"chg"}, []any{"old"}}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("reloadConfig: %#v", got)
	}
	// supervisorctl update: stop, remove, add.
	r.fault(svrpc.StillRunning, "STILL_RUNNING: old", "supervisor.removeProcessGroup", "old")
	r.ok("supervisor.stopProcessGroup", "old")
	if v := r.ok("supervisor.removeProcessGroup", "old"); v != true {
		t.Fatal(v)
	}
	r.fault(svrpc.BadName, "BAD_NAME: old", "supervisor.getProcessInfo", "old")
	r.fault(svrpc.AlreadyAdded, "ALREADY_ADDED: chg", "supervisor.addProcessGroup", "chg")
	r.ok("supervisor.stopProcessGroup", "chg")
	r.ok("supervisor.removeProcessGroup", "chg")
	r.ok("supervisor.addProcessGroup", "chg")
	r.ok("supervisor.addProcessGroup", "new")
	r.fault(svrpc.BadName, "BAD_NAME: nope", "supervisor.addProcessGroup", "nope")
	r.waitState("new:q", supervise.StateRunning)
	r.waitState("chg:p", supervise.StateRunning)
	sts, err := r.sup.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sts {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if want := []string{"chg:p", "keep", "new:q"}; !slices.Equal(names, want) {
		t.Fatalf("programs after update: %v", names)
	}
	if got := r.ok("supervisor.reloadConfig"); !reflect.DeepEqual(got, []any{[]any{[]any{}, []any{}, []any{}}}) {
		t.Fatalf("reloadConfig after update: %#v", got)
	}
	cfg := r.ok("supervisor.getAllConfigInfo").([]any)
	if len(cfg) != 3 || info(t, cfg[0])["name"] != "keep" || info(t, cfg[0])["inuse"] != true {
		t.Fatalf("getAllConfigInfo: %#v", cfg)
	}
	mu.Lock()
	if want := []int{2, 1, 2, 3}; !slices.Equal(changes, want) {
		t.Errorf("OnChange saw layouts of %v programs, want %v", changes, want)
	}
	fail = true
	mu.Unlock()
	r.fault(svrpc.CantReread, "CANT_REREAD: line 3: nonsense", "supervisor.reloadConfig")
}

func TestAuth(t *testing.T) {
	t.Parallel()
	sleep := lookPath(t, "sleep")
	r := newRig(t, svrpc.LayoutOf(supervise.Group{Programs: []supervise.Spec{spec("a", false, sleep, "60")}}), svrpc.Options{})
	for _, pass := range []string{"secret", "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"} {
		hs := httptest.NewServer(r.srv.Handler(svrpc.Auth{Username: "user", Password: pass}))
		defer hs.Close()
		if _, err := call(t, hs.URL, nil, "supervisor.getAPIVersion"); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("no credentials: %v", err)
		}
		if _, err := call(t, hs.URL, &[2]string{"user", "wrong"}, "supervisor.getAPIVersion"); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("wrong password: %v", err)
		}
		if v, err := call(t, hs.URL, &[2]string{"user", "secret"}, "supervisor.getAPIVersion"); err != nil || v != "3.0" {
			t.Errorf("right password (%s): %v %v", pass, v, err)
		}
	}
}

func TestListenInet(t *testing.T) {
	t.Parallel()
	if _, err := svrpc.ListenInet(nil, "0.0.0.0:0", "", ""); !errors.Is(err, svrpc.ErrNoAuth) {
		t.Errorf("0.0.0.0 without auth: %v", err)
	}
	if _, err := svrpc.ListenInet(nil, "*:0", "u", ""); !errors.Is(err, svrpc.ErrNoAuth) {
		t.Errorf("*:0 with a user only: %v", err)
	}
	ln, err := svrpc.ListenInet(nil, "127.0.0.1:0", "", "")
	if err != nil {
		t.Fatalf("loopback without auth: %v", err)
	}
	ln.Close()
	ln, err = svrpc.ListenInet(nil, ":0", "u", "p")
	if err != nil {
		t.Fatalf("every address with auth: %v", err)
	}
	ln.Close()
}

func TestListenUnix(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "run", "s.sock")
	ln, err := svrpc.ListenUnix(nil, sock, 0, svrpc.NoChown)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	if _, err := svrpc.ListenUnix(nil, sock, 0, svrpc.NoChown); err == nil {
		t.Fatal("a live socket was taken over")
	}
	ln.Close()
	ln, err = svrpc.ListenUnix(nil, sock, 0o660, svrpc.NoChown)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode with chmod: %v %v", fi.Mode(), err)
	}
}
