package ipc

import (
	"math/bits"
	"sync"
)

// Bodies of large frames (over the Decoder's 4 KiB read buffer) are read straight
// into buffers from these pools, one pool per power-of-two capacity from 8 KiB to
// 256 KiB (growStep: larger Bodies are read as they arrive, see readBodied), and
// Recycle puts them back. Fresh 64 KiB allocations are what
// made large frames slow: the runtime hands freed pages back to the kernel and
// faults them in again inside the next read(2), about 50 us per 64 KiB frame on
// the development VM, more than the copy itself.
const (
	minBodyClass = 13 // 8 KiB
	maxBodyClass = 18 // 256 KiB = growStep
)

var bodyPools [maxBodyClass - minBodyClass + 1]sync.Pool // of *[]byte, len 0

// bodyClass is the pool index of a buffer of capacity 1<<c, or -1.
func bodyClass(c int) int {
	if c < minBodyClass || c > maxBodyClass {
		return -1
	}
	return c - minBodyClass
}

// newBody returns a buffer of length n, from the pool of the smallest power of
// two that holds n if there is one. Its bytes are stale: the caller overwrites
// all of them.
func newBody(n int) []byte {
	c := bits.Len(uint(n - 1))
	i := bodyClass(c)
	if i < 0 {
		return make([]byte, n)
	}
	if p, ok := bodyPools[i].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<c)
}

// Recycle gives a decoded message's Body back, so that a later Decode (of this
// Decoder or another) can read into it instead of allocating. It is optional: a
// Body never recycled is ordinary garbage. After Recycle, neither the caller nor
// anyone it passed body to may use body, or any slice of it, again: the next
// large frame may overwrite it. Child.Serve recycles each Request's Body once its
// handler returned and the Reply was written. Bodies that did not come from a
// Decoder are accepted if their capacity is a pooled size, else ignored. Safe for
// concurrent use.
func Recycle(body []byte) {
	c := cap(body)
	if c == 0 || c&(c-1) != 0 {
		return
	}
	i := bodyClass(bits.TrailingZeros(uint(c)))
	if i < 0 {
		return
	}
	b := body[:0]
	bodyPools[i].Put(&b)
}
