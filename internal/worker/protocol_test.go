package worker_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/ipc"
	"github.com/supervisor/supervisor/internal/worker"
)

// quietWindow is how long the tests watch for a frame that must not come, once a
// causal event (Ready, the handshake) made it due. With --heartbeat 20ms it spans
// 25 heartbeat intervals.
const quietWindow = 500 * time.Millisecond

// protoProc is a worker started with the protocol pipes at fds 3 and 4.
type protoProc struct {
	*proc
	conn   *ipc.Conn
	c2sR   *os.File // the test reads the child's frames here
	s2cW   *os.File // the test writes frames to the child here
	frames *frames  // set by recvAll
}

// startProto re-executes the test binary as the "child" worker with args, fd 3
// the write end of a child -> test pipe and fd 4 the read end of a test -> child
// pipe. program, if not empty, is $SUPERVISOR_PROGRAM. A cleanup kills the
// group and waits.
func startProto(t *testing.T, program string, args ...string) *protoProc {
	t.Helper()
	stdoutR, stdoutW := pipe(t)
	stderrR, stderrW := pipe(t)
	c2sR, c2sW := pipe(t)
	s2cR, s2cW := pipe(t)
	env := []string{"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SUPERVISOR_PROGRAM=") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	if program != "" {
		env = append(env, "SUPERVISOR_PROGRAM="+program)
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        append([]string{worker.Arg0, "child", "--protocol"}, args...),
		Dir:         t.TempDir(),
		Env:         env,
		Stdout:      stdoutW,
		Stderr:      stderrW,
		ExtraFiles:  []*os.File{c2sW, s2cR}, // fds 3 and 4
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err := cmd.Start()
	stdoutW.Close()
	stderrW.Close()
	c2sW.Close()
	s2cR.Close()
	if err != nil {
		t.Fatalf("start %q: %v", cmd.Args, err)
	}
	p := &protoProc{
		proc: &proc{cmd: cmd, stdout: readLines(t, stdoutR), stderr: readLines(t, stderrR)},
		conn: ipc.NewConn(c2sR, s2cW, 0),
		c2sR: c2sR,
		s2cW: s2cW,
	}
	t.Cleanup(func() {
		p.killGroup(t)
		p.wait()
	})
	return p
}

// handshake runs the server handshake and starts the frame reader.
func (p *protoProc) handshake(t *testing.T) ipc.Hello {
	t.Helper()
	h, err := p.conn.Handshake()
	if err != nil {
		t.Fatalf("Handshake: %v", err)
	}
	p.frames = recvAll(t, p.conn, p.c2sR)
	return h
}

// frames delivers what Conn.Recv returns until it fails, then closes c; err is
// Recv's error, valid once c is closed.
type frames struct {
	c    chan ipc.Message
	err  error
	seen []ipc.Message
}

func recvAll(t *testing.T, conn *ipc.Conn, r *os.File) *frames {
	f := &frames{c: make(chan ipc.Message)}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(f.c)
		for {
			m, err := conn.Recv()
			if err != nil {
				f.err = err
				return
			}
			select {
			case f.c <- m:
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		r.Close() // unblocks a Recv in progress
		wg.Wait()
	})
	return f
}

// next returns the next message; it fails the test at the end of the stream or
// after waitLimit.
func (f *frames) next(t *testing.T) ipc.Message {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case m, ok := <-f.c:
		if !ok {
			t.Fatalf("stream ended: %v; frames so far: %v", f.err, f.seen)
		}
		f.seen = append(f.seen, m)
		return m
	case <-timer.C:
		t.Fatalf("no frame after %v; frames so far: %v", waitLimit, f.seen)
		return nil
	}
}

// waitFor skips messages until one of type T arrives, and returns it.
func waitFor[T ipc.Message](t *testing.T, f *frames) T {
	t.Helper()
	for {
		if m, ok := f.next(t).(T); ok {
			return m
		}
	}
}

// end drains the stream until it ends and returns Recv's error.
func (f *frames) end(t *testing.T) error {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-f.c:
			if !ok {
				return f.err
			}
			f.seen = append(f.seen, m)
		case <-timer.C:
			t.Fatalf("stream did not end after %v; frames so far: %v", waitLimit, f.seen)
		}
	}
}

// quiet fails if, within quietWindow, a message for which bad is true arrives
// or the stream ends.
func (f *frames) quiet(t *testing.T, bad func(ipc.Message) bool) {
	t.Helper()
	timer := time.NewTimer(quietWindow)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-f.c:
			if !ok {
				t.Fatalf("stream ended: %v; frames so far: %v", f.err, f.seen)
			}
			f.seen = append(f.seen, m)
			if bad(m) {
				t.Fatalf("got %T %+v, want none; frames so far: %v", m, m, f.seen)
			}
		case <-timer.C:
			return
		}
	}
}

func isHeartbeat(m ipc.Message) bool { _, ok := m.(ipc.Heartbeat); return ok }

// call sends a Request and waits for its Reply, skipping other messages.
func (p *protoProc) call(t *testing.T, id uint64, method, body string) ipc.Reply {
	t.Helper()
	if err := p.conn.Send(ipc.Request{ID: id, Method: method, Body: []byte(body)}); err != nil {
		t.Fatalf("send Request %s: %v", method, err)
	}
	r := waitFor[ipc.Reply](t, p.frames)
	if r.ID != id {
		t.Fatalf("Reply %+v, want ID %d", r, id)
	}
	return r
}

// stopWithRequest sends Stop and checks the Stopping, the stdout line and exit 0.
func (p *protoProc) stopWithRequest(t *testing.T) {
	t.Helper()
	if err := p.conn.Send(ipc.Stop{Deadline: time.Second}); err != nil {
		t.Fatal(err)
	}
	waitFor[ipc.Stopping](t, p.frames)
	p.stdout.expect(t, "stopping on request")
	if err := p.frames.end(t); !errors.Is(err, ipc.ErrPeerGone) {
		t.Errorf("stream ended with %v, want ErrPeerGone", err)
	}
	p.waitCode(t, 0)
}

func TestProtocolConversation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ program, wantName string }{{"", "child"}, {"web", "web"}} {
		t.Run(tc.wantName, func(t *testing.T) {
			t.Parallel()
			p := startProto(t, tc.program, "--heartbeat", "20ms")
			h := p.handshake(t)
			if want := (ipc.Hello{Version: ipc.ProtocolVersion, Pid: p.pid(), Name: tc.wantName}); h != want {
				t.Fatalf("Hello = %+v, want %+v", h, want)
			}
			if m := p.frames.next(t); m != (ipc.Ready{}) {
				t.Fatalf("first frame after the handshake: %T %+v, want Ready", m, m)
			}
			for want := uint64(1); want <= 3; want++ {
				if hb := waitFor[ipc.Heartbeat](t, p.frames); hb.Seq != want {
					t.Fatalf("Heartbeat Seq %d, want %d", hb.Seq, want)
				}
			}

			sum := sha256.Sum256([]byte("abc"))
			for i, c := range []struct {
				method, body, wantBody, wantErr string
			}{
				{method: "echo", body: "hello", wantBody: "hello"},
				{method: "hash", body: "abc", wantBody: hex.EncodeToString(sum[:])},
				{method: "sleep", body: "10ms", wantBody: "slept"},
				{method: "sleep", body: "soon", wantErr: "invalid duration"},
				{method: "nope", wantErr: `unknown method "nope"`},
			} {
				r := p.call(t, uint64(i+1), c.method, c.body)
				if string(r.Body) != c.wantBody || !strings.Contains(r.Err, c.wantErr) || (c.wantErr == "") != (r.Err == "") {
					t.Errorf("%s %q: Reply %+v, want body %q, error containing %q", c.method, c.body, r, c.wantBody, c.wantErr)
				}
			}
			p.stopWithRequest(t)
		})
	}
}

// TestProtocolStopWaitsForHandlers: a Request in flight when Stop comes is
// answered within the Stop deadline.
func TestProtocolStopWaitsForHandlers(t *testing.T) {
	t.Parallel()
	p := startProto(t, "")
	p.handshake(t)
	waitFor[ipc.Ready](t, p.frames)
	if err := p.conn.Send(ipc.Request{ID: 1, Method: "sleep", Body: []byte("1h")}); err != nil {
		t.Fatal(err)
	}
	if err := p.conn.Send(ipc.Stop{Deadline: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor[ipc.Stopping](t, p.frames)
	// The deadline cancels the sleep, which then replies.
	if r := waitFor[ipc.Reply](t, p.frames); r.ID != 1 || string(r.Body) != "slept" {
		t.Errorf("Reply %+v, want ID 1, body \"slept\"", r)
	}
	p.stdout.expect(t, "stopping on request")
	p.waitCode(t, 0)
}

func TestProtocolSupervisorGone(t *testing.T) {
	t.Parallel()
	p := startProto(t, "")
	p.handshake(t)
	waitFor[ipc.Ready](t, p.frames)
	p.s2cW.Close() // EOF on the worker's fd 4
	p.stderr.expect(t, "supervisor gone")
	if err := p.frames.end(t); !errors.Is(err, ipc.ErrPeerGone) {
		t.Errorf("stream ended with %v, want ErrPeerGone", err)
	}
	p.waitCode(t, 0)
}

func TestProtocolSIGTERM(t *testing.T) {
	t.Parallel()
	p := startProto(t, "")
	p.handshake(t)
	waitFor[ipc.Ready](t, p.frames)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.stdout.expect(t, "stopping on SIGTERM")
	p.waitCode(t, 0)
}

func TestProtocolCrash(t *testing.T) {
	t.Parallel()
	p := startProto(t, "")
	p.handshake(t)
	waitFor[ipc.Ready](t, p.frames)
	if err := p.conn.Send(ipc.Request{ID: 1, Method: "crash"}); err != nil {
		t.Fatal(err)
	}
	if err := p.frames.end(t); !errors.Is(err, ipc.ErrPeerGone) {
		t.Errorf("stream ended with %v, want ErrPeerGone", err)
	}
	for _, m := range p.frames.seen {
		if _, ok := m.(ipc.Reply); ok {
			t.Errorf("got %+v, want no Reply", m)
		}
	}
	p.waitCode(t, 3)
}

func TestProtocolCrashAfterRequests(t *testing.T) {
	t.Parallel()
	p := startProto(t, "", "--crash-after-requests", "2")
	p.handshake(t)
	for id := uint64(1); id <= 3; id++ {
		// The worker is alive until it wrote two Replies, which needs two
		// Requests: these writes go to a live reader and fit in the pipe.
		if err := p.conn.Send(ipc.Request{ID: id, Method: "echo", Body: []byte("x")}); err != nil && id < 3 {
			t.Fatal(err)
		}
	}
	if err := p.frames.end(t); !errors.Is(err, ipc.ErrPeerGone) {
		t.Errorf("stream ended with %v, want ErrPeerGone", err)
	}
	replies := 0
	for _, m := range p.frames.seen {
		if _, ok := m.(ipc.Reply); ok {
			replies++
		}
	}
	if replies != 2 {
		t.Errorf("got %d Replies (%v), want 2", replies, p.frames.seen)
	}
	p.waitCode(t, 3)
}

// TestProtocolStuckMainLoop: with --hang or --deadlock, Ready comes, then no
// heartbeat, although Requests are still answered.
func TestProtocolStuckMainLoop(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"--hang", "--deadlock"} {
		t.Run(flag, func(t *testing.T) {
			t.Parallel()
			p := startProto(t, "", flag, "--heartbeat", "20ms")
			p.handshake(t)
			if m := p.frames.next(t); m != (ipc.Ready{}) {
				t.Fatalf("first frame after the handshake: %T %+v, want Ready", m, m)
			}
			p.frames.quiet(t, isHeartbeat)
			if r := p.call(t, 1, "echo", "alive"); string(r.Body) != "alive" || r.Err != "" {
				t.Errorf("Reply %+v, want body \"alive\"", r)
			}
			for _, m := range p.frames.seen {
				if isHeartbeat(m) {
					t.Errorf("got %+v, want no Heartbeat", m)
				}
			}
		})
	}
}

func TestProtocolNeverReady(t *testing.T) {
	t.Parallel()
	p := startProto(t, "", "--never-ready", "--heartbeat", "20ms")
	p.handshake(t)
	p.frames.quiet(t, func(ipc.Message) bool { return true })
	if r := p.call(t, 1, "echo", "alive"); string(r.Body) != "alive" {
		t.Errorf("Reply %+v, want body \"alive\"", r)
	}
	if len(p.frames.seen) != 1 {
		t.Errorf("frames %v, want only the Reply", p.frames.seen)
	}
	p.stopWithRequest(t)
}

func TestProtocolSlowStart(t *testing.T) {
	t.Parallel()
	const slow = 100 * time.Millisecond
	p := startProto(t, "", "--slow-start", slow.String())
	// The worker starts waiting once it has our HelloAck, which the handshake
	// sends before it returns: the clock starts before it.
	start := time.Now()
	p.handshake(t)
	if m := p.frames.next(t); m != (ipc.Ready{}) {
		t.Fatalf("first frame after the handshake: %T %+v, want Ready", m, m)
	}
	if d := time.Since(start); d < slow {
		t.Errorf("Ready after %v, want at least %v", d, slow)
	}
	p.stopWithRequest(t)
}

func TestProtocolBadFrames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		flag     string
		want     error
		wantCode int // -1: waits for SIGTERM
	}{
		{flag: "--garbage", want: ipc.ErrMalformed, wantCode: -1},
		{flag: "--oversized", want: ipc.ErrFrameTooLarge, wantCode: -1},
		{flag: "--exit-mid-frame", want: ipc.ErrTruncated, wantCode: 1},
	}
	for _, tc := range tests {
		t.Run(tc.flag, func(t *testing.T) {
			t.Parallel()
			p := startProto(t, "", tc.flag)
			_, err := p.conn.Handshake()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Handshake: %v, want an error wrapping %v", err, tc.want)
			}
			if tc.wantCode >= 0 {
				p.waitCode(t, tc.wantCode)
				return
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			p.stdout.expect(t, "stopping on SIGTERM")
			p.waitCode(t, 0)
		})
	}
}

// TestProtocolFlags runs the worker in this process: bad flag combinations only.
func TestProtocolFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args       []string
		wantStderr string
	}{
		{[]string{"--heartbeat", "1s"}, "--heartbeat needs --protocol"},
		{[]string{"--crash-after-requests", "1"}, "--crash-after-requests needs --protocol"},
		{[]string{"--hang"}, "--hang needs --protocol"},
		{[]string{"--deadlock"}, "--deadlock needs --protocol"},
		{[]string{"--never-ready"}, "--never-ready needs --protocol"},
		{[]string{"--slow-start", "1s"}, "--slow-start needs --protocol"},
		{[]string{"--garbage"}, "--garbage needs --protocol"},
		{[]string{"--oversized"}, "--oversized needs --protocol"},
		{[]string{"--exit-mid-frame"}, "--exit-mid-frame needs --protocol"},
		{[]string{"--protocol", "--hang", "--deadlock"}, "--hang and --deadlock exclude each other"},
		{[]string{"--protocol", "--garbage", "--never-ready"}, "--never-ready and --garbage exclude each other"},
		{[]string{"--protocol", "--heartbeat", "0s"}, "--heartbeat 0s is not positive"},
		{[]string{"--protocol", "--crash-after-requests", "0"}, "--crash-after-requests 0 is not positive"},
		{[]string{"--protocol", "--slow-start", "-1s"}, "--slow-start -1s is negative"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if code := worker.Run("child", tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("Run(%q) = %d, want 2; stderr:\n%s", tc.args, code, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

// TestProtocolNoFds: --protocol without pipes at fds 3 and 4 fails at once,
// whatever the Go runtime put at fd 4.
func TestProtocolNoFds(t *testing.T) {
	t.Parallel()
	p := startWorker(t, "child", "--protocol") // a pipe at fd 3 only
	if line := p.stderr.next(t); !strings.HasPrefix(line, "child: --protocol needs a pipe at fd 4") {
		t.Errorf("stderr line %q, want it to say fd 4 is no pipe", line)
	}
	p.waitCode(t, 1)
	p.extra.expectEOF(t)
	if len(p.extra.seen) != 0 {
		t.Errorf("fd 3 got %q, want nothing", p.extra.seen)
	}
}
