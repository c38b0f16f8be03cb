package main_test

// Issue 18: one supervisord configuration (testdata/supervisord/scenario), run
// unchanged by the real supervisord (Debian's supervisor package) and by ours,
// both driven by the real supervisorctl. Each run yields a record (statuses,
// every command's exit code and output, the processes started, start and stop
// order, the log files), and the records are compared entry by entry, every
// difference reported. The supervisord run is also checked against
// testdata/supervisord/supervisord.golden (what supervisord 4.2.5 did), so a
// change of supervisord's own behaviour shows as such. Every output is
// supervisorctl's own formatting of what the server answered, so equal outputs
// mean equal answers (states, fault codes: supervisorctl's exit codes come from
// them, e.g. SPAWN_ERROR, ABNORMAL_TERMINATION and NOT_RUNNING give 7).
//
// What supervisord 4.2.5 guarantees about order, read from its source
// (supervisord.py runforever, process.py, options.py, rpcinterface.py) and
// checked here:
//   - Start: every loop pass calls transition() on each group in ascending
//     group priority, and a group on each of its processes, so at start-up all
//     autostart processes are spawned in the same pass, by group priority,
//     WITHOUT waiting for any to be RUNNING (startsecs only decides when
//     STARTING becomes RUNNING). Within a numprocs group the order is by
//     (priority, name); within a [group:x] it is the order of programs=, not
//     the programs' priorities. The order of the events file lines is NOT
//     guaranteed (each child writes after its own exec), so the spawn order
//     is read from the pids (fork order), grouped by group.
//   - Stop at shutdown: groups are stopped one at a time in descending group
//     priority, and supervisord waits until a group's processes are all
//     stopped before signalling the next group. Within a group every process
//     is signalled in one pass (descending (priority, name)), with no waiting,
//     so only the order between groups is compared.
//   - `stop all`, `start all` and a group's stop or start act on every
//     process first, then poll them all every 50ms; each result is returned as
//     it completes, so supervisorctl prints them in completion order, which is
//     compared sorted (a restart's stops still all come before its starts).

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needSupervisord returns the real supervisord and supervisorctl, or skips the
// test (fails it when SUPERVISOR_NEED_SUPERVISORD=1, as .ci/run sets).
func needSupervisord(t *testing.T) (supervisord, supervisorctl string) {
	t.Helper()
	var paths []string
	for _, name := range []string{"supervisord", "supervisorctl"} {
		p, err := exec.LookPath(name)
		if err != nil {
			if os.Getenv("SUPERVISOR_NEED_SUPERVISORD") == "1" {
				t.Fatalf("%s is needed (SUPERVISOR_NEED_SUPERVISORD=1): %v", name, err)
			}
			t.Skipf("%s is not installed (apt-get install supervisor): %v", name, err)
		}
		paths = append(paths, p)
	}
	return paths[0], paths[1]
}

// canSwitchUser reports whether programs can run as testUser here, and if not,
// why.
func canSwitchUser() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "not root"
	}
	if _, err := user.Lookup(testUser); err != nil {
		return false, fmt.Sprintf("no user %s (.ci/run creates it)", testUser)
	}
	return true, ""
}

// svBackend is a supervisor that runs a supervisord configuration in the
// foreground: the real supervisord, or ours.
type svBackend struct {
	name string
	argv func(conf string) []string
}

func svBackends(supervisord string) []svBackend {
	return []svBackend{
		{"supervisord", func(conf string) []string { return []string{supervisord, "-n", "-c", conf} }},
		// Ours recognises the format from the file.
		{"ours", func(conf string) []string { return []string{bin("supervisor"), "run", "-c", conf} }},
	}
}

// svHandle is a running backend. Every process it started (it, its children,
// whatever user they run as) carries the environment variable marker, by which
// the cleanup finds and kills them.
type svHandle struct {
	p      *proc
	pid    int
	marker string
}

// svEnv is the whole environment a backend runs in, so that what its programs
// inherit is the same under both. SUPERVISOR_SOCKET=none keeps ours from
// taking the default native control socket; make test's SUPERVISOR_TEST_RUN
// is passed on for its leak check.
func svEnv(marker string) []string {
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/nonexistent-home", "USER=difftest", "LANG=C.UTF-8",
		"DIFF_INHERITED=yes", "SUPERVISOR_SOCKET=none", marker,
	}
	if run, ok := os.LookupEnv("SUPERVISOR_TEST_RUN"); ok {
		env = append(env, "SUPERVISOR_TEST_RUN="+run)
	}
	return env
}

// start runs the backend on conf from dir. Its cleanup kills whatever is left
// of the run and reports it as a leak.
func (b svBackend) start(t *testing.T, dir, conf string) *svHandle {
	t.Helper()
	marker := "DIFF_RUN=" + dir
	argv := b.argv(conf)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, svEnv(marker)
	h := &svHandle{marker: marker}
	// Registered before startCmd's: cleanups run last first, so startCmd kills
	// the backend itself, then this kills and waits for its children.
	t.Cleanup(func() {
		if left := killMarked(marker); len(left) > 0 {
			t.Errorf("%s: processes of the run left after it (killed now): %v", b.name, left)
		}
	})
	h.p = startCmd(t, cmd)
	h.pid = cmd.Process.Pid
	return h
}

// marked lists the live processes whose environment holds marker (zombies
// have none).
func marked(marker string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		if slices.Contains(strings.Split(string(b), "\x00"), marker) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killMarked kills every process carrying marker and waits until none is
// left. It returns what it found alive (with each one's command line).
func killMarked(marker string) []string {
	var found []string
	for _, pid := range marked(marker) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		found = append(found, fmt.Sprintf("%d:%s", pid, strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")))
	}
	deadline := time.Now().Add(30 * time.Second)
	for d := time.Millisecond; ; d = min(2*d, 50*time.Millisecond) {
		left := marked(marker)
		if len(left) == 0 {
			return found
		}
		if time.Now().After(deadline) {
			return append(found, fmt.Sprintf("STILL ALIVE after SIGKILL: %v", left))
		}
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(d) // polling the OS under a deadline
	}
}

// svEntry is one line of a record: a key and one line of its value. A value
// of several lines is several entries with the same key, in order. A key holds
// no "]" (the text form is "[key] line").
type svEntry struct{ key, line string }

// svRecord is what one run of the scenario showed. Everything in it is already
// normalised (the run's directory is $DIR, pids are MAINPID or PID(name)), so
// two backends' records compare equal when they behaved the same.
type svRecord struct {
	backend string
	entries []svEntry
	output  string // the backend's own stdout and stderr, shown when it differs
}

func (r *svRecord) add(key string, value string) {
	lines := strings.Split(strings.TrimSuffix(value, "\n"), "\n")
	for _, l := range lines {
		r.entries = append(r.entries, svEntry{key, l})
	}
}

// problem records what could not be observed (a timeout), so that it shows
// in the comparison rather than ending the run.
func (r *svRecord) problem(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	t.Logf("%s: %s", r.backend, msg)
	r.add("problem", msg)
}

// without returns the record minus the entries whose key or line mentions
// word (the user-switch program, where it cannot run).
func (r *svRecord) without(word string) *svRecord {
	out := &svRecord{backend: r.backend}
	for _, e := range r.entries {
		if !strings.Contains(e.key, word) && !strings.Contains(e.line, word) {
			out.entries = append(out.entries, e)
		}
	}
	return out
}

func (r *svRecord) String() string {
	var b strings.Builder
	for _, e := range r.entries {
		fmt.Fprintf(&b, "[%s] %s\n", e.key, e.line)
	}
	return b.String()
}

func parseRecord(backend, text string) *svRecord {
	r := &svRecord{backend: backend}
	for l := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(l, "["), "] "); ok {
			r.entries = append(r.entries, svEntry{k, v})
		} else if k, ok := strings.CutSuffix(strings.TrimPrefix(l, "["), "]"); ok {
			r.entries = append(r.entries, svEntry{k, ""})
		}
	}
	return r
}

// diffRecords reports every key whose lines differ between a and b, each with
// a line diff (- a, + b). Nil when they are the same.
func diffRecords(a, b *svRecord) []string {
	var keys []string
	lines := map[string][2][]string{}
	for i, r := range []*svRecord{a, b} {
		for _, e := range r.entries {
			v, seen := lines[e.key]
			if !seen {
				keys = append(keys, e.key)
			}
			v[i] = append(v[i], e.line)
			lines[e.key] = v
		}
	}
	var out []string
	for _, k := range keys {
		v := lines[k]
		if slices.Equal(v[0], v[1]) {
			continue
		}
		d := fmt.Sprintf("[%s] (- %s, + %s)", k, a.backend, b.backend)
		for _, l := range lineDiff(v[0], v[1]) {
			d += "\n    " + l
		}
		out = append(out, d)
	}
	return out
}

// lineDiff is a longest-common-subsequence diff of two short line lists:
// "  same", "- only in a", "+ only in b". An absent value shows as (none).
func lineDiff(a, b []string) []string {
	if a == nil {
		a = []string{"(none)"}
	}
	if b == nil {
		b = []string{"(none)"}
	}
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, "  "+a[i])
			i, j = i+1, j+1
		case j == m || (i < n && lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	return out
}

// svEvent is one line of the events file, written by prog.py.
type svEvent struct {
	Ev   string            `json:"ev"`
	Name string            `json:"name"`
	Pid  int               `json:"pid"`
	T    float64           `json:"t"`
	Argv []string          `json:"argv"`
	Cwd  string            `json:"cwd"`
	UID  int               `json:"uid"`
	GID  int               `json:"gid"`
	Grps []int             `json:"groups"`
	Env  map[string]string `json:"env"`
}

// svComparedEnv are the environment variables compared between backends
// (absent ones too). Left out: DIFF_RUN, the run's marker, which holds the
// run's directory and is how the cleanup finds the run's processes;
// SUPERVISOR_TEST_RUN, make test's marker (present or not by how the test is
// run); and anything else the backend's own environment holds (svEnv fixes it). Any
// other variable a program gets is listed by name under "env beyond", so an
// addition by either backend still shows.
var svComparedEnv = []string{
	"SUPERVISOR_ENABLED", "SUPERVISOR_PROCESS_NAME", "SUPERVISOR_GROUP_NAME", "SUPERVISOR_SERVER_URL",
	"HOME", "USER", "LOGNAME", "SHELL", "PATH", "LANG",
	"DIFF_INHERITED", "DIFF_GLOBAL", "DIFF_PROG", "DIFF_QUOTED", "SUPERVISOR_SOCKET",
}

// credentials describes a process's user, group and supplementary groups by
// name (uids differ between machines); those that are the test's own, which a
// program that switches no user inherits, are said so (the test may not run
// as root).
func credentials(ev svEvent) string {
	uname, gname := strconv.Itoa(ev.UID), strconv.Itoa(ev.GID)
	if u, err := user.LookupId(uname); err == nil {
		uname = u.Username
	}
	if g, err := user.LookupGroupId(gname); err == nil {
		gname = g.Name
	}
	if ev.UID == os.Getuid() {
		uname = "the test's own"
	}
	if ev.GID == os.Getgid() {
		gname = "the test's own"
	}
	groups := "the test's own"
	if own, _ := os.Getgroups(); !slices.Equal(slices.Sorted(slices.Values(own)), ev.Grps) {
		var names []string
		for _, gid := range ev.Grps {
			n := strconv.Itoa(gid)
			if g, err := user.LookupGroupId(n); err == nil {
				n = g.Name
			}
			names = append(names, n)
		}
		groups = strings.Join(names, ",")
	}
	return fmt.Sprintf("user %s group %s groups %s", uname, gname, groups)
}

// svScenario drives one backend through the scenario.
type svScenario struct {
	t       *testing.T
	ctlPath string
	dir     string // the copy of testdata/supervisord/scenario
	conf    string
	h       *svHandle
	rec     *svRecord
	step    int
	// settleLimit bounds a wait for status to settle: long, until one wait
	// failed.
	settleLimit time.Duration
	noPid       map[string]bool // status lines whose description has no pid, said once
	// full names ("x:a", "pool:pool_00", "once") and groups of the processes,
	// by process name, from the first status listing and updated by later ones.
	fullName map[string]string
	group    map[string]string
}

// setupScenario copies the scenario into a temp dir that every user can read
// (the user-switch program must reach prog.py and the events file), with the
// user-switch program in conf.d when withUser.
func setupScenario(t *testing.T, withUser bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s")
	if err := os.CopyFS(dir, os.DirFS("testdata/supervisord/scenario")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"logs", "childlogs", "work"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "events"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "events"), 0o666); err != nil { // past the umask
		t.Fatal(err)
	}
	if withUser {
		copyFile(t, filepath.Join(dir, "optional", "asuser.conf"), filepath.Join(dir, "conf.d", "asuser.conf"))
	}
	// CopyFS makes directories 0777&^umask, and t.TempDir's are 0700.
	for d := dir; d != filepath.Clean(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ctl runs the real supervisorctl on the scenario's config and returns its
// output (stderr lines marked as such) and exit code.
func (s *svScenario) ctl(args ...string) (string, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 90*time.Second) // a hang fails rather than blocks
	defer cancel()
	cmd := exec.CommandContext(ctx, s.ctlPath, append([]string{"-c", s.conf}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	out, errOut, code := runBinary(s.t, cmd)
	if ctx.Err() != nil {
		s.rec.problem(s.t, "supervisorctl %q did not return within 90s", args)
	}
	for l := range strings.SplitSeq(strings.TrimSuffix(errOut, "\n"), "\n") {
		if l != "" {
			out += "stderr: " + l + "\n"
		}
	}
	return out, code
}

// events reads the events file (a line still being written is left out).
func (s *svScenario) events() []svEvent {
	b, _ := os.ReadFile(filepath.Join(s.dir, "events"))
	var evs []svEvent
	for l := range strings.SplitSeq(string(b), "\n") {
		var ev svEvent
		if json.Unmarshal([]byte(l), &ev) == nil {
			evs = append(evs, ev)
		}
	}
	return evs
}

// poll calls ok until it holds, under a deadline generous for a loaded
// machine; false if it never did.
func poll(limit time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(limit)
	for d := 5 * time.Millisecond; !ok(); d = min(2*d, 200*time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(d) // polling the OS under a deadline
	}
	return true
}

var statusPid = regexp.MustCompile(`^pid (\d+),`)

// settle polls `status` until nothing is STARTING or BACKOFF and every RUNNING
// process has written its start line (its TERM handler is set: a stop then
// leaves its "stop" line). It returns the last listing and exit code.
func (s *svScenario) settle() (string, int) {
	s.t.Helper()
	var out string
	var code int
	ok := poll(s.settleLimit, func() bool {
		if s.gone() {
			return true
		}
		out, code = s.ctl("status")
		if code != 0 && code != 3 || strings.TrimSpace(out) == "" {
			return false
		}
		started := map[int]bool{}
		for _, ev := range s.events() {
			if ev.Ev == "start" {
				started[ev.Pid] = true
			}
		}
		for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 || f[1] == "STARTING" || f[1] == "BACKOFF" {
				return false
			}
			if f[1] == "RUNNING" {
				m := statusPid.FindStringSubmatch(strings.Join(f[2:], " "))
				if m == nil && !s.noPid[f[0]] {
					// Not supervisord's "pid N, uptime ..." (compared in the
					// record): its start line cannot be awaited.
					s.noPid[f[0]] = true
					s.rec.problem(s.t, "status description without a pid: %q", l)
				}
				if m != nil {
					pid, _ := strconv.Atoi(m[1])
					if !started[pid] {
						return false
					}
				}
			}
			full := f[0]
			group, name, ok := strings.Cut(full, ":")
			if !ok {
				name = group
			}
			s.fullName[name], s.group[name] = full, group
		}
		return true
	})
	if !ok {
		s.rec.problem(s.t, "status did not settle within %v; last:\n%s", s.settleLimit, out)
		s.settleLimit = 15 * time.Second // once is enough to tell; the rest of the run still shows what it can
	}
	return out, code
}

// statesOnly keeps each status line's name and state: descriptions hold pids,
// uptimes and dates.
func statesOnly(out string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && stateName.MatchString(f[1]) {
			l = f[0] + " " + f[1]
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

var stateName = regexp.MustCompile(`^[A-Z]+$`)

var (
	uptime   = regexp.MustCompile(`uptime (\d+ days?, )?\d+:\d\d:\d\d`)
	stopDate = regexp.MustCompile(`[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M`)
)

// descriptions keeps each status line whole, with its uptime and date
// replaced (its pids are already PID(name)) and its columns' spacing made one
// space.
func descriptions(out string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		l = stopDate.ReplaceAllString(uptime.ReplaceAllString(l, "uptime UPTIME"), "DATE")
		b.WriteString(strings.Join(strings.Fields(l), " ") + "\n")
	}
	return b.String()
}

var number = regexp.MustCompile(`\b\d+\b`)

// normalise replaces the run's directory with $DIR.
func (s *svScenario) normalise(text string) string {
	return strings.ReplaceAll(text, s.dir, "$DIR")
}

// normalisePids is normalise, and replaces the backend's pid with MAINPID and
// a program's pid with PID(name). Only for what holds pids (pid, status): a
// low pid could match another number.
func (s *svScenario) normalisePids(text string) string {
	text = s.normalise(text)
	pids := map[string]string{strconv.Itoa(s.h.pid): "MAINPID"}
	for _, ev := range s.events() {
		pids[strconv.Itoa(ev.Pid)] = "PID(" + ev.Name + ")"
	}
	return number.ReplaceAllStringFunc(text, func(n string) string {
		if p, ok := pids[n]; ok {
			return p
		}
		return n
	})
}

// do settles, runs one supervisorctl command and records its exit code and
// normalised output.
func (s *svScenario) do(args ...string) string {
	s.t.Helper()
	s.settle()
	out, code := s.ctl(args...)
	s.step++
	key := fmt.Sprintf("step %02d: supervisorctl %s", s.step, strings.Join(args, " "))
	s.rec.add(key+" exit", strconv.Itoa(code))
	norm := s.normalise(out)
	switch args[0] {
	case "pid":
		norm = s.normalisePids(out)
	case "status":
		norm = statesOnly(norm)
	case "version":
		norm = "(the version differs: not compared)"
	}
	if args[0] == "restart" || len(args) == 2 && args[1] == "all" {
		norm = completionOrderless(norm)
	}
	s.rec.add(key+" output", norm)
	return out
}

// completionOrderless sorts the result lines of a command on several
// processes: supervisord answers each with its results in the order they
// complete (it polls its callbacks every 50ms), which is not guaranteed. What
// is: a restart's stops all come before its starts.
func completionOrderless(out string) string {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	phase := func(l string) int {
		if strings.HasSuffix(l, ": stopped") {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(lines, func(a, b string) int {
		if c := phase(a) - phase(b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return strings.Join(lines, "\n") + "\n"
}

// gone reports whether the backend has exited (then nothing more is waited for).
func (s *svScenario) gone() bool {
	select {
	case <-s.h.p.done:
		return true
	default:
		return false
	}
}

// waitEvent waits for an events line of kind ev from name.
func (s *svScenario) waitEvent(ev, name string) {
	s.t.Helper()
	if !poll(60*time.Second, func() bool {
		return s.gone() || slices.ContainsFunc(s.events(), func(e svEvent) bool { return e.Ev == ev && e.Name == name })
	}) {
		s.rec.problem(s.t, "no %q event from %s within 60s", ev, name)
	}
}

// waitLogged waits until the log file rel (in the run's directory) holds line
// once for each start of name, so a tail of it sees everything printed.
func (s *svScenario) waitLogged(rel, name, line string) {
	s.t.Helper()
	var n int
	if !poll(60*time.Second, func() bool {
		n = 0
		for _, ev := range s.events() {
			if ev.Ev == "start" && ev.Name == name {
				n++
			}
		}
		b, _ := os.ReadFile(filepath.Join(s.dir, rel))
		return s.gone() || strings.Count(string(b), line+"\n") >= n
	}) {
		s.rec.problem(s.t, "%s does not hold %q %d times within 60s", rel, line, n)
	}
}

// orderByGroup turns a sequence of process names into its runs of one group,
// each "group: members" with the members sorted (their order within a run is
// not guaranteed).
func (s *svScenario) orderByGroup(names []string) string {
	var b strings.Builder
	var members []string
	last := ""
	flush := func() {
		if members != nil {
			slices.Sort(members)
			fmt.Fprintf(&b, "%s: %s\n", last, strings.Join(members, " "))
		}
	}
	for _, n := range names {
		g := s.group[n]
		if g == "" {
			g = "?" + n
		}
		if g != last {
			flush()
			last, members = g, nil
		}
		members = append(members, n)
	}
	flush()
	return b.String()
}

var autoLog = regexp.MustCompile(`---supervisor-[^/]*\.log`)

// runScenario runs the scenario under b and returns its record.
func runScenario(t *testing.T, b svBackend, ctlPath string, withUser bool) *svRecord {
	dir := setupScenario(t, withUser)
	s := &svScenario{
		t: t, ctlPath: ctlPath, dir: dir, conf: filepath.Join(dir, "supervisord.conf"),
		rec: &svRecord{backend: b.name}, fullName: map[string]string{}, group: map[string]string{},
		settleLimit: 120 * time.Second, noPid: map[string]bool{},
	}
	r := s.rec
	s.h = b.start(t, dir, s.conf)
	defer func() {
		if t.Failed() {
			t.Logf("%s's own output:\n%s", b.name, s.h.p.log())
		}
	}()

	// Start-up: the listing once it settles.
	out, code := s.settle()
	r.add("status after start exit", strconv.Itoa(code))
	r.add("status after start", statesOnly(out))
	r.add("status after start, with descriptions", descriptions(s.normalisePids(out)))
	pidfile, err := os.ReadFile(filepath.Join(dir, "supervisord.pid"))
	switch {
	case err != nil:
		r.add("pidfile while running", "absent")
	case strings.TrimSpace(string(pidfile)) == strconv.Itoa(s.h.pid):
		r.add("pidfile while running", "holds the supervisor's pid")
	default:
		r.add("pidfile while running", fmt.Sprintf("holds %q", s.normalisePids(string(pidfile))))
	}
	if fi, err := os.Stat(filepath.Join(dir, "sv.sock")); err == nil {
		r.add("socket mode", fmt.Sprintf("%v", fi.Mode()))
	}

	// Spawn order at start-up: the first start of each process, by pid (fork
	// order; pids wrapping around during the start would break this).
	first := map[string]svEvent{}
	for _, ev := range s.events() {
		if _, seen := first[ev.Name]; ev.Ev == "start" && !seen {
			first[ev.Name] = ev
		}
	}
	byPid := slices.SortedFunc(func(yield func(svEvent) bool) {
		for _, ev := range first {
			if !yield(ev) {
				return
			}
		}
	}, func(a, b svEvent) int { return a.Pid - b.Pid })
	var names []string
	for _, ev := range byPid {
		names = append(names, ev.Name)
	}
	r.add("spawn order at start (by group priority)", s.orderByGroup(names))
	var inX []string
	for _, n := range names {
		if s.group[n] == "x" {
			inX = append(inX, n)
		}
	}
	r.add("spawn order at start within group x (programs= order, not priority)", strings.Join(inX, " "))
	// No waiting between priorities: pool (priority 100, startsecs 5) was
	// still STARTING when the last priority (broken, 400) was spawned, so its
	// start line comes well within 5s of pool_00's (4s: a slow python start
	// on a loaded machine must not make it look like waiting).
	if p, b := first["pool_00"], first["broken"]; p.Pid != 0 && b.Pid != 0 {
		r.add("spawn at start waits for RUNNING", strconv.FormatBool(b.T-p.T > 4))
	}

	// broken's retries: supervisord spawns it again no sooner than 1s, then
	// 2s, after each quick exit (its start lines are at least that far apart:
	// each start line comes after its own spawn).
	var brokenT []float64
	for _, ev := range s.events() {
		if ev.Ev == "start" && ev.Name == "broken" {
			brokenT = append(brokenT, ev.T)
		}
	}
	if len(brokenT) >= 3 {
		r.add("broken retried no sooner than 1s, then 2s", strconv.FormatBool(brokenT[1]-brokenT[0] >= 1 && brokenT[2]-brokenT[1] >= 2))
	}

	// The commands.
	s.do("status", "x:a")
	s.do("status", "once")
	s.do("stop", "x:a")
	s.do("stop", "x:a")
	s.do("start", "x:a")
	s.do("start", "x:a")
	s.do("restart", "x:*")
	s.do("signal", "USR1", "x:b")
	s.waitEvent("usr1", "b")
	s.do("pid")
	s.do("pid", "x:a")
	s.do("start", "nosuch")
	s.do("stop", "all")
	s.do("start", "all")
	s.do("status")
	s.waitLogged("logs/a.out", "a", "a out 2")
	s.waitLogged("logs/a.err", "a", "a err 1")
	s.waitLogged("logs/b.log", "b", "b out 2")
	s.waitLogged("logs/b.log", "b", "b err 1")
	s.do("tail", "x:a")
	s.do("tail", "x:a", "stderr")
	s.do("tail", "x:b")
	s.do("tail", "x:b", "stderr")
	s.do("avail")
	s.do("version")
	s.do("clear", "x:a")
	s.do("tail", "x:a")
	// A program file added to conf.d, one removed.
	copyFile(t, filepath.Join(dir, "later", "extra.conf"), filepath.Join(dir, "conf.d", "extra.conf"))
	if err := os.Remove(filepath.Join(dir, "conf.d", "once.conf")); err != nil {
		t.Fatal(err)
	}
	s.do("reread")
	s.do("update")
	s.do("status")
	stopsFrom := len(s.events())
	s.do("shutdown")
	select {
	case <-s.h.p.done:
	case <-time.After(60 * time.Second):
		r.problem(t, "still running 60s after shutdown: killed")
		_ = s.h.p.cmd.Process.Kill()
	}
	r.add("exit code after shutdown", strconv.Itoa(s.h.p.exitCode(t)))

	// Stop order at shutdown, by group: the stop lines written after the
	// shutdown command.
	names = nil
	for _, ev := range s.events()[stopsFrom:] {
		if ev.Ev == "stop" {
			names = append(names, ev.Name)
		}
	}
	r.add("stop order at shutdown (by group priority, highest first)", s.orderByGroup(names))

	// Every process started: how many times, and each distinct way it was
	// started (argv, cwd, uid, gid, the compared environment).
	starts := map[string]int{}
	profiles := map[string][]string{}
	signals := map[string]int{}
	for _, ev := range s.events() {
		switch ev.Ev {
		case "start":
			starts[ev.Name]++
			var env []string
			var beyond []string
			for _, k := range svComparedEnv {
				if v, ok := ev.Env[k]; ok {
					env = append(env, k+"="+v)
				} else {
					env = append(env, k+" unset")
				}
			}
			for k := range ev.Env {
				if !slices.Contains(svComparedEnv, k) && k != "DIFF_RUN" && k != "SUPERVISOR_TEST_RUN" {
					beyond = append(beyond, k)
				}
			}
			slices.Sort(beyond)
			argv, _ := json.Marshal(ev.Argv)
			p := s.normalise(fmt.Sprintf("argv %s\ncwd %s\n%s\nenv %s\nenv beyond the compared: %q",
				argv, ev.Cwd, credentials(ev), strings.Join(env, "\nenv "), beyond))
			if !slices.Contains(profiles[ev.Name], p) {
				profiles[ev.Name] = append(profiles[ev.Name], p)
			}
		case "usr1":
			signals[ev.Name]++
		}
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range starts {
			if !yield(n) {
				return
			}
		}
	}) {
		r.add("process "+name+" starts", strconv.Itoa(starts[name]))
		for i, p := range profiles[name] {
			r.add(fmt.Sprintf("process %s started as (%d)", name, i+1), p)
		}
	}
	for name, n := range signals {
		r.add("process "+name+" USR1 received", strconv.Itoa(n))
	}

	// What the supervisor left, and every log file's content (AUTO names end
	// in a random part). The supervisor's own log is not compared, only there.
	for _, f := range []string{"supervisord.pid", "sv.sock"} {
		_, err := os.Lstat(filepath.Join(dir, f))
		r.add("after exit: "+f+" exists", strconv.FormatBool(err == nil))
	}
	var logs []string
	for _, sub := range []string{"logs", "childlogs"} {
		_ = filepath.WalkDir(filepath.Join(dir, sub), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				logs = append(logs, path)
			}
			return nil
		})
	}
	var logNames []string
	for _, path := range logs {
		rel, _ := filepath.Rel(dir, path)
		key := "log file " + autoLog.ReplaceAllString(rel, "---supervisor-RANDOM.log")
		logNames = append(logNames, key)
		b, _ := os.ReadFile(path)
		switch {
		case rel == filepath.Join("logs", "supervisord.log"):
			r.add(key, fmt.Sprintf("(the supervisor's own log: not compared; empty: %v)", len(b) == 0))
		case len(b) == 0:
			r.add(key, "(empty)")
		default:
			r.add(key, s.normalise(string(b)))
		}
	}
	slices.Sort(logNames)
	r.add("log files", strings.Join(logNames, "\n"))
	r.output = s.h.p.log()
	return r
}

const svGolden = "testdata/supervisord/supervisord.golden"

// The scenario under supervisord is checked against what supervisord 4.2.5
// did (testdata/supervisord/supervisord.golden; SUPERVISORD_DIFF_UPDATE=1
// rewrites it from a run as root with the user switch), and under ours
// against supervisord's record of the same run.
func TestSupervisordDifferential(t *testing.T) {
	t.Parallel()
	supervisord, supervisorctl := needSupervisord(t)
	withUser, why := canSwitchUser()
	if !withUser {
		t.Logf("the user-switch program is left out: %s", why)
	}
	backends := svBackends(supervisord)
	recs := make([]*svRecord, len(backends))
	t.Run("run", func(t *testing.T) {
		for i, b := range backends {
			t.Run(b.name, func(t *testing.T) {
				t.Parallel()
				recs[i] = runScenario(t, b, supervisorctl, withUser)
			})
		}
	})
	if recs[0] == nil {
		t.Fatal("no record of the supervisord run")
	}

	// supervisord against what it is expected to do.
	if os.Getenv("SUPERVISORD_DIFF_UPDATE") == "1" {
		if !withUser {
			t.Fatalf("SUPERVISORD_DIFF_UPDATE needs the user switch (%s)", why)
		}
		if err := os.WriteFile(svGolden, []byte(recs[0].String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(svGolden)
	if err != nil {
		t.Fatal(err)
	}
	want := parseRecord("expected", string(golden))
	got := recs[0]
	if !withUser {
		want, got = want.without("asuser"), got.without("asuser")
	}
	if d := diffRecords(want, got); d != nil {
		t.Errorf("supervisord did not do what %s says (%d differences; SUPERVISORD_DIFF_UPDATE=1 rewrites it):\n%s",
			svGolden, len(d), strings.Join(d, "\n"))
	}

	// Ours against supervisord.
	if len(recs) > 1 && recs[1] != nil {
		if d := diffRecords(recs[0], recs[1]); d != nil {
			t.Errorf("ours differs from supervisord in %d places:\n%s\nours' own output:\n%s",
				len(d), strings.Join(d, "\n"), recs[1].output)
		}
	}
}

// Debian's stock /etc/supervisor/supervisord.conf, its paths moved into a temp
// dir and its [include] pointed at a conf.d holding one program, is accepted by
// supervisord (it runs the program) and by ours (run --check exits 0).
func TestSupervisordStockConfig(t *testing.T) {
	t.Parallel()
	supervisord, supervisorctl := needSupervisord(t)
	stock, err := os.ReadFile("/etc/supervisor/supervisord.conf")
	if err != nil {
		if os.Getenv("SUPERVISOR_NEED_SUPERVISORD") == "1" {
			t.Fatalf("Debian's stock config is needed: %v", err)
		}
		t.Skipf("no stock config: %v", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf.d", "hello.conf"),
		[]byte("[program:hello]\ncommand = /bin/sleep 1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := string(stock)
	for _, rw := range []struct{ old, new string }{
		{"/var/run/supervisor.sock", dir + "/supervisor.sock"}, // [unix_http_server] file and [supervisorctl] serverurl
		{"/var/log/supervisor/supervisord.log", dir + "/supervisord.log"},
		{"/var/run/supervisord.pid", dir + "/supervisord.pid"},
		{"childlogdir=/var/log/supervisor", "childlogdir=" + dir},
		{"/etc/supervisor/conf.d/*.conf", dir + "/conf.d/*.conf"},
	} {
		if !strings.Contains(conf, rw.old) {
			t.Fatalf("the stock config no longer holds %q:\n%s", rw.old, stock)
		}
		conf = strings.ReplaceAll(conf, rw.old, rw.new)
	}
	path := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("supervisord", func(t *testing.T) {
		t.Parallel()
		b := svBackends(supervisord)[0]
		h := b.start(t, dir, path)
		s := &svScenario{t: t, ctlPath: supervisorctl, conf: path, h: h, rec: &svRecord{backend: b.name}}
		var out string
		if !poll(60*time.Second, func() bool {
			out, _ = s.ctl("status")
			return strings.HasPrefix(out, "hello") && strings.Contains(out, "RUNNING")
		}) {
			t.Fatalf("supervisord did not run the conf.d program within 60s; status:\n%s\nits output:\n%s", out, h.p.log())
		}
		if out, code := s.ctl("shutdown"); code != 0 {
			t.Errorf("shutdown: exit %d: %s", code, out)
		}
		if code := h.p.exitCode(t); code != 0 {
			t.Errorf("supervisord exit code %d after shutdown:\n%s", code, h.p.log())
		}
	})
	t.Run("ours", func(t *testing.T) {
		t.Parallel()
		out, errOut, code := runBinary(t, exec.Command(bin("supervisor"), "run", "--check", "-c", path))
		if code != 0 {
			t.Errorf("supervisor run --check -c %s: exit %d, want 0:\n%s%s", path, code, out, errOut)
		}
	})
}
