package main

import (
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/memtrim"
)

// trimDelay is when, after start, the executable's pages that start-up
// touched are given back (internal/memtrim): after the first spawns and the
// supervisor's start-up GC (supervise's startupRelease, 1s).
const trimDelay = 2 * time.Second

// trimLater gives back the executable's start-up pages trimDelay from now,
// once; the returned func cancels it if it has not run.
func trimLater(log hclog.Logger) (cancel func()) {
	t := time.AfterFunc(trimDelay, func() {
		n, err := memtrim.Executable()
		if err != nil {
			log.Debug("executable pages not given back", "error", err)
			return
		}
		log.Debug("executable pages given back until used again", "mapped_kib", n>>10)
	})
	return func() { t.Stop() }
}
