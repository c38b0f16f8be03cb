package supervise

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// outputMux drains the stdout and stderr pipes of every program's processes
// from one goroutine sleeping in epoll_wait, and hands what it reads, line by
// line, to each stream's lineSplitter.
//
// One goroutine for all the pipes rather than one per pipe: a goroutine parked
// in a read costs its stack (2 KiB to start, 8 KiB once it has called into
// hclog) and its read buffer, twice per child; measured with the supervisor
// binary, 100 children took 10.4 MiB of PSS with a goroutine per pipe and 9.3
// MiB with this (anonymous memory 3.8 -> 2.5 MiB). The thread sleeping in
// epoll_wait is one more OS thread for the whole process, and it wakes only
// when a child writes: zero wake-ups while the children are quiet.
//
// Ownership: the mux owns every read end it was given (add) and closes it at
// EOF or when the mux is closed; the loop goroutine alone reads them and alone
// touches the streams' splitters. The write ends are the spawner's business.
type outputMux struct {
	log  hclog.Logger
	epfd int
	wake int // eventfd: close asks the loop to drain and end

	mu      sync.Mutex
	streams map[int32]*outStream // by read-end fd
	closed  bool
	// pausing, while not nil, asks the loop to stop reading (pause): it
	// closes paused, then waits for resume to be closed.
	pausing *muxPause

	done chan struct{} // closed when the loop has ended and every fd is closed

	sinceRelease int // bytes read since memory was last given back (loop only)
}

type outStream struct {
	fd    int
	split lineSplitter
}

// outReadChunk is the loop's one read buffer; outReadsPerWake bounds how much
// of one stream is read before the others get their turn (epoll is level
// triggered: what is left is reported again at once).
const (
	outReadChunk    = 16 << 10
	outReadsPerWake = 4
	outReadsAtClose = 64 // 1 MiB: a writer that never stops does not hold up close

	// After a burst of output (releaseAfter bytes or more), once no output
	// came for releaseIdle, the loop gives the garbage of the burst back to the
	// kernel (debug.FreeOSMemory): the runtime's background scavenger would
	// take minutes, and an output flood would leave the supervisor's PSS tens
	// of MiB above its baseline meanwhile. Without a burst the loop sleeps with
	// no timeout: an idle supervisor makes no wake-up.
	releaseAfter = 16 << 20
	releaseIdle  = time.Second
)

func newOutputMux(log hclog.Logger) (*outputMux, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	m := &outputMux{log: log, epfd: epfd, wake: wake, streams: map[int32]*outStream{}, done: make(chan struct{})}
	go m.loop()
	return m, nil
}

// pipe makes a pipe for a child's stdout or stderr: the write end, for the
// spawner (blocking, as a child expects), and the read end, non-blocking, for
// add. Both are close-on-exec; the spawner dups the write end into the child.
func (m *outputMux) pipe() (r int, w *os.File, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return -1, nil, fmt.Errorf("pipe2: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return -1, nil, fmt.Errorf("pipe read end: %w", err)
	}
	return fds[0], os.NewFile(uintptr(fds[1]), "|1"), nil
}

// add hands the read end fd to the mux, which feeds what it reads to split
// until EOF, then flushes split (which releases its log file) and closes fd.
// On error fd is closed and split flushed.
func (m *outputMux) add(fd int, split lineSplitter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		unix.Close(fd)
		split.flush()
		return errors.New("supervise: output mux closed")
	}
	m.streams[int32(fd)] = &outStream{fd: fd, split: split}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(m.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		delete(m.streams, int32(fd))
		unix.Close(fd)
		split.flush()
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// close drains what every pipe holds now (without waiting for writers still
// alive, such as a descendant that escaped its program's tree), logs
// unterminated last lines as partial, closes every read end and ends the loop.
// It returns once all that is done. Safe to call more than once.
func (m *outputMux) close() {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		m.kick()
	}
	m.mu.Unlock()
	<-m.done
}

// muxPause is one pause of the loop (pause, resume).
type muxPause struct {
	paused chan struct{} // closed by the loop: it reads nothing until resume
	resume chan struct{} // closed by resume
}

// pause stops the loop without reading any further or closing anything, for
// an upgrade: what the pipes hold stays in them, for the new image to read,
// and each stream's unterminated line stays in its splitter. It returns
// every stream, by fd; they stay the mux's. resume undoes it.
func (m *outputMux) pause() map[int32]*outStream {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	mp := &muxPause{paused: make(chan struct{}), resume: make(chan struct{})}
	m.pausing = mp
	m.kick()
	m.mu.Unlock()
	<-mp.paused
	m.mu.Lock()
	defer m.mu.Unlock()
	all := make(map[int32]*outStream, len(m.streams))
	for fd, st := range m.streams {
		all[fd] = st
	}
	return all
}

// resume lets the loop read again after pause.
func (m *outputMux) resume() {
	m.mu.Lock()
	mp := m.pausing
	m.pausing = nil
	m.mu.Unlock()
	if mp != nil {
		close(mp.resume)
	}
}

// kick wakes the loop; m.mu must be held.
func (m *outputMux) kick() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(m.wake, one[:])
}

func (m *outputMux) loop() {
	defer close(m.done)
	buf := make([]byte, outReadChunk)
	events := make([]unix.EpollEvent, 64)
	for {
		// Let goroutines readied meanwhile run before this one blocks: a
		// goroutine in a blocking syscall keeps its P until sysmon takes it
		// back, and with GOMAXPROCS=1 they would wait for that (see reapLoop).
		runtime.Gosched()
		timeout := -1
		if m.sinceRelease >= releaseAfter {
			timeout = int(releaseIdle / time.Millisecond)
		}
		n, err := unix.EpollWait(m.epfd, events, timeout)
		if err == unix.EINTR {
			continue
		}
		if n == 0 && err == nil { // a burst ended: give its garbage back
			m.sinceRelease = 0
			debug.FreeOSMemory()
			continue
		}
		if err != nil {
			m.log.Error("epoll_wait failed; child output is no longer read", "error", err)
			m.shut(buf, false)
			return
		}
		if m.wokenToPause(events[:n]) {
			continue // what the other events said is reported again (level triggered)
		}
		ending := false
		for _, ev := range events[:n] {
			if int(ev.Fd) == m.wake {
				ending = true
				continue
			}
			m.mu.Lock()
			st := m.streams[ev.Fd]
			m.mu.Unlock()
			if st != nil && m.drain(st, buf, outReadsPerWake) {
				m.remove(st)
			}
		}
		if ending {
			m.shut(buf, true)
			return
		}
	}
}

// wokenToPause handles a pause if events hold the wake-up and one was asked.
func (m *outputMux) wokenToPause(events []unix.EpollEvent) bool {
	for _, ev := range events {
		if int(ev.Fd) == m.wake {
			return m.paused()
		}
	}
	return false
}

// paused handles a pause asked for, if any: it reads the wake-up, tells
// pause, and waits for resume. It reports whether there was one.
func (m *outputMux) paused() bool {
	m.mu.Lock()
	mp, closed := m.pausing, m.closed
	m.mu.Unlock()
	if mp == nil || closed {
		return false
	}
	var buf [8]byte
	_, _ = unix.Read(m.wake, buf[:]) // non-blocking: the count goes back to 0
	close(mp.paused)
	<-mp.resume
	return true
}

// drain reads st up to reads times (fewer if it would block) and reports whether it reached EOF or an error (st is then done).
func (m *outputMux) drain(st *outStream, buf []byte, reads int) (ended bool) {
	for range reads {
		n, err := unix.Read(st.fd, buf)
		switch {
		case n > 0:
			m.sinceRelease += n
			st.split.feed(buf[:n])
			if n < len(buf) {
				return false // the pipe is empty (or nearly): back to epoll
			}
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return false
		case err != nil:
			m.log.Debug("reading child output", "error", err)
			return true
		default:
			return true // EOF: every write end is closed
		}
	}
	return false
}

// remove ends st: its unterminated last line is logged, its fd closed.
func (m *outputMux) remove(st *outStream) {
	st.split.flush()
	m.mu.Lock()
	delete(m.streams, int32(st.fd))
	m.mu.Unlock()
	_ = unix.EpollCtl(m.epfd, unix.EPOLL_CTL_DEL, st.fd, nil)
	unix.Close(st.fd)
}

// shut ends every stream, draining each first if drain is set, and closes the
// epoll and eventfd fds.
func (m *outputMux) shut(buf []byte, drain bool) {
	m.mu.Lock()
	m.closed = true
	all := make([]*outStream, 0, len(m.streams))
	for _, st := range m.streams {
		all = append(all, st)
	}
	m.mu.Unlock()
	for _, st := range all {
		if drain {
			m.drain(st, buf, outReadsAtClose)
		}
		m.remove(st)
	}
	unix.Close(m.epfd)
	unix.Close(m.wake)
}
