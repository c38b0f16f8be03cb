package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/worker"
)

// hostWorker is the name of the sacrificial supervisor: a process-only built-in
// worker (registered with worker.Register, so any binary that imports this
// package and calls worker.Dispatch first can run it) that runs a Supervisor of
// its own with two "trouble" goroutine workers, "bad" and "sibling", and
// relays requests to them. Its requests:
//
//	pid                  its own pid
//	ask PROG METHOD [B]  the reply of its goroutine worker PROG to METHOD with body B
//	fault METHOD [B]     sends METHOD with body B to "bad"; meant to kill the whole
//	                     process (fatal, exit), so it answers only if it did not
//
// It stops (stopping its goroutine workers) when its own supervisor asks it to,
// as every worker process does.
const hostWorker = "compare-host"

func init() {
	worker.Register(hostWorker, func(args []string, stdout, stderr io.Writer) int {
		return worker.RunProcess(runHost, args, stdout, stderr)
	})
}

// hostSpec is the sacrificial supervisor as a program: re-executed, never
// restarted (its death is the observation).
func hostSpec(name string) supervise.Spec {
	s := supervise.DefaultSpec()
	s.Name = name
	s.Spawner = supervise.SpawnReexec
	s.Command = []string{hostWorker}
	s.Protocol = true
	s.Restart = supervise.RestartNever
	s.MinUptime = 0
	s.StartTimeout = 10 * time.Second
	s.StopGrace = 2 * time.Second
	return s
}

// runHost is the sacrificial supervisor's main, as a worker.Func run in its own
// process by worker.RunProcess (never as a goroutine: it creates the process's
// Reaper).
func runHost(ctx context.Context, host worker.Host, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s: unexpected argument %q", hostWorker, args[0])
	}
	// Warn: its goroutine workers' "[WARN]" lines reach our stderr, written before they die.
	log := hclog.New(&hclog.LoggerOptions{Name: hostWorker, Output: host.Stderr(), Level: hclog.Warn})
	r, err := supervise.NewReaper(log, supervise.ReaperOptions{})
	if err != nil {
		return fmt.Errorf("%s: reaper: %w", hostWorker, err)
	}
	defer r.Close()
	h, err := serve(log, r, troubleSpec("bad", supervise.SpawnGoroutine), troubleSpec("sibling", supervise.SpawnGoroutine))
	if err != nil {
		return fmt.Errorf("%s: %w", hostWorker, err)
	}
	defer h.close()
	wctx, cancel := context.WithTimeout(ctx, rowTimeout)
	err = h.waitRunning(wctx, "bad", "sibling")
	cancel()
	if err != nil {
		return fmt.Errorf("%s: %w", hostWorker, err)
	}
	host.Handle(func(ctx context.Context, method string, body []byte) ([]byte, error) {
		switch method {
		case "pid":
			return []byte(strconv.Itoa(os.Getpid())), nil
		case "ask":
			prog, rest, _ := strings.Cut(string(body), " ")
			m, b, _ := strings.Cut(rest, " ")
			return h.sup.Request(ctx, prog, m, []byte(b))
		case "fault":
			m, b, _ := strings.Cut(string(body), " ")
			if _, err := h.sup.Request(ctx, "bad", m, []byte(b)); err != nil {
				return nil, fmt.Errorf("fault %s: the process survived: %w", m, err)
			}
			return nil, errors.New("fault " + m + ": the process survived")
		}
		return nil, fmt.Errorf("unknown method %q", method)
	})
	if err := host.Ready(); err != nil {
		return fmt.Errorf("%s: ready: %w", hostWorker, err)
	}
	<-ctx.Done()
	return nil
}
