package ipc

import (
	"sync/atomic"
	"time"
)

// Beat is a progress-gated heartbeat, the one used by both sides of a worker's
// link (Child for a process, internal/supervise for a goroutine worker): the
// worker's main loop calls Progress, and Run sends a Heartbeat only for an
// interval in which Progress was called, so a deadlocked main loop stops the
// heartbeats even though the goroutine running Run is alive. The zero value is
// ready to use.
type Beat struct {
	progress atomic.Bool // Progress was called since the last heartbeat
}

// Progress records that the worker's own main loop made progress. It is cheap
// (one atomic load when called again before the next heartbeat) and safe for
// concurrent use.
func (b *Beat) Progress() {
	if !b.progress.Load() {
		b.progress.Store(true)
	}
}

// Run sends, every interval, a Heartbeat with the next Seq (from 1) through send
// if Progress was called since the previous one. It blocks until stop or gone
// is closed (a nil channel never is) or send fails. interval must be positive.
func (b *Beat) Run(interval time.Duration, stop, gone <-chan struct{}, send func(Heartbeat) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var seq uint64
	for {
		select {
		case <-stop:
			return
		case <-gone:
			return
		case <-t.C:
		}
		if !b.progress.Swap(false) {
			continue
		}
		seq++
		if send(Heartbeat{Seq: seq}) != nil {
			return
		}
	}
}
