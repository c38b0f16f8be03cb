package supervise_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/logfile"
	"github.com/supervisor/supervisor/internal/supervise"
)

func init() {
	// count-lines N writes N numbered lines to stdout as fast as it can, through
	// a large buffer so that writes cut lines anywhere; each line is its number
	// and a filler of varying length.
	helpers["count-lines"] = func(args []string) {
		n, _ := strconv.Atoi(args[0])
		w := bufio.NewWriterSize(os.Stdout, 64<<10)
		for i := range n {
			fmt.Fprintf(w, "%d %s\n", i, strings.Repeat("x", i%53))
		}
		w.Flush()
	}
	// both-streams N writes "out I" to stdout and "err I" to stderr, N of each,
	// alternating.
	helpers["both-streams"] = func(args []string) {
		n, _ := strconv.Atoi(args[0])
		for i := range n {
			fmt.Fprintf(os.Stdout, "out %d\n", i)
			fmt.Fprintf(os.Stderr, "err %d\n", i)
		}
	}
}

// lineHelper is a spec running helper once (restart never), not speaking the protocol.
func lineHelper(t *testing.T, name, helper string, args ...string) supervise.Spec {
	t.Helper()
	s := helperSpec(t, name, helper)
	s.Command = append(s.Command, args...)
	s.Protocol = false
	s.Restart = supervise.RestartNever
	return s
}

// A program writing numbered lines as fast as it can, its log rotated at 4 KiB
// with 3 backups: PATH.3, PATH.2, PATH.1 and PATH hold consecutive numbers up
// to the last, every line whole, none over the limit, exactly 3 backups, and
// the oldest lines are gone.
func TestLogFileRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "count.log")
	const n = 20000
	s := lineHelper(t, "count", "count-lines", strconv.Itoa(n))
	s.StdoutLog, s.LogMaxBytes, s.LogBackups = path, 4<<10, 3
	rn := serve(t, group(supervise.OneForOne, s))
	rn.wait(t) // the program ended for good; Serve drained its pipe and closed the file

	var all []int
	for _, p := range []string{path + ".3", path + ".2", path + ".1", path} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 4<<10 {
			t.Errorf("%s: %d bytes, over the 4096 limit", p, len(b))
		}
		if len(b) == 0 || b[len(b)-1] != '\n' {
			t.Fatalf("%s does not end with a whole line: %q", p, b[max(0, len(b)-20):])
		}
		for l := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
			num, filler, _ := strings.Cut(l, " ")
			i, err := strconv.Atoi(num)
			if err != nil || filler != strings.Repeat("x", i%53) {
				t.Fatalf("%s: a split or garbled line %q", p, l)
			}
			all = append(all, i)
		}
	}
	if _, err := os.Stat(path + ".4"); !os.IsNotExist(err) {
		t.Errorf("%s.4 exists (err %v): more than 3 backups", path, err)
	}
	for k := 1; k < len(all); k++ {
		if all[k] != all[k-1]+1 {
			t.Fatalf("lines %d then %d across the files: a line is missing or out of order", all[k-1], all[k])
		}
	}
	if all[len(all)-1] != n-1 {
		t.Errorf("the last line is %d, want %d", all[len(all)-1], n-1)
	}
	if all[0] == 0 {
		t.Errorf("the oldest lines are still there: rotation kept more than 3 backups' worth")
	}
}

// stdout_log == stderr_log merges both streams into one file, each line
// stamped when log_timestamps is set; each stream's lines keep their order.
func TestLogFileMergedWithTimestamps(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "both.log")
	const n = 500
	s := lineHelper(t, "both", "both-streams", strconv.Itoa(n))
	s.StdoutLog, s.StderrLog, s.LogTimestamps = path, path, true
	rn := serve(t, group(supervise.OneForOne, s))
	rn.wait(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	next := map[string]int{"out": 0, "err": 0}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for _, l := range lines {
		stamp, text, _ := strings.Cut(l, " ")
		ts, err := time.Parse(logfile.TimeFormat, stamp)
		if err != nil || time.Since(ts) > time.Hour || len(stamp) < len("2006-01-02T15:04:05.000Z") {
			t.Fatalf("line %q: no RFC 3339 timestamp with milliseconds (%v)", l, err)
		}
		stream, num, _ := strings.Cut(text, " ")
		if i, err := strconv.Atoi(num); err != nil || i != next[stream] {
			t.Fatalf("line %q: want %s %d next", l, stream, next[stream])
		}
		next[stream]++
	}
	if next["out"] != n || next["err"] != n {
		t.Errorf("%d stdout and %d stderr lines in the file, want %d of each", next["out"], next["err"], n)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() & ^os.FileMode(0o640) != 0 {
		t.Errorf("mode %v (err %v): want at most 0640", st.Mode(), err)
	}
}

// ReopenLogs, after the file was moved away, makes new lines go to a new
// file at the path, and the moved file keeps what came before.
func TestReopenLogsAfterMove(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, fifo := filepath.Join(dir, "w.log"), filepath.Join(dir, "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	s := spec("w", supervise.SpawnExec)
	s.Command = []string{"sh", "-c", `echo before; read x < "$1"; echo after; exec sleep 60`, "sh", fifo}
	s.StdoutLog = path
	rn := serve(t, group(supervise.OneForOne, s))
	waitFile(t, path, "before\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := rn.sup.ReopenLogs(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no new file at the path after ReopenLogs: %v", err)
	}
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0) // the program waits in its open for reading
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "go")
	f.Close()
	waitFile(t, path, "after\n")
	rn.stop(t)
	if b, _ := os.ReadFile(path + ".1"); string(b) != "before\n" {
		t.Errorf("the moved file holds %q, want %q", b, "before\n")
	}
}

// waitFile polls, under a deadline, until the file at path holds want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d := time.Millisecond; ; d = min(2*d, 50*time.Millisecond) {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q", path, b, want)
		}
		time.Sleep(d) // polling a file under a deadline, not synchronising
	}
}

// Console gets every line with its level: stdout Info unless its prefix says
// otherwise, stderr at stderr_level unless its prefix says otherwise; the
// logger gets none of them.
func TestConsoleAndStderrLevel(t *testing.T) {
	t.Parallel()
	s := spec("lv", supervise.SpawnExec)
	s.Command = []string{"sh", "-c", `echo plain; echo "WARNING: careful"; echo plain err >&2; echo "E1204 10:00:00.123 1 x.go:1] bad" >&2; echo "INFO fine" >&2`}
	s.Restart = supervise.RestartNever
	s.StderrLevel = hclog.Warn
	rec := newRecorder()
	lines := make(chan supervise.OutputLine, 16)
	sup, err := supervise.New(rec.logger(), group(supervise.OneForOne, s), supervise.Options{Workers: testWorkers, Reaper: testReaper,
		Console: func(l supervise.OutputLine) { lines <- l }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Serve(t.Context()); err != nil {
		t.Fatal(err)
	}
	close(lines)
	got := map[string]hclog.Level{}
	for l := range lines {
		got[l.Stream+": "+l.Text] = l.Level
	}
	want := map[string]hclog.Level{
		"stdout: plain": hclog.Info, "stdout: WARNING: careful": hclog.Warn, "stderr: plain err": hclog.Warn,
		"stderr: E1204 10:00:00.123 1 x.go:1] bad": hclog.Error, "stderr: INFO fine": hclog.Info,
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, lv := range want {
		if got[k] != lv {
			t.Errorf("%q: level %v, want %v", k, got[k], lv)
		}
	}
	for _, l := range rec.lineList() {
		if strings.Contains(l, "plain") || bytes.Contains([]byte(l), []byte("careful")) {
			t.Errorf("the logger got a program line with Console set: %q", l)
		}
	}
}

// A goroutine worker's stdout and stderr go to its log files too.
func TestLogFileGoroutineWorker(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "g.log")
	s := supervise.DefaultSpec()
	s.Name, s.Spawner, s.Protocol, s.Restart = "g", supervise.SpawnGoroutine, true, supervise.RestartNever
	s.Command = []string{"service", "--no-such-flag"} // prints the flag error and usage on stderr, returns
	s.StderrLog = path
	rn := serve(t, group(supervise.OneForOne, s))
	rn.wait(t)
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(b), "flag provided but not defined: -no-such-flag\n") {
		t.Errorf("log file: %q (%v)", b, err)
	}
}
