package procfs_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/supervisor/supervisor/internal/procfs"
)

// tail is fields 7 to 52 of a real /proc/PID/stat line (tty_nr onwards), with
// utime 5, stime 7, num_threads 3, starttime 26261 and rss 355.
const tail = "0 -1 4194304 99 0 0 0 5 7 0 0 20 0 3 0 26261 3133440 355 18446744073709551615 " +
	"94813414924288 94813414944169 140728781941584 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 " +
	"94813414960176 94813414961792 94814002270208 140728781945539 140728781945559 " +
	"140728781945559 140728781946859 0\n"

func TestParseStat(t *testing.T) {
	t.Parallel()
	want := func(pid int, comm string, state byte, ppid, pgrp, sid int) procfs.Stat {
		return procfs.Stat{Pid: pid, Comm: comm, State: state, PPid: ppid, Pgrp: pgrp, Sid: sid,
			UTime: 5, STime: 7, Threads: 3, StartTicks: 26261, RSSPages: 355}
	}
	for _, tc := range []struct {
		doc  string
		line string
		want procfs.Stat
		bad  bool
	}{
		{doc: "plain", line: "24087 (cat) R 24085 24085 4784 " + tail,
			want: want(24087, "cat", 'R', 24085, 24085, 4784)},
		{doc: "comm with spaces", line: "7 (my prog) S 1 7 7 " + tail,
			want: want(7, "my prog", 'S', 1, 7, 7)},
		{doc: "comm with ') (' in it", line: "42 (a) (b) Z 9 9 1 " + tail,
			want: want(42, "a) (b", 'Z', 9, 9, 1)},
		{doc: "comm that looks like the next fields", line: "42 (x) R 1 2 3 ) T 5 6 7 " + tail,
			want: want(42, "x) R 1 2 3 ", 'T', 5, 6, 7)},
		{doc: "comm of parentheses only", line: "3 ()(()) I 2 0 0 " + tail,
			want: want(3, ")(()", 'I', 2, 0, 0)},
		{doc: "empty comm", line: "3 () S 2 0 0 " + tail, want: want(3, "", 'S', 2, 0, 0)},
		{doc: "pid 0 parent and no trailing newline", line: "1 (init) S 0 1 1 " + strings.TrimSuffix(tail, "\n"),
			want: want(1, "init", 'S', 0, 1, 1)},
		{doc: "negative pgrp", line: "5 (k) S 2 -1 -1 " + tail, want: want(5, "k", 'S', 2, -1, -1)},
		{doc: "empty", line: "", bad: true},
		{doc: "no comm", line: "12 cat R 1 1 1 " + tail, bad: true},
		{doc: "no closing parenthesis", line: "12 (cat R 1 1 1 " + tail, bad: true},
		{doc: "no pid", line: "(cat) R 1 1 1 " + tail, bad: true},
		{doc: "pid not a number", line: "x1 (cat) R 1 1 1 " + tail, bad: true},
		{doc: "state of two letters", line: "12 (cat) RS 1 1 1 " + tail, bad: true},
		{doc: "ppid not a number", line: "12 (cat) R one 1 1 " + tail, bad: true},
		{doc: "starttime not a number", line: "12 (cat) R 1 1 1 " + strings.Replace(tail, "26261", "2626x", 1), bad: true},
		{doc: "nothing after comm", line: "12 (cat)", bad: true},
		{doc: "too few fields (ends before rss)", line: "12 (cat) R 1 1 1 0 -1 4194304 99 0 0 0 5 7 0 0 20 0 3 0 26261 3133440\n", bad: true},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			got, err := procfs.ParseStat([]byte(tc.line))
			if tc.bad {
				if !errors.Is(err, procfs.ErrMalformed) {
					t.Errorf("ParseStat(%q) = %+v, %v; want ErrMalformed", tc.line, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseStat(%q) =\n %+v, %v; want\n %+v", tc.line, got, err, tc.want)
			}
		})
	}
}

func TestReadStatSelf(t *testing.T) {
	t.Parallel()
	st, err := procfs.ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// R, S or D: a process reading its own stat may be in a page fault's
	// uninterruptible sleep at that moment (seen in CI: 'D').
	if st.Pid != os.Getpid() || st.PPid != os.Getppid() || !strings.ContainsRune("RSD", rune(st.State)) {
		t.Errorf("self: %+v; want pid %d, ppid %d, state R, S or D", st, os.Getpid(), os.Getppid())
	}
	if st.Threads < 1 || st.RSSPages <= 0 || st.StartTicks == 0 {
		t.Errorf("self: %+v; want threads, rss and start time positive", st)
	}
}

func TestReadStatMissing(t *testing.T) {
	t.Parallel()
	// Above the kernel's PID_MAX_LIMIT (4M): never a process.
	if st, err := procfs.ReadStat(1 << 23); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadStat of no process: %+v, %v; want fs.ErrNotExist", st, err)
	}
}

func TestAllFindsSelf(t *testing.T) {
	t.Parallel()
	all, err := procfs.All()
	if err != nil {
		t.Fatal(err)
	}
	pids, err := procfs.Pids()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, st := range all {
		if st.Pid == os.Getpid() && st.PPid == os.Getppid() {
			found++
		}
	}
	if found != 1 {
		t.Errorf("the test process %d is listed %d times among %d processes, want once", os.Getpid(), found, len(all))
	}
	if len(pids) == 0 || !contains(pids, os.Getpid()) {
		t.Errorf("Pids (%d of them) lacks the test process %d", len(pids), os.Getpid())
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ReadSmall reads a multi-page list to its end (a seq_file read returns at most
// a page), and a single-record file in one read, whatever buffer it starts with.
func TestReadSmall(t *testing.T) {
	want, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	if len(want) <= 4096 {
		t.Skipf("/proc/self/maps is %d bytes: not a multi-page list here", len(want))
	}
	// The maps can change between two reads (the runtime maps memory): compare
	// the binary's own mappings, which are fixed.
	got, err := procfs.ReadSmall("/proc/self/maps", make([]byte, 100), false)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if own := ownMappings(got, exe); len(got) < len(want)*9/10 || own == "" || own != ownMappings(want, exe) {
		t.Errorf("read %d bytes of /proc/self/maps, os.ReadFile %d; the binary's mappings:\n%s\nwant\n%s",
			len(got), len(want), own, ownMappings(want, exe))
	}
	var buf [8]byte // smaller than the file: it must grow
	st, err := procfs.ReadSmall("/proc/self/stat", buf[:], true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(st, []byte("\n")) || bytes.Count(st, []byte(" ")) < 40 {
		t.Errorf("/proc/self/stat read as %q", st)
	}
	if _, err := procfs.ReadSmall("/proc/self/no-such-file", buf[:], true); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want not-exist", err)
	}
}

// ownMappings is the lines of a maps file that map the file exe.
func ownMappings(maps []byte, exe string) string {
	var out strings.Builder
	for line := range strings.Lines(string(maps)) {
		if strings.HasSuffix(line, " "+exe+"\n") {
			out.WriteString(line)
		}
	}
	return out.String()
}

// ReadUpTo stops when the buffer is full, and reads a shorter file whole.
func TestReadUpTo(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	got, err := procfs.ReadUpTo("/proc/self/cmdline", make([]byte, 4096))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadUpTo(cmdline, 4096) = %q, %v; want %q", got, err, want)
	}
	got, err = procfs.ReadUpTo("/proc/self/cmdline", make([]byte, 4))
	if err != nil || !bytes.Equal(got, want[:4]) {
		t.Errorf("ReadUpTo(cmdline, 4) = %q, %v; want %q", got, err, want[:4])
	}
}

// SignalIfStill signals only when still passes, and never a process that is gone.
func TestSignalIfStill(t *testing.T) {
	t.Parallel()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	cmd := exec.Command(sleep, "3600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	pid := cmd.Process.Pid
	if procfs.SignalIfStill(pid, syscall.SIGTERM, func(st procfs.Stat) bool { return st.PPid != os.Getpid() }) {
		t.Errorf("SIGTERM sent although still was false")
	}
	if !procfs.SignalIfStill(pid, syscall.SIGKILL, func(st procfs.Stat) bool { return st.Pid == pid && st.PPid == os.Getpid() }) {
		t.Fatalf("SIGKILL not sent to our child %d", pid)
	}
	err = cmd.Wait()
	waited = true
	// Had the first call sent SIGTERM, sleep would have died of it instead.
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("child ended with %v, want killed by SIGKILL", err)
	}
	// still passes for any child of ours: never a stranger that took the pid.
	if procfs.SignalIfStill(pid, syscall.SIGKILL, func(st procfs.Stat) bool { return st.PPid == os.Getpid() }) {
		t.Errorf("signal sent to pid %d after it was reaped", pid)
	}
}

func BenchmarkReadStat(b *testing.B) {
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := procfs.ReadStat(pid); err != nil {
			b.Fatal(err)
		}
	}
}
