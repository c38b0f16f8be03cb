package svconf_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/supervisor/supervisor/internal/config"
	"github.com/supervisor/supervisor/internal/svconf"
)

// block is one fenced block of a Markdown file.
type block struct {
	line int // of the opening fence
	lang string
	src  string
}

func fencedBlocks(t *testing.T, md string) []block {
	t.Helper()
	var (
		out []block
		cur *block
		b   strings.Builder
	)
	for i, line := range strings.Split(md, "\n") {
		if cur == nil {
			if lang, ok := strings.CutPrefix(line, "```"); ok {
				cur = &block{line: i + 1, lang: strings.TrimSpace(lang)}
				b.Reset()
			}
			continue
		}
		if strings.TrimSpace(line) == "```" {
			cur.src = b.String()
			out = append(out, *cur)
			cur = nil
			continue
		}
		b.WriteString(line + "\n")
	}
	if cur != nil {
		t.Fatalf("block at line %d is never closed", cur.line)
	}
	return out
}

// TestDocExamples loads every ```ini supervisord block of docs/supervisord.md
// (with no warning), and checks that the native ```ini block is what Convert
// prints for the [program:cat] the page describes. (internal/config's own
// test parses the native block.)
func TestDocExamples(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile(filepath.Join("..", "..", "docs", "supervisord.md"))
	if err != nil {
		t.Fatal(err)
	}
	var sv, native int
	for _, b := range fencedBlocks(t, string(md)) {
		switch b.lang {
		case "ini supervisord":
			sv++
			c, err := svconf.Parse(filepath.Join(t.TempDir(), "supervisord.conf"), []byte(b.src), svconf.Options{})
			if err != nil {
				t.Errorf("docs/supervisord.md:%d: %v", b.line, err)
				continue
			}
			if len(c.Warnings) > 0 {
				t.Errorf("docs/supervisord.md:%d: warnings %q", b.line, c.Warnings)
			}
			if b.line > 0 && strings.Contains(b.src, "[program:web]") {
				want := []string{"web:web_00", "web:web_01", "backend:worker"}
				if got := names(c); !reflect.DeepEqual(got, want) {
					t.Errorf("docs/supervisord.md:%d: programs %q, the page says %q", b.line, got, want)
				}
			}
		case "ini":
			native++
			c, err := svconf.Parse(filepath.Join(t.TempDir(), "s.conf"), []byte("[supervisord]\nchildlogdir = /tmp\n[program:cat]\ncommand = /bin/cat\n"), svconf.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if err := svconf.Convert(c, &out); err != nil {
				t.Fatal(err)
			}
			if got := stripComments(out.String()); got != b.src {
				t.Errorf("docs/supervisord.md:%d: Convert prints\n%s\nthe page shows\n%s", b.line, got, b.src)
			}
			if _, err := config.Parse("docs/supervisord.md", []byte(b.src)); err != nil {
				t.Errorf("docs/supervisord.md:%d: %v", b.line, err)
			}
		}
	}
	if sv == 0 || native == 0 {
		t.Fatalf("%d supervisord and %d native examples found in docs/supervisord.md", sv, native)
	}
}

// stripComments drops Convert's comment lines (# and ;) and the blank lines
// before the first section.
func stripComments(s string) string {
	var b strings.Builder
	started := false
	for _, line := range strings.SplitAfter(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") || (!started && t == "") {
			continue
		}
		started = true
		b.WriteString(line)
	}
	return b.String()
}
