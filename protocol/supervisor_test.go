package protocol_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/supervisor/supervisor/internal/ipc"
)

// fakeSupervisor plays the supervisor's side for ExampleNew with internal/ipc's
// Conn over two real pipes.
type fakeSupervisor struct {
	conn           *ipc.Conn
	fromSupervisor *os.File // the worker reads
	toSupervisor   *os.File // the worker writes
	hello          chan string
	msgs           chan ipc.Message
	pending        ipc.Pending
}

func startSupervisor() *fakeSupervisor {
	s2cR, s2cW, err := os.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	c2sR, c2sW, err := os.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	s := &fakeSupervisor{conn: ipc.NewConn(c2sR, s2cW, 0), fromSupervisor: s2cR, toSupervisor: c2sW,
		hello: make(chan string, 1), msgs: make(chan ipc.Message, 16)}
	go func() {
		h, err := s.conn.Handshake()
		if err != nil {
			log.Fatal(err)
		}
		s.hello <- fmt.Sprintf("%s (pid %d)", h.Name, h.Pid)
		for {
			m, err := s.conn.Recv()
			if err != nil {
				close(s.msgs)
				return
			}
			switch m := m.(type) {
			case ipc.Reply:
				s.pending.Resolve(m)
			case ipc.Acquire:
				s.conn.Send(ipc.Lease{ID: m.ID})
				s.msgs <- m
			case ipc.Heartbeat:
			default:
				s.msgs <- m
			}
		}
	}()
	return s
}

// next describes the next message from the worker.
func (s *fakeSupervisor) next() string {
	select {
	case m := <-s.msgs:
		if a, ok := m.(ipc.Acquire); ok {
			return fmt.Sprintf("Acquire %s (limit %d)", a.Name, a.Limit)
		}
		return m.Type().String()
	case <-time.After(30 * time.Second):
		return "nothing within 30s"
	}
}

func (s *fakeSupervisor) request(method, body string) string {
	id, ch, err := s.pending.Add()
	if err != nil {
		log.Fatal(err)
	}
	if err := s.conn.Send(ipc.Request{ID: id, Method: method, Body: []byte(body)}); err != nil {
		log.Fatal(err)
	}
	r := <-ch
	return string(r.Reply.Body) + r.Reply.Err
}

func (s *fakeSupervisor) stop() {
	if err := s.conn.Send(ipc.Stop{Deadline: time.Second}); err != nil {
		log.Fatal(err)
	}
}
