package supervise_test

import (
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/supervise"
)

func TestClassifyLevel(t *testing.T) {
	t.Parallel()
	const def = hclog.Warn // a stream's own level, to tell "none named" from Info
	for _, tc := range []struct {
		doc  string
		line string
		want hclog.Level
	}{
		{"empty", "", def},
		{"no prefix", "listening on :8080", def},
		{"hclog error", "[ERROR] boom", hclog.Error},
		{"hclog warn", "[WARN]  disk at 90%", hclog.Warn},
		{"hclog info", "[INFO] up", hclog.Info},
		{"hclog debug", "[DEBUG] x=1", hclog.Debug},
		{"hclog trace", "[TRACE] in", hclog.Trace},
		{"bracketed lower case", "[error] x", hclog.Error},
		{"bracketed WARNING", "[WARNING] x", hclog.Warn},
		{"bracketed unknown word", "[main] starting", def},
		{"bracketed unclosed", "[error x", def},
		{"nginx emerg", "2026/12/04 10:00:00 [emerg] 1#1: bind() failed", hclog.Error},
		{"nginx alert", "2026/12/04 10:00:00 [alert] 1#1: x", hclog.Error},
		{"nginx crit", "2026/12/04 10:00:00 [crit] 1#1: x", hclog.Error},
		{"nginx error", "2026/12/04 10:00:00 [error] 12#12: *1 open() failed", hclog.Error},
		{"nginx warn", "2026/12/04 10:00:00 [warn] 12#12: x", hclog.Warn},
		{"nginx notice", "2026/12/04 10:00:00 [notice] 1#1: start worker processes", hclog.Info},
		{"nginx info", "2026/12/04 10:00:00 [info] 1#1: x", hclog.Info},
		{"nginx debug", "2026/12/04 10:00:00 [debug] 1#1: x", hclog.Debug},
		{"nginx-like date, no level", "2026/12/04 10:00:00 [main] x", def},
		{"a number, then a bracket", "12 [error] x", def},
		{"ERROR word", "ERROR something failed", hclog.Error},
		{"ERROR colon", "ERROR: something failed", hclog.Error},
		{"WARN word", "WARN low disk", hclog.Warn},
		{"WARNING python", "WARNING:root:careful", hclog.Warn},
		{"INFO pipe", "INFO|started", hclog.Info},
		{"DEBUG alone", "DEBUG", hclog.Debug},
		{"FATAL", "FATAL cannot continue", hclog.Error},
		{"CRITICAL", "CRITICAL: x", hclog.Error},
		{"lower case with colon", "error: no such file", hclog.Error},
		{"lower case warning with colon", "warning: unused variable", hclog.Warn},
		{"lower case without colon", "error handling enabled", def},
		{"longer word", "ERRORS: 0", def},
		{"word and digit", "ERROR1 x", def},
		{"capitalised with colon", "Error: x", hclog.Error},
		{"capitalised without colon", "Error x", def},
		{"not at the start", "request failed: ERROR 500", def},
		{"glog error", "E1204 10:00:00.123456   12 main.go:42] failed", hclog.Error},
		{"glog warning", "W1204 10:00:00.123456   12 main.go:42] slow", hclog.Warn},
		{"glog info", "I1204 10:00:00.123456   12 main.go:42] ok", hclog.Info},
		{"glog fatal", "F1204 10:00:00.123456   12 main.go:42] dead", hclog.Error},
		{"glog unknown letter", "X1204 10:00:00.123 x", def},
		{"glog-like but short", "E1204", def},
		{"glog-like, no colon", "E1204 100000 x", def},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			if got := supervise.ClassifyLevel([]byte(tc.line), def); got != tc.want {
				t.Errorf("ClassifyLevel(%q) = %v, want %v", tc.line, got, tc.want)
			}
		})
	}
}
