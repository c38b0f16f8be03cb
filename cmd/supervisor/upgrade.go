package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/control"
	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/svrpc"
	"github.com/supervisor/supervisor/internal/upgrade"
)

// With --upgradable, the supervisor's state goroutine (Supervisor.Serve) runs
// on the main goroutine locked here to the main thread: every child it forks
// has its Pdeathsig tied to the thread an upgrade execs from, and survives the
// exec (E12; internal/supervise/doc.go). The lock is taken in init, the only
// place that can take it on the main thread for sure (init functions run on
// it, and a lock taken there holds for main); run and demo without
// --upgradable, and every other command, let it go at once (keepMainThread):
// each wake-up of a locked state goroutine is a switch to that one thread,
// which costs restart latency (docs/upgrade.md).
func init() {
	runtime.LockOSThread()
	if _, ok := os.LookupEnv(upgrade.EnvVar); ok {
		// No GC until the programs are taken over (answerUpgrade): the
		// handover's garbage is a few MiB at 1,000 programs, and a collection
		// in the middle of it is part of the handover time.
		debug.SetGCPercent(-1)
		// Started by an upgrade: a stop signal from now on is kept for
		// serve, rather than ending this image, and every child with it,
		// before serve listens (docs/upgrade.md: the window before this).
		signal.Notify(earlySignals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	}
}

// keepMainThread keeps the main goroutine locked to the main thread when an
// upgrade may follow (--upgradable, or this image was started by one: its
// children are tied to the main thread already), and unlocks it otherwise.
// Called once, on the main goroutine.
func keepMainThread(upgradable bool) bool {
	if upgradable || resumed.decoded != nil {
		return true
	}
	runtime.UnlockOSThread()
	return false
}

// earlySignals holds the signals that came before serve listened, in an image
// started by an upgrade.
var earlySignals = make(chan os.Signal, 8)

// replayEarlySignals hands serve the signals that came early, through the
// channels it listens on now, and stops catching them early.
func replayEarlySignals(route func(os.Signal)) {
	signal.Stop(earlySignals)
	for {
		select {
		case sig := <-earlySignals:
			route(sig)
		default:
			return
		}
	}
}

// startedFrom is the binary this supervisor was started from, as a path: an
// upgrade without --binary execs what is at that path now (a package upgrade
// replaced it), not the deleted file /proc/self/exe may point at.
var startedFrom = sync.OnceValue(func() string {
	if p, err := os.Executable(); err == nil {
		return strings.TrimSuffix(p, " (deleted)")
	}
	return os.Args[0]
})

// appState is cmd/supervisor's part of an upgrade's state (upgrade.State.App).
type appState struct {
	Control *inheritedFd `json:"control,omitempty"` // the control socket's listener
	HTTP    *inheritedFd `json:"http,omitempty"`    // --http's listener (Path: its address)
	// Supervisord are the sockets of supervisord's interface, Path "unix"
	// ([unix_http_server]) or "inet" ([inet_http_server]).
	Supervisord []inheritedFd `json:"supervisord,omitempty"`
	// Logs are the newest lines of ctl logs' rings (handoverLogLines per
	// program, handoverLogBytes in all).
	Logs        []control.LogRecord `json:"logs,omitempty"`
	Reply       int                 `json:"reply_fd"` // the ctl upgrade connection, answered by the new image
	Binary      string              `json:"binary"`
	ConfigSHA   string              `json:"config_sha256,omitempty"`
	FreezeWall  time.Time           `json:"freeze"`
	RequestedAt int64               `json:"requested_mono_ns"` // when ctl upgrade came (CLOCK_MONOTONIC)
}

type inheritedFd struct {
	FD   int    `json:"fd"`
	Path string `json:"path,omitempty"`
}

// resumed is what an old image handed over, or nil: read in main, decoded
// meanwhile (awaitResumed).
var resumed struct {
	st      *upgrade.State
	app     appState
	decoded chan error // nil without a state
	procs   int        // GOMAXPROCS before the handover, set back once it is done
}

// readResumed reads the state an upgrade handed over, before anything reads
// the environment for children, and decodes it on another goroutine while
// the config file is read again (awaitResumed waits for it). For the
// handover, the process may run two goroutines at once.
func readResumed() error {
	b, err := upgrade.ReadEnv()
	if errors.Is(err, upgrade.ErrNoState) {
		return nil
	}
	if err != nil {
		return err
	}
	resumed.decoded = make(chan error, 1)
	resumed.procs = runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))
	go func() {
		st, err := upgrade.Decode(b)
		if err == nil && len(st.App) > 0 {
			if err = json.Unmarshal(st.App, &resumed.app); err != nil {
				err = fmt.Errorf("upgrade: state's app part: %w", err)
			}
		}
		resumed.st = st
		resumed.decoded <- err
	}()
	return nil
}

// awaitResumed waits for the state readResumed decodes. A state this image
// cannot read ends it: the children then die with it (Pdeathsig), rather than
// run on unsupervised.
func awaitResumed() {
	if resumed.decoded == nil {
		return
	}
	if err := <-resumed.decoded; err != nil {
		fmt.Fprintf(os.Stderr, "supervisor: %v\n", err)
		os.Exit(1)
	}
}

// cmdUpgradeCheck answers an old image asking whether this binary can take
// its state over: the state versions it reads and its version; then, given
// the old image's arguments (run ... or demo ...), whether this binary loads
// that configuration (as run --check does).
func cmdUpgradeCheck(args []string, stdout, stderr io.Writer) int {
	vs := make([]string, len(upgrade.Reads))
	for i, v := range upgrade.Reads {
		vs[i] = strconv.Itoa(v)
	}
	fmt.Fprintf(stdout, "%s %s\nversion %s\n", upgrade.Format, strings.Join(vs, " "), version)
	if len(args) == 0 {
		return 0
	}
	if args[0] != "run" && args[0] != "demo" {
		fmt.Fprintf(stderr, "supervisor upgrade-check: %q is not a supervisor that upgrades (run, demo)\n", args[0])
		return exitUsage
	}
	code := run(append([]string{args[0], "--check"}, args[1:]...), stdout, stderr)
	if code == 1 {
		// It loads; some program's command cannot be started here, which
		// the running supervisor lives with already.
		return 0
	}
	return code
}

// upgradeLightMinFds is when spawns move to the light spawner's thread
// (internal/supervise/spawnlight.go) with --upgradable: at 6,144 open fds,
// about 2,000 running programs, rather than the default 1,024. Its children
// are forked off the main thread and die with an upgrade's exec, so ctl
// upgrade is refused while any runs; below this every child is forked on the
// main thread. Forking with the whole fd table costs little until a few
// thousand fds (docs/upgrade.md).
const upgradeLightMinFds = 6144

// lightMinFds is the light spawner's threshold: raised with --upgradable, the
// default (0) otherwise.
func lightMinFds(upgradable bool) int {
	if upgradable {
		return upgradeLightMinFds
	}
	return 0
}

// What of ctl logs' rings an upgrade hands over: the newest lines, enough
// for a look at what a program said last, not the whole 1,000 lines each
// (the state's size is part of the handover's time).
const (
	handoverLogLines = 50
	handoverLogBytes = 1 << 20
)

// upgradeCheckTimeout bounds the new binary's check run.
const upgradeCheckTimeout = 5 * time.Second

// upgrader is what steer needs for an upgrade.
type upgrader struct {
	log        hclog.Logger
	mainThread bool // --upgradable: Serve runs locked to the main thread
	reaper     *supervise.Reaper
	control    func() *ctlServer
	journal    *control.Journal
	http       *control.HTTPServer // --http's, or nil; set before the control socket serves
	sv         *svServing          // supervisord's interface, or nil; set before the control socket serves
	mu         sync.Mutex          // one upgrade at a time
	// cfgSum is the config file's digest when it was last loaded.
	cfgSum atomic.Pointer[string]
}

// loaded records the config file's contents as loaded (at start, at a reload).
func (u *upgrader) loaded(src []byte) {
	sum := digest(src)
	u.cfgSum.Store(&sum)
}

// Upgrade implements control.Upgrader: it checks binary and execs it in
// place; it returns only when the upgrade was refused or the exec failed.
func (s steer) Upgrade(ctx context.Context, binary string, reply *os.File) error {
	u := s.up
	if u == nil || !u.mainThread {
		return errors.New("this supervisor was started without --upgradable: its children are not all forked on the thread an exec keeps, and would die (docs/upgrade.md); restart it with run --upgradable to upgrade in place from then on")
	}
	if !u.mu.TryLock() {
		return errors.New("an upgrade is under way already")
	}
	defer u.mu.Unlock()
	requested := upgrade.Mono()
	if binary == "" {
		binary = startedFrom()
	}
	if err := checkBinary(binary); err != nil {
		return err
	}
	if s.file != "" {
		src, err := os.ReadFile(s.file)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if sum := u.cfgSum.Load(); sum == nil || digest(src) != *sum {
			return fmt.Errorf("the config file %s changed since it was loaded: run ctl reload first (or restore it), then upgrade", s.file)
		}
	}
	newVersion, err := u.check(ctx, binary)
	if err != nil {
		return err
	}
	u.log.Info("upgrade: the new binary reads this state", "binary", binary, "old", version, "new", newVersion)
	cs := u.control()
	if cs != nil {
		cs.srv.Pause()
	}
	if u.http != nil {
		u.http.Pause()
	}
	if u.sv != nil {
		u.sv.srv.Pause()
	}
	err = s.Supervisor.Upgrade(ctx, supervise.UpgradeRequest{
		Binary: binary, Argv: os.Args, Old: version,
		Prepare: func(st *upgrade.State) (func(), error) {
			app := appState{Reply: -1, Binary: binary, FreezeWall: time.Now(), RequestedAt: requested}
			if s.file != "" {
				if sum := u.cfgSum.Load(); sum != nil {
					app.ConfigSHA = *sum
				}
			}
			var undo []func()
			undoAll := func() {
				for _, f := range undo {
					f()
				}
			}
			if cs != nil {
				f, err := control.ListenerFile(cs.ln)
				if err != nil {
					return nil, fmt.Errorf("control socket: %w", err)
				}
				undo = append(undo, func() { f.Close() })
				app.Control = &inheritedFd{FD: upgrade.FileFd(f), Path: cs.path}
			}
			if u.http != nil {
				f, err := control.ListenerFile(u.http.Listener())
				if err != nil {
					undoAll()
					return nil, fmt.Errorf("http listener: %w", err)
				}
				undo = append(undo, func() { f.Close() })
				app.HTTP = &inheritedFd{FD: upgrade.FileFd(f), Path: u.http.Listener().Addr().String()}
			}
			if u.sv != nil {
				for _, ln := range u.sv.lns {
					f, err := control.ListenerFile(ln)
					if err != nil {
						undoAll()
						return nil, fmt.Errorf("supervisord's interface: %w", err)
					}
					undo = append(undo, func() { f.Close() })
					kind := "inet"
					if ln.Addr().Network() == "unix" {
						kind = "unix"
					}
					app.Supervisord = append(app.Supervisord, inheritedFd{FD: upgrade.FileFd(f), Path: kind})
				}
			}
			if err := upgrade.Inherit(upgrade.FileFd(reply)); err != nil {
				undoAll()
				return nil, fmt.Errorf("ctl connection: %w", err)
			}
			app.Reply = upgrade.FileFd(reply)
			undo = append(undo, func() { upgrade.Uninherit(upgrade.FileFd(reply)) })
			if u.journal != nil {
				app.Logs = u.journal.Export(handoverLogLines, handoverLogBytes)
			}
			b, err := json.Marshal(app)
			if err != nil {
				undoAll()
				return nil, err
			}
			st.App = b
			return undoAll, nil
		},
	})
	if cs != nil {
		cs.srv.Resume()
	}
	if u.http != nil {
		u.http.Resume()
	}
	if u.sv != nil {
		u.sv.srv.Resume()
	}
	return err
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkBinary refuses a path that is not an executable regular file.
func checkBinary(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("binary %q: not an absolute path", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("binary: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("binary %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return fmt.Errorf("binary %s is not executable: %w", path, err)
	}
	return nil
}

// check runs `BINARY upgrade-check` (through the reaper: it owns every exit)
// and returns the new version, or why the binary cannot take this state over.
func (u *upgrader) check(ctx context.Context, binary string) (string, error) {
	rd, wr, err := os.Pipe()
	if err != nil {
		return "", err
	}
	defer rd.Close()
	exited := make(chan supervise.Exit, 1)
	proc, err := u.reaper.Spawn(supervise.SpawnRequest{Kind: supervise.SpawnForkExec, Argv: append([]string{binary, "upgrade-check"}, os.Args[1:]...),
		Stdout: wr, Stderr: wr, OnExit: func(e supervise.Exit) { exited <- e }, KillGroupOnExit: true})
	wr.Close()
	if err != nil {
		return "", fmt.Errorf("binary %s: %w", binary, err)
	}
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(rd, 4096))
		out <- b
	}()
	ctx, cancel := context.WithTimeout(ctx, upgradeCheckTimeout)
	defer cancel()
	var e supervise.Exit
	select {
	case e = <-exited:
	case <-ctx.Done():
		_ = proc.SignalGroup(syscall.SIGKILL)
		<-exited
		return "", fmt.Errorf("binary %s: its check (%s upgrade-check) did not finish within %v", binary, binary, upgradeCheckTimeout)
	}
	rd.SetReadDeadline(time.Now().Add(time.Second))
	b := <-out
	if e.ShellCode() != 0 {
		return "", fmt.Errorf("binary %s: its check (upgrade-check, which also loads the config as run --check does) failed: %v: %s", binary, e, lastLines(b))
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	reads, newVersion := false, ""
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) > 1 && f[0] == upgrade.Format:
			for _, v := range f[1:] {
				reads = reads || v == strconv.Itoa(upgrade.Version)
			}
		case len(f) > 1 && f[0] == "version":
			newVersion = strings.Join(f[1:], " ")
		}
	}
	if !reads {
		return "", fmt.Errorf("binary %s cannot read this supervisor's state (format %s version %d): its check said %q", binary, upgrade.Format, upgrade.Version, firstLine(b))
	}
	return newVersion, nil
}

// lastLines is the end of a check's output, where its error is.
func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-3):], " / ")
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}

// answerUpgrade writes the ctl upgrade reply once this image serves.
func answerUpgrade(log hclog.Logger, sup *supervise.Supervisor) {
	st, app := resumed.st, resumed.app
	if st == nil {
		return
	}
	kept := len(supervise.ResumedProcs(st))
	go func() {
		// Once the state goroutine answers, the programs are taken over.
		_, _ = sup.Status(context.Background())
		took := time.Duration(upgrade.Mono() - st.Freeze)
		debug.SetGCPercent(100) // the default, off since init
		runtime.GOMAXPROCS(resumed.procs)
		total := time.Duration(upgrade.Mono() - app.RequestedAt)
		log.Info("upgraded in place", "old", st.Old, "new", version, "binary", app.Binary, "pid", os.Getpid(),
			"handover_ms", ms(took), "since_request_ms", ms(total), "children_kept", kept, "restarted", strings.Join(st.Supervisor.Restart, ", "))
		if app.Reply < 0 {
			return
		}
		f := os.NewFile(uintptr(app.Reply), "upgrade-reply")
		unix.CloseOnExec(app.Reply)
		res := control.UpgradeResult{Pid: os.Getpid(), Old: st.Old, New: version, Binary: app.Binary, HandoverMS: ms(took),
			Kept: kept, Restarted: st.Supervisor.Restart}
		if err := control.WriteUpgradeReply(f, res); err != nil {
			log.Warn("upgrade: the ctl upgrade client was not answered", "error", err)
		}
	}()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// inheritedHTTP is --http's listening socket handed over, or nil.
func inheritedHTTP() *os.File { return inheritedFile(resumed.app.HTTP, "http-listener") }

// svServing is supervisord's interface as served: its server and listeners.
type svServing struct {
	srv *svrpc.Server
	lns []net.Listener
}

// inheritedSupervisord is the socket of supervisord's interface of kind
// (unix, inet) handed over, or nil.
func inheritedSupervisord(kind string) *os.File {
	for i := range resumed.app.Supervisord {
		if h := &resumed.app.Supervisord[i]; h.Path == kind {
			return inheritedFile(h, "supervisord-"+kind)
		}
	}
	return nil
}

// inheritedControl is the control socket handed over, or nil.
func inheritedControl() *os.File { return inheritedFile(resumed.app.Control, "control-socket") }

// inheritedFile is the fd an old image handed over, close-on-exec again, or
// nil.
func inheritedFile(h *inheritedFd, name string) *os.File {
	if h == nil || resumed.st == nil {
		return nil
	}
	unix.CloseOnExec(h.FD)
	return os.NewFile(uintptr(h.FD), name)
}
