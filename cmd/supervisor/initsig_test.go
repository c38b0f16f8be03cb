package main_test

// Issue 14: every signal, inherited dispositions, working directories, the
// flags, and the tini and dumb-init names, each against the real tool where
// one is installed (Debian's tini and dumb-init; .ci/run installs them).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var linksOnce sync.Once

// dropIn is the path of a link named name (tini, docker-init, dumb-init) to
// our supervisor binary.
func dropIn(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(binDir, "links")
	linksOnce.Do(func() {
		_ = os.Mkdir(dir, 0o755)
		for _, n := range []string{"tini", "docker-init", "dumb-init"} {
			_ = os.Symlink(bin("supervisor"), filepath.Join(dir, n))
		}
	})
	return filepath.Join(dir, name)
}

// realTool is Debian's tini or dumb-init, or the test is skipped.
func realTool(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink == 0 {
			return p
		}
	}
	t.Skipf("%s is not installed (apt-get install %s)", name, name)
	return ""
}

// startAs starts argv (an init and its program), as PID 1 of a new PID
// namespace when pid1 is set (unshare --kill-child, so the namespace dies with
// unshare). It returns the process and init's pid as seen from here.
func startAs(t *testing.T, pid1 bool, stdin *os.File, argv ...string) (*proc, int) {
	t.Helper()
	if pid1 {
		argv = append(append(asPID1(t), "--kill-child"), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = stdin
	p := startCmd(t, cmd)
	if !pid1 {
		return p, cmd.Process.Pid
	}
	return p, waitChildOf(t, cmd.Process.Pid)
}

// waitChildOf polls until parent has a child running another program than
// parent's own, and returns it. Children are listed per thread (the one that
// forked them), so every task's list is read; a child running parent's own
// executable (Go's short-lived pidfd probe, a clone) is passed over.
func waitChildOf(t *testing.T, parent int) int {
	t.Helper()
	self, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", parent))
	var pid int
	pollUntil(t, fmt.Sprintf("a child of %d", parent), func() bool {
		files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			for _, field := range strings.Fields(string(b)) {
				pid, _ = strconv.Atoi(field)
				if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe != self {
					return true
				}
			}
		}
		return false
	})
	return pid
}

// pollUntil polls the OS until ok, under a generous deadline.
func pollUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	pollUntilP(t, nil, what, ok)
}

// pollUntilP is pollUntil, showing p's output if it fails.
func pollUntilP(t *testing.T, p *proc, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d := time.Millisecond; !ok(); d = min(2*d, 20*time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			out := ""
			if p != nil {
				out = p.log()
			}
			t.Fatalf("waited 30s for %s; output:\n%s\n%s", what, out, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(d) // polling the OS under a deadline
	}
}

// procStatus returns the fields of /proc/PID/status, or nil if it is gone.
func procStatus(pid int) map[string]string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func maskHas(hex string, sig int) bool {
	m, err := strconv.ParseUint(hex, 16, 64)
	return err == nil && m&(1<<(sig-1)) != 0
}

// stopped reports whether pid is stopped ('T'). (alive, in ctl_test.go: it
// exists and is not a zombie.)
func stopped(pid int) bool {
	st := procStatus(pid)
	return st != nil && strings.HasPrefix(st["State"], "T")
}

// receiver is a bash program that traps every signal it can (all of 1 to 64
// but KILL, CHLD and STOP), prints "got N" for each, and exits 0 when its
// stdin closes. Its "ready" line comes after the traps are set. It is one
// process (read is a builtin that a trapped signal interrupts), so signals
// sent to its whole group reach nothing else. (read times out now and then
// only because bash defers a trap whose signal lands just before read blocks
// until read returns.)
const receiver = `for s in $(seq 1 64); do case $s in 9|17|19) ;; *) trap "echo got $s" $s;; esac; done
echo ready
while :; do read -t 0.2 -r x; [ $? -eq 1 ] && break; done
echo done
`

// signalMatrix runs the receiver under argv (an init command line ending in
// its program slot), sends it every signal 1 to 64 but KILL and STOP, and
// returns the signal numbers the program received. After each signal it waits
// until init has taken it (no longer pending), continuing init or the program
// if that signal stopped them, so the order of the program's lines need not
// follow the order sent.
func signalMatrix(t *testing.T, pid1 bool, argv ...string) map[int]bool {
	t.Helper()
	script := filepath.Join(t.TempDir(), "receiver.sh")
	if err := os.WriteFile(script, []byte(receiver), 0o644); err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	p, initPid := startAs(t, pid1, inR, append(argv, "bash", script)...)
	inR.Close()
	p.waitLine(t, "ready")
	prog := waitChildOf(t, initPid)
	pending := func(pid int) bool {
		st := procStatus(pid)
		return st != nil && (st["ShdPnd"] != "0000000000000000" || st["SigPnd"] != "0000000000000000")
	}
	// settle waits until init has taken sig. A stopped program is continued
	// (through init, which forwards SIGCONT) at once; a stopped init only once
	// the program has taken what init forwarded before stopping: a SIGCONT
	// generated for a process discards its pending stop signals, and a stop
	// signal its pending SIGCONT.
	settle := func(sig int) {
		pollUntilP(t, p, fmt.Sprintf("signal %d taken by init %d", sig, initPid), func() bool {
			st := procStatus(initPid)
			if st == nil {
				t.Fatalf("init died of signal %d:\n%s", sig, p.log())
			}
			switch {
			case stopped(prog):
				_ = unix.Kill(initPid, unix.SIGCONT)
				return false
			case stopped(initPid):
				if !pending(prog) {
					_ = unix.Kill(initPid, unix.SIGCONT)
				}
				return false
			}
			return !maskHas(st["ShdPnd"], sig) && !maskHas(st["SigPnd"], sig)
		})
	}
	// awaitUSR2 waits until the program has printed its nth "got 12", sending
	// init a USR2 now unless one was just sent (sent), and again every second
	// the line has not come.
	awaitUSR2 := func(n, after int, sent bool) {
		last := time.Time{}
		if sent {
			last = time.Now()
		}
		pollUntilP(t, p, fmt.Sprintf("USR2 forwarded after signal %d", after), func() bool {
			if countLines(p, "got 12") >= n {
				return true
			}
			if time.Since(last) > time.Second {
				if err := unix.Kill(initPid, unix.SIGUSR2); err != nil {
					t.Fatal(err)
				}
				last = time.Now()
				settle(int(unix.SIGUSR2))
			}
			if stopped(prog) || stopped(initPid) {
				settle(int(unix.SIGUSR2))
			}
			return countLines(p, "got 12") >= n
		})
	}
	// barrier: two round trips of USR2. Whatever init took before has been
	// forwarded by the second (os/signal hands over pending signals lowest
	// number first, so one round trip could overtake), and the program has
	// taken it, so the next signal cannot discard it.
	//
	// A USR2 that reaches bash just after it printed the previous one's line,
	// before it cleared that trap's pending flag, is merged into it and never
	// printed (seen in CI about once in five runs): one not seen after a
	// second is sent again; more lines than rounds do no harm.
	barrier := func(after int) {
		for range 2 {
			n := countLines(p, "got 12") + 1
			awaitUSR2(n, after, false)
		}
	}
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		n := countLines(p, "got 12") + 1
		if err := unix.Kill(initPid, syscall.Signal(sig)); err != nil {
			t.Fatalf("signal %d: %v", sig, err)
		}
		settle(sig)
		if sig == int(unix.SIGUSR2) {
			// USR2 itself: its own line first. Else the barrier's first round
			// could take it for its own, and its second round's USR2 merge
			// with the first's, still on its way (seen in CI: 30s waiting for
			// a line that could never come).
			awaitUSR2(n, sig, true)
		}
		barrier(sig)
	}
	inW.Close()
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
	}
	got := map[int]bool{}
	for _, l := range strings.Split(p.log(), "\n") {
		if n, ok := strings.CutPrefix(l, "got "); ok {
			sig, _ := strconv.Atoi(n)
			got[sig] = true
		}
	}
	return got
}

// countLines counts the output lines equal to line.
func countLines(p *proc, line string) int {
	n := 0
	for _, l := range strings.Split(p.log(), "\n") {
		if l == line {
			n++
		}
	}
	return n
}

// allBut is every signal 1 to 64 minus the listed ones.
func allBut(except ...int) map[int]bool {
	m := map[int]bool{}
	for s := 1; s <= 64; s++ {
		if !slices.Contains(except, s) {
			m[s] = true
		}
	}
	return m
}

func diffSets(got, want map[int]bool) string {
	var extra, missing []int
	for s := 1; s <= 64; s++ {
		switch {
		case got[s] && !want[s]:
			extra = append(extra, s)
		case !got[s] && want[s]:
			missing = append(missing, s)
		}
	}
	if extra == nil && missing == nil {
		return ""
	}
	return fmt.Sprintf("received but not expected %v, expected but not received %v", extra, missing)
}

// Never received by any program under our init: KILL, STOP (never sent), CHLD,
// and what a Go program cannot catch (URG, PROF, 32, 33, 34).
var neverForwarded = []int{9, 17, 19, 23, 27, 32, 33, 34}

// Every signal 1 to 64 sent to init: which reach the program, for our rules
// and for the tini and dumb-init names, as PID 1 and as a subreaper. None kills
// init (settle fails the test if one does).
func TestInitSignalMatrix(t *testing.T) {
	t.Parallel()
	cases := []struct {
		doc  string
		argv func(t *testing.T) []string
		want map[int]bool
	}{
		{"ours", func(t *testing.T) []string { return []string{bin("supervisor"), "init", "--"} },
			allBut(append(neverForwarded, 13)...)}, // PIPE: ours not
		{"ours -g", func(t *testing.T) []string { return []string{bin("supervisor"), "init", "-g", "--"} },
			allBut(append(neverForwarded, 13)...)},
		// tini never receives the faults, SYS, TTIN or TTOU; it forwards PIPE.
		{"tini", func(t *testing.T) []string { return []string{dropIn(t, "tini"), "-s", "--"} },
			allBut(append(neverForwarded, 4, 5, 6, 7, 8, 11, 21, 22, 31)...)},
		// dumb-init's setsid mode forwards TSTP TTIN TTOU as STOP.
		{"dumb-init", func(t *testing.T) []string { return []string{dropIn(t, "dumb-init")} },
			allBut(append(neverForwarded, 20, 21, 22)...)},
		{"dumb-init -c", func(t *testing.T) []string { return []string{dropIn(t, "dumb-init"), "-c"} },
			allBut(neverForwarded...)},
	}
	for _, mode := range initModes {
		for _, tc := range cases {
			t.Run(mode.name+"/"+tc.doc, func(t *testing.T) {
				t.Parallel()
				got := signalMatrix(t, mode.pid1, tc.argv(t)...)
				if d := diffSets(got, tc.want); d != "" {
					t.Errorf("%s", d)
				}
			})
		}
	}
}

// The same matrix under Debian's tini and dumb-init, as PID 1 (as a plain
// process tini dies of the faults it leaves at their default action): the
// program receives the same signals under theirs and under ours, but for URG,
// PROF and 34, which a Go program cannot catch.
func TestInitSignalMatrixDifferential(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ tool, opt string }{{"tini", "--"}, {"dumb-init", "-c"}, {"dumb-init", ""}} {
		t.Run(tc.tool+tc.opt, func(t *testing.T) {
			t.Parallel()
			theirs, ours := []string{realTool(t, tc.tool)}, []string{dropIn(t, tc.tool)}
			if tc.opt != "" {
				theirs, ours = append(theirs, tc.opt), append(ours, tc.opt)
			}
			var gotTheirs, gotOurs map[int]bool
			t.Run("both", func(t *testing.T) {
				t.Run("theirs", func(t *testing.T) { t.Parallel(); gotTheirs = signalMatrix(t, true, theirs...) })
				t.Run("ours", func(t *testing.T) { t.Parallel(); gotOurs = signalMatrix(t, true, ours...) })
			})
			if t.Failed() {
				return
			}
			for _, s := range []int{23, 27, 34} {
				if !gotTheirs[s] {
					t.Errorf("theirs did not forward %d: the known difference is gone", s)
				}
				delete(gotTheirs, s)
			}
			if d := diffSets(gotOurs, gotTheirs); d != "" {
				t.Errorf("ours against theirs: %s", d)
			}
		})
	}
}
