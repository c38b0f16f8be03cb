package initmode_test

import (
	"syscall"
	"testing"

	"github.com/supervisor/supervisor/internal/initmode"
)

func TestParseSignal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want syscall.Signal
	}{
		{"TERM", 15}, {"SIGTERM", 15}, {"term", 15}, {"15", 15}, {"64", 64},
		{"RTMIN", 34}, {"SIGRTMIN+3", 37}, {"RTMAX", 64}, {"RTMAX-2", 62},
		{"IOT", 6}, {"POLL", 29}, {"STKFLT", 16},
	} {
		if got, err := initmode.ParseSignal(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0", "65", "-1", "NOPE", "RTMIN-1", "RTMAX+1", "RTMIN3", "SIG"} {
		if got, err := initmode.ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q) = %d, want an error", bad, got)
		}
	}
}

func TestParseRewrite(t *testing.T) {
	t.Parallel()
	rw := map[syscall.Signal]syscall.Signal{}
	for _, s := range []string{"TERM:QUIT", "1:0", "RTMIN+3:TERM"} {
		if err := initmode.ParseRewrite(rw, s); err != nil {
			t.Fatalf("ParseRewrite(%q): %v", s, err)
		}
	}
	if rw[15] != 3 || rw[1] != 0 || rw[37] != 15 || len(rw) != 3 {
		t.Errorf("rewrites %v", rw)
	}
	for _, bad := range []string{"TERM", "TERM:", ":TERM", "NOPE:TERM", "TERM:65"} {
		if err := initmode.ParseRewrite(rw, bad); err == nil {
			t.Errorf("ParseRewrite(%q): want an error", bad)
		}
	}
}

func TestSignalName(t *testing.T) {
	t.Parallel()
	for sig, want := range map[syscall.Signal]string{15: "SIGTERM", 34: "SIGRTMIN", 37: "SIGRTMIN+3", 33: "33"} {
		if got := initmode.SignalName(sig); got != want {
			t.Errorf("SignalName(%d) = %q, want %q", sig, got, want)
		}
	}
}
