package worker

// The demo workers: the small misbehaving families that `supervisor demo zombie`
// and `supervisor demo orphan` (internal/demo) show in the process table. They
// start their own children by re-executing /proc/self/exe under Arg0, so they
// must run from a binary whose main calls Dispatch (the supervisor, test
// binaries), not from cmd/child. Every line they write is one Write, so it is
// atomic on a pipe.
//
//	hold           reads fd 0 until EOF, then exits 0: a process that lives
//	               exactly as long as someone holds the write end of its stdin.
//	zombie-parent  a parent that never waits for its children. Reads commands,
//	               one per line, from fd 3 (a pipe): "spawn" starts a "hold"
//	               child whose stdin pipe it keeps ("child PID"); "release PID"
//	               closes that pipe, so the child exits and, never waited for,
//	               stays a zombie ("released PID"); "ping" answers "pong" (proof
//	               its loop runs and still has not reaped); "exit" or EOF exits 0.
//	               Writes "parent PID" first.
//	orphan-maker   starts a "hold" grandchild on its own fd 0, writes
//	               "grandchild PID" and exits 0 at once, never waiting: the
//	               grandchild is orphaned.
//	host           --subreaper on|off sets PR_SET_CHILD_SUBREAPER on itself,
//	               reads it back and writes "host PID subreaper 0|1"; starts an
//	               orphan-maker on its fd 4 (its stdout shared) and writes "child
//	               PID"; then reaps every child it has, the orphan-maker and any
//	               orphan the kernel gives it, writing "reaped PID STATUS" for
//	               each, until it has none; exits 0 at EOF on fd 3. The one worker
//	               that waits: a subreaper must.

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Fds of the demo workers, besides 0, 1 and 2.
const (
	demoCmdFd  = 3 // zombie-parent, host: commands from the demo; EOF means exit
	demoHoldFd = 4 // host: the hold pipe handed to its orphan-maker as fd 0
)

// startSelf starts this binary as the built-in worker name (argv[0] Arg0) with
// files as its fds 0, 1, 2, in our process group, and releases it without
// waiting: whoever ends up its parent reaps it.
func startSelf(files []*os.File, name string, args ...string) (int, error) {
	argv := append([]string{Arg0, name}, args...)
	p, err := os.StartProcess(selfExe, argv, &os.ProcAttr{Files: files})
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	pid := p.Pid
	if err := p.Release(); err != nil {
		return 0, fmt.Errorf("release %s %d: %w", name, pid, err)
	}
	return pid, nil
}

// demoPipeFd checks that fd is a pipe, marks every fd >= 3 close-on-exec (so our
// children inherit none of them) and returns fd as a file.
func demoPipeFd(fd int, name string) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("need a pipe at fd %d: %w", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil, fmt.Errorf("need a pipe at fd %d, not a file of mode %#o", fd, st.Mode&unix.S_IFMT)
	}
	if err := closeOnExecFrom(3); err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

func noArgs(name string, args []string, stderr io.Writer) bool {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, args[0])
		return false
	}
	return true
}

func runHold(args []string, stdout, stderr io.Writer) int {
	if !noArgs("hold", args, stderr) {
		return 2
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

func runZombieParent(args []string, stdout, stderr io.Writer) int {
	if !noArgs("zombie-parent", args, stderr) {
		return 2
	}
	cmds, err := demoPipeFd(demoCmdFd, "commands")
	if err != nil {
		fmt.Fprintf(stderr, "zombie-parent: %v\n", err)
		return 1
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "zombie-parent: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "parent %d\n", os.Getpid())
	holds := map[int]*os.File{} // child pid -> write end of its stdin: it lives while we hold it
	sc := bufio.NewScanner(cmds)
	for sc.Scan() {
		verb, arg, _ := strings.Cut(sc.Text(), " ")
		switch verb {
		case "spawn":
			// holdR goes to the child as fd 0; holdW stays here.
			holdR, holdW, err := os.Pipe()
			if err != nil {
				fmt.Fprintf(stderr, "zombie-parent: %v\n", err)
				return 1
			}
			pid, err := startSelf([]*os.File{holdR, devNull, devNull}, "hold")
			holdR.Close()
			if err != nil {
				fmt.Fprintf(stderr, "zombie-parent: %v\n", err)
				return 1
			}
			holds[pid] = holdW
			fmt.Fprintf(stdout, "child %d\n", pid)
		case "release":
			pid, _ := strconv.Atoi(arg)
			w := holds[pid]
			if w == nil {
				fmt.Fprintf(stderr, "zombie-parent: release %q: no such child\n", arg)
				continue
			}
			w.Close() // the child reads EOF and exits; we never wait for it
			delete(holds, pid)
			fmt.Fprintf(stdout, "released %d\n", pid)
		case "ping":
			fmt.Fprintln(stdout, "pong")
		case "exit":
			return 0
		default:
			fmt.Fprintf(stderr, "zombie-parent: unknown command %q\n", sc.Text())
		}
	}
	return 0 // EOF: the demo is gone or done
}

func runOrphanMaker(args []string, stdout, stderr io.Writer) int {
	if !noArgs("orphan-maker", args, stderr) {
		return 2
	}
	if err := closeOnExecFrom(3); err != nil {
		fmt.Fprintf(stderr, "orphan-maker: %v\n", err)
		return 1
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "orphan-maker: %v\n", err)
		return 1
	}
	pid, err := startSelf([]*os.File{os.Stdin, devNull, devNull}, "hold")
	if err != nil {
		fmt.Fprintf(stderr, "orphan-maker: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "grandchild %d\n", pid)
	return 0 // without waiting: the grandchild is an orphan now
}

func runHost(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("subreaper", "", "on or off: PR_SET_CHILD_SUBREAPER for this process")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || (*mode != "on" && *mode != "off") {
		fmt.Fprintln(stderr, "host: need --subreaper on|off and no arguments")
		return 2
	}
	cmds, err := demoPipeFd(demoCmdFd, "commands")
	if err != nil {
		fmt.Fprintf(stderr, "host: %v\n", err)
		return 1
	}
	hold := os.NewFile(demoHoldFd, "hold") // close-on-exec since demoPipeFd
	on := 0
	if *mode == "on" {
		on = 1
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, uintptr(on), 0, 0, 0); err != nil {
		fmt.Fprintf(stderr, "host: set child subreaper: %v\n", err)
		return 1
	}
	var got int32 // read back: what the kernel holds, not what we asked
	if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&got)), 0, 0, 0); err != nil {
		fmt.Fprintf(stderr, "host: get child subreaper: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "host %d subreaper %d\n", os.Getpid(), got)

	out, ok := stdout.(*os.File)
	if !ok {
		out = os.Stdout
	}
	// The child's end of the demo's hold pipe goes on as its fd 0.
	pid, err := startSelf([]*os.File{hold, out, os.Stderr}, "orphan-maker")
	if err != nil {
		fmt.Fprintf(stderr, "host: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "child %d\n", pid)
	// Reap until we have no child left: the orphan-maker and, with the bit on,
	// the grandchild the kernel gives us when the orphan-maker exits (before it
	// becomes a zombie, so before this loop can see ECHILD).
	go func() {
		for {
			var ws unix.WaitStatus
			wpid, err := unix.Wait4(-1, &ws, 0, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return // ECHILD: nobody left to reap
			}
			fmt.Fprintf(stdout, "reaped %d %s\n", wpid, waitStatusString(ws))
		}
	}()
	_, _ = io.Copy(io.Discard, cmds)
	return 0
}

func waitStatusString(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + unix.SignalName(ws.Signal())
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}
