package main_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// printMasks is a program printing its own SigIgn and SigBlk (not a shell:
// dash clears its signal mask at start).
var printMasks = []string{"grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"}

func maskLine(t *testing.T, p *proc, key string) string {
	t.Helper()
	l := p.waitLine(t, key+":")
	_, v, _ := strings.Cut(l, ":")
	return strings.TrimSpace(v)
}

// What init's parent left ignored (nohup's HUP, a shell's trap ” INT TSTP) or
// blocked (USR1, WINCH) is ignored or blocked in the program too, as under
// tini, as PID 1 and as a subreaper. Signals the Go runtime takes over before
// main (QUIT here) cannot be passed on: the package doc says which.
func TestInitInheritsIgnoredAndBlocked(t *testing.T) {
	t.Parallel()
	inits := []struct {
		doc  string
		argv func(t *testing.T) []string
	}{
		{"ours", func(t *testing.T) []string { return []string{bin("supervisor"), "init", "--"} }},
		{"real tini", func(t *testing.T) []string { return []string{realTool(t, "tini"), "-s", "--"} }},
	}
	for _, mode := range initModes {
		for _, in := range inits {
			t.Run(mode.name+"/"+in.doc, func(t *testing.T) {
				t.Parallel()
				// As a parent that ignores and blocks signals leaves them
				// (coreutils env; nohup ignores HUP).
				argv := append([]string{"env", "--ignore-signal=INT,TSTP,QUIT", "--block-signal=USR1,WINCH", "nohup"}, in.argv(t)...)
				if mode.pid1 {
					argv = append(append(asPID1(t), "--kill-child"), argv...)
				}
				argv = append(argv, printMasks...)
				p := startCmd(t, exec.Command(argv[0], argv[1:]...))
				ign, blk := maskLine(t, p, "SigIgn"), maskLine(t, p, "SigBlk")
				if got := p.exitCode(t); got != 0 {
					t.Fatalf("exit code %d:\n%s", got, p.log())
				}
				for _, s := range []syscall.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGTSTP} {
					if !maskHas(ign, int(s)) {
						t.Errorf("%s not ignored in the program: SigIgn %s", unix.SignalName(s), ign)
					}
				}
				for _, s := range []syscall.Signal{unix.SIGUSR1, unix.SIGWINCH} {
					if !maskHas(blk, int(s)) {
						t.Errorf("%s not blocked in the program: SigBlk %s", unix.SignalName(s), blk)
					}
				}
			})
		}
	}
}

// nohup supervisor init -- PROGRAM: a hang-up sent to init is forwarded, and
// the program, which ignores it as nohup asked, lives on.
func TestInitNohupSurvivesHangup(t *testing.T) {
	t.Parallel()
	for _, mode := range initModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			inR, inW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer inW.Close()
			p, initPid := startAs(t, mode.pid1, inR, "nohup", bin("supervisor"), "init", "--log-level", "debug", "--",
				"sh", "-c", "echo ready; read x; echo survived")
			inR.Close()
			p.waitLine(t, "ready")
			// Logged once init catches HUP again (it ignores it around the fork).
			p.waitLine(t, "program started")
			if err := unix.Kill(initPid, unix.SIGHUP); err != nil {
				t.Fatal(err)
			}
			p.waitLine(t, "forwarded signal", "SIGHUP")
			inW.Close()
			p.waitLine(t, "survived")
			if got := p.exitCode(t); got != 0 {
				t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
			}
		})
	}
}

// Signals that crash a Go program that does not ask for them, sent to init
// from inside its PID namespace (and to a subreaper init by its program): init
// survives, and the program, which ignores them, says so.
func TestInitSurvivesEverySignalFromInside(t *testing.T) {
	t.Parallel()
	sigs := "ABRT ILL TRAP BUS FPE SEGV SYS STKFLT PROF URG 32 33 34 XCPU XFSZ VTALRM IO"
	for _, mode := range initModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			target := "$PPID"
			if mode.pid1 {
				target = "1"
			}
			script := fmt.Sprintf(`for s in %s; do trap '' $s; kill -$s %s; done; echo survived`, sigs, target)
			p, _ := startAs(t, mode.pid1, nil, bin("supervisor"), "init", "--", "bash", "-c", script)
			p.waitLine(t, "survived")
			if got := p.exitCode(t); got != 0 {
				t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
			}
			if strings.Contains(p.log(), "goroutine ") {
				t.Errorf("a traceback:\n%s", p.log())
			}
		})
	}
}

// Once the program runs, init's working directory is / (it holds nothing busy);
// the program keeps the one it was started in. dumb-init does the same; tini
// keeps its own, and our tini name does not (a deliberate difference).
func TestInitWorkingDirectories(t *testing.T) {
	t.Parallel()
	for _, mode := range initModes {
		for _, name := range []string{"ours", "tini", "dumb-init", "real dumb-init"} {
			t.Run(mode.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				var argv []string
				switch name {
				case "ours":
					argv = []string{bin("supervisor"), "init", "--"}
				case "real dumb-init":
					argv = []string{realTool(t, "dumb-init")}
				default:
					argv = []string{dropIn(t, name)}
				}
				dir := t.TempDir()
				inR, inW, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer inW.Close()
				if mode.pid1 {
					argv = append(append(asPID1(t), "--kill-child"), argv...)
				}
				cmd := exec.Command(argv[0], append(argv[1:], "cat")...)
				cmd.Dir, cmd.Stdin = dir, inR
				p := startCmd(t, cmd)
				inR.Close()
				initPid := cmd.Process.Pid
				if mode.pid1 {
					initPid = waitChildOf(t, initPid)
				}
				prog := waitChildOf(t, initPid)
				pollUntil(t, "init in /", func() bool {
					cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", initPid))
					return cwd == "/"
				})
				if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", prog)); err != nil || cwd != dir {
					t.Errorf("program's directory %q (%v), want %q", cwd, err, dir)
				}
				inW.Close()
				if got := p.exitCode(t); got != 0 {
					t.Fatalf("exit code %d:\n%s", got, p.log())
				}
			})
		}
	}
}

func TestInitRewrite(t *testing.T) {
	t.Parallel()
	for _, mode := range initModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			p, initPid := startAs(t, mode.pid1, nil, bin("supervisor"), "init", "--rewrite", "TERM:USR1",
				"--rewrite", "HUP:0", "--rewrite", "RTMIN+3:QUIT", "--",
				bin("child"), "signals", "--exit-on", "QUIT", "--code", "4")
			p.waitLine(t, "ready")
			for _, s := range []syscall.Signal{unix.SIGHUP, unix.SIGTERM} {
				if err := unix.Kill(initPid, s); err != nil {
					t.Fatal(err)
				}
			}
			p.waitLine(t, "got SIGUSR1")
			if err := unix.Kill(initPid, 37); err != nil { // SIGRTMIN+3
				t.Fatal(err)
			}
			if got := p.exitCode(t); got != 4 {
				t.Fatalf("exit code %d, want 4:\n%s", got, p.log())
			}
			for _, never := range []string{"got SIGHUP", "got SIGTERM"} {
				if strings.Contains(p.log(), never) {
					t.Errorf("%s: rewritten away, yet received:\n%s", never, p.log())
				}
			}
		})
	}
}

func TestInitSuccessCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--success-code", "3", "--", "sh", "-c", "exit 3"}, 0},
		{[]string{"--success-code", "3", "--", "sh", "-c", "exit 4"}, 4},
		{[]string{"--success-code", "143", "--", "sh", "-c", "kill $$"}, 0},
		{[]string{"--success-code", "127", "--", "/nonexistent"}, 0},
	} {
		out, err := exec.Command(bin("supervisor"), append([]string{"init"}, tc.args...)...).CombinedOutput()
		if got := exitStatus(t, err); got != tc.want {
			t.Errorf("init %q: status %d, want %d\n%s", tc.args, got, tc.want, out)
		}
	}
}

func exitStatus(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		t.Fatal(err)
		return -1
	}
}

// When init's parent dies, init gets the --parent-death-signal and forwards it.
func TestInitParentDeathSignal(t *testing.T) {
	t.Parallel()
	// The parent is a shell that starts init in the background and waits on
	// its stdin; SIGKILLing it orphans init.
	script := fmt.Sprintf(`%s init --parent-death-signal USR1 -- %s signals --exit-on USR1 --code 7 & read x`,
		bin("supervisor"), bin("child"))
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdin = inR
	p := startCmd(t, cmd)
	inR.Close()
	p.waitLine(t, "ready")
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, "got SIGUSR1") // init, then the program, end; the pipe closes
}

// --session: the program leads its own session; a TSTP sent to init reaches it
// as STOP, then init stops too; SIGCONT resumes both.
func TestInitSession(t *testing.T) {
	t.Parallel()
	for _, mode := range initModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			p, initPid := startAs(t, mode.pid1, nil, bin("supervisor"), "init", "--session", "--",
				bin("child"), "signals", "--exit-on", "TERM", "--code", "3")
			p.waitLine(t, "ready")
			prog := waitChildOf(t, initPid)
			if sid, err := unix.Getsid(prog); err != nil || sid != prog {
				t.Errorf("program %d in session %d (%v), want its own", prog, sid, err)
			}
			if err := unix.Kill(initPid, unix.SIGTSTP); err != nil {
				t.Fatal(err)
			}
			pollUntil(t, "the program stopped", func() bool { return stopped(prog) })
			if !mode.pid1 {
				pollUntil(t, "init stopped", func() bool { return stopped(initPid) })
			}
			if err := unix.Kill(initPid, unix.SIGCONT); err != nil {
				t.Fatal(err)
			}
			p.waitLine(t, "got SIGCONT")
			if strings.Contains(p.log(), "got SIGTSTP") {
				t.Errorf("TSTP reached the program as itself:\n%s", p.log())
			}
			if err := unix.Kill(initPid, unix.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if got := p.exitCode(t); got != 3 {
				t.Fatalf("exit code %d, want 3:\n%s", got, p.log())
			}
		})
	}
}

func TestInitWarnOnReap(t *testing.T) {
	t.Parallel()
	for _, mode := range initModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			p, _ := startAs(t, mode.pid1, nil, bin("supervisor"), "init", "--warn-on-reap", "--",
				bin("child"), "orphans", "--count", "2")
			if got := p.exitCode(t); got != 0 {
				t.Fatalf("exit code %d:\n%s", got, p.log())
			}
			if n := strings.Count(p.log(), "[WARN]  supervisor.init: reaped a zombie"); n != 2 {
				t.Errorf("%d warnings, want 2:\n%s", n, p.log())
			}
		})
	}
}

// leftoverScript leaves two sleeps behind, one in the program's process group
// and one in a session of its own (once it is), prints their pids and exits 0.
const leftoverScript = `sleep 1000 </dev/null >/dev/null 2>&1 & a=$!
setsid sleep 1000 </dev/null >/dev/null 2>&1 & b=$!
until [ "$(cut -d' ' -f6 /proc/$b/stat)" = "$b" ]; do :; done
echo "left $a $b"`

// runLeftovers runs leftoverScript under argv (not PID 1: as PID 1 the kernel
// kills whatever init leaves when it exits) and returns init's exit code and
// the two pids; cleanup kills whichever is still alive.
func runLeftovers(t *testing.T, argv ...string) (code, sameGroup, ownSession int) {
	t.Helper()
	p := startCmd(t, exec.Command(argv[0], append(argv[1:], "sh", "-c", leftoverScript)...))
	line := p.waitLine(t, "left ")
	if _, err := fmt.Sscanf(line[strings.Index(line, "left "):], "left %d %d", &sameGroup, &ownSession); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	t.Cleanup(func() {
		for _, pid := range []int{sameGroup, ownSession} {
			if fd, err := unix.PidfdOpen(pid, 0); err == nil {
				// "setsid" too: the script saw the new session before
				// setsid(1) had exec'd sleep (a sleep left behind in CI).
				if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); slices.Contains([]string{"sleep", "setsid"}, strings.TrimSpace(string(b))) {
					_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
				}
				unix.Close(fd)
			}
		}
	})
	return p.exitCode(t), sameGroup, ownSession
}

// What is left after the program ends, per rule: ours kills everything
// (SIGTERM), --leave-leftovers and tini leave everything, dumb-init SIGTERMs the
// program's group. Checked against Debian's tini and dumb-init: the same exit
// code and the same leftovers alive.
func TestInitLeftoversDifferential(t *testing.T) {
	t.Parallel()
	type want struct{ groupAlive, sessionAlive bool }
	cases := []struct {
		doc  string
		argv func(t *testing.T) []string
		want want
	}{
		{"ours", func(t *testing.T) []string { return []string{bin("supervisor"), "init", "--"} }, want{false, false}},
		{"ours --leave-leftovers", func(t *testing.T) []string {
			return []string{bin("supervisor"), "init", "--leave-leftovers", "--"}
		}, want{true, true}},
		{"tini -s", func(t *testing.T) []string { return []string{dropIn(t, "tini"), "-s", "--"} }, want{true, true}},
		{"real tini -s", func(t *testing.T) []string { return []string{realTool(t, "tini"), "-s", "--"} }, want{true, true}},
		{"dumb-init", func(t *testing.T) []string { return []string{dropIn(t, "dumb-init")} }, want{false, true}},
		{"real dumb-init", func(t *testing.T) []string { return []string{realTool(t, "dumb-init")} }, want{false, true}},
		{"dumb-init -c", func(t *testing.T) []string { return []string{dropIn(t, "dumb-init"), "-c"} }, want{true, true}},
		{"real dumb-init -c", func(t *testing.T) []string { return []string{realTool(t, "dumb-init"), "-c"} }, want{true, true}},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			code, a, b := runLeftovers(t, tc.argv(t)...)
			if code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			for _, c := range []struct {
				pid  int
				want bool
				what string
			}{{a, tc.want.groupAlive, "in the program's group"}, {b, tc.want.sessionAlive, "in its own session"}} {
				if c.want {
					if !alive(c.pid) {
						t.Errorf("the leftover %s (%d) is gone, want it left alive", c.what, c.pid)
					}
					continue
				}
				pollUntil(t, fmt.Sprintf("the leftover %s (%d) to end", c.what, c.pid), func() bool { return !alive(c.pid) })
			}
		})
	}
}

// Each name's command line, and ours, give the exit codes the real tool gives.
func TestInitCommandLinesDifferential(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tool string
		args []string
		env  []string
	}{
		{"tini", []string{"--version"}, nil},
		{"tini", []string{"-h"}, nil},
		{"tini", []string{"-l"}, nil},
		{"tini", nil, nil},
		{"tini", []string{"--"}, nil},
		{"tini", []string{"-x", "true"}, nil},
		{"tini", []string{"-e", "256", "true"}, nil},
		{"tini", []string{"-e", "x", "true"}, nil},
		{"tini", []string{"-p", "KILL", "true"}, nil},
		{"tini", []string{"-p", "SIGKILL", "--", "true"}, nil},
		{"tini", []string{"-e"}, nil},
		{"tini", []string{"--", "sh", "-c", "exit 3"}, nil},
		{"tini", []string{"-e", "3", "--", "sh", "-c", "exit 3"}, nil},
		{"tini", []string{"-e3", "-e", "4", "-vvw", "--", "sh", "-c", "exit 4"}, nil},
		{"tini", []string{"-s", "-g", "--", "sh", "-c", "kill -TERM $$"}, nil},
		{"tini", []string{"sh", "-c", "exit 5"}, nil}, // getopt permutes: -c is tini's, and unknown
		{"tini", []string{"sh", "-c", "exit 5"}, []string{"POSIXLY_CORRECT=1"}},
		{"tini", []string{"true", "-s"}, nil},
		{"tini", []string{"--", "/nonexistent"}, nil},
		{"tini", []string{"--", "sh", "-c", "exit 6"}, []string{"TINI_SUBREAPER=", "TINI_KILL_PROCESS_GROUP=1", "TINI_VERBOSITY=3"}},
		{"docker-init", []string{"--", "sh", "-c", "exit 7"}, nil},
		{"dumb-init", []string{"--version"}, nil},
		{"dumb-init", []string{"-V"}, nil},
		{"dumb-init", []string{"--help"}, nil},
		{"dumb-init", []string{"--he"}, nil},
		{"dumb-init", []string{"--ver"}, nil},
		{"dumb-init", nil, nil},
		{"dumb-init", []string{"--bogus", "true"}, nil},
		{"dumb-init", []string{"-x", "true"}, nil},
		{"dumb-init", []string{"-r", "15", "true"}, nil},
		{"dumb-init", []string{"-r", "32:1", "true"}, nil},
		{"dumb-init", []string{"sh", "-c", "exit 3"}, nil},
		{"dumb-init", []string{"-c", "--", "sh", "-c", "exit 4"}, nil},
		{"dumb-init", []string{"--single-child", "-r", "15:0", "--rewrite=1:0", "sh", "-c", "exit 5"}, nil},
		{"dumb-init", []string{"-vc", "sh", "-c", "kill -TERM $$"}, nil},
		{"dumb-init", []string{"/nonexistent"}, nil},
		{"dumb-init", []string{"sh", "-c", "exit 6"}, []string{"DUMB_INIT_SETSID=0", "DUMB_INIT_DEBUG=1"}},
	} {
		real := tc.tool
		if real == "docker-init" {
			real = "tini"
		}
		theirsCmd := exec.Command(realTool(t, real), tc.args...)
		oursCmd := exec.Command(dropIn(t, tc.tool), tc.args...)
		for _, c := range []*exec.Cmd{theirsCmd, oursCmd} {
			c.Env = append(os.Environ(), tc.env...)
		}
		theirsOut, theirsErr := theirsCmd.CombinedOutput()
		oursOut, oursErr := oursCmd.CombinedOutput()
		theirs, ours := exitStatus(t, theirsErr), exitStatus(t, oursErr)
		if theirs != ours {
			t.Errorf("%s %q %q: ours exits %d, theirs %d\nours:\n%s\ntheirs:\n%s", tc.tool, tc.env, tc.args, ours, theirs, oursOut, theirsOut)
		}
	}
}

func TestInitVersionAndUsage(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(bin("supervisor"), "init", "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "supervisor init ") {
		t.Errorf("init --version: %v %q", err, out)
	}
	for _, args := range [][]string{
		{"init", "--rewrite", "TERM", "--", "true"},
		{"init", "--rewrite", "NOPE:TERM", "--", "true"},
		{"init", "--rewrite", "TERM:RTMAX+1", "--", "true"},
		{"init", "--success-code", "256", "--", "true"},
		{"init", "--parent-death-signal", "65", "--", "true"},
	} {
		out, err := exec.Command(bin("supervisor"), args...).CombinedOutput()
		if got := exitStatus(t, err); got != 2 || len(out) == 0 {
			t.Errorf("supervisor %q: status %d, want 2 with a message; output:\n%s", args, got, out)
		}
	}
}
