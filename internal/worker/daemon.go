package worker

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// daemonConfig is the double-fork part of the "child" worker's command line.
type daemonConfig struct {
	daemon       bool // start a daemon the classic way: fork, setsid, fork, first child exits
	intermediate bool // internal: we are that first child
}

func (d *daemonConfig) addFlags(fs *flag.FlagSet) {
	fs.BoolVar(&d.daemon, "grandchild-daemon", false,
		"start a daemon by double fork (an intermediate calls setsid, starts it and exits), so it is re-parented to our subreaper")
	fs.BoolVar(&d.intermediate, "daemon-intermediate", false,
		"internal to --grandchild-daemon: start a plain child, print its pid, exit")
}

// runIntermediate is the first child of a double fork: it already runs in a
// session of its own; it starts the daemon (a plain "child" worker, in its
// session and process group), writes its pid on stdout and exits, orphaning it.
func runIntermediate(stdout, stderr io.Writer) int {
	pid, err := startGrandchild(false, false, io.Discard)
	if err != nil {
		fmt.Fprintf(stderr, "child: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d\n", pid)
	return 0
}

// startDaemon double-forks a plain "child" worker and returns the daemon's pid.
// The intermediate process exits at once; like every grandchild it is never
// waited for (it stays a zombie until this worker ends), and the daemon is
// re-parented to the nearest subreaper (the supervisor) or init.
func startDaemon() (int, error) {
	if err := closeOnExecFrom(3); err != nil {
		return 0, fmt.Errorf("start daemon: %w", err)
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("start daemon: %w", err)
	}
	defer devNull.Close()
	// pidR stays with us; pidW goes to the intermediate as its stdout and is
	// closed here once it started, so EOF comes when the intermediate exits.
	pidR, pidW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("start daemon: %w", err)
	}
	defer pidR.Close()
	argv := []string{os.Args[0]}
	if filepath.Base(os.Args[0]) == Arg0 {
		argv = append(argv, "child")
	}
	argv = append(argv, "--daemon-intermediate")
	proc, err := os.StartProcess(selfExe, argv, &os.ProcAttr{
		Files: []*os.File{devNull, pidW, devNull},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	pidW.Close()
	if err != nil {
		return 0, fmt.Errorf("start daemon: %w", err)
	}
	_ = proc.Release() // never waited, see above
	rd := bufio.NewReader(pidR)
	line, err := rd.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("start daemon: the intermediate said nothing: %w", err)
	}
	// EOF: the intermediate is exiting (its files close just before the kernel
	// re-parents the daemon, so a reader may still see the old parent briefly).
	_, _ = io.Copy(io.Discard, rd)
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, fmt.Errorf("start daemon: the intermediate said %q", line)
	}
	return pid, nil
}
