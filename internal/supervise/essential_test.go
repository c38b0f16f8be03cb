package supervise_test

import (
	"testing"

	"github.com/supervisor/supervisor/internal/supervise"
)

// An essential program that ends for good stops the others, and the supervisor
// exits with its status; a non-essential one does not (the negative control).
func TestEssential(t *testing.T) {
	t.Parallel()
	cases := []struct {
		doc       string
		args      []string
		restart   supervise.RestartPolicy
		essential bool
		wantState supervise.State // of the essential program
		wantCode  int
	}{
		{"exits 3, restart never", []string{"--run", "0s", "--exit", "3"}, supervise.RestartNever, true, supervise.StateExited, 3},
		{"exits 0, on-failure", []string{"--run", "0s", "--exit", "0"}, supervise.RestartOnFailure, true, supervise.StateExited, 0},
		{"killed, restart never", []string{"--run", "0s", "--signal-self", "KILL"}, supervise.RestartNever, true, supervise.StateExited, 137},
		{"exits 3 until fatal", []string{"--run", "0s", "--exit", "3"}, supervise.RestartOnFailure, true, supervise.StateFatal, 3},
		{"not essential", []string{"--run", "0s", "--exit", "3"}, supervise.RestartNever, false, supervise.StateExited, 0},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			side := spec("side", supervise.SpawnExec, "--ready-line")
			main := spec("main", supervise.SpawnExec, tc.args...)
			main.Restart, main.Essential = tc.restart, tc.essential
			main.StartRetries = 1
			rn := serve(t, group(supervise.OneForOne, side, main))
			if tc.essential {
				rn.wait(t) // Serve returns only because main ended the group
				rn.rec.waitLine(t, "essential program ended for good", "main")
			} else {
				rn.rec.waitEvent(t, 1, is("main", tc.wantState))
				// main ended for good; side must still run.
				if st := rn.status(t, "side"); st.State != supervise.StateRunning {
					t.Fatalf("side is %s after a non-essential program ended, want running\n%s", st.State, rn.rec.dump())
				}
				rn.stop(t)
			}
			if got := rn.status(t, "main").State; got != tc.wantState {
				t.Errorf("main is %s, want %s", got, tc.wantState)
			}
			if got := rn.status(t, "side").State; got != supervise.StateStopped {
				t.Errorf("side is %s, want stopped\n%s", got, rn.rec.dump())
			}
			if got := rn.sup.ExitCode(); got != tc.wantCode {
				t.Errorf("exit code %d, want %d\n%s", got, tc.wantCode, rn.rec.dump())
			}
		})
	}
}
