package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/buildinfo"
	"github.com/supervisor/supervisor/internal/control"
	"github.com/supervisor/supervisor/internal/supervise"
)

// Exit codes of `supervisor ctl`, for scripts.
const (
	ctlOK         = 0 // done; for status: every program shown is running
	ctlFailed     = 1 // the supervisor refused or failed (already started, not running, busy); status: some program not running
	ctlUsage      = 2 // bad command line
	ctlNoServer   = 3 // no supervisor answers on the socket
	ctlNoSuchProg = 4 // no program by that name
)

const ctlUsageText = `usage: supervisor ctl [--socket PATH] [--json] [--timeout D] COMMAND [ARGS]
(the flags may also follow the command: ctl status --json)

PROGRAMS is one or more of: a program's name, a glob pattern ('web-*', 'db?',
'w[0-3]'; quote it from the shell) or all. The supervisor resolves them at once;
if one matches nothing, nothing is done (exit 4). Each program gets a line.

commands:
  status [PROGRAMS]    programs' state, pid, uptime, restarts, last exit
  start PROGRAMS       start stopped, exited or fatal programs, in dependency order;
                       waits until each is running (ready) or failed, all at once,
                       and says which (--no-wait: until spawned)
  stop PROGRAMS        stop programs (they stay stopped until started); several
                       stop as one sequence, in reverse dependency order
  restart PROGRAMS     stop them if they run (as stop), then start them (as start)
  signal SIG PROGRAMS  send a signal (TERM, USR1, 15, ...) to each program's process
  logs [-f] [-n N] PROGRAMS  the last N (default 100) output lines of each; -f
                       follows; with a pattern, all or several names, each line
                       starts with "NAME | "
  events               stream state changes as they happen (Ctrl-C ends it)
  tree                 the supervisor's process tree (as supervisor tree)
  reload               re-read the config file: start added programs, stop removed
                       ones, restart changed ones (a bad file changes nothing)
  shutdown             stop every program and the supervisor
  version              this client's version and the running supervisor's
  reopen-logs          reopen every log file (programs' stdout_log and stderr_log,
                       the supervisor's --log-file), as logrotate's postrotate
  upgrade [--binary PATH]  replace the running supervisor by a new binary (default:
                       the one it was started from) in place: same pid, programs
                       and sockets kept; a binary that fails its checks changes
                       nothing (exit 1). --timeout defaults to 60s here
  request [--timeout D] [--json] NAME METHOD [--] [PAYLOAD]
                       send a request to a protocol program and print its reply
                       (raw; --json: {"program","body" base64,"text"}). PAYLOAD
                       "-" is read from stdin. NAME may be a pool pattern such as
                       'worker-*': the least busy ready program matching it answers

exit codes: 0 done, for every program (status: all shown running); 1 refused or
failed for at least one program (start of a running program, stop of one not
running, a start that did not get it running, busy; status: some not running);
2 usage (also a malformed pattern); 3 no supervisor on the socket; 4 no such
program: a name or pattern matched nothing, and nothing was done.
`

func cmdCtl(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("supervisor ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, ctlUsageText); fs.PrintDefaults() }
	socket := fs.String("socket", control.DefaultSocket(), "control socket `path` of the running supervisor")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ctlOK
		}
		return ctlUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, "supervisor ctl: no command\n"+ctlUsageText)
		return ctlUsage
	}
	cmd, operands := rest[0], rest[1:]
	if cmd == "tree" { // the same as `supervisor tree`, on this socket
		return cmdTree(append([]string{"--socket", *socket, "--json=" + fmt.Sprint(*asJSON)}, operands...), stdout, stderr, *socket)
	}
	if cmd == "request" {
		return ctlRequest(*socket, *asJSON, operands, os.Stdin, stdout, stderr)
	}
	if cmd == "reopen-logs" {
		return ctlReopenLogs(*socket, *asJSON, *timeout, operands, stdout, stderr)
	}
	if cmd == "upgrade" {
		upTimeout := ctlUpgradeTimeout
		fs.Visit(func(f *flag.Flag) { // an explicit --timeout before the command wins
			if f.Name == "timeout" {
				upTimeout = *timeout
			}
		})
		return ctlUpgrade(*socket, *asJSON, upTimeout, operands, stdout, stderr)
	}
	// The global flags may also follow the command and its operands (ctl status
	// --json, ctl logs web -n 5), as most CLIs allow.
	sub := flag.NewFlagSet("supervisor ctl "+cmd, flag.ContinueOnError)
	sub.SetOutput(stderr)
	sub.StringVar(socket, "socket", *socket, "control socket `path` of the running supervisor")
	sub.BoolVar(asJSON, "json", *asJSON, "print JSON instead of text")
	sub.DurationVar(timeout, "timeout", *timeout, "give up after this long")
	var follow, noWait bool
	var lines int
	if cmd == "start" || cmd == "restart" {
		sub.BoolVar(&noWait, "no-wait", false, "return once the program was spawned, not once it is running (ready) or failed")
	}
	if cmd == "logs" {
		sub.BoolVar(&follow, "f", false, "follow: print new lines as they come")
		sub.IntVar(&lines, "n", 100, "how many recent lines")
	}
	operands, err := parseInterspersed(sub, operands)
	if err != nil {
		return ctlUsage
	}
	switch {
	case *socket == "":
		fmt.Fprintln(stderr, "supervisor ctl: --socket: empty path")
		return ctlUsage
	case *timeout <= 0:
		fmt.Fprintf(stderr, "supervisor ctl: --timeout %s: want a positive duration\n", *timeout)
		return ctlUsage
	case slices.Contains(operands, ""):
		fmt.Fprintln(stderr, "supervisor ctl: an empty argument (a program name cannot be empty)")
		return ctlUsage
	}
	// How many operands each command takes: exactly n, or at least n with "+".
	want := map[string]string{"start": "1+", "stop": "1+", "restart": "1+", "signal": "2+", "logs": "1+", "status": "0+",
		"shutdown": "0", "events": "0", "reload": "0", "version": "0"}
	if w, ok := want[cmd]; ok {
		n, atLeast := int(w[0]-'0'), strings.HasSuffix(w, "+")
		if len(operands) < n || !atLeast && len(operands) > n {
			more := ""
			if atLeast {
				more = " or more"
			}
			fmt.Fprintf(stderr, "supervisor ctl %s: want %d%s argument(s), got %d\n%s", cmd, n, more, len(operands), ctlUsageText)
			return ctlUsage
		}
	} else {
		fmt.Fprintf(stderr, "supervisor ctl: unknown command %q\n%s", cmd, ctlUsageText)
		return ctlUsage
	}
	if cmd == "signal" {
		if _, err := control.ParseSignal(operands[0]); err != nil {
			fmt.Fprintf(stderr, "supervisor ctl signal: %v\n", err)
			return ctlUsage
		}
	}

	if cmd == "version" {
		return ctlVersion(*socket, *timeout, *asJSON, stdout, stderr)
	}
	c, err := control.NewClient(*socket)
	if err != nil {
		return ctlError(stderr, *asJSON, stdout, err)
	}
	if cmd == "events" || cmd == "logs" {
		return ctlStream(c, cmd, operands, follow, lines, *asJSON, stdout, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	switch cmd {
	case "status":
		st, err := c.Status(ctx)
		if err != nil {
			return ctlError(stderr, *asJSON, stdout, err)
		}
		return printStatus(stdout, stderr, st, operands, *asJSON)
	case "shutdown":
		if err := c.Shutdown(ctx); err != nil {
			return ctlError(stderr, *asJSON, stdout, err)
		}
		if *asJSON {
			_ = json.NewEncoder(stdout).Encode(map[string]string{"result": "ok", "command": "shutdown"})
		} else {
			fmt.Fprintln(stdout, "shutdown: ok")
		}
		return ctlOK
	case "reload":
		res, err := c.Reload(ctx)
		if err != nil {
			return ctlError(stderr, *asJSON, stdout, err)
		}
		if *asJSON {
			_ = json.NewEncoder(stdout).Encode(res)
		} else {
			fmt.Fprintf(stdout, "reload: %s\n", res)
		}
		return ctlOK
	}
	// start, stop, restart, signal: one request, however many programs. The
	// supervisor resolves the names and patterns and begins the operation in one
	// step (no reload in between), refuses the whole of it if one names nothing,
	// and stops several as one sequence in reverse dependency order: a client
	// expanding patterns from a status list and sending one request per program
	// could do neither (each stop would find the previous one's sequence busy).
	verb, names, sig := cmd, operands, ""
	if cmd == "signal" {
		sig, names = operands[0], operands[1:]
		verb = cmd + " " + sig
	}
	res, err := c.Group(ctx, cmd, names, sig, noWait)
	if err != nil {
		return ctlError(stderr, *asJSON, stdout, err)
	}
	return printOutcomes(stdout, stderr, verb, res, *asJSON)
}

// printOutcomes prints one line per program of a group operation (verb is
// "start", "signal USR1", ...): "VERB NAME: ok" on stdout, or the error on
// stderr; with asJSON one object per program on stdout. It returns ctlOK if
// every program's operation was done, else ctlFailed.
func printOutcomes(stdout, stderr io.Writer, verb string, res []control.GroupResult, asJSON bool) int {
	code := ctlOK
	enc := json.NewEncoder(stdout)
	for _, r := range res {
		if r.Error != "" {
			code = ctlFailed
			if asJSON {
				_ = enc.Encode(map[string]string{"program": r.Program, "error": r.Error, "kind": r.Kind})
			}
			fmt.Fprintf(stderr, "supervisor ctl: %s\n", r.Error)
			continue
		}
		if asJSON {
			_ = enc.Encode(map[string]string{"program": r.Program, "result": "ok", "command": verb + " " + r.Program})
		} else {
			fmt.Fprintf(stdout, "%s %s: ok\n", verb, r.Program)
		}
	}
	return code
}

// ctlVersion prints this client's version, then the running supervisor's.
func ctlVersion(socket string, timeout time.Duration, asJSON bool, stdout, stderr io.Writer) int {
	client := buildinfo.Get()
	var server buildinfo.Info
	c, err := control.NewClient(socket)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		server, err = c.Version(ctx)
	}
	if asJSON {
		out := map[string]any{"client": client}
		if err == nil {
			out["server"] = server
		}
		_ = json.NewEncoder(stdout).Encode(out)
	} else {
		fmt.Fprintf(stdout, "client: supervisor %s\n", client)
	}
	if err != nil {
		return ctlError(stderr, false, stdout, err)
	}
	if !asJSON {
		fmt.Fprintf(stdout, "server: supervisor %s\n", server)
	}
	return ctlOK
}

// ctlRequest runs `ctl request`: one request, its reply on stdout.
func ctlRequest(socket string, asJSON bool, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("supervisor ctl request", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", control.DefaultRequestTimeout, "give up on the reply after this long")
	fs.BoolVar(&asJSON, "json", asJSON, `print {"program","body","text"} instead of the raw reply`)
	fs.StringVar(&socket, "socket", socket, "control socket `path` of the running supervisor")
	// Flags anywhere, as for the other commands; after "--", a payload that
	// starts with '-' is a payload.
	args, err := parseInterspersed(fs, args)
	if err != nil {
		return ctlUsage
	}
	if len(args) < 2 || len(args) > 3 {
		fmt.Fprintf(stderr, "supervisor ctl request: want NAME METHOD [PAYLOAD], got %d argument(s)\n%s", len(args), ctlUsageText)
		return ctlUsage
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "supervisor ctl request: --timeout must be positive")
		return ctlUsage
	}
	name, method := args[0], args[1]
	var payload []byte
	if len(args) == 3 {
		payload = []byte(args[2])
		if args[2] == "-" {
			var err error
			if payload, err = io.ReadAll(stdin); err != nil {
				fmt.Fprintf(stderr, "supervisor ctl request: reading the payload from stdin: %v\n", err)
				return ctlFailed
			}
		}
	}
	if socket == "" {
		fmt.Fprintln(stderr, "supervisor ctl: --socket: empty path")
		return ctlUsage
	}
	c, err := control.NewClient(socket)
	if err != nil {
		return ctlError(stderr, asJSON, stdout, err)
	}
	// The supervisor gives up after timeout and says so; we wait a little longer
	// for that answer. Ctrl-C hangs up, which ends the request in the supervisor.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout+5*time.Second)
	defer cancel()
	rep, err := c.Request(ctx, name, method, payload, *timeout)
	if err != nil {
		return ctlError(stderr, asJSON, stdout, err)
	}
	if asJSON {
		_ = json.NewEncoder(stdout).Encode(rep)
		return ctlOK
	}
	out := rep.Body
	if len(out) > 0 && out[len(out)-1] != '\n' && isTerminal(stdout) {
		out = append(out, '\n') // for the prompt's sake; a pipe gets the bytes as they are
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "supervisor ctl request: writing the reply: %v\n", err)
		return ctlFailed
	}
	return ctlOK
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// ctlStream runs events or logs: streams, which end on Ctrl-C or SIGTERM (exit
// 0), or when the supervisor goes.
func ctlStream(c *control.Client, cmd string, operands []string, follow bool, lines int, asJSON bool, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	enc := json.NewEncoder(stdout)
	var err error
	if cmd == "events" {
		err = c.Events(ctx, func(e control.EventRecord) error {
			if asJSON {
				return enc.Encode(e)
			}
			line := fmt.Sprintf("%s %s %s -> %s", e.Time.Format(time.RFC3339Nano), e.Program, e.From, e.To)
			if e.Pid != 0 {
				line += fmt.Sprintf(" pid %d", e.Pid)
			}
			if e.Exit != "" {
				line += ", " + e.Exit
			}
			if e.Reason != "" {
				line += ": " + e.Reason
			}
			_, err := fmt.Fprintln(stdout, line)
			return err
		})
	} else if len(operands) == 1 && !supervise.IsPattern(operands[0]) && operands[0] != supervise.AllPrograms {
		err = c.Logs(ctx, operands[0], lines, follow, func(l control.LogRecord) error {
			if asJSON {
				return enc.Encode(l)
			}
			text, _ := escapeText([]byte(l.Text)) // a child's bytes must not drive our terminal
			_, err := fmt.Fprintf(stdout, "%s %s[%d] %s: %s\n", l.Time.Format(time.RFC3339Nano), l.Program, l.Pid, l.Stream, text)
			return err
		})
	} else {
		// Several programs (names, patterns, all): one stream, resolved by the
		// supervisor; each line says whose it is first.
		err = c.LogsOf(ctx, operands, lines, follow, func(l control.LogRecord) error {
			if asJSON {
				return enc.Encode(l)
			}
			text, _ := escapeText([]byte(l.Text))
			_, err := fmt.Fprintf(stdout, "%s | %s [%d] %s: %s\n", l.Program, l.Time.Format(time.RFC3339Nano), l.Pid, l.Stream, text)
			return err
		})
	}
	if api := (*control.APIError)(nil); errors.As(err, &api) && api.Kind == control.KindClosed {
		fmt.Fprintln(stderr, "supervisor ctl: the supervisor stopped; the stream ends")
		return ctlOK
	}
	if err != nil && ctx.Err() == nil {
		return ctlError(stderr, asJSON, stdout, err)
	}
	return ctlOK
}

// ctlError prints err (as JSON too, with --json) and maps it to an exit code.
func ctlError(stderr io.Writer, asJSON bool, stdout io.Writer, err error) int {
	code, kind := ctlFailed, "failed"
	var api *control.APIError
	switch {
	case errors.Is(err, control.ErrNotRunning):
		code, kind = ctlNoServer, "not_running"
	case errors.Is(err, control.ErrDenied):
		kind = "denied"
	case errors.As(err, &api):
		kind = api.Kind
		switch api.Kind {
		case "no_such_program":
			code = ctlNoSuchProg
		case "bad_request":
			code = ctlUsage
		}
	}
	if asJSON {
		_ = json.NewEncoder(stdout).Encode(map[string]string{"error": err.Error(), "kind": kind})
	}
	fmt.Fprintf(stderr, "supervisor ctl: %v\n", err)
	return code
}

// parseInterspersed parses fs's flags wherever they stand in args, before or
// between operands, up to a "--" (everything after it is an operand), and
// returns the operands in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	var ops []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(ops, tail...), nil
		}
		ops, args = append(ops, args[0]), args[1:]
	}
}

// printStatus prints the status of the programs names name (names, patterns,
// all; none: every program), matched against this one snapshot.
func printStatus(stdout, stderr io.Writer, all []control.ProgramStatus, names []string, asJSON bool) int {
	st := all
	if len(names) > 0 {
		have := make([]string, len(all))
		for i, p := range all {
			have[i] = p.Name
		}
		hit, missing, err := supervise.MatchPrograms(have, names)
		if err != nil {
			fmt.Fprintf(stderr, "supervisor ctl status: %v\n", err)
			return ctlUsage
		}
		if len(missing) > 0 {
			for _, n := range missing {
				msg := fmt.Sprintf("no such program %q", n)
				if asJSON {
					_ = json.NewEncoder(stdout).Encode(map[string]string{"error": msg, "kind": "no_such_program"})
				}
				fmt.Fprintf(stderr, "supervisor ctl status: %s\n", msg)
			}
			return ctlNoSuchProg
		}
		st = nil
		for _, p := range all {
			if slices.Contains(hit, p.Name) {
				st = append(st, p)
			}
		}
	}
	code := ctlOK
	for _, p := range st {
		if p.State != string(supervise.StateRunning) {
			code = ctlFailed
		}
	}
	if asJSON {
		_ = json.NewEncoder(stdout).Encode(st)
		return code
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, p := range st {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, strings.ToUpper(p.State), describe(p))
	}
	tw.Flush()
	return code
}

// describe is the free-text column of status, as supervisorctl shows it.
func describe(p control.ProgramStatus) string {
	var parts []string
	live := p.Pid != 0 || p.UptimeSeconds > 0
	switch {
	case p.Pid != 0:
		parts = append(parts, fmt.Sprintf("pid %d, uptime %s", p.Pid, clock(time.Duration(p.UptimeSeconds*float64(time.Second)))))
	case live:
		parts = append(parts, fmt.Sprintf("%s, uptime %s", p.Kind, clock(time.Duration(p.UptimeSeconds*float64(time.Second)))))
	}
	if p.Restarts > 0 {
		parts = append(parts, fmt.Sprintf("restarts %d", p.Restarts))
	}
	if p.LastExit != "" {
		parts = append(parts, "last exit: "+p.LastExit)
	}
	if p.HeartbeatAgeSeconds != nil {
		parts = append(parts, fmt.Sprintf("heartbeat %.1fs ago", *p.HeartbeatAgeSeconds))
	}
	if p.StatusText != "" {
		parts = append(parts, fmt.Sprintf("status %q", p.StatusText))
	}
	if p.State == "running" && p.Readiness != "" && p.Readiness != "min_uptime" {
		parts = append(parts, "ready: "+p.Reason)
	}
	if p.Leaked > 0 {
		parts = append(parts, fmt.Sprintf("leaked %d", p.Leaked))
	}
	if p.RequestsInFlight > 0 {
		parts = append(parts, fmt.Sprintf("requests in flight %d", p.RequestsInFlight))
	}
	switch {
	case p.RestartInSeconds != nil: // the reason says when it was scheduled; this counts down
		parts = append(parts, fmt.Sprintf("next start in %.1fs", *p.RestartInSeconds))
	case !live && p.Reason != "":
		parts = append(parts, p.Reason)
	}
	return strings.Join(parts, ", ")
}

// clock formats d as H:MM:SS.
func clock(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}

// ctlServer is the control socket's server and listener, kept for an
// upgrade (upgrade.go), which hands the listener to the new image.
type ctlServer struct {
	srv  *control.Server
	ln   net.Listener
	path string
	stop func()
}

// startControl starts the control server for sup on path, or on inherited, the
// same socket handed over by an old image (upgrade.go). An explicitly chosen
// socket that cannot be used is an error; the default one only a warning (the
// supervisor runs on without a control API: another supervisor may own it).
// It returns nil (and no error) when there is no socket.
func startControl(log hclog.Logger, sup control.Target, j *control.Journal, path string, explicit bool, inherited *os.File) (*ctlServer, error) {
	if path == "" || path == "none" {
		return nil, nil
	}
	var ln net.Listener
	var err error
	if inherited != nil {
		ln, err = control.ListenFile(log, inherited, path)
		inherited.Close()
		if err != nil {
			log.Error("upgrade: the control socket was not handed over; making it again", "error", err)
		}
	}
	if ln == nil {
		ln, err = control.Listen(log, path)
	}
	if err != nil {
		if explicit {
			return nil, err
		}
		log.Warn("no control socket: supervisor ctl cannot reach this supervisor", "error", err)
		return nil, nil
	}
	srv := control.NewServer(log.Named("control"), sup, j, control.Limits{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil {
			log.Error("control server failed", "error", err)
		}
	}()
	if inherited == nil {
		log.Info("control socket ready", "path", path)
	}
	return &ctlServer{srv: srv, ln: ln, path: path, stop: func() { srv.Close(); <-done }}, nil
}

// ctlReopenLogs runs `ctl reopen-logs`: every log file reopened (after a
// logrotate moved them).
func ctlReopenLogs(socket string, asJSON bool, timeout time.Duration, args []string, stdout, stderr io.Writer) int {
	if !ctlFlagsOnly("reopen-logs", &socket, &asJSON, &timeout, args, stderr, nil, "") {
		return ctlUsage
	}
	c, err := control.NewClient(socket)
	if err != nil {
		return ctlError(stderr, asJSON, stdout, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.ReopenLogs(ctx); err != nil {
		return ctlError(stderr, asJSON, stdout, err)
	}
	if asJSON {
		_ = json.NewEncoder(stdout).Encode(map[string]string{"result": "ok", "command": "reopen-logs"})
	} else {
		fmt.Fprintln(stdout, "reopen-logs: ok")
	}
	return ctlOK
}

// ctlFlagsOnly parses the flags of a ctl command that takes no argument:
// --socket, --json, --timeout and those add (if not nil) defines. It refuses
// an argument (hint says where it belongs), an empty socket and a timeout that
// is not positive, and reports whether the command may go on.
func ctlFlagsOnly(cmd string, socket *string, asJSON *bool, timeout *time.Duration, args []string, stderr io.Writer, add func(*flag.FlagSet), hint string) bool {
	fs := flag.NewFlagSet("supervisor ctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(socket, "socket", *socket, "control socket `path` of the running supervisor")
	fs.BoolVar(asJSON, "json", *asJSON, "print JSON instead of text")
	fs.DurationVar(timeout, "timeout", *timeout, "give up after this long")
	if add != nil {
		add(fs)
	}
	args, err := parseInterspersed(fs, args)
	switch {
	case err != nil:
		return false
	case len(args) > 0:
		fmt.Fprintf(stderr, "supervisor ctl %s: want no argument%s, got %d\n", cmd, hint, len(args))
		return false
	case *socket == "":
		fmt.Fprintln(stderr, "supervisor ctl: --socket: empty path")
		return false
	case *timeout <= 0:
		fmt.Fprintf(stderr, "supervisor ctl: --timeout %s: want a positive duration\n", *timeout)
		return false
	}
	return true
}

// ctlUpgradeTimeout is the default --timeout of `ctl upgrade`: the old image
// may stop some programs before the exec, and the new one starts them again
// before it answers.
const ctlUpgradeTimeout = 60 * time.Second

// ctlUpgrade runs `ctl upgrade [--binary PATH]`: the supervisor checks the
// binary and execs it in place; the new image answers.
func ctlUpgrade(socket string, asJSON bool, timeout time.Duration, args []string, stdout, stderr io.Writer) int {
	var binary string
	addBinary := func(fs *flag.FlagSet) {
		fs.StringVar(&binary, "binary", "", "the new supervisor `binary` (default: the one the running supervisor was started from)")
	}
	if !ctlFlagsOnly("upgrade", &socket, &asJSON, &timeout, args, stderr, addBinary, " (the binary goes with --binary)") {
		return ctlUsage
	}
	bin := binary
	if bin != "" {
		// The supervisor has its own working directory: a relative path means
		// one from ours.
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintf(stderr, "supervisor ctl upgrade: --binary %s: %v\n", bin, err)
			return ctlUsage
		}
		bin = abs
	}
	c, err := control.NewClient(socket)
	if err != nil {
		return ctlError(stderr, asJSON, stdout, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := c.Upgrade(ctx, bin)
	if err != nil {
		return ctlError(stderr, asJSON, stdout, err)
	}
	if asJSON {
		_ = json.NewEncoder(stdout).Encode(res)
		return ctlOK
	}
	fmt.Fprintf(stdout, "upgraded: pid %d, %s -> %s, handover %.1f ms, %d children kept\n", res.Pid, res.Old, res.New, res.HandoverMS, res.Kept)
	if len(res.Restarted) > 0 {
		fmt.Fprintf(stdout, "restarted: %s\n", strings.Join(res.Restarted, ", "))
	}
	return ctlOK
}
