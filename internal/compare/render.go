package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Column headings of the table.
const (
	headRow       = "row"
	headGoroutine = "goroutine (kind goroutine)"
	headProcess   = "process (kind reexec)"
)

// WriteText writes the report as aligned columns, one row a line, with the
// machine and the sizes under it.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\t%s\n", headRow, headGoroutine, headProcess)
	fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.Repeat("-", len(headRow)), strings.Repeat("-", len(headGoroutine)), strings.Repeat("-", len(headProcess)))
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", row.Title, row.Goroutine.Text, row.Process.Text)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.footer())
	return err
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
