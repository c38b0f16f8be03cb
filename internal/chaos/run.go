package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/control"
	"github.com/supervisor/supervisor/internal/worker"
)

// The storm's program classes, by index modulo 10.
const (
	classLong    = "long"    // runs until killed; SIGKILLed at random
	classStop    = "stop"    // runs until killed; SIGSTOPped, SIGCONTed, sometimes SIGKILLed while stopped
	classInstant = "instant" // exits at once, restarted after 300ms
	classForker  = "forker"  // starts a grandchild in its group, exits after 200ms: an orphan each run
)

func classOf(i int) string {
	switch i % 10 {
	case 6:
		return classStop
	case 7:
		return classInstant
	case 8:
		return classForker
	default:
		return classLong
	}
}

// writeConfig writes the config: the storm's programs (autostart), two
// long-running programs whose setsid grandchild outlives them (the leftovers a
// SIGKILLed supervisor leaves), and the programs each later phase starts
// (autostart = false).
func writeConfig(path string, cfg config, workerLink string) error {
	child := filepath.Join(cfg.binDir, "child")
	var b strings.Builder
	b.WriteString("[defaults]\nrestart = always\nmin_uptime = 0\nbackoff_initial = 0\nbackoff_max = 0\nbackoff_jitter = 0\nmax_restarts = 0\nstop_grace = 2s\n\n")
	for i := 0; i < cfg.programs; i++ {
		fmt.Fprintf(&b, "[program:s%03d]\n", i)
		switch classOf(i) {
		case classLong, classStop:
			fmt.Fprintf(&b, "command = %s\n", child)
		case classInstant:
			fmt.Fprintf(&b, "command = %s --run 0s\nbackoff_initial = 300ms\nbackoff_max = 300ms\n", child)
		case classForker:
			fmt.Fprintf(&b, "command = %s --grandchild --run 200ms\nbackoff_initial = 300ms\nbackoff_max = 300ms\n", child)
		}
	}
	for i := 0; i < 2; i++ {
		fmt.Fprintf(&b, "[program:escapee%d]\ncommand = %s --grandchild-setsid\n", i, child)
	}
	for i := 0; i < cfg.floods; i++ {
		fmt.Fprintf(&b, "[program:flood%d]\ncommand = %s %s -bytes %d\nautostart = false\nrestart = never\n", i, workerLink, floodWorker, cfg.floodBytes)
	}
	fmt.Fprintf(&b, "[program:lease]\ncommand = %s %s -n %d\nautostart = false\nrestart = never\nprotocol = true\n", workerLink, leaseWorker, cfg.leases)
	fmt.Fprintf(&b, "[program:beat]\ncommand = %s %s\nautostart = false\nrestart = never\nprotocol = true\n", workerLink, beatWorker)
	fmt.Fprintf(&b, "[program:garbage]\ncommand = %s --protocol --garbage\nautostart = false\nprotocol = true\nbackoff_initial = 100ms\nbackoff_max = 100ms\n", child)
	fmt.Fprintf(&b, "[program:rate]\ncommand = %s --run 0s\nautostart = false\n", child)
	for i := 0; i < cfg.late; i++ {
		fmt.Fprintf(&b, "[program:late%d]\ncommand = %s\nautostart = false\n", i, child)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// sample is the supervisor's resources at one moment.
type sample struct{ pss, fds, goroutines, threads int }

func sampleOf(s *supProc) sample {
	return sample{pss: pssKiB(s.pid), fds: fdCount(s.pid), goroutines: s.goroutines(), threads: threads(s.pid)}
}

// result is what the table shows.
type result struct {
	killMode                          string
	spawns, exits, kills, stops, cont int
	orphansReaped                     int
	lostKilled, lostOpen              int
	oldZombies, zombieScans           int
	pidReused                         int
	before, after                     sample
	peakPSS                           int

	floodBefore, floodPeak, floodAfter int
	floodDone                          int

	leaseBefore, leaseAfter sample
	leasePeak               int
	leaseDone               bool

	rateAlone, rateFlood float64
	garbageRuns          int
	beatRan              bool

	connsOpened, connErrs        int
	connFdsBefore, connFdsDuring int
	connFdsAfter                 int
	connPSSBefore, connPSSPeak   int
	connPSSAfter                 int
	statusAnswered               bool
	statusLatency                time.Duration
	lateStarted                  int

	survivors, leftovers int
	nextStaleCgroups     int
	nextStaleSocket      bool
	leftoversKilled      int
	problems             map[string]int
	survivorList         []int
	zombieList           []string
}

func (r *result) mustBeZeroOK() bool {
	return r.lostKilled+r.lostOpen == 0 && r.oldZombies == 0 && r.survivors == 0
}

func run(ctx context.Context, log hclog.Logger, cfg config) (*result, error) {
	supBin, child := filepath.Join(cfg.binDir, "supervisor"), filepath.Join(cfg.binDir, "child")
	for _, p := range []string{supBin, child} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s missing (run make build first): %w", p, err)
		}
	}
	dir, err := os.MkdirTemp("", "supervisor-chaos")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	link := filepath.Join(dir, worker.Arg0)
	if err := os.Symlink(cfg.self, link); err != nil {
		return nil, fmt.Errorf("worker link: %w", err)
	}
	conf, sock := filepath.Join(dir, "chaos.conf"), filepath.Join(dir, "ctl", "supervisor.sock")
	if err := writeConfig(conf, cfg, link); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s, err := startSup(supBin, conf, sock, true)
	if err != nil {
		return nil, err
	}
	killed := false
	defer func() {
		if !killed {
			s.kill()
			reapLeftovers(log)
		}
	}()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w := startWatch(wctx, s.pid)
	res := &result{}

	autostart := cfg.programs + 2
	if !s.waitFor(60*time.Second, func() bool { return len(s.startsOf) >= autostart && s.httpAddr != "" }) {
		return nil, check(false, "the %d programs did not all start within 60s", autostart)
	}
	c, err := control.NewClient(sock)
	if err != nil {
		return nil, fmt.Errorf("control client: %w", err)
	}
	res.killMode = killModeOf(s.pid)
	time.Sleep(time.Second) // let start-up settle before the baseline
	res.before = sampleOf(s)
	log.Info("started", "programs", autostart, "kill_mode", res.killMode, "pss_kib", res.before.pss)

	// ---- the kill storm ----
	kills := storm(ctx, s, cfg, res)
	unreported := func() int {
		n := 0
		for _, k := range kills {
			if s.exitsPid[k.pid] < k.run {
				n++
			}
		}
		return n
	}
	s.caughtUp(3 * time.Minute)
	s.waitFor(10*time.Second, func() bool { return unreported() == 0 })
	s.mu.Lock()
	res.lostKilled = unreported()
	s.mu.Unlock()
	// Quieten the restarting classes so the next phases measure themselves.
	var names []string
	for i := 0; i < cfg.programs; i++ {
		if cl := classOf(i); cl == classInstant || cl == classForker {
			names = append(names, fmt.Sprintf("s%03d", i))
		}
	}
	ctlAll(ctx, c, "stop", names)
	res.lostOpen += lostOpenRuns(s)
	s.mu.Lock()
	spawns := s.started
	s.mu.Unlock()
	log.Info("kill storm over", "kills", res.kills, "spawns", spawns)

	// ---- output floods ----
	time.Sleep(time.Second)
	w.resetPhase()
	res.floodBefore = pssKiB(s.pid)
	var floods []string
	for i := 0; i < cfg.floods; i++ {
		floods = append(floods, fmt.Sprintf("flood%d", i))
	}
	ctlAll(ctx, c, "start", floods)
	s.waitFor(3*time.Minute, func() bool { return s.markers[floodDone] >= cfg.floods })
	s.mu.Lock()
	res.floodDone = s.markers[floodDone]
	s.mu.Unlock()
	ctlAll(ctx, c, "stop", floods)
	time.Sleep(5 * time.Second) // the runtime gives freed memory back over a few seconds
	res.floodAfter = pssKiB(s.pid)
	res.floodPeak = w.resetPhase()
	log.Info("floods over", "pss_before_kib", res.floodBefore, "peak_kib", res.floodPeak, "after_kib", res.floodAfter)

	// ---- lease flood ----
	res.leaseBefore = sampleOf(s)
	ctlAll(ctx, c, "start", []string{"lease"})
	res.leaseDone = s.waitFor(3*time.Minute, func() bool { return s.markers[leaseDone] >= 1 })
	time.Sleep(2 * time.Second)
	res.leaseAfter = sampleOf(s)
	res.leasePeak = w.resetPhase()
	ctlAll(ctx, c, "stop", []string{"lease"})
	log.Info("lease flood over", "done", res.leaseDone, "pss_kib", res.leaseAfter.pss, "goroutines", res.leaseAfter.goroutines)

	// ---- frame flood and garbage: another program's restart rate ----
	res.rateAlone = restartRate(ctx, s, c, cfg.rateWindow)
	ctlAll(ctx, c, "start", []string{"beat", "garbage"})
	res.beatRan = s.waitFor(10*time.Second, func() bool { return s.markers[beatStart] >= 1 })
	res.rateFlood = restartRate(ctx, s, c, cfg.rateWindow)
	ctlAll(ctx, c, "stop", []string{"beat", "garbage"})
	s.mu.Lock()
	res.garbageRuns = s.startsOf["garbage"]
	s.mu.Unlock()
	log.Info("frame flood over", "rate_alone", res.rateAlone, "rate_flood", res.rateFlood)

	// ---- idle control connections ----
	w.resetPhase()
	res.connPSSBefore = pssKiB(s.pid)
	idleConns(ctx, s, cfg, res, c)
	time.Sleep(2 * time.Second)
	res.connFdsAfter, res.connPSSAfter, res.connPSSPeak = fdCount(s.pid), pssKiB(s.pid), w.resetPhase()
	log.Info("idle connections over", "fds_during", res.connFdsDuring, "late_started", res.lateStarted)

	// ---- the end: the supervisor SIGKILLed ----
	time.Sleep(time.Second)
	res.lostOpen += lostOpenRuns(s)
	res.after = sampleOf(s)
	stopWatch()
	w.mu.Lock()
	res.peakPSS, res.oldZombies, res.zombieScans = w.peak, len(w.oldZombies), w.scans
	for _, z := range w.oldZombies {
		res.zombieList = append(res.zombieList, z)
	}
	w.mu.Unlock()
	s.mu.Lock()
	res.spawns, res.exits, res.orphansReaped, res.pidReused = s.started, s.ended, s.orphans, s.pidReused
	res.problems = s.problems
	s.mu.Unlock()

	progs := map[int]bool{}
	for _, pid := range descendants(s.pid) {
		if st, ok := statOf(pid); ok && st.ppid == s.pid {
			progs[pid] = true
		}
	}
	killed = true
	s.kill()
	time.Sleep(2 * time.Second) // Pdeathsig is immediate; leave time for the slowest
	for pid := range progs {
		if alive(pid) {
			res.survivors++
			res.survivorList = append(res.survivorList, pid)
		}
	}
	res.leftovers = len(liveOrphans())

	// The next start: it must say what the dead one left.
	next, err := startSup(supBin, writeNextConfig(dir, child), sock, false)
	if err != nil {
		reapLeftovers(log)
		return res, err
	}
	next.waitFor(10*time.Second, func() bool { return next.startsOf["one"] >= 1 })
	next.stop(10 * time.Second)
	res.nextStaleCgroups, res.nextStaleSocket = len(next.staleCgs), next.staleSocket
	res.leftoversKilled = reapLeftovers(log)
	removeCgroups(next.staleCgs)
	return res, nil
}

func writeNextConfig(dir, child string) string {
	p := filepath.Join(dir, "next.conf")
	_ = os.WriteFile(p, []byte("[program:one]\ncommand = "+child+"\n"), 0o644)
	return p
}

// kill is one SIGKILL sent: to pid, whose run-th run (counted per pid, as pids
// are reused) it ended; the supervisor must report an exit for that run.
type kill struct{ pid, run int }

// storm runs the kill storm for cfg.storm and returns the SIGKILLs it sent.
func storm(ctx context.Context, s *supProc, cfg config, res *result) []kill {
	rng := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))
	var targets, stoppable []string
	for i := 0; i < cfg.programs; i++ {
		switch classOf(i) {
		case classLong:
			targets = append(targets, fmt.Sprintf("s%03d", i))
		case classStop:
			targets = append(targets, fmt.Sprintf("s%03d", i))
			stoppable = append(stoppable, fmt.Sprintf("s%03d", i))
		}
	}
	var kills []kill
	stopped := map[int]time.Time{} // pid -> when to SIGCONT it
	sigkill := func(pid int) {
		if pid <= 0 {
			return
		}
		s.mu.Lock()
		run := s.startsPid[pid]
		s.mu.Unlock()
		if signalChild(s.pid, pid, unix.SIGKILL) {
			res.kills++
			kills = append(kills, kill{pid, run})
			delete(stopped, pid)
		}
	}
	for deadline := time.Now().Add(cfg.storm); time.Now().Before(deadline) && ctx.Err() == nil; {
		now := time.Now()
		for pid, at := range stopped {
			if now.After(at) {
				if signalChild(s.pid, pid, unix.SIGCONT) {
					res.cont++
				}
				delete(stopped, pid)
			}
		}
		switch r := rng.IntN(100); {
		case r < 70 && len(targets) > 0:
			sigkill(s.pidOf(targets[rng.IntN(len(targets))]))
		case r < 90 && len(stoppable) > 0:
			pid := s.pidOf(stoppable[rng.IntN(len(stoppable))])
			if _, already := stopped[pid]; pid > 0 && !already && signalChild(s.pid, pid, unix.SIGSTOP) {
				res.stops++
				stopped[pid] = now.Add(time.Duration(50+rng.IntN(250)) * time.Millisecond)
			}
		default:
			for pid := range stopped { // SIGKILL a stopped one
				sigkill(pid)
				break
			}
		}
		time.Sleep(time.Duration(2+rng.IntN(6)) * time.Millisecond)
	}
	for pid := range stopped {
		if signalChild(s.pid, pid, unix.SIGCONT) {
			res.cont++
		}
	}
	return kills
}

// lostOpenRuns counts the runs the log shows started and not ended, per pid,
// beyond the one a live program may still hold: exits the supervisor never
// reported. It waits up to 5s for exits still on their way through the log.
func lostOpenRuns(s *supProc) int {
	open := func() int {
		current := map[int]bool{}
		for _, pid := range s.running {
			current[pid] = true
		}
		n := 0
		for pid, starts := range s.startsPid {
			n += starts - s.exitsPid[pid]
			if current[pid] && alive(pid) {
				n--
			}
		}
		return n
	}
	s.caughtUp(3 * time.Minute)
	// A program still restarting has, for a moment after each exit, a run that
	// is logged as started and whose process is already a zombie: one moment
	// with nothing open settles it (counting again could catch that moment).
	if s.waitFor(5*time.Second, func() bool { return open() <= 0 }) {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := max(open(), 0)
	if n > 0 { // say which, for whoever looks into it
		for pid, starts := range s.startsPid {
			if starts > s.exitsPid[pid] && !alive(pid) {
				var progs []string
				for prog, rp := range s.running {
					if rp == pid {
						progs = append(progs, prog)
					}
				}
				fmt.Fprintf(os.Stderr, "chaos: pid %d: %d starts, %d exits logged; alive %v; the latest run of %v\n", pid, starts, s.exitsPid[pid], alive(pid), progs)
				for _, prog := range progs {
					fmt.Fprintf(os.Stderr, "chaos: %s's last %d log lines:\n", prog, len(s.history[prog]))
					for _, l := range s.history[prog] {
						fmt.Fprintf(os.Stderr, "chaos:   %s", l)
					}
				}
			}
		}
	}
	return n
}

// ctlAll runs op on every named program through the control socket, eight at
// a time; failures are the table's business (a stop of a program already
// stopped is refused, harmlessly).
func ctlAll(ctx context.Context, c *control.Client, op string, names []string) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_ = c.Program(cctx, op, n, "", false)
		}()
	}
	wg.Wait()
}

// restartRate starts "rate" (a program that exits at once, restarted at once),
// counts its starts per second over window after a warm-up, and stops it.
func restartRate(ctx context.Context, s *supProc, c *control.Client, window time.Duration) float64 {
	ctlAll(ctx, c, "start", []string{"rate"})
	time.Sleep(window / 4)
	s.mu.Lock()
	n0 := s.startsOf["rate"]
	s.mu.Unlock()
	t0 := time.Now()
	time.Sleep(window)
	s.mu.Lock()
	n1 := s.startsOf["rate"]
	s.mu.Unlock()
	rate := float64(n1-n0) / time.Since(t0).Seconds()
	ctlAll(ctx, c, "stop", []string{"rate"})
	return rate
}

// idleConns opens cfg.conns connections to the control socket, each making one
// keep-alive request and then idling, and, while they are open, counts the
// supervisor's fds, runs `supervisor ctl status` and starts cfg.late programs.
func idleConns(ctx context.Context, s *supProc, cfg config, res *result, c *control.Client) {
	res.connFdsBefore = fdCount(s.pid)
	sock := sockOf(s)
	conns := make([]net.Conn, 0, cfg.conns)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := 0; i < cfg.conns; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, err := keepAlive(sock)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.connErrs++
				return
			}
			conns = append(conns, conn)
		}()
	}
	wg.Wait()
	res.connsOpened = len(conns)
	time.Sleep(500 * time.Millisecond)
	res.connFdsDuring = fdCount(s.pid)

	t0 := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	out, err := exec.CommandContext(cctx, s.cmd.Path, "ctl", "--socket", sock, "--timeout", "10s", "status").CombinedOutput()
	cancel()
	res.statusLatency = time.Since(t0)
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err == nil {
		code = 0
	}
	// 0: all running, 1: some not (the stopped ones): either way it answered.
	res.statusAnswered = (code == 0 || code == 1) && strings.Contains(string(out), "s000")

	var late []string
	for i := 0; i < cfg.late; i++ {
		late = append(late, fmt.Sprintf("late%d", i))
	}
	ctlAll(ctx, c, "start", late)
	s.waitFor(15*time.Second, func() bool {
		n := 0
		for _, l := range late {
			if s.startsOf[l] > 0 {
				n++
			}
		}
		res.lateStarted = n
		return n == len(late)
	})
	for _, conn := range conns {
		conn.Close()
	}
}

// sockOf is the control socket the supervisor was started with.
func sockOf(s *supProc) string {
	for i, a := range s.cmd.Args {
		if a == "--socket" && i+1 < len(s.cmd.Args) {
			return s.cmd.Args[i+1]
		}
	}
	return ""
}

// keepAlive connects to the control socket, makes one GET /v1/status with
// keep-alive, reads the whole reply, and returns the connection, idle.
func keepAlive(sock string) (net.Conn, error) {
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte("GET /v1/status HTTP/1.1\r\nHost: supervisor\r\n\r\n")); err != nil {
		conn.Close()
		return nil, fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read: %w", err)
	}
	_, err = bufio.NewReader(resp.Body).WriteTo(discard{})
	resp.Body.Close()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read body: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// killModeOf reads the kill mode from the supervisor's cgroup tree: a
// supervisor-NS-PID-N cgroup of its pid means cgroup mode.
func killModeOf(pid int) string {
	for _, p := range descendants(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p))
		if err == nil && strings.Contains(string(b), fmt.Sprintf("-%d-", pid)) && strings.Contains(string(b), "supervisor-") {
			return "cgroup"
		}
	}
	return "group"
}

// liveOrphans lists the live processes re-parented to us (we are a subreaper):
// what a SIGKILLed supervisor's programs left.
func liveOrphans() []int {
	var out []int
	me := os.Getpid()
	for pid, st := range allProcs() {
		if st.ppid == me && st.state != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

// reapLeftovers SIGKILLs every process re-parented to us and reaps it (each by
// its pid: the supervisor processes are waited by exec.Cmd), and returns how
// many it killed.
func reapLeftovers(log hclog.Logger) int {
	me := os.Getpid()
	n := 0
	for i := 0; i < 50; i++ {
		var ours []int
		for pid, st := range allProcs() {
			if st.ppid == me && !isOurCmd(pid) {
				ours = append(ours, pid)
				if st.state != 'Z' && signalChild(me, pid, unix.SIGKILL) {
					n++
				}
			}
		}
		if len(ours) == 0 {
			return n
		}
		for _, pid := range ours {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Warn("processes re-parented to chaos are still there after 5s")
	return n
}

// isOurCmd says whether pid runs the supervisor binary (one of ours, waited by
// its exec.Cmd).
func isOurCmd(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b)) == "supervisor"
}

// removeCgroups removes the cgroups a dead supervisor left, once empty
// (reapLeftovers killed their processes): deepest first.
func removeCgroups(paths []string) {
	for _, p := range paths {
		for i := 0; i < 20; i++ {
			if rmdirTree(p) == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func rmdirTree(path string) error {
	if ents, err := os.ReadDir(path); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				_ = rmdirTree(filepath.Join(path, e.Name()))
			}
		}
	}
	return unix.Rmdir(path)
}
