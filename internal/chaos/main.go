// Command chaos drives the built supervisor (bin/supervisor, bin/child) through
// hostile children and clients and prints one table (`make chaos`): a kill
// storm over many programs (random SIGKILLs, programs that exit at once,
// programs that fork and exit, SIGSTOP/SIGCONT), output floods, a protocol child
// flooding leases and one flooding frames, garbage on a pipe, thousands of idle
// control connections, and at the end the supervisor SIGKILLed.
//
// Everything is local: the supervisor's control socket, its /metrics on
// 127.0.0.1, and the processes it starts. The run is bounded (every wait has a
// deadline) and stops by itself; what it started is killed and reaped before it
// exits, the supervisor's orphaned grandchildren included (this process makes
// itself a child subreaper so that they come to it).
//
// Exit status: 0 when the rows that must be 0 (lost exit statuses, zombies
// older than a second, programs outliving the supervisor) are; 1 otherwise or
// on an error. The targets are printed as pass/fail rows and do not
// change the status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/worker"
)

func main() {
	worker.Dispatch() // the hostile workers (hostile.go) run as this binary
	cfg := defaultConfig()
	flag.StringVar(&cfg.binDir, "bin", "bin", "directory holding the supervisor and child binaries")
	flag.IntVar(&cfg.programs, "programs", cfg.programs, "programs in the kill storm")
	flag.DurationVar(&cfg.storm, "storm", cfg.storm, "how long the kill storm lasts")
	flag.Int64Var(&cfg.floodBytes, "flood-bytes", cfg.floodBytes, "bytes each of the three flooding programs writes")
	flag.IntVar(&cfg.leases, "leases", cfg.leases, "Acquires the lease-flooding child sends")
	flag.IntVar(&cfg.conns, "conns", cfg.conns, "idle control connections")
	flag.IntVar(&cfg.connCap, "conn-cap", cfg.connCap, "connections the control server may hold (the fd target is this + 100 over the baseline)")
	flag.IntVar(&cfg.late, "late", cfg.late, "programs started while the idle connections are open")
	flag.DurationVar(&cfg.rateWindow, "rate-window", cfg.rateWindow, "how long each restart rate is counted")
	flag.Uint64Var(&cfg.seed, "seed", uint64(time.Now().UnixNano()), "random seed of the kill storm")
	flag.Parse()

	log := hclog.New(&hclog.LoggerOptions{Name: "chaos", Output: os.Stderr, Level: hclog.Info})
	exe, err := os.Executable()
	if err != nil {
		log.Error("cannot find this binary", "error", err)
		os.Exit(1)
	}
	cfg.self = exe
	cfg.binDir, err = filepath.Abs(cfg.binDir)
	if err != nil {
		log.Error("bad -bin", "error", err)
		os.Exit(1)
	}
	os.Exit(mainRun(log, cfg, os.Stdout))
}

// mainRun runs the chaos and prints the table to out; it returns the exit status.
func mainRun(log hclog.Logger, cfg config, out io.Writer) int {
	// The supervisor's grandchildren that outlive it come to us, to be killed
	// and reaped (reapLeftovers).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		log.Error("cannot become a child subreaper", "error", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := run(ctx, log, cfg)
	if res != nil {
		res.print(out, cfg)
	}
	if err != nil {
		log.Error("chaos failed", "error", err)
		return 1
	}
	if !res.mustBeZeroOK() {
		return 1
	}
	return 0
}

// config is one chaos run's size.
type config struct {
	binDir     string
	self       string // this binary: the hostile workers
	programs   int
	storm      time.Duration
	floodBytes int64
	floods     int
	leases     int
	conns      int
	connCap    int
	late       int
	rateWindow time.Duration
	seed       uint64
}

func defaultConfig() config {
	return config{programs: 200, storm: 20 * time.Second, floodBytes: 100 << 20, floods: 3, leases: 200_000,
		conns: 2000, connCap: 128, late: 20, rateWindow: 3 * time.Second}
}

var errPrecondition = errors.New("chaos: precondition")

func check(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf("%w: "+format, append([]any{errPrecondition}, args...)...)
}
