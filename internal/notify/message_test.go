package notify_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/notify"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc  string
		in   string
		want notify.Message
	}{
		{doc: "empty datagram", in: "", want: notify.Message{}},
		{doc: "ready", in: "READY=1", want: notify.Message{Ready: true}},
		{doc: "ready and status, as systemd-notify --ready --status sends them",
			in:   "READY=1\nSTATUS=hello",
			want: notify.Message{Ready: true, Status: "hello", HasStatus: true}},
		{doc: "trailing newline and one trailing NUL", in: "READY=1\n\x00", want: notify.Message{Ready: true}},
		{doc: "CR separates as in systemd", in: "READY=1\r\nSTOPPING=1", want: notify.Message{Ready: true, Stopping: true}},
		{doc: "empty lines skipped", in: "\n\nRELOADING=1\n\n", want: notify.Message{Reloading: true}},
		{doc: "every flag",
			in: "READY=1\nSTOPPING=1\nRELOADING=1\nWATCHDOG=1\nWATCHDOG=trigger\nBARRIER=1",
			want: notify.Message{Ready: true, Stopping: true, Reloading: true, Watchdog: true,
				WatchdogTrigger: true, Barrier: true}},
		{doc: "flags need exactly 1", in: "READY=0\nREADY=yes\nREADY=1 \nWATCHDOG=2",
			want: notify.Message{Ignored: []string{"READY=0", "READY=yes", "READY=1 ", "WATCHDOG=2"}}},
		{doc: "empty status clears", in: "STATUS=", want: notify.Message{HasStatus: true}},
		{doc: "status keeps '=' and spaces", in: "STATUS= a=b ", want: notify.Message{Status: " a=b ", HasStatus: true}},
		{doc: "first status wins", in: "STATUS=one\nSTATUS=two",
			want: notify.Message{Status: "one", HasStatus: true}},
		{doc: "status not UTF-8 is ignored", in: "STATUS=\xff\xfe",
			want: notify.Message{Ignored: []string{"STATUS=\xff\xfe"}}},
		{doc: "mainpid", in: "MAINPID=4194304", want: notify.Message{MainPid: 4194304}},
		{doc: "mainpid invalid values", in: "MAINPID=0\nMAINPID=-1\nMAINPID=+5\nMAINPID=2147483648\nMAINPID= 7\nMAINPID=",
			want: notify.Message{Ignored: []string{"MAINPID=0", "MAINPID=-1", "MAINPID=+5",
				"MAINPID=2147483648", "MAINPID= 7", "MAINPID="}}},
		{doc: "first valid mainpid wins", in: "MAINPID=x\nMAINPID=12\nMAINPID=13",
			want: notify.Message{MainPid: 12, Ignored: []string{"MAINPID=x"}}},
		{doc: "errno zero is present", in: "ERRNO=0", want: notify.Message{HasErrno: true}},
		{doc: "errno", in: "ERRNO=111", want: notify.Message{Errno: 111, HasErrno: true}},
		{doc: "errno negative", in: "ERRNO=-2", want: notify.Message{Ignored: []string{"ERRNO=-2"}}},
		{doc: "extend timeout", in: "EXTEND_TIMEOUT_USEC=1500000",
			want: notify.Message{ExtendTimeout: 1500 * time.Millisecond, HasExtendTimeout: true}},
		{doc: "extend timeout zero", in: "EXTEND_TIMEOUT_USEC=0", want: notify.Message{HasExtendTimeout: true}},
		{doc: "extend timeout infinity clamps", in: "EXTEND_TIMEOUT_USEC=18446744073709551615",
			want: notify.Message{ExtendTimeout: math.MaxInt64, HasExtendTimeout: true}},
		{doc: "extend timeout overflowing uint64", in: "EXTEND_TIMEOUT_USEC=18446744073709551616",
			want: notify.Message{Ignored: []string{"EXTEND_TIMEOUT_USEC=18446744073709551616"}}},
		{doc: "unknown keys and lines without '=' are ignored, in order",
			in:   "FDSTORE=1\nREADY=1\nnonsense\nX-CUSTOM=1",
			want: notify.Message{Ready: true, Ignored: []string{"FDSTORE=1", "nonsense", "X-CUSTOM=1"}}},
		{doc: "keys are case sensitive", in: "ready=1", want: notify.Message{Ignored: []string{"ready=1"}}},
		{doc: "exactly MaxDatagram bytes", in: "READY=1\n" + strings.Repeat("\n", notify.MaxDatagram-8),
			want: notify.Message{Ready: true}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			got, err := notify.Parse([]byte(tc.in))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc string
		in  string
	}{
		{doc: "embedded NUL", in: "READY=1\x00STATUS=x"},
		{doc: "two trailing NULs", in: "READY=1\x00\x00"},
		{doc: "only NULs", in: "\x00\x00"},
		{doc: "longer than MaxDatagram", in: "READY=1\n" + strings.Repeat("x", notify.MaxDatagram)},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			got, err := notify.Parse([]byte(tc.in))
			if !errors.Is(err, notify.ErrMalformed) {
				t.Fatalf("Parse: err = %v, want ErrMalformed", err)
			}
			if got.Err != err {
				t.Errorf("Message.Err = %v, want the returned error %v", got.Err, err)
			}
			got.Err = nil
			if !reflect.DeepEqual(got, notify.Message{}) {
				t.Errorf("malformed datagram left fields set: %+v", got)
			}
		})
	}
}

func TestParseIgnoredIsBounded(t *testing.T) {
	t.Parallel()
	in := strings.Repeat("X=1\n", notify.MaxIgnored+100) + "READY=1"
	m, err := notify.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Ready || len(m.Ignored) != notify.MaxIgnored || m.IgnoredMore != 100 {
		t.Errorf("Ready=%v len(Ignored)=%d IgnoredMore=%d, want true, %d, 100",
			m.Ready, len(m.Ignored), m.IgnoredMore, notify.MaxIgnored)
	}
}
