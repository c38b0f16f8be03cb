package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/supervisor/supervisor/internal/supervise"
)

// CheckCommands parses src (as Parse does) and reports every program run from an
// external binary (spawner exec or forkexec) whose command cannot be executed on
// this machine: not found (in PATH, for a bare name; relative to the program's
// dir, for a relative path), a directory, or not executable. Each problem is an
// *Error naming the file, the line of the command key and the program. A file
// that does not parse returns Parse's error and no problems. What `run --check`
// adds to parsing: supervisord finds out only when it starts the program.
func CheckCommands(name string, src []byte) ([]error, error) {
	p := newParser(name)
	if _, err := p.parse(src); err != nil {
		return nil, err
	}
	var problems []error
	for _, pr := range p.programs {
		s := pr.spec
		if s.Spawner != supervise.SpawnExec && s.Spawner != supervise.SpawnForkExec {
			continue // built-in workers: Parse checked their names
		}
		if err := executable(s.Command[0], s.Dir); err != nil {
			line := pr.keys["command"]
			if line == 0 {
				line = pr.line
			}
			problems = append(problems, &Error{File: name, Line: line, Section: "program:" + s.Name, Key: "command", Msg: err.Error(), Err: err})
		}
	}
	return problems, nil
}

// executable says why cmd could not be executed from dir, or nil.
func executable(cmd, dir string) error {
	if !strings.Contains(cmd, "/") {
		if _, err := exec.LookPath(cmd); err != nil {
			return fmt.Errorf("%q is not found in PATH (%s)", cmd, os.Getenv("PATH"))
		}
		return nil
	}
	path := cmd
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%q does not exist", path)
	case err != nil:
		return fmt.Errorf("%q: %w", path, err)
	case fi.IsDir():
		return fmt.Errorf("%q is a directory", path)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("%q is not executable (mode %v)", path, fi.Mode().Perm())
	}
	return nil
}
