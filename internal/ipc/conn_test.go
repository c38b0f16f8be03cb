package ipc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/ipc"
)

// TestConnRecvRefusesSupervisorMessages: what only a supervisor (or the
// handshake) sends is an error from Recv, and the stream stays in sync.
func TestConnRecvRefusesSupervisorMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  ipc.Message
		text string
	}{
		{"Hello after the handshake", ipc.Hello{Version: 1}, "ipc: Hello from the child"},
		{"HelloAck", ipc.HelloAck{Version: 1}, "ipc: HelloAck from the child"},
		{"Request", ipc.Request{ID: 1, Method: "m"}, "ipc: Request from the child"},
		{"Stop", ipc.Stop{}, "ipc: Stop from the child"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, w := pipe(t)
			w.Write(encodeAll(t, tc.msg, ipc.Ready{}))
			w.Close()
			c := ipc.NewConn(r, io.Discard, 0)
			_, err := c.Recv()
			if !errors.Is(err, ipc.ErrUnexpectedMessage) || err.Error() != tc.text {
				t.Fatalf("Recv = %v, want %q wrapping ErrUnexpectedMessage", err, tc.text)
			}
			if m, err := c.Recv(); err != nil || m != (ipc.Ready{}) {
				t.Errorf("next Recv = %#v, %v; want Ready", m, err)
			}
			if _, err := c.Recv(); !errors.Is(err, ipc.ErrPeerGone) || !errors.Is(err, io.EOF) {
				t.Errorf("Recv at the end = %v, want ErrPeerGone wrapping io.EOF", err)
			}
		})
	}
}

func TestConnSendRefusesChildMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  ipc.Message
	}{
		{"Hello", ipc.Hello{Version: 1}},
		{"HelloAck", ipc.HelloAck{Version: 1}},
		{"Ready", ipc.Ready{}},
		{"Heartbeat", ipc.Heartbeat{Seq: 1}},
		{"Status", ipc.Status{Text: "x"}},
		{"Reply", ipc.Reply{ID: 1}},
		{"Stopping", ipc.Stopping{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := new(writeRecorder)
			c := ipc.NewConn(eofReader{}, rec, 0)
			if err := c.Send(tc.msg); !errors.Is(err, ipc.ErrUnexpectedMessage) {
				t.Errorf("Send = %v, want ErrUnexpectedMessage", err)
			}
			if err := c.Send(nil); !errors.Is(err, ipc.ErrMalformed) {
				t.Errorf("Send(nil) = %v, want ErrMalformed", err)
			}
			if len(rec.writes) != 0 {
				t.Errorf("%d writes for refused messages", len(rec.writes))
			}
		})
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func TestPending(t *testing.T) {
	t.Parallel()
	gone := errors.New("child exited")
	tests := []struct {
		name string
		run  func(t *testing.T, p *ipc.Pending)
	}{
		{"resolve delivers to the right request", func(t *testing.T, p *ipc.Pending) {
			id1, ch1, _ := p.Add()
			id2, ch2, _ := p.Add()
			if id1 == 0 || id1 == id2 {
				t.Fatalf("IDs %d, %d: want distinct and non-zero", id1, id2)
			}
			if !p.Resolve(ipc.Reply{ID: id2, Body: []byte("two")}) || !p.Resolve(ipc.Reply{ID: id1, Err: "one"}) {
				t.Fatal("Resolve of a pending request reported false")
			}
			if r := <-ch1; r.Err != nil || r.Reply.Err != "one" {
				t.Errorf("first result = %+v", r)
			}
			if r := <-ch2; r.Err != nil || string(r.Reply.Body) != "two" {
				t.Errorf("second result = %+v", r)
			}
			if p.Len() != 0 {
				t.Errorf("Len = %d after both replies", p.Len())
			}
		}},
		{"stray and duplicate replies are reported", func(t *testing.T, p *ipc.Pending) {
			if p.Resolve(ipc.Reply{ID: 99}) {
				t.Error("Resolve of an unknown ID reported true")
			}
			id, _, _ := p.Add()
			p.Resolve(ipc.Reply{ID: id})
			if p.Resolve(ipc.Reply{ID: id}) {
				t.Error("second Resolve of an ID reported true")
			}
		}},
		{"removed requests get nothing", func(t *testing.T, p *ipc.Pending) {
			id, ch, _ := p.Add()
			if !p.Remove(id) || p.Remove(id) {
				t.Fatal("Remove should report true once")
			}
			if p.Resolve(ipc.Reply{ID: id}) {
				t.Error("Resolve after Remove reported true")
			}
			p.Fail(gone)
			select {
			case r := <-ch:
				t.Errorf("a removed request received %+v", r)
			default:
			}
		}},
		{"fail ends everything in flight", func(t *testing.T, p *ipc.Pending) {
			var chans []<-chan ipc.Result
			for range 5 {
				_, ch, err := p.Add()
				if err != nil {
					t.Fatal(err)
				}
				chans = append(chans, ch)
			}
			if n := p.Fail(gone); n != 5 {
				t.Errorf("Fail ended %d requests, want 5", n)
			}
			for _, ch := range chans {
				if r := <-ch; r.Err != gone {
					t.Errorf("result = %+v, want Err %v", r, gone)
				}
			}
			if _, _, err := p.Add(); err != gone {
				t.Errorf("Add after Fail = %v, want %v", err, gone)
			}
			if n := p.Fail(errors.New("later")); n != 0 {
				t.Errorf("second Fail ended %d requests", n)
			}
			if _, _, err := p.Add(); err != gone {
				t.Errorf("Add after a second Fail = %v, want the first error", err)
			}
		}},
		{"fail with nil means peer gone", func(t *testing.T, p *ipc.Pending) {
			_, ch, _ := p.Add()
			p.Fail(nil)
			if r := <-ch; !errors.Is(r.Err, ipc.ErrPeerGone) {
				t.Errorf("result = %+v, want ErrPeerGone", r)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, new(ipc.Pending))
		})
	}
}

// TestPendingOverPipes: many concurrent callers through Conn, Pending and a
// Child; then the child's pipe breaks with requests in flight, and they fail.
func TestPendingOverPipes(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	arrived, hold := make(chan struct{}, 3), make(chan struct{})
	served := p.serve(t.Context(), func(ctx context.Context, method string, body []byte) ([]byte, error) {
		if method == "hold" {
			arrived <- struct{}{}
			<-hold
		}
		return echo(ctx, method, body)
	})
	var pending ipc.Pending
	readerDone := make(chan struct{})
	go func() { // the reader goroutine: Recv, Resolve, and Fail at the end
		defer close(readerDone)
		for {
			m, err := p.conn.Recv()
			if err != nil {
				pending.Fail(err)
				return
			}
			if r, ok := m.(ipc.Reply); !ok || !pending.Resolve(r) {
				panic(fmt.Sprintf("unexpected %#v", m))
			}
		}
	}()
	call := func(method, body string) ipc.Result {
		id, ch, err := pending.Add()
		if err != nil {
			return ipc.Result{Err: err}
		}
		if err := p.conn.Send(ipc.Request{ID: id, Method: method, Body: []byte(body)}); err != nil {
			pending.Remove(id)
			return ipc.Result{Err: err}
		}
		select {
		case r := <-ch:
			return r
		case <-time.After(time.Minute): // a caller's own timeout
			pending.Remove(id)
			return ipc.Result{Err: context.DeadlineExceeded}
		}
	}

	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			body := fmt.Sprint(i)
			if r := call("echo", body); r.Err != nil || string(r.Reply.Body) != "echo:"+body {
				t.Errorf("call %d = %+v", i, r)
			}
		})
	}
	wg.Wait()

	held := make(chan ipc.Result, 3)
	for range 3 {
		go func() { held <- call("hold", "") }()
	}
	// Once the three reached the handler they are in flight: break the child's
	// side of the pipe.
	for range 3 {
		<-arrived
	}
	if n := pending.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	p.c2sW.Close()
	for range 3 {
		if r := <-held; !errors.Is(r.Err, ipc.ErrPeerGone) {
			t.Errorf("held call = %+v, want ErrPeerGone", r)
		}
	}
	<-readerDone
	close(hold)
	p.s2cW.Close()
	<-served
}
