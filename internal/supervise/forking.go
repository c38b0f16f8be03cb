package supervise

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/procfs"
)

// Daemons that fork.
//
// type = forking (Spec.Forking), as systemd's Type=forking: the command forks
// the daemon's main process and exits 0 once it is ready. That exit is not the
// program's: the run holds it (procRun.startExit), reads the main process's pid
// from Spec.PidFile (polled every pidFilePoll until the start timeout: a daemon
// may write it just after its parent exited), and follows that process through
// Reaper.Follow (it is our child: the kernel re-parented it to us, a subreaper).
// Its exit is then the run's; a stop signals its tree. The start process is
// spawned without KillGroupOnExit, so its exit does not kill the daemon. If no
// usable pid comes, or the run is stopped or ended meanwhile, the held exit is
// handled as the program's, counted as a failure that says why.
//
// A program that is not forking and whose main process exits 0 before it was
// ready (within min_uptime), leaving processes behind, daemonized itself: that
// is said in one line (which pid, which command, what to do), its leftovers are
// killed with the cgroup (as for any exit), and the exit counts as a failed
// start, so the program turns fatal after start_retries instead of looping. In process-group mode, where a daemon that called setsid has left
// the group, the leftovers are the supervisor's adopted children with the
// leader's command name started since the run's spawn (leftAdopted): a
// heuristic, as nothing else ties them to the run once their parent is gone.

// pidFilePoll is how often a forking program's pid file is looked for.
const pidFilePoll = 10 * time.Millisecond

// holdStartExit reports whether e, the exit of r's start process, is to be held
// while the main process's pid is read (type = forking), and if so holds it.
func (r *procRun) holdStartExit(e Exit) bool {
	p := r.p
	if !p.spec.Forking || r.followed || r.startExit != nil || r.stopping || r.killing ||
		p.state != StateStarting || !e.clean() {
		return false
	}
	r.startExit = &e
	r.pidDeadline = p.started.Add(p.spec.StartTimeout)
	p.log.Info("start process exited 0; reading the main process's pid", "pid_file", p.spec.PidFile)
	r.pollPidFile()
	return true
}

// pollPidFile tries to follow the pid in the pid file, again every pidFilePoll
// until the deadline, then gives up.
func (r *procRun) pollPidFile() {
	s, p := r.s, r.p
	pid, err := readPidFile(p.spec.PidFile)
	if err == nil {
		var proc *Proc
		no := r.no
		proc, err = s.r.Follow(pid, func(e Exit) { s.inbox.push(exitMsg{p: p, run: no, exit: e}) })
		if err == nil {
			r.proc, r.followed, r.startExit = proc, true, nil
			p.log.Info("following the daemon's main process", "pid", pid, "pid_file", p.spec.PidFile, "command", procCommand(pid))
			s.do(s.m.followed(p, pid))
			s.do(s.m.readyBy(p, fmt.Sprintf("forked its main process %d (pid_file)", pid), time.Now()))
			return
		}
	}
	if time.Now().Before(r.pidDeadline) {
		r.pidErr = err
		r.setTimer(r, pidFilePoll, runPidFile)
		return
	}
	r.giveUpStart(fmt.Sprintf("type = forking: no main process to follow from pid_file %s: %v", p.spec.PidFile, err))
}

// giveUpStart handles the held exit of the start process as the program's,
// as a failure for why.
func (r *procRun) giveUpStart(why string) {
	e := *r.startExit
	r.startExit = nil
	r.cancelTimer()
	r.p.log.Error("the forking daemon's start failed", "why", why)
	r.s.do(r.s.m.failedWith(r.p, why))
	r.s.exited(r.p, e)
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%q is not a pid", bytes.TrimSpace(b))
	}
	return pid, nil
}

// procCommand is pid's command line, for messages ("" if gone).
func procCommand(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// leftBehind names, when r's leader exits 0 by itself before its program was
// ready (and the program is not forking), the first process it left behind:
// "pid N (command)", or "". cgLeft says whether its cgroup still holds any.
func (r *procRun) leftBehind(e Exit, cgLeft bool) string {
	if r.p.spec.Forking || r.stopping || r.killing || r.p.state != StateStarting || !e.clean() {
		return ""
	}
	switch {
	case cgLeft:
		return r.leftInCgroup()
	case r.cg == nil:
		return r.leftAdopted()
	}
	return ""
}

// leftInCgroup names the first live process of r's cgroup.
func (r *procRun) leftInCgroup() string {
	for _, pid := range r.cg.pids() {
		if st, err := procfs.ReadStat(pid); err == nil && st.State != 'Z' {
			return fmt.Sprintf("pid %d (%s)", pid, procCommand(pid))
		}
	}
	return ""
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's start time:
// 100 on every Linux build that matters (sysconf(_SC_CLK_TCK)).
const clockTicks = 100

// bootNow is CLOCK_BOOTTIME: the clock /proc/PID/stat's start times count on.
func bootNow() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// leftAdopted is leftInCgroup for process-group mode, where a daemon that
// called setsid left the group and, its parent gone, was re-parented to us:
// our children that no Spawn registered, with the leader's command name,
// started since the run's spawn. Those are killed now, with the groups they
// lead (Reaper.killLeftover, under the reaper's lock), so that a daemonizing
// program leaves nothing behind in this mode either; the first is named.
func (r *procRun) leftAdopted() string {
	p := r.p
	if r.bootStart == 0 {
		return ""
	}
	self := os.Getpid()
	comm := filepath.Base(p.spec.Command[0])
	if len(comm) > 15 {
		comm = comm[:15] // the kernel's TASK_COMM_LEN
	}
	since := uint64(r.bootStart / (time.Second / clockTicks))
	all, err := procfs.All()
	if err != nil {
		return ""
	}
	var kids []procfs.Stat
	var pids []int
	for _, st := range all {
		if st.PPid == self && st.Comm == comm && st.StartTicks+1 >= since && st.State != 'Z' {
			kids, pids = append(kids, st), append(pids, st.Pid)
		}
	}
	spawned := r.s.r.registered(pids)
	named := ""
	for _, st := range kids {
		if spawned[st.Pid] {
			continue
		}
		if named == "" {
			named = fmt.Sprintf("pid %d (%s)", st.Pid, procCommand(st.Pid))
		}
		r.s.r.killLeftover(st.Pid, st.StartTicks)
	}
	return named
}
