package logfile_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/logfile"
)

// TestMain runs the helper "fsize-limit" when LOGFILE_TEST_HELPER names it: a
// process whose file size limit makes every write past 4 KiB fail (EFBIG).
func TestMain(m *testing.M) {
	if os.Getenv("LOGFILE_TEST_HELPER") == "fsize-limit" {
		fsizeLimit(os.Args[len(os.Args)-1])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fsizeLimit writes 1000 lines to a File at path with writes failing past 4
// KiB, logging to stdout, then raises the limit and writes one more line.
func fsizeLimit(path string) {
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 4096, Max: 1 << 30}); err != nil {
		panic(err)
	}
	// Go ignores SIGXFSZ: the writes fail with EFBIG instead of killing us.
	f, err := logfile.Open(hclog.New(&hclog.LoggerOptions{Output: os.Stdout}), path, logfile.Options{})
	if err != nil {
		panic(err)
	}
	for i := range 1000 {
		f.Line(fmt.Appendf(nil, "line %d", i), time.Now())
		f.Flush()
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 1 << 30, Max: 1 << 30}); err != nil {
		panic(err)
	}
	f.Line([]byte("after"), time.Now())
	f.Close()
}

// A write that fails is logged once, not once per line, and recovery is
// logged once too; nothing blocks.
func TestWriteFailureLoggedOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.log")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$", path)
	cmd.Env = append(os.Environ(), "LOGFILE_TEST_HELPER=fsize-limit")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if n := bytes.Count(out, []byte("log file failing")); n != 1 {
		t.Errorf("%d failure messages, want 1:\n%s", n, out)
	}
	if !bytes.Contains(out, []byte("file too large")) || !bytes.Contains(out, []byte("log file writable again")) {
		t.Errorf("want the error (file too large) and the recovery logged:\n%s", out)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(b), "after\n") || len(b) > 4096+len("after\n") {
		t.Errorf("file: %d bytes ending %q", len(b), b[max(0, len(b)-20):])
	}
}

// With no backups a rotation truncates the file; Write (the supervisor's own
// log) rotates by size too, and Reopen follows a move.
func TestTruncateWriteAndReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "y.log")
	f, err := logfile.Open(nil, path, logfile.Options{MaxBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := strings.Repeat("a", 39) + "\n" // 40 bytes
	for range 5 {
		f.Write([]byte(line))
	}
	// 40, 80, then 120 > 100: truncated, 40, 80, then truncated again: 40.
	if b, _ := os.ReadFile(path); string(b) != line {
		t.Errorf("after 5 writes of 40 bytes with a 100-byte limit and no backups: %q", b)
	}
	if _, err := os.Stat(path + ".1"); !os.IsNotExist(err) {
		t.Errorf("a backup exists with log_backups 0: %v", err)
	}
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	f.Line([]byte("new"), time.Now())
	f.Flush()
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("after Reopen the new file holds %q", b)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm()&^logfile.Mode != 0 {
		t.Errorf("mode %v (err %v), want at most %v", st.Mode().Perm(), err, os.FileMode(logfile.Mode))
	}
}

// A line longer than MaxBytes goes whole into a file of its own.
func TestLongLineWhole(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "z.log")
	f, err := logfile.Open(nil, path, logfile.Options{MaxBytes: 10, Backups: 2})
	if err != nil {
		t.Fatal(err)
	}
	f.Line([]byte("short"), time.Time{})
	f.Line([]byte(strings.Repeat("L", 25)), time.Time{})
	f.Line([]byte("next"), time.Time{})
	f.Close()
	for p, want := range map[string]string{path + ".2": "short\n", path + ".1": strings.Repeat("L", 25) + "\n", path: "next\n"} {
		if b, _ := os.ReadFile(p); string(b) != want {
			t.Errorf("%s: %q, want %q", p, b, want)
		}
	}
}

// Stamps are TimeFormat's, also across seconds and zones.
func TestTimestamps(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.log")
	f, err := logfile.Open(nil, path, logfile.Options{Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	east := time.FixedZone("x", 3600+1800)
	times := []time.Time{
		time.Date(2026, 12, 4, 10, 0, 0, 5e6, time.UTC), time.Date(2026, 12, 4, 10, 0, 0, 999e6, time.UTC),
		time.Date(2026, 12, 4, 10, 0, 1, 0, time.UTC), time.Date(2026, 12, 4, 10, 0, 1, 123456789, east),
	}
	var want strings.Builder
	for i, ts := range times {
		f.Line(fmt.Appendf(nil, "l%d", i), ts)
		fmt.Fprintf(&want, "%s l%d\n", ts.Format(logfile.TimeFormat), i)
	}
	f.Close()
	if b, _ := os.ReadFile(path); string(b) != want.String() {
		t.Errorf("got\n%s\nwant\n%s", b, want.String())
	}
}
