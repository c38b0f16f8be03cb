package compare

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/supervise"
)

// Options says what Run measures.
type Options struct {
	// Reaper starts and reaps every worker process; required (one per process,
	// see supervise.NewReaper).
	Reaper *supervise.Reaper
	// Workers is how many workers per kind the start-up and memory rows start
	// (default 10).
	Workers int
	// Requests is how many requests per kind the round-trip and throughput rows
	// send (default 2000).
	Requests int
	// Rows names the rows to measure (Row.Name), in any order; nil means all.
	// The table keeps its own order.
	Rows []string
}

// kinds are the two kinds compared, in the table's column order.
var kinds = []supervise.SpawnerKind{supervise.SpawnGoroutine, supervise.SpawnReexec}

// Report is one run of compare: every cell was measured in that run.
type Report struct {
	Machine  string `json:"machine"` // where: kernel, CPUs, Go version, GOMAXPROCS
	Workers  int    `json:"workers"`
	Requests int    `json:"requests"`
	Rows     []Row  `json:"rows"`
}

// Row is one line of the table: the same built-in worker function, the same
// request or fault, under each kind.
type Row struct {
	Name      string `json:"name"`  // short and stable, for --rows, tests and scripts
	Title     string `json:"title"` // what the row measures, in words
	Goroutine Cell   `json:"goroutine"`
	Process   Cell   `json:"process"`
}

// Cell is one measurement: the text the table shows, the number behind it (if
// any), and for the failure rows what was observed.
type Cell struct {
	Text  string  `json:"text"`
	Value float64 `json:"value,omitempty"` // in Unit
	Unit  string  `json:"unit,omitempty"`  // "s", "B" or "req/s"
	Facts *Facts  `json:"facts,omitempty"`
}

// Facts is what a failure row observed, each field read from the system (an
// event, a status, a reply, /proc, a line the worker wrote) during the run.
type Facts struct {
	// SupervisorPid is the pid of the supervisor that ran the faulty worker: this
	// process, or the sacrificial re-executed one.
	SupervisorPid int `json:"supervisor_pid"`
	// WorkerPid is the faulty worker's own answer to "pid": the supervisor's pid
	// for a goroutine worker.
	WorkerPid int `json:"worker_pid"`
	// SupervisorSurvived: that supervisor's process was still alive afterwards.
	SupervisorSurvived bool `json:"supervisor_survived"`
	// Exit is how the faulty run ended, as the supervisor that watched it
	// reported it, and ExitCode its shell-style status.
	Exit     string `json:"exit,omitempty"`
	ExitCode int    `json:"exit_code"`
	// Killed: the faulty worker's process was SIGKILLed.
	Killed bool `json:"killed"`
	// Leaked is Supervisor.Leaked() afterwards: goroutine workers that ignored
	// their stop and still run.
	Leaked []string `json:"leaked,omitempty"`
	// Restarted: the faulty worker ran (was ready) again, under its policy.
	Restarted bool `json:"restarted"`
	// SiblingAnswered: a sibling worker answered a request after the fault.
	SiblingAnswered bool `json:"sibling_answered"`
	// SiblingRestarts is how many times the sibling was started again meanwhile.
	SiblingRestarts int `json:"sibling_restarts"`
	// SiblingRead and AfterRestart: what the sibling read of the state the
	// faulty worker scribbled on, right after and after the culprit's restart.
	SiblingRead  string `json:"sibling_read,omitempty"`
	AfterRestart string `json:"after_restart,omitempty"`
	// Output is the telling line the dying process wrote on stderr, if any.
	Output string `json:"output,omitempty"`
}

// row is one row's definition: measure runs it for one kind.
type row struct {
	name, title string
	measure     func(ctx context.Context, c *comparer, kind supervise.SpawnerKind) (Cell, error)
}

// rows is the table, in order.
var rows = []row{
	// memory first: its before/after heap reading is steadiest in a quiet
	// process, before other rows leave garbage and draining goroutines behind.
	{"memory", "memory per worker", measureMemory},
	{"startup", "start-up per worker (start to Ready)", measureStartup},
	{"roundtrip", "request/reply round trip", measureRoundTrip},
	{"throughput", "request throughput", measureThroughput},
	{"panic", "worker panics (in a request handler)", faultPanic},
	{"fatal", "fatal runtime error (concurrent map writes)", faultFatal},
	{"exit", "worker calls os.Exit(7)", faultExit},
	{"shared-state", "worker corrupts shared package state", faultSharedState},
	{"ignore-stop", "worker hangs and ignores its stop", faultIgnoreStop},
	{"deadlock", "worker's main loop deadlocks (two mutexes)", faultDeadlock},
}

// RowNames lists every row's name, in table order. The caller owns the slice.
func RowNames() []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.name
	}
	return out
}

// ErrUnknownRow is wrapped by Run's error for a name in Options.Rows that is no row.
var ErrUnknownRow = errors.New("compare: unknown row")

// rowTimeout bounds one row under one kind.
const rowTimeout = 30 * time.Second

// comparer is one Run's settings, shared by the row functions.
type comparer struct {
	log      hclog.Logger
	r        *supervise.Reaper
	workers  int
	requests int
}

// Run measures the rows of opts under both kinds, one after another (never two
// at once, so that they do not disturb each other's timings and memory), and
// returns the report. It blocks until every row is done or ctx ends; a row that
// cannot be measured (a worker that does not do what the row expects within
// 30s) ends the run with an error naming it. Every supervisor it starts is
// stopped before it returns, except goroutine workers that the ignore-stop and
// deadlock rows leak on purpose: they stay blocked in this process (see
// Supervisor.Leaked). log receives the supervisors' logs; nil discards them.
func Run(ctx context.Context, log hclog.Logger, opts Options) (Report, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.Reaper == nil {
		return Report{}, errors.New("compare: Options.Reaper is nil")
	}
	if opts.Workers <= 0 {
		opts.Workers = 10
	}
	if opts.Requests <= 0 {
		opts.Requests = 2000
	}
	for _, name := range opts.Rows {
		if !slices.Contains(RowNames(), name) {
			return Report{}, fmt.Errorf("%w %q (one of %s)", ErrUnknownRow, name, strings.Join(RowNames(), ", "))
		}
	}
	c := &comparer{log: log, r: opts.Reaper, workers: opts.Workers, requests: opts.Requests}
	rep := Report{Machine: machine(), Workers: opts.Workers, Requests: opts.Requests}
	for _, r := range rows {
		if opts.Rows != nil && !slices.Contains(opts.Rows, r.name) {
			continue
		}
		out := Row{Name: r.name, Title: r.title}
		for _, kind := range kinds {
			rctx, cancel := context.WithTimeoutCause(ctx, rowTimeout, fmt.Errorf("%w: row %s took over %s", errTimeout, r.name, rowTimeout))
			rc := *c // the row's supervisors log under its name and kind
			rc.log = c.log.Named(r.name).With("column", string(kind))
			cell, err := r.measure(rctx, &rc, kind)
			cancel()
			if err != nil {
				return rep, fmt.Errorf("row %s, kind %s: %w", r.name, kind, err)
			}
			if kind == supervise.SpawnGoroutine {
				out.Goroutine = cell
			} else {
				out.Process = cell
			}
		}
		rep.Rows = append(rep.Rows, out)
	}
	return rep, nil
}

// machine describes where the run happened.
func machine() string {
	var u unix.Utsname
	kernel := "linux"
	if unix.Uname(&u) == nil {
		kernel = "linux " + unix.ByteSliceToString(u.Release[:])
	}
	return fmt.Sprintf("%s, %d CPUs, %s, GOMAXPROCS %d", kernel, runtime.NumCPU(), runtime.Version(), runtime.GOMAXPROCS(0))
}
