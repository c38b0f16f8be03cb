package buildinfo_test

import (
	"runtime"
	"testing"

	"github.com/supervisor/supervisor/internal/buildinfo"
)

func TestString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc  string
		info buildinfo.Info
		want string
	}{
		{"nothing recorded", buildinfo.Info{Version: "devel", Go: "go1.26.0"}, "devel (commit unknown, go1.26.0)"},
		{"a clean build", buildinfo.Info{Version: "v1.2.0", Commit: "0123456789abcdef0123", Go: "go1.26.0"}, "v1.2.0 (commit 0123456789ab, go1.26.0)"},
		{"a modified tree", buildinfo.Info{Version: "abc1234-dirty", Commit: "abc1234", Modified: true, Go: "go1.26.0"}, "abc1234-dirty (commit abc1234, modified, go1.26.0)"},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			if got := tc.info.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	got := buildinfo.Get()
	if got.Version != "devel" || got.Go != runtime.Version() {
		t.Errorf("Get() = %+v, want version devel (nothing stamped in a test binary) and %s", got, runtime.Version())
	}
}
