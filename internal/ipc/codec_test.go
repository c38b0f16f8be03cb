package ipc_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/ipc"
)

// allMessages holds at least one message of every type, with edge values.
var allMessages = []struct {
	name string
	msg  ipc.Message
}{
	{"Hello", ipc.Hello{Version: ipc.ProtocolVersion, Pid: 12345, Name: "worker-1"}},
	{"Hello/extremes", ipc.Hello{Version: math.MaxUint32, Pid: math.MaxInt32, Name: strings.Repeat("n", 300)}},
	{"Hello/zero", ipc.Hello{}},
	{"HelloAck", ipc.HelloAck{Version: ipc.ProtocolVersion}},
	{"Ready", ipc.Ready{}},
	{"Heartbeat", ipc.Heartbeat{Seq: 1}},
	{"Heartbeat/max", ipc.Heartbeat{Seq: math.MaxUint64}},
	{"Status", ipc.Status{Text: "serving 3 clients"}},
	{"Status/empty", ipc.Status{}},
	{"Status/max", ipc.Status{Text: strings.Repeat("s", ipc.MaxStatusLen)}},
	{"Request", ipc.Request{ID: 7, Method: "echo", Body: []byte("hello")}},
	{"Request/no body", ipc.Request{ID: 8, Method: "ping"}},
	{"Request/binary body", ipc.Request{ID: 9, Method: "raw", Body: []byte{0, 0xff, 0x80, 0, 1}}},
	{"Request/larger than the read buffer", ipc.Request{ID: 10, Method: "big", Body: bytes.Repeat([]byte("0123456789"), 7000)}},
	{"Request/larger than the first allocation", ipc.Request{ID: 11, Method: "huge", Body: bytes.Repeat([]byte{0xa5}, 600<<10)}},
	{"Reply", ipc.Reply{ID: 7, Body: []byte("hello")}},
	{"Reply/error", ipc.Reply{ID: math.MaxUint64, Err: "no such method"}},
	{"Reply/error and body", ipc.Reply{ID: 1, Err: "partial", Body: []byte("half")}},
	{"Reply/larger than the read buffer", ipc.Reply{ID: 12, Err: "partial", Body: bytes.Repeat([]byte("9876543210"), 9000)}},
	{"Stop", ipc.Stop{Deadline: 5 * time.Second}},
	{"Stop/zero", ipc.Stop{}},
	{"Stop/max", ipc.Stop{Deadline: math.MaxInt64}},
	{"Stopping", ipc.Stopping{}},
	{"Acquire", ipc.Acquire{ID: 3, Name: "file", Limit: 1}},
	{"Acquire/max", ipc.Acquire{ID: math.MaxUint64, Name: strings.Repeat("n", ipc.MaxLeaseName), Limit: math.MaxUint32}},
	{"Lease", ipc.Lease{ID: 3}},
	{"Lease/refused", ipc.Lease{ID: 4, Err: "limit 2, not 1"}},
	{"Release", ipc.Release{ID: 3}},
}

// TestRoundTripPipe sends each message through a real pipe and decodes it.
func TestRoundTripPipe(t *testing.T) {
	t.Parallel()
	for _, tc := range allMessages {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, w := pipe(t)
			werr := make(chan error, 1)
			go func() { // the pipe holds 64 KiB: write while the test reads
				err := ipc.NewEncoder(w).Encode(tc.msg)
				w.Close()
				werr <- err
			}()
			d := ipc.NewDecoder(r, 0)
			got, err := d.Decode()
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if err := <-werr; err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Errorf("Decode = %.200v, want %.200v", got, tc.msg)
			}
			if got.Type() != tc.msg.Type() || got.Type().String() != strings.Split(tc.name, "/")[0] {
				t.Errorf("Type = %v, want %v", got.Type(), tc.msg.Type())
			}
			if _, err := d.Decode(); err != io.EOF {
				t.Errorf("Decode at the end = %v, want io.EOF", err)
			}
		})
	}
}

// TestStreamPipe sends every message, in order, through one pipe: small frames
// parsed in the read buffer and large ones read on their own must not disturb
// each other.
func TestStreamPipe(t *testing.T) {
	t.Parallel()
	r, w := pipe(t)
	go func() {
		e := ipc.NewEncoder(w)
		for _, tc := range allMessages {
			if err := e.Encode(tc.msg); err != nil {
				panic(err) // the test would hang otherwise
			}
		}
		w.Close()
	}()
	d := ipc.NewDecoder(r, 0)
	for _, tc := range allMessages {
		got, err := d.Decode()
		if err != nil {
			t.Fatalf("Decode before %s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.msg) {
			t.Fatalf("Decode = %.200v, want %.200v", got, tc.msg)
		}
	}
	if _, err := d.Decode(); err != io.EOF {
		t.Errorf("Decode at the end = %v, want io.EOF", err)
	}
}

// TestDecodedBodyIsOwned checks that a decoded Body does not change when the
// Decoder reads the next frame.
func TestDecodedBodyIsOwned(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	e := ipc.NewEncoder(&buf)
	for _, b := range []string{"first", "SECOND", "third"} {
		if err := e.Encode(ipc.Request{ID: 1, Method: "m", Body: []byte(b)}); err != nil {
			t.Fatal(err)
		}
	}
	d := ipc.NewDecoder(&buf, 0)
	first, err := d.Decode()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := d.Decode(); err != nil {
			t.Fatal(err)
		}
	}
	if got := string(first.(ipc.Request).Body); got != "first" {
		t.Errorf("first Body = %q after later decodes, want %q", got, "first")
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		input    []byte
		maxFrame int
		want     error  // sentinel
		text     string // the whole error text, if not empty
	}{
		{"oversized", header(5000000), 0, ipc.ErrFrameTooLarge,
			"ipc: frame of 5000000 bytes exceeds the 1048576-byte limit"},
		{"oversized/max uint32", header(math.MaxUint32), 0, ipc.ErrFrameTooLarge, ""},
		{"oversized/custom limit", cat(header(17), make([]byte, 17)), 16, ipc.ErrFrameTooLarge,
			"ipc: frame of 17 bytes exceeds the 16-byte limit"},
		{"zero-length", header(0), 0, ipc.ErrMalformed, "ipc: zero-length frame"},
		{"unknown type", frame(0x7f), 0, ipc.ErrUnknownType, "ipc: unknown message type 0x7f"},
		{"unknown type/zero", frame(0, 1, 2), 0, ipc.ErrUnknownType, "ipc: unknown message type 0x00"},
		{"unknown type/next after Release", frame(13), 0, ipc.ErrUnknownType, ""},
		{"Acquire/empty name", frame(10, 1, 0, 1), 0, ipc.ErrMalformed, ""},
		{"Acquire/limit 0", frame(10, 1, 1, 'x', 0), 0, ipc.ErrMalformed, ""},
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), 0, ipc.ErrFrameTooLarge, ""},
		{"truncated/mid-header", []byte{3, 0}, 0, ipc.ErrTruncated,
			"ipc: truncated frame: got 2 of 4 length bytes: unexpected EOF"},
		{"truncated/after header", header(2), 0, ipc.ErrTruncated,
			"ipc: truncated frame: got 0 of 2 bytes: unexpected EOF"},
		{"truncated/mid-payload", frame(byte(ipc.TypeRequest), 1, 4, 'e', 'c')[:8], 0, ipc.ErrTruncated, ""},
		{"truncated/declared longer", cat(header(3), []byte{byte(ipc.TypeHeartbeat), 1}), 0, ipc.ErrTruncated,
			"ipc: truncated Heartbeat frame: got 2 of 3 bytes: unexpected EOF"},
		{"truncated/mid-payload of a large frame", cat(header(100000), []byte{byte(ipc.TypeRequest)}, make([]byte, 5000)), 0,
			ipc.ErrTruncated, "ipc: truncated Request frame: got 5001 of 100000 bytes: unexpected EOF"},
		{"truncated/second frame", cat(frame(byte(ipc.TypeReady)), []byte{1}), 0, ipc.ErrTruncated, ""},
		{"malformed varint/runs past the end", frame(byte(ipc.TypeHeartbeat), 0x80), 0, ipc.ErrMalformed,
			"ipc: malformed Heartbeat frame: Seq: varint runs past the end of the frame"},
		{"malformed varint/missing", frame(byte(ipc.TypeHeartbeat)), 0, ipc.ErrMalformed, ""},
		{"malformed varint/overflow", frame(byte(ipc.TypeHeartbeat), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), 0,
			ipc.ErrMalformed, "ipc: malformed Heartbeat frame: Seq: varint overflows 64 bits"},
		{"malformed varint/eleven bytes", frame(byte(ipc.TypeHeartbeat), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), 0,
			ipc.ErrMalformed, ""},
		{"malformed varint/not minimal", frame(byte(ipc.TypeHeartbeat), 0x81, 0x00), 0, ipc.ErrMalformed,
			"ipc: malformed Heartbeat frame: Seq: varint is not minimally encoded"},
		{"string length beyond frame", frame(byte(ipc.TypeRequest), 1, 50, 'a', 'b', 'c'), 0, ipc.ErrMalformed,
			"ipc: malformed Request frame: Method: length 50 exceeds the 3 bytes left in the frame"},
		{"blob length beyond frame", frame(byte(ipc.TypeReply), 1, 0, 0xff, 0x7f, 1), 0, ipc.ErrMalformed,
			"ipc: malformed Reply frame: Body: length 16383 exceeds the 1 bytes left in the frame"},
		{"huge string length", frame(byte(ipc.TypeStatus), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), 0,
			ipc.ErrMalformed, ""},
		{"bytes after the last field", frame(byte(ipc.TypeReady), 0), 0, ipc.ErrMalformed,
			"ipc: malformed Ready frame: 1 bytes after the last field"},
		{"status too long", frame(byte(ipc.TypeStatus), append([]byte{0x81, 0x08}, make([]byte, 1025)...)...), 0,
			ipc.ErrMalformed, "ipc: malformed Status frame: Text: length 1025 exceeds the 1024-byte limit"},
		{"version beyond uint32", frame(byte(ipc.TypeHello), 0x80, 0x80, 0x80, 0x80, 0x10, 1, 0), 0, ipc.ErrMalformed,
			"ipc: malformed Hello frame: Version: 4294967296 exceeds 4294967295"},
		{"pid beyond int32", frame(byte(ipc.TypeHello), 1, 0x80, 0x80, 0x80, 0x80, 0x08, 0), 0, ipc.ErrMalformed, ""},
		{"deadline beyond int64", frame(byte(ipc.TypeStop), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), 0,
			ipc.ErrMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := ipc.NewDecoder(bytes.NewReader(tc.input), tc.maxFrame)
			var err error
			for range 3 { // skip any valid frames before the broken one
				if _, err = d.Decode(); err != nil {
					break
				}
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode error = %v, want one wrapping %v", err, tc.want)
			}
			if tc.text != "" && err.Error() != tc.text {
				t.Errorf("error text = %q, want %q", err, tc.text)
			}
			if errors.Is(tc.want, ipc.ErrTruncated) != errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = %v, want %v", err, !errors.Is(tc.want, ipc.ErrTruncated), errors.Is(tc.want, ipc.ErrTruncated))
			}
			for _, other := range []error{ipc.ErrFrameTooLarge, ipc.ErrUnknownType, ipc.ErrMalformed, ipc.ErrTruncated} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("error %v also wraps %v", err, other)
				}
			}
			if _, again := d.Decode(); again != err {
				t.Errorf("second Decode = %v, want the same error %v", again, err)
			}
		})
	}
}

// errReader fails every read.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestDecodeReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"before the header", errReader{boom}},
		{"mid-payload", io.MultiReader(bytes.NewReader(frame(byte(ipc.TypeStatus), 3, 'a')[:6]), errReader{boom})},
		{"mid-payload of a large frame", io.MultiReader(bytes.NewReader(cat(header(10000), []byte{byte(ipc.TypeRequest)})), errReader{boom})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ipc.NewDecoder(tc.r, 0).Decode()
			if !errors.Is(err, boom) {
				t.Fatalf("Decode error = %v, want one wrapping %v", err, boom)
			}
			if !strings.HasPrefix(err.Error(), "ipc: read ") {
				t.Errorf("error text %q lacks context", err)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  ipc.Message
		want error
		text string
	}{
		{"status too long", ipc.Status{Text: strings.Repeat("x", ipc.MaxStatusLen+1)}, ipc.ErrMalformed,
			"ipc: Status: text of 1025 bytes exceeds the 1024-byte limit"},
		{"negative deadline", ipc.Stop{Deadline: -time.Second}, ipc.ErrMalformed, "ipc: Stop: negative Deadline -1s"},
		{"negative pid", ipc.Hello{Version: 1, Pid: -1}, ipc.ErrMalformed, "ipc: Hello: Pid -1 out of range"},
		{"pid beyond int32", ipc.Hello{Version: 1, Pid: math.MaxInt32 + 1}, ipc.ErrMalformed, ""},
		{"frame too large", ipc.Request{ID: 1, Method: "m", Body: make([]byte, ipc.DefaultMaxFrame)}, ipc.ErrFrameTooLarge,
			"ipc: Request frame of 1048583 bytes exceeds the 1048576-byte limit"},
		{"nil", nil, ipc.ErrMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			e := ipc.NewEncoder(&buf)
			err := e.Encode(tc.msg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Encode error = %v, want one wrapping %v", err, tc.want)
			}
			if tc.text != "" && err.Error() != tc.text {
				t.Errorf("error text = %q, want %q", err, tc.text)
			}
			if buf.Len() != 0 {
				t.Errorf("Encode wrote %d bytes for a refused message", buf.Len())
			}
			if err := e.Encode(ipc.Ready{}); err != nil {
				t.Errorf("Encode after a refusal: %v", err)
			}
		})
	}
}

// TestMaxFrameBoundary: a frame of exactly the limit passes, one byte more does not.
func TestMaxFrameBoundary(t *testing.T) {
	t.Parallel()
	// 1 type byte + ID (1) + Method ("m": 2) + body length (3) + body.
	body := make([]byte, ipc.DefaultMaxFrame-7)
	atLimit := ipc.Request{ID: 1, Method: "m", Body: body}
	r, w := pipe(t)
	werr := make(chan error, 1)
	go func() {
		err := ipc.NewEncoder(w).Encode(atLimit)
		w.Close()
		werr <- err
	}()
	got, err := ipc.NewDecoder(r, 0).Decode()
	if err != nil {
		t.Fatalf("Decode of a frame at the limit: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("Encode of a frame at the limit: %v", err)
	}
	if len(got.(ipc.Request).Body) != len(body) {
		t.Errorf("Body has %d bytes, want %d", len(got.(ipc.Request).Body), len(body))
	}
	over := ipc.Request{ID: 1, Method: "m", Body: make([]byte, len(body)+1)}
	if err := ipc.NewEncoder(io.Discard).Encode(over); !errors.Is(err, ipc.ErrFrameTooLarge) {
		t.Errorf("Encode one byte over the limit = %v, want ErrFrameTooLarge", err)
	}
	var buf bytes.Buffer
	ipc.NewEncoder(&buf).Encode(atLimit)
	if _, err := ipc.NewDecoder(&buf, ipc.DefaultMaxFrame-1).Decode(); !errors.Is(err, ipc.ErrFrameTooLarge) {
		t.Errorf("Decode with a limit one byte lower = %v, want ErrFrameTooLarge", err)
	}
}

// writeRecorder records every Write call.
type writeRecorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// TestEncodeOneWritePerFrame: every Write call carries exactly one whole frame.
func TestEncodeOneWritePerFrame(t *testing.T) {
	t.Parallel()
	rec := new(writeRecorder)
	e := ipc.NewEncoder(rec)
	for _, tc := range allMessages {
		if err := e.Encode(tc.msg); err != nil {
			t.Fatalf("Encode(%s): %v", tc.name, err)
		}
	}
	if len(rec.writes) != len(allMessages) {
		t.Fatalf("%d Write calls for %d frames", len(rec.writes), len(allMessages))
	}
	for i, w := range rec.writes {
		d := ipc.NewDecoder(bytes.NewReader(w), 0)
		got, err := d.Decode()
		if err != nil {
			t.Fatalf("Write %d does not hold a frame: %v", i, err)
		}
		if !reflect.DeepEqual(got, allMessages[i].msg) {
			t.Errorf("Write %d holds %.100v, want %.100v", i, got, allMessages[i].msg)
		}
		if _, err := d.Decode(); err != io.EOF {
			t.Errorf("Write %d holds more than one frame: %v", i, err)
		}
	}
}

// TestEncodeConcurrent: goroutines sharing an Encoder on a pipe never interleave
// frames, even frames larger than PIPE_BUF, and each goroutine's order holds.
func TestEncodeConcurrent(t *testing.T) {
	t.Parallel()
	const writers, frames = 8, 200
	r, w := pipe(t)
	e := ipc.NewEncoder(w)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range frames {
				body := bytes.Repeat([]byte{byte(g)}, (i%7)*1500) // up to 9000 bytes
				if err := e.Encode(ipc.Request{ID: uint64(g)<<32 | uint64(i), Method: "m", Body: body}); err != nil {
					panic(err)
				}
			}
		})
	}
	go func() {
		wg.Wait()
		w.Close()
	}()
	d := ipc.NewDecoder(r, 0)
	next := make([]uint64, writers)
	for range writers * frames {
		m, err := d.Decode()
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		req := m.(ipc.Request)
		g, i := req.ID>>32, req.ID&math.MaxUint32
		if i != next[g] {
			t.Fatalf("writer %d: frame %d arrived, want %d", g, i, next[g])
		}
		next[g]++
		if want := bytes.Repeat([]byte{byte(g)}, int(i%7)*1500); !bytes.Equal(req.Body, want) {
			t.Fatalf("writer %d frame %d: body corrupted", g, i)
		}
	}
	if _, err := d.Decode(); err != io.EOF {
		t.Errorf("Decode at the end = %v, want io.EOF", err)
	}
}

// failWriter accepts n bytes of the first write, then fails.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	return min(w.n, len(p)), fmt.Errorf("disk on fire")
}

// TestEncodeWriteErrorIsSticky: after a failed Write the stream may hold half a
// frame, so the Encoder refuses to write more.
func TestEncodeWriteErrorIsSticky(t *testing.T) {
	t.Parallel()
	e := ipc.NewEncoder(&failWriter{n: 3})
	err := e.Encode(ipc.Heartbeat{Seq: 1})
	if err == nil || err.Error() != "ipc: write Heartbeat frame: disk on fire" {
		t.Fatalf("Encode = %v, want the write error with context", err)
	}
	if again := e.Encode(ipc.Ready{}); again != err {
		t.Errorf("Encode after a failed write = %v, want %v", again, err)
	}
}

func TestTypeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		typ  ipc.Type
		want string
	}{
		{"known", ipc.TypeStopping, "Stopping"},
		{"zero", 0, "Type(0x00)"},
		{"unknown", 0x7f, "Type(0x7f)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.typ.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRecycledBodyIsOverwritten: a large Body goes back to the pool with Recycle
// and the next large frame is read into pooled memory; whatever buffer it gets,
// the message holds exactly that frame's bytes, and a body cut short is reported
// as truncated, not returned with stale bytes.
func TestRecycledBodyIsOverwritten(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	e := ipc.NewEncoder(&buf)
	bodies := [][]byte{bytes.Repeat([]byte{'a'}, 70000), bytes.Repeat([]byte{'b'}, 69000), bytes.Repeat([]byte{'c'}, 5000)}
	for i, b := range bodies {
		if err := e.Encode(ipc.Request{ID: uint64(i), Method: "m", Body: b}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Encode(ipc.Reply{ID: 9, Body: bytes.Repeat([]byte{'d'}, 70000)}); err != nil {
		t.Fatal(err)
	}
	stream := buf.Bytes()
	cut := len(stream) - 30000 // inside the Reply's body
	d := ipc.NewDecoder(bytes.NewReader(stream[:cut]), 0)
	for i, want := range bodies {
		m, err := d.Decode()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		got := m.(ipc.Request).Body
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: Body of %d bytes starting %q, want %d bytes of %q", i, len(got), got[:1], len(want), want[:1])
		}
		ipc.Recycle(got)
	}
	m, err := d.Decode()
	if !errors.Is(err, ipc.ErrTruncated) || m != nil {
		t.Fatalf("Decode of a cut Reply = %v, %v; want ErrTruncated", m, err)
	}
	// The Reply's declared length: its type, ID, empty Err, a 3-byte Body length, the Body.
	const n = 1 + 1 + 1 + 3 + 70000
	want := fmt.Sprintf("ipc: truncated Reply frame: got %d of %d bytes: unexpected EOF", n-30000, n)
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// TestDecodeAllocationBounds: a peer that declares a large frame and sends little
// costs at most the first 256 KiB step, and a frame over the limit costs nothing
// for its payload. Not parallel, on purpose: it reads the process-wide allocation
// counter, which parallel tests would disturb (they wait until it is done).
func TestDecodeAllocationBounds(t *testing.T) {
	tests := []struct {
		name     string
		input    []byte
		want     error
		maxBytes uint64
	}{
		{"declares 1 MiB, sends 10 bytes", cat(header(ipc.DefaultMaxFrame), []byte{byte(ipc.TypeRequest)}, make([]byte, 10)),
			ipc.ErrTruncated, 256<<10 + 16<<10},
		{"declares 4 GiB", cat(header(math.MaxUint32), []byte{byte(ipc.TypeRequest)}, make([]byte, 10)),
			ipc.ErrFrameTooLarge, 16 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := ipc.NewDecoder(bytes.NewReader(tc.input), 0) // its 4 KiB buffer is not counted
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := d.Decode()
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > tc.maxBytes {
				t.Errorf("Decode allocated %d bytes, want at most %d", got, tc.maxBytes)
			}
		})
	}
}
