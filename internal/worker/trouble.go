package worker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// The "trouble" worker: a Host-based worker (a Func, so the same function runs
// as a goroutine and as a process) that misbehaves on request, for `supervisor
// compare` (internal/compare). It deliberately breaks the rules of a Func on some
// requests (os.Exit, a fatal runtime error, writing shared package state): that
// is what compare measures. Running those requests as a goroutine kills the
// process that runs it, so compare sends them to goroutine workers only inside a
// sacrificial re-executed supervisor.
//
//	trouble [--heartbeat DUR] [--ignore-stop]
//
// After Ready it starts heartbeats every --heartbeat (default 100ms) and calls
// Progress from its main loop twice per interval until stopped; then it returns
// nil, or with --ignore-stop blocks forever (a process is SIGKILLed after the
// grace, a goroutine is leaked). Requests:
//
//	echo          replies with the body
//	pid           replies with os.Getpid() of the process running it (for a
//	              goroutine worker, the supervisor's)
//	panic         panics in the handler (a crash of the worker: status 2)
//	fatal         makes the runtime die with "fatal error: concurrent map writes"
//	              (which recover cannot catch): GOMAXPROCS raised to 2 and three
//	              goroutines write one map until the runtime notices; never replies
//	exit          calls os.Exit with the code in the body (default 7); never replies
//	scribble KEY  overwrites the package-level table's entry KEY with
//	              "scribbled by NAME": state every worker of the same process shares
//	read KEY      replies with the table's entry KEY, or "pristine" if unset
//	deadlock      replies "deadlocking", then the main loop deadlocks on two
//	              mutexes with a second goroutine (certainly, not by timing): no
//	              more Progress, no return on stop; Go's deadlock detector does
//	              not fire, since other goroutines live
//	other         an error reply

// troubleUnset is what "read" answers for a key nobody scribbled on.
const troubleUnset = "pristine"

// troubleTable is the state every trouble worker of one process shares: the
// package-level "cache" that a buggy goroutine worker can corrupt for its
// siblings. Guarded by its mutex (the corruption is a logic error, not a data
// race, so the race detector stays quiet).
var troubleTable = struct {
	mu sync.Mutex
	m  map[string]string
}{m: map[string]string{}}

func runTrouble(ctx context.Context, h Host, args []string) error {
	fs := flag.NewFlagSet("trouble", flag.ContinueOnError)
	fs.SetOutput(h.Stderr())
	heartbeat := fs.Duration("heartbeat", defaultHeartbeat, "heartbeat interval")
	ignoreStop := fs.Bool("ignore-stop", false, "when asked to stop, block forever instead of returning")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("trouble: %w", err)
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("trouble: unexpected argument %q", fs.Arg(0))
	case *heartbeat <= 0:
		return fmt.Errorf("trouble: --heartbeat %v is not positive", *heartbeat)
	}
	deadlockC := make(chan struct{})
	h.Handle(func(ctx context.Context, method string, body []byte) ([]byte, error) {
		return troubleHandler(ctx, h, deadlockC, method, body)
	})
	if err := h.Ready(); err != nil {
		return fmt.Errorf("trouble: ready: %w", err)
	}
	h.StartHeartbeats(*heartbeat)
	progress := time.NewTicker(max(*heartbeat/2, time.Millisecond))
	defer progress.Stop()
	for {
		select {
		case <-progress.C:
			h.Progress()
		case <-deadlockC:
			fmt.Fprintln(h.Stderr(), "[WARN] trouble: main loop deadlocking on request")
			deadlock() // protocol.go: never returns
		case <-ctx.Done():
			if *ignoreStop {
				fmt.Fprintln(h.Stderr(), "[WARN] trouble: ignoring the stop (--ignore-stop)")
				<-make(chan struct{}) // never closed: a goroutine worker leaks here, a process is SIGKILLed
			}
			return nil
		}
	}
}

func troubleHandler(ctx context.Context, h Host, deadlockC chan<- struct{}, method string, body []byte) ([]byte, error) {
	switch method {
	case "echo":
		return body, nil
	case "pid":
		return []byte(strconv.Itoa(os.Getpid())), nil
	case "panic":
		panic("trouble: panicking on request")
	case "fatal":
		concurrentMapWrites(h.Stderr())
		return nil, errors.New("trouble: still alive after concurrent map writes") // unreachable
	case "exit":
		code := 7
		if len(body) > 0 {
			c, err := strconv.Atoi(string(body))
			if err != nil || c < 0 || c > 255 {
				return nil, fmt.Errorf("exit: want a code 0-255, got %q", body)
			}
			code = c
		}
		fmt.Fprintf(h.Stderr(), "[WARN] trouble: calling os.Exit(%d) on request\n", code)
		os.Exit(code)
	case "scribble":
		troubleTable.mu.Lock()
		troubleTable.m[string(body)] = "scribbled by " + h.Name()
		troubleTable.mu.Unlock()
		return []byte("scribbled"), nil
	case "read":
		troubleTable.mu.Lock()
		v, ok := troubleTable.m[string(body)]
		troubleTable.mu.Unlock()
		if !ok {
			v = troubleUnset
		}
		return []byte(v), nil
	case "deadlock":
		select {
		case deadlockC <- struct{}{}: // the main loop took it: it deadlocks now
			return []byte("deadlocking"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("unknown method %q", method)
}

// concurrentMapWrites writes one map from three goroutines at once until the
// runtime notices and dies with "fatal error: concurrent map writes", which no
// recover catches. GOMAXPROCS goes up to at least 2 first: the supervisor and
// its workers run with one P (package procs), and with one P the writers would
// only ever be preempted between two writes, never in the middle of one. It does
// not return.
func concurrentMapWrites(stderr io.Writer) {
	fmt.Fprintln(stderr, "[WARN] trouble: writing one map from three goroutines on request")
	runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))
	m := map[int]int{}
	write := func(seed int) {
		for i := seed; ; i++ {
			m[i%1024] = i
		}
	}
	go write(0)
	go write(1)
	write(2)
}
