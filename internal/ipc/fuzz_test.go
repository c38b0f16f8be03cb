package ipc_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/supervisor/supervisor/internal/ipc"
)

// FuzzDecode feeds arbitrary bytes to a Decoder. The seed corpus is in
// testdata/fuzz/FuzzDecode: valid frames of every type, a stream of several, and
// broken frames of every error kind. It checks that Decode never panics, fails
// only with io.EOF at a frame boundary or a sentinel error, and that every decoded
// message re-encodes to exactly the bytes it came from (decoding is strict, so
// each message has a single encoding) and decodes again to the same value.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		d := ipc.NewDecoder(bytes.NewReader(data), 0)
		off := 0
		for {
			m, err := d.Decode()
			if err == io.EOF {
				if off != len(data) {
					t.Fatalf("io.EOF after %d of %d bytes", off, len(data))
				}
				return
			}
			if err != nil {
				if !errors.Is(err, ipc.ErrFrameTooLarge) && !errors.Is(err, ipc.ErrUnknownType) &&
					!errors.Is(err, ipc.ErrMalformed) && !errors.Is(err, ipc.ErrTruncated) {
					t.Fatalf("Decode error %v wraps no sentinel", err)
				}
				return
			}
			var buf bytes.Buffer
			if err := ipc.NewEncoder(&buf).Encode(m); err != nil {
				t.Fatalf("re-encoding %.100v: %v", m, err)
			}
			enc := buf.Bytes()
			if len(enc) > len(data)-off || !bytes.Equal(enc, data[off:off+len(enc)]) {
				t.Fatalf("%.100v re-encodes to % .40x, not to the input at offset %d", m, enc, off)
			}
			off += len(enc)
			again, err := ipc.NewDecoder(bytes.NewReader(enc), 0).Decode()
			if err != nil {
				t.Fatalf("decoding the re-encoded %.100v: %v", m, err)
			}
			if !reflect.DeepEqual(again, m) {
				t.Fatalf("round trip: %.100v became %.100v", m, again)
			}
			recycle(m) // later frames may be read into its memory
			recycle(again)
		}
	})
}

// recycle gives m's Body, if it has one, back to the pool.
func recycle(m ipc.Message) {
	switch m := m.(type) {
	case ipc.Request:
		ipc.Recycle(m.Body)
	case ipc.Reply:
		ipc.Recycle(m.Body)
	}
}
