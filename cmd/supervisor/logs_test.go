package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Program output on the console reads "TIME NAME | LINE" for stdout and
// "TIME NAME ! LINE" for stderr; the supervisor's own lines are hclog's as
// before; with --log-format json a program line is a JSON entry with its pid
// and stream.
func TestConsoleFormat(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, `[program:web]
command = sh -c 'echo to-out; echo to-err >&2; exec sleep 60'
`)
	p := start(t, "run", "-c", conf, "--socket", "none")
	out := p.waitLine(t, "web | to-out")
	errLine := p.waitLine(t, "web ! to-err")
	stamp := `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\S* `
	if !regexp.MustCompile(stamp + `web \| to-out$`).MatchString(out) {
		t.Errorf("stdout line %q: want TIME web | to-out", out)
	}
	if !regexp.MustCompile(stamp + `web ! to-err$`).MatchString(errLine) {
		t.Errorf("stderr line %q: want TIME web ! to-err", errLine)
	}
	p.waitLine(t, "[INFO]  supervisor.web: program started: pid=")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exitCode(t); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}

	j := start(t, "run", "-c", conf, "--socket", "none", "--log-format", "json")
	line := j.waitLine(t, `"@message":"to-err"`)
	var e struct {
		Level  string `json:"@level"`
		Module string `json:"@module"`
		Pid    int    `json:"pid"`
		Stream string `json:"stream"`
	}
	if err := json.Unmarshal([]byte(line), &e); err != nil || e.Pid == 0 || e.Stream != "stderr" || e.Module != "supervisor.web" || e.Level != "info" {
		t.Errorf("JSON program line %s: %+v (%v), want pid, stream stderr, module supervisor.web, level info", line, e, err)
	}
	j.cmd.Process.Signal(syscall.SIGTERM)
	if code := j.exitCode(t); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
}

// After logrotate's move, `ctl reopen-logs` makes the program's log file and
// the supervisor's --log-file new files at their paths, and new lines go there.
func TestCtlReopenLogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo, webLog, supLog, sock := filepath.Join(dir, "go"), filepath.Join(dir, "web.log"), filepath.Join(dir, "sup.log"), filepath.Join(dir, "s.sock")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := writeConf(t, fmt.Sprintf(`[program:web]
command = sh -c 'echo before; read x < "$0"; echo after; exec sleep 60' %s
stdout_log = %s
log_max_bytes = 0
`, fifo, webLog))
	p := start(t, "run", "-c", conf, "--socket", sock, "--log-file", supLog)
	waitFileSays(t, webLog, "before\n")
	waitFileSays(t, supLog, "control socket ready", "web | before")
	for _, f := range []string{webLog, supLog} {
		if err := os.Rename(f, f+".1"); err != nil {
			t.Fatal(err)
		}
	}
	if out, errOut, code := ctl(t, sock, "reopen-logs"); code != 0 || out != "reopen-logs: ok\n" {
		t.Fatalf("ctl reopen-logs: exit %d\n%s%s", code, out, errOut)
	}
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0) // the program waits in its open for reading
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "go")
	f.Close()
	waitFileSays(t, webLog, "after\n")
	waitFileSays(t, supLog, "log files reopened", "web | after")
	if b, _ := os.ReadFile(webLog + ".1"); string(b) != "before\n" {
		t.Errorf("the moved program log holds %q", b)
	}
	if b, _ := os.ReadFile(supLog + ".1"); strings.Contains(string(b), "after") {
		t.Errorf("the moved supervisor log got a line after the reopen:\n%s", b)
	}
	if _, errOut, code := ctl(t, sock, "reopen-logs", "web"); code != 2 || !strings.Contains(errOut, "want no argument") {
		t.Errorf("ctl reopen-logs web: exit %d, want 2 (usage)\n%s", code, errOut)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exitCode(t); code != 0 {
		t.Errorf("exit %d, want 0; stderr:\n%s", code, p.log())
	}
	if p.log() != "" {
		t.Errorf("with --log-file, stderr got:\n%s", p.log())
	}
}

// waitFileSays polls, under a deadline, until the file at path holds every
// one of wants (a want ending in a newline: the whole file is it).
func waitFileSays(t *testing.T, path string, wants ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d := time.Millisecond; ; d = min(2*d, 50*time.Millisecond) {
		b, _ := os.ReadFile(path)
		ok := true
		for _, w := range wants {
			if strings.HasSuffix(w, "\n") {
				ok = ok && string(b) == w
			} else {
				ok = ok && strings.Contains(string(b), w)
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q", path, b, wants)
		}
		time.Sleep(d) // polling a file under a deadline, not synchronising
	}
}
