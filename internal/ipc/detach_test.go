package ipc

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

// A reader stopped by a read deadline hands over what it had read and not
// decoded; a Conn resumed from it decodes the stream on from there.
func TestDetachAndResume(t *testing.T) {
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	defer wr.Close()
	f1, _ := Frame(Status{Text: "one"})
	f2, _ := Frame(Status{Text: "two"})
	half := len(f2) / 2
	if _, err := wr.Write(append(bytes.Clone(f1), f2[:half]...)); err != nil {
		t.Fatal(err)
	}
	c := NewConn(rd, &bytes.Buffer{}, 0)
	if m, err := c.Recv(); err != nil || m.(Status).Text != "one" {
		t.Fatalf("Recv: %v, %v", m, err)
	}
	rd.SetReadDeadline(time.Now())
	if _, err := c.Recv(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Recv after the deadline: %v", err)
	}
	rest, err := c.Detach()
	if err != nil || !bytes.Equal(rest, f2[:half]) {
		t.Fatalf("Detach: %q, %v; want %q", rest, err, f2[:half])
	}
	rd.SetReadDeadline(time.Time{})
	if _, err := wr.Write(f2[half:]); err != nil {
		t.Fatal(err)
	}
	c2 := NewResumedConn(rd, &bytes.Buffer{}, 0, rest)
	if m, err := c2.Recv(); err != nil || m.(Status).Text != "two" {
		t.Fatalf("resumed Recv: %v, %v", m, err)
	}
	// Detach again before the rest was even read: it is handed on whole.
	f3, _ := Frame(Heartbeat{Seq: 3})
	c3 := NewResumedConn(rd, &bytes.Buffer{}, 0, f3)
	rd.SetReadDeadline(time.Now())
	if rest, err := c3.Detach(); err != nil || !bytes.Equal(rest, f3) {
		t.Fatalf("Detach of an unread rest: %q, %v", rest, err)
	}
	if n := NewPendingAfter(41); func() uint64 { id, _, _ := n.Add(); return id }() != 42 || n.Last() != 42 {
		t.Errorf("NewPendingAfter(41): first id not 42, or Last wrong")
	}
}

// Stopped inside a frame longer than the read buffer, the stream cannot be
// handed over: Detach says so.
func TestDetachInsideLargeFrame(t *testing.T) {
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	defer wr.Close()
	big, err := Frame(Reply{ID: 1, Body: bytes.Repeat([]byte("x"), 3*readBufSize)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wr.Write(big[:2*readBufSize]); err != nil {
		t.Fatal(err)
	}
	c := NewConn(rd, &bytes.Buffer{}, 0)
	rd.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Recv(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Recv: %v", err)
	}
	if _, err := c.Detach(); !errors.Is(err, ErrInsideFrame) {
		t.Fatalf("Detach inside a large frame: %v, want ErrInsideFrame", err)
	}
}
