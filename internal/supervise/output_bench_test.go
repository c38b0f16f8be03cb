package supervise

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/logfile"
)

// BenchmarkOutputLines is the per-line path of program output: one 16 KiB
// read of 80-byte lines fed to a stream's splitter, as the output mux does,
// with each sink the Supervisor can have. ns/op is per line. "logger" is the
// path every line took before Options.Console and log files (an hclog text
// logger with pid and stream fields, as cmd/supervisor's was, into
// io.Discard); "console" hands lines to a Console hook instead (the hook's
// own cost is cmd/supervisor's BenchmarkConsoleLine); "file" adds a log file,
// "file+timestamps" stamps its lines.
func BenchmarkOutputLines(b *testing.B) {
	line := fmt.Sprintf("%079d\n", 0)
	var chunk []byte
	for len(chunk)+len(line) <= outReadChunk {
		chunk = append(chunk, line...)
	}
	perChunk := len(chunk) / len(line)
	logger := hclog.New(&hclog.LoggerOptions{Name: "supervisor", Output: io.Discard, Level: hclog.Info}).Named("web").With("pid", 1234, "stream", "stdout")
	tap := func(OutputLine) {}
	for _, c := range []struct {
		name    string
		console bool
		file    bool
		ts      bool
	}{
		{"logger", false, false, false},
		{"console", true, false, false},
		{"console+file", true, true, false},
		{"console+file+timestamps", true, true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			sp := lineSplitter{log: logger, tap: tap, prog: "web", pid: 1234}
			if c.console {
				sp.console = func(OutputLine) {}
			}
			if c.file {
				f, err := logfile.Open(nil, filepath.Join(b.TempDir(), "web.log"), logfile.Options{MaxBytes: 1 << 30, Backups: 1, Timestamps: c.ts})
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				sp.file = &logFileRef{f: f, release: func() {}}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += perChunk {
				sp.feed(chunk)
			}
		})
	}
}
