package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Scale: the supervisor binary with N programs of the real sleep(1), at N =
// 1,000 and N = 10,000, in the bench's kill mode. What each running program
// costs the supervisor in fds (two output pipes and a pidfd) decides how many
// fit under RLIMIT_NOFILE; the supervisor may raise its soft limit to the hard
// one, and the hard one only with CAP_SYS_RESOURCE. When 10,000 do not fit, the
// largest N that does is measured instead, and the table says so.
const (
	scaleSmall     = 1000
	scaleLarge     = 10000
	scaleFdsPerRun = 3   // supervise.fdsPerProcess
	scaleFdReserve = 512 // supervise.fdReserve
)

// scaleTimes is one N's figures.
type scaleTimes struct {
	n      int
	start  time.Duration // supervisor started -> every program started
	status time.Duration // `supervisor ctl status`, median of 5
	stop   time.Duration // SIGTERM -> the supervisor exited, every program stopped
}

// scaleLimit is the largest N the fd limit lets run: (hard limit - reserve) /
// fds per program, rounded down to a multiple of 500.
func scaleLimit() (n int, hard uint64) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return scaleLarge, 0
	}
	if lim.Max > uint64(scaleFdReserve+scaleFdsPerRun*scaleLarge) {
		return scaleLarge, lim.Max
	}
	n = (int(lim.Max) - scaleFdReserve) / scaleFdsPerRun
	return n / 500 * 500, lim.Max
}

// canRaiseHard says whether this process could raise its hard fd limit
// (CAP_SYS_RESOURCE in its effective set), as the supervisor would try to.
func canRaiseHard() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			var caps uint64
			fmt.Sscanf(strings.TrimSpace(v), "%x", &caps)
			return caps&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}

// scaleConfig writes a config of n programs of sleep 3600 (autostart as given)
// and returns its path and the control socket's.
func scaleConfig(dir, sleep string, n int, autostart bool) (conf, sock string) {
	var b strings.Builder
	if *killMode != "" {
		fmt.Fprintf(&b, "[supervisor]\nkill_mode = %s\n", *killMode)
	}
	fmt.Fprintf(&b, "[defaults]\nautostart = %v\nstop_grace = 5s\nmin_uptime = 0\n", autostart) // running once spawned
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "[program:s%d]\ncommand = %s 3600\n", i, sleep)
	}
	conf = filepath.Join(dir, fmt.Sprintf("scale-%d.conf", n))
	check(os.WriteFile(conf, []byte(b.String()), 0o644))
	return conf, filepath.Join(dir, "ctl", "supervisor.sock")
}

// scaleRun measures one N.
func scaleRun(sup, sleep, dir string, n int) scaleTimes {
	conf, sock := scaleConfig(dir, sleep, n, true)
	cmd := exec.Command(sup, "run", "-c", conf, "--socket", sock)
	stderr, err := cmd.StderrPipe()
	check(err)
	t0 := time.Now()
	check(cmd.Start())
	started := make(chan struct{}, n)
	problems := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			switch l := sc.Text(); {
			case strings.Contains(l, "program started"):
				started <- struct{}{}
			case strings.Contains(l, "[ERROR]"):
				select {
				case problems <- l:
				default:
				}
			}
		}
	}()
	deadline := time.After(5 * time.Minute)
	for i := 0; i < n; i++ {
		select {
		case <-started:
		case l := <-problems:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			fail("scale %d: the supervisor logged: %s", n, l)
		case <-deadline:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			fail("scale %d: only %d programs started in 5 minutes", n, i)
		}
	}
	res := scaleTimes{n: n, start: time.Since(t0)}
	var lat []time.Duration
	for i := 0; i < 5; i++ {
		t := time.Now()
		out, err := exec.Command(sup, "ctl", "--socket", sock, "status").Output()
		lat = append(lat, time.Since(t))
		if c := strings.Count(string(out), "RUNNING"); err != nil || c < n {
			_ = cmd.Process.Kill() // its programs die with it (Pdeathsig)
			_ = cmd.Wait()
			fail("scale %d: ctl status: %v, %d running", n, err, c)
		}
	}
	res.status = median(lat)
	t := time.Now()
	check(cmd.Process.Signal(syscall.SIGTERM))
	_ = cmd.Wait()
	res.stop = time.Since(t)
	return res
}

// scaleFdCheck asks for more programs than the fd limit allows (none of them
// autostarted) and reports whether the supervisor said so in its log.
func scaleFdCheck(sup, sleep, dir string, hard uint64) bool {
	n := int(hard)/scaleFdsPerRun + 100
	conf, sock := scaleConfig(dir, sleep, n, false)
	cmd := exec.Command(sup, "run", "-c", conf, "--socket", sock)
	stderr, err := cmd.StderrPipe()
	check(err)
	check(cmd.Start())
	said := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "the programs need more file descriptors than the limit allows") {
				close(said)
				break
			}
		}
		for sc.Scan() { // drain until it exits
		}
	}()
	ok := false
	select {
	case <-said:
		ok = true
	case <-time.After(20 * time.Second):
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	return ok
}

// reportScale runs the scale measurements and prints their table.
func reportScale(sup string) {
	sleep, err := exec.LookPath("sleep")
	check(err)
	dir, err := os.MkdirTemp("", "supervisor-bench-scale")
	check(err)
	defer os.RemoveAll(dir)
	large, hard := scaleLimit()
	large = min(large, scaleLarge)
	mode := *killMode
	if mode == "" {
		mode = "auto"
	}
	fmt.Println()
	fmt.Printf("scale: N programs of %s 3600, kill_mode %s\n", sleep, mode)
	if large < scaleLarge {
		fmt.Printf("  %d programs need %d fds (%d each, plus %d kept in reserve); the hard RLIMIT_NOFILE here is %d",
			scaleLarge, scaleFdReserve+scaleFdsPerRun*scaleLarge, scaleFdsPerRun, scaleFdReserve, hard)
		if canRaiseHard() {
			fmt.Printf(" (the supervisor may raise it: it has CAP_SYS_RESOURCE)\n")
		} else {
			fmt.Printf(" and, without CAP_SYS_RESOURCE, the supervisor cannot raise it.\n")
		}
		fmt.Printf("  Measuring N = %d instead: 10,000 needs a hard limit of at least %d, or CAP_SYS_RESOURCE.\n",
			large, scaleFdReserve+scaleFdsPerRun*scaleLarge)
	}
	small := scaleRun(sup, sleep, dir, scaleSmall)
	big := scaleRun(sup, sleep, dir, large)
	fmt.Printf("%-34s %14s %14s %22s\n", "measurement", fmt.Sprintf("N = %d", small.n), fmt.Sprintf("N = %d", big.n), "per-program cost ratio")
	row := func(name string, a, b time.Duration) {
		per := (float64(b) / float64(big.n)) / (float64(a) / float64(small.n))
		verdict := "linear or better"
		if per > 1.25 {
			verdict = "worse than linear"
		}
		fmt.Printf("%-34s %14s %14s %8.2f %-13s\n", name, a.Round(time.Millisecond), b.Round(time.Millisecond), per, verdict)
	}
	row("start-up, until all started", small.start, big.start)
	row("ctl status, median of 5", small.status, big.status)
	row("stop all (SIGTERM to exit)", small.stop, big.stop)
	fmt.Println("  (ratio = (time/N at the larger N) / (time/N at 1,000); up to 1.25 counts as linear, run-to-run noise)")
	if hard > 0 {
		said := scaleFdCheck(sup, sleep, dir, hard)
		fmt.Printf("  %d programs configured, fd limit %d: the supervisor logs \"the programs need more file descriptors than the limit allows\": %v\n",
			int(hard)/scaleFdsPerRun+100, hard, said)
	}
}
