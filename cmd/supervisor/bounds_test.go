package main_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 13: with the fd limit at 600, 700 idle keep-alive clients on the control
// socket once made program starts fail (pipe2: too many open files) and ctl
// status time out. Now the socket holds at most 600/8 = 75 connections (the
// newest; each newcomer closes the longest idle), so ctl status answers and a
// restarted program starts.
func TestIdleClientsLeaveFdsForPrograms(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("no prlimit (util-linux)")
	}
	const nofile, clients, maxConns = 600, 700, 600 / 8
	sock := filepath.Join(t.TempDir(), "ctl", "s.sock")
	conf := writeConf(t, `
[program:a]
command = CHILD --tick 1s
[program:b]
command = CHILD --tick 1s
`)
	p := startCmd(t, exec.Command(prlimit, "--nofile="+strconv.Itoa(nofile)+":"+strconv.Itoa(nofile), "--",
		bin("supervisor"), "run", "-c", conf, "--socket", sock))
	p.waitLine(t, "control socket ready")
	before := waitState(t, sock, "a", "running", 0)

	for i := range clients {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		defer c.Close()
		// One request, then idle with the connection kept alive.
		if _, err := io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("client %d: %v\n%s", i, err, p.log())
		}
		resp.Body.Close()
	}

	if out, errOut, code := ctl(t, sock, "restart", "a"); code != 0 {
		t.Fatalf("ctl restart a with %d idle clients: exit %d\n%s%s\n%s", clients, code, out, errOut, p.log())
	}
	waitState(t, sock, "a", "running", before.Pid)
	if out, errOut, code := ctl(t, sock, "status"); code != 0 {
		t.Fatalf("ctl status with %d idle clients: exit %d\n%s%s", clients, code, out, errOut)
	}
	if n := sockets(t, p.cmd.Process.Pid); n > maxConns+2 { // + the listener, + slack for the ctl just gone
		t.Errorf("the supervisor holds %d sockets, want at most %d connections and its listener", n, maxConns)
	}
	p.logSays(t, "connection cap reached")
	if strings.Contains(p.log(), "too many open files") {
		t.Errorf("the supervisor ran out of fds:\n%s", p.log())
	}
}

// sockets counts pid's open fds that are sockets.
func sockets(t *testing.T, pid int) int {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}
