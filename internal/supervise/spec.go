package supervise

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/probe"
	"github.com/supervisor/supervisor/internal/worker"
)

// SpawnerKind says how a program's process is created.
type SpawnerKind string

const (
	// SpawnExec starts an external program through os/exec (exec.Cmd.Start).
	SpawnExec SpawnerKind = "exec"
	// SpawnForkExec starts an external program through syscall.ForkExec.
	SpawnForkExec SpawnerKind = "forkexec"
	// SpawnReexec re-executes this binary (/proc/self/exe) to run a built-in
	// worker named by Command[0].
	SpawnReexec SpawnerKind = "reexec"
	// SpawnGoroutine runs a built-in worker function (Options.Workers.Funcs[Command[0]])
	// as a goroutine inside the supervisor process: no process, no pid. It speaks
	// the same link as a protocol program (Ready, heartbeats, status, requests,
	// stop), over channels; Protocol must be set.
	SpawnGoroutine SpawnerKind = "goroutine"
)

// NotifyKind names a readiness protocol of ordinary daemons (Spec.Notify).
type NotifyKind string

const (
	NotifySystemd NotifyKind = "systemd"
	NotifyS6      NotifyKind = "s6"
)

// waitsForReady reports whether a run of s counts as running only once it says
// (or a probe finds) it is ready, rather than after MinUptime.
func (s *Spec) waitsForReady() bool {
	return s.Protocol || s.Notify != "" || s.ReadyProbe != nil || s.Forking
}

// Readiness names where a program's readiness comes from: "protocol",
// "sd_notify", "s6", "ready_probe", "forking", or "min_uptime" (it is running
// once it stayed up that long).
func (s *Spec) Readiness() string {
	switch {
	case s.Protocol:
		return "protocol"
	case s.Notify == NotifySystemd:
		return "sd_notify"
	case s.Notify == NotifyS6:
		return "s6"
	case s.ReadyProbe != nil:
		return "ready_probe"
	case s.Forking:
		return "forking"
	}
	return "min_uptime"
}

// readyHow says, for messages, what a run of s must do to count as running.
func (s *Spec) readyHow() string {
	switch {
	case s.Protocol:
		return "say Ready"
	case s.Notify == NotifySystemd:
		return "send READY=1"
	case s.Notify == NotifyS6:
		return fmt.Sprintf("write a line to fd %d", s.NotifyFd)
	case s.ReadyProbe != nil:
		return "pass its ready probe (" + s.ReadyProbe.String() + ")"
	case s.Forking:
		return "fork its main process and exit 0 (type = forking)"
	}
	return "stay up for min_uptime " + s.MinUptime.String()
}

// Spawners lists every SpawnerKind that starts a process, in the order docs and
// benchmarks show them.
var Spawners = []SpawnerKind{SpawnExec, SpawnForkExec, SpawnReexec}

// RestartPolicy decides whether an exit leads to a restart.
type RestartPolicy string

const (
	RestartAlways    RestartPolicy = "always"     // restart after every exit
	RestartOnFailure RestartPolicy = "on-failure" // restart unless the exit code is a success code
	RestartNever     RestartPolicy = "never"      // never restart
)

// Strategy is a group restart strategy, as Erlang/OTP defines them.
type Strategy string

const (
	// OneForOne restarts only the program that ended.
	OneForOne Strategy = "one_for_one"
	// OneForAll stops every other program (reverse order) and restarts all of them (in order).
	OneForAll Strategy = "one_for_all"
	// RestForOne stops the programs listed after the one that ended (reverse order) and
	// restarts it and them (in order).
	RestForOne Strategy = "rest_for_one"
)

// Spec describes one supervised program. The zero value is not useful: start from
// DefaultSpec and fill in Name and Command.
type Spec struct {
	// Name is unique within a group: 1-64 letters, digits, '-', '_' or '.',
	// not starting with '-' or '.'; or GROUP:NAME, two such names (a
	// supervisord process in a group: package svconf).
	Name    string
	Command []string    // argv; for SpawnReexec and SpawnGoroutine, Command[0] names the built-in worker
	Dir     string      // working directory; empty means the supervisor's (processes only)
	Env     []string    // extra KEY=VALUE pairs added to the supervisor's environment (processes only)
	Spawner SpawnerKind // how the process is created, or SpawnGoroutine for none

	// User, if set, is who the program's processes run as (uid, gid,
	// supplementary groups); they get HOME, USER and LOGNAME from it unless
	// Env sets them. CheckUser says whether this process may switch to it.
	User *User
	// KeepUserEnv leaves HOME, USER and LOGNAME as the supervisor's
	// environment has them under a User (supervisord's way: it switches the
	// uid only).
	KeepUserEnv bool
	// Limits (umask, rlimits, nice, oom_score_adj) are in effect from the
	// program's first instruction: a program that sets any is spawned through
	// the exec shim (package shim), one that sets none is not.
	Limits Limits

	Autostart bool // start when the group starts
	// Essential: once this program has ended for good (exited and not restarted
	// by its policy, or fatal), the supervisor stops every other program and
	// exits with this program's status (ExitCode).
	Essential    bool
	Restart      RestartPolicy // what an exit leads to
	SuccessCodes []int         // exit codes that count as success (default: 0)

	// MinUptime is how long a process must stay up before its start counts as
	// successful (state starting -> running). An exit sooner is a failed start.
	MinUptime time.Duration
	// StartRetries is how many failed starts in a row turn the program fatal.
	StartRetries int
	// StartBackoff, if positive, is supervisord's schedule instead of the
	// backoff below: a failed start is retried whatever Restart says, the nth
	// failure in a row after n*StartBackoff; a run that reached running and
	// exits is restarted (as Restart says) at once, and resets the count.
	StartBackoff time.Duration

	BackoffInitial time.Duration // delay before the first restart after a failure
	BackoffMax     time.Duration // cap on the delay; it doubles per failure in a row
	BackoffJitter  float64       // the delay varies by up to this fraction, up or down (0..1)
	BackoffReset   time.Duration // a run at least this long resets the backoff

	// At most MaxRestarts restarts within RestartWindow; one more turns the program fatal.
	// MaxRestarts 0 disables the limit.
	MaxRestarts   int
	RestartWindow time.Duration

	StopSignal syscall.Signal // sent to the whole process group to ask it to stop
	StopGrace  time.Duration  // how long to wait before SIGKILL

	// Protocol: the program speaks internal/ipc on fds 3 (to us) and 4 (from us).
	// It then counts as running only once it said Ready, within StartTimeout; it
	// is restarted when no heartbeat came for HeartbeatTimeout (0: not watched);
	// and it is asked to stop over the pipe before any signal.
	Protocol         bool
	StartTimeout     time.Duration
	HeartbeatTimeout time.Duration

	// Notify is how a program that does not speak the protocol says it is
	// ready: NotifySystemd (READY=1 on $NOTIFY_SOCKET, sd_notify) or NotifyS6 (a
	// newline on fd NotifyFd); "" for none. Such a program, like a protocol
	// program and one with a ReadyProbe, counts as running only once it is
	// ready, within StartTimeout.
	Notify   NotifyKind
	NotifyFd int // NotifyS6: the fd the program writes its readiness line to (3 or more)
	// Watchdog (NotifySystemd): a running program that sends no WATCHDOG=1 for
	// this long is ended (SIGABRT, as systemd does) and restarted per its
	// policy. It gets WATCHDOG_USEC and WATCHDOG_PID. 0: not watched.
	Watchdog time.Duration
	// ReadyProbe, if set, makes the program running once the probe first
	// succeeds; LiveProbe, once it runs, ends its run as a failure after
	// LiveProbe.Failures failures in a row.
	ReadyProbe *probe.Spec
	LiveProbe  *probe.Spec

	// Forking: the program's command is a daemon that forks its main process
	// and exits 0 once it is ready (systemd's Type=forking). The supervisor then
	// reads the main process's pid from PidFile and follows that process: its
	// exit is the program's exit, its tree is what a stop stops.
	Forking bool
	PidFile string

	// After names programs this one starts after: once each is running (ready,
	// not merely spawned) or has ended for good. Requires is After, and also: a
	// required program that ended for good keeps this one from starting, and
	// stops it when that happens while it runs. Both order stops too: a program
	// stops only once every program that starts after it has stopped.
	After    []string
	Requires []string
	// StopPhase orders the stops of one sequence (a shutdown, a stop of
	// several programs) without ordering starts: a program's stop begins
	// only once every program of the sequence with a higher phase has
	// stopped (supervisord stops its groups one after another so).
	StopPhase int

	// Log files (logs.go, internal/logfile). StdoutLog and StderrLog are
	// absolute paths the program's stdout and stderr lines are appended to
	// ("": none; the same path for both merges them), besides the console
	// and ctl logs. A file rotates before a line would take it over
	// LogMaxBytes (0: never), keeping LogBackups rotated files (PATH.1 ..
	// PATH.N; 0: it is truncated instead). LogTimestamps prefixes each line
	// with its time (RFC 3339, milliseconds).
	StdoutLog     string
	StderrLog     string
	LogMaxBytes   int64
	LogBackups    int
	LogTimestamps bool
	// RedirectStderr gives the program its stdout pipe as stderr too
	// (supervisord's redirect_stderr): both streams' lines are stdout's, in
	// the order the program wrote them.
	RedirectStderr bool
	// StderrLevel is the level of a stderr line whose prefix names none
	// (ClassifyLevel): Info (also for 0), Warn or Error.
	StderrLevel hclog.Level
}

// DefaultSpec returns a Spec with the defaults documented in the README:
// exec spawner, autostart, on-failure, success code 0, 1s minimum uptime, 3 start
// retries, backoff 100ms doubling to 30s with 20% jitter, reset after 10s up, at most 5
// restarts in 10s (systemd's StartLimitBurst/IntervalSec), SIGTERM with a 10s grace.
func DefaultSpec() Spec {
	return Spec{
		Spawner:        SpawnExec,
		Autostart:      true,
		Restart:        RestartOnFailure,
		SuccessCodes:   []int{0},
		MinUptime:      time.Second,
		StartRetries:   3,
		BackoffInitial: 100 * time.Millisecond,
		BackoffMax:     30 * time.Second,
		BackoffJitter:  0.2,
		BackoffReset:   10 * time.Second,
		MaxRestarts:    5,
		RestartWindow:  10 * time.Second,
		StopSignal:     syscall.SIGTERM,
		StopGrace:      10 * time.Second,
		StartTimeout:   10 * time.Second,

		LogMaxBytes: DefaultLogMaxBytes,
		LogBackups:  DefaultLogBackups,
		StderrLevel: hclog.Info,
	}
}

// The rotation defaults of a program's log files: supervisord's (50MB, 10).
const (
	DefaultLogMaxBytes = 50 << 20
	DefaultLogBackups  = 10
)

// Group is an ordered list of programs under one strategy. Programs start in list
// order and stop in reverse order.
type Group struct {
	Strategy Strategy
	// KillMode says how programs' process trees are stopped; "" means KillAuto.
	// Chosen once, when Serve starts, and logged.
	KillMode KillMode
	Programs []Spec
}

// ErrInvalidSpec is wrapped by every error Validate returns.
var ErrInvalidSpec = errors.New("supervise: invalid spec")

// Catalogue is the set of built-in workers a Supervisor can run. The program that
// links them fills it in (cmd/supervisor, from internal/worker's registry) and
// passes it in Options: this package keeps no registry of its own.
type Catalogue struct {
	Reexec []string               // workers a re-executed binary runs (SpawnReexec)
	Funcs  map[string]worker.Func // workers that run as goroutines (SpawnGoroutine)
}

// Check reports whether s names a worker the catalogue has, if its spawner runs
// a built-in worker; the error wraps ErrInvalidSpec and names the field.
func (c Catalogue) Check(s *Spec) error {
	switch s.Spawner {
	case SpawnReexec:
		if !slices.Contains(c.Reexec, s.Command[0]) {
			return fmt.Errorf("%w: program %q: command: %q is not a built-in worker (spawner reexec runs one of: %s)", ErrInvalidSpec, s.Name, s.Command[0], strings.Join(c.Reexec, ", "))
		}
		if c.SpeaksProtocol(s) && !s.Protocol {
			return fmt.Errorf("%w: program %q: protocol: worker %q speaks the pipe protocol (fds 3 and 4): set protocol = true", ErrInvalidSpec, s.Name, s.Command[0])
		}
	case SpawnGoroutine:
		if _, ok := c.Funcs[s.Command[0]]; !ok {
			names := slices.Sorted(maps.Keys(c.Funcs))
			return fmt.Errorf("%w: program %q: command: %q is not a built-in worker that runs as a goroutine (one of: %s)", ErrInvalidSpec, s.Name, s.Command[0], strings.Join(names, ", "))
		}
	}
	return nil
}

// SpeaksProtocol reports whether s runs a built-in worker that always speaks the
// link: any worker as a goroutine, and a Host-based one (in Funcs) re-executed.
func (c Catalogue) SpeaksProtocol(s *Spec) bool {
	if len(s.Command) == 0 {
		return false
	}
	_, hosted := c.Funcs[s.Command[0]]
	return s.Spawner == SpawnGoroutine || (s.Spawner == SpawnReexec && hosted)
}

// CheckGroup is Check for every program of g.
func (c Catalogue) CheckGroup(g *Group) error {
	for i := range g.Programs {
		if err := c.Check(&g.Programs[i]); err != nil {
			return err
		}
	}
	return nil
}

// Validate reports the first problem with s, naming the field. Whether a
// built-in worker it names exists is Catalogue.Check's to say.
func (s *Spec) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: program %q: %s: %s", ErrInvalidSpec, s.Name, field, fmt.Sprintf(format, args...))
	}
	switch {
	case !validName(s.Name):
		return bad("name", "must be 1-64 letters, digits, '-', '_' or '.', and start with a letter, digit or '_' (or GROUP:NAME, two such names)")
	case s.StartBackoff < 0:
		return bad("start_backoff", "must not be negative")
	case s.StopPhase < 0:
		return bad("stop_phase", "must not be negative")
	case len(s.Command) == 0 || s.Command[0] == "":
		return bad("command", "is empty")
	}
	switch s.Spawner {
	case SpawnExec, SpawnForkExec, SpawnReexec:
	case SpawnGoroutine:
		switch {
		case !s.Protocol:
			return bad("protocol", "must be set for a goroutine worker (it always speaks the link)")
		case s.Dir != "":
			return bad("directory", "does not apply to a goroutine worker (it has no process)")
		case len(s.Env) > 0:
			return bad("environment", "does not apply to a goroutine worker (it has no process)")
		}
	default:
		return bad("spawner", "%q is not one of exec, forkexec, reexec, goroutine", s.Spawner)
	}
	if err := s.validateIdent(bad); err != nil {
		return err
	}
	switch s.Restart {
	case RestartAlways, RestartOnFailure, RestartNever:
	default:
		return bad("restart", "%q is not one of always, on-failure, never", s.Restart)
	}
	for _, c := range s.SuccessCodes {
		if c < 0 || c > 255 {
			return bad("success_codes", "%d is not an exit code (0-255)", c)
		}
	}
	switch {
	case s.MinUptime < 0:
		return bad("min_uptime", "is negative")
	case s.StartRetries < 0:
		return bad("start_retries", "is negative")
	case s.BackoffInitial < 0:
		return bad("backoff_initial", "is negative")
	case s.BackoffMax < s.BackoffInitial:
		return bad("backoff_max", "%s is less than backoff_initial %s", s.BackoffMax, s.BackoffInitial)
	case s.BackoffJitter < 0 || s.BackoffJitter > 1:
		return bad("backoff_jitter", "%g is not between 0 and 1", s.BackoffJitter)
	case s.BackoffReset < 0:
		return bad("backoff_reset", "is negative")
	case s.MaxRestarts < 0:
		return bad("max_restarts", "is negative")
	case s.MaxRestarts > 0 && s.RestartWindow <= 0:
		return bad("restart_window", "must be positive when max_restarts is set")
	case s.StopSignal <= 0 || s.StopSignal > 64:
		return bad("stop_signal", "%d is not a signal", int(s.StopSignal))
	case s.StopSignal == syscall.SIGSTOP:
		return bad("stop_signal", "SIGSTOP cannot be handled: it would freeze the program, and every stop would wait out stop_grace")
	case s.StopGrace < 0:
		return bad("stop_grace", "is negative")
	case s.waitsForReady() && s.StartTimeout <= 0:
		return bad("start_timeout", "must be positive for a program that says when it is ready")
	case s.Notify != "" && s.Notify != NotifySystemd && s.Notify != NotifyS6:
		return bad("notify", "%q is not one of systemd, s6", s.Notify)
	case s.Notify != "" && s.Spawner == SpawnGoroutine:
		return bad("notify", "does not apply to a goroutine worker (it says Ready over the link)")
	case s.Notify == NotifyS6 && s.NotifyFd < 3:
		return bad("notify_fd", "%d: s6 readiness needs an fd of 3 or more (0, 1 and 2 are the standard streams)", s.NotifyFd)
	case s.Notify == NotifyS6 && s.Protocol && (s.NotifyFd == 3 || s.NotifyFd == 4):
		return bad("notify_fd", "%d is taken by the protocol's pipes (3 and 4)", s.NotifyFd)
	case s.Notify != NotifyS6 && s.NotifyFd != 0:
		return bad("notify_fd", "needs notify = s6")
	case s.Forking && s.PidFile == "":
		return bad("pid_file", "type = forking needs the pid file its daemon writes (pid_file = PATH)")
	case s.Forking && !filepath.IsAbs(s.PidFile):
		return bad("pid_file", "%q: want an absolute path", s.PidFile)
	case !s.Forking && s.PidFile != "":
		return bad("pid_file", "needs type = forking")
	case s.Forking && (s.Spawner == SpawnGoroutine || s.Protocol):
		return bad("type", "forking is for external daemons, not for protocol programs or goroutines")
	case s.Forking && (s.Notify != "" || s.ReadyProbe != nil):
		return bad("type", "a forking daemon is ready when its start process exits 0: notify and ready_probe do not apply (live_probe does)")
	case s.Watchdog < 0:
		return bad("watchdog", "is negative")
	case s.Watchdog > 0 && s.Notify != NotifySystemd:
		return bad("watchdog", "needs notify = systemd (WATCHDOG=1 is how a program pings it)")
	case s.HeartbeatTimeout < 0:
		return bad("heartbeat_timeout", "is negative")
	case s.HeartbeatTimeout > 0 && !s.Protocol:
		return bad("heartbeat_timeout", "needs protocol = true")
	}
	switch {
	case s.StdoutLog != "" && !filepath.IsAbs(s.StdoutLog):
		return bad("stdout_log", "%q: want an absolute path", s.StdoutLog)
	case s.StderrLog != "" && !filepath.IsAbs(s.StderrLog):
		return bad("stderr_log", "%q: want an absolute path", s.StderrLog)
	case s.LogMaxBytes < 0:
		return bad("log_max_bytes", "is negative")
	case s.LogBackups < 0:
		return bad("log_backups", "is negative")
	case s.StderrLevel != hclog.NoLevel && s.StderrLevel != hclog.Info && s.StderrLevel != hclog.Warn && s.StderrLevel != hclog.Error:
		return bad("stderr_level", "%s is not one of info, warn, error", s.StderrLevel)
	}
	return nil
}

// Validate checks every program and that names are unique.
func (g *Group) Validate() error {
	switch g.Strategy {
	case OneForOne, OneForAll, RestForOne:
	default:
		return fmt.Errorf("%w: strategy %q is not one of one_for_one, one_for_all, rest_for_one", ErrInvalidSpec, g.Strategy)
	}
	switch g.KillMode {
	case "", KillAuto, KillCgroup, KillGroup:
	default:
		return fmt.Errorf("%w: kill_mode %q is not one of auto, cgroup, group", ErrInvalidSpec, g.KillMode)
	}
	seen := make(map[string]bool, len(g.Programs))
	for i := range g.Programs {
		if err := g.Programs[i].Validate(); err != nil {
			return err
		}
		if seen[g.Programs[i].Name] {
			return fmt.Errorf("%w: program %q is defined twice", ErrInvalidSpec, g.Programs[i].Name)
		}
		seen[g.Programs[i].Name] = true
	}
	if err := g.validateLogs(); err != nil {
		return err
	}
	return g.validateDeps()
}

// validateDeps checks After and Requires: every name exists, none is the
// program itself, and there is no cycle (named in full).
func (g *Group) validateDeps() error {
	idx := make(map[string]int, len(g.Programs))
	for i, sp := range g.Programs {
		idx[sp.Name] = i
	}
	for _, sp := range g.Programs {
		for _, key := range []struct {
			name  string
			names []string
		}{{"after", sp.After}, {"requires", sp.Requires}} {
			for _, d := range key.names {
				switch _, ok := idx[d]; {
				case d == sp.Name:
					return fmt.Errorf("%w: program %q: %s: names the program itself", ErrInvalidSpec, sp.Name, key.name)
				case !ok:
					return fmt.Errorf("%w: program %q: %s: no program %q", ErrInvalidSpec, sp.Name, key.name, d)
				}
			}
		}
	}
	// Depth-first search for a cycle; color: 0 unseen, 1 on the path, 2 done.
	color := make([]int, len(g.Programs))
	var path []string
	var visit func(i int) error
	visit = func(i int) error {
		color[i] = 1
		path = append(path, g.Programs[i].Name)
		sp := &g.Programs[i]
		for _, d := range append(slices.Clone(sp.After), sp.Requires...) {
			j := idx[d]
			switch color[j] {
			case 1:
				start := slices.Index(path, d)
				cycle := append(slices.Clone(path[start:]), d)
				key := "after"
				if slices.Contains(sp.Requires, d) {
					key = "requires"
				}
				return fmt.Errorf("%w: program %q: %s: dependency cycle: %s", ErrInvalidSpec, sp.Name, key, strings.Join(cycle, " -> "))
			case 0:
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		color[i] = 2
		return nil
	}
	for i := range g.Programs {
		if color[i] == 0 {
			if err := visit(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// dependsOn reports whether a program with spec s starts after the program named d.
func (s *Spec) dependsOn(d string) bool {
	return slices.Contains(s.After, d) || slices.Contains(s.Requires, d)
}

// validName: a name must fit in a URL path segment and a command line as is, so
// '.', '..' (which paths clean away) and a leading '-' (an option) are out.
// GROUP:NAME is two such names: supervisord's name of a process in a group.
func validName(n string) bool {
	if g, p, ok := strings.Cut(n, ":"); ok {
		return validPart(g) && validPart(p)
	}
	return validPart(n)
}

func validPart(n string) bool {
	if n == "" || len(n) > 64 || n[0] == '-' || n[0] == '.' {
		return false
	}
	for _, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

func (s *Spec) isSuccess(code int) bool {
	for _, c := range s.SuccessCodes {
		if c == code {
			return true
		}
	}
	return false
}
