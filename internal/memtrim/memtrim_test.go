package memtrim

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

const fixture = `00400000-00a00000 r-xp 00000000 08:01 123 /usr/bin/supervisor
Size:               6144 kB
Rss:                3500 kB
Anonymous:             0 kB
00a00000-01000000 r--p 00600000 08:01 123 /usr/bin/supervisor
Size:               6144 kB
Anonymous:             0 kB
01000000-01100000 rw-p 00c00000 08:01 123 /usr/bin/supervisor
Anonymous:           200 kB
01100000-01200000 r--p 00d00000 08:01 123 /usr/bin/supervisor
Anonymous:            12 kB
01200000-01300000 r-xp 00000000 08:01 456 /usr/lib/other.so
Anonymous:             0 kB
01300000-01400000 r-xp 00000000 08:01 123 /usr/bin/supervisor (deleted)
Anonymous:             0 kB
c000000000-c000400000 rw-p 00000000 00:00 0
Anonymous:          4096 kB
`

// Only the executable's read-only mappings whose pages are all the file's.
func TestReadOnlyMappings(t *testing.T) {
	got, err := readOnlyMappings(strings.NewReader(fixture), "/usr/bin/supervisor")
	if err != nil {
		t.Fatal(err)
	}
	want := []span{{0x400000, 0xa00000}, {0xa00000, 0x1000000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
}

// The test binary trims itself and goes on running: the code it runs next
// faults back in.
func TestExecutable(t *testing.T) {
	n, err := Executable()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("nothing trimmed: the test binary's own mappings were not found")
	}
	// Code and read-only data that start-up touched, used again.
	if _, err := os.ReadFile("/proc/self/stat"); err != nil {
		t.Fatal(err)
	}
	if again, err := Executable(); err != nil || again != n {
		t.Errorf("second call: %d, %v; want %d again", again, err, n)
	}
}
