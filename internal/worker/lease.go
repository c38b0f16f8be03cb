package worker

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/supervisor/supervisor/internal/ipc"
)

// The lease methods of the "child" worker's protocol mode, for the semaphore
// demo, tests and benchmark:
//
//	lease-bench N             N Acquire/release round trips of the lease "bench";
//	                          replies "median_ns P50 p90_ns P90"
//	append PATH LEASE N TAG   append N lines "TAG i/N" to PATH, one write(2) each,
//	                          holding the lease "file" (limit 1) throughout if
//	                          LEASE is 1; replies "appended N"
//	crash-holding PATH TAG    take the lease "file", write "TAG begin" to PATH,
//	                          and die holding it (die: exit 3 for the child
//	                          worker, a panic for the service worker)
//
// handleLease reports ok false for any other method.
func handleLease(ctx context.Context, c acquirer, method string, body []byte, stderr io.Writer, die func()) (out []byte, err error, ok bool) {
	args := strings.Fields(string(body))
	switch method {
	case "lease-bench":
		n, err := strconv.Atoi(string(body))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("lease-bench: want a count, got %q", body), true
		}
		lat := make([]time.Duration, 0, n)
		for range n {
			t0 := time.Now()
			release, err := c.Acquire(ctx, "bench", 1)
			if err != nil {
				return nil, err, true
			}
			if err := release(); err != nil {
				return nil, err, true
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		return []byte(fmt.Sprintf("median_ns %d p90_ns %d", lat[n/2].Nanoseconds(), lat[n*9/10].Nanoseconds())), nil, true
	case "append":
		if len(args) != 4 {
			return nil, fmt.Errorf("append: want PATH LEASE N TAG, got %q", body), true
		}
		n, err := strconv.Atoi(args[2])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("append: bad count %q", args[2]), true
		}
		f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err, true
		}
		defer f.Close()
		if args[1] == "1" {
			release, err := c.Acquire(ctx, "file", 1)
			if err != nil {
				return nil, err, true
			}
			defer release()
		}
		for i := 1; i <= n; i++ {
			if _, err := fmt.Fprintf(f, "%s %d/%d\n", args[3], i, n); err != nil {
				return nil, err, true
			}
		}
		return []byte("appended " + args[2]), nil, true
	case "crash-holding":
		if len(args) != 2 {
			return nil, fmt.Errorf("crash-holding: want PATH TAG, got %q", body), true
		}
		if _, err := c.Acquire(ctx, "file", 1); err != nil {
			return nil, err, true
		}
		if f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			fmt.Fprintf(f, "%s begin\n", args[1])
			f.Close()
		}
		fmt.Fprintln(stderr, "dying while holding the lease \"file\"")
		die()
	}
	return nil, nil, false
}

// acquirer is what takes leases: an ipc.Child, or a Host.
type acquirer interface {
	Acquire(ctx context.Context, name string, limit int) (release func() error, err error)
}

var _ acquirer = (*ipc.Child)(nil)
