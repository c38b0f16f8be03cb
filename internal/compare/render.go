package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Column headings of the table.
const (
	headRow       = "row"
	headGoroutine = "goroutine (kind goroutine)"
	headProcess   = "process (kind reexec)"
)

// WriteText writes the report for a terminal: a block per row, its title and
// then one line per kind, the kinds' cells aligned (side by side, the cells
// made lines of over 200 columns), with the machine and the sizes under it.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "The same worker run as a goroutine in the supervisor (kind goroutine) and as a process (kind reexec):\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "\n%s\n  %-10s %s\n  %-10s %s\n", row.Title, "goroutine", row.Goroutine.Text, "process", row.Process.Text)
	}
	fmt.Fprintf(&b, "\n%s\n", r.footer())
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteMarkdown writes the report as a GitHub-flavoured Markdown table, with the
// machine and the sizes under it.
func (r Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| %s | %s | %s |\n|---|---|---|\n", headRow, headGoroutine, headProcess)
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", mdEscape(row.Title), mdEscape(row.Goroutine.Text), mdEscape(row.Process.Text))
	}
	fmt.Fprintf(&b, "\n%s\n", r.footer())
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// WriteJSON writes the report as one indented JSON object.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

func (r Report) footer() string {
	return fmt.Sprintf("Measured in this run on %s; %d workers per kind for start-up and memory, %d requests for round trip and throughput.",
		r.Machine, r.Workers, r.Requests)
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
