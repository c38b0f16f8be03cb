package svrpc_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/shim"
	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/svrpc"
)

// TestPeerCredentials: a socket whose mode lets everyone connect still serves
// only our uid, root, and the chown user or group: another user's connection
// is closed before a byte is read. Needs root (to run a client as nobody).
func TestPeerCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to connect as another user")
	}
	py := "/usr/bin/python3" // not a shim in root's home, which nobody cannot reach
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	sleep := lookPath(t, "sleep")
	dir, err := os.MkdirTemp("", "svrpc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, svrpc.LayoutOf(supervise.Group{Programs: []supervise.Spec{spec("web", false, sleep, "60")}}), svrpc.Options{})
	const nobody = 65534
	// The client: one request, and what came back (nothing if closed or reset at once).
	const client = `import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
out = b""
try:
    s.sendall(b"POST /RPC2 HTTP/1.0\r\nContent-Length: 85\r\n\r\n<methodCall><methodName>supervisor.getAPIVersion</methodName><params/></methodCall>\n\n")
    while True:
        b = s.recv(4096)
        if not b:
            break
        out += b
except (ConnectionResetError, BrokenPipeError):
    out = b""
sys.stdout.write("refused" if not out else out.decode().split("\r\n")[0])`
	for _, tc := range []struct {
		doc  string
		own  svrpc.Chown
		want string
	}{
		{"another user", svrpc.NoChown, "refused"},
		{"the chown user", svrpc.Chown{Uid: nobody, Gid: -1}, "HTTP/1.0 200 OK"},
		{"the chown group", svrpc.Chown{Uid: -1, Gid: nobody}, "HTTP/1.0 200 OK"},
	} {
		sock := filepath.Join(dir, "s.sock")
		ln, err := svrpc.ListenUnix(hclog.NewNullLogger(), sock, 0o666, tc.own)
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- r.srv.Serve(ln, svrpc.Auth{}) }()
		out := runAs(t, py, client, sock)
		if !strings.HasPrefix(out, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.doc, out, tc.want)
		}
		ln.Close()
		<-served // an accept error: the listener is closed
	}
}

// runAs runs python3 code with arg as nobody and returns its stdout.
func runAs(t *testing.T, py, code, arg string) string {
	t.Helper()
	rd, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	exit := make(chan supervise.Exit, 1)
	_, err = reaper.Spawn(supervise.SpawnRequest{Kind: supervise.SpawnExec, Argv: []string{py, "-c", code, arg},
		Cred: &shim.Cred{Uid: 65534, Gid: 65534, Groups: []uint32{65534}}, Stdout: w, Stderr: w,
		OnExit: func(e supervise.Exit) { exit <- e }})
	w.Close()
	if err != nil {
		rd.Close()
		t.Fatal(err)
	}
	defer rd.Close()
	out, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	<-exit
	return string(out)
}
