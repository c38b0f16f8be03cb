package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSupervisorctlDocExample runs the session docs/supervisorctl.md shows, as
// printed: its configuration (with /tmp/sv moved to a temporary directory)
// under our supervisor, and each `$ supervisorctl ...` line through the real
// supervisorctl, whose output must be what the page shows (pids and uptimes
// aside; lines in completion order compared as a set).
func TestSupervisorctlDocExample(t *testing.T) {
	t.Parallel()
	_, ctl := needSupervisord(t)
	md, err := os.ReadFile(filepath.Join("..", "..", "docs", "supervisorctl.md"))
	if err != nil {
		t.Fatal(err)
	}
	conf, session := fenced(string(md), "conf"), fenced(string(md), "console")
	if conf == "" || session == "" {
		t.Fatal("docs/supervisorctl.md has no ```conf or ```console block")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(conf, "/tmp/sv", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	ours := svBackends("")[1]
	h := ours.start(t, dir, path)
	run := func(args []string) string {
		cmd := exec.Command(ctl, args...)
		cmd.Env = svEnv(h.marker)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	status := []string{"-c", path, "status"}
	if !poll(20*time.Second, func() bool {
		out := run(status)
		return strings.Count(out, "RUNNING") == 3
	}) {
		t.Fatalf("not all RUNNING:\n%s\n%s", run(status), h.p.log())
	}
	varying := regexp.MustCompile(`pid \d+, uptime \d+:\d\d:\d\d`)
	norm := func(s string) []string {
		lines := strings.Split(strings.TrimRight(varying.ReplaceAllString(s, "pid N, uptime U"), "\n"), "\n")
		slices.Sort(lines)
		return lines
	}
	cmds := 0
	for _, step := range strings.Split("\n"+session, "\n$ ")[1:] {
		line, want, _ := strings.Cut(step, "\n")
		args := strings.Fields(strings.ReplaceAll(line, "/tmp/sv", dir))
		if args[0] != "supervisorctl" {
			continue // the supervisor itself: started above
		}
		cmds++
		got := run(args[1:])
		if !slices.Equal(norm(got), norm(want)) {
			t.Errorf("$ %s\ngot:\n%s\nthe page shows:\n%s", line, got, want)
		}
	}
	if cmds == 0 {
		t.Fatal("no supervisorctl command in the session")
	}
	if code := h.p.exitCode(t); code != 0 {
		t.Errorf("supervisor exit code %d after shutdown:\n%s", code, h.p.log())
	}
}

// fenced is the first block of md fenced as ```lang.
func fenced(md, lang string) string {
	_, rest, ok := strings.Cut(md, "\n```"+lang+"\n")
	if !ok {
		return ""
	}
	block, _, _ := strings.Cut(rest, "\n```\n")
	return block + "\n"
}
