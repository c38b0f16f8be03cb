package supervise

import (
	"bytes"
	"os"
	"testing"
)

// readSmall reads a multi-page list to its end (a seq_file read returns at most
// a page), and a single-record file in one read, whatever buffer it starts with.
func TestReadSmall(t *testing.T) {
	want, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	if len(want) <= 4096 {
		t.Skipf("/proc/self/maps is %d bytes: not a multi-page list here", len(want))
	}
	// The maps can change between two reads (the runtime maps memory): compare
	// the first lines, which are the binary's own mappings.
	got, err := readSmall("/proc/self/maps", make([]byte, 100), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < len(want)*9/10 || !bytes.Equal(got[:2000], want[:2000]) {
		t.Errorf("read %d bytes of /proc/self/maps, os.ReadFile %d", len(got), len(want))
	}
	var buf [8]byte // smaller than the file: it must grow
	st, err := readSmall("/proc/self/stat", buf[:], true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(st, []byte("\n")) || bytes.Count(st, []byte(" ")) < 40 {
		t.Errorf("/proc/self/stat read as %q", st)
	}
	if _, err := readSmall("/proc/self/no-such-file", buf[:], true); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want not-exist", err)
	}
}
