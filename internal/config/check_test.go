package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckCommands(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "data")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	noInterp := filepath.Join(dir, "no-interp.sh")
	if err := os.WriteFile(noInterp, []byte("#!/nonexistent/interp -x\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	crlf := filepath.Join(dir, "crlf.sh")
	if err := os.WriteFile(crlf, []byte("#!/bin/sh\r\necho hi\r\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := `[program:ok-path]
command = /bin/sh -c true
[program:ok-bare]
command = sh
[program:ok-relative]
directory = ` + dir + `
command = ./run.sh
[program:builtin]
kind = reexec
command = service
[program:missing]
command = /nonexistent/prog
[program:bare-missing]
command = nosuch-cmd-xyz
[program:not-exec]
command = ` + notExec + `
[program:a-dir]
command = ` + dir + `
[program:no-interp]
command = ` + noInterp + `
[program:crlf]
command = ` + crlf + `
[program:no-dir]
directory = /nonexistent-dir
command = /bin/true
`
	problems, err := CheckCommands("f.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`f.conf:12: [program:missing] command: "/nonexistent/prog" does not exist`,
		`f.conf:14: [program:bare-missing] command: "nosuch-cmd-xyz" is not found in PATH`,
		`f.conf:16: [program:not-exec] command: "` + notExec + `" is not executable`,
		`f.conf:18: [program:a-dir] command: "` + dir + `" is a directory`,
		`f.conf:20: [program:no-interp] command: "` + noInterp + `": its #! line names "/nonexistent/interp", which does not exist`,
		`f.conf:22: [program:crlf] command: "` + crlf + `": its #! line "#!/bin/sh\r" ends in a carriage return`,
		`f.conf:24: [program:no-dir] directory: "/nonexistent-dir" does not exist`,
	}
	if len(problems) != len(want) {
		t.Fatalf("%d problems, want %d: %v", len(problems), len(want), problems)
	}
	for i, p := range problems {
		var e *Error
		if !errors.As(p, &e) || !strings.HasPrefix(p.Error(), want[i]) {
			t.Errorf("problem %d: %v, want it to start with %q", i, p, want[i])
		}
	}
	if _, err := CheckCommands("bad.conf", []byte("[program:x]\nrestart = sometimes\n")); err == nil {
		t.Error("a file that does not parse: no error")
	}
}
