package ipc_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/supervisor/supervisor/internal/ipc"
)

// encodeAll returns the frames of msgs, back to back.
func encodeAll(t testing.TB, msgs ...ipc.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := ipc.NewEncoder(&buf)
	for _, m := range msgs {
		if err := e.Encode(m); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestServerHandshake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fromChild func(t testing.TB) []byte // what the child writes
		wantHello ipc.Hello
		want      error  // sentinel; nil for success
		text      string // whole error text, if not empty
		wantAck   bool   // the child must receive HelloAck{ProtocolVersion}
	}{
		{
			name:      "good",
			fromChild: func(t testing.TB) []byte { return encodeAll(t, ipc.Hello{Version: 1, Pid: 42, Name: "w"}) },
			wantHello: ipc.Hello{Version: 1, Pid: 42, Name: "w"},
			wantAck:   true,
		},
		{
			name:      "bad version",
			fromChild: func(t testing.TB) []byte { return encodeAll(t, ipc.Hello{Version: 7, Pid: 42, Name: "w"}) },
			wantHello: ipc.Hello{Version: 7, Pid: 42, Name: "w"},
			want:      ipc.ErrVersion,
			text:      "ipc: protocol version 7, want 1",
			wantAck:   true, // so the child can report the mismatch too
		},
		{
			name:      "wrong first frame",
			fromChild: func(t testing.TB) []byte { return encodeAll(t, ipc.Heartbeat{Seq: 1}) },
			want:      ipc.ErrUnexpectedMessage,
			text:      "ipc: first frame is Heartbeat, want Hello",
		},
		{
			name:      "garbage",
			fromChild: func(testing.TB) []byte { return []byte("Traceback (most recent call last):\n") },
			want:      ipc.ErrFrameTooLarge,
		},
		{
			name:      "unknown type",
			fromChild: func(testing.TB) []byte { return frame(0x7f) },
			want:      ipc.ErrUnknownType,
		},
		{
			name: "truncated Hello",
			fromChild: func(t testing.TB) []byte {
				b := encodeAll(t, ipc.Hello{Version: 1, Name: "worker"})
				return b[:len(b)-2]
			},
			want: ipc.ErrTruncated,
		},
		{
			name:      "child closed the pipe",
			fromChild: func(testing.TB) []byte { return nil },
			want:      ipc.ErrPeerGone,
			text:      "ipc: peer closed the pipe before Hello: EOF",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c2sR, c2sW := pipe(t) // child -> supervisor
			s2cR, s2cW := pipe(t) // supervisor -> child
			go func() {
				c2sW.Write(tc.fromChild(t))
				c2sW.Close()
			}()
			hello, err := ipc.ServerHandshake(ipc.NewDecoder(c2sR, 0), ipc.NewEncoder(s2cW))
			s2cW.Close()
			if tc.want == nil && err != nil {
				t.Fatalf("ServerHandshake: %v", err)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("ServerHandshake error = %v, want one wrapping %v", err, tc.want)
			}
			if tc.text != "" && err.Error() != tc.text {
				t.Errorf("error text = %q, want %q", err, tc.text)
			}
			if hello != tc.wantHello {
				t.Errorf("Hello = %+v, want %+v", hello, tc.wantHello)
			}
			got, err := io.ReadAll(s2cR)
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			if tc.wantAck {
				want = encodeAll(t, ipc.HelloAck{Version: ipc.ProtocolVersion})
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the child received % x, want % x", got, want)
			}
		})
	}
}

func TestClientHandshake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		fromSupervisor func(t testing.TB) []byte
		want           error
		text           string
	}{
		{
			name:           "good",
			fromSupervisor: func(t testing.TB) []byte { return encodeAll(t, ipc.HelloAck{Version: 1}) },
		},
		{
			name:           "bad version",
			fromSupervisor: func(t testing.TB) []byte { return encodeAll(t, ipc.HelloAck{Version: 2}) },
			want:           ipc.ErrVersion,
			text:           "ipc: protocol version 2, want 1",
		},
		{
			name:           "wrong first frame",
			fromSupervisor: func(t testing.TB) []byte { return encodeAll(t, ipc.Request{ID: 1, Method: "m"}) },
			want:           ipc.ErrUnexpectedMessage,
			text:           "ipc: first frame is Request, want HelloAck",
		},
		{
			name:           "garbage",
			fromSupervisor: func(testing.TB) []byte { return bytes.Repeat([]byte{0xff}, 16) },
			want:           ipc.ErrFrameTooLarge,
		},
		{
			name:           "supervisor closed the pipe",
			fromSupervisor: func(testing.TB) []byte { return nil },
			want:           ipc.ErrPeerGone,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c2sR, c2sW := pipe(t)
			s2cR, s2cW := pipe(t)
			s2cW.Write(tc.fromSupervisor(t)) // small: fits in the pipe
			s2cW.Close()
			err := ipc.ClientHandshake(ipc.NewDecoder(s2cR, 0), ipc.NewEncoder(c2sW), 99, "kid")
			c2sW.Close()
			if tc.want == nil && err != nil {
				t.Fatalf("ClientHandshake: %v", err)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("ClientHandshake error = %v, want one wrapping %v", err, tc.want)
			}
			if tc.text != "" && err.Error() != tc.text {
				t.Errorf("error text = %q, want %q", err, tc.text)
			}
			// Whatever the answer, the child's Hello went out first.
			m, err := ipc.NewDecoder(c2sR, 0).Decode()
			if want := (ipc.Hello{Version: ipc.ProtocolVersion, Pid: 99, Name: "kid"}); err != nil || !reflect.DeepEqual(m, want) {
				t.Errorf("the supervisor received %v, %v; want %+v", m, err, want)
			}
		})
	}
}

// TestHandshakeVersionMismatchBothSides: a child of another version and a v1
// supervisor both end the handshake with ErrVersion.
func TestHandshakeVersionMismatchBothSides(t *testing.T) {
	t.Parallel()
	c2sR, c2sW := pipe(t)
	s2cR, s2cW := pipe(t)
	childErr := make(chan error, 1)
	go func() {
		// A "version 2" child: sends its own Hello, checks the ack by hand.
		if err := ipc.NewEncoder(c2sW).Encode(ipc.Hello{Version: 2, Name: "future"}); err != nil {
			childErr <- err
			return
		}
		m, err := ipc.NewDecoder(s2cR, 0).Decode()
		if err != nil {
			childErr <- err
			return
		}
		if ack := m.(ipc.HelloAck); ack.Version != 2 {
			childErr <- nil // it sees the refusal
			return
		}
		childErr <- errors.New("the child was accepted")
	}()
	hello, err := ipc.ServerHandshake(ipc.NewDecoder(c2sR, 0), ipc.NewEncoder(s2cW))
	if !errors.Is(err, ipc.ErrVersion) || hello.Name != "future" {
		t.Errorf("ServerHandshake = %+v, %v; want the Hello and ErrVersion", hello, err)
	}
	if err := <-childErr; err != nil {
		t.Errorf("child: %v", err)
	}
}

// TestNewChild: NewChild runs the client handshake against a real supervisor side.
func TestNewChild(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	want := ipc.Hello{Version: ipc.ProtocolVersion, Pid: 4242, Name: "test-worker"}
	if p.hello != want {
		t.Errorf("Hello = %+v, want %+v", p.hello, want)
	}
}

func TestNewChildRefused(t *testing.T) {
	t.Parallel()
	_, c2sW := pipe(t)
	s2cR, s2cW := pipe(t)
	s2cW.Write(encodeAll(t, ipc.HelloAck{Version: 3}))
	kid, err := ipc.NewChild(s2cR, c2sW, 1, "w")
	if !errors.Is(err, ipc.ErrVersion) || kid != nil {
		t.Errorf("NewChild = %v, %v; want nil, ErrVersion", kid, err)
	}
}
