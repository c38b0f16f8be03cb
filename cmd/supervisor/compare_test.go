package main_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// compareReport is the part of `supervisor compare --json` the test reads.
type compareReport struct {
	Machine string
	Rows    []struct {
		Name, Title        string
		Goroutine, Process struct {
			Text  string
			Value float64
			Facts *struct {
				SupervisorSurvived bool `json:"supervisor_survived"`
				ExitCode           int  `json:"exit_code"`
				SiblingAnswered    bool `json:"sibling_answered"`
				Killed             bool
				Leaked             []string
			}
		}
	}
}

// runCompare runs the built binary's compare command and returns its stdout,
// stderr and exit code.
func runCompare(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	return runBinary(t, exec.CommandContext(ctx, bin("supervisor"), append([]string{"compare"}, args...)...))
}

// The whole table from the real binary, at small scale: every row, both
// columns measured, and the headline claims as facts.
func TestCompareJSON(t *testing.T) {
	t.Parallel()
	out, stderr, code := runCompare(t, "--json", "-n", "2", "--requests", "100")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	var rep compareReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("the output is no JSON: %v\n%s", err, out)
	}
	var names []string
	for _, r := range rep.Rows {
		names = append(names, r.Name)
		if r.Goroutine.Text == "" || r.Process.Text == "" {
			t.Errorf("row %s has an empty cell", r.Name)
		}
	}
	want := []string{"memory", "startup", "roundtrip", "throughput", "panic", "fatal", "exit", "shared-state", "ignore-stop", "deadlock"}
	if !slices.Equal(names, want) {
		t.Fatalf("rows %v, want %v", names, want)
	}
	for _, r := range rep.Rows {
		g, p := r.Goroutine.Facts, r.Process.Facts
		switch r.Name {
		case "fatal", "exit":
			if g == nil || p == nil || g.SupervisorSurvived || g.SiblingAnswered || !p.SupervisorSurvived || !p.SiblingAnswered {
				t.Errorf("%s: goroutine %+v, process %+v: want the goroutine's supervisor dead with its sibling, the process's alone", r.Name, g, p)
			}
		case "ignore-stop":
			if g == nil || p == nil || !slices.Contains(g.Leaked, "bad") || !p.Killed {
				t.Errorf("%s: goroutine %+v, process %+v: want leaked against killed", r.Name, g, p)
			}
		}
	}
}

func TestCompareMarkdownAndUsage(t *testing.T) {
	t.Parallel()
	out, stderr, code := runCompare(t, "--markdown", "--rows", "shared-state")
	if code != 0 || !strings.HasPrefix(out, "| row | goroutine (kind goroutine) | process (kind reexec) |\n|---|---|---|\n| worker corrupts shared") {
		t.Errorf("exit %d, markdown:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for _, args := range [][]string{{"--json", "--markdown"}, {"--rows", "nope"}, {"-n", "0"}, {"extra"}} {
		if _, stderr, code := runCompare(t, args...); code != 2 {
			t.Errorf("compare %q: exit %d, want 2 (usage)\n%s", args, code, stderr)
		}
	}
}
