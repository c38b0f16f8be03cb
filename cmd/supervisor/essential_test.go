package main_test

import (
	"os/exec"
	"syscall"
	"testing"
)

// An essential program that exits 3 for good stops the others; the supervisor
// exits 3, also as PID 1.
func TestEssentialExitCode(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, `
[program:side]
command = CHILD --ready-line --grandchild
[program:main]
command = CHILD --run 0s --exit 3
restart = never
essential = true
`)
	for _, pid1 := range []bool{false, true} {
		name := "plain"
		if pid1 {
			name = "pid1"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			argv := []string{bin("supervisor"), "run", "-c", conf}
			if pid1 {
				argv = append(asPID1(t), argv...)
			}
			p := startCmd(t, exec.Command(argv[0], argv[1:]...))
			if got := p.exitCode(t); got != 3 {
				t.Fatalf("exit code %d, want 3:\n%s", got, p.log())
			}
			p.waitLine(t, "essential program ended for good")
			p.waitLine(t, "supervisor.side", "program stopped")
		})
	}
}

// SIGUSR1 and SIGUSR2 sent to "supervisor run" reach every running program.
func TestRunForwardsUSR(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, `
[program:a]
command = CHILD signals
[program:b]
command = CHILD signals
spawner = forkexec
`)
	p := start(t, "run", "-c", conf)
	p.waitLine(t, "a | ready")
	p.waitLine(t, "b | ready")
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2} {
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		name := map[syscall.Signal]string{syscall.SIGUSR1: "got SIGUSR1", syscall.SIGUSR2: "got SIGUSR2"}[sig]
		p.waitLine(t, "a | "+name)
		p.waitLine(t, "b | "+name)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := p.exitCode(t); got != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", got, p.log())
	}
}
