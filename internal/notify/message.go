package notify

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// MaxDatagram is the largest sd_notify datagram accepted, in bytes: systemd's
// NOTIFY_BUFFER_MAX (PIPE_BUF). Listener reads into a buffer of this size and
// reports a longer datagram as malformed; Parse refuses longer input.
const MaxDatagram = 4096

// MaxIgnored bounds Message.Ignored; further ignored fields are only counted
// (Message.IgnoredMore).
const MaxIgnored = 16

// ErrMalformed: a datagram that is not an sd_notify message at all: longer than
// MaxDatagram, carrying more fds than MaxFds, or holding a NUL byte before its last
// byte. Every error in Message.Err and from Parse wraps it; the text says why.
var ErrMalformed = errors.New("notify: malformed datagram")

// Message is one sd_notify datagram, parsed. The zero value of a field means the
// datagram did not set it, except where a Has field says otherwise.
type Message struct {
	// Pid, Uid and Gid are the sender's credentials (SCM_CREDENTIALS), as the kernel
	// translated them into the supervisor's namespaces. Pid is 0 when unknown (a
	// sender in a PID namespace the supervisor cannot see). The sender may have
	// exited since: the credentials are from the moment it sent. A privileged sender
	// may state another pid: systemd-notify run as root sends its PARENT's pid (see
	// the package doc). Parse leaves them zero; Listener fills them in.
	Pid, Uid, Gid int

	Ready           bool // READY=1
	Stopping        bool // STOPPING=1
	Reloading       bool // RELOADING=1
	Watchdog        bool // WATCHDOG=1: a keep-alive ping
	WatchdogTrigger bool // WATCHDOG=trigger: the daemon asks to be treated as hung
	Barrier         bool // BARRIER=1 (sd_notify_barrier); nothing to do, see the package doc

	// Status is STATUS=, valid UTF-8 (HasStatus: present; "STATUS=" clears).
	Status    string
	HasStatus bool

	// MainPid is MAINPID=, a positive pid; 0 when absent.
	MainPid int

	// ExtendTimeout is EXTEND_TIMEOUT_USEC= (HasExtendTimeout: present). Values
	// beyond time.Duration's range are clamped to its maximum.
	ExtendTimeout    time.Duration
	HasExtendTimeout bool

	// Errno is ERRNO=, a non-negative errno (HasErrno: present).
	Errno    int
	HasErrno bool

	// Ignored holds, for logging, the lines this package did not apply: unknown keys
	// (FDSTORE=1, MONOTONIC_USEC=..., READY=0) and known keys with invalid values
	// (MAINPID=abc, STATUS= not UTF-8). At most MaxIgnored entries; IgnoredMore
	// counts the rest. A line is never longer than the datagram (MaxDatagram).
	Ignored     []string
	IgnoredMore int

	// Fds is how many file descriptors (SCM_RIGHTS) came with the datagram. They
	// are never handed out: Listener closes them after the handler returns.
	Fds int

	// Err is non-nil for a malformed datagram (it wraps ErrMalformed). Then every
	// field but the credentials and Fds is zero, and the caller logs and drops it.
	Err error
}

// Parse parses the sd_notify text format: fields KEY=VALUE separated by newlines
// ('\n', and '\r' as systemd also splits on it); empty lines are skipped; one
// trailing NUL byte is allowed, as systemd allows it. Flags (READY=1, ...) must
// have exactly the value 1 (WATCHDOG also "trigger"), as systemd compares whole
// lines. For a valued key set twice, the first occurrence wins, as in systemd's
// strv_find_startswith. An empty datagram is a Message with nothing set.
//
// Input longer than MaxDatagram, or with a NUL byte before its last byte, is
// malformed: Parse returns a Message whose only non-zero field is Err, and that
// same error. Parse never panics and allocates at most about len(b) bytes plus
// MaxIgnored string headers.
func Parse(b []byte) (Message, error) {
	if len(b) > MaxDatagram {
		return malformed(fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(b), MaxDatagram))
	}
	if n := len(b); n > 0 && b[n-1] == 0 {
		b = b[:n-1]
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return malformed(fmt.Errorf("%w: NUL byte at offset %d", ErrMalformed, i))
	}
	var m Message
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexAny(b, "\n\r"); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if len(line) > 0 && !m.apply(line) {
			m.ignore(line)
		}
	}
	return m, nil
}

func malformed(err error) (Message, error) {
	return Message{Err: err}, err
}

// apply sets the field line names and reports whether it did (false: unknown key
// or invalid value).
func (m *Message) apply(line []byte) bool {
	key, val, ok := bytes.Cut(line, []byte("="))
	if !ok {
		return false
	}
	switch string(key) {
	case "READY":
		return setFlag(&m.Ready, val)
	case "STOPPING":
		return setFlag(&m.Stopping, val)
	case "RELOADING":
		return setFlag(&m.Reloading, val)
	case "BARRIER":
		return setFlag(&m.Barrier, val)
	case "WATCHDOG":
		if string(val) == "trigger" {
			m.WatchdogTrigger = true
			return true
		}
		return setFlag(&m.Watchdog, val)
	case "STATUS":
		if !utf8.Valid(val) {
			return false
		}
		if !m.HasStatus {
			m.Status, m.HasStatus = string(val), true
		}
		return true
	case "MAINPID":
		pid, ok := parseDecimal(val, math.MaxInt32)
		if !ok || pid == 0 {
			return false
		}
		if m.MainPid == 0 {
			m.MainPid = int(pid)
		}
		return true
	case "ERRNO":
		errno, ok := parseDecimal(val, math.MaxInt32)
		if !ok {
			return false
		}
		if !m.HasErrno {
			m.Errno, m.HasErrno = int(errno), true
		}
		return true
	case "EXTEND_TIMEOUT_USEC":
		usec, ok := parseDecimal(val, math.MaxUint64)
		if !ok {
			return false
		}
		if !m.HasExtendTimeout {
			d := time.Duration(math.MaxInt64)
			if usec <= uint64(math.MaxInt64/int64(time.Microsecond)) {
				d = time.Duration(usec) * time.Microsecond
			}
			m.ExtendTimeout, m.HasExtendTimeout = d, true
		}
		return true
	}
	return false
}

func (m *Message) ignore(line []byte) {
	if len(m.Ignored) < MaxIgnored {
		m.Ignored = append(m.Ignored, string(line))
		return
	}
	m.IgnoredMore++
}

func setFlag(f *bool, val []byte) bool {
	if string(val) != "1" {
		return false
	}
	*f = true
	return true
}

// parseDecimal accepts 1 to 20 ASCII digits (no sign, no spaces) whose value is at
// most max.
func parseDecimal(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, v <= max
}
