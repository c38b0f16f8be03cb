package main_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestUpgradeUnderLoad upgrades a supervisor of 100 programs, of every kind
// and spawner, twice, while a storm of SIGKILLs hits its children, crashers
// restart every few tens of milliseconds and protocol workers answer a
// stream of requests. The supervisor keeps its pid; every child that was not
// killed keeps its pid; every exit the children recorded themselves is
// reported under its program, across both handovers; every request is
// answered or fails with an error that says why.
func TestUpgradeUnderLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	var conf strings.Builder
	prog := func(name, body string) { fmt.Fprintf(&conf, "[program:%s]\n%s\n", name, body) }
	for i := range 30 {
		prog(fmt.Sprintf("steady-%d", i), "command = CHILD --tick 50ms")
	}
	for i := range 15 {
		prog(fmt.Sprintf("fork-%d", i), "command = CHILD\nspawner = forkexec")
	}
	for i := range 15 {
		prog(fmt.Sprintf("re-%d", i), "command = child\nspawner = reexec")
	}
	for i := range 20 {
		// Each records its pid, then exits 3: every one must be reported.
		prog(fmt.Sprintf("crash-%d", i), "command = /bin/sh -c 'sleep 0.0"+strconv.Itoa(2+i%7)+"; echo $$$$ >> "+dir+"/exits; exit 3'\n"+
			"min_uptime = 0s\nbackoff_initial = 10ms\nbackoff_max = 10ms\nmax_restarts = 0")
	}
	for i := range 10 {
		spawner := []string{"exec", "reexec"}[i%2]
		cmd := "CHILD"
		if spawner == "reexec" {
			cmd = "child"
		}
		prog(fmt.Sprintf("proto-%d", i), "command = "+cmd+" --protocol --heartbeat 20ms\nspawner = "+spawner+"\nprotocol = true\nheartbeat_timeout = 2s")
	}
	for i := range 10 {
		prog(fmt.Sprintf("go-%d", i), "command = service --heartbeat 50ms\nkind = goroutine")
	}
	p := start(t, "run", "--upgradable", "-c", writeConf(t, conf.String()), "--socket", sock)
	p.waitLine(t, "control socket ready")
	sup := p.cmd.Process.Pid
	for i := range 10 {
		waitState(t, sock, fmt.Sprintf("proto-%d", i), "running", 0)
	}
	before := ctlStatus(t, sock)
	if len(before) != 100 {
		t.Fatalf("%d programs, want 100", len(before))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The kill storm: a random child of the supervisor every 20ms.
	var killedMu sync.Mutex
	killed := map[int]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			kids := childrenOf(sup)
			if len(kids) == 0 {
				continue
			}
			pid := kids[rand.IntN(len(kids))]
			killedMu.Lock()
			killed[pid] = true
			killedMu.Unlock()
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}()
	// Requests, one after another, to the protocol pool.
	var answered, failed atomic.Int64
	var badMu sync.Mutex
	var bad []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			word := "w" + strconv.Itoa(i)
			cmd := exec.Command(bin("supervisor"), "ctl", "--socket", sock, "--timeout", "20s", "request", "proto-*", "echo", word)
			out, err := cmd.Output()
			switch {
			case err == nil && strings.Contains(string(out), word):
				answered.Add(1)
			case err != nil:
				msg := ""
				if ee, ok := err.(*exec.ExitError); ok {
					msg = strings.TrimSpace(string(ee.Stderr))
				}
				if msg == "" {
					badMu.Lock()
					bad = append(bad, fmt.Sprintf("request %s: %v with no message", word, err))
					badMu.Unlock()
				}
				failed.Add(1)
			default:
				badMu.Lock()
				bad = append(bad, fmt.Sprintf("request %s answered %q", word, out))
				badMu.Unlock()
			}
		}
	}()

	for n := range 2 {
		a0 := answered.Load()
		p.waitUntil(t, fmt.Sprintf("requests answered before upgrade %d", n+1), func() bool { return answered.Load() >= a0+5 })
		out, errOut, code := ctl(t, sock, "upgrade")
		if code != 0 {
			t.Fatalf("upgrade %d under load: exit %d: %s%s\n%s", n+1, code, out, errOut, p.log())
		}
	}
	a0 := answered.Load()
	p.waitUntil(t, "requests answered after the upgrades", func() bool { return answered.Load() >= a0+5 })
	close(stop)
	wg.Wait()
	after := ctlStatus(t, sock)

	if got := strings.Count(p.log(), "upgraded in place"); got != 2 {
		t.Errorf("%d upgrades logged, want 2", got)
	}
	// Nothing handed over was lost on the way (a run reaped by the old image
	// with its exit pending is not adopted again, its pid may be reused).
	for _, bad := range []string{"not our child", "handed-over child is gone", "was not handed over"} {
		if strings.Contains(p.log(), bad) {
			t.Errorf("log says %q", bad)
		}
	}
	killedMu.Lock()
	for name, b := range before {
		a := after[name]
		if b.Pid != 0 && !killed[b.Pid] && !strings.HasPrefix(name, "crash-") && a.Pid != b.Pid {
			t.Errorf("%s: pid %d before, %d after, and it was not killed", name, b.Pid, a.Pid)
		}
		if a.Restarts < b.Restarts {
			t.Errorf("%s: restarts %d after, %d before", name, a.Restarts, b.Restarts)
		}
	}
	killedMu.Unlock()
	badMu.Lock()
	for _, b := range bad {
		t.Error(b)
	}
	badMu.Unlock()
	t.Logf("requests: %d answered, %d failed with a reason; %d children SIGKILLed", answered.Load(), failed.Load(), len(killed))

	// Every crasher still restarts after the upgrades: no exit was lost on the
	// way (a lost one leaves its program waiting for ever).
	for deadline := time.Now().Add(30 * time.Second); ; {
		now, stuck := ctlStatus(t, sock), ""
		for name, a := range after {
			if strings.HasPrefix(name, "crash-") && now[name].Restarts <= a.Restarts {
				stuck = name
				break
			}
		}
		if stuck == "" {
			break
		}
		if time.Now().After(deadline) {
			a := after[stuck]
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.Pid))
			var said []string
			for _, l := range strings.Split(p.log(), "\n") {
				if strings.Contains(l, "supervisor."+stuck+":") || strings.Contains(l, "upgrade") || strings.Contains(l, strconv.Itoa(a.Pid)) {
					said = append(said, l)
				}
			}
			t.Fatalf("%s stopped restarting after the upgrades at pid %d; its /proc status:\n%s\nthe log of it and of the upgrades:\n%s",
				stuck, a.Pid, st, strings.Join(said[max(0, len(said)-40):], "\n"))
		}
	}
	if _, errOut, code := ctl(t, sock, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %s", errOut)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d:\n%s", got, p.log())
	}
	// Every exit a crasher recorded is reported, with its pid, whichever image
	// reaped it.
	reported := map[string]bool{}
	re := regexp.MustCompile(`supervisor\.crash-\d+: program (?:exited|stopped): pid=(\d+) `)
	for _, m := range re.FindAllStringSubmatch(p.log(), -1) {
		reported[m[1]] = true
	}
	f, err := os.Open(filepath.Join(dir, "exits"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, lost := 0, 0
	for sc.Scan() {
		n++
		if !reported[strings.TrimSpace(sc.Text())] {
			lost++
			t.Errorf("crasher pid %s recorded its exit; the supervisor never reported it", sc.Text())
		}
	}
	if n < 50 {
		t.Errorf("only %d crasher exits recorded", n)
	}
	t.Logf("%d crasher exits recorded, %d lost", n, lost)
}

// childrenOf lists the live processes whose parent is pid, but the new
// binary's upgrade-check run (killing it would refuse the upgrade, rightly).
func childrenOf(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[1] == strconv.Itoa(pid) && f[0] != "Z" {
			if cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline"); !strings.Contains(string(cmd), "upgrade-check") {
				out = append(out, c)
			}
		}
	}
	return out
}
