package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/supervisor/supervisor/internal/config"
)

// iniBlock is one ```ini block of a Markdown file.
type iniBlock struct {
	file string // path as given to extractINIBlocks
	line int    // 1-based line of the opening fence
	src  string
}

// extractINIBlocks returns every fenced block of md whose language is exactly
// "ini" (```ini). A fence indented (inside a list item) has that indentation
// removed from its lines, as Markdown does. An unclosed block is an error.
func extractINIBlocks(file, md string) ([]iniBlock, error) {
	var (
		blocks []iniBlock
		cur    *iniBlock
		indent string
		body   strings.Builder
	)
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if cur == nil {
			if lang, ok := strings.CutPrefix(trimmed, "```"); ok && strings.TrimSpace(lang) == "ini" {
				cur = &iniBlock{file: file, line: i + 1}
				indent = line[:len(line)-len(trimmed)]
				body.Reset()
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") && strings.TrimSpace(trimmed) == "```" {
			cur.src = body.String()
			blocks = append(blocks, *cur)
			cur = nil
			continue
		}
		body.WriteString(strings.TrimPrefix(line, indent))
		body.WriteByte('\n')
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: ```ini block is never closed", file, cur.line)
	}
	return blocks, nil
}

// TestDocExamplesParse feeds every ```ini block of the README and of docs/*.md
// to Parse: an example a reader copies must load as printed. A block that cannot
// be a whole config should be fenced as something other than ini.
func TestDocExamplesParse(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join("..", "..", "README.md")}, files...)
	total := 0
	for _, path := range files {
		md, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(filepath.Join("..", ".."), path)
		blocks, err := extractINIBlocks(name, string(md))
		if err != nil {
			t.Fatal(err)
		}
		total += len(blocks)
		for _, b := range blocks {
			t.Run(fmt.Sprintf("%s:%d", b.file, b.line), func(t *testing.T) {
				t.Parallel()
				if _, err := config.Parse(b.file, []byte(b.src)); err != nil {
					// Report the line in the Markdown file: the block's first
					// line is the one after the fence.
					var e *config.Error
					if errors.As(err, &e) {
						abs := *e
						if abs.Line > 0 {
							abs.Line += b.line
						} else {
							abs.Line = b.line
						}
						err = &abs
					}
					t.Errorf("%v (in the ```ini block at line %d)", err, b.line)
				}
			})
		}
	}
	if total == 0 {
		t.Fatal("no ```ini blocks found in README.md and docs/*.md: wrong paths?")
	}
}

func TestExtractINIBlocks(t *testing.T) {
	t.Parallel()
	md := "# title\n\n```ini\n[program:a]\ncommand = a\n```\n\n```sh\nnot ini\n```\n\n" +
		"- a list item:\n\n  ```ini\n  [program:b]\n    command = b\n  ```\n\n```ini text\nnot ini either\n```\n"
	blocks, err := extractINIBlocks("x.md", md)
	if err != nil {
		t.Fatal(err)
	}
	want := []iniBlock{
		{file: "x.md", line: 3, src: "[program:a]\ncommand = a\n"},
		{file: "x.md", line: 14, src: "[program:b]\n  command = b\n"},
	}
	if fmt.Sprint(blocks) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", blocks, want)
	}
	if _, err := extractINIBlocks("y.md", "```ini\n[program:a]\n"); err == nil || !strings.Contains(err.Error(), "y.md:1:") {
		t.Errorf("unclosed block: err %v, want one naming y.md:1", err)
	}
}
