package main

import (
	"strings"
	"testing"
)

// Text logs show a child's control bytes escaped, keep newlines and tabs, and
// pass clean lines through untouched.
func TestEscapeControls(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain line\twith tab\n":                                        "plain line\twith tab\n",
		"A\x1b[31mRED\x00NUL\rCR\bBS\x7f\n":                             `A\x1b[31mRED\x00NUL\x0dCR\x08BS\x7f` + "\n",
		"C1 \u009b2J, bidi \u202eevil\u2066, bad \xff\xc3, fine: é ✓\n": `C1 \u009b2J, bidi \u202eevil\u2066, bad \xff\xc3, fine: é ✓` + "\n",
	} {
		var b strings.Builder
		n, err := escapeControls{&b}.Write([]byte(in))
		if err != nil || n != len(in) || b.String() != want {
			t.Errorf("Write(%q) = %d, %v, wrote %q; want %d, nil, %q", in, n, err, b.String(), len(in), want)
		}
	}
}
