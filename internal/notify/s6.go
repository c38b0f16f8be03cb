package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrNotReady: the s6 notification fd reached EOF before a newline. Every
// process holding its write end closed it (usually: the daemon exited) without
// declaring readiness.
var ErrNotReady = errors.New("notify: notification fd closed before a newline")

// s6ReadSize is WaitS6's read buffer: bytes before the newline are read into it
// and dropped, never accumulated.
const s6ReadSize = 512

// WaitS6 waits for readiness on the read end of an s6 notification-fd pipe: it
// returns nil once a newline arrives (the bytes before it are ignored), ErrNotReady
// at EOF without one, ctx.Err() when ctx is done first, or another read error.
// It blocks; the caller runs it in a goroutine of its own and turns the result
// into an event.
//
// WaitS6 owns r and closes it before returning, whatever the result. After the
// newline that is what s6-supervise does too: a daemon that writes to the fd
// again gets EPIPE (or SIGPIPE). Memory is bounded (one 512-byte buffer, nothing
// kept), so a daemon writing without end costs reads, not memory; ctx bounds the
// time.
//
// r should be the read end of an os.Pipe (the caller passes the write end to the
// child, e.g. as ExtraFiles[N-3] for fd N, and closes its own copy right after
// the child starts, or EOF never comes). Cancelling ctx interrupts a blocked read
// only if r is pollable, as os.Pipe's ends are; otherwise ctx is checked only
// between reads.
func WaitS6(ctx context.Context, r *os.File) error {
	defer r.Close()
	if err := ctx.Err(); err != nil {
		return err
	}
	// Cancelling ctx sets a deadline in the past, which wakes the blocked read.
	stop := context.AfterFunc(ctx, func() { _ = r.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, s6ReadSize)
	for {
		n, err := r.Read(buf)
		if bytes.IndexByte(buf[:n], '\n') >= 0 {
			return nil
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return ErrNotReady
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			return fmt.Errorf("notify: read notification fd: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
