package svrpc

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/supervisor/supervisor/internal/xmlrpc"
)

// TestFilesLikeSupervisord compares readFile and tailFile with supervisord's
// own (supervisor.options), over a grid of offsets and lengths.
func TestFilesLikeSupervisord(t *testing.T) {
	t.Parallel()
	// Debian's supervisor package is in the system's Python, which may not be
	// the first python3 on PATH.
	py := ""
	for _, c := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(c); err == nil && exec.Command(p, "-c", "import supervisor.options").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Skip("no python3 with the supervisor package")
	}
	f := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(f, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	vals := []int{-12, -10, -3, 0, 1, 5, 9, 10, 11, 20}
	const script = `import json, sys
from supervisor.options import readFile, tailFile
f, vals = sys.argv[1], json.loads(sys.argv[2])
for o in vals:
    for n in vals:
        try:
            r = readFile(f, o, n).decode()
        except ValueError as e:
            r = "fault " + e.args[0]
        print(json.dumps([o, n, r, tailFile(f, o, n) if n >= 0 else None]))`
	js, _ := json.Marshal(vals)
	out, err := exec.Command(py, "-c", script, f, string(js)).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var row []any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatal(err)
		}
		o, n := int(row[0].(float64)), int(row[1].(float64))
		got, err := readFile(f, o, n, MaxRead)
		if fl, ok := err.(*xmlrpc.Fault); ok {
			got = "fault " + fl.String
		}
		if got != row[2] {
			t.Errorf("readFile(%d, %d) = %q, supervisord %q", o, n, got, row[2])
		}
		if row[3] == nil {
			continue
		}
		want := fmt.Sprint(row[3])
		tf := tailFile(f, o, n, MaxRead)
		if g := fmt.Sprint([]any{tf[0], float64(tf[1].(int)), tf[2]}); g != want {
			t.Errorf("tailFile(%d, %d) = %s, supervisord %s", o, n, g, want)
		}
	}
}
