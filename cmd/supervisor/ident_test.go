package main_test

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testUser is the unprivileged user .ci/run creates. needTestUser skips the
// test unless we are root and it exists.
const testUser = "supervisor-test"

func needTestUser(t *testing.T) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the supervisor must be able to switch users")
	}
	u, err := user.Lookup(testUser)
	if err != nil {
		t.Skipf("needs the user %s (.ci/run creates it: useradd --system --no-create-home %s): %v", testUser, testUser, err)
	}
	// The binaries' directory is 0700 (MkdirTemp): let the test user run them.
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return u
}

// procField returns the value of a "Key:\tvalue" line of /proc/PID/status.
func procField(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return ""
}

// procLimit returns the soft and hard values of a /proc/PID/limits line.
func procLimit(t *testing.T, pid int, name string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, name); ok {
			f := strings.Fields(rest)
			return f[0] + ":" + f[1]
		}
	}
	t.Fatalf("no %q in /proc/%d/limits", name, pid)
	return ""
}

func procEnv(t *testing.T, pid int) map[string]string {
	t.Helper()
	// Read while the process is in execve (a shell exec'ing sleep), environ
	// is empty for a moment: every program here has an environment.
	var b []byte
	var err error
	poll(10*time.Second, func() bool {
		b, err = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		return err != nil || len(b) > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for kv := range strings.SplitSeq(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// The user, its groups, its environment and every limit are those of the
// program itself, read from /proc once it is ready (its own code runs), for
// every spawner, with limits (through the exec shim) and without (Go's
// Credential alone).
func TestIdentityAndLimits(t *testing.T) {
	t.Parallel()
	u := needTestUser(t)
	ids, err := u.GroupIds()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	// A negative nice and a lower oom_score_adj need privileges the shim
	// drops when it switches users: they prove the order, where the
	// supervisor has them (a container may not).
	nice, oom := "5", "300"
	if haveCap(unix.CAP_SYS_NICE) {
		nice = "-3"
	}
	if haveCap(unix.CAP_SYS_RESOURCE) {
		oom = "-100"
	}
	limits := `umask = 027
rlimit_nofile = 512:1024
rlimit_core = unlimited
rlimit_nproc = 4000:5000
rlimit_memlock = 65536
nice = ` + nice + `
oom_score_adj = ` + oom + `
`
	conf := ""
	type prog struct {
		name, spawner string
		limited       bool
	}
	var progs []prog
	for _, sp := range []string{"exec", "forkexec", "reexec"} {
		for _, limited := range []bool{false, true} {
			p := prog{sp + "-user", sp, limited}
			if limited {
				p.name = sp + "-limits"
			}
			progs = append(progs, p)
			cmd := "CHILD --ready-line"
			if sp == "reexec" {
				cmd = "child --ready-line"
			}
			conf += "[program:" + p.name + "]\ncommand = " + cmd + "\nspawner = " + sp + "\nuser = " + testUser + "\nenvironment = LOGNAME=custom\n"
			if limited {
				conf += limits
			}
		}
	}
	// child is a Go program, and Go raises its own soft fd limit to the hard
	// one at start: sleep shows the soft limit as set.
	progs = append(progs, prog{"sleep-limits", "exec", true})
	conf += "[program:sleep-limits]\ncommand = /bin/sh -c 'echo ready; exec sleep 1000'\nuser = " + testUser + "\nenvironment = LOGNAME=custom\n" + limits
	sup := start(t, "run", "-c", writeConf(t, conf))
	for _, p := range progs {
		sup.waitLine(t, " "+p.name+" | ready")
		pid := valueAfter(t, sup.waitLine(t, "supervisor."+p.name+":", "program started"), "pid=")
		if got, want := strings.Fields(procField(t, pid, "Uid")), u.Uid; got[0] != want || got[1] != want || got[2] != want {
			t.Errorf("%s: Uid %q, want %s (real, effective, saved)", p.name, got, want)
		}
		if got := strings.Fields(procField(t, pid, "Gid")); got[0] != u.Gid || got[1] != u.Gid {
			t.Errorf("%s: Gid %q, want %s", p.name, got, u.Gid)
		}
		groups := strings.Fields(procField(t, pid, "Groups"))
		slices.Sort(groups)
		if !slices.Equal(groups, ids) {
			t.Errorf("%s: Groups %q, want %q (from the group database)", p.name, groups, ids)
		}
		env := procEnv(t, pid)
		if env["HOME"] != u.HomeDir || env["USER"] != u.Username || env["LOGNAME"] != "custom" {
			t.Errorf("%s: HOME=%q USER=%q LOGNAME=%q; want %q, %q and the config's LOGNAME", p.name, env["HOME"], env["USER"], env["LOGNAME"], u.HomeDir, u.Username)
		}
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		// Field 19 is nice; the fields after the command name (field 2, in
		// parentheses) start at field 3.
		niceNow := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))[19-3]
		oomAdj, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/oom_score_adj")
		if err != nil {
			t.Fatal(err)
		}
		got := []string{procField(t, pid, "Umask"), procLimit(t, pid, "Max open files"), procLimit(t, pid, "Max core file size"),
			procLimit(t, pid, "Max processes"), procLimit(t, pid, "Max locked memory"), niceNow, strings.TrimSpace(string(oomAdj))}
		if p.limited {
			want := []string{"0027", "512:1024", "unlimited:unlimited", "4000:5000", "65536:65536", nice, oom}
			if p.name != "sleep-limits" {
				want[1], _ = strings.CutSuffix(got[1], ":1024") // the hard limit only
				want[1] += ":1024"
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: umask, nofile, core, nproc, memlock, nice, oom_score_adj = %q, want %q", p.name, got, want)
			}
		} else if got[5] != "0" || got[6] != "0" || got[0] != procField(t, os.Getpid(), "Umask") {
			t.Errorf("%s: umask %s, nice %s, oom_score_adj %s: want ours, as nothing is set", p.name, got[0], got[5], got[6])
		}
		// Limits or not, the program is the process the supervisor spawned:
		// no shim is left in between. (sleep-limits's shell may not have
		// exec'd sleep yet: it said ready first.)
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		if !slices.ContainsFunc([]string{"/child", "/supervisor", "/sleep", "/sh", "/dash", "/bash"}, func(s string) bool { return strings.HasSuffix(exe, s) }) {
			t.Errorf("%s: pid %d runs %s", p.name, pid, exe)
		}
		if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); strings.Contains(string(cmdline), "exec-shim") {
			t.Errorf("%s: pid %d is still the shim: %q", p.name, pid, cmdline)
		}
	}
	if err := sup.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := sup.exitCode(t); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, sup.log())
	}
}

// A program run as another user, with or without the shim, still dies with a
// SIGKILLed supervisor: Go sets Pdeathsig after its credential change, and the
// shim sets it again after its own (the kernel clears it on a uid change).
func TestSIGKILLedSupervisorTakesOtherUsersChildren(t *testing.T) {
	t.Parallel()
	needTestUser(t)
	conf := ""
	var names []string
	for _, sp := range []string{"exec", "forkexec", "reexec"} {
		for _, extra := range []string{"", "nice = 1\n"} {
			name := sp + "-user"
			if extra != "" {
				name = sp + "-shim"
			}
			cmd := "CHILD --ready-line"
			if sp == "reexec" {
				cmd = "child --ready-line"
			}
			conf += "[program:" + name + "]\ncommand = " + cmd + "\nspawner = " + sp + "\nuser = " + testUser + "\n" + extra
			names = append(names, name)
		}
	}
	p := start(t, "run", "-c", writeConf(t, conf))
	modeLine := p.waitLine(t, "kill mode chosen")
	pidfds := map[int]string{}
	t.Cleanup(func() {
		for fd := range pidfds {
			unix.Close(fd)
		}
	})
	for _, n := range names {
		p.waitLine(t, " "+n+" | ready")
		pid := valueAfter(t, p.waitLine(t, "supervisor."+n+":", "program started"), "pid=")
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatalf("pidfd_open %d: %v", pid, err)
		}
		pidfds[fd] = n + " (pid " + strconv.Itoa(pid) + ")"
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.exitCode(t)
	deadline := time.Now().Add(10 * time.Second)
	for fd, name := range pidfds {
		for {
			left := time.Until(deadline)
			if left <= 0 {
				t.Fatalf("child %s still alive 10s after the supervisor was SIGKILLed:\n%s", name, p.log())
			}
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left/time.Millisecond)+1)
			if err == nil && n == 1 {
				break
			}
			if err != nil && err != unix.EINTR {
				t.Fatal(err)
			}
		}
	}
	if i := strings.Index(modeLine, "mode=cgroup"); i >= 0 {
		dir := strings.Trim(strings.Fields(modeLine[strings.Index(modeLine, "cgroup=")+len("cgroup="):])[0], `"`)
		if _, err := os.Stat(dir); err == nil {
			removeCgroupTree(t, dir)
		}
	}
}

// A supervisor that cannot switch users refuses a program that asks for
// another one, naming the program and the key, at start and at run --check.
func TestUnprivilegedSupervisorRefusesUser(t *testing.T) {
	t.Parallel()
	u := needTestUser(t)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "ident-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "test.conf")
	if err := os.WriteFile(conf, []byte("[program:web]\ncommand = /bin/sleep 60\nuser = root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(dir, "self.conf")
	if err := os.WriteFile(self, []byte("[program:web]\ncommand = /bin/sleep 60\nuser = "+testUser+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gids, err := u.GroupIds()
	if err != nil {
		t.Fatal(err)
	}
	var groups []uint32
	for _, g := range gids {
		n, _ := strconv.Atoi(g)
		groups = append(groups, uint32(n))
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		// Naming the user it already is (groups included) needs no privilege.
		{[]string{"run", "--check", "-c", self}, 0, ""},
		{[]string{"run", "--socket", "none", "-c", conf}, 2, `program \"web\": user: cannot run it as root (uid 0, gid 0): the supervisor runs as uid ` + u.Uid + ` without the privilege to switch users`},
		{[]string{"run", "--check", "-c", conf}, 1, conf + `:3: [program:web] user: cannot run it as root`},
	} {
		cmd := exec.Command(bin("supervisor"), tc.args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("%q as %s: exit %d, output:\n%s\nwant exit %d and %q", tc.args, testUser, code, out, tc.code, tc.want)
		}
	}
}

// haveCap reports whether capability c is in our effective set.
func haveCap(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(uint(c)%32)) != 0
}

// A program run as another user reaches its sd_notify socket: the supervisor
// gives the socket to that user.
func TestNotifyAsAnotherUser(t *testing.T) {
	t.Parallel()
	needTestUser(t)
	if _, err := exec.LookPath("systemd-notify"); err != nil {
		t.Skip("needs systemd-notify (Debian: systemd)")
	}
	p := start(t, "run", "-c", writeConf(t, `
[program:n]
command = sh -c 'systemd-notify --ready --status="as $(id -un)" && exec sleep 1000'
notify = systemd
user = `+testUser+`
`))
	p.waitLine(t, "supervisor.n:", "status:", "as "+testUser)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, p.log())
	}
}
