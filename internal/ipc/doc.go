// Package ipc is the pipe protocol between the supervisor and its children:
// frames, messages, the handshake, the child-side library (Child) and the
// supervisor's side of the conversation (Conn, Pending).
//
// It knows io.Reader and io.Writer only. It never starts, signals or waits for a
// process, never opens or closes a file, and imports neither os/exec nor os/signal.
// A pid appears only as data in Hello. internal/supervise imports ipc, never the
// reverse.
//
// # Pipes and who owns them
//
// A child that speaks the protocol has two pipes, one per direction. Whoever creates
// them owns and closes them (the design gives the child its ends at fd 3, child to
// supervisor, and fd 4, supervisor to child; that is internal/supervise's and the
// worker's business). This package is handed the ends as an io.Reader and an
// io.Writer and closes nothing.
//
//   - Each reading end has one decoder, used by one goroutine at a time: the
//     supervisor's reader goroutine calling Conn.Recv; in the child, NewChild's
//     handshake and then Serve's reader goroutine. A decoder buffers, so nothing else
//     may read that end.
//   - Each writing end has one Encoder, shared by every goroutine that sends: the
//     supervisor's callers of Conn.Send; in the child, Ready, SetStatus, the heartbeat
//     goroutine, handlers' replies, Stopping, and Acquire with its release function.
//     An Encoder writes each frame with a single Write under a mutex, so frames never
//     interleave; no other writer may touch that end.
//   - Death is EOF. When either process dies or closes its writing end, the other
//     side's decoder reads io.EOF at a frame boundary (Conn.Recv and Child.Serve
//     report ErrPeerGone); a frame cut short is ErrTruncated.
//   - A handover moves a stream to another Conn (another supervisor image): once
//     Recv returned for its reader's error (a read deadline), Conn.Detach gives
//     what the decoder buffered, from a frame boundary, and NewResumedConn decodes
//     that before the reader's bytes, with no handshake. Frame encodes messages
//     decoded and not handled, to go back in front. A stream stopped inside a
//     frame longer than the read buffer cannot be handed over (ErrInsideFrame).
//
// # Frame format
//
//	+------------------------+--------+---------------------+
//	| length N: uint32, LE   | type   | payload: N-1 bytes  |
//	+------------------------+--------+---------------------+
//	  4 bytes                  1 byte
//
// N counts the type byte and the payload, not itself: 1 <= N <= the decoder's
// limit (DefaultMaxFrame, 1 MiB, unless NewConn was given another). Payload
// fields follow each other with no padding, tags or trailing bytes:
//
//   - integers are uvarints (encoding/binary's LEB128), minimally encoded, at most
//     10 bytes, and range-checked against their Go type;
//   - strings and byte slices are a uvarint length, then that many bytes.
//
// The messages of protocol version 1 (direction: c = child, s = supervisor):
//
//	type name       dir   payload
//	1    Hello      c->s  Version (<= 2^32-1), Pid (<= 2^31-1), Name string; first frame
//	2    HelloAck   s->c  Version; the answer to Hello
//	3    Ready      c->s  (empty)
//	4    Heartbeat  c->s  Seq
//	5    Status     c->s  Text string (<= MaxStatusLen = 1024 bytes)
//	6    Request    s->c  ID, Method string, Body bytes
//	7    Reply      c->s  ID, Err string (empty = success), Body bytes
//	8    Stop       s->c  Deadline (nanoseconds, <= 2^63-1)
//	9    Stopping   c->s  (empty)
//	10   Acquire    c->s  ID, Name string (1..MaxLeaseName = 256 bytes), Limit (>= 1)
//	11   Lease      s->c  ID, Err string (empty = granted); the answer to Acquire
//	12   Release    c->s  ID: the lease goes back, or the Acquire is withdrawn
//
// Decoding is strict, so every message has exactly one encoding: re-encoding a
// decoded frame gives back its bytes (FuzzDecode checks it). The full
// specification, for workers in other languages, is docs/protocol.md; the frames
// in testdata/golden.json, written by this encoder, are checked by TestGolden and
// by the Python client's tests, so other implementations cannot drift from this one.
//
// # The conversation
//
// The child sends Hello first; the supervisor answers HelloAck (NewChild on the
// child's side, Conn.Handshake on the supervisor's). Then, in any order, the child sends Ready (once), Status,
// Heartbeat, Reply, Acquire and Release; the supervisor sends Request, Stop and
// Lease (Child.Acquire waits for it; Serve's reader delivers it). The child answers
// Stop with Stopping and reads nothing more. A message in the wrong direction is a
// protocol error, ErrUnexpectedMessage (Conn.Recv and Conn.Send refuse them too).
// Request IDs are the supervisor's: Pending hands them out and matches Replies;
// timeouts are the caller's.
//
// # Heartbeats prove progress, not liveness
//
// A Child sends a Heartbeat on its interval only if the worker called
// Child.Progress since the previous one. The worker calls Progress from its main
// loop, so a deadlocked main loop stops the heartbeats although the heartbeat
// goroutine, the pipe and the rest of the process are fine. Seq counts heartbeats
// sent, from 1.
//
// # Limits and errors
//
// Errors that concern the stream wrap one sentinel, checked with errors.Is:
// ErrFrameTooLarge, ErrUnknownType, ErrMalformed (also a zero-length frame),
// ErrTruncated (also wraps io.ErrUnexpectedEOF); then, above the frames,
// ErrVersion, ErrUnexpectedMessage, ErrPeerGone (also wraps io.EOF),
// ErrStopRequested and ErrClosed. Child.Acquire's refusal wraps ErrLeaseRefused,
// with the supervisor's reason. Each error's text names what was wrong:
// "ipc: frame of 5000000 bytes exceeds the 1048576-byte limit",
// "ipc: unknown message type 0x7f", "ipc: first frame is Heartbeat, want Hello".
//
// The decoder checks the declared length against its limit before it allocates
// anything for a frame and never allocates beyond it: a frame that fits in its 4
// KiB read buffer is parsed in place; a large Request or Reply with a Body of up to
// 256 KiB has its Body read straight into a buffer of exactly that length, taken
// from a pool when one there is big enough; any other larger frame is read into a
// buffer that starts at no more than 256 KiB and grows, up to the declared length,
// only as bytes arrive (its Body is a slice of that buffer). Strings and small
// frames' Bodies are copied out of the read buffer, so a decoded message never
// aliases memory the decoder reuses.
//
// # Who owns a Body
//
// A decoded Reply's Body belongs to Conn.Recv's caller, for as long as it likes:
// the supervisor side hands it to whoever asked and never gives it back. A
// Request's Body is lent to its Handler: once the handler returned and the Reply
// was written, Child.Serve gives it back to the decoder's pools, and the next
// large frame is read into that memory instead of a fresh allocation, which is
// why a Handler, like an io.Writer, must not keep its body. Decoding never
// panics; once it has failed, the decoder keeps returning the same error. The
// Encoder refuses, before writing anything, a message decoding would reject
// (ErrMalformed) or a frame over DefaultMaxFrame (ErrFrameTooLarge), whatever
// limit the peer's decoder has.
//
// # Versioning
//
// ProtocolVersion is 1. The frame header (length, type) and the Hello and HelloAck
// payloads are frozen for every version, so two peers of different versions can
// always complete the exchange and fail with ErrVersion rather than misread each
// other. Everything else (a new message type, a new field, a new meaning) takes a
// new version, and peers must match exactly: there is no negotiation. A supervisor
// that refuses a child's version still answers HelloAck with its own version, so
// the child reports the mismatch too. Because decoding is strict, a peer of an
// older version rejects a newer peer's unknown types (ErrUnknownType) and added
// fields (ErrMalformed) instead of ignoring them.
//
// # Performance
//
// Measured with bench_test.go on a shared 2-vCPU VM where a bare write(2) to a pipe
// costs about 2 us and getppid(2) 1 us; ranges are over runs, as load varied:
//
//   - Encode allocates nothing in steady state (the frame buffer is reused, and a
//     type switch, not an interface call, keeps the argument from escaping): 21 ns
//     per Heartbeat into io.Discard.
//   - Decode of a Heartbeat from memory takes 70-95 ns (BenchmarkDecodeHeartbeat,
//     10-14M frames/s; the same at the commit that first measured it, on a quieter
//     day, as 31 ns) and allocates 8 bytes, to box the value in the Message
//     interface. A DecodeInto(*Frame) variant would save that allocation at the
//     price of a second decoding API; heartbeats arrive once per interval per
//     child, so Decode alone it is. Ready and Stopping allocate nothing.
//   - Through a real pipe, with one write(2) per frame as the Encoder promises,
//     heartbeats move at 0.64-1.07M frames/s, 90-150% of the identical bytes written
//     and read raw in the same run (0.58-1.0M/s): the system call, not the framing,
//     is the cost, and it holds any one-write-per-frame design on such a host near
//     1,000,000/s. Sent in 64 KiB batches, the same frames decode at 9.4-14M/s.
//   - A Request/Reply round trip between Conn and Child over two pipe pairs takes
//     a median of 15-20 us (10th percentile 14 us; a raw pipe ping-pong is 12 us;
//     the same over Go channels 0.5 us). The goroutine per Request costs cross-CPU
//     wake-ups that put a minority of round trips, on a busy host up to half, near
//     30 us; running handlers inline would give 12.5 us but block the reader.
//   - 64 KiB Request bodies, recycled as Child.Serve recycles them, decode at
//     1.6-2.1 GB/s (Benchmark64KiBFrames), and the whole path from Conn.Send through
//     Child.Serve's handler goroutines runs at 1.3-1.8 GB/s (Benchmark64KiBRequests),
//     against 1.2-1.5 GB/s for the same bytes written and read raw with io.ReadFull
//     in the same run. Before the pools, every large Body was a fresh allocation
//     and decoding ran at 0.6-0.96 GB/s: the runtime hands freed pages back to the
//     kernel and the next read(2) faulted them in again, about 50 us per frame,
//     more than the copy. A reused scratch buffer plus a copy out, a 1 MiB pipe
//     (F_SETPIPE_SZ) and writing the body in a second write(2) were all tried and
//     gained nothing.
package ipc
