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
// directory, for a relative path, as Spawn resolves it), a directory, or not
// executable; or whose directory is missing or not a directory. Each problem is an
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
		if err := supervise.CheckUser(&s); err != nil {
			_, line, section, _ := p.rawValue(pr, "user")
			problems = append(problems, p.validateError(err))
			if e := problems[len(problems)-1].(*Error); line > 0 {
				e.Line, e.Section, e.Key = line, section, "user"
			}
		}
		if s.Spawner != supervise.SpawnExec && s.Spawner != supervise.SpawnForkExec {
			continue // built-in workers: Parse checked their names
		}
		key, err := "directory", directory(s.Dir)
		if err == nil {
			key, err = "command", executable(s.Command[0], s.Dir)
		}
		if err != nil {
			line := pr.keys[key]
			if line == 0 {
				line = pr.line
			}
			problems = append(problems, &Error{File: name, Line: line, Section: "program:" + s.Name, Key: key, Msg: err.Error(), Err: err})
		}
	}
	return problems, nil
}

// CheckSpec is CheckCommands for one program given as a Spec (an ad hoc `run --
// PROGRAM`): why it cannot be started here, or nil.
func CheckSpec(s supervise.Spec) error {
	if s.Spawner != supervise.SpawnExec && s.Spawner != supervise.SpawnForkExec {
		return nil
	}
	if err := directory(s.Dir); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	return executable(s.Command[0], s.Dir)
}

// directory says why dir (a program's working directory; "" for none) is not one.
func directory(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := stat(dir)
	switch {
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%q is not a directory", dir)
	}
	return nil
}

// stat is os.Stat with its failure said plainly: "does not exist", or the error.
func stat(path string) (fs.FileInfo, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%q does not exist", path)
	case err != nil:
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	return fi, nil
}

// executable says why cmd could not be executed from dir, or nil.
func executable(cmd, dir string) error {
	if !strings.Contains(cmd, "/") {
		path, err := exec.LookPath(cmd)
		if err != nil {
			return fmt.Errorf("%q is not found in PATH (%s)", cmd, os.Getenv("PATH"))
		}
		if why := supervise.InterpreterProblem(path); why != nil {
			return fmt.Errorf("%q (%s): %w", cmd, path, why)
		}
		return nil
	}
	path := cmd
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	fi, err := stat(path)
	switch {
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%q is a directory", path)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("%q is not executable (mode %v)", path, fi.Mode().Perm())
	}
	if why := supervise.InterpreterProblem(path); why != nil {
		return fmt.Errorf("%q: %w", path, why)
	}
	return nil
}
