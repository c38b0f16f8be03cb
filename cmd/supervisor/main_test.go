package main_test

// Integration tests: they build the real binaries and run them as a user would,
// some as PID 1 of a new PID namespace (root and unshare needed; skipped otherwise).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/control"
)

var binDir string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "supervisor-it")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binDir = dir
		// Runs with -c or demo would take the default control socket; tests that
		// want one pass --socket.
		os.Setenv("SUPERVISOR_SOCKET", "none")
		build := exec.Command("go", "build", "-o", dir+"/", "../../cmd/supervisor", "../../cmd/child")
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build ships them: static
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build binaries:", err)
			return 1
		}
		code := m.Run()
		if left := waitGone(10 * time.Second); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "LEAK: processes running our binaries after the tests: %v\n", left)
			code = 1
		}
		return code
	}())
}

// ours lists live processes (zombies included) whose executable is one of ours.
func ours() []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
		if err != nil || !strings.HasPrefix(exe, binDir) {
			continue
		}
		out = append(out, e.Name()+":"+filepath.Base(exe))
	}
	return out
}

func waitGone(limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for d := time.Millisecond; ; d = min(2*d, 100*time.Millisecond) {
		left := ours()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(d) // polling the OS under a deadline
	}
}

func bin(name string) string { return filepath.Join(binDir, name) }

func writeConf(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "test.conf")
	body = strings.ReplaceAll(body, "CHILD", bin("child"))
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// proc is a supervisor started by a test, with its stderr (the log) read line by line.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	wake  chan struct{}
	eof   chan struct{}
	done  chan struct{}
	err   error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(bin("supervisor"), args...))
}

func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr, cmd.Stdout = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	p := &proc{cmd: cmd, wake: make(chan struct{}, 1), eof: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.eof)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
		r.Close()
	}()
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitLine waits for a log line containing all of subs.
func (p *proc) waitLine(t *testing.T, subs ...string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			ok := true
			for _, s := range subs {
				ok = ok && strings.Contains(l, s)
			}
			if ok {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-p.eof:
			select {
			case <-p.wake:
				continue
			default:
			}
			t.Fatalf("output ended without a line with %q:\n%s", subs, p.log())
		case <-deadline:
			t.Fatalf("no line with %q within 30s:\n%s", subs, p.log())
		}
	}
}

// logSays fails the test for each of wants that the log (so far) does not hold.
func (p *proc) logSays(t *testing.T, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(p.log(), want) {
			t.Errorf("log does not say %q:\n%s", want, p.log())
		}
	}
}

// exitCode waits for the process and returns its exit code (128+n for a signal).
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("supervisor did not exit:\n%s", p.log())
	}
	<-p.eof
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		t.Fatal(p.err)
		return -1
	}
}

func TestAdHocExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"exit 0", []string{"--run", "0s", "--exit", "0"}, 0},
		{"exit 3", []string{"--run", "0s", "--exit", "3"}, 3},
		{"exit 255", []string{"--run", "0s", "--exit", "255"}, 255},
		{"killed", []string{"--run", "0s", "--signal-self", "KILL"}, 137},
	}
	for _, spawner := range []string{"exec", "forkexec", "reexec"} {
		for _, tc := range cases {
			t.Run(spawner+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				prog := bin("child")
				if spawner == "reexec" {
					prog = "child"
				}
				args := append([]string{"run", "--restart", "never", "--spawner", spawner, "--", prog}, tc.args...)
				p := start(t, args...)
				if got := p.exitCode(t); got != tc.want {
					t.Fatalf("exit code %d, want %d:\n%s", got, tc.want, p.log())
				}
			})
		}
	}
}

func TestMissingProgram(t *testing.T) {
	t.Parallel()
	p := start(t, "run", "--restart", "never", "--", "/nonexistent/program")
	if got := p.exitCode(t); got != 127 {
		t.Fatalf("exit code %d, want 127:\n%s", got, p.log())
	}
	p.waitLine(t, "program could not be started", "/nonexistent/program")

	// A script whose interpreter is missing: the kernel says ENOENT of the
	// script, the log says which interpreter.
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/nonexistent/interp -x\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p = start(t, "run", "--restart", "never", "--", script)
	if got := p.exitCode(t); got != 127 {
		t.Fatalf("exit code %d, want 127:\n%s", got, p.log())
	}
	p.waitLine(t, "program could not be started", `its #! line names \"/nonexistent/interp\", which does not exist`)
}

func TestConfigRunAndSIGTERM(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, `
[program:first]
command = CHILD --ready-line
[program:second]
command = child --ready-line
spawner = reexec
[program:third]
command = CHILD --ready-line --grandchild
spawner = forkexec
`)
	p := start(t, "run", "-c", conf, "--log-format", "json")
	for _, n := range []string{"first", "second", "third"} {
		p.waitLine(t, `"supervisor.`+n+`"`, `"@message":"ready"`)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0:\n%s", got, p.log())
	}
	// Stops begin in reverse order (all at once: nothing orders them).
	log := p.log()
	i3, i2, i1 := strings.Index(log, `"stopping program","@module":"supervisor.third"`),
		strings.Index(log, `"stopping program","@module":"supervisor.second"`),
		strings.Index(log, `"stopping program","@module":"supervisor.first"`)
	if i3 < 0 || i2 < 0 || i1 < 0 || !(i3 < i2 && i2 < i1) {
		t.Errorf("stop order wrong (third %d, second %d, first %d):\n%s", i3, i2, i1, log)
	}
}

// A second stop signal while programs are still being stopped kills them at once:
// a program that ignores SIGTERM and has an hour of grace does not hold us up.
func TestSecondSignalKills(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, `
[program:stubborn]
command = CHILD --ignore-term --ready-line
stop_grace = 1h
`)
	p := start(t, "run", "-c", conf)
	p.waitLine(t, "stubborn | ready")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, "supervisor.stubborn", "stopping program")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d after a second SIGINT, want 0:\n%s", got, p.log())
	}
	p.logSays(t, "stop signal during a shutdown: killing every program now", "killing the program's tree now", `exit="signal SIGKILL"`)
}

// In a shutdown that no signal began (ctl shutdown here; an essential program's
// end is the same), the first SIGINT is already the second request: it kills at
// once.
func TestSignalDuringOtherShutdownKills(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, `
[program:stubborn]
command = CHILD --ignore-term --ready-line
stop_grace = 1h
`)
	sock := filepath.Join(t.TempDir(), "s.sock")
	p := start(t, "run", "-c", conf, "--socket", sock)
	p.waitLine(t, "stubborn | ready")
	p.waitLine(t, "control socket ready")
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: exit %d: %s", code, errOut)
	}
	p.waitLine(t, "supervisor.stubborn", "stopping program")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
	}
	p.logSays(t, "stop signal during a shutdown: killing every program now", "killing the program's tree now")
}

// A reload on SIGHUP that waits for a stubborn program to stop does not keep
// stop signals from being heard.
func TestSignalsDuringHUPReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "r.conf")
	write := func(body string) {
		if err := os.WriteFile(conf, []byte(strings.ReplaceAll(body, "CHILD", bin("child"))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("[program:stubborn]\ncommand = CHILD --ignore-term --ready-line\nstop_grace = 1h\n[program:b]\ncommand = CHILD\n")
	p := start(t, "run", "-c", conf)
	p.waitLine(t, "stubborn | ready")
	write("[program:b]\ncommand = CHILD\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, "supervisor.stubborn", "stopping program")
	for _, want := range []string{"stop signal received", "stop signal during a shutdown"} {
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		p.waitLine(t, "supervisor", want)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
	}
}

// A stop's grace period is the whole tree's: when the leader exits at once on
// SIGTERM, a grandchild still handling its own SIGTERM (for 300 ms) finishes, in
// either kill mode, and one that ignores SIGTERM is killed when the grace ends.
func TestStopGivesTreeItsGrace(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"group", "auto"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			flushed := filepath.Join(dir, "flushed")
			// Each grandchild touches a file once its trap is set; the leader says
			// ready only when both did.
			conf := writeConf(t, fmt.Sprintf(`
[supervisor]
kill_mode = %s
[program:tree]
command = /bin/sh -c 'sh -c "trap \"sleep 0.3; echo flushed > %[2]s; exit 0\" TERM; touch %[3]s/g1; while :; do sleep 0.05; done" & sh -c "trap \"\" TERM; touch %[3]s/g2; while :; do sleep 0.05; done" & trap "exit 0" TERM; while [ ! -e %[3]s/g1 ] || [ ! -e %[3]s/g2 ]; do sleep 0.01; done; echo ready; while :; do sleep 0.05; done'
stop_grace = 2s
`, mode, flushed, dir))
			p := start(t, "run", "-c", conf)
			p.waitLine(t, "tree | ready")
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if got := p.exitCode(t); got != 0 {
				t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
			}
			if b, err := os.ReadFile(flushed); err != nil || string(b) != "flushed\n" {
				t.Errorf("the grandchild did not finish its SIGTERM handler: %q %v\n%s", b, err, p.log())
			}
			p.logSays(t, "waiting for the rest of its tree", "grace period over; killing what is left of the program's tree")
		})
	}
}

// A suspended program (SIGSTOP) is stopped without waiting out its grace: the
// stop signal is followed by SIGCONT, as systemd sends it.
func TestStopSuspendedProgram(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, `
[program:susp]
command = /bin/sh -c 'echo ready; kill -STOP $$$$; echo resumed'
stop_grace = 1h
`)
	p := start(t, "run", "-c", conf)
	line := p.waitLine(t, "supervisor.susp", "program started")
	p.waitLine(t, "susp | ready")
	var pid int
	if _, err := fmt.Sscanf(line[strings.Index(line, "pid=")+4:], "%d", &pid); err != nil {
		t.Fatalf("no pid in %q", line)
	}
	waitProcState(t, pid, 'T')
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
	}
	if strings.Contains(p.log(), "grace period over") {
		t.Errorf("the suspended program was killed at the end of its grace:\n%s", p.log())
	}
}

// A program's command relative to its directory runs from there, whatever the
// supervisor's own working directory; a missing directory is named as such, by
// run --check and by run.
func TestDirectory(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, fmt.Sprintf(`
[program:rel]
command = ./child --ready-line
directory = %s
[program:nodir]
command = CHILD
directory = /nonexistent-dir
restart = never
`, binDir))
	out, err := exec.Command(bin("supervisor"), "run", "--check", "-c", conf).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), `:7: [program:nodir] directory: "/nonexistent-dir" does not exist`) ||
		strings.Contains(string(out), "program:rel") {
		t.Fatalf("--check: %v, want exit 1 naming nodir's directory only:\n%s", err, out)
	}
	cmd := exec.Command(bin("supervisor"), "run", "-c", conf)
	cmd.Dir = t.TempDir() // not binDir: ./child must be found from the program's directory
	p := startCmd(t, cmd)
	p.waitLine(t, "rel | ready")
	p.waitLine(t, "supervisor.nodir", `directory \"/nonexistent-dir\": no such file or directory`)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.exitCode(t)
}

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	good := writeConf(t, "[program:a]\ncommand = CHILD\n")
	out, err := exec.Command(bin("supervisor"), "run", "--check", "-c", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok, 1 program,") {
		t.Fatalf("--check on a good file: %v\n%s", err, out)
	}
	bad := writeConf(t, "[program:a]\ncommand = CHILD\nrestart = sometimes\n")
	cmd := exec.Command(bin("supervisor"), "run", "--check", "-c", bad)
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("--check on a bad file: %v, want exit code 2\n%s", err, out)
	}
	for _, want := range []string{bad + ":3:", "restart", "sometimes"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error %q does not name %q", out, want)
		}
	}
	// Several mistakes: every one in the same run, each on its own line.
	many := writeConf(t, "[program:a]\ncommand = CHILD\nstartsecs = 5\nrestart = sometimes\n[program:b]\ncommand = CHILD\nnumprocs = 2\n")
	out, err = exec.Command(bin("supervisor"), "run", "--check", "-c", many).CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("--check on a file with three mistakes: %v, want exit code 2\n%s", err, out)
	}
	for _, want := range []string{"supervisor: " + many + ":3: [program:a] startsecs: unknown key",
		"supervisor: " + many + ":4: [program:a] restart: \"sometimes\"", "supervisor: " + many + ":7: [program:b] numprocs: unknown key"} {
		if !strings.Contains(string(out), want+"") {
			t.Errorf("--check output does not say %q:\n%s", want, out)
		}
	}
	// It parses, but a command cannot run here: exit 1, each one named with
	// its line.
	missing := writeConf(t, "[program:a]\ncommand = CHILD\n[program:b]\ncommand = /nonexistent/prog\n[program:c]\ncommand = nosuch-cmd-xyz\n")
	out, err = exec.Command(bin("supervisor"), "run", "--check", "-c", missing).CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("--check with missing commands: %v, want exit code 1\n%s", err, out)
	}
	for _, want := range []string{missing + ":4: [program:b] command: \"/nonexistent/prog\" does not exist",
		missing + ":6: [program:c] command: \"nosuch-cmd-xyz\" is not found in PATH", "2 program(s) cannot be started"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--check output does not say %q:\n%s", want, out)
		}
	}
}

// run --check -c FIFO once waited forever for a writer. A named pipe is refused
// (exit 2, naming it) unless it is our stdin; a pipe as -c /dev/stdin is read.
func TestCheckConfigNotARegularFile(t *testing.T) {
	t.Parallel()
	const conf = "[program:a]\ncommand = /bin/true\n"
	check := func(path string, stdin *os.File, stdinText string) (string, string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a hang fails rather than blocks
		defer cancel()
		cmd := exec.CommandContext(ctx, bin("supervisor"), "run", "--check", "-c", path)
		if stdin != nil {
			cmd.Stdin = stdin
		} else {
			cmd.Stdin = strings.NewReader(stdinText) // a pipe
		}
		out, errOut, code := runBinary(t, cmd)
		if ctx.Err() != nil {
			t.Fatalf("--check -c %s did not return", path)
		}
		return out, errOut, code
	}
	fifo := filepath.Join(t.TempDir(), "fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := check(fifo, nil, ""); code != 2 || !strings.Contains(errOut, fifo+": cannot read: not a regular file: it is a named pipe (FIFO)") {
		t.Errorf("--check -c FIFO: exit %d, %q; want 2 and an error naming it", code, errOut)
	}
	if out, _, code := check("/dev/stdin", nil, conf); code != 0 || !strings.Contains(out, "/dev/stdin: ok, 1 program") {
		t.Errorf("--check -c /dev/stdin from a pipe: exit %d, %q", code, out)
	}
	// The FIFO as stdin: deliberate, so read. The write end is closed once the
	// config is in, so the read ends.
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.WriteString(conf)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, _, code := check("/dev/stdin", r, ""); code != 0 || !strings.Contains(out, "/dev/stdin: ok, 1 program") {
		t.Errorf("--check -c /dev/stdin from a named pipe: exit %d, %q", code, out)
	}
}

// An ad hoc goroutine worker: no process, runs until SIGINT, exits 0.
func TestAdHocGoroutine(t *testing.T) {
	t.Parallel()
	p := start(t, "run", "--kind", "goroutine", "--", "service", "--heartbeat", "50ms")
	p.waitLine(t, "supervisor.service", "program started", "kind=goroutine")
	p.waitLine(t, "service service started")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d after SIGINT, want 0:\n%s", got, p.log())
	}
	p.waitLine(t, "service stopping (stop requested)")
}

// version and --version say the same: the version, the commit (unknown in a
// plain go build of a worktree), the Go release.
func TestVersion(t *testing.T) {
	t.Parallel()
	var first string
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin("supervisor"), arg).Output()
		if err != nil || !strings.HasPrefix(string(out), "supervisor ") || !strings.Contains(string(out), "(commit ") || !strings.Contains(string(out), "go1.") {
			t.Errorf("supervisor %s: %v %q", arg, err, out)
		}
		if first == "" {
			first = string(out)
		} else if string(out) != first {
			t.Errorf("supervisor --version %q differs from version %q", out, first)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"run"},
		{"run", "--log-format", "xml", "--", "true"},
		{"run", "--restart", "sometimes", "--", "true"},
		{"run", "-c", "/nonexistent.conf"},
		{"run", "--kind", "thread", "--", "service"},
		{"run", "--kind", "goroutine", "--spawner", "exec", "--", "service"},
		{"run", "--kind", "goroutine", "--", "child"},
		{"run", "--spawner", "goroutine", "--", "service"},
	} {
		out, err := exec.Command(bin("supervisor"), args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || len(out) == 0 {
			t.Errorf("supervisor %q: %v, want exit code 2 with a message; output:\n%s", args, err, out)
		}
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s.sock")
	p := start(t, "demo", "--socket", sock)
	p.waitLine(t, "supervisor.steady", "program started")
	p.waitLine(t, "supervisor.builtin", "program started", "spawner=reexec")
	p.waitLine(t, "supervisor.oneshot", "not restarting")
	p.waitLine(t, "supervisor.inproc", "program started", "kind=goroutine")
	// The README's requests to the demo: one worker, then its pool.
	waitState(t, sock, "talker", "running", 0)
	waitState(t, sock, "hasher-1", "running", 0)
	waitState(t, sock, "hasher-2", "running", 0)
	const helloSHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if out, errOut, code := ctl(t, sock, "request", "talker", "hash", "hello"); code != 0 || out != helloSHA256 {
		t.Errorf("ctl request talker hash hello: exit %d, %q: %s", code, out, errOut)
	}
	answered := map[string]bool{}
	for range 4 {
		out, errOut, code := ctl(t, sock, "request", "--json", "hasher-*", "hash", "hello")
		var rep control.RequestReply
		if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || rep.Text != helloSHA256 {
			t.Fatalf("ctl request --json 'hasher-*' hash hello: exit %d, %q (%v): %s", code, out, err, errOut)
		}
		answered[rep.Program] = true
	}
	if !answered["hasher-1"] || !answered["hasher-2"] {
		t.Errorf("four requests to hasher-* were answered by %v, want both", answered)
	}
	p.waitLine(t, "supervisor.crasher", `exit="exit status 1"`)
	p.waitLine(t, "supervisor.crasher", "restart scheduled")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("demo exit code %d after SIGINT, want 0:\n%s", got, p.log())
	}
	p.waitLine(t, "supervisor stopped")
}

// The supervisor binary alone, installed by make install and run with nothing
// on PATH (no child binary anywhere), runs the demo: every program starts, the
// exec and forkexec ones too, and SIGINT ends it cleanly.
func TestDemoInstalledAlone(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("needs make")
	}
	tmp := t.TempDir()
	install := exec.Command("make", "-C", "../..", "install", "PREFIX="+tmp, "BIN="+filepath.Join(tmp, "build"))
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	// make stamps the version and the commit.
	ver, err := exec.Command(filepath.Join(tmp, "bin", "supervisor"), "version").Output()
	if err != nil || !strings.HasPrefix(string(ver), "supervisor ") || strings.Contains(string(ver), "devel") {
		t.Errorf("installed supervisor version: %v %q, want a stamped version", err, ver)
	}
	if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil && len(head) > 12 {
		if !strings.Contains(string(ver), "commit "+string(head[:12])) {
			t.Errorf("installed supervisor version %q does not name commit %s", ver, head[:12])
		}
	}
	// Only the supervisor: the demo must not need the child binary.
	if err := os.Remove(filepath.Join(tmp, "bin", "child")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(tmp, "bin", "supervisor"), "demo", "--socket", "none")
	cmd.Dir = tmp
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PATH=/nonexistent")
	p := startCmd(t, cmd)
	for _, want := range [][]string{
		{"supervisor.steady", "program started", "spawner=exec"},
		{"steady | tick 1"},
		{"supervisor.crasher", "program started", "spawner=forkexec"},
		{"supervisor.crasher", "program exited", `exit="exit status 1"`},
		{"supervisor.builtin", "program started", "spawner=reexec"},
		{"supervisor.oneshot", "not restarting", "exited successfully"},
		{"supervisor.talker", "program started"},
		{"supervisor.inproc", "program started", "kind=goroutine"},
	} {
		p.waitLine(t, want...)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("demo exit code %d after SIGINT, want 0:\n%s", got, p.log())
	}
	for _, bad := range []string{"exit status 127", "exit status 126", "spawn failed"} {
		if strings.Contains(p.log(), bad) {
			t.Errorf("the log says %q:\n%s", bad, p.log())
		}
	}
}

// asPID1 returns the command prefix that runs a program as PID 1 of a new PID
// namespace, or skips the test where that is not possible.
func asPID1(t *testing.T) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare --pid")
	}
	path, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not installed")
	}
	return []string{path, "--pid", "--fork", "--mount-proc"}
}

func TestPID1ExitCodes(t *testing.T) {
	t.Parallel()
	prefix := asPID1(t)
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--run", "0s", "--exit", "0"}, 0},
		{[]string{"--run", "0s", "--exit", "7"}, 7},
		{[]string{"--run", "0s", "--signal-self", "TERM"}, 143},
	} {
		args := append(append(prefix, bin("supervisor"), "run", "--restart", "never", "--", bin("child")), tc.args...)
		p := startCmd(t, exec.Command(args[0], args[1:]...))
		if got := p.exitCode(t); got != tc.want {
			t.Errorf("%v: exit code %d, want %d:\n%s", tc.args, got, tc.want, p.log())
		}
		p.waitLine(t, "pid1=true")
	}
}

// As PID 1, SIGTERM must stop everything cleanly (an unhandled SIGTERM would make a
// Go PID 1 exit 2 and the kernel kill the namespace).
func TestPID1SIGTERM(t *testing.T) {
	t.Parallel()
	prefix := asPID1(t)
	conf := writeConf(t, "[program:a]\ncommand = CHILD --ready-line --grandchild\n[program:b]\ncommand = CHILD --ready-line\n")
	args := append(prefix, bin("supervisor"), "run", "-c", conf)
	p := startCmd(t, exec.Command(args[0], args[1:]...))
	p.waitLine(t, "a | ready")
	p.waitLine(t, "b | ready")
	sup := childOf(t, p.cmd.Process.Pid)
	if err := syscall.Kill(sup, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
	}
	p.waitLine(t, "supervisor stopped")
}

// ctl tree of a supervisor in another PID namespace says so (its pids mean
// nothing here), instead of drawing this namespace's tree under a wrong root.
func TestCtlTreeOtherNamespace(t *testing.T) {
	t.Parallel()
	prefix := asPID1(t)
	sock := filepath.Join(t.TempDir(), "s.sock")
	conf := writeConf(t, "[program:a]\ncommand = CHILD --ready-line\n")
	args := append(prefix, bin("supervisor"), "run", "-c", conf, "--socket", sock)
	p := startCmd(t, exec.Command(args[0], args[1:]...))
	p.waitLine(t, "a | ready")
	p.waitLine(t, "control socket ready")
	if _, errOut, code := ctl(t, sock, "tree"); code != 1 || !strings.Contains(errOut, "runs in another PID namespace") {
		t.Errorf("ctl tree across PID namespaces: exit %d, %s", code, errOut)
	}
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: exit %d: %s", code, errOut)
	}
	p.exitCode(t)
}

// childOf returns the pid of the only child of parent, read from /proc.
func childOf(t *testing.T, parent int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, parent))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		t.Fatalf("no child of %d: %q", parent, b)
	}
	return pid
}
