package shim_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/shim"
)

// shimCmd runs this test binary as the shim (its init dispatches on argv[0]).
func shimCmd(t *testing.T, argv []string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), shim.Arg0)
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	return &exec.Cmd{Path: link, Args: argv}
}

func TestShim(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	umask := uint32(0o077)
	nice := 3
	script := `umask; ulimit -c; ulimit -Hc; cut -d' ' -f19 /proc/self/stat; echo "$@"`
	tests := []struct {
		doc    string
		limits *shim.Limits
		path   string
		argv   []string
		code   int
		out    string
	}{
		{
			doc:    "applies and execs",
			limits: &shim.Limits{Umask: &umask, Nice: &nice, Rlimits: []shim.Rlimit{{Resource: unix.RLIMIT_CORE, Cur: 0, Max: 4096}}},
			path:   sh, argv: []string{"sh", "-c", script, "sh", "a b", "c"},
			out: "0077\n0\n8\n3\na b c\n", // ulimit counts 512-byte blocks
		},
		{doc: "missing program", limits: &shim.Limits{Umask: &umask}, path: "/nonexistent/prog", argv: []string{"prog"}, code: 127, out: "exec /nonexistent/prog"},
		{doc: "not executable", limits: &shim.Limits{Umask: &umask}, path: "/etc/passwd", argv: []string{"passwd"}, code: 126, out: "exec /etc/passwd"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			out, err := shimCmd(t, shim.Command(tc.limits, nil, tc.path, tc.argv)).CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || (tc.code == 0 && string(out) != tc.out) || !strings.Contains(string(out), tc.out) {
				t.Fatalf("exit %d, output %q; want %d, %q", code, out, tc.code, tc.out)
			}
		})
	}
}

func TestShimBadSetting(t *testing.T) {
	t.Parallel()
	out, err := shimCmd(t, []string{shim.Arg0, "bogus=1", "--", "/bin/true", "true"}).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "supervisor-exec-shim: bogus=1: unknown setting") {
		t.Fatalf("err %v, output %q", err, out)
	}
}
