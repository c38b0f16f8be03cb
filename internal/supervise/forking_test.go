package supervise_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// nginxSpec is Debian's nginx in a directory of its own, listening on a free
// loopback port, daemonizing as it does by default (master forks, parent exits 0).
func nginxSpec(t *testing.T, name string) (s supervise.Spec, dir, port string) {
	t.Helper()
	needTool(t, "nginx")
	dir, port = t.TempDir(), freePort(t)
	conf := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log stderr;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server { listen 127.0.0.1:%[2]s; location / { return 200 "ok\n"; } }
}
`, dir, port)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s = spec(name, supervise.SpawnExec)
	s.Command = []string{"nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr"}
	s.StartTimeout = 30 * time.Second
	s.StopGrace = 5 * time.Second
	return s, dir, port
}

// nginxLeft lists live processes whose command line names dir.
func nginxLeft(dir string) []int {
	var left []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		st, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if strings.Contains(string(b), dir) && !strings.Contains(string(st), ") Z ") {
			left = append(left, pid)
		}
	}
	return left
}

// type = forking: the supervisor follows nginx's master from its pid file; its
// death is the program's, a stop leaves nothing.
func TestForkingNginx(t *testing.T) {
	t.Parallel()
	s, dir, port := nginxSpec(t, "nginx")
	s.Forking, s.PidFile = true, filepath.Join(dir, "nginx.pid")
	rn := serve(t, group(supervise.OneForOne, s))
	e := rn.rec.waitEvent(t, 1, is("nginx", supervise.StateRunning))
	pidText, err := os.ReadFile(s.PidFile)
	if err != nil {
		t.Fatal(err)
	}
	master, _ := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if !strings.HasPrefix(e.Reason, "forked its main process") || rn.status(t, "nginx").Pid != master {
		t.Fatalf("running because %q, pid %d; want the master %d from the pid file", e.Reason, rn.status(t, "nginx").Pid, master)
	}
	resp, err := http.Get("http://127.0.0.1:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The master's death is the program's exit: it is restarted.
	if err := syscall.Kill(master, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e = rn.rec.waitEvent(t, 1, is("nginx", supervise.StateBackoff))
	if e.Exit == nil || e.Exit.Signal != syscall.SIGKILL {
		t.Errorf("backoff after %v, want the master's SIGKILL", e.Exit)
	}
	rn.rec.waitEvent(t, 2, is("nginx", supervise.StateRunning))
	rn.stop(t)
	if left := nginxLeft(dir); len(left) > 0 {
		t.Errorf("nginx processes left after the stop: %v", left)
	}
}

// nginx as it daemonizes by default, without type = forking: one clear line,
// nothing left behind in either kill mode, and fatal after start_retries, not a
// loop.
func TestDaemonizingNginx(t *testing.T) {
	t.Parallel()
	for _, mode := range []supervise.KillMode{supervise.KillAuto, supervise.KillGroup} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			s, dir, _ := nginxSpec(t, "daemon")
			s.MinUptime, s.StartRetries = 2*time.Second, 1
			g := group(supervise.OneForOne, s)
			g.KillMode = mode
			rn := serve(t, g)
			e := rn.rec.waitEvent(t, 1, func(e supervise.Event) bool {
				return e.Program == "daemon" && (e.To == supervise.StateFatal || e.To == supervise.StateExited)
			})
			switch {
			case e.To == supervise.StateExited && mode == supervise.KillGroup:
				// The reaper killed the leader's group before nginx's daemon
				// had left it (setsid): a loaded machine. Nothing is left, and
				// there was nothing to tell.
				t.Logf("the daemon went with its parent's group before it left it: %s", e.Reason)
			case !strings.Contains(e.Reason, "it daemonized itself"):
				t.Errorf("%s because %q, want fatal because the program daemonized itself", e.To, e.Reason)
			default:
				rn.rec.waitLine(t, "daemon", "exited 0 at once and left processes behind", "nginx")
			}
			// In group mode the leftovers were SIGKILLed by pid: wait for them to go.
			deadline := time.Now().Add(10 * time.Second)
			for d := time.Millisecond; len(nginxLeft(dir)) > 0 && time.Now().Before(deadline); d = min(2*d, 100*time.Millisecond) {
				time.Sleep(d) // polling the OS under a deadline
			}
			if left := nginxLeft(dir); len(left) > 0 {
				t.Errorf("nginx processes left: %v", left)
			}
		})
	}
}
