package svrpc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/supervisor/supervisor/internal/xmlrpc"
)

// likeSupervisord is what supervisord's own readFile and tailFile
// (supervisor.options, 4.2.5) return for a file holding "0123456789", over a
// grid of offsets and lengths: offset, length, readFile's answer (or "fault
// NAME"), whether tailFile was asked (a negative length is not), and
// tailFile's [bytes, offset, overflow]. Generated with Debian's package:
//
//	from supervisor.options import readFile, tailFile
//	readFile(f, o, n), tailFile(f, o, n)  # for o, n in the grid
var likeSupervisord = []struct {
	offset, length int
	read           string
	tail           bool
	tailData       string
	tailOffset     int
	tailOverflow   bool
}{
	{-12, -12, "fault BAD_ARGUMENTS", false, "", 0, false},
	{-12, -10, "fault BAD_ARGUMENTS", false, "", 0, false},
	{-12, -3, "fault BAD_ARGUMENTS", false, "", 0, false},
	{-12, 0, "0123456789", true, "", 10, true},
	{-12, 1, "fault BAD_ARGUMENTS", true, "9", 10, true},
	{-12, 5, "fault BAD_ARGUMENTS", true, "56789", 10, true},
	{-12, 9, "fault BAD_ARGUMENTS", true, "123456789", 10, true},
	{-12, 10, "fault BAD_ARGUMENTS", true, "0123456789", 10, true},
	{-12, 11, "fault BAD_ARGUMENTS", true, "0123456789", 10, true},
	{-12, 20, "fault BAD_ARGUMENTS", true, "0123456789", 10, true},
	{-10, -12, "fault BAD_ARGUMENTS", false, "", 0, false},
	{-10, -10, "fault BAD_ARGUMENTS", false, "", 0, false},
	{-10, -3, "fault BAD_ARGUMENTS", false, "", 0, false},
	{-10, 0, "0123456789", true, "", 10, true},
	{-10, 1, "fault BAD_ARGUMENTS", true, "9", 10, true},
	{-10, 5, "fault BAD_ARGUMENTS", true, "56789", 10, true},
	{-10, 9, "fault BAD_ARGUMENTS", true, "123456789", 10, true},
	{-10, 10, "fault BAD_ARGUMENTS", true, "0123456789", 10, true},
	{-10, 11, "fault BAD_ARGUMENTS", true, "0123456789", 10, true},
	{-10, 20, "fault BAD_ARGUMENTS", true, "0123456789", 10, false},
	{-3, -12, "fault BAD_ARGUMENTS", false, "", 0, false},
	{-3, -10, "fault BAD_ARGUMENTS", false, "", 0, false},
	{-3, -3, "fault BAD_ARGUMENTS", false, "", 0, false},
	{-3, 0, "789", true, "", 10, true},
	{-3, 1, "fault BAD_ARGUMENTS", true, "9", 10, true},
	{-3, 5, "fault BAD_ARGUMENTS", true, "56789", 10, true},
	{-3, 9, "fault BAD_ARGUMENTS", true, "123456789", 10, true},
	{-3, 10, "fault BAD_ARGUMENTS", true, "0123456789", 10, true},
	{-3, 11, "fault BAD_ARGUMENTS", true, "0123456789", 10, true},
	{-3, 20, "fault BAD_ARGUMENTS", true, "0123456789", 10, false},
	{0, -12, "fault BAD_ARGUMENTS", false, "", 0, false},
	{0, -10, "fault BAD_ARGUMENTS", false, "", 0, false},
	{0, -3, "fault BAD_ARGUMENTS", false, "", 0, false},
	{0, 0, "0123456789", true, "", 10, true},
	{0, 1, "0", true, "9", 10, true},
	{0, 5, "01234", true, "56789", 10, true},
	{0, 9, "012345678", true, "123456789", 10, true},
	{0, 10, "0123456789", true, "0123456789", 10, false},
	{0, 11, "0123456789", true, "0123456789", 10, false},
	{0, 20, "0123456789", true, "0123456789", 10, false},
	{1, -12, "fault BAD_ARGUMENTS", false, "", 0, false},
	{1, -10, "fault BAD_ARGUMENTS", false, "", 0, false},
	{1, -3, "fault BAD_ARGUMENTS", false, "", 0, false},
	{1, 0, "123456789", true, "", 10, true},
	{1, 1, "1", true, "9", 10, true},
	{1, 5, "12345", true, "56789", 10, true},
	{1, 9, "123456789", true, "123456789", 10, false},
	{1, 10, "123456789", true, "0123456789", 10, false},
	{1, 11, "123456789", true, "0123456789", 10, false},
	{1, 20, "123456789", true, "0123456789", 10, false},
	{5, -12, "fault BAD_ARGUMENTS", false, "", 0, false},
	{5, -10, "fault BAD_ARGUMENTS", false, "", 0, false},
	{5, -3, "fault BAD_ARGUMENTS", false, "", 0, false},
	{5, 0, "56789", true, "", 10, true},
	{5, 1, "5", true, "9", 10, true},
	{5, 5, "56789", true, "56789", 10, false},
	{5, 9, "56789", true, "123456789", 10, false},
	{5, 10, "56789", true, "0123456789", 10, false},
	{5, 11, "56789", true, "0123456789", 10, false},
	{5, 20, "56789", true, "0123456789", 10, false},
	{9, -12, "fault BAD_ARGUMENTS", false, "", 0, false},
	{9, -10, "fault BAD_ARGUMENTS", false, "", 0, false},
	{9, -3, "fault BAD_ARGUMENTS", false, "", 0, false},
	{9, 0, "9", true, "", 10, true},
	{9, 1, "9", true, "9", 10, false},
	{9, 5, "9", true, "56789", 10, false},
	{9, 9, "9", true, "123456789", 10, false},
	{9, 10, "9", true, "0123456789", 10, false},
	{9, 11, "9", true, "0123456789", 10, false},
	{9, 20, "9", true, "0123456789", 10, false},
	{10, -12, "fault BAD_ARGUMENTS", false, "", 0, false},
	{10, -10, "fault BAD_ARGUMENTS", false, "", 0, false},
	{10, -3, "fault BAD_ARGUMENTS", false, "", 0, false},
	{10, 0, "", true, "", 10, false},
	{10, 1, "", true, "", 10, false},
	{10, 5, "", true, "", 10, false},
	{10, 9, "", true, "", 10, false},
	{10, 10, "", true, "", 10, false},
	{10, 11, "", true, "", 10, false},
	{10, 20, "", true, "", 10, false},
	{11, -12, "fault BAD_ARGUMENTS", false, "", 0, false},
	{11, -10, "fault BAD_ARGUMENTS", false, "", 0, false},
	{11, -3, "fault BAD_ARGUMENTS", false, "", 0, false},
	{11, 0, "", true, "", 10, false},
	{11, 1, "", true, "", 10, false},
	{11, 5, "", true, "", 10, false},
	{11, 9, "", true, "", 10, false},
	{11, 10, "", true, "", 10, false},
	{11, 11, "", true, "", 10, false},
	{11, 20, "", true, "", 10, false},
	{20, -12, "fault BAD_ARGUMENTS", false, "", 0, false},
	{20, -10, "fault BAD_ARGUMENTS", false, "", 0, false},
	{20, -3, "fault BAD_ARGUMENTS", false, "", 0, false},
	{20, 0, "", true, "", 10, false},
	{20, 1, "", true, "", 10, false},
	{20, 5, "", true, "", 10, false},
	{20, 9, "", true, "", 10, false},
	{20, 10, "", true, "", 10, false},
	{20, 11, "", true, "", 10, false},
	{20, 20, "", true, "", 10, false},
}

// TestFilesLikeSupervisord compares readFile and tailFile with supervisord's.
func TestFilesLikeSupervisord(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(f, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range likeSupervisord {
		got, err := readFile(f, tc.offset, tc.length, MaxRead)
		if fl, ok := err.(*xmlrpc.Fault); ok {
			got = "fault " + fl.String
		}
		if got != tc.read {
			t.Errorf("readFile(%d, %d) = %q, supervisord %q", tc.offset, tc.length, got, tc.read)
		}
		if !tc.tail {
			continue
		}
		tf := tailFile(f, tc.offset, tc.length, MaxRead)
		if tf[0] != tc.tailData || tf[1] != tc.tailOffset || tf[2] != tc.tailOverflow {
			t.Errorf("tailFile(%d, %d) = %q, supervisord [%q %d %v]", tc.offset, tc.length, tf, tc.tailData, tc.tailOffset, tc.tailOverflow)
		}
	}
}
