package ipc_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/ipc"
)

// update rewrites testdata/golden.json from the encoder: go test -run TestGolden -update.
var update = flag.Bool("update", false, "rewrite testdata/golden.json from the Go encoder")

// goldenPath is the file the Go codec tests and the Python client's tests
// (clients/python/test_supervisor_protocol.py) both check, so that the two
// implementations cannot drift apart.
const goldenPath = "testdata/golden.json"

// goldenFrames are the valid frames of the golden file: every message type,
// with values that exercise each encoding rule (multi-byte and 10-byte varints,
// empty and binary bytes, the limits).
var goldenFrames = []struct {
	name string
	msg  ipc.Message
}{
	{"hello", ipc.Hello{Version: ipc.ProtocolVersion, Pid: 12345, Name: "worker-1"}},
	{"hello-version-2", ipc.Hello{Version: 2, Pid: 1, Name: "w"}},
	{"helloack", ipc.HelloAck{Version: ipc.ProtocolVersion}},
	{"helloack-version-2", ipc.HelloAck{Version: 2}},
	{"ready", ipc.Ready{}},
	{"heartbeat", ipc.Heartbeat{Seq: 1}},
	{"heartbeat-300", ipc.Heartbeat{Seq: 300}},
	{"heartbeat-max", ipc.Heartbeat{Seq: math.MaxUint64}},
	{"status", ipc.Status{Text: "serving 3 clients"}},
	{"status-empty", ipc.Status{}},
	{"status-utf8", ipc.Status{Text: "déjà vu ✓"}},
	{"request", ipc.Request{ID: 1, Method: "echo", Body: []byte("hi")}},
	{"request-no-body", ipc.Request{ID: 2, Method: "ping"}},
	{"request-binary", ipc.Request{ID: 200, Method: "echo", Body: []byte{0, 1, 0xfe, 0xff, '\n', 0x80}}},
	{"reply", ipc.Reply{ID: 1, Body: []byte("hi")}},
	{"reply-error", ipc.Reply{ID: 3, Err: `unknown method "frobnicate"`}},
	{"reply-empty", ipc.Reply{ID: 4}},
	{"stop", ipc.Stop{Deadline: 5 * time.Second}},
	{"stop-zero", ipc.Stop{}},
	{"stopping", ipc.Stopping{}},
	{"acquire", ipc.Acquire{ID: 1, Name: "file", Limit: 1}},
	{"acquire-limit-3", ipc.Acquire{ID: 2, Name: "db", Limit: 3}},
	{"lease", ipc.Lease{ID: 1}},
	{"lease-refused", ipc.Lease{ID: 2, Err: "limit 2, not 1"}},
	{"release", ipc.Release{ID: 1}},
}

// goldenBad are frames every decoder must refuse, each with the kind of error
// (the sentinel's name without "Err") the Go decoder gives.
var goldenBad = []struct {
	name string
	doc  string
	b    []byte
	kind error
}{
	{"zero-length", "a frame must hold at least its type byte", header(0), ipc.ErrMalformed},
	{"too-large", "declares 2 MiB, over the 1 MiB limit: refused before anything is read or allocated", cat(header(2<<20), []byte{1}), ipc.ErrFrameTooLarge},
	{"unknown-type-0", "type 0 is never valid", frame(0), ipc.ErrUnknownType},
	{"unknown-type-7f", "no message type 0x7f in version 1", frame(0x7f), ipc.ErrUnknownType},
	{"truncated-header", "the stream ends inside the length", []byte{5, 0}, ipc.ErrTruncated},
	{"truncated-payload", "a Hello cut in half", frame(1, 1, 0xb9, 0x60, 8, 'w', 'o', 'r', 'k', 'e', 'r', '-', '1')[:9], ipc.ErrTruncated},
	{"varint-not-minimal", "Heartbeat Seq 1 written in two bytes", frame(4, 0x81, 0x00), ipc.ErrMalformed},
	{"varint-overflow", "an 11-byte varint", frame(4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), ipc.ErrMalformed},
	{"varint-past-end", "a varint whose last byte is missing", frame(4, 0x80), ipc.ErrMalformed},
	{"trailing-bytes", "a Ready with a payload", frame(3, 0), ipc.ErrMalformed},
	{"string-past-end", "a Status whose text length runs past the frame", frame(5, 10, 'a', 'b'), ipc.ErrMalformed},
	{"status-too-long", "a Status of 1025 bytes", frame(5, append([]byte{0x81, 0x08}, bytes.Repeat([]byte("s"), 1025)...)...), ipc.ErrMalformed},
	{"hello-version-too-big", "Version over 2^32-1", frame(1, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 0), ipc.ErrMalformed},
	{"stop-deadline-too-big", "Deadline over 2^63-1", frame(8, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), ipc.ErrMalformed},
	{"acquire-limit-0", "an Acquire with Limit 0", frame(10, 1, 1, 'f', 0), ipc.ErrMalformed},
	{"acquire-empty-name", "an Acquire with an empty name", frame(10, 1, 0, 1), ipc.ErrMalformed},
	{"request-missing-body", "a Request without its Body length", frame(6, 1, 4, 'e', 'c', 'h', 'o'), ipc.ErrMalformed},
}

// goldenFile is the JSON layout of testdata/golden.json.
type goldenFile struct {
	Comment []string      `json:"comment"`
	Frames  []goldenFrame `json:"frames"`
	Bad     []goldenBadOf `json:"bad"`
}

type goldenFrame struct {
	Name   string         `json:"name"`
	Type   string         `json:"type"`
	Code   int            `json:"code"`
	Fields map[string]any `json:"fields"`
	Hex    string         `json:"hex"`
}

type goldenBadOf struct {
	Name  string `json:"name"`
	Doc   string `json:"doc"`
	Hex   string `json:"hex"`
	Error string `json:"error"`
	Text  string `json:"text"`
}

// fieldsOf is m's fields as the golden file names them: snake_case, numbers as
// numbers, strings as strings, byte fields hex-encoded under a "_hex" key.
func fieldsOf(m ipc.Message) map[string]any {
	switch m := m.(type) {
	case ipc.Hello:
		return map[string]any{"version": m.Version, "pid": m.Pid, "name": m.Name}
	case ipc.HelloAck:
		return map[string]any{"version": m.Version}
	case ipc.Heartbeat:
		return map[string]any{"seq": m.Seq}
	case ipc.Status:
		return map[string]any{"text": m.Text}
	case ipc.Request:
		return map[string]any{"id": m.ID, "method": m.Method, "body_hex": hex.EncodeToString(m.Body)}
	case ipc.Reply:
		return map[string]any{"id": m.ID, "err": m.Err, "body_hex": hex.EncodeToString(m.Body)}
	case ipc.Stop:
		return map[string]any{"deadline_ns": int64(m.Deadline)}
	case ipc.Acquire:
		return map[string]any{"id": m.ID, "name": m.Name, "limit": m.Limit}
	case ipc.Lease:
		return map[string]any{"id": m.ID, "err": m.Err}
	case ipc.Release:
		return map[string]any{"id": m.ID}
	}
	return map[string]any{} // Ready, Stopping
}

// kindName is the golden file's name for a sentinel error.
func kindName(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{ipc.ErrFrameTooLarge, "frame_too_large"},
		{ipc.ErrUnknownType, "unknown_type"},
		{ipc.ErrMalformed, "malformed"},
		{ipc.ErrTruncated, "truncated"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return fmt.Sprintf("unexpected error %v", err)
}

// buildGolden encodes every golden frame with the real Encoder and decodes every
// bad one with the real decoder.
func buildGolden(t *testing.T) []byte {
	t.Helper()
	g := goldenFile{Comment: []string{
		"Generated by the Go encoder and decoder (internal/ipc/golden_test.go); do not edit.",
		"Regenerate with: go test ./internal/ipc -run TestGolden -update",
		"Checked by TestGolden (Go) and by clients/python/test_supervisor_protocol.py (Python).",
		"frames: each message, its type code, its fields (byte fields as hex under a _hex key) and its whole frame in hex.",
		"bad: byte streams every decoder must refuse, with the kind of error (frame_too_large, unknown_type, malformed, truncated).",
	}}
	for _, f := range goldenFrames {
		var buf bytes.Buffer
		if err := ipc.NewEncoder(&buf).Encode(f.msg); err != nil {
			t.Fatalf("encode %s: %v", f.name, err)
		}
		g.Frames = append(g.Frames, goldenFrame{
			Name: f.name, Type: f.msg.Type().String(), Code: int(f.msg.Type()),
			Fields: fieldsOf(f.msg), Hex: hex.EncodeToString(buf.Bytes()),
		})
	}
	for _, b := range goldenBad {
		_, err := ipc.NewDecoder(bytes.NewReader(b.b), 0).Decode()
		if !errors.Is(err, b.kind) {
			t.Fatalf("bad frame %s: Decode = %v, want an error wrapping %v", b.name, err, b.kind)
		}
		g.Bad = append(g.Bad, goldenBadOf{Name: b.name, Doc: b.doc, Hex: hex.EncodeToString(b.b), Error: kindName(err), Text: err.Error()})
	}
	out, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// TestGolden checks testdata/golden.json against the Go codec: the file must be
// exactly what the encoder and decoder produce today (run with -update to
// rewrite it), and every frame in it must decode back to its message.
func TestGolden(t *testing.T) {
	t.Parallel()
	want := buildGolden(t)
	if *update {
		if err := os.WriteFile(goldenPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./internal/ipc -run TestGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s disagrees with the Go codec; if the change is intended, run go test ./internal/ipc -run TestGolden -update and update the Python client too", goldenPath)
	}
	var g goldenFile
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	for i, f := range g.Frames {
		b, err := hex.DecodeString(f.Hex)
		if err != nil {
			t.Fatal(err)
		}
		d := ipc.NewDecoder(bytes.NewReader(b), 0)
		m, err := d.Decode()
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		if !reflect.DeepEqual(m, goldenFrames[i].msg) {
			t.Errorf("%s decodes to %v, want %v", f.Name, m, goldenFrames[i].msg)
		}
		if _, err := d.Decode(); err != io.EOF {
			t.Errorf("%s: bytes after the frame: %v", f.Name, err)
		}
	}
}

// TestSpecHexDumps checks the worked examples in docs/protocol.md: every block
// that starts with a line "golden: NAME" holds, in the hex before each line's
// annotation (separated by two spaces), exactly the bytes of the golden frame
// NAME.
func TestSpecHexDumps(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile(filepath.Join("..", "..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for _, f := range g.Frames {
		byName[f.Name] = f.Hex
	}
	lines := strings.Split(string(md), "\n")
	checked := 0
	for i := 0; i < len(lines); i++ {
		name, ok := strings.CutPrefix(lines[i], "golden: ")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		var b strings.Builder
		j := i + 1
		for ; j < len(lines) && !strings.HasPrefix(lines[j], "```"); j++ {
			hexPart, _, _ := strings.Cut(lines[j], "  ")
			b.WriteString(strings.ReplaceAll(hexPart, " ", ""))
		}
		want, ok := byName[name]
		switch {
		case !ok:
			t.Errorf("docs/protocol.md:%d: no golden frame %q", i+1, name)
		case b.String() != want:
			t.Errorf("docs/protocol.md:%d: the dump of %s is\n%s\nbut the encoder writes\n%s", i+1, name, b.String(), want)
		}
		checked++
		i = j
	}
	if checked < 4 {
		t.Errorf("docs/protocol.md has %d golden hex dumps, want at least 4 (Hello, Ready, Request, Reply)", checked)
	}
}
