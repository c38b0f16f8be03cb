// Command supervisor starts programs, keeps them running under restart policies,
// reaps every process that ends under it and stops whole process trees.
//
//	supervisor run -c FILE            supervise the programs of a config file
//	supervisor run --check -c FILE    validate a config file and exit (ours or
//	                                  supervisord's, which supervisorctl can steer)
//	supervisor convert FILE           a supervisord config file as ours
//	supervisor run -- PROGRAM ARGS... supervise one program ad hoc
//	supervisor demo                   run the embedded demo config
//	supervisor init -- PROGRAM ARGS...  a container init (like tini): run PROGRAM,
//	                                  reap every zombie, forward signals, exit
//	                                  with PROGRAM's status
//	tini|docker-init|dumb-init ...    the same, under that tool's name, command
//	                                  line and rules (a link to this binary)
//	supervisor demo zombie|orphan|semaphore  narrated demonstrations (internal/demo)
//	supervisor compare                the same workers as goroutines and as
//	                                  processes, measured side by side
//	supervisor version                the version and commit (also --version)
//	supervisor worker NAME ARGS...    a built-in worker, in this process
//
// run and demo exit 0 after a requested stop (SIGINT, SIGTERM) or when every
// program ended successfully; with the shell-style status of the last program that
// ended in failure for good otherwise; 2 for bad usage or a bad config.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/buildinfo"
	"github.com/supervisor/supervisor/internal/compare"
	"github.com/supervisor/supervisor/internal/config"
	"github.com/supervisor/supervisor/internal/control"
	"github.com/supervisor/supervisor/internal/demo"
	"github.com/supervisor/supervisor/internal/logfile"
	"github.com/supervisor/supervisor/internal/procs"
	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/svconf"
	"github.com/supervisor/supervisor/internal/svrpc"
	"github.com/supervisor/supervisor/internal/worker"
)

//go:embed demo.conf
var demoConf []byte

const usage = `usage:
  supervisor run [flags] -c FILE            supervise the programs in FILE
  supervisor run --check -c FILE            validate FILE and exit
                                            (FILE: ours, or supervisord's: docs/supervisord.md)
  supervisor convert FILE                   a supervisord FILE as our configuration
  supervisor run [flags] -- PROGRAM [ARG...] supervise one program
  supervisor demo [flags]                   run the embedded demo config
  supervisor ctl [--json] COMMAND           steer a running supervisor (ctl -h)
  supervisor tree [--pid N] [--json]        the running supervisor's process tree (or N's)
  supervisor top                            the tree, live; q or Ctrl-C quits
  supervisor init [flags] -- PROGRAM [ARG...] run PROGRAM as a container init
  supervisor demo zombie|orphan|semaphore [flags]  narrated demos: zombies, orphans, leases
  supervisor compare [--json|--markdown] [-n N]  goroutine and process workers, measured side by side
  supervisor version                        the version and commit (also --version)
  supervisor worker NAME [ARG...]           run a built-in worker (as spawner = reexec does)

Run 'supervisor run -h' or 'supervisor init -h' for the flags.
`

// exitUsage is the exit code for bad usage or a bad config file.
const exitUsage = 2

func main() {
	// A re-executed supervisor running a built-in worker never returns; the
	// import of internal/compare registers its sacrificial supervisor as one.
	worker.Dispatch()
	procs.Default()
	if err := readResumed(); err != nil {
		// The old image's children die with this process (Pdeathsig) rather
		// than run on unsupervised.
		fmt.Fprintf(os.Stderr, "supervisor: %v\n", err)
		os.Exit(1)
	}
	// Under the name tini, docker-init or dumb-init (a link to this binary), take
	// that tool's command line.
	if code, ok := runAs(os.Args, os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if args[0] != "run" && args[0] != "demo" {
		keepMainThread(false)
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr, false)
	case "demo":
		if len(args) > 1 && demo.IsScenario(args[1]) {
			return cmdDemo(args[1], args[2:], stdout, stderr)
		}
		return cmdRun(args[1:], stdout, stderr, true)
	case "ctl":
		return cmdCtl(args[1:], stdout, stderr)
	case "tree":
		return cmdTree(args[1:], stdout, stderr, control.DefaultSocket())
	case "top":
		return cmdTop(args[1:], stdout, stderr)
	case "init":
		return cmdInit(args[1:], stdout, stderr)
	case "compare":
		return cmdCompare(args[1:], stdout, stderr)
	case "convert":
		return cmdConvert(args[1:], stdout, stderr)
	case "worker":
		// A built-in worker in this process: what spawner = reexec runs, under
		// a name a command line can give (the demo's exec programs run
		// /proc/self/exe worker child ...).
		if len(args) < 2 {
			fmt.Fprintf(stderr, "supervisor worker: name a worker (one of %s)\n", strings.Join(worker.Names(), ", "))
			return exitUsage
		}
		return worker.Run(args[1], args[2:], stdout, stderr)
	case "upgrade-check":
		return cmdUpgradeCheck(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "supervisor", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "supervisor: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
}

// version is this build's version and commit, for version, --version, init
// --version and the tini and dumb-init names (internal/buildinfo).
var version = buildinfo.Get().String()

func cmdRun(args []string, stdout, stderr io.Writer, demo bool) int {
	name := "run"
	if demo {
		name = "demo"
	}
	fs := flag.NewFlagSet("supervisor "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		file      = fs.String("c", "", "config `file`")
		check     = fs.Bool("check", false, "validate the config and exit")
		logFormat = fs.String("log-format", "text", "log format: text or json")
		logLevel  = fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
		restart   = fs.String("restart", "on-failure", "ad hoc program: restart policy (always, on-failure, never)")
		spawner   = fs.String("spawner", "", "ad hoc program: spawner (exec, forkexec, reexec; default exec)")
		kind      = fs.String("kind", "", "ad hoc program: kind (goroutine, reexec, exec); goroutine runs a built-in worker inside the supervisor")
		progName  = fs.String("name", "", "ad hoc program: name (default: the program's base name)")
		httpAddr  = fs.String("http", "", "serve /healthz and /metrics (Prometheus) on this `host:port`, unauthenticated: an address that is not loopback is logged as a warning; off by default")
		socket    = fs.String("socket", "", "control socket `path` for supervisor ctl (default with -c and demo: "+control.DefaultSocket()+"; none: no socket)")
		logFile   = fs.String("log-file", "", "write the log (and the programs' output lines) to this `file` instead of stderr; supervisor ctl reopen-logs reopens it")
		upgrade   = fs.Bool("upgradable", false, "fork every program on the main thread, so that supervisor ctl upgrade can exec a new binary in place and keep every child (costs restart latency: docs/upgrade.md)")
		format    = fs.String("format", "auto", "the config file's `format`: native, supervisord, or auto (recognised from the file: docs/supervisord.md)")
	)
	err := fs.Parse(args)
	mainThread := keepMainThread(*upgrade && err == nil && !*check)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}

	group, source, src, sv, err := loadGroup(*file, *format, fs.Args(), demo, adhoc{restart: *restart, spawner: *spawner, kind: *kind, name: *progName})
	if err != nil {
		printErr(stderr, err)
		return exitUsage
	}
	if *check && sv != nil {
		return checkSupervisord(source, sv, stdout, stderr)
	}
	if *check {
		if *file != "" {
			// Parsed; now whether each external command can run here.
			problems, err := config.CheckCommands(*file, src)
			if err != nil {
				printErr(stderr, err)
				return exitUsage
			}
			for _, p := range problems {
				fmt.Fprintf(stderr, "supervisor: %v\n", p)
			}
			if len(problems) > 0 {
				fmt.Fprintf(stdout, "%s: parses, but %d program(s) cannot be started here\n", source, len(problems))
				return 1
			}
		}
		if *file == "" { // ad hoc: whether its one command can run here
			if err := config.CheckSpec(group.Programs[0]); err != nil {
				fmt.Fprintf(stderr, "supervisor: command line: %v\n", err)
				fmt.Fprintf(stdout, "%s: parses, but the program cannot be started here\n", source)
				return 1
			}
		}
		fmt.Fprintf(stdout, "%s: ok, %s, strategy %s\n", source, plural(len(group.Programs), "program"), group.Strategy)
		return 0
	}

	if sv != nil && !flagSet(fs, "log-level") {
		*logLevel = svLogLevel(sv.Supervisord.Loglevel)
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "supervisor: %v\n", err)
		return exitUsage
	}
	logPath, tee, rot := *logFile, false, logfile.Options{}
	if sv != nil && logPath == "" && sv.Supervisord.Logfile != "" {
		// supervisord -n writes its log file and its stdout both.
		logPath, tee = sv.Supervisord.Logfile, true
		rot = logfile.Options{MaxBytes: sv.Supervisord.LogfileMaxbytes, Backups: sv.Supervisord.LogfileBackups}
	}
	out, err := newConsole(stderr, logPath, *logFormat, hclog.LevelFromString(*logLevel), tee, rot)
	if err != nil {
		fmt.Fprintf(stderr, "supervisor: %v\n", err)
		return exitUsage
	}
	defer out.close()
	log, _ = newLogger(out, *logFormat, *logLevel) // checked just above
	if demo {
		log.Info("demo: supervising the embedded config; press Ctrl-C to stop")
	}
	if sv != nil {
		for _, w := range sv.Warnings {
			log.Warn("supervisord config: " + w.Error())
		}
	}
	sock, explicit := *socket, *socket != ""
	if !explicit && (*file != "" || demo) {
		sock = control.DefaultSocket()
	}
	return serve(log, group, source, *file, src, sock, explicit, *httpAddr, out, sv, *format, mainThread)
}

// cmdDemo runs a narrated demonstration; Ctrl-C stops it and its cleanup runs.
func cmdDemo(name string, args []string, stdout, stderr io.Writer) int {
	pipes := make(chan os.Signal, 1) // a closed output pipe must not kill us mid-cleanup
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return demo.Run(ctx, name, args, os.Stdin, stdout, stderr)
}

type adhoc struct{ restart, spawner, kind, name string }

// loadGroup reads the group from a file, the embedded demo config, or an ad hoc
// command line, and says where it came from; src is the file's text, if any.
// A supervisord file (format supervisord, or auto and svconf.Detect says so)
// comes back as sv too.
func loadGroup(file, format string, rest []string, demo bool, ah adhoc) (g supervise.Group, source string, src []byte, sv *svconf.Config, err error) {
	switch format {
	case "auto", "native", "supervisord":
	default:
		return g, "", nil, nil, fmt.Errorf("--format %q: want auto, native or supervisord", format)
	}
	switch {
	case demo:
		if file != "" || len(rest) > 0 {
			return g, "", nil, nil, errors.New("demo takes no config file or program")
		}
		g, err := config.Parse("demo.conf (embedded)", demoConf)
		return g, "demo.conf (embedded)", nil, nil, err
	case file != "" && len(rest) > 0:
		return g, "", nil, nil, errors.New("give either -c FILE or -- PROGRAM ARGS, not both")
	case file != "":
		if src, err = config.ReadFile(file); err != nil {
			return g, file, nil, nil, err
		}
		if isSupervisord(format, src) {
			sv, err = svconf.Parse(file, src, svconf.Options{})
			if err != nil {
				return g, file, src, nil, err
			}
			return sv.Group, file, src, sv, nil
		}
		g, err = config.Parse(file, src)
		return g, file, src, nil, err
	case len(rest) > 0:
		s := supervise.DefaultSpec()
		s.Command = rest
		s.Name = ah.name
		if s.Name == "" {
			s.Name = nameFor(rest[0])
		}
		s.Restart = supervise.RestartPolicy(ah.restart)
		if err := ah.setKind(&s); err != nil {
			return g, "", nil, nil, fmt.Errorf("command line: %w", err)
		}
		g = supervise.Group{Strategy: supervise.OneForOne, Programs: []supervise.Spec{s}}
		if err := g.Validate(); err != nil {
			return g, "", nil, nil, fmt.Errorf("command line: %w", err)
		}
		if err := config.Workers().CheckGroup(&g); err != nil {
			return g, "", nil, nil, fmt.Errorf("command line: %w", err)
		}
		return g, "command line", nil, nil, nil
	default:
		return g, "", nil, nil, errors.New("nothing to run: give -c FILE or -- PROGRAM ARGS (see supervisor run -h)")
	}
}

// nameFor makes an ad hoc program's default name from its command: the file name,
// with what a program name may not hold (see supervise.Spec.Validate) replaced by
// '_', so that `run -- ./.tool` or `run -- "my prog"` need no --name.
func nameFor(cmd string) string {
	b := []byte(strings.TrimLeft(filepath.Base(cmd), ".-"))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "program"
	}
	return string(b[:min(len(b), 64)])
}

func newLogger(w io.Writer, format, level string) (hclog.Logger, error) {
	lvl := hclog.LevelFromString(level)
	if lvl == hclog.NoLevel {
		return nil, fmt.Errorf("--log-level %q: want trace, debug, info, warn or error", level)
	}
	var json bool
	switch format {
	case "text":
	case "json":
		json = true
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	if _, ok := w.(*console); !json && !ok { // a console escapes by itself
		w = escapeControls{w}
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "supervisor",
		Level:      lvl,
		Output:     w,
		JSONFormat: json,
	}), nil
}

// escapeControls writes text log lines with what could drive a terminal shown
// escaped (see escapeText): a child's output is logged as it came, and raw ESC,
// CR or BS bytes would let it recolour the operator's terminal, set its title or
// overwrite the log line it is on. (JSON escapes them itself.)
type escapeControls struct{ w io.Writer }

func (e escapeControls) Write(p []byte) (int, error) {
	out, changed := escapeText(p)
	if !changed {
		return e.w.Write(p)
	}
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeText returns b with every byte or rune that a terminal could act on
// escaped, and whether it changed anything: C0 controls but tab and newline, and
// DEL, as \xNN; C1 controls (U+0080-U+009F, CSI among them) and the
// bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069), which
// reorder what the line shows, as \uNNNN; bytes that are not UTF-8 as \xNN.
func escapeText(b []byte) ([]byte, bool) {
	i := 0
	for i < len(b) && b[i] >= 0x20 && b[i] < 0x7f || i < len(b) && (b[i] == '\t' || b[i] == '\n') {
		i++
	}
	if i == len(b) {
		return b, false // plain ASCII: the common case
	}
	out := append(make([]byte, 0, len(b)+16), b[:i]...)
	changed := false
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			out, changed = fmt.Appendf(out, "\\x%02x", b[i]), true
		case r < 0x20 && r != '\t' && r != '\n', r == 0x7f:
			out, changed = fmt.Appendf(out, "\\x%02x", r), true
		case r >= 0x80 && r <= 0x9f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			out, changed = fmt.Appendf(out, "\\u%04x", r), true
		default:
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out, changed
}

// steer is the Supervisor as the control API sees it: Reload re-reads the
// config file.
type steer struct {
	*supervise.Supervisor
	file   string
	format string // --format: auto, native or supervisord
	log    hclog.Logger
	out    *console // for ReopenLogs (console.go)
	// rpc is supervisord's interface, for a supervisord configuration (nil
	// otherwise): a reload tells it the processes, groups and log files it
	// now answers about.
	rpc *atomic.Pointer[svrpc.Server]
	// up, if set, does ctl upgrade (upgrade.go).
	up *upgrader
}

// load reads the config file again, as its format says: the group, and the
// supervisord configuration if it is one.
func (s steer) load() (supervise.Group, *svconf.Config, error) {
	src, err := config.ReadFile(s.file)
	if err != nil {
		return supervise.Group{}, nil, err
	}
	if isSupervisord(s.format, src) {
		sv, err := svconf.Parse(s.file, src, svconf.Options{})
		if err != nil {
			return supervise.Group{}, nil, err
		}
		for _, w := range sv.Warnings {
			s.log.Warn("supervisord config: " + w.Error())
		}
		return sv.Group, sv, nil
	}
	g, err := config.Parse(s.file, src)
	return g, nil, err
}

// Reload re-reads the config file and applies it; a file that does not load is
// refused whole, and nothing changes. Either way the outcome is logged.
func (s steer) Reload(ctx context.Context) (supervise.ReloadResult, error) {
	if s.file == "" {
		return supervise.ReloadResult{}, errors.New("reload: this supervisor runs no config file (started with -- PROGRAM or demo)")
	}
	g, sv, err := s.load()
	if err == nil {
		var res supervise.ReloadResult
		res, err = s.Supervisor.Reload(ctx, g) // the supervisor logs what it did
		switch {
		case err == nil:
			if s.up != nil {
				if src, rerr := config.ReadFile(s.file); rerr == nil {
					s.up.loaded(src) // what was loaded, unless it changed again meanwhile
				}
			}
			if srv := s.rpc.Load(); srv != nil && sv != nil {
				srv.SetLayout(layoutOf(sv))
			}
			return res, nil
		case errors.Is(err, supervise.ErrReloadDetached):
			s.log.Info("reload goes on without its caller", "file", s.file, "why", context.Cause(ctx))
			return res, err
		case errors.Is(err, supervise.ErrShuttingDown):
			s.log.Info("reload not finished: the supervisor is shutting down", "file", s.file)
			return res, err
		}
	}
	s.log.Error("reload refused; nothing changed", "file", s.file, "error", err)
	return supervise.ReloadResult{}, fmt.Errorf("%w: %w", errReloadRefused, err)
}

var errReloadRefused = errors.New("reload refused, nothing changed")

// serve runs the group until it ends or a stop signal arrives, and returns the
// process exit code.
func serve(log hclog.Logger, group supervise.Group, source, file string, src []byte, socket string, explicitSocket bool, httpAddr string, out *console, sv *svconf.Config, format string, mainThread bool) int {
	// SIGPIPE is caught so a closed log pipe never kills us (pitfalls 2.5). Never
	// signal.Ignore: SIG_IGN would be inherited by every child.
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)

	// SIGINT, SIGTERM, SIGQUIT and, without a config file to reload, SIGHUP (the
	// terminal went away) mean "stop everything, gracefully": left to their
	// default action they would kill us and leave the process trees to Pdeathsig
	// alone. As PID 1 they must be handled explicitly or the kernel would drop
	// them. With a config file, SIGHUP re-reads it, as supervisord's does.
	stopSignals := []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT}
	hups := make(chan os.Signal, 1)
	if file != "" {
		signal.Notify(hups, syscall.SIGHUP)
		defer signal.Stop(hups)
	} else {
		stopSignals = append(stopSignals, syscall.SIGHUP)
	}
	// The first stop signal is a graceful stop; another one while it runs kills
	// every program at once (Supervisor.Kill), as an operator pressing Ctrl-C twice
	// expects of docker compose or systemctl.
	stops := make(chan os.Signal, 2)
	signal.Notify(stops, stopSignals...)
	defer signal.Stop(stops)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	// SIGUSR1 and SIGUSR2 are forwarded to every running program's process group
	// (programs use them for "reopen logs", "dump state"...). Caught before any
	// spawn: left to Go's default they would kill us.
	fwd := make(chan os.Signal, 8)
	signal.Notify(fwd, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(fwd)

	ropts := supervise.ReaperOptions{LightMinFds: lightMinFds(mainThread)}
	awaitResumed()
	if resumed.st != nil {
		ropts.Resume = supervise.ResumedProcs(resumed.st)
	}
	reaper, err := supervise.NewReaper(log, ropts)
	if err != nil {
		log.Error("cannot start the reaper", "error", err)
		return 1
	}
	defer reaper.Close()
	journal := control.NewJournal(0) // what ctl logs and ctl events show
	journal.Import(resumed.app.Logs) // what the old image had, after an upgrade
	var metrics *control.Metrics     // set before Serve, which is when events begin
	onEvent := func(e supervise.Event) {
		journal.Event(e)
		if metrics != nil {
			metrics.Event(e)
		}
	}
	sup, err := supervise.New(log, group, supervise.Options{Workers: config.Workers(), Reaper: reaper, OnEvent: onEvent, OnOutput: journal.Output, Console: out.hook(), StayUp: sv != nil, Resume: resumed.st, MainThread: mainThread})
	if err != nil {
		log.Error("invalid configuration", "source", source, "error", err)
		return exitUsage
	}
	var ctl *ctlServer
	up := &upgrader{log: log, mainThread: mainThread, reaper: reaper, journal: journal, control: func() *ctlServer { return ctl }}
	if file != "" {
		up.loaded(src)
	}
	st := steer{Supervisor: sup, file: file, format: format, log: log, out: out, rpc: new(atomic.Pointer[svrpc.Server]), up: up}
	if sv != nil {
		stop, err := startSupervisord(log, st, sv)
		if err != nil {
			log.Error("cannot serve supervisord's interface", "error", err)
			return exitUsage
		}
		defer stop()
	}
	if httpAddr != "" {
		metrics = control.NewMetrics(st)
		inherited := inheritedHTTP()
		h, err := metrics.ServeHTTPFrom(log.Named("http"), httpAddr, control.Limits{}, inherited)
		if inherited != nil {
			inherited.Close()
		}
		if err != nil {
			log.Error("cannot serve http", "error", err)
			return exitUsage
		}
		up.http = h
		defer h.Stop()
	}
	ctl, err = startControl(log, st, journal, socket, explicitSocket, inheritedControl())
	if err != nil {
		log.Error("cannot serve the control socket", "error", err)
		return exitUsage
	}
	if ctl != nil {
		defer ctl.stop()
	}
	answerUpgrade(log, sup)
	served := make(chan struct{})
	defer close(served)
	defer trimLater(log)()
	replayEarlySignals(func(sig os.Signal) {
		to := stops
		switch {
		case sig == syscall.SIGUSR1 || sig == syscall.SIGUSR2:
			to = fwd
		case sig == syscall.SIGHUP && file != "":
			to = hups
		}
		select {
		case to <- sig:
		default: // as signal.Notify does when the channel is full
		}
	})
	go func() {
		for {
			select {
			case <-hups:
				// In its own goroutine: a reload waits for removed programs to
				// stop, and stop signals must be heard meanwhile.
				log.Info("SIGHUP: reloading the config", "file", file)
				go func() { _, _ = st.Reload(ctx) }() // logged there; a second one meanwhile is refused as busy
			case sig := <-fwd:
				sup.SignalAll(sig.(syscall.Signal))
			case sig := <-stops:
				if ctx.Err() == nil && !sup.ShuttingDown() {
					log.Info("stop signal received; another one kills every program at once", "signal", sig)
					cancel(fmt.Errorf("%v signal received", sig))
					continue
				}
				log.Warn("stop signal during a shutdown: killing every program now", "signal", sig)
				_ = sup.Kill(context.Background()) // ErrShuttingDown once Serve is done: nothing left to kill
			case <-served:
				return
			}
		}
	}()
	if err := sup.Serve(ctx); err != nil {
		log.Error("supervisor failed", "error", err)
		return 1
	}
	return sup.ExitCode()
}

// setKind applies --spawner and --kind to s, as the config keys spawner and kind
// do: kind exec keeps spawner forkexec, a contradiction is an error, and kind
// goroutine implies the protocol.
func (ah adhoc) setKind(s *supervise.Spec) error {
	sp := supervise.SpawnerKind(ah.spawner)
	switch {
	case ah.spawner == "":
		sp = supervise.SpawnExec
	case !slices.Contains(supervise.Spawners, sp):
		return fmt.Errorf("--spawner %q is not one of exec, forkexec, reexec", ah.spawner)
	}
	s.Spawner = sp
	switch k := supervise.SpawnerKind(ah.kind); k {
	case "":
	case supervise.SpawnGoroutine, supervise.SpawnReexec, supervise.SpawnExec:
		if ah.spawner != "" && kindOf(sp) != k {
			return fmt.Errorf("--spawner %s contradicts --kind %s", sp, k)
		}
		if k != supervise.SpawnExec {
			s.Spawner = k
		}
		if k == supervise.SpawnGoroutine {
			s.Protocol = true // a goroutine worker always speaks the link
		}
	default:
		return fmt.Errorf("--kind %q is not one of goroutine, reexec, exec", ah.kind)
	}
	return nil
}

// kindOf is the kind (goroutine, reexec, exec) a spawner belongs to.
func kindOf(k supervise.SpawnerKind) supervise.SpawnerKind {
	if k == supervise.SpawnForkExec {
		return supervise.SpawnExec
	}
	return k
}

const compareUsage = `usage: supervisor compare [--json|--markdown] [-n N] [--requests N] [--rows a,b,...]

Runs the same built-in worker (internal/worker's "trouble") as a goroutine inside
this supervisor and as a re-executed process, and prints one table measured in
this run: start-up and memory per worker, request round trip and throughput, and
what happens when a worker panics, hits a fatal runtime error, calls os.Exit,
corrupts shared state, ignores its stop or deadlocks. Faults that would kill this
supervisor run in a sacrificial re-executed one. Exit status 0 when every row was
measured, 1 when one could not be, 2 for bad usage.

Flags:
`

// cmdCompare runs "supervisor compare" and returns the exit code.
func cmdCompare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("supervisor compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), compareUsage)
		fs.PrintDefaults()
	}
	var (
		asJSON   = fs.Bool("json", false, "print the report as JSON")
		asMD     = fs.Bool("markdown", false, "print the table as Markdown")
		workers  = fs.Int("n", 10, "workers per kind for the start-up and memory rows")
		requests = fs.Int("requests", 2000, "requests per kind for the round-trip and throughput rows")
		rowList  = fs.String("rows", "", "comma-separated rows to measure (default all: "+strings.Join(compare.RowNames(), ",")+")")
		logLevel = fs.String("log-level", "off", "log level of the supervisors measured: off, trace, debug, info, warn, error (to stderr)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "supervisor compare: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	case *asJSON && *asMD:
		fmt.Fprintln(stderr, "supervisor compare: --json and --markdown exclude each other")
		return exitUsage
	case *workers < 1 || *requests < 1:
		fmt.Fprintln(stderr, "supervisor compare: -n and --requests must be positive")
		return exitUsage
	}
	var rows []string
	if *rowList != "" {
		rows = strings.Split(*rowList, ",")
	}
	var log hclog.Logger = hclog.NewNullLogger()
	if *logLevel != "off" {
		l, err := newLogger(stderr, "text", *logLevel)
		if err != nil {
			fmt.Fprintf(stderr, "supervisor compare: %v\n", err)
			return exitUsage
		}
		log = l
	}
	pipes := make(chan os.Signal, 1) // a closed output pipe must not kill us mid-run
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	reaper, err := supervise.NewReaper(log, supervise.ReaperOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "supervisor compare: %v\n", err)
		return 1
	}
	defer reaper.Close()
	rep, err := compare.Run(ctx, log, compare.Options{Reaper: reaper, Workers: *workers, Requests: *requests, Rows: rows})
	if errors.Is(err, compare.ErrUnknownRow) {
		fmt.Fprintf(stderr, "supervisor compare: %v\n", err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "supervisor compare: %v\n", err)
		return 1
	}
	switch {
	case *asJSON:
		err = rep.WriteJSON(stdout)
	case *asMD:
		err = rep.WriteMarkdown(stdout)
	default:
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "supervisor compare: %v\n", err)
		return 1
	}
	return 0
}

// printErr prints err to stderr, each of its lines (a config file's problems,
// one a line) prefixed "supervisor: ".
func printErr(stderr io.Writer, err error) {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(stderr, "supervisor: %s\n", line)
	}
}

// plural says "1 program" or "3 programs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
