package supervise_test

import (
	"errors"
	"path"
	"slices"
	"testing"

	"github.com/supervisor/supervisor/internal/supervise"
)

func TestMatchPrograms(t *testing.T) {
	t.Parallel()
	names := []string{"db", "api", "web-1", "web-2", "all"}
	for _, tc := range []struct {
		doc     string
		args    []string
		want    []string
		missing []string
		bad     bool
	}{
		{doc: "a name", args: []string{"api"}, want: []string{"api"}},
		{doc: "config order, each once", args: []string{"web-2", "db", "web-*", "db"}, want: []string{"db", "web-1", "web-2"}},
		{doc: "all is every program", args: []string{"all"}, want: names},
		{doc: "a program named all, by pattern", args: []string{"[a]ll"}, want: []string{"all"}},
		{doc: "one character", args: []string{"d?"}, want: []string{"db"}},
		{doc: "what matches nothing is missing", args: []string{"web-*", "cache-*", "nope"}, want: []string{"web-1", "web-2"}, missing: []string{"cache-*", "nope"}},
		{doc: "a malformed pattern", args: []string{"web-["}, bad: true},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			got, missing, err := supervise.MatchPrograms(names, tc.args)
			if tc.bad {
				if !errors.Is(err, path.ErrBadPattern) {
					t.Fatalf("err %v, want path.ErrBadPattern", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) || !slices.Equal(missing, tc.missing) {
				t.Errorf("MatchPrograms(%q) = %q, %q, %v; want %q, %q", tc.args, got, missing, err, tc.want, tc.missing)
			}
		})
	}
}
