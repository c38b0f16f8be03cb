package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/supervisor/supervisor/internal/ipc"
)

// The fds of the protocol pipes in a worker started with --protocol.
const (
	ipcOutFd = 3 // child -> supervisor: the worker writes
	ipcInFd  = 4 // supervisor -> child: the worker reads
)

// defaultHeartbeat is the --heartbeat interval when none is given.
const defaultHeartbeat = 100 * time.Millisecond

// protoConfig is the part of the "child" worker's command line about the
// protocol (internal/ipc) on fds 3 and 4.
type protoConfig struct {
	on           bool          // --protocol
	heartbeat    time.Duration // heartbeat interval; the main loop calls Progress twice as often
	crashAfter   int           // 0, or exit 3 once this many Replies were written
	hang         bool          // after Ready, the main loop blocks forever
	deadlock     bool          // after Ready, the main loop deadlocks on two mutexes
	neverReady   bool          // handshake, but never Ready and no heartbeats
	slowStart    time.Duration // wait this long before Ready
	garbage      bool          // write 64 bytes that are no valid frame instead of Hello
	oversized    bool          // write the header of a 2 MiB Hello frame instead of Hello
	exitMidFrame bool          // write half a Hello frame, then exit 1
}

// protoFlags are the flags that need --protocol, in the order they are checked.
var protoFlags = []string{"heartbeat", "crash-after-requests", "hang", "deadlock", "never-ready", "slow-start", "garbage", "oversized", "exit-mid-frame"}

// exclusiveProtoFlags are the protocol modes that exclude each other.
var exclusiveProtoFlags = []string{"hang", "deadlock", "never-ready", "garbage", "oversized", "exit-mid-frame"}

func (p *protoConfig) addFlags(fs *flag.FlagSet) {
	fs.BoolVar(&p.on, "protocol", false, "speak internal/ipc to the supervisor: write to fd 3, read from fd 4")
	fs.DurationVar(&p.heartbeat, "heartbeat", defaultHeartbeat, "heartbeat interval (needs --protocol)")
	fs.IntVar(&p.crashAfter, "crash-after-requests", 0, "exit 3 once this many replies were sent (needs --protocol)")
	fs.BoolVar(&p.hang, "hang", false, "after Ready, the main loop blocks forever; requests are still served (needs --protocol)")
	fs.BoolVar(&p.deadlock, "deadlock", false, "after Ready, the main loop deadlocks on two mutexes; requests are still served (needs --protocol)")
	fs.BoolVar(&p.neverReady, "never-ready", false, "complete the handshake but never send Ready or heartbeats (needs --protocol)")
	fs.DurationVar(&p.slowStart, "slow-start", 0, "wait this long before Ready (needs --protocol)")
	fs.BoolVar(&p.garbage, "garbage", false, "write 64 bytes that are no valid frame instead of Hello, then wait for a signal (needs --protocol)")
	fs.BoolVar(&p.oversized, "oversized", false, "write the header of a 2 MiB Hello frame instead of Hello, then wait for a signal (needs --protocol)")
	fs.BoolVar(&p.exitMidFrame, "exit-mid-frame", false, "write half a Hello frame, then exit 1 (needs --protocol)")
}

// problem returns what is wrong with the protocol flags (set holds the names of
// the flags given), or "".
func (p *protoConfig) problem(set map[string]bool) string {
	if !p.on {
		for _, name := range protoFlags {
			if set[name] {
				return fmt.Sprintf("--%s needs --protocol", name)
			}
		}
		return ""
	}
	var modes []string
	for _, name := range exclusiveProtoFlags {
		if set[name] {
			modes = append(modes, "--"+name)
		}
	}
	switch {
	case len(modes) > 1:
		return fmt.Sprintf("%s and %s exclude each other", modes[0], modes[1])
	case p.heartbeat <= 0:
		return fmt.Sprintf("--heartbeat %v is not positive", p.heartbeat)
	case set["crash-after-requests"] && p.crashAfter < 1:
		return fmt.Sprintf("--crash-after-requests %d is not positive", p.crashAfter)
	case p.slowStart < 0:
		return fmt.Sprintf("--slow-start %v is negative", p.slowStart)
	}
	return ""
}

// openIPC checks that fds 3 and 4 are pipes (or sockets), marks them
// close-on-exec so that no grandchild inherits them, and returns them as files.
// They stay open until the process exits.
//
// Open is not enough: when the supervisor passed no fd 4, the Go runtime may have
// put one of its own files there (it reads cgroup files at start-up).
func openIPC() (out, in *os.File, err error) {
	for _, fd := range []int{ipcOutFd, ipcInFd} {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, nil, fmt.Errorf("--protocol needs a pipe at fd %d: %w", fd, err)
		}
		if mode := st.Mode & unix.S_IFMT; mode != unix.S_IFIFO && mode != unix.S_IFSOCK {
			return nil, nil, fmt.Errorf("--protocol needs a pipe at fd %d, not a file of mode %#o", fd, mode)
		}
		unix.CloseOnExec(fd)
		// Non-blocking, so that os.File reads and writes wait in the runtime's
		// poller instead of holding an OS thread in a blocking read(2): the
		// supervisor closed its copies of these ends, so nobody else sees the flag.
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, nil, fmt.Errorf("fd %d: %w", fd, err)
		}
	}
	return os.NewFile(ipcOutFd, "ipc-out"), os.NewFile(ipcInFd, "ipc-in"), nil
}

// programName is the name the worker gives in Hello.
func programName() string {
	if name := os.Getenv("SUPERVISOR_PROGRAM"); name != "" {
		return name
	}
	return "child"
}

// protocol is a running protocol session, driven by runChild's main loop.
type protocol struct {
	cfg      protoConfig
	c        *ipc.Child       // nil with --garbage and --oversized
	served   chan error       // Serve's result; nil without c
	readyC   <-chan time.Time // --slow-start elapsed; nil if Ready is sent or never will be
	readyT   *time.Timer
	progress *time.Ticker // the main loop's Progress period, once Ready was sent
}

// startProtocol starts the conversation on in (fd 4) and out (fd 3). It returns
// nil and an exit code if the worker must end now. Unless --slow-start or
// --never-ready was given it sends Ready before returning; with --hang or
// --deadlock it then never returns.
func startProtocol(cfg protoConfig, in, out *os.File, stderr io.Writer) (*protocol, int) {
	p := &protocol{cfg: cfg}
	switch {
	case cfg.garbage:
		// A Hello header declaring 60 bytes, then text that is no Hello payload:
		// the Name's length ('i' = 105) runs past the end of the frame.
		b := binary.LittleEndian.AppendUint32(nil, 60)
		b = append(b, byte(ipc.TypeHello))
		b = append(b, bytes.Repeat([]byte("this is not a frame\n"), 3)[:59]...)
		return p.writeRaw(out, b, stderr)
	case cfg.oversized:
		b := binary.LittleEndian.AppendUint32(nil, 2<<20)
		b = append(b, byte(ipc.TypeHello))
		return p.writeRaw(out, b, stderr)
	case cfg.exitMidFrame:
		var buf bytes.Buffer
		if err := ipc.NewEncoder(&buf).Encode(ipc.Hello{Version: ipc.ProtocolVersion, Pid: os.Getpid(), Name: programName()}); err != nil {
			fmt.Fprintf(stderr, "child: %v\n", err)
			return nil, 1
		}
		if _, err := out.Write(buf.Bytes()[:buf.Len()/2]); err != nil {
			fmt.Fprintf(stderr, "child: %v\n", err)
			return nil, 1
		}
		fmt.Fprintln(stderr, "child: exiting in the middle of a frame")
		return nil, 1
	}

	var w io.Writer = out
	if cfg.crashAfter > 0 {
		rc := &replyCounter{w: out, stderr: stderr}
		rc.left.Store(int64(cfg.crashAfter))
		w = rc
	}
	c, err := ipc.NewChild(in, w, os.Getpid(), programName())
	if err != nil {
		fmt.Fprintf(stderr, "child: handshake: %v\n", err)
		return nil, 1
	}
	p.c = c
	p.served = make(chan error, 1)
	go func() { p.served <- c.Serve(context.Background(), handler(stderr, c)) }()

	switch {
	case cfg.neverReady:
	case cfg.slowStart > 0:
		p.readyT = time.NewTimer(cfg.slowStart)
		p.readyC = p.readyT.C
	default:
		if code, ok := p.ready(stderr); !ok {
			p.close()
			return nil, code
		}
	}
	return p, 0
}

// writeRaw writes b to out for the modes that skip the handshake.
func (p *protocol) writeRaw(out *os.File, b []byte, stderr io.Writer) (*protocol, int) {
	if _, err := out.Write(b); err != nil {
		fmt.Fprintf(stderr, "child: %v\n", err)
		return nil, 1
	}
	return p, 0
}

// ready sends Ready and starts the heartbeats and the main loop's Progress
// ticker. It returns false and an exit code if Ready could not be sent. With
// --hang or --deadlock it never returns: the caller is the main loop.
func (p *protocol) ready(stderr io.Writer) (int, bool) {
	p.readyC = nil
	if err := p.c.Ready(); err != nil {
		fmt.Fprintf(stderr, "child: send Ready: %v\n", err)
		return 1, false
	}
	p.c.StartHeartbeats(p.cfg.heartbeat)
	switch {
	case p.cfg.hang:
		<-make(chan struct{}) // never closed; signal.Notify, the heartbeat ticker and Serve keep the runtime busy
	case p.cfg.deadlock:
		deadlock()
	}
	p.progress = time.NewTicker(max(p.cfg.heartbeat/2, 1))
	return 0, true
}

// progressC is the main loop's Progress period; nil before Ready.
func (p *protocol) progressC() <-chan time.Time {
	if p == nil || p.progress == nil {
		return nil
	}
	return p.progress.C
}

// end turns Serve's result into the worker's exit code.
func (p *protocol) end(err error, stdout, stderr io.Writer) int {
	switch {
	case errors.Is(err, ipc.ErrStopRequested):
		fmt.Fprintln(stdout, "stopping on request")
		return 0
	case errors.Is(err, ipc.ErrPeerGone):
		fmt.Fprintln(stderr, "supervisor gone")
		return 0
	}
	fmt.Fprintf(stderr, "child: %v\n", err)
	return 1
}

// close stops the heartbeats and timers. The pipes stay open until the process exits.
func (p *protocol) close() {
	if p.c != nil {
		p.c.Close()
	}
	if p.readyT != nil {
		p.readyT.Stop()
	}
	if p.progress != nil {
		p.progress.Stop()
	}
}

// deadlock blocks the calling goroutine forever: it and a second goroutine
// each hold one of two mutexes and wait for the other's. The channels make sure
// both hold theirs before either asks for the second, so the deadlock is certain.
func deadlock() {
	var a, b sync.Mutex
	aHeld, bHeld := make(chan struct{}), make(chan struct{})
	go func() {
		b.Lock()
		close(bHeld)
		<-aHeld
		a.Lock() // never returns
		b.Unlock()
		a.Unlock()
	}()
	a.Lock()
	close(aHeld)
	<-bHeld
	b.Lock() // never returns
	a.Unlock()
	b.Unlock()
}

// handler returns the Handler of the "child" worker's Requests; c is for the
// lease methods (lease.go).
func handler(stderr io.Writer, c *ipc.Child) ipc.Handler {
	return func(ctx context.Context, method string, body []byte) ([]byte, error) {
		if out, err, ok := handleLease(ctx, c, method, body, stderr, func() { os.Exit(3) }); ok {
			return out, err
		}
		return handleBasic(ctx, method, body, func() {
			fmt.Fprintln(stderr, "child: crashing on request")
			os.Exit(3)
		})
	}
}

// handleBasic answers the methods the "child" worker's protocol mode and the
// "service" worker share (see the package doc): echo, hash, sleep, and crash,
// which calls crash; crash must not return (it exits or panics). Any other
// method is an error.
func handleBasic(ctx context.Context, method string, body []byte, crash func()) ([]byte, error) {
	switch method {
	case "echo":
		return body, nil
	case "hash":
		sum := sha256.Sum256(body)
		return []byte(hex.EncodeToString(sum[:])), nil
	case "sleep":
		d, err := time.ParseDuration(string(body))
		if err != nil {
			return nil, err
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return []byte("slept"), nil
	case "crash":
		crash()
	}
	return nil, fmt.Errorf("unknown method %q", method)
}

// replyCounter passes frames to w and exits the process with code 3 once the
// last of --crash-after-requests Replies was written. The Encoder writes each
// frame with one Write, so b[4] is the frame's type.
type replyCounter struct {
	w      io.Writer
	stderr io.Writer
	left   atomic.Int64
}

func (r *replyCounter) Write(b []byte) (int, error) {
	n, err := r.w.Write(b)
	if err == nil && len(b) > 4 && ipc.Type(b[4]) == ipc.TypeReply && r.left.Add(-1) == 0 {
		fmt.Fprintln(r.stderr, "child: exiting after the last request")
		os.Exit(3)
	}
	return n, err
}
