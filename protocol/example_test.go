package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/supervisor/supervisor/protocol"
)

// A whole worker: run it with protocol = true. It answers "echo", proves the
// progress of its main loop with heartbeats, and exits 0 when the supervisor
// asks it to stop or goes away. (clients/go in the repository is this worker as
// its own module.)
func Example() {
	w, err := protocol.Open() // fds 3 and 4, Hello, HelloAck
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	served := make(chan error, 1)
	go func() {
		served <- w.Serve(context.Background(), func(ctx context.Context, method string, body []byte) ([]byte, error) {
			if method == "echo" {
				return body, nil
			}
			return nil, fmt.Errorf("unknown method %q", method)
		})
	}()
	if err := w.Ready(); err != nil {
		log.Fatal(err)
	}
	w.StartHeartbeats(100 * time.Millisecond)
	tick := time.NewTicker(50 * time.Millisecond)
	for {
		select {
		case err := <-served:
			if errors.Is(err, protocol.ErrStopRequested) || errors.Is(err, protocol.ErrPeerGone) {
				os.Exit(0)
			}
			log.Fatal(err)
		case <-tick.C:
			w.Progress() // from the main loop: a deadlocked loop sends no heartbeat
		}
	}
}

// New speaks the protocol over any reader and writer; here the supervisor's side
// is played over two pipes by startSupervisor (supervisor_test.go).
func ExampleNew() {
	sup := startSupervisor()
	w, err := protocol.New(sup.fromSupervisor, sup.toSupervisor, 42, "example")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	fmt.Println("hello from", <-sup.hello)
	served := make(chan error, 1)
	go func() {
		served <- w.Serve(context.Background(), func(ctx context.Context, method string, body []byte) ([]byte, error) {
			return append([]byte(method+": "), body...), nil
		})
	}()
	w.Ready()
	fmt.Println(sup.next())
	fmt.Println(sup.request("echo", "hi"))
	release, err := w.Acquire(context.Background(), "file", 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sup.next())
	release()
	fmt.Println(sup.next())
	sup.stop()
	fmt.Println(errors.Is(<-served, protocol.ErrStopRequested))
	// Output:
	// hello from example (pid 42)
	// Ready
	// echo: hi
	// Acquire file (limit 1)
	// Release
	// true
}
