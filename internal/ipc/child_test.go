package ipc_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/ipc"
)

// absenceWindow is how long a test waits to see that something does NOT happen,
// always after a causal event has shown that it could have. It is many heartbeat
// intervals long; a pass proves nothing came in that time, not forever.
const absenceWindow = 50 * time.Millisecond

type recvResult struct {
	msg ipc.Message
	err error
}

// recvAsync runs one Recv in a goroutine. The caller must not call Recv again
// before it has taken the result.
func (p *pair) recvAsync() <-chan recvResult {
	ch := make(chan recvResult, 1)
	go func() {
		m, err := p.conn.Recv()
		ch <- recvResult{m, err}
	}()
	return ch
}

func TestChildReady(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	for range 3 {
		if err := p.kid.Ready(); err != nil {
			t.Fatalf("Ready: %v", err)
		}
	}
	if err := p.kid.SetStatus("up"); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
	if m := p.recv(t); m != (ipc.Ready{}) {
		t.Fatalf("first message = %#v, want Ready", m)
	}
	// The Status was sent after the later Ready calls: if they had sent, a Ready
	// would come first.
	if m := p.recv(t); m != (ipc.Status{Text: "up"}) {
		t.Fatalf("second message = %#v, want Status{up}: Ready was sent twice", m)
	}
}

func TestChildSetStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want error
	}{
		{"short", "listening on :8080", nil},
		{"empty", "", nil},
		{"at the limit", strings.Repeat("x", ipc.MaxStatusLen), nil},
		{"too long", strings.Repeat("x", ipc.MaxStatusLen+1), ipc.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			if err := p.kid.SetStatus(tc.text); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("SetStatus = %v, want %v", err, tc.want)
			}
			p.kid.Ready() // a marker after the status
			want := []ipc.Message{ipc.Status{Text: tc.text}, ipc.Ready{}}
			if tc.want != nil {
				want = want[1:] // nothing was sent for the refused status
			}
			for _, w := range want {
				if m := p.recv(t); !reflect.DeepEqual(m, w) {
					t.Fatalf("received %.80v, want %.80v", m, w)
				}
			}
		})
	}
}

// TestChildHeartbeatsFollowProgress: heartbeats come while the main loop calls
// Progress, stop while it is stuck although the heartbeat goroutine is alive, and
// resume with the next Seq.
func TestChildHeartbeatsFollowProgress(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	served := p.serve(t.Context(), echo)

	// A stand-in for the worker's main loop: one Progress per step.
	step := make(chan struct{})
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for range step {
			p.kid.Progress()
		}
	}()
	defer func() { close(step); <-loopDone }()

	p.kid.StartHeartbeats(time.Millisecond)
	p.kid.StartHeartbeats(time.Hour) // later calls change nothing

	for seq := uint64(1); seq <= 3; seq++ {
		step <- struct{}{}
		if m := p.recv(t); m != (ipc.Heartbeat{Seq: seq}) {
			t.Fatalf("received %#v, want Heartbeat{Seq: %d}", m, seq)
		}
	}

	// The loop is now stuck (no steps). Causal event: the child still answers a
	// Request, so it is alive and its pipe works; the reply must come before any
	// heartbeat.
	p.send(t, ipc.Request{ID: 1, Method: "ping"})
	if m := p.recv(t); !reflect.DeepEqual(m, ipc.Reply{ID: 1, Body: []byte("ping:")}) {
		t.Fatalf("received %#v, want the Reply to ping", m)
	}
	next := p.recvAsync()
	select {
	case r := <-next:
		t.Fatalf("received %#v (err %v) while the main loop made no progress", r.msg, r.err)
	case <-time.After(absenceWindow):
	}

	// The loop moves again: the heartbeat goroutine was alive all along.
	step <- struct{}{}
	if r := <-next; r.err != nil || r.msg != (ipc.Heartbeat{Seq: 4}) {
		t.Fatalf("received %#v, %v; want Heartbeat{Seq: 4}", r.msg, r.err)
	}

	p.s2cW.Close()
	if err := <-served; !errors.Is(err, ipc.ErrPeerGone) {
		t.Errorf("Serve = %v, want ErrPeerGone", err)
	}
}

// TestChildRequestReply: one Request per case through real pipes.
func TestChildRequestReply(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("abcdefgh"), 40<<10) // 320 KiB
	tests := []struct {
		name    string
		handler ipc.Handler
		req     ipc.Request
		want    ipc.Reply
		wantErr string // if set, Reply.Err must start with it (want.Err is ignored)
	}{
		{
			name:    "echo",
			handler: echo,
			req:     ipc.Request{ID: 1, Method: "echo", Body: []byte("hi")},
			want:    ipc.Reply{ID: 1, Body: []byte("echo:hi")},
		},
		{
			name:    "large body both ways",
			handler: echo,
			req:     ipc.Request{ID: 2, Method: "big", Body: big},
			want:    ipc.Reply{ID: 2, Body: append([]byte("big:"), big...)},
		},
		{
			name: "handler error",
			handler: func(context.Context, string, []byte) ([]byte, error) {
				return nil, errors.New("no such method")
			},
			req:  ipc.Request{ID: 3, Method: "nope"},
			want: ipc.Reply{ID: 3, Err: "no such method"},
		},
		{
			name: "handler error with body",
			handler: func(context.Context, string, []byte) ([]byte, error) {
				return []byte("partial"), errors.New("half done")
			},
			req:  ipc.Request{ID: 4, Method: "half"},
			want: ipc.Reply{ID: 4, Err: "half done", Body: []byte("partial")},
		},
		{
			name: "handler error without text",
			handler: func(context.Context, string, []byte) ([]byte, error) {
				return nil, errors.New("")
			},
			req:     ipc.Request{ID: 5, Method: "mute"},
			want:    ipc.Reply{ID: 5},
			wantErr: "handler returned an error with no text",
		},
		{
			name: "reply too large",
			handler: func(context.Context, string, []byte) ([]byte, error) {
				return make([]byte, 2*ipc.DefaultMaxFrame), nil
			},
			req:     ipc.Request{ID: 6, Method: "flood"},
			want:    ipc.Reply{ID: 6},
			wantErr: "reply not sent: ipc: Reply frame of 2097159 bytes exceeds the 1048576-byte limit",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			served := p.serve(t.Context(), tc.handler)
			go func() { // a large request fills the pipe while the reply is written
				if err := p.conn.Send(tc.req); err != nil {
					t.Errorf("Send: %v", err)
				}
			}()
			got, ok := p.recv(t).(ipc.Reply)
			if !ok {
				t.Fatalf("received %T, want Reply", got)
			}
			if tc.wantErr != "" {
				if !strings.HasPrefix(got.Err, tc.wantErr) {
					t.Errorf("Reply.Err = %q, want prefix %q", got.Err, tc.wantErr)
				}
				got.Err = ""
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Reply = %.120v, want %.120v", got, tc.want)
			}
			p.s2cW.Close()
			if err := <-served; !errors.Is(err, ipc.ErrPeerGone) || !errors.Is(err, io.EOF) {
				t.Errorf("Serve = %v, want ErrPeerGone wrapping io.EOF", err)
			}
		})
	}
}

// TestChildLargeBodiesRecycled: Serve recycles each large Request body once its
// Reply is written, and the next Requests are read into that memory. Handlers
// that return their body as the Reply, many at once and of mixed sizes, must
// still each answer with exactly the bytes they were sent.
func TestChildLargeBodiesRecycled(t *testing.T) {
	t.Parallel()
	const n = 64
	p := newPair(t)
	served := p.serve(t.Context(), func(_ context.Context, _ string, body []byte) ([]byte, error) {
		runtime.Gosched() // let other Requests be decoded while this one runs
		return body, nil
	})
	body := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 5000+(i*37117)%200000) }
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := p.conn.Send(ipc.Request{ID: uint64(i), Method: "echo", Body: body(i)}); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for range n {
		r := p.recv(t).(ipc.Reply)
		if want := body(int(r.ID)); !bytes.Equal(r.Body, want) {
			t.Fatalf("Reply %d: %d bytes, first %v; want %d bytes of %d", r.ID, len(r.Body), r.Body[:1], len(want), want[0])
		}
		ipc.Recycle(r.Body)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	p.s2cW.Close()
	if err := <-served; !errors.Is(err, ipc.ErrPeerGone) {
		t.Errorf("Serve = %v, want ErrPeerGone", err)
	}
}

// TestChildConcurrentRequests: handlers run in their own goroutines, so n
// handlers that each wait for all n to have started do finish.
func TestChildConcurrentRequests(t *testing.T) {
	t.Parallel()
	const n = 8
	p := newPair(t)
	var mu sync.Mutex
	started := 0
	all := make(chan struct{})
	served := p.serve(t.Context(), func(ctx context.Context, method string, body []byte) ([]byte, error) {
		mu.Lock()
		if started++; started == n {
			close(all)
		}
		mu.Unlock()
		<-all
		return body, nil
	})
	for i := range n {
		p.send(t, ipc.Request{ID: uint64(i), Method: "wait", Body: []byte{byte(i)}})
	}
	seen := make(map[uint64]bool)
	for range n {
		r := p.recv(t).(ipc.Reply)
		if seen[r.ID] || !bytes.Equal(r.Body, []byte{byte(r.ID)}) || r.Err != "" {
			t.Fatalf("bad or duplicate Reply %+v", r)
		}
		seen[r.ID] = true
	}
	p.s2cW.Close()
	if err := <-served; !errors.Is(err, ipc.ErrPeerGone) {
		t.Errorf("Serve = %v, want ErrPeerGone", err)
	}
}

func TestChildStop(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	served := p.serve(t.Context(), echo)
	before := time.Now()
	p.send(t, ipc.Stop{Deadline: time.Minute})
	if m := p.recv(t); m != (ipc.Stopping{}) {
		t.Fatalf("received %#v, want Stopping", m)
	}
	if err := <-served; err != ipc.ErrStopRequested {
		t.Fatalf("Serve = %v, want ErrStopRequested", err)
	}
	after := time.Now()
	dl, ok := p.kid.StopDeadline()
	if !ok || dl.Before(before.Add(time.Minute)) || dl.After(after.Add(time.Minute)) {
		t.Errorf("StopDeadline = %v, %v; want about a minute after the Stop", dl, ok)
	}
}

func TestChildNoStopDeadlineWithoutStop(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	if dl, ok := p.kid.StopDeadline(); ok || !dl.IsZero() {
		t.Errorf("StopDeadline = %v, %v before any Stop", dl, ok)
	}
}

// TestChildStopInFlight: after Stop, requests already running may finish within
// the deadline; past it their context is cancelled. Serve waits for them.
func TestChildStopInFlight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		deadline time.Duration
		release  bool // let the handler finish by itself after Stopping
		want     ipc.Reply
	}{
		{"finishes within the deadline", time.Minute, true, ipc.Reply{ID: 1, Body: []byte("done")}},
		{"cancelled at the deadline", 10 * time.Millisecond, false, ipc.Reply{ID: 1, Err: "context canceled"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			started, release := make(chan struct{}), make(chan struct{})
			served := p.serve(t.Context(), func(ctx context.Context, _ string, _ []byte) ([]byte, error) {
				close(started)
				select {
				case <-release:
					return []byte("done"), nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			})
			p.send(t, ipc.Request{ID: 1, Method: "slow"})
			<-started
			p.send(t, ipc.Stop{Deadline: tc.deadline})
			if m := p.recv(t); m != (ipc.Stopping{}) {
				t.Fatalf("received %#v, want Stopping", m)
			}
			if tc.release {
				select {
				case err := <-served:
					t.Fatalf("Serve returned %v with a handler still running", err)
				default:
				}
				close(release)
			}
			if m := p.recv(t); !reflect.DeepEqual(m, tc.want) {
				t.Errorf("received %#v, want %#v", m, tc.want)
			}
			if err := <-served; err != ipc.ErrStopRequested {
				t.Errorf("Serve = %v, want ErrStopRequested", err)
			}
		})
	}
}

// TestChildServeEnds: the ways Serve ends other than Stop, each cancelling a
// handler in flight and waiting for it.
func TestChildServeEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		end  func(p *pair, cancel context.CancelFunc)
		want []error
	}{
		{"supervisor gone", func(p *pair, _ context.CancelFunc) { p.s2cW.Close() }, []error{ipc.ErrPeerGone, io.EOF}},
		{"context cancelled", func(_ *pair, cancel context.CancelFunc) { cancel() }, []error{context.Canceled}},
		{"Close", func(p *pair, _ context.CancelFunc) { p.kid.Close() }, []error{ipc.ErrClosed}},
		{"truncated frame", func(p *pair, _ context.CancelFunc) {
			p.s2cW.Write(frame(byte(ipc.TypeRequest), 1, 2)[:6])
			p.s2cW.Close()
		}, []error{ipc.ErrTruncated, io.ErrUnexpectedEOF}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			started := make(chan struct{})
			handlerErr := make(chan error, 1)
			served := p.serve(ctx, func(ctx context.Context, _ string, _ []byte) ([]byte, error) {
				close(started)
				<-ctx.Done()
				handlerErr <- ctx.Err()
				return nil, ctx.Err()
			})
			p.send(t, ipc.Request{ID: 1, Method: "block"})
			<-started
			tc.end(p, cancel)
			err := <-served
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Errorf("Serve = %v, want one wrapping %v", err, want)
				}
			}
			// Serve returned, so the handler has returned: its result is there.
			select {
			case err := <-handlerErr:
				if err == nil {
					t.Error("handler context not done")
				}
			default:
				t.Error("Serve returned before its handler")
			}
		})
	}
}

// TestChildUnexpectedFrames: a supervisor that sends what only a child sends, or
// garbage, ends Serve with a protocol error.
func TestChildUnexpectedFrames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  func(t testing.TB) []byte
		want error
		text string
	}{
		{"Heartbeat", func(t testing.TB) []byte { return encodeAll(t, ipc.Heartbeat{Seq: 1}) },
			ipc.ErrUnexpectedMessage, "ipc: Heartbeat from the supervisor"},
		{"HelloAck again", func(t testing.TB) []byte { return encodeAll(t, ipc.HelloAck{Version: 1}) },
			ipc.ErrUnexpectedMessage, "ipc: HelloAck from the supervisor"},
		{"Reply", func(t testing.TB) []byte { return encodeAll(t, ipc.Reply{ID: 1}) }, ipc.ErrUnexpectedMessage, ""},
		{"garbage", func(testing.TB) []byte { return []byte("\xff\xff\xff\xff") }, ipc.ErrFrameTooLarge, ""},
		{"unknown type", func(testing.TB) []byte { return frame(0x42) }, ipc.ErrUnknownType, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			served := p.serve(t.Context(), echo)
			if _, err := p.s2cW.Write(tc.raw(t)); err != nil {
				t.Fatal(err)
			}
			err := <-served
			if !errors.Is(err, tc.want) {
				t.Fatalf("Serve = %v, want one wrapping %v", err, tc.want)
			}
			if tc.text != "" && err.Error() != tc.text {
				t.Errorf("error text = %q, want %q", err, tc.text)
			}
		})
	}
}

func TestChildClose(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.kid.StartHeartbeats(time.Millisecond)
	p.kid.Progress()
	if err := p.kid.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.kid.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, f := range map[string]func() error{
		"Ready":     p.kid.Ready,
		"SetStatus": func() error { return p.kid.SetStatus("x") },
		"Serve":     func() error { return p.kid.Serve(t.Context(), echo) },
	} {
		if err := f(); err != ipc.ErrClosed {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	p.kid.StartHeartbeats(time.Millisecond) // does nothing after Close
	// Nothing more may come: at most the one heartbeat that Close may have raced.
	p.c2sW.Close()
	for {
		m, err := p.conn.Recv()
		if errors.Is(err, ipc.ErrPeerGone) {
			break
		}
		if err != nil || m != (ipc.Heartbeat{Seq: 1}) {
			t.Fatalf("after Close: %#v, %v", m, err)
		}
	}
}

func TestChildServeTwice(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	served := p.serve(t.Context(), echo)
	// Causal event: the first Serve is running once it answers.
	p.send(t, ipc.Request{ID: 1, Method: "m"})
	p.recv(t)
	if err := p.kid.Serve(t.Context(), echo); err == nil || errors.Is(err, ipc.ErrClosed) {
		t.Errorf("second Serve = %v, want an error", err)
	}
	p.s2cW.Close()
	<-served
}
