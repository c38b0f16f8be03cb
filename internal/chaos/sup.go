package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// supProc is one running supervisor binary, watched through its JSON log (its
// stderr, read to EOF by one goroutine) and /proc.
type supProc struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed when the log reader hit EOF

	mu          sync.Mutex
	lastLine    time.Time      // the newest interesting line read (its @timestamp)
	lastRead    time.Time      // when the reader last read anything
	started     int            // "program started" lines
	ended       int            // "program exited" and "program stopped" lines with a pid
	running     map[string]int // program -> pid of its run that started and has not ended
	startsPid   map[int]int    // pid -> runs started with it (pids are reused)
	exitsPid    map[int]int    // pid -> exits reported for it
	startsOf    map[string]int // program -> runs started
	orphans     int            // "reaped adopted orphan"
	markers     map[string]int // output lines starting with "chaos: " -> count
	problems    map[string]int // warn and error messages -> count
	staleCgs    []string       // "processes of a dead supervisor's programs still run": their cgroups
	staleSocket bool           // "removed a stale control socket"
	httpAddr    string
	pidReused   int                 // a "program started" for a pid already seen: runs are counted per pid
	history     map[string][]string // program -> its last historyLen interesting lines, for a post-mortem
}

// historyLen is how many of a program's log lines the harness keeps to print
// when one of its runs is found lost.
const historyLen = 40

// logLine is the part of a supervisor JSON log line the harness reads.
type logLine struct {
	Level  string    `json:"@level"`
	Msg    string    `json:"@message"`
	Module string    `json:"@module"`
	Pid    int       `json:"pid"`
	Addr   string    `json:"addr"`
	Cgroup string    `json:"cgroup"`
	Time   time.Time `json:"@timestamp"`
}

// startSup starts `supervisor run -c conf` with a JSON log, its control socket at
// sock and, with http, /metrics on a loopback port. The caller must call kill or
// stop.
func startSup(sup, conf, sock string, http bool) (*supProc, error) {
	args := []string{"run", "-c", conf, "--socket", sock, "--log-format", "json"}
	if http {
		args = append(args, "--http", "127.0.0.1:0")
	}
	cmd := exec.Command(sup, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("supervisor stderr: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	s := &supProc{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}),
		running: map[string]int{}, startsPid: map[int]int{}, exitsPid: map[int]int{}, startsOf: map[string]int{},
		markers: map[string]int{}, problems: map[string]int{}, history: map[string][]string{}}
	var r io.Reader = stderr
	if path := os.Getenv("CHAOS_SUPERVISOR_LOG"); path != "" { // every line, for a post-mortem
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			r = io.TeeReader(stderr, f)
		}
	}
	go s.readLog(r)
	return s, nil
}

// interesting says whether a log line may matter; the rest (the floods' output)
// is skipped without decoding.
var interesting = [][]byte{[]byte(`"@message":"program `), []byte(`"@level":"warn"`), []byte(`"@level":"error"`),
	[]byte(`"@message":"chaos: `), []byte(`adopted orphan"`), []byte(`"@message":"http listener ready"`),
	[]byte(`"@message":"removed a stale control socket`)}

func (s *supProc) readLog(r io.Reader) {
	defer close(s.done)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) { // a line over 1 MiB: not one of ours
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		if len(line) > 0 {
			s.mu.Lock()
			s.lastRead = time.Now()
			s.mu.Unlock()
			s.handle(line)
		}
		if err != nil {
			return
		}
	}
}

func (s *supProc) handle(line []byte) {
	match := false
	for _, m := range interesting {
		if bytes.Contains(line, m) {
			match = true
			break
		}
	}
	if !match {
		return
	}
	var l logLine
	if json.Unmarshal(line, &l) != nil {
		return
	}
	prog := strings.TrimPrefix(l.Module, "supervisor.")
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.Time.After(s.lastLine) {
		s.lastLine = l.Time
	}
	if prog != "" && prog != "supervisor" {
		h := append(s.history[prog], string(line))
		if len(h) > historyLen {
			h = h[len(h)-historyLen:]
		}
		s.history[prog] = h
	}
	switch {
	case l.Msg == "program started":
		s.started++
		s.startsOf[prog]++
		s.running[prog] = l.Pid
		if s.startsPid[l.Pid] > 0 {
			s.pidReused++
		}
		s.startsPid[l.Pid]++
	case (l.Msg == "program exited" || l.Msg == "program stopped") && l.Pid != 0:
		s.ended++
		s.exitsPid[l.Pid]++
		if s.running[prog] == l.Pid {
			delete(s.running, prog)
		}
	case l.Msg == "reaped adopted orphan":
		s.orphans++
	case l.Msg == "http listener ready":
		s.httpAddr = l.Addr
	case l.Msg == "processes of a dead supervisor's programs still run, unsupervised":
		s.staleCgs = append(s.staleCgs, l.Cgroup)
	case strings.HasPrefix(l.Msg, "removed a stale control socket"):
		s.staleSocket = true
	case strings.HasPrefix(l.Msg, "chaos: "):
		for _, m := range []string{floodDone, leaseDone, beatStart} {
			if strings.HasPrefix(l.Msg, m) {
				s.markers[m]++
			}
		}
	}
	if l.Level == "warn" || l.Level == "error" {
		s.problems[l.Level+": "+l.Msg]++
	}
}

// waitFor polls cond (called under s.mu) every 20ms until it holds or timeout
// passes; it reports whether it held.
// caughtUp waits until the log reader has read what the supervisor logged up to
// now: it has read a line stamped from now on, or has read nothing for a second
// (the log is behind by minutes under an output flood: 300 MB through one pipe).
func (s *supProc) caughtUp(timeout time.Duration) bool {
	t0 := time.Now()
	return s.waitFor(timeout, func() bool {
		return !s.lastLine.Before(t0) || time.Since(s.lastRead) > time.Second
	})
}

func (s *supProc) waitFor(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// pidOf is the pid of prog's current run, or 0.
func (s *supProc) pidOf(prog string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[prog]
}

// kill SIGKILLs the supervisor and waits for it and its log.
func (s *supProc) kill() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	<-s.done
}

// stop sends SIGTERM and waits up to timeout, then SIGKILL.
func (s *supProc) stop(timeout time.Duration) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(timeout):
	}
	s.kill()
}

// goroutines reads go_goroutines from the supervisor's /metrics, or -1.
func (s *supProc) goroutines() int {
	s.mu.Lock()
	addr := s.httpAddr
	s.mu.Unlock()
	if addr == "" {
		return -1
	}
	hc := http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return int(n)
			}
		}
	}
	return -1
}

// ---- /proc ----

// procStat is what /proc/PID/stat says of a process.
type procStat struct {
	state      byte
	ppid       int
	startTicks uint64
}

func statOf(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return procStat{state: f[0][0], ppid: ppid, startTicks: start}, true
}

// allProcs lists every pid in /proc with its stat.
func allProcs() map[int]procStat {
	ents, _ := os.ReadDir("/proc")
	out := make(map[int]procStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := statOf(pid); ok {
			out[pid] = st
		}
	}
	return out
}

// descendants lists the live descendants of root, children first.
func descendants(root int) []int {
	procs := allProcs()
	kids := map[int][]int{}
	for pid, st := range procs {
		kids[st.ppid] = append(kids[st.ppid], pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 && len(out) < 100_000 {
		p := queue[0]
		queue = queue[1:]
		for _, k := range kids[p] {
			out = append(out, k)
			queue = append(queue, k)
		}
	}
	return out
}

// alive says whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, ok := statOf(pid)
	return ok && st.state != 'Z'
}

// signalChild sends sig to pid through a pidfd, only if pid is still a child of
// parent; it reports whether the signal was sent.
func signalChild(parent, pid int, sig unix.Signal) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if st, ok := statOf(pid); !ok || st.ppid != parent {
		return false
	}
	return unix.PidfdSendSignal(fd, sig, nil, 0) == nil
}

func pssKiB(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Pss:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return -1
}

func fdCount(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func threads(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}

// ---- watchers ----

// watch samples the supervisor's PSS every 100ms (the peak, overall and since
// the last resetPhase) and scans /proc every 500ms for zombies whose parent is
// the supervisor, counting those seen in two scans at least a second apart.
type watch struct {
	mu         sync.Mutex
	peak       int
	phasePeak  int
	oldZombies map[[2]uint64]string // what each was: pid, comm, age
	firstSeen  map[[2]uint64]time.Time
	scans      int
}

func startWatch(ctx context.Context, pid int) *watch {
	w := &watch{oldZombies: map[[2]uint64]string{}, firstSeen: map[[2]uint64]time.Time{}}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if p := pssKiB(pid); p > 0 {
				w.mu.Lock()
				w.peak, w.phasePeak = max(w.peak, p), max(w.phasePeak, p)
				w.mu.Unlock()
			}
			if i%5 == 0 {
				w.scanZombies(pid)
			}
		}
	}()
	return w
}

func (w *watch) scanZombies(parent int) {
	now := time.Now()
	seen := map[[2]uint64]bool{}
	for pid, st := range allProcs() {
		if st.ppid != parent || st.state != 'Z' {
			continue
		}
		k := [2]uint64{uint64(pid), st.startTicks}
		seen[k] = true
		w.mu.Lock()
		if t, ok := w.firstSeen[k]; !ok {
			w.firstSeen[k] = now
		} else if now.Sub(t) >= time.Second {
			comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
			w.oldZombies[k] = fmt.Sprintf("pid %d (%s) a zombie for %s or more", pid, strings.TrimSpace(string(comm)), now.Sub(t).Round(100*time.Millisecond))
		}
		w.mu.Unlock()
	}
	w.mu.Lock()
	for k := range w.firstSeen {
		if !seen[k] {
			delete(w.firstSeen, k)
		}
	}
	w.scans++
	w.mu.Unlock()
}

func (w *watch) resetPhase() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.phasePeak
	w.phasePeak = 0
	return p
}

func (w *watch) zombies() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.oldZombies)
}
