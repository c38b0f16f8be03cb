package worker

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// childConfig is the parsed command line of the "child" worker.
type childConfig struct {
	exit             int            // exit code when --run elapses
	run              time.Duration  // how long to run; meaningful only if runSet
	runSet           bool           // --run was given; without it the worker runs until signalled
	signalSelf       syscall.Signal // 0, or the signal to die by when --run elapses
	ignoreTerm       bool           // log and ignore SIGTERM and SIGINT
	tick             time.Duration  // 0, or the period of "tick N" lines
	stderrTick       bool           // also write "[WARN] tick N" to stderr
	grandchild       bool           // start a grandchild in our process group
	grandchildSetsid bool           // start a grandchild in its own session
	readyLine        bool           // write "ready" once set up
	holdStdout       bool           // grandchildren inherit our stdout instead of /dev/null
	proto            protoConfig    // --protocol and the flags that need it
	daemon           daemonConfig   // --grandchild-daemon (daemon.go)
}

// nonFatalSignals are the signals whose default action does not end the
// process (ignore, stop or continue), so --signal-self rejects them.
var nonFatalSignals = map[syscall.Signal]bool{
	unix.SIGCHLD:  true,
	unix.SIGCONT:  true,
	unix.SIGSTOP:  true,
	unix.SIGTSTP:  true,
	unix.SIGTTIN:  true,
	unix.SIGTTOU:  true,
	unix.SIGURG:   true,
	unix.SIGWINCH: true,
}

// parseSignal parses a signal name such as "KILL", "SIGKILL" or "kill", and
// accepts only signals whose default action ends the process.
func parseSignal(s string) (syscall.Signal, error) {
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	if nonFatalSignals[sig] {
		return 0, fmt.Errorf("signal %s does not end a process by default", name)
	}
	return sig, nil
}

// parseChildFlags parses and checks args, reporting any problem (and the usage)
// on stderr. It returns flag.ErrHelp for -h; any other error means bad arguments.
func parseChildFlags(args []string, stderr io.Writer) (childConfig, error) {
	var cfg childConfig
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.exit, "exit", 0, "exit code when --run elapses (0..255)")
	fs.DurationVar(&cfg.run, "run", 0, "run this long, then exit with --exit (default: until SIGTERM/SIGINT; 0s ends at once)")
	fs.Func("signal-self", "when --run elapses, die by this signal (e.g. KILL, SEGV, ABRT) instead of exiting", func(s string) error {
		sig, err := parseSignal(s)
		cfg.signalSelf = sig
		return err
	})
	fs.BoolVar(&cfg.ignoreTerm, "ignore-term", false, "catch SIGTERM and SIGINT, log and ignore them")
	fs.DurationVar(&cfg.tick, "tick", 0, "write \"tick N\" on stdout at this period (0: off)")
	fs.BoolVar(&cfg.stderrTick, "stderr-tick", false, "also write \"[WARN] tick N\" on stderr (needs --tick)")
	fs.BoolVar(&cfg.grandchild, "grandchild", false, "start a grandchild in this process group and never wait for it")
	fs.BoolVar(&cfg.grandchildSetsid, "grandchild-setsid", false, "start a grandchild in its own session and never wait for it")
	fs.BoolVar(&cfg.readyLine, "ready-line", false, "write \"ready\" on stdout once signals are handled and grandchildren started")
	fs.BoolVar(&cfg.holdStdout, "hold-stdout", false, "grandchildren inherit stdout (default: /dev/null)")
	cfg.proto.addFlags(fs)
	cfg.daemon.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg.runSet = set["run"]

	protoProblem := cfg.proto.problem(set)
	var problem string
	switch {
	case fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected argument %q", fs.Arg(0))
	case cfg.exit < 0 || cfg.exit > 255:
		problem = fmt.Sprintf("--exit %d is outside 0..255", cfg.exit)
	case cfg.run < 0:
		problem = fmt.Sprintf("--run %v is negative", cfg.run)
	case cfg.tick < 0:
		problem = fmt.Sprintf("--tick %v is negative", cfg.tick)
	case (set["exit"] || set["signal-self"]) && !cfg.runSet:
		problem = "--exit and --signal-self need --run"
	case set["exit"] && set["signal-self"]:
		problem = "--exit and --signal-self exclude each other"
	case cfg.stderrTick && cfg.tick == 0:
		problem = "--stderr-tick needs --tick"
	case cfg.holdStdout && !cfg.grandchild && !cfg.grandchildSetsid:
		problem = "--hold-stdout needs --grandchild or --grandchild-setsid"
	case protoProblem != "":
		problem = protoProblem
	default:
		return cfg, nil
	}
	fmt.Fprintf(stderr, "child: %s\n", problem)
	fs.Usage()
	return cfg, errBadArgs
}

// errBadArgs reports arguments that parse but do not make sense together.
var errBadArgs = errors.New("worker: bad arguments")

// runChild is the "child" worker; see the package documentation.
func runChild(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseChildFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if cfg.daemon.intermediate {
		return runIntermediate(stdout, stderr)
	}

	var ipcOut, ipcIn *os.File
	if cfg.proto.on {
		if ipcOut, ipcIn, err = openIPC(); err != nil {
			fmt.Fprintf(stderr, "child: %v\n", err)
			return 1
		}
	}

	// Buffered: signal.Notify never blocks, and we drain in the loop below.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	defer signal.Stop(sigs)

	fmt.Fprintf(stdout, "child %d started\n", os.Getpid())

	for _, setsid := range []bool{false, true} {
		if (setsid && !cfg.grandchildSetsid) || (!setsid && !cfg.grandchild) {
			continue
		}
		pid, err := startGrandchild(setsid, cfg.holdStdout, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "child: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "grandchild %d\n", pid)
	}
	if cfg.daemon.daemon {
		pid, err := startDaemon()
		if err != nil {
			fmt.Fprintf(stderr, "child: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "daemon %d\n", pid)
	}

	if cfg.readyLine {
		fmt.Fprintln(stdout, "ready")
	}

	var proto *protocol // nil without --protocol
	var readyC <-chan time.Time
	var servedC <-chan error
	if cfg.proto.on {
		var code int
		if proto, code = startProtocol(cfg.proto, ipcIn, ipcOut, stderr); proto == nil {
			return code
		}
		defer proto.close()
		readyC, servedC = proto.readyC, proto.served
	}

	var runC <-chan time.Time // nil (never ready) without --run
	if cfg.runSet {
		if cfg.run == 0 {
			return cfg.end(stderr)
		}
		t := time.NewTimer(cfg.run)
		defer t.Stop()
		runC = t.C
	}
	var tickC <-chan time.Time // nil (never ready) without --tick
	if cfg.tick > 0 {
		t := time.NewTicker(cfg.tick)
		defer t.Stop()
		tickC = t.C
	}

	for n := 1; ; {
		select {
		case s := <-sigs:
			name := unix.SignalName(s.(syscall.Signal))
			if cfg.ignoreTerm {
				fmt.Fprintf(stderr, "ignoring %s\n", name)
				continue
			}
			fmt.Fprintf(stdout, "stopping on %s\n", name)
			return 0
		case <-runC:
			return cfg.end(stderr)
		case <-readyC: // --slow-start elapsed
			readyC = nil
			if code, ok := proto.ready(stderr); !ok {
				return code
			}
		case <-proto.progressC():
			proto.c.Progress()
		case err := <-servedC:
			return proto.end(err, stdout, stderr)
		case <-tickC:
			fmt.Fprintf(stdout, "tick %d\n", n)
			if cfg.stderrTick {
				fmt.Fprintf(stderr, "[WARN] tick %d\n", n)
			}
			n++
		}
	}
}

// end ends the worker once --run has elapsed: it returns the --exit code, or
// with --signal-self does not return unless the signal could not be sent.
func (cfg childConfig) end(stderr io.Writer) int {
	if cfg.signalSelf == 0 {
		return cfg.exit
	}
	err := dieBySignal(cfg.signalSelf)
	fmt.Fprintf(stderr, "child: %v\n", err)
	return 1
}
