package main

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/logfile"
	"github.com/supervisor/supervisor/internal/supervise"
)

// BenchmarkConsoleLine is the console's cost per program line, side by side
// with what rendered a line before (an hclog entry with pid and stream
// fields, the way the program's logger wrote it, through the same escaping),
// both into io.Discard.
func BenchmarkConsoleLine(b *testing.B) {
	text := fmt.Sprintf("%079d", 0)
	b.Run("hclog-as-before", func(b *testing.B) {
		log, err := newLogger(io.Discard, "text", "info")
		if err != nil {
			b.Fatal(err)
		}
		log = log.Named("web").With("pid", 1234, "stream", "stdout")
		b.ReportAllocs()
		for b.Loop() {
			log.Info(text)
		}
	})
	b.Run("console", func(b *testing.B) {
		c, err := newConsole(io.Discard, "", "text", hclog.Info, false, logfile.Options{})
		if err != nil {
			b.Fatal(err)
		}
		l := supervise.OutputLine{Time: time.Now(), Program: "web", Pid: 1234, Stream: "stdout", Text: text, Level: hclog.Info}
		b.ReportAllocs()
		for b.Loop() {
			c.line(l)
		}
	})
}

// The console renders "TIME NAME | LINE" and "TIME NAME ! LINE", escapes what
// could drive a terminal, and leaves out lines below its level.
func TestConsoleLine(t *testing.T) {
	var out strings.Builder
	c, err := newConsole(&out, "", "text", hclog.Warn, false, logfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 5, 0, 10, 0, 123e6, time.UTC)
	c.line(supervise.OutputLine{Time: at, Program: "web", Stream: "stdout", Text: "shown", Level: hclog.Warn})
	c.line(supervise.OutputLine{Time: at, Program: "web", Stream: "stdout", Text: "hidden", Level: hclog.Info})
	c.line(supervise.OutputLine{Time: at, Program: "web", Stream: "stderr", Text: "bad \x1b[31m", Level: hclog.Error})
	want := "2026-12-05T00:10:00.123Z web | shown\n2026-12-05T00:10:00.123Z web ! bad \\x1b[31m\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
