package notify_test

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/supervisor/supervisor/internal/notify"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"READY=1", "READY=1\nSTATUS=hello", "BARRIER=1", "WATCHDOG=trigger\n", "MAINPID=42\x00",
		"EXTEND_TIMEOUT_USEC=18446744073709551615", "ERRNO=2\r\nSTOPPING=1", "STATUS=\xff", "a\x00b",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := notify.Parse(b)
		if err != nil {
			if !errors.Is(err, notify.ErrMalformed) || m.Err != err {
				t.Fatalf("error %v (Message.Err %v) does not wrap ErrMalformed or differs", err, m.Err)
			}
			if m.Ready || m.HasStatus || m.Ignored != nil || m.MainPid != 0 {
				t.Fatalf("malformed datagram left fields set: %+v", m)
			}
			return
		}
		if m.Err != nil {
			t.Fatalf("nil error but Message.Err = %v", m.Err)
		}
		if len(m.Ignored) > notify.MaxIgnored || m.IgnoredMore < 0 {
			t.Fatalf("Ignored not bounded: %d entries, %d more", len(m.Ignored), m.IgnoredMore)
		}
		if m.IgnoredMore > 0 && len(m.Ignored) != notify.MaxIgnored {
			t.Fatalf("IgnoredMore=%d with only %d entries", m.IgnoredMore, len(m.Ignored))
		}
		if m.HasStatus && !utf8.ValidString(m.Status) {
			t.Fatalf("status not UTF-8: %q", m.Status)
		}
		if !m.HasStatus && m.Status != "" {
			t.Fatalf("status %q without HasStatus", m.Status)
		}
		if m.MainPid < 0 || m.Errno < 0 || m.ExtendTimeout < 0 {
			t.Fatalf("negative value: %+v", m)
		}
		// Parse is deterministic and does not alias its input.
		saved := string(b)
		for i := range b {
			b[i] = 'Z'
		}
		if m2, _ := notify.Parse([]byte(saved)); m2.Status != m.Status || len(m2.Ignored) != len(m.Ignored) {
			t.Fatalf("Parse aliased its input: %+v vs %+v", m, m2)
		}
	})
}
