package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/supervise"
)

// upgrader is a fake Target that can upgrade: it refuses with refuse, or
// answers res on reply itself, standing in for the new image.
type upgrader struct {
	fake
	refuse error
	res    UpgradeResult
	got    chan string // the binary of each Upgrade
}

func (u *upgrader) Upgrade(ctx context.Context, binary string, reply *os.File) error {
	u.got <- binary
	if u.refuse != nil {
		return u.refuse
	}
	res := u.res
	res.Binary = binary
	return WriteUpgradeReply(reply, res)
}

func TestUpgradeRefused(t *testing.T) {
	u := &upgrader{refuse: errors.New("binary /x/sup: version check: exit status 2"), got: make(chan string, 1)}
	// A cap of 2 connections: a hijacked one must leave the count, or the
	// third upgrade below would find the cap full of them (503 busy).
	c := serveUpgrader(t, filepath.Join(t.TempDir(), "s.sock"), u, Limits{MaxConns: 2})
	_, err := c.Upgrade(context.Background(), "/x/sup")
	var api *APIError
	if !errors.As(err, &api) || api.Status != http.StatusUnprocessableEntity || api.Kind != KindUpgradeRefused || api.Msg != u.refuse.Error() {
		t.Fatalf("Upgrade: %v (%+v), want a 422 %s saying %q", err, api, KindUpgradeRefused, u.refuse)
	}
	if b := <-u.got; b != "/x/sup" {
		t.Errorf("Upgrade got binary %q", b)
	}
	for range 4 {
		if _, err := c.Upgrade(context.Background(), "/x/sup"); !errors.As(err, &api) || api.Kind != KindUpgradeRefused {
			t.Fatalf("another refused upgrade: %v", err)
		}
		<-u.got
	}
	// The server goes on serving after the hijack and the refusal.
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("status after a refused upgrade: %v", err)
	}
	// A relative binary is refused before Upgrade is called.
	if _, err := c.Upgrade(context.Background(), "rel/sup"); !errors.As(err, &api) || api.Kind != "bad_request" {
		t.Errorf("relative binary: %v, want bad_request", err)
	}
}

// serveUpgrader is serveFake for an upgrader, bounded by lim.
func serveUpgrader(t *testing.T, sock string, u *upgrader, lim Limits) *Client {
	t.Helper()
	return serveSock(t, sock, u, lim)
}

func TestUpgradeAnswered(t *testing.T) {
	u := &upgrader{res: UpgradeResult{Pid: os.Getpid(), Old: "v1", New: "v2", HandoverMS: 12.5, Kept: 3, Restarted: []string{"a"}},
		got: make(chan string, 2)}
	c := serveUpgrader(t, filepath.Join(t.TempDir(), "s.sock"), u, Limits{})
	res, err := c.Upgrade(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Pid != os.Getpid() || res.Old != "v1" || res.New != "v2" || res.HandoverMS != 12.5 || res.Kept != 3 ||
		len(res.Restarted) != 1 || res.Restarted[0] != "a" || res.Binary != "" {
		t.Errorf("Upgrade: %+v", res)
	}
	if b := <-u.got; b != "" {
		t.Errorf("Upgrade got binary %q, want the default", b)
	}
	if res, err := c.Upgrade(context.Background(), "/usr/bin/sup"); err != nil || res.Binary != "/usr/bin/sup" {
		t.Errorf("Upgrade /usr/bin/sup: %+v, %v", res, err)
	}
	// A raw request with no body at all is fine too.
	conn, err := net.Dial("unix", c.path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if code, body := rawRequest(t, conn, "POST /v1/upgrade HTTP/1.1\r\nHost: s\r\nContent-Length: 0\r\n\r\n"); code != 200 || !strings.Contains(body, `"new":"v2"`) {
		t.Errorf("empty body: %d %s", code, body)
	}
}

func TestUpgradeNotImplemented(t *testing.T) {
	c := serveFake(t, filepath.Join(t.TempDir(), "s.sock"), &fake{})
	var api *APIError
	if _, err := c.Upgrade(context.Background(), ""); !errors.As(err, &api) || api.Status != http.StatusNotImplemented {
		t.Errorf("Upgrade on a Target without it: %v, want 501", err)
	}
}

// rawRequest writes req on conn and reads one response (within 5s).
func rawRequest(t *testing.T, conn net.Conn, req string) (int, string) {
	t.Helper()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	return readResponse(t, conn, time.Now().Add(5*time.Second))
}

func readResponse(t *testing.T, conn net.Conn, deadline time.Time) (int, string) {
	t.Helper()
	if err := conn.SetReadDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// While paused, connections queue in the backlog unanswered, on a unix and a
// TCP listener alike; Resume answers them.
func TestPauseResume(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	uln, err := Listen(hclog.NewNullLogger(), sock)
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{}
	srv := NewServer(hclog.NewNullLogger(), f, f.journal(), Limits{})
	done := make(chan error, 2)
	go func() { done <- srv.Serve(uln) }()
	go func() { done <- srv.Serve(tln) }()
	t.Cleanup(func() {
		srv.Close()
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
	const req = "GET /v1/version HTTP/1.1\r\nHost: s\r\n\r\n"
	dial := func() []net.Conn {
		u, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := net.Dial("tcp", tln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close(); tc.Close() })
		return []net.Conn{u, tc}
	}
	// Both serve, and each Serve is back in (or on its way to) Accept.
	live := dial()
	for _, c := range live {
		if code, _ := rawRequest(t, c, req); code != 200 {
			t.Fatalf("before Pause: %d", code)
		}
	}
	srv.Pause()
	srv.Pause() // twice is once
	// Idle keep-alive connections accepted before Pause are closed by it (an
	// exec would cut them; a client's next request takes a new connection).
	for _, c := range live {
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		if n, err := c.Read(b[:]); err == nil {
			t.Fatalf("an idle connection was not closed by Pause: read %d bytes", n)
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("an idle connection was not closed by Pause")
		}
	}
	queued := dial() // connect succeeds: the kernel queues them
	for _, c := range queued {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(150 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		if n, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("while paused, %s got %d bytes, %v; want no answer", c.RemoteAddr().Network(), n, err)
		}
	}
	srv.Resume()
	srv.Resume()
	for _, c := range queued {
		if code, body := readResponse(t, c, time.Now().Add(5*time.Second)); code != 200 || !strings.Contains(body, "version") {
			t.Errorf("after Resume, %s: %d %s", c.RemoteAddr().Network(), code, body)
		}
	}
	// Pause, then Close: Serve returns, nothing hangs (the Cleanup waits).
	srv.Pause()
}

// An inherited listener serves as Listen's would, at the same path; a wrong
// path or a file that is no listening unix socket is refused.
func TestListenerFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	ln, err := Listen(hclog.NewNullLogger(), sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f, err := ListenerFile(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Cloexec cleared, and the shared file description still non-blocking
	// (the original's deadlines, Pause's, keep working).
	if err := control(f, func(fd int) error {
		fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			return err
		}
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			return err
		}
		if fdfl&unix.FD_CLOEXEC != 0 || fl&unix.O_NONBLOCK == 0 {
			t.Errorf("ListenerFile: fd flags %#x, file flags %#x: want no FD_CLOEXEC, O_NONBLOCK", fdfl, fl)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The original listener stays usable: nothing else accepts on the socket yet.
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if a, err := ln.Accept(); err != nil {
		t.Fatalf("original listener after ListenerFile: %v", err)
	} else {
		a.Close()
	}
	ln2, err := ListenFile(hclog.NewNullLogger(), f, sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ln2.(*credListener); !ok {
		t.Errorf("ListenFile: a %T, want the peer check of Listen", ln2)
	}
	serveOn(t, ln2, &fake{})
	c, err := NewClient(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(context.Background()); err != nil || len(st) != 1 {
		t.Fatalf("status through the inherited listener: %+v, %v", st, err)
	}
	for _, tc := range []struct {
		name string
		file func(t *testing.T) *os.File
		path string
		want string
	}{
		{"wrong path", func(t *testing.T) *os.File { return f }, filepath.Join(dir, "other.sock"), "bound to"},
		{"regular file", func(t *testing.T) *os.File {
			g, err := os.CreateTemp(dir, "x")
			if err != nil {
				t.Fatal(err)
			}
			return g
		}, sock, "not a socket"},
		{"tcp", func(t *testing.T) *os.File {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			g, err := ListenerFile(l)
			if err != nil {
				t.Fatal(err)
			}
			return g
		}, sock, "not a unix socket"},
		{"connection", func(t *testing.T) *os.File {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			g, err := conn.(*net.UnixConn).File()
			if err != nil {
				t.Fatal(err)
			}
			return g
		}, sock, "not listening"},
	} {
		g := tc.file(t)
		l, err := ListenFile(hclog.NewNullLogger(), g, tc.path)
		if err == nil {
			l.Close()
			t.Errorf("%s: no error", tc.name)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", tc.name, err, tc.want)
		}
		if g != f {
			g.Close()
		}
	}
}

// Export hands over the newest lines, per program and in all; Import takes
// them into a new Journal's rings.
func TestJournalExportImport(t *testing.T) {
	j := NewJournal(0)
	t0 := time.Unix(1000, 0)
	for i := range 10 {
		for _, prog := range []string{"a", "b"} {
			j.Output(supervise.OutputLine{Time: t0.Add(time.Duration(i) * time.Second), Program: prog, Pid: 7, Stream: "stdout", Text: fmt.Sprintf("%s%d", prog, i)})
		}
	}
	recs := j.Export(3, 1<<20)
	if len(recs) != 6 || recs[0].Text != "a7" && recs[0].Text != "b7" || recs[5].Time != t0.Add(9*time.Second) {
		t.Fatalf("Export(3): %+v", recs)
	}
	if got := j.Export(3, 4); len(got) != 2 || got[0].Text[1:] != "9" || got[1].Text[1:] != "9" {
		t.Errorf("Export with 4 bytes in all: %+v, want the two newest lines", got)
	}
	k := NewJournal(0)
	k.Import(recs)
	if got := k.recent("b", 100); len(got) != 3 || got[2].Text != "b9" {
		t.Errorf("imported b: %+v", got)
	}
}
