package ipc

import (
	"math/bits"
	"sync"
)

// Bodies of large frames (over the decoder's 4 KiB read buffer, up to growStep)
// are read straight into buffers from these pools, and recycle puts them back.
// Fresh 64 KiB allocations are what made large frames slow: the runtime hands
// freed pages back to the kernel and faults them in again inside the next
// read(2), about 50 us per 64 KiB frame on the development VM, more than the copy
// itself.
//
// Pool i holds buffers whose capacity is in [1<<(i+minBodyClass), twice that).
// A miss allocates exactly the length asked for, so a Body nobody recycles (a
// Reply on the supervisor's side) costs no more than before the pools.
const (
	minBodyClass = 12 // 4 KiB: smaller frames are parsed in the read buffer
	maxBodyClass = 18 // 256 KiB = growStep
)

var bodyPools [maxBodyClass - minBodyClass + 1]sync.Pool // of *[]byte, len 0

// bodyClass is the index of the pool for capacity c (its floor power of two), or -1.
func bodyClass(c int) int {
	if c <= 0 {
		return -1
	}
	i := bits.Len(uint(c)) - 1 - minBodyClass
	if i < 0 || i >= len(bodyPools) {
		return -1
	}
	return i
}

// newBody returns a buffer of length n: a pooled one if a pool has one that
// holds n, else a new one. Its bytes are stale: the caller overwrites all of them.
func newBody(n int) []byte {
	i := bodyClass(n)
	if i < 0 {
		return make([]byte, n)
	}
	// Buffers in pool i may be too small for n; those in pool i+1 never are.
	if p, ok := bodyPools[i].Get().(*[]byte); ok {
		if cap(*p) >= n {
			return (*p)[:n]
		}
		bodyPools[i].Put(p)
	}
	if i+1 < len(bodyPools) {
		if p, ok := bodyPools[i+1].Get().(*[]byte); ok {
			return (*p)[:n]
		}
	}
	return make([]byte, n)
}

// recycle gives a decoded message's Body back, so that a later Decode (of this
// decoder or another) can read into it instead of allocating. It is optional: a
// Body never recycled is ordinary garbage. After recycle, neither the caller nor
// anyone it passed body to may use body, or any slice of it, again: the next
// large frame may overwrite it. Child.Serve recycles each Request's Body once its
// handler returned and the Reply was written. Any byte slice with a capacity
// from 4 KiB to just under 512 KiB is accepted (a Body that is a slice of a
// larger frame's buffer keeps that buffer alive while pooled); others are
// ignored. Safe for concurrent use.
func recycle(body []byte) {
	i := bodyClass(cap(body))
	if i < 0 {
		return
	}
	b := body[:0]
	bodyPools[i].Put(&b)
}
