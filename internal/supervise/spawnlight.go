package supervise

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/worker"
)

// A fork copies the parent's fd table and the child's exec then closes every
// close-on-exec fd in its copy, so a spawn costs time in proportion to the fds
// the supervisor holds: three per running program. With thousands of programs
// that made start-up grow with the square of their number (docs/benchmarks.md,
// Scale). The light spawner forks from a thread of this process whose fd table
// is its own and nearly empty (unshare(CLONE_FILES), then the copy emptied):
// for each spawn it takes copies of the fds the child needs from the process's
// table (pidfd_getfd on this process), forks, and closes its copies.
//
// The child is still this process's child (a thread forks for its process),
// registered under the reaper's lock like any other, and its parent-death
// signal is tied to the spawner's thread, which is locked to its goroutine and
// lives until the Reaper is closed (the goroutine then returns while locked, so
// Go ends the thread: what it started and is still running gets its
// Pdeathsig, as when the supervisor exits).
//
// Only the Go runtime's own fds stay in the thread's table (every eventpoll and
// eventfd: the netpoller's, which any thread may write to wake it). The spawner
// never opens files through the os package, which would register them with the
// netpoller from a thread whose fd numbers are not the process's.
//
// Spawns go this way once the request's fds show that the process holds at
// least lightSpawnMinFds fds (fds are allocated lowest first, so a new fd
// numbered N means N fds below it are open); below that a plain fork is as
// cheap and one hand-off to a locked thread cheaper still.
const lightSpawnMinFds = 1024

// errLightCopy: the spawner could not copy an fd (pidfd_getfd refused, as a
// seccomp filter may do); the spawn is retried as a plain fork, and so are all
// later ones.
var errLightCopy = errors.New("the light spawner cannot copy the child's fds")

type lightSpawner struct {
	reqs chan *lightReq
	err  error // the thread could not be set up; no request is taken
}

// lightReq is one spawn: files and cgroup are fds in the process's table.
type lightReq struct {
	path  string
	argv  []string
	env   []string
	dir   string
	files []int
	sys   syscall.SysProcAttr // Setpgid, Setsid, Setctty, Pdeathsig; no fd in it
	cg    int                 // a cgroup directory, or -1

	pid  int
	err  error
	done chan struct{}
}

// startLightSpawner starts the spawner's thread and waits until it is ready (or
// failed to get ready).
func startLightSpawner(done <-chan struct{}) *lightSpawner {
	ls := &lightSpawner{reqs: make(chan *lightReq)}
	ready := make(chan struct{})
	var run func()
	run = func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The thread group leader: unsharing its table would hide the
			// process's fds from pidfd_getfd, which reads the leader's. Try
			// again on another thread: this goroutine keeps the leader locked
			// (so the new one cannot run on it) until that one is set up, and
			// then gives it back to the pool intact.
			go run()
			<-ready
			runtime.UnlockOSThread()
			return
		}
		self, err := ls.setUp()
		if err != nil {
			ls.err = err
			close(ready)
			return // locked: the thread, its table changed or not, ends with us
		}
		close(ready)
		for {
			select {
			case <-done:
				unix.Close(self)
				return
			case req := <-ls.reqs:
				req.pid, req.err = lightFork(self, req)
				close(req.done)
			}
		}
	}
	go run()
	<-ready
	return ls
}

// setUp gives the calling thread a table of its own, keeps in it only stdin,
// stdout, stderr and the runtime's eventpoll and eventfd fds, and opens a
// pidfd of this process in it.
func (ls *lightSpawner) setUp() (int, error) {
	if err := unix.Unshare(unix.CLONE_FILES); err != nil {
		return -1, fmt.Errorf("unshare the fd table: %w", err)
	}
	dir := "/proc/thread-self/fd"
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", dir, err)
	}
	var fds []int
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("read %s: %w", dir, err)
		}
		if n <= 0 {
			break
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if v, err := strconv.Atoi(name); err == nil && v > 2 && v != fd {
				fds = append(fds, v)
			}
		}
	}
	unix.Close(fd)
	link := make([]byte, 64)
	for _, v := range fds {
		n, err := unix.Readlink(dir+"/"+strconv.Itoa(v), link)
		if err == nil {
			if l := string(link[:n]); strings.HasPrefix(l, "anon_inode:[eventpoll]") || strings.HasPrefix(l, "anon_inode:[eventfd]") {
				continue
			}
		}
		unix.Close(v)
	}
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd of this process: %w", err)
	}
	return self, nil
}

// spawn runs req on the spawner's thread.
func (ls *lightSpawner) spawn(req *lightReq) (int, error) {
	req.done = make(chan struct{})
	ls.reqs <- req
	<-req.done
	return req.pid, req.err
}

// lightFork copies req's fds into the thread's table, forks and execs, and
// closes the copies. It runs on the spawner's thread.
func lightFork(self int, req *lightReq) (int, error) {
	var mine []int
	defer func() {
		for _, fd := range mine {
			unix.Close(fd)
		}
	}()
	get := func(fd int) (int, error) {
		m, err := unix.PidfdGetfd(self, fd, 0)
		if err != nil {
			return -1, fmt.Errorf("%w: copy fd %d: %w", errLightCopy, fd, err)
		}
		mine = append(mine, m)
		return m, nil
	}
	files := make([]uintptr, len(req.files))
	for i, fd := range req.files {
		m, err := get(fd)
		if err != nil {
			return 0, err
		}
		files[i] = uintptr(m)
	}
	sys := req.sys
	if req.cg >= 0 {
		m, err := get(req.cg)
		if err != nil {
			return 0, err
		}
		sys.UseCgroupFD, sys.CgroupFD = true, m
	}
	return syscall.ForkExec(req.path, req.argv, &syscall.ProcAttr{Dir: req.dir, Env: req.env, Files: files, Sys: &sys})
}

// wantLight reports whether req should be forked by the light spawner: the
// process holds lightMin fds or more, and nothing in req needs the process's
// own fd numbers in the child (Foreground names the terminal by one).
func (r *Reaper) wantLight(req *SpawnRequest, stdin, stdout, stderr *os.File) bool {
	if req.Foreground || r.lightMin < 0 || (r.light != nil && r.light.err != nil) {
		return false
	}
	top := max(stdin.Fd(), stdout.Fd(), stderr.Fd())
	for _, f := range req.ExtraFiles {
		top = max(top, f.Fd())
	}
	if req.Cgroup != nil {
		top = max(top, req.Cgroup.Fd())
	}
	return top >= uintptr(r.lightMin)
}

// spawnLight forks p through the light spawner (started now if need be) and
// opens p's pidfd in the process's table; r.mu must be held, so the child
// cannot be reaped, nor its pid reused, before it is registered.
func (r *Reaper) spawnLight(req *SpawnRequest, p *Proc, sys *syscall.SysProcAttr, stdin, stdout, stderr *os.File) error {
	if r.light == nil {
		r.light = startLightSpawner(r.done)
		if r.light.err != nil {
			r.log.Warn("cannot start the light spawner; every spawn forks from the whole fd table", "error", r.light.err)
			return r.spawnHeavy(req, p, sys, stdin, stdout, stderr)
		}
		r.log.Debug("light spawner started", "min_fds", r.lightMin)
	}
	lr := &lightReq{argv: req.Argv, env: req.Env, dir: req.Dir, cg: -1,
		files: []int{int(stdin.Fd()), int(stdout.Fd()), int(stderr.Fd())}}
	for _, f := range req.ExtraFiles {
		lr.files = append(lr.files, int(f.Fd()))
	}
	if req.Cgroup != nil {
		lr.cg = int(req.Cgroup.Fd())
	}
	lr.sys = syscall.SysProcAttr{Setpgid: sys.Setpgid, Setsid: sys.Setsid, Setctty: sys.Setctty, Ctty: sys.Ctty, Pdeathsig: sys.Pdeathsig,
		Credential: sys.Credential} // a user without limits (ident.go)
	switch req.Kind {
	case SpawnExec, SpawnForkExec:
		path, err := lookPath(req.Argv[0], req.Dir)
		if err != nil {
			return err
		}
		lr.path = path
	case SpawnReexec:
		lr.path = "/proc/self/exe"
		lr.argv = append([]string{worker.Arg0}, req.Argv...)
	default:
		return fmt.Errorf("%w: unknown spawner %q", ErrInvalidSpec, req.Kind)
	}
	if !req.Limits.IsZero() {
		lr.path, lr.argv = r.shimmed(req, lr.path, lr.argv) // ident.go
	}
	if lr.env == nil {
		lr.env = os.Environ()
		if req.Kind != SpawnForkExec && req.Dir != "" {
			// As os/exec does for the heavy path (golang.org/issue/50599).
			if pwd, err := filepath.Abs(req.Dir); err == nil {
				lr.env = dedupEnv(append(lr.env, "PWD="+pwd))
			}
		}
	}
	pid, err := r.light.spawn(lr)
	if errors.Is(err, errLightCopy) {
		r.light.err = err
		r.log.Warn("the light spawner cannot work here; every spawn forks from the whole fd table", "error", err)
		return r.spawnHeavy(req, p, sys, stdin, stdout, stderr)
	}
	if err != nil {
		return fmt.Errorf("fork/exec %q: %w", lr.path, explainExec(lr.path, err))
	}
	p.Pid = pid
	r.lightSpawns++
	// Not reaped (r.mu is held), so the pid is still the child's.
	if p.pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
		p.pidfd = -1 // signals go by pid, which is safe until it is reaped
	}
	return nil
}

// dedupEnv keeps the last of each KEY=, as os/exec does.
func dedupEnv(env []string) []string {
	seen := make(map[string]bool, len(env))
	out := make([]string, len(env))
	n := len(out)
	for i := len(env) - 1; i >= 0; i-- {
		k, _, _ := strings.Cut(env[i], "=")
		if seen[k] {
			continue
		}
		seen[k] = true
		n--
		out[n] = env[i]
	}
	return out[n:]
}
