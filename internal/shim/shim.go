package shim

// Only the standard library's basic packages, and neither fmt nor x/sys: Go
// initialises packages in import-path order among those whose imports are
// initialised, so the fewer this package imports, the sooner its init runs,
// before most of the binary's other packages (measured in docs/benchmarks.md).
import (
	"errors"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Arg0 is the argv[0] under which the supervisor binary runs as the exec shim.
const Arg0 = "supervisor-exec-shim"

// Unlimited is RLIM_INFINITY, for Rlimit.Cur and Rlimit.Max.
const Unlimited = ^uint64(0)

// Rlimit is one resource limit: Resource is unix.RLIMIT_*.
type Rlimit struct {
	Resource int
	Cur, Max uint64
}

// Limits is what the shim sets up before it execs the program. Nil pointers
// and an empty Rlimits leave the inherited value alone.
type Limits struct {
	Umask       *uint32
	Nice        *int
	OOMScoreAdj *int
	Rlimits     []Rlimit
}

// IsZero reports whether l sets nothing (the program needs no shim for it).
func (l *Limits) IsZero() bool {
	return l == nil || (l.Umask == nil && l.Nice == nil && l.OOMScoreAdj == nil && len(l.Rlimits) == 0)
}

// Rlimit returns the limit l sets for resource, or nil.
func (l *Limits) Rlimit(resource int) *Rlimit {
	if l == nil {
		return nil
	}
	for i := range l.Rlimits {
		if l.Rlimits[i].Resource == resource {
			return &l.Rlimits[i]
		}
	}
	return nil
}

// Cred is a user to switch to: uid, primary gid, supplementary groups.
type Cred struct {
	Uid, Gid uint32
	Groups   []uint32
}

// Command returns the argv that runs the program at path (already resolved)
// with argv under the shim: spawn /proc/self/exe with it. cred, if not nil,
// is switched to after the limits are set. The caller keeps l and cred.
func Command(l *Limits, cred *Cred, path string, argv []string) []string {
	out := []string{Arg0}
	if l != nil {
		if l.OOMScoreAdj != nil {
			out = append(out, "oom="+strconv.Itoa(*l.OOMScoreAdj))
		}
		if l.Nice != nil {
			out = append(out, "nice="+strconv.Itoa(*l.Nice))
		}
		for _, r := range l.Rlimits {
			out = append(out, "rlimit="+strconv.Itoa(r.Resource)+":"+strconv.FormatUint(r.Cur, 10)+":"+strconv.FormatUint(r.Max, 10))
		}
		if l.Umask != nil {
			out = append(out, "umask="+strconv.FormatUint(uint64(*l.Umask), 8))
		}
	}
	if cred != nil {
		gs := make([]string, len(cred.Groups))
		for i, g := range cred.Groups {
			gs[i] = strconv.FormatUint(uint64(g), 10)
		}
		out = append(out, "cred="+u32(cred.Uid)+":"+u32(cred.Gid)+":"+strings.Join(gs, ","))
	}
	out = append(out, "--", path)
	return append(out, argv...)
}

func init() {
	if len(os.Args) == 0 || os.Args[0][strings.LastIndexByte(os.Args[0], '/')+1:] != Arg0 {
		return
	}
	// Still on the main thread (the runtime locks it during init): keep the
	// prctl and the exec on one thread.
	runtime.LockOSThread()
	ppid := os.Getppid()
	path, argv, err := run(os.Args[1:], ppid)
	code := 1
	switch {
	case errors.Is(err, syscall.ENOENT):
		code = 127
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.ENOEXEC), errors.Is(err, syscall.EISDIR):
		code = 126
	}
	if path != "" {
		os.Stderr.WriteString(Arg0 + ": exec " + path + ": " + err.Error() + "\n")
	} else {
		os.Stderr.WriteString(Arg0 + ": " + err.Error() + " (argv " + strings.Join(argv, " ") + ")\n")
	}
	os.Exit(code)
}

// run applies the settings in args and execs the program; it returns only on
// failure, with the program's path once it got as far as the exec.
func run(args []string, ppid int) (string, []string, error) {
	sep := slices.Index(args, "--")
	if sep < 0 || sep+2 > len(args) {
		return "", args, errors.New("usage: " + Arg0 + " SETTING... -- PATH ARGV0 [ARG...]")
	}
	settings, path, argv := args[:sep], args[sep+1], args[sep+2:]
	var cred *Cred
	for _, s := range settings {
		key, val, _ := strings.Cut(s, "=")
		var err error
		switch key {
		case "oom":
			err = os.WriteFile("/proc/self/oom_score_adj", []byte(val), 0)
		case "nice":
			var n int
			if n, err = strconv.Atoi(val); err == nil {
				// Linux: the calling thread's nice value, which the exec keeps.
				err = syscall.Setpriority(syscall.PRIO_PROCESS, 0, n)
			}
		case "rlimit":
			var r [3]uint64
			f := strings.Split(val, ":")
			if len(f) != 3 {
				err = errors.New("want RESOURCE:CUR:MAX")
				break
			}
			for i := range f {
				if r[i], err = strconv.ParseUint(f[i], 10, 64); err != nil {
					break
				}
			}
			if err == nil {
				// syscall's, not x/sys's: it tells the runtime that the
				// fd limit is ours now (syscall.Exec would restore its own).
				err = syscall.Setrlimit(int(r[0]), &syscall.Rlimit{Cur: r[1], Max: r[2]})
			}
		case "umask":
			var m uint64
			if m, err = strconv.ParseUint(val, 8, 32); err == nil {
				syscall.Umask(int(m))
			}
		case "cred":
			cred, err = parseCred(val)
		default:
			err = errors.New("unknown setting")
		}
		if err != nil {
			hint := ""
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
				switch key {
				case "oom":
					hint = " (lowering oom_score_adj needs CAP_SYS_RESOURCE)"
				case "nice":
					hint = " (a negative nice needs CAP_SYS_NICE)"
				case "rlimit":
					hint = " (raising a hard limit needs CAP_SYS_RESOURCE)"
				}
			}
			return "", args, wrap(s+": ", err, hint)
		}
	}
	if cred != nil {
		groups := make([]int, len(cred.Groups))
		for i, g := range cred.Groups {
			groups[i] = int(g)
		}
		if err := syscall.Setgroups(groups); err != nil {
			return "", args, wrap("setgroups: ", err, "")
		}
		if err := syscall.Setgid(int(cred.Gid)); err != nil {
			return "", args, wrap("setgid "+u32(cred.Gid)+": ", err, "")
		}
		if err := syscall.Setuid(int(cred.Uid)); err != nil {
			return "", args, wrap("setuid "+u32(cred.Uid)+": ", err, "")
		}
	}
	// The credential change cleared it, and only the thread Go forked had it.
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); e != 0 {
		return "", args, wrap("prctl PR_SET_PDEATHSIG: ", e, "")
	}
	if os.Getppid() != ppid {
		return "", args, errors.New("the supervisor died before the program could start")
	}
	err := syscall.Exec(path, argv, os.Environ())
	if cred != nil {
		err = wrap("", err, " (as uid "+u32(cred.Uid)+", gid "+u32(cred.Gid)+")")
	}
	return path, argv, err
}

func parseCred(v string) (*Cred, error) {
	f := strings.Split(v, ":")
	if len(f) != 3 {
		return nil, errors.New("want UID:GID:GROUPS")
	}
	uid, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return nil, err
	}
	c := &Cred{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	if f[2] != "" {
		for g := range strings.SplitSeq(f[2], ",") {
			n, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return nil, err
			}
			c.Groups = append(c.Groups, uint32(n))
		}
	}
	return c, nil
}

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// wrapped is an error with context around it, as fmt.Errorf("%s%w%s") makes.
type wrapped struct {
	pre, post string
	err       error
}

func (w *wrapped) Error() string { return w.pre + w.err.Error() + w.post }
func (w *wrapped) Unwrap() error { return w.err }

func wrap(pre string, err error, post string) error { return &wrapped{pre, post, err} }
