package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/supervisor/supervisor/internal/initmode"
	"github.com/supervisor/supervisor/internal/supervise"
)

const initUsage = `usage: supervisor init [flags] -- PROGRAM [ARG...]

Runs PROGRAM as its only child, as a container init (ENTRYPOINT ["supervisor",
"init", "--"]): reaps every process that ends under it (as PID 1, or as a child
subreaper otherwise), forwards every signal it can catch to PROGRAM (all of 1
to 64 but KILL STOP CHLD PIPE URG PROF and 32 to 34; after TSTP TTIN TTOU it
stops itself too), and exits with PROGRAM's status (128+N if signal N killed
it, 127 if it was not found, 126 if it could not be executed). Processes still
left once PROGRAM has ended get SIGTERM, then SIGKILL after --grace.

Under the name tini, docker-init or dumb-init (a link to this binary) it takes
that tool's command line and environment instead: see docs/container.md.

Flags:
`

// initConfig is a parsed init command line, ours or a drop-in's.
type initConfig struct {
	opts       initmode.Options
	logLevel   string
	logFormat  string
	warnOnReap bool
	// noSubreaper: tini without -s, and dumb-init, are not subreapers.
	noSubreaper bool
	// warnNoReaper: say, as tini does, that orphans will not come to us.
	warnNoReaper bool
}

// cmdInit runs "supervisor init" and returns the exit code.
func cmdInit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("supervisor init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), initUsage)
		fs.PrintDefaults()
	}
	cfg := initConfig{opts: initmode.Options{Rewrite: map[syscall.Signal]syscall.Signal{}}}
	fs.BoolVar(&cfg.opts.Group, "g", false, "forward signals to PROGRAM's whole process group, not only to PROGRAM (tini -g)")
	fs.DurationVar(&cfg.opts.Grace, "grace", initmode.DefaultGrace, "once PROGRAM has ended, how long processes left behind get between SIGTERM and SIGKILL")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&cfg.logLevel, "log-level", "warn", "log level: trace, debug, info, warn, error")
	fs.Func("rewrite", "forward signal `FROM:TO` as TO instead (names or numbers; TO 0 drops FROM); repeatable (dumb-init -r)", func(s string) error {
		return initmode.ParseRewrite(cfg.opts.Rewrite, s)
	})
	fs.Func("success-code", "exit 0 when PROGRAM exits with status `N` (0..255); repeatable (tini -e)", func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 255 {
			return fmt.Errorf("%q is not a status 0..255", s)
		}
		cfg.opts.SuccessCodes = append(cfg.opts.SuccessCodes, n)
		return nil
	})
	fs.Func("parent-death-signal", "have `SIG` sent to init when its parent dies (tini -p)", func(s string) error {
		sig, err := initmode.ParseSignal(s)
		cfg.opts.ParentDeathSignal = sig
		return err
	})
	fs.BoolVar(&cfg.opts.Session, "session", false, "run PROGRAM as a session leader, handing it the terminal; TSTP TTIN TTOU reach it as STOP (dumb-init's setsid mode)")
	fs.BoolVar(&cfg.warnOnReap, "warn-on-reap", false, "log every reaped zombie other than PROGRAM at warning level (tini -w)")
	leave := fs.Bool("leave-leftovers", false, "once PROGRAM has ended, exit at once, leaving what it left behind alone (tini's way; as PID 1 the kernel then kills them)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintln(stdout, "supervisor init", version)
		return 0
	}
	switch {
	case fs.NArg() == 0:
		fmt.Fprintf(stderr, "supervisor init: nothing to run: give -- PROGRAM [ARG...]\n")
		return exitUsage
	case cfg.opts.Grace < 0:
		fmt.Fprintf(stderr, "supervisor init: --grace %s is negative\n", cfg.opts.Grace)
		return exitUsage
	}
	if *leave {
		cfg.opts.Leftovers = initmode.LeaveLeftovers
	}
	cfg.opts.Argv = fs.Args()
	return runInit(cfg, stderr)
}

// runInit starts the reaper and runs init as cfg says.
func runInit(cfg initConfig, stderr io.Writer) int {
	log, err := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "supervisor init: %v\n", err)
		return exitUsage
	}
	log = log.Named("init")
	ropts := supervise.ReaperOptions{NoSubreaper: cfg.noSubreaper}
	if cfg.warnOnReap {
		ropts.OnOrphan = func(e supervise.Exit) {
			log.Warn("reaped a zombie", "pid", e.Pid, "exit", e.String())
		}
	}
	reaper, err := supervise.NewReaper(log, ropts)
	if err != nil {
		log.Error("cannot start the reaper", "error", err)
		return 1
	}
	defer reaper.Close()
	if cfg.warnNoReaper && cfg.noSubreaper && !reaper.PID1() {
		log.Warn("not PID 1 and not a child subreaper: orphans will not be re-parented to us and reaped (set TINI_SUBREAPER or -s, or run as PID 1)")
	}
	cfg.opts.Reaper = reaper
	defer trimLater(log)()
	code, err := initmode.Run(context.Background(), log, cfg.opts)
	if err != nil {
		log.Error("init failed", "error", err)
		return 1
	}
	return code
}

// runAs runs the drop-in whose name argv[0] has, and reports false for any
// other name.
func runAs(argv []string, stdout, stderr io.Writer) (int, bool) {
	switch filepath.Base(argv[0]) {
	case "tini", "tini-static", "docker-init":
		keepMainThread(false)
		return cmdTini(argv, stdout, stderr), true
	case "dumb-init":
		keepMainThread(false)
		return cmdDumbInit(argv, stdout, stderr), true
	}
	return 0, false
}

const tiniUsage = `usage: %s [-h] [-s] [-p SIGNAL] [-v] [-w] [-g] [-e EXIT_CODE] [-l] [--] PROGRAM [ARG...] | --version

supervisor init under tini's name: tini's options, environment and rules.

  --version     print the version and exit
  -h            print this help and exit
  -s            be a child subreaper (or set TINI_SUBREAPER)
  -p SIGNAL     have SIGNAL (e.g. SIGKILL) sent to init when its parent dies
  -v            more output; repeat up to 3 times (or TINI_VERBOSITY=0..4, default 1)
  -w            warn about every zombie reaped
  -g            forward signals to PROGRAM's process group (or set TINI_KILL_PROCESS_GROUP)
  -e EXIT_CODE  exit 0 when PROGRAM exits with EXIT_CODE (0..255); repeatable
  -l            print the licence and exit
`

// cmdTini parses tini's command line and environment (tini 0.19: getopt
// "p:hvwgle:s", with GNU's permutation unless POSIXLY_CORRECT is set) and runs
// init with tini's rules. Bad usage exits 1, as tini does.
func cmdTini(argv []string, stdout, stderr io.Writer) int {
	name := filepath.Base(argv[0])
	if len(argv) == 2 && argv[1] == "--version" {
		fmt.Fprintf(stdout, "supervisor %s, as %s\n", version, name)
		return 0
	}
	cfg := initConfig{
		opts:         initmode.Options{Flavor: initmode.Tini, Leftovers: initmode.LeaveLeftovers},
		logFormat:    "text",
		noSubreaper:  true,
		warnNoReaper: true,
	}
	verbosity, group := 1, false
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "%s: "+format+"\n", append([]any{name}, a...)...)
		fmt.Fprintf(stderr, tiniUsage, name)
		return 1
	}
	opt := func(c byte, arg string) int {
		switch c {
		case 'h':
			fmt.Fprintf(stdout, tiniUsage, name)
			return 0
		case 'l':
			fmt.Fprintf(stdout, "supervisor %s, as %s: see the supervisor project's licence\n", version, name)
			return 0
		case 's':
			cfg.noSubreaper = false
		case 'v':
			verbosity++
		case 'w':
			cfg.warnOnReap = true
		case 'g':
			group = true
		case 'p':
			sig, err := initmode.ParseSignal(arg)
			if err != nil || !strings.HasPrefix(arg, "SIG") || sig > 31 {
				fmt.Fprintf(stderr, "%s: not a valid option for -p: %s\n", name, arg)
				return 1
			}
			cfg.opts.ParentDeathSignal = sig
		case 'e':
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 || n > 255 {
				fmt.Fprintf(stderr, "%s: not a valid option for -e: %s\n", name, arg)
				return 1
			}
			cfg.opts.SuccessCodes = append(cfg.opts.SuccessCodes, n)
		}
		return -1
	}
	program, code := getopt(argv[1:], "p:hvwgle:s", os.Getenv("POSIXLY_CORRECT") == "", opt, usageErr)
	if code >= 0 {
		return code
	}
	if len(program) == 0 {
		fmt.Fprintf(stderr, tiniUsage, name)
		return 1
	}
	if _, ok := os.LookupEnv("TINI_SUBREAPER"); ok {
		cfg.noSubreaper = false
	}
	if _, ok := os.LookupEnv("TINI_KILL_PROCESS_GROUP"); ok {
		group = true
	}
	if v, ok := os.LookupEnv("TINI_VERBOSITY"); ok {
		verbosity, _ = strconv.Atoi(v) // atoi, as tini: junk is 0
	}
	cfg.logLevel = tiniLevel(verbosity)
	cfg.opts.Group = group
	cfg.opts.Argv = program
	return runInit(cfg, stderr)
}

// tiniLevel maps tini's verbosity (0 fatal only, 1 warnings, 2 info, 3 debug,
// 4 trace) to a log level.
func tiniLevel(v int) string {
	switch {
	case v <= 0:
		return "error"
	case v == 1:
		return "warn"
	case v == 2:
		return "info"
	case v == 3:
		return "debug"
	default:
		return "trace"
	}
}

// getopt scans POSIX short options as C's getopt does: clusters (-vvg), an
// option's argument in the same word or the next (-e0, -e 0), "--" ending the
// options; with permute, operands may come before options (GNU), otherwise the
// first operand ends them. opt handles one option and returns an exit code to
// stop with, or -1; bad reports an unknown option or a missing argument. It
// returns the operands, and -1 or the exit code opt or bad gave.
func getopt(args []string, spec string, permute bool, opt func(c byte, arg string) int,
	bad func(format string, a ...any) int) ([]string, int) {
	var operands []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(operands, args[i+1:]...), -1
		}
		if len(a) < 2 || a[0] != '-' {
			if !permute {
				return append(operands, args[i:]...), -1
			}
			operands = append(operands, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			k := strings.IndexByte(spec, c)
			if k < 0 || c == ':' {
				return nil, bad("invalid option -- '%c'", c)
			}
			arg := ""
			if k+1 < len(spec) && spec[k+1] == ':' {
				switch {
				case j+1 < len(a):
					arg = a[j+1:]
				case i+1 < len(args):
					i++
					arg = args[i]
				default:
					return nil, bad("option requires an argument -- '%c'", c)
				}
				j = len(a)
			}
			if code := opt(c, arg); code >= 0 {
				return nil, code
			}
		}
	}
	return operands, -1
}

const dumbInitUsage = `usage: %s [option] PROGRAM [ARG...]

supervisor init under dumb-init's name: dumb-init's options, environment and rules.

  -c, --single-child   forward signals to PROGRAM only, and do not make it a
                       session leader (or set DUMB_INIT_SETSID=0)
  -r, --rewrite s:r    forward signal number s as r (1..31; r 0 drops s);
                       repeatable
  -v, --verbose        debugging output on stderr (or set DUMB_INIT_DEBUG=1)
  -h, --help           print this help and exit
  -V, --version        print the version and exit
`

// cmdDumbInit parses dumb-init's command line and environment (dumb-init 1.2:
// getopt_long "+hvVcr:", options end at the first operand) and runs init with
// dumb-init's rules. Bad usage exits 1, as dumb-init does.
func cmdDumbInit(argv []string, stdout, stderr io.Writer) int {
	name := filepath.Base(argv[0])
	cfg := initConfig{
		opts: initmode.Options{
			Flavor:      initmode.DumbInit,
			Leftovers:   initmode.TermGroup,
			ExecFailure: 2,
			Rewrite:     map[syscall.Signal]syscall.Signal{},
		},
		logFormat:   "text",
		logLevel:    "warn",
		noSubreaper: true,
	}
	single, debug := false, false
	badRewrite := func() int {
		fmt.Fprintf(stderr, "%s: -r takes <signum>:<signum>, each 1 to 31 (the second may be 0); repeatable\n", name)
		return 1
	}
	opt := func(c byte, arg string) int {
		switch c {
		case 'h':
			fmt.Fprintf(stderr, dumbInitUsage, name)
			return 0
		case 'V':
			fmt.Fprintf(stderr, "supervisor %s, as %s\n", version, name)
			return 0
		case 'v':
			debug = true
		case 'c':
			single = true
		case 'r':
			from, to, ok := strings.Cut(arg, ":")
			f, err1 := strconv.Atoi(from)
			t, err2 := strconv.Atoi(to)
			if !ok || err1 != nil || err2 != nil || f < 1 || f > 31 || t < 0 || t > 31 {
				return badRewrite()
			}
			cfg.opts.Rewrite[syscall.Signal(f)] = syscall.Signal(t)
		}
		return -1
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "%s: "+format+"\n", append([]any{name}, a...)...)
		return 1
	}
	args, err := dumbInitLongOpts(argv[1:])
	if err != nil {
		return usageErr("%v", err)
	}
	program, code := getopt(args, "hvVcr:", false, opt, usageErr)
	if code >= 0 {
		return code
	}
	if len(program) == 0 {
		fmt.Fprintf(stderr, "usage: %s [option] program [args]\nTry %s --help for full usage.\n", name, name)
		return 1
	}
	if os.Getenv("DUMB_INIT_DEBUG") == "1" {
		debug = true
	}
	if os.Getenv("DUMB_INIT_SETSID") == "0" {
		single = true
	}
	if debug {
		cfg.logLevel = "debug"
	}
	// setsid mode: the program leads a session and signals go to its group
	// (TSTP TTIN TTOU as STOP unless rewritten: Session does that); single-child
	// mode: the program stays in our group and gets signals alone.
	cfg.opts.Session, cfg.opts.Group, cfg.opts.SameGroup = !single, !single, single
	cfg.opts.Argv = program
	return runInit(cfg, stderr)
}

// dumbInitLongOpts turns dumb-init's long options (unambiguous prefixes too, as
// getopt_long takes them; --rewrite=s:r or --rewrite s:r) into short ones, up to
// the first operand or "--".
func dumbInitLongOpts(args []string) ([]string, error) {
	long := []struct {
		name  string
		short string
	}{{"help", "-h"}, {"single-child", "-c"}, {"rewrite", "-r"}, {"verbose", "-v"}, {"version", "-V"}}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return append(out, args[i:]...), nil
		}
		body, ok := strings.CutPrefix(a, "--")
		if !ok {
			out = append(out, a)
			// A cluster whose -r comes last takes the next word as its argument.
			if r := strings.IndexByte(a, 'r'); r == len(a)-1 && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		if body == "rewrite" && i+1 < len(args) { // --rewrite s:r
			i++
			out = append(out, "-r"+args[i])
			continue
		}
		key, val, hasVal := strings.Cut(body, "=")
		var match []string
		for _, l := range long {
			if l.name == key {
				match = []string{l.short}
				break
			}
			if strings.HasPrefix(l.name, key) {
				match = append(match, l.short)
			}
		}
		switch {
		case len(match) == 0:
			return nil, fmt.Errorf("unrecognized option '%s'", a)
		case len(match) > 1:
			return nil, fmt.Errorf("option '%s' is ambiguous", a)
		case hasVal && match[0] != "-r":
			return nil, fmt.Errorf("option '--%s' doesn't allow an argument", key)
		case hasVal:
			out = append(out, "-r"+val)
		default:
			out = append(out, match[0])
		}
	}
	return out, nil
}
