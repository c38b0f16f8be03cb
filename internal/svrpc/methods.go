package svrpc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/xmlrpc"
)

// Fault codes, supervisord's (xmlrpc.Faults), and ParseError for a body that
// is not a methodCall (the XML-RPC community's -32700).
const (
	UnknownMethod        = 1
	IncorrectParameters  = 2
	BadArguments         = 3
	SignatureUnsupported = 4
	ShutdownState        = 6
	BadName              = 10
	BadSignal            = 11
	NoFile               = 20
	NotExecutable        = 21
	Failed               = 30
	AbnormalTermination  = 40
	SpawnError           = 50
	AlreadyStarted       = 60
	NotRunning           = 70
	Success              = 80
	AlreadyAdded         = 90
	StillRunning         = 91
	CantReread           = 92
	ParseError           = -32700
)

var faultNames = map[int]string{
	UnknownMethod: "UNKNOWN_METHOD", IncorrectParameters: "INCORRECT_PARAMETERS", BadArguments: "BAD_ARGUMENTS",
	SignatureUnsupported: "SIGNATURE_UNSUPPORTED", ShutdownState: "SHUTDOWN_STATE", BadName: "BAD_NAME",
	BadSignal: "BAD_SIGNAL", NoFile: "NO_FILE", NotExecutable: "NOT_EXECUTABLE", Failed: "FAILED",
	AbnormalTermination: "ABNORMAL_TERMINATION", SpawnError: "SPAWN_ERROR", AlreadyStarted: "ALREADY_STARTED",
	NotRunning: "NOT_RUNNING", Success: "SUCCESS", AlreadyAdded: "ALREADY_ADDED", StillRunning: "STILL_RUNNING",
	CantReread: "CANT_REREAD", ParseError: "PARSE_ERROR",
}

// fault is supervisord's RPCError: the fault name, then ": extra" if any.
func fault(code int, extra ...string) *xmlrpc.Fault {
	s := faultNames[code]
	if len(extra) > 0 {
		s += ": " + extra[0]
	}
	return &xmlrpc.Fault{Code: code, String: s}
}

// Process state codes, supervisord's ProcessStates.
const (
	stStopped  = 0
	stStarting = 10
	stRunning  = 20
	stBackoff  = 30
	stStopping = 40
	stExited   = 100
	stFatal    = 200
	stUnknown  = 1000
)

var stateNames = map[int]string{stStopped: "STOPPED", stStarting: "STARTING", stRunning: "RUNNING", stBackoff: "BACKOFF",
	stStopping: "STOPPING", stExited: "EXITED", stFatal: "FATAL", stUnknown: "UNKNOWN"}

// StateCode maps our state to supervisord's code. Waiting (to start once the
// programs it starts after run) is STARTING: it is on its way up.
func StateCode(s supervise.State) int {
	switch s {
	case supervise.StateStopped:
		return stStopped
	case supervise.StateWaiting, supervise.StateStarting:
		return stStarting
	case supervise.StateRunning:
		return stRunning
	case supervise.StateBackoff:
		return stBackoff
	case supervise.StateStopping:
		return stStopping
	case supervise.StateExited:
		return stExited
	case supervise.StateFatal:
		return stFatal
	}
	return stUnknown
}

// runningState: supervisord's RUNNING_STATES (start says ALREADY_STARTED, stop acts).
func runningState(code int) bool {
	return code == stRunning || code == stBackoff || code == stStarting
}

// signallable: SIGNALLABLE_STATES.
func signallable(code int) bool {
	return code == stRunning || code == stStarting || code == stStopping
}

// method is one published method: its signature (return type, then parameter
// types), how many parameters it requires, its help, and its code.
type method struct {
	sig      []string
	required int
	help     string
	fn       func(s *Server, ctx context.Context, a args) (any, error)
}

var methods map[string]method

func init() {
	m := map[string]method{
		"supervisor.getAPIVersion":        {[]string{"string"}, 0, "Return the version of the RPC API used by supervisord", (*Server).getAPIVersion},
		"supervisor.getSupervisorVersion": {[]string{"string"}, 0, "Return the version of the supervisor package in use by supervisord", (*Server).getSupervisorVersion},
		"supervisor.getIdentification":    {[]string{"string"}, 0, "Return identifying string of supervisord", (*Server).getIdentification},
		"supervisor.getState":             {[]string{"struct"}, 0, "Return current state of supervisord as a struct", (*Server).getState},
		"supervisor.getPID":               {[]string{"int"}, 0, "Return the PID of supervisord", (*Server).getPID},
		"supervisor.readLog":              {[]string{"string", "int", "int"}, 2, "Read length bytes from the main log starting at offset", (*Server).readLog},
		"supervisor.clearLog":             {[]string{"boolean"}, 0, "Clear the main log.", (*Server).clearLog},
		"supervisor.shutdown":             {[]string{"boolean"}, 0, "Shut down the supervisor process", (*Server).shutdown},
		"supervisor.restart":              {[]string{"boolean"}, 0, "Restart the supervisor process", (*Server).restart},
		"supervisor.reloadConfig":         {[]string{"array"}, 0, "Reload the configuration: [[added, changed, removed]] group names", (*Server).reloadConfig},
		"supervisor.addProcessGroup":      {[]string{"boolean", "string"}, 1, "Update the config for a running process from config file.", (*Server).addProcessGroup},
		"supervisor.removeProcessGroup":   {[]string{"boolean", "string"}, 1, "Remove a stopped process from the active configuration.", (*Server).removeProcessGroup},
		"supervisor.startProcess":         {[]string{"boolean", "string", "boolean"}, 1, "Start a process (name, group:name or group:*), waiting for it to be running unless wait is false", (*Server).startProcess},
		"supervisor.startProcessGroup":    {[]string{"array", "string", "boolean"}, 1, "Start all processes in the group named 'name'", (*Server).startProcessGroup},
		"supervisor.startAllProcesses":    {[]string{"array", "boolean"}, 0, "Start all processes listed in the configuration file", (*Server).startAllProcesses},
		"supervisor.stopProcess":          {[]string{"boolean", "string", "boolean"}, 1, "Stop a process named by name (or group:name, group:*)", (*Server).stopProcess},
		"supervisor.stopProcessGroup":     {[]string{"array", "string", "boolean"}, 1, "Stop all processes in the process group named 'name'", (*Server).stopProcessGroup},
		"supervisor.stopAllProcesses":     {[]string{"array", "boolean"}, 0, "Stop all processes in the process list", (*Server).stopAllProcesses},
		"supervisor.signalProcess":        {[]string{"boolean", "string", "string"}, 2, "Send an arbitrary UNIX signal to the process named by name", (*Server).signalProcess},
		"supervisor.signalProcessGroup":   {[]string{"array", "string", "string"}, 2, "Send a signal to all processes in the group named 'name'", (*Server).signalProcessGroup},
		"supervisor.signalAllProcesses":   {[]string{"array", "string"}, 1, "Send a signal to all processes in the process list", (*Server).signalAllProcesses},
		"supervisor.getAllConfigInfo":     {[]string{"array"}, 0, "Get info about all available process configurations", (*Server).getAllConfigInfo},
		"supervisor.getProcessInfo":       {[]string{"struct", "string"}, 1, "Get info about a process named name", (*Server).getProcessInfo},
		"supervisor.getAllProcessInfo":    {[]string{"array"}, 0, "Get info about all processes", (*Server).getAllProcessInfo},
		"supervisor.readProcessStdoutLog": {[]string{"string", "string", "int", "int"}, 3, "Read length bytes from name's stdout log starting at offset", (*Server).readStdout},
		"supervisor.readProcessStderrLog": {[]string{"string", "string", "int", "int"}, 3, "Read length bytes from name's stderr log starting at offset", (*Server).readStderr},
		"supervisor.tailProcessStdoutLog": {[]string{"array", "string", "int", "int"}, 3, "Tail name's stdout log: [string bytes, int offset, bool overflow]", (*Server).tailStdout},
		"supervisor.tailProcessStderrLog": {[]string{"array", "string", "int", "int"}, 3, "Tail name's stderr log: [string bytes, int offset, bool overflow]", (*Server).tailStderr},
		"supervisor.clearProcessLogs":     {[]string{"boolean", "string"}, 1, "Clear the stdout and stderr logs for the named process", (*Server).clearProcessLogs},
		"supervisor.clearAllProcessLogs":  {[]string{"array"}, 0, "Clear all process log files", (*Server).clearAllProcessLogs},
		"supervisor.sendProcessStdin":     {[]string{"boolean", "string", "string"}, 2, "Not supported: this supervisor does not hold its programs' stdin", (*Server).sendProcessStdin},
		"supervisor.sendRemoteCommEvent":  {[]string{"boolean", "string", "string"}, 2, "Not supported: this supervisor has no event listeners", (*Server).sendRemoteCommEvent},
		"system.listMethods":              {[]string{"array"}, 0, "Return an array listing the available method names", (*Server).listMethods},
		"system.methodHelp":               {[]string{"string", "string"}, 1, "Return a string showing the method's documentation", (*Server).methodHelp},
		"system.methodSignature":          {[]string{"array", "string"}, 1, "Return an array describing the method signature in the form [rtype, ptype, ptype...]", (*Server).methodSignature},
		"system.multicall":                {[]string{"array", "array"}, 1, "Process an array of calls, and return an array of results", nil},
	}
	// supervisord's aliases, kept for old clients.
	for alias, of := range map[string]string{
		"supervisor.getVersion":      "supervisor.getAPIVersion",
		"supervisor.readMainLog":     "supervisor.readLog",
		"supervisor.readProcessLog":  "supervisor.readProcessStdoutLog",
		"supervisor.tailProcessLog":  "supervisor.tailProcessStdoutLog",
		"supervisor.clearProcessLog": "supervisor.clearProcessLogs",
	} {
		m[alias] = m[of]
	}
	methods = m
}

// APIVersion is the version of supervisord's interface served: supervisorctl
// refuses any other.
const APIVersion = "3.0"

// maxMulticall bounds the calls of one system.multicall.
const maxMulticall = 1000

// call runs method; the result is a value to encode or a *xmlrpc.Fault.
func (s *Server) call(ctx context.Context, name string, params []any, depth int, budget *int) any {
	m, ok := methods[name]
	if !ok {
		return fault(UnknownMethod)
	}
	if len(params) < m.required || len(params) > len(m.sig)-1 {
		return fault(IncorrectParameters)
	}
	var v any
	var err error
	if name == "system.multicall" {
		v, err = s.multicall(ctx, params, depth, budget)
	} else {
		v, err = m.fn(s, ctx, args{params: params, types: m.sig[1:], budget: budget})
	}
	if err != nil {
		var f *xmlrpc.Fault
		if errors.As(err, &f) {
			return f
		}
		return fault(Failed, err.Error())
	}
	return v
}

// args are a call's parameters, checked against its signature by their accessors.
type args struct {
	params []any
	types  []string
	budget *int // log bytes this request may still return (MaxRead in all)
}

// take is how many log bytes a read may return now: at most MaxRead for the
// whole request, multicall or not.
func (a args) take() int { return max(*a.budget, 0) }

// took records that a read returned n bytes.
func (a args) took(n int) { *a.budget -= n }

func (a args) str(i int) (string, error) {
	s, ok := a.params[i].(string)
	if !ok {
		return "", fault(IncorrectParameters)
	}
	return s, nil
}

// boolOr is parameter i as a bool, or def when absent.
func (a args) boolOr(i int, def bool) (bool, error) {
	if i >= len(a.params) {
		return def, nil
	}
	switch v := a.params[i].(type) {
	case bool:
		return v, nil
	case int:
		return v != 0, nil
	}
	return false, fault(IncorrectParameters)
}

// int is parameter i as an int; a string of digits is one too (supervisord
// calls int() on its offsets and lengths).
func (a args) int(i int) (int, error) {
	switch v := a.params[i].(type) {
	case int:
		return v, nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err == nil {
			return n, nil
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int(v), nil
		}
	}
	return 0, fault(IncorrectParameters)
}

func (s *Server) multicall(ctx context.Context, params []any, depth int, budget *int) (any, error) {
	calls, ok := params[0].([]any)
	if !ok {
		return nil, fault(IncorrectParameters)
	}
	if len(calls) > maxMulticall {
		return nil, fault(IncorrectParameters, fmt.Sprintf("more than %d calls", maxMulticall))
	}
	out := make([]any, 0, len(calls))
	for _, c := range calls {
		st, ok := c.(map[string]any)
		name, ok1 := st["methodName"].(string)
		ps, ok2 := st["params"].([]any)
		if _, has := st["params"]; !has {
			ps, ok2 = nil, true
		}
		var v any
		switch {
		case !ok || !ok1 || !ok2:
			v = fault(IncorrectParameters)
		case name == "system.multicall" && depth > 0:
			v = fault(IncorrectParameters, "system.multicall may not nest")
		default:
			v = s.call(ctx, name, ps, depth+1, budget)
		}
		if f, ok := v.(*xmlrpc.Fault); ok {
			out = append(out, map[string]any{"faultCode": f.Code, "faultString": f.String})
		} else {
			out = append(out, []any{v})
		}
	}
	return out, nil
}

func (s *Server) listMethods(context.Context, args) (any, error) {
	names := make([]string, 0, len(methods))
	for n := range methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (s *Server) methodHelp(_ context.Context, a args) (any, error) {
	n, err := a.str(0)
	if err != nil {
		return nil, err
	}
	m, ok := methods[n]
	if !ok {
		return nil, fault(SignatureUnsupported)
	}
	return m.help, nil
}

func (s *Server) methodSignature(_ context.Context, a args) (any, error) {
	n, err := a.str(0)
	if err != nil {
		return nil, err
	}
	m, ok := methods[n]
	if !ok {
		return nil, fault(SignatureUnsupported)
	}
	return m.sig, nil
}

// update is supervisord's _update: every supervisor.* method but a few fails
// with SHUTDOWN_STATE once the supervisor is shutting down.
func (s *Server) update() error {
	if s.o.Backend.ShuttingDown() {
		return fault(ShutdownState)
	}
	return nil
}

func (s *Server) getAPIVersion(context.Context, args) (any, error) {
	return APIVersion, s.update()
}

func (s *Server) getSupervisorVersion(context.Context, args) (any, error) {
	return s.o.Version, s.update()
}

func (s *Server) getIdentification(context.Context, args) (any, error) {
	return s.o.Identification, s.update()
}

func (s *Server) getState(context.Context, args) (any, error) {
	// supervisord's moods: RUNNING 1, SHUTDOWN -1 (it answers getState even then).
	if s.o.Backend.ShuttingDown() {
		return map[string]any{"statecode": -1, "statename": "SHUTDOWN"}, nil
	}
	return map[string]any{"statecode": 1, "statename": "RUNNING"}, nil
}

func (s *Server) getPID(context.Context, args) (any, error) {
	return pid(), s.update()
}

func (s *Server) shutdown(ctx context.Context, _ args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	// ErrShuttingDown: it was already under way, or done before the answer
	// came (Serve returned at once, nothing being left to stop): both are
	// what was asked.
	if err := s.o.Backend.Shutdown(ctx); err != nil && !errors.Is(err, supervise.ErrShuttingDown) {
		return nil, backendFault(err, "")
	}
	return true, nil
}

func (s *Server) restart(ctx context.Context, _ args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	restart := s.o.Restart
	if restart == nil {
		restart = s.restartPrograms
	}
	go func() {
		if err := restart(s.ctx); err != nil {
			s.log.Error("restart failed", "error", err)
		}
	}()
	return true, nil
}

// restartPrograms is the default supervisor.restart: stop every program,
// re-read the configuration, apply it, start what autostarts.
func (s *Server) restartPrograms(ctx context.Context) error {
	s.cfg.Lock()
	defer s.cfg.Unlock()
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	var all []string
	for _, e := range running.entries() {
		all = append(all, groupArg(e.spec.Name))
	}
	if len(all) > 0 {
		if _, err := s.o.Backend.Group(ctx, "stop", all, 0, true); err != nil {
			return fmt.Errorf("restart: stop: %w", err)
		}
	}
	next := running
	if s.o.Loader != nil {
		l, err := s.o.Loader()
		if err != nil {
			return fmt.Errorf("restart: re-read the configuration: %w", err)
		}
		next = l.normalize()
		if _, err := s.o.Backend.Reload(ctx, next.Group); err != nil {
			return fmt.Errorf("restart: %w", err)
		}
		s.mu.Lock()
		s.pending = next
		s.mu.Unlock()
		s.setRunning(next)
	}
	var auto []string
	for _, e := range next.entries() {
		if e.spec.Autostart {
			auto = append(auto, groupArg(e.spec.Name))
		}
	}
	if len(auto) > 0 {
		if _, err := s.o.Backend.Group(ctx, "start", auto, 0, false); err != nil {
			return fmt.Errorf("restart: start: %w", err)
		}
	}
	return nil
}

// groupArg is a program's name as an argument of Backend.Group, which reads
// patterns and "all": a name that would be one is made a pattern matching
// only itself.
func groupArg(name string) string {
	if name != supervise.AllPrograms && !supervise.IsPattern(name) {
		return name
	}
	var b strings.Builder
	for _, r := range name {
		switch r {
		case '*', '?', '[', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	if name == supervise.AllPrograms {
		return "[a]ll"
	}
	return b.String()
}

// backendFault maps a Backend error to supervisord's fault for it.
func backendFault(err error, name string) error {
	var f *xmlrpc.Fault
	switch {
	case errors.As(err, &f):
		return f
	case errors.Is(err, supervise.ErrNoSuchProgram):
		return fault(BadName, name)
	case errors.Is(err, supervise.ErrAlreadyStarted):
		return fault(AlreadyStarted, name)
	case errors.Is(err, supervise.ErrNotRunning):
		return fault(NotRunning, name)
	case errors.Is(err, supervise.ErrShuttingDown):
		return fault(ShutdownState)
	}
	return fault(Failed, err.Error())
}

// status is the Backend's status of every program, by name.
func (s *Server) status(ctx context.Context) (map[string]supervise.Status, error) {
	sts, err := s.o.Backend.Status(ctx)
	if err != nil {
		return nil, backendFault(err, "")
	}
	m := make(map[string]supervise.Status, len(sts))
	for _, st := range sts {
		m[st.Name] = st
	}
	return m, nil
}

// lookup is supervisord's _getGroupAndProcess: name's group and, unless name
// names a whole group ("g:*", "g:"), its process; BAD_NAME if either is missing.
// process is the one process name names: a group's name is BAD_NAME here.
func (s *Server) process(name string) (*entry, error) {
	_, _, e, err := s.lookup(name)
	if err == nil && e == nil {
		err = fault(BadName, name)
	}
	return e, err
}

func (s *Server) lookup(name string) (l Layout, group string, e *entry, err error) {
	s.mu.Lock()
	l = s.running
	s.mu.Unlock()
	g, p := splitNamespec(name)
	if !l.hasGroup(g) {
		return l, "", nil, fault(BadName, name)
	}
	if p == "" {
		return l, g, nil, nil
	}
	for _, x := range l.members(g) {
		if x.proc.Name == p {
			return l, g, &x, nil
		}
	}
	return l, "", nil, fault(BadName, name)
}

// processInfo is getProcessInfo's struct for e in state st.
func processInfo(e entry, st supervise.Status, now time.Time) map[string]any {
	code := StateCode(st.State)
	start, stop := int64(0), int64(0)
	if !st.Started.IsZero() {
		start = st.Started.Unix()
	}
	exitstatus := 0
	if st.LastExit != nil {
		stop = st.LastExit.Time.Unix()
		if st.LastExit.Time.IsZero() {
			stop = 0
		}
		exitstatus = st.LastExit.Code
		if st.LastExit.Signal != 0 {
			exitstatus = -1
		}
	}
	spawnerr := ""
	if code == stBackoff || code == stFatal {
		spawnerr = spawnErr(e, st)
	}
	info := map[string]any{
		"name":           e.proc.Name,
		"group":          e.proc.Group,
		"start":          capped(start),
		"stop":           capped(stop),
		"now":            capped(now.Unix()),
		"state":          code,
		"statename":      stateNames[code],
		"spawnerr":       spawnerr,
		"exitstatus":     exitstatus,
		"logfile":        e.proc.StdoutLogfile,
		"stdout_logfile": e.proc.StdoutLogfile,
		"stderr_logfile": e.proc.StderrLogfile,
		"pid":            st.Pid,
	}
	info["description"] = describe(e, code, st, start, stop, now, spawnerr)
	return info
}

// capped is supervisord's capped_int: XML-RPC ints are 32 bits.
func capped(v int64) int {
	return int(min(max(v, math.MinInt32), math.MaxInt32))
}

// spawnErr is supervisord's spawnerr for a program in backoff or fatal.
func spawnErr(e entry, st supervise.Status) string {
	if st.LastExit != nil && st.LastExit.SpawnErr != nil {
		cmd := ""
		if len(e.spec.Command) > 0 {
			cmd = e.spec.Command[0]
		}
		switch st.LastExit.Code {
		case 127:
			return fmt.Sprintf("can't find command '%s'", cmd)
		case 126:
			return fmt.Sprintf("command at '%s' is not executable", cmd)
		}
		return st.LastExit.SpawnErr.Error()
	}
	if st.LastExit != nil {
		return "Exited too quickly (process log may have details)"
	}
	return ""
}

// describe is supervisord's _interpretProcessInfo.
func describe(e entry, code int, st supervise.Status, start, stop int64, now time.Time, spawnerr string) string {
	switch code {
	case stRunning:
		up := max(now.Unix()-start, 0)
		return fmt.Sprintf("pid %d, uptime %s", st.Pid, timedelta(up))
	case stFatal, stBackoff:
		if spawnerr == "" {
			return fmt.Sprintf("unknown error (try \"tail %s\")", e.proc.Name)
		}
		return spawnerr
	case stStopped, stExited:
		if start == 0 {
			return "Not started"
		}
		t := now
		if stop != 0 {
			t = time.Unix(stop, 0)
		}
		return t.Local().Format("Jan 02 03:04 PM")
	}
	return ""
}

// timedelta formats seconds as Python's str(timedelta): "H:MM:SS", with
// "N day(s), " before it from a day on.
func timedelta(sec int64) string {
	d, rest := sec/86400, sec%86400
	hms := fmt.Sprintf("%d:%02d:%02d", rest/3600, rest%3600/60, rest%60)
	switch {
	case d == 1:
		return "1 day, " + hms
	case d > 1:
		return fmt.Sprintf("%d days, %s", d, hms)
	}
	return hms
}

func (s *Server) getProcessInfo(ctx context.Context, a args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	name, err := a.str(0)
	if err != nil {
		return nil, err
	}
	e, err := s.process(name)
	if err != nil {
		return nil, err
	}
	sts, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	return processInfo(*e, sts[e.spec.Name], time.Now()), nil
}

func (s *Server) getAllProcessInfo(ctx context.Context, _ args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	es := s.running.entries()
	s.mu.Unlock()
	// supervisord lists them in lexical order: by group, then process.
	slices.SortStableFunc(es, func(a, b entry) int {
		if c := strings.Compare(a.proc.Group, b.proc.Group); c != 0 {
			return c
		}
		return strings.Compare(a.proc.Name, b.proc.Name)
	})
	sts, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]any, 0, len(es))
	for _, e := range es {
		out = append(out, processInfo(e, sts[e.spec.Name], now))
	}
	return out, nil
}

// checkCommand is supervisord's check before a spawn: NO_FILE when the
// command cannot be found, NOT_EXECUTABLE when it is not an executable file.
// Only programs we exec are checked.
func checkCommand(spec supervise.Spec) error {
	if spec.Spawner != supervise.SpawnExec && spec.Spawner != supervise.SpawnForkExec && spec.Spawner != "" || len(spec.Command) == 0 {
		return nil
	}
	cmd := spec.Command[0]
	if !strings.Contains(cmd, "/") {
		path := os.Getenv("PATH")
		for _, kv := range spec.Env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				path = v
			}
		}
		for _, dir := range filepath.SplitList(path) {
			if dir == "" {
				dir = "."
			}
			if _, err := os.Stat(filepath.Join(dir, cmd)); err == nil {
				cmd = filepath.Join(dir, cmd)
				break
			}
		}
		if !strings.Contains(cmd, "/") {
			return fault(NoFile, fmt.Sprintf("can't find command '%s'", spec.Command[0]))
		}
	}
	fi, err := os.Stat(cmd)
	if err != nil {
		return fault(NoFile, fmt.Sprintf("can't find command '%s'", cmd))
	}
	if fi.IsDir() {
		return fault(NotExecutable, fmt.Sprintf("command at '%s' is a directory", cmd))
	}
	if fi.Mode()&0o111 == 0 {
		return fault(NotExecutable, fmt.Sprintf("command at '%s' is not executable", cmd))
	}
	if spec.User == nil && unix.Access(cmd, unix.X_OK) != nil {
		return fault(NotExecutable, fmt.Sprintf("no permission to run command '%s'", cmd))
	}
	return nil
}

// nameWait reads the (name, wait=true) arguments of a start or stop, once
// the configuration is current.
func (s *Server) nameWait(a args) (name string, wait bool, err error) {
	if err := s.update(); err != nil {
		return "", false, err
	}
	if name, err = a.str(0); err != nil {
		return "", false, err
	}
	wait, err = a.boolOr(1, true)
	return name, wait, err
}

func (s *Server) startProcess(ctx context.Context, a args) (any, error) {
	name, wait, err := s.nameWait(a)
	if err != nil {
		return nil, err
	}
	_, group, e, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return s.startGroup(ctx, group, wait)
	}
	if err := checkCommand(e.spec); err != nil {
		return nil, err
	}
	sts, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	if runningState(StateCode(sts[e.spec.Name].State)) {
		return nil, fault(AlreadyStarted, name)
	}
	if wait {
		err = s.o.Backend.StartWait(ctx, e.spec.Name)
	} else {
		err = s.o.Backend.Start(ctx, e.spec.Name)
	}
	if err != nil {
		return nil, s.startFault(ctx, err, e.spec.Name, name)
	}
	return true, nil
}

// startFault maps a failed start to supervisord's fault: SPAWN_ERROR when the
// program could not be spawned or exited before its startsecs (supervisord
// then has a spawnerr), ABNORMAL_TERMINATION when it was stopped meanwhile.
func (s *Server) startFault(ctx context.Context, err error, prog, name string) error {
	if !errors.Is(err, supervise.ErrStartFailed) {
		return backendFault(err, name)
	}
	if sts, serr := s.status(ctx); serr == nil {
		switch StateCode(sts[prog].State) {
		case stStopped, stStopping:
			return fault(AbnormalTermination, name)
		}
	}
	return fault(SpawnError, name)
}

// result is one entry of a group operation's reply.
func result(e entry, err error) map[string]any {
	code, desc := Success, "OK"
	if err != nil {
		f, ok := err.(*xmlrpc.Fault)
		if !ok {
			f = fault(Failed, err.Error())
		}
		code, desc = f.Code, f.String
	}
	return map[string]any{"name": e.proc.Name, "group": e.proc.Group, "status": code, "description": desc}
}

func (s *Server) startGroup(ctx context.Context, group string, wait bool) (any, error) {
	_, _, _, err := s.lookup(group + ":*")
	if err != nil {
		return nil, fault(BadName, group)
	}
	s.mu.Lock()
	es := s.running.members(group)
	s.mu.Unlock()
	return s.startMany(ctx, es, wait)
}

// startMany starts those of es that are not running, as supervisord's
// make_allfunc(isNotRunning, startProcess): one result each.
func (s *Server) startMany(ctx context.Context, es []entry, wait bool) (any, error) {
	sts, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	out := []any{}
	var names []string
	var todo []entry
	for _, e := range es {
		if runningState(StateCode(sts[e.spec.Name].State)) {
			continue
		}
		if err := checkCommand(e.spec); err != nil {
			out = append(out, result(e, err))
			continue
		}
		names = append(names, groupArg(e.spec.Name))
		todo = append(todo, e)
	}
	if len(todo) == 0 {
		return out, nil
	}
	outs, err := s.o.Backend.Group(ctx, "start", names, 0, wait)
	if err != nil {
		return nil, backendFault(err, "")
	}
	byName := map[string]error{}
	for _, o := range outs {
		byName[o.Program] = o.Err
	}
	for _, e := range todo {
		err := byName[e.spec.Name]
		if err != nil {
			err = s.startFault(ctx, err, e.spec.Name, e.namespec())
		}
		out = append(out, result(e, err))
	}
	return out, nil
}

func (s *Server) startProcessGroup(ctx context.Context, a args) (any, error) {
	name, wait, err := s.nameWait(a)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	ok := s.running.hasGroup(name)
	s.mu.Unlock()
	if !ok {
		return nil, fault(BadName, name)
	}
	return s.startGroup(ctx, name, wait)
}

func (s *Server) startAllProcesses(ctx context.Context, a args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	wait, err := a.boolOr(0, true)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	es := s.running.entries()
	s.mu.Unlock()
	return s.startMany(ctx, es, wait)
}

func (s *Server) stopProcess(ctx context.Context, a args) (any, error) {
	name, wait, err := s.nameWait(a)
	if err != nil {
		return nil, err
	}
	_, group, e, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if e == nil {
		s.mu.Lock()
		es := s.running.members(group)
		s.mu.Unlock()
		return s.stopMany(ctx, es, wait)
	}
	sts, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	if !runningState(StateCode(sts[e.spec.Name].State)) {
		return nil, fault(NotRunning, name)
	}
	if !wait {
		go func() {
			if err := s.o.Backend.Stop(s.ctx, e.spec.Name); err != nil {
				s.log.Warn("stop without waiting failed", "program", e.spec.Name, "error", err)
			}
		}()
		return true, nil
	}
	if err := s.o.Backend.Stop(ctx, e.spec.Name); err != nil {
		return nil, backendFault(err, name)
	}
	return true, nil
}

// stopMany stops those of es that run, as supervisord's
// make_allfunc(isRunning, stopProcess): one result each.
func (s *Server) stopMany(ctx context.Context, es []entry, wait bool) (any, error) {
	sts, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	out := []any{}
	var names []string
	var todo []entry
	for _, e := range es {
		if runningState(StateCode(sts[e.spec.Name].State)) {
			names = append(names, groupArg(e.spec.Name))
			todo = append(todo, e)
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	if !wait {
		go func() {
			if _, err := s.o.Backend.Group(s.ctx, "stop", names, 0, true); err != nil {
				s.log.Warn("stop without waiting failed", "error", err)
			}
		}()
		for _, e := range todo {
			out = append(out, result(e, nil))
		}
		return out, nil
	}
	outs, err := s.o.Backend.Group(ctx, "stop", names, 0, true)
	if err != nil {
		return nil, backendFault(err, "")
	}
	byName := map[string]error{}
	for _, o := range outs {
		byName[o.Program] = o.Err
	}
	for _, e := range todo {
		err := byName[e.spec.Name]
		if err != nil {
			err = backendFault(err, e.namespec())
		}
		out = append(out, result(e, err))
	}
	return out, nil
}

func (s *Server) stopProcessGroup(ctx context.Context, a args) (any, error) {
	name, wait, err := s.nameWait(a)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	ok := s.running.hasGroup(name)
	es := s.running.members(name)
	s.mu.Unlock()
	if !ok {
		return nil, fault(BadName, name)
	}
	return s.stopMany(ctx, es, wait)
}

func (s *Server) stopAllProcesses(ctx context.Context, a args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	wait, err := a.boolOr(0, true)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	es := s.running.entries()
	s.mu.Unlock()
	return s.stopMany(ctx, es, wait)
}

// signalNumber is supervisord's signal_number: a number, or a name with or
// without SIG, any case.
func signalNumber(v string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if n < 1 || n > 64 {
			return 0, false
		}
		return syscall.Signal(n), true
	}
	name := strings.ToUpper(strings.TrimSpace(v))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	return sig, sig != 0
}

// sigArg is parameter i as a signal string (supervisorctl sends a string; a
// number is taken too).
func (a args) sigArg(i int) (string, error) {
	switch v := a.params[i].(type) {
	case string:
		return v, nil
	case int:
		return strconv.Itoa(v), nil
	}
	return "", fault(IncorrectParameters)
}

func (s *Server) signalProcess(ctx context.Context, a args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	name, err := a.str(0)
	if err != nil {
		return nil, err
	}
	sigs, err := a.sigArg(1)
	if err != nil {
		return nil, err
	}
	_, group, e, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if e == nil {
		s.mu.Lock()
		es := s.running.members(group)
		s.mu.Unlock()
		return s.signalMany(ctx, es, sigs)
	}
	sts, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	return true, s.signalOne(ctx, *e, sts[e.spec.Name], sigs, name)
}

func (s *Server) signalOne(ctx context.Context, e entry, st supervise.Status, sigs, name string) error {
	sig, ok := signalNumber(sigs)
	if !ok {
		return fault(BadSignal, sigs)
	}
	if !signallable(StateCode(st.State)) {
		return fault(NotRunning, name)
	}
	if err := s.o.Backend.Signal(ctx, e.spec.Name, sig); err != nil {
		return backendFault(err, name)
	}
	return nil
}

// signalMany signals those of es that are signallable, one result each.
func (s *Server) signalMany(ctx context.Context, es []entry, sigs string) (any, error) {
	sts, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, e := range es {
		st := sts[e.spec.Name]
		if !signallable(StateCode(st.State)) {
			continue
		}
		out = append(out, result(e, s.signalOne(ctx, e, st, sigs, e.namespec())))
	}
	return out, nil
}

func (s *Server) signalProcessGroup(ctx context.Context, a args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	name, err := a.str(0)
	if err != nil {
		return nil, err
	}
	sigs, err := a.sigArg(1)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	ok := s.running.hasGroup(name)
	es := s.running.members(name)
	s.mu.Unlock()
	if !ok {
		return nil, fault(BadName, name)
	}
	return s.signalMany(ctx, es, sigs)
}

func (s *Server) signalAllProcesses(ctx context.Context, a args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	sigs, err := a.sigArg(0)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	es := s.running.entries()
	s.mu.Unlock()
	return s.signalMany(ctx, es, sigs)
}

// reloadConfig re-reads the configuration and says which groups were added,
// changed and removed against the running one; nothing is applied
// (addProcessGroup and removeProcessGroup do that, as supervisorctl update
// calls them).
func (s *Server) reloadConfig(context.Context, args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	if s.o.Loader == nil {
		return nil, fault(CantReread, "this supervisor was not started from a configuration file")
	}
	l, err := s.o.Loader()
	if err != nil {
		return nil, fault(CantReread, err.Error())
	}
	l = l.normalize()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = l
	added, changed, removed := []any{}, []any{}, []any{}
	for _, g := range l.Groups {
		if !s.running.hasGroup(g.Name) {
			added = append(added, g.Name)
		} else if !sameGroup(s.running, l, g.Name) {
			changed = append(changed, g.Name)
		}
	}
	for _, g := range s.running.Groups {
		if !l.hasGroup(g.Name) {
			removed = append(removed, g.Name)
		}
	}
	return []any{[]any{added, changed, removed}}, nil
}

// sameGroup reports whether group has the same processes and settings in a
// and b.
func sameGroup(a, b Layout, group string) bool {
	ga, _ := a.groupInfo(group)
	gb, _ := b.groupInfo(group)
	if ga.Priority != gb.Priority {
		return false
	}
	ma, mb := a.members(group), b.members(group)
	if len(ma) != len(mb) {
		return false
	}
	for i := range ma {
		if ma[i].proc != mb[i].proc || !reflect.DeepEqual(ma[i].spec, mb[i].spec) {
			return false
		}
	}
	return true
}

func (s *Server) addProcessGroup(ctx context.Context, a args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	s.cfg.Lock()
	defer s.cfg.Unlock()
	name, err := a.str(0)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	running, pending := s.running, s.pending
	s.mu.Unlock()
	if !pending.hasGroup(name) {
		return nil, fault(BadName, name)
	}
	if running.hasGroup(name) {
		return nil, fault(AlreadyAdded, name)
	}
	next := running.with(pending, name)
	if _, err := s.o.Backend.Reload(ctx, next.Group); err != nil {
		return nil, backendFault(err, name)
	}
	s.setRunning(next)
	return true, nil
}

func (s *Server) removeProcessGroup(ctx context.Context, a args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	s.cfg.Lock()
	defer s.cfg.Unlock()
	name, err := a.str(0)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if !running.hasGroup(name) {
		return nil, fault(BadName, name)
	}
	sts, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range running.members(name) {
		switch StateCode(sts[e.spec.Name].State) {
		case stStopped, stExited, stFatal, stUnknown:
		default:
			return nil, fault(StillRunning, name)
		}
	}
	next := running.without(name)
	if _, err := s.o.Backend.Reload(ctx, next.Group); err != nil {
		return nil, backendFault(err, name)
	}
	s.setRunning(next)
	return true, nil
}

func (s *Server) getAllConfigInfo(context.Context, args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	running, pending := s.running, s.pending
	s.mu.Unlock()
	out := []map[string]any{}
	for _, g := range pending.Groups {
		inuse := running.hasGroup(g.Name)
		for _, e := range pending.members(g.Name) {
			sp := e.spec
			uid := any("none")
			if sp.User != nil {
				uid = int(sp.User.Uid)
			}
			dir := any("none")
			if sp.Dir != "" {
				dir = sp.Dir
			}
			codes := sp.SuccessCodes
			if len(codes) == 0 {
				codes = []int{0}
			}
			logf := func(p string) any {
				if p == "" {
					return "none"
				}
				return p
			}
			out = append(out, map[string]any{
				"autostart": sp.Autostart, "directory": dir, "uid": uid, "command": strings.Join(sp.Command, " "),
				"exitcodes": codes, "group": g.Name, "group_prio": g.Priority, "inuse": inuse,
				"killasgroup": true, "name": e.proc.Name, "process_prio": e.proc.Priority,
				"redirect_stderr": sp.StderrLog != "" && sp.StderrLog == sp.StdoutLog,
				"startretries":    sp.StartRetries, "startsecs": int(sp.MinUptime / time.Second),
				"stdout_capture_maxbytes": 0, "stdout_events_enabled": false,
				"stdout_logfile": logf(e.proc.StdoutLogfile), "stdout_logfile_backups": sp.LogBackups,
				"stdout_logfile_maxbytes": capped(sp.LogMaxBytes), "stdout_syslog": false,
				"stopsignal": int(sp.StopSignal), "stopwaitsecs": int(sp.StopGrace / time.Second),
				"stderr_capture_maxbytes": 0, "stderr_events_enabled": false,
				"stderr_logfile": logf(e.proc.StderrLogfile), "stderr_logfile_backups": sp.LogBackups,
				"stderr_logfile_maxbytes": capped(sp.LogMaxBytes), "stderr_syslog": false,
				"serverurl": "AUTO",
			})
		}
	}
	slices.SortStableFunc(out, func(a, b map[string]any) int { return strings.Compare(a["name"].(string), b["name"].(string)) })
	return out, nil
}

func (s *Server) sendProcessStdin(ctx context.Context, a args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	name, err := a.str(0)
	if err != nil {
		return nil, err
	}
	if _, ok := a.params[1].(string); !ok {
		if _, ok := a.params[1].([]byte); !ok {
			return nil, fault(IncorrectParameters)
		}
	}
	e, err := s.process(name)
	if err != nil {
		return nil, err
	}
	sts, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	if sts[e.spec.Name].Pid == 0 {
		return nil, fault(NotRunning, name)
	}
	return nil, fault(NoFile, name+": this supervisor does not hold its programs' stdin (they get /dev/null), so it cannot write to it")
}

func (s *Server) sendRemoteCommEvent(context.Context, args) (any, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	return nil, fault(Failed, "this supervisor has no event listeners, so remote communication events are not supported")
}
