// Command supervisor-go-worker is a worker for the supervisor's pipe protocol
// written outside its module, against the public package
// github.com/supervisor/supervisor/protocol. It answers echo and hash as
// cmd/child --protocol does. Run it with protocol = true:
//
//	[program:gw]
//	command = /path/to/supervisor-go-worker
//	protocol = true
//	heartbeat_timeout = 1s
//
// It exits 0 after a Stop ("stopping on request" on stdout) or when the
// supervisor goes away ("supervisor gone" on stderr), 1 on a protocol error.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/supervisor/supervisor/protocol"
)

func main() { os.Exit(run()) }

func run() int {
	w, err := protocol.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "go worker:", err)
		return 1
	}
	defer w.Close()
	served := make(chan error, 1)
	go func() { served <- w.Serve(context.Background(), handle) }()
	if err := w.Ready(); err != nil {
		fmt.Fprintln(os.Stderr, "go worker: ready:", err)
		return 1
	}
	w.SetStatus("go worker outside the module")
	const interval = 100 * time.Millisecond
	w.StartHeartbeats(interval)
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	for {
		select {
		case err := <-served:
			switch {
			case errors.Is(err, protocol.ErrStopRequested):
				fmt.Println("stopping on request")
				return 0
			case errors.Is(err, protocol.ErrPeerGone):
				fmt.Fprintln(os.Stderr, "supervisor gone")
				return 0
			}
			fmt.Fprintln(os.Stderr, "go worker:", err)
			return 1
		case <-tick.C:
			w.Progress() // the main loop's proof of progress
		}
	}
}

func handle(ctx context.Context, method string, body []byte) ([]byte, error) {
	switch method {
	case "echo":
		return body, nil
	case "hash":
		sum := sha256.Sum256(body)
		return []byte(hex.EncodeToString(sum[:])), nil
	}
	return nil, fmt.Errorf("unknown method %q", method)
}
