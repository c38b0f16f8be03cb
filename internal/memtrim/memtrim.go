package memtrim

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// span is one mapping: [start, end).
type span struct{ start, end uint64 }

// Executable unmaps the executable's read-only file pages (see the package
// doc) and returns how many bytes of mappings it gave back.
func Executable() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("memtrim: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("memtrim: %w", err)
	}
	spans, err := readOnlyMappings(f, exe)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("memtrim: /proc/self/smaps: %w", err)
	}
	var n int64
	for _, s := range spans {
		// A raw syscall: unix.Madvise wants a []byte, which would take an
		// unsafe conversion of an address that is not Go memory.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(s.start), uintptr(s.end-s.start), unix.MADV_DONTNEED); e != 0 {
			return n, fmt.Errorf("memtrim: madvise %#x-%#x: %w", s.start, s.end, e)
		}
		n += int64(s.end - s.start)
	}
	return n, nil
}

// readOnlyMappings lists the mappings of smaps (/proc/PID/smaps) backed by the
// file path, mapped r-xp or r--p, with no anonymous pages.
func readOnlyMappings(smaps io.Reader, path string) ([]span, error) {
	var out []span
	cur := -1 // index in out of the mapping being read, or -1
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if rng, ok := mappingHeader(f); ok {
			cur = -1
			// f[5] is the path; one with spaces or a " (deleted)" suffix
			// is not ours to match.
			if len(f) == 6 && f[5] == path && (f[1] == "r-xp" || f[1] == "r--p") {
				out = append(out, rng)
				cur = len(out) - 1
			}
			continue
		}
		if cur >= 0 && f[0] == "Anonymous:" && (len(f) < 2 || f[1] != "0") {
			out = append(out[:cur], out[cur+1:]...) // written to: not the file's contents
			cur = -1
		}
	}
	return out, sc.Err()
}

// mappingHeader parses a mapping's first line, "START-END PERMS OFFSET DEV
// INODE [PATH]", as opposed to a "Key: value" line.
func mappingHeader(f []string) (span, bool) {
	if len(f) < 5 || strings.HasSuffix(f[0], ":") {
		return span{}, false
	}
	a, b, ok := strings.Cut(f[0], "-")
	if !ok {
		return span{}, false
	}
	start, err1 := strconv.ParseUint(a, 16, 64)
	end, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return span{}, false
	}
	return span{start, end}, true
}
