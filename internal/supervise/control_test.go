package supervise_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// Stop, Start, Restart, Signal and Shutdown on real processes, one program
// alone: a program stopped by request keeps Serve running until started again.
func TestControlOps(t *testing.T) {
	t.Parallel()
	a := spec("a", supervise.SpawnExec) // runs until signalled
	a.Restart = supervise.RestartNever
	rn := serve(t, group(supervise.OneForOne, a))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := rn.rec.waitEvent(t, 1, is("a", supervise.StateStarting))

	if err := rn.sup.Start(ctx, "a"); !errors.Is(err, supervise.ErrAlreadyStarted) {
		t.Errorf("Start of a started program: %v", err)
	}
	if err := rn.sup.Stop(ctx, "nope"); !errors.Is(err, supervise.ErrNoSuchProgram) {
		t.Errorf("Stop of an unknown program: %v", err)
	}
	if err := rn.sup.Stop(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	rn.rec.waitEvent(t, 1, is("a", supervise.StateStopped))
	if err := rn.sup.Signal(ctx, "a", syscall.SIGUSR1); !errors.Is(err, supervise.ErrNotRunning) {
		t.Errorf("Signal of a stopped program: %v", err)
	}
	select {
	case err := <-rn.done:
		t.Fatalf("Serve returned (%v) with a program stopped by request", err)
	default:
	}

	if err := rn.sup.Start(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	second := rn.rec.waitEvent(t, 2, is("a", supervise.StateStarting))
	if second.Pid == first.Pid {
		t.Errorf("Start did not spawn anew: pid %d both times", first.Pid)
	}
	if err := rn.sup.Restart(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	rn.rec.waitEvent(t, 3, is("a", supervise.StateStarting))

	// Whatever SIGTERM ends it with, restart=never lets it be.
	if err := rn.sup.Signal(ctx, "a", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rn.rec.waitEvent(t, 1, is("a", supervise.StateExited))
	// With nothing left to supervise and nothing held, Serve returns by itself.
	rn.wait(t)
	if err := rn.sup.Shutdown(ctx); !errors.Is(err, supervise.ErrShuttingDown) {
		t.Errorf("Shutdown after Serve returned: %v", err)
	}
}

func TestControlShutdown(t *testing.T) {
	t.Parallel()
	rn := serve(t, group(supervise.OneForOne, spec("a", supervise.SpawnForkExec), spec("b", supervise.SpawnReexec)))
	rn.rec.waitEvent(t, 1, is("b", supervise.StateStarting))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rn.sup.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rn.wait(t)
	if code := rn.sup.ExitCode(); code != 0 {
		t.Errorf("exit code %d after Shutdown, want 0", code)
	}
}
