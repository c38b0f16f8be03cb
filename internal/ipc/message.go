package ipc

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// ProtocolVersion is the version this package speaks. Hello and HelloAck carry it;
// peers must agree exactly.
const ProtocolVersion = 1

// MaxStatusLen is the longest Status text, in bytes.
const MaxStatusLen = 1024

// maxPid bounds Hello.Pid: a pid is a positive int32 on Linux.
const maxPid = math.MaxInt32

// Type is a message type: the byte that follows a frame's length. The values are
// part of the wire format and never change meaning.
type Type uint8

// The message types of protocol version 1. Zero is never a valid type.
const (
	TypeHello     Type = 1  // child -> supervisor, first frame
	TypeHelloAck  Type = 2  // supervisor -> child, answer to Hello
	TypeReady     Type = 3  // child -> supervisor
	TypeHeartbeat Type = 4  // child -> supervisor
	TypeStatus    Type = 5  // child -> supervisor
	TypeRequest   Type = 6  // supervisor -> child
	TypeReply     Type = 7  // child -> supervisor
	TypeStop      Type = 8  // supervisor -> child
	TypeStopping  Type = 9  // child -> supervisor
	TypeAcquire   Type = 10 // child -> supervisor: ask for a lease
	TypeLease     Type = 11 // supervisor -> child: the answer to Acquire
	TypeRelease   Type = 12 // child -> supervisor: give a lease back (or stop waiting)
)

// MaxLeaseName is the longest semaphore name, in bytes.
const MaxLeaseName = 256

var typeNames = [...]string{
	TypeHello:     "Hello",
	TypeHelloAck:  "HelloAck",
	TypeReady:     "Ready",
	TypeHeartbeat: "Heartbeat",
	TypeStatus:    "Status",
	TypeRequest:   "Request",
	TypeReply:     "Reply",
	TypeStop:      "Stop",
	TypeStopping:  "Stopping",
	TypeAcquire:   "Acquire",
	TypeLease:     "Lease",
	TypeRelease:   "Release",
}

// known reports whether t is a message type of this protocol version.
func (t Type) known() bool { return int(t) < len(typeNames) && typeNames[t] != "" }

// String returns the message name ("Heartbeat"), or "Type(0x7f)" for an unknown type.
func (t Type) String() string {
	if t.known() {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(0x%02x)", uint8(t))
}

// Message is one of this package's twelve message types: Hello, HelloAck, Ready,
// Heartbeat, Status, Request, Reply, Stop, Stopping, Acquire, Lease, Release (one
// per Type constant). The set is closed (the interface has an unexported method);
// messages are plain values, used and type-switched by value, never by pointer.
type Message interface {
	// Type returns the message's wire type.
	Type() Type
	isMessage()
}

// Hello is the child's first frame: the protocol version it speaks, its pid as
// it sees it (data only: this package never uses it) and its name.
type Hello struct {
	Version uint32 // must be ProtocolVersion
	Pid     int    // 0..math.MaxInt32
	Name    string
}

// HelloAck is the supervisor's answer to Hello. A HelloAck whose Version differs
// from the Hello's is a refusal: the supervisor closes the connection after it.
type HelloAck struct {
	Version uint32
}

// Ready tells the supervisor that the child finished initialising.
type Ready struct{}

// Heartbeat proves that the child's main loop made progress since the last one
// (see Child.Progress). Seq counts heartbeats from 1.
type Heartbeat struct {
	Seq uint64
}

// Status is free-form text describing the child's state, at most MaxStatusLen bytes.
type Status struct {
	Text string
}

// Request asks the child to run Method with Body. ID is chosen by the supervisor
// and comes back in the Reply.
type Request struct {
	ID     uint64
	Method string
	Body   []byte // nil when empty; a decoded Body is the caller's (see the package doc)
}

// Reply answers the Request with the same ID. A non-empty Err is the handler's
// error text; Body may be set either way.
type Reply struct {
	ID   uint64
	Err  string
	Body []byte // nil when empty; a decoded Body is the caller's (see the package doc)
}

// Stop asks the child to stop within Deadline (>= 0), counted from its receipt.
type Stop struct {
	Deadline time.Duration
}

// Stopping acknowledges Stop.
type Stopping struct{}

// Acquire asks the supervisor for one unit of the named semaphore, which lets
// at most Limit holders in at once (every Acquire of a name must give the same
// Limit). ID is chosen by the child; the answer is a Lease with the same ID.
type Acquire struct {
	ID    uint64
	Name  string // 1..MaxLeaseName bytes
	Limit uint32 // >= 1
}

// Lease answers Acquire ID: granted when Err is empty, refused otherwise. The
// holder keeps it until it sends Release ID, or its run ends.
type Lease struct {
	ID  uint64
	Err string
}

// Release gives back the lease of Acquire ID, or withdraws that Acquire if it
// was not granted yet.
type Release struct {
	ID uint64
}

func (Hello) isMessage()     {}
func (HelloAck) isMessage()  {}
func (Ready) isMessage()     {}
func (Heartbeat) isMessage() {}
func (Status) isMessage()    {}
func (Request) isMessage()   {}
func (Reply) isMessage()     {}
func (Stop) isMessage()      {}
func (Stopping) isMessage()  {}
func (Acquire) isMessage()   {}
func (Lease) isMessage()     {}
func (Release) isMessage()   {}

func (Hello) Type() Type     { return TypeHello }
func (HelloAck) Type() Type  { return TypeHelloAck }
func (Ready) Type() Type     { return TypeReady }
func (Heartbeat) Type() Type { return TypeHeartbeat }
func (Status) Type() Type    { return TypeStatus }
func (Request) Type() Type   { return TypeRequest }
func (Reply) Type() Type     { return TypeReply }
func (Stop) Type() Type      { return TypeStop }
func (Stopping) Type() Type  { return TypeStopping }
func (Acquire) Type() Type   { return TypeAcquire }
func (Lease) Type() Type     { return TypeLease }
func (Release) Type() Type   { return TypeRelease }

func (m Hello) check() error {
	if m.Pid < 0 || m.Pid > maxPid {
		return newError(ErrMalformed, nil, "Hello: Pid %d out of range", m.Pid)
	}
	return nil
}
func (m Status) check() error {
	if len(m.Text) > MaxStatusLen {
		return newError(ErrMalformed, nil, "Status: text of %d bytes exceeds the %d-byte limit", len(m.Text), MaxStatusLen)
	}
	return nil
}
func (m Stop) check() error {
	if m.Deadline < 0 {
		return newError(ErrMalformed, nil, "Stop: negative Deadline %v", m.Deadline)
	}
	return nil
}

func (m Acquire) check() error {
	if len(m.Name) == 0 || len(m.Name) > MaxLeaseName {
		return newError(ErrMalformed, nil, "Acquire: name of %d bytes (want 1..%d)", len(m.Name), MaxLeaseName)
	}
	if m.Limit == 0 {
		return newError(ErrMalformed, nil, "Acquire: Limit 0")
	}
	return nil
}

// uvarintLen is the length of x as a uvarint.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// bytesLen is the length of a string or blob of n bytes: its uvarint length, then it.
func bytesLen(n int) int { return uvarintLen(uint64(n)) + n }

func (m Hello) payloadLen() int {
	return uvarintLen(uint64(m.Version)) + uvarintLen(uint64(m.Pid)) + bytesLen(len(m.Name))
}
func (m HelloAck) payloadLen() int  { return uvarintLen(uint64(m.Version)) }
func (m Heartbeat) payloadLen() int { return uvarintLen(m.Seq) }
func (m Status) payloadLen() int    { return bytesLen(len(m.Text)) }
func (m Request) payloadLen() int {
	return uvarintLen(m.ID) + bytesLen(len(m.Method)) + bytesLen(len(m.Body))
}
func (m Reply) payloadLen() int {
	return uvarintLen(m.ID) + bytesLen(len(m.Err)) + bytesLen(len(m.Body))
}
func (m Stop) payloadLen() int { return uvarintLen(uint64(m.Deadline)) }
func (m Acquire) payloadLen() int {
	return uvarintLen(m.ID) + bytesLen(len(m.Name)) + uvarintLen(uint64(m.Limit))
}
func (m Lease) payloadLen() int   { return uvarintLen(m.ID) + bytesLen(len(m.Err)) }
func (m Release) payloadLen() int { return uvarintLen(m.ID) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBlob(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func (m Hello) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(m.Version))
	b = binary.AppendUvarint(b, uint64(m.Pid))
	return appendString(b, m.Name)
}
func (m HelloAck) appendPayload(b []byte) []byte  { return binary.AppendUvarint(b, uint64(m.Version)) }
func (m Heartbeat) appendPayload(b []byte) []byte { return binary.AppendUvarint(b, m.Seq) }
func (m Status) appendPayload(b []byte) []byte    { return appendString(b, m.Text) }
func (m Request) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	b = appendString(b, m.Method)
	return appendBlob(b, m.Body)
}
func (m Reply) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	b = appendString(b, m.Err)
	return appendBlob(b, m.Body)
}
func (m Stop) appendPayload(b []byte) []byte { return binary.AppendUvarint(b, uint64(m.Deadline)) }
func (m Acquire) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	b = appendString(b, m.Name)
	return binary.AppendUvarint(b, uint64(m.Limit))
}
func (m Lease) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	return appendString(b, m.Err)
}
func (m Release) appendPayload(b []byte) []byte { return binary.AppendUvarint(b, m.ID) }

// The encoding side dispatches with type switches, not through the interface, so
// that Encode does not make its argument escape: encoding a Heartbeat allocates
// nothing, not even to box it. Ready and Stopping have empty payloads: describe
// and appendPayload handle them without a method.

// describe returns m's type, its payload length and, if m cannot be encoded, an
// error wrapping ErrMalformed.
func describe(m Message) (Type, int, error) {
	switch m := m.(type) {
	case Hello:
		return TypeHello, m.payloadLen(), m.check()
	case HelloAck:
		return TypeHelloAck, m.payloadLen(), nil
	case Ready:
		return TypeReady, 0, nil
	case Heartbeat:
		return TypeHeartbeat, m.payloadLen(), nil
	case Status:
		return TypeStatus, m.payloadLen(), m.check()
	case Request:
		return TypeRequest, m.payloadLen(), nil
	case Reply:
		return TypeReply, m.payloadLen(), nil
	case Stop:
		return TypeStop, m.payloadLen(), m.check()
	case Stopping:
		return TypeStopping, 0, nil
	case Acquire:
		return TypeAcquire, m.payloadLen(), m.check()
	case Lease:
		return TypeLease, m.payloadLen(), nil
	case Release:
		return TypeRelease, m.payloadLen(), nil
	}
	// nil: the interface is sealed, so nothing else gets here.
	return 0, 0, newError(ErrMalformed, nil, "Encode of a nil Message")
}

// appendPayload appends m's payload (the frame after the type byte) to b.
func appendPayload(b []byte, m Message) []byte {
	switch m := m.(type) {
	case Hello:
		return m.appendPayload(b)
	case HelloAck:
		return m.appendPayload(b)
	case Heartbeat:
		return m.appendPayload(b)
	case Status:
		return m.appendPayload(b)
	case Request:
		return m.appendPayload(b)
	case Reply:
		return m.appendPayload(b)
	case Stop:
		return m.appendPayload(b)
	case Acquire:
		return m.appendPayload(b)
	case Lease:
		return m.appendPayload(b)
	case Release:
		return m.appendPayload(b)
	}
	return b // Ready, Stopping: empty
}
