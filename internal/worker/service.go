package worker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"
)

// serviceConfig is the parsed command line of the "service" worker.
type serviceConfig struct {
	heartbeat  time.Duration // heartbeat interval; the main loop calls Progress twice as often
	slowStart  time.Duration // wait this long (or until stopped) before Ready
	neverReady bool          // never say Ready; wait for the stop
	hang       bool          // after Ready, the main loop stops making progress (but still honours the stop)
	ignoreStop bool          // on the stop, do not return: block forever
	fail       bool          // after Ready, return an error at once
	panicMain  bool          // after Ready, panic in the main loop
}

// errServiceFail is what --fail returns.
var errServiceFail = errors.New("service: failing on request (--fail)")

func parseServiceFlags(args []string, h Host) (serviceConfig, error) {
	var cfg serviceConfig
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(h.Stderr())
	fs.DurationVar(&cfg.heartbeat, "heartbeat", defaultHeartbeat, "heartbeat interval")
	fs.DurationVar(&cfg.slowStart, "slow-start", 0, "wait this long before Ready")
	fs.BoolVar(&cfg.neverReady, "never-ready", false, "never say Ready")
	fs.BoolVar(&cfg.hang, "hang", false, "after Ready, the main loop makes no more progress (no heartbeats), but still stops when asked")
	fs.BoolVar(&cfg.ignoreStop, "ignore-stop", false, "when asked to stop, block forever instead of returning")
	fs.BoolVar(&cfg.fail, "fail", false, "after Ready, return an error (exit status 1)")
	fs.BoolVar(&cfg.panicMain, "panic", false, "after Ready, panic in the main loop (exit status 2)")
	if err := fs.Parse(args); err != nil {
		return cfg, fmt.Errorf("service: %w", err)
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("service: unexpected argument %q", fs.Arg(0))
	case cfg.heartbeat <= 0:
		return cfg, fmt.Errorf("service: --heartbeat %v is not positive", cfg.heartbeat)
	case cfg.slowStart < 0:
		return cfg, fmt.Errorf("service: --slow-start %v is negative", cfg.slowStart)
	}
	return cfg, nil
}

// runService is the "service" worker, written once against Host: it runs as a
// goroutine inside the supervisor (kind goroutine) and as a process (kinds reexec
// and exec) unchanged. See the package doc.
func runService(ctx context.Context, h Host, args []string) error {
	cfg, err := parseServiceFlags(args, h)
	if err != nil {
		return err
	}
	h.Handle(func(ctx context.Context, method string, body []byte) ([]byte, error) {
		if out, err, ok := handleLease(ctx, h, method, body, h.Stderr(), func() { panic("service: dying while holding a lease") }); ok {
			return out, err
		}
		return handleBasic(ctx, method, body, func() { panic("service: crashing on request") })
	})
	fmt.Fprintf(h.Stdout(), "service %s started\n", h.Name())

	if cfg.slowStart > 0 {
		t := time.NewTimer(cfg.slowStart)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return stopped(ctx, h, cfg)
		}
	}
	if cfg.neverReady {
		<-ctx.Done()
		return stopped(ctx, h, cfg)
	}
	if err := h.Ready(); err != nil {
		return fmt.Errorf("service: ready: %w", err)
	}
	h.StartHeartbeats(cfg.heartbeat)
	switch {
	case cfg.fail:
		return errServiceFail
	case cfg.panicMain:
		panic("service: panicking on request (--panic)")
	case cfg.hang:
		fmt.Fprintln(h.Stderr(), "[WARN] service: main loop hanging (--hang)")
		<-ctx.Done() // no Progress any more
		return stopped(ctx, h, cfg)
	}
	progress := time.NewTicker(max(cfg.heartbeat/2, time.Millisecond))
	defer progress.Stop()
	for {
		select {
		case <-progress.C:
			h.Progress()
		case <-ctx.Done():
			return stopped(ctx, h, cfg)
		}
	}
}

// stopped ends the worker once ctx is done: it says so and returns nil, or with
// --ignore-stop blocks forever.
func stopped(ctx context.Context, h Host, cfg serviceConfig) error {
	if cfg.ignoreStop {
		fmt.Fprintln(h.Stderr(), "[WARN] service: ignoring the stop (--ignore-stop)")
		<-make(chan struct{}) // never closed: a goroutine worker leaks here, a process is SIGKILLed
	}
	fmt.Fprintf(h.Stdout(), "service stopping (%v)\n", context.Cause(ctx))
	return nil
}
