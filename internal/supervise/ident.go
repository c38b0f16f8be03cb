package supervise

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/shim"
)

// User is who a program's processes run as (Spec.User): its uid, primary gid
// and supplementary groups, with its name and home directory for the
// environment (HOME, USER, LOGNAME).
type User struct {
	Name   string
	Uid    uint32
	Gid    uint32
	Groups []uint32 // supplementary groups (the primary one may be among them)
	Home   string
}

func (u *User) String() string {
	return fmt.Sprintf("%s (uid %d, gid %d)", u.Name, u.Uid, u.Gid)
}

// Limits are what a program's process gets set up before its first
// instruction (Spec.Limits): umask, resource limits, nice, oom_score_adj.
// They are applied by the exec shim (package shim).
type Limits = shim.Limits

// Rlimit is one resource limit of Limits.
type Rlimit = shim.Rlimit

// Unlimited is RLIM_INFINITY, for Rlimit.Cur and Rlimit.Max.
const Unlimited = shim.Unlimited

// validateIdent checks User and Limits; bad is Validate's error maker.
func (s *Spec) validateIdent(bad func(field, format string, args ...any) error) error {
	l := &s.Limits
	switch {
	case s.Spawner == SpawnGoroutine && s.User != nil:
		return bad("user", "does not apply to a goroutine worker (it has no process)")
	case s.Spawner == SpawnGoroutine && !l.IsZero():
		return bad("umask", "umask, rlimit_*, nice and oom_score_adj do not apply to a goroutine worker (it has no process)")
	case l.Umask != nil && *l.Umask > 0o777:
		return bad("umask", "%#o is not a umask (000-777)", *l.Umask)
	case l.Nice != nil && (*l.Nice < -20 || *l.Nice > 19):
		return bad("nice", "%d is not between -20 and 19", *l.Nice)
	case l.OOMScoreAdj != nil && (*l.OOMScoreAdj < -1000 || *l.OOMScoreAdj > 1000):
		return bad("oom_score_adj", "%d is not between -1000 and 1000", *l.OOMScoreAdj)
	}
	for _, r := range l.Rlimits {
		if r.Cur > r.Max {
			return bad(rlimitKey(r.Resource), "the soft limit %s is above the hard limit %s", rlimString(r.Cur), rlimString(r.Max))
		}
	}
	return nil
}

// RlimitKeys maps the config keys of the resource limits to their resource.
var RlimitKeys = map[string]int{
	"rlimit_nofile":  unix.RLIMIT_NOFILE,
	"rlimit_core":    unix.RLIMIT_CORE,
	"rlimit_nproc":   unix.RLIMIT_NPROC,
	"rlimit_memlock": unix.RLIMIT_MEMLOCK,
}

func rlimitKey(res int) string {
	for k, v := range RlimitKeys {
		if v == res {
			return k
		}
	}
	return fmt.Sprintf("rlimit %d", res)
}

func rlimString(v uint64) string {
	if v == Unlimited {
		return "unlimited"
	}
	return fmt.Sprint(v)
}

// CheckUser reports whether this process can start s's processes as s.User:
// nil when s sets no user, when the user is who we already are, or when we
// hold CAP_SETUID and CAP_SETGID (root does). The error wraps ErrInvalidSpec
// and names the program and the key (user), for a refusal at config check and
// start time rather than an obscure exec failure.
func CheckUser(s *Spec) error {
	if s.User == nil || spawnCred(s.User) == nil {
		return nil
	}
	if haveCaps(unix.CAP_SETUID, unix.CAP_SETGID) {
		return nil
	}
	why := fmt.Sprintf("the supervisor runs as uid %d", os.Geteuid())
	if int(s.User.Uid) == os.Geteuid() && int(s.User.Gid) == os.Getegid() {
		ours, _ := os.Getgroups()
		why = fmt.Sprintf("the supervisor is that user, but with the groups %v, not %v from the group database,", ours, s.User.Groups)
	}
	return fmt.Errorf("%w: program %q: user: cannot run it as %s: %s without the privilege to switch users (run it as root, or give it CAP_SETUID and CAP_SETGID)",
		ErrInvalidSpec, s.Name, s.User, why)
}

// spawnCred is the credential to spawn u's processes with, or nil when u is
// who this process already is (uid, gid and groups): no switch needed, and
// none attempted, so an unprivileged supervisor may name itself.
func spawnCred(u *User) *shim.Cred {
	if u == nil {
		return nil
	}
	if int(u.Uid) == os.Geteuid() && int(u.Gid) == os.Getegid() {
		ours, err := os.Getgroups()
		if err == nil && sameGroups(ours, u.Groups) {
			return nil
		}
	}
	return &shim.Cred{Uid: u.Uid, Gid: u.Gid, Groups: slices.Clone(u.Groups)}
}

func sameGroups(a []int, b []uint32) bool {
	x := slices.Clone(a)
	slices.Sort(x)
	x = slices.Compact(x)
	y := make([]int, len(b))
	for i, g := range b {
		y[i] = int(g)
	}
	slices.Sort(y)
	y = slices.Compact(y)
	return slices.Equal(x, y)
}

// haveCaps reports whether every capability in caps is in our effective set.
func haveCaps(caps ...int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return os.Geteuid() == 0
	}
	for _, c := range caps {
		if data[c/32].Effective&(1<<(uint(c)%32)) == 0 {
			return false
		}
	}
	return true
}

// sysCredential is cred for SysProcAttr (a program without limits: no shim).
func sysCredential(c *shim.Cred) *syscall.Credential {
	return &syscall.Credential{Uid: c.Uid, Gid: c.Gid, Groups: slices.Clone(c.Groups)}
}

// withUserEnv sets HOME, USER and LOGNAME from s.User in env (nil: ours),
// unless s.Env sets them, and returns it with each variable once (the last
// setting wins: os/exec does that, syscall.ForkExec would pass duplicates;
// dedupEnv is spawnlight.go's).
func withUserEnv(env []string, s *Spec) []string {
	if env == nil {
		env = append(os.Environ(), s.Env...)
	}
	set := func(k string) bool {
		return slices.ContainsFunc(s.Env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
	}
	var add []string
	for _, kv := range [][2]string{{"HOME", s.User.Home}, {"USER", s.User.Name}, {"LOGNAME", s.User.Name}} {
		if !set(kv[0]) {
			add = append(add, kv[0]+"="+kv[1])
		}
	}
	// Ours first, then the user's, then what the program sets.
	out := make([]string, 0, len(env)+len(add))
	n := len(env) - len(s.Env)
	out = append(out, env[:n]...)
	out = append(out, add...)
	out = append(out, env[n:]...)
	return dedupEnv(out)
}

// shimmed returns the path and argv that run the program at path with argv
// under the exec shim, which sets up req.Limits, switches to req.Cred and
// execs it. A process that raised its own fd limit (childNofile) has the shim
// give the program the original one, unless Limits sets rlimit_nofile: the
// prlimit from here after the spawn would race the shim's.
func (r *Reaper) shimmed(req *SpawnRequest, path string, argv []string) (string, []string) {
	l := req.Limits
	if r.childNofile != nil && l.Rlimit(unix.RLIMIT_NOFILE) == nil {
		c := *l
		c.Rlimits = append(slices.Clip(c.Rlimits), Rlimit{Resource: unix.RLIMIT_NOFILE, Cur: r.childNofile.Cur, Max: r.childNofile.Max})
		l = &c
	}
	return "/proc/self/exe", shim.Command(l, req.Cred, path, argv)
}

// CheckUsers is CheckUser for every program of g: New and Reload refuse a
// group this process cannot run.
func (g *Group) CheckUsers() error {
	for i := range g.Programs {
		if err := CheckUser(&g.Programs[i]); err != nil {
			return err
		}
	}
	return nil
}
