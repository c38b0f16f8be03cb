// Package xmlrpc is an XML-RPC codec for a server (decode a methodCall, encode a
// methodResponse or a fault) and, for tests and tools, the client side (encode
// a methodCall, decode a methodResponse).
//
// Why our own: the Go XML-RPC libraries are clients (github.com/kolo/xmlrpc,
// alexejk.io/go-xmlrpc) with no public way to decode a call, or server
// frameworks bound to a router (gorilla-xmlrpc, unmaintained, no nil). The
// format is small, and encoding/xml does the XML.
//
// Values, as Go values:
//
//	<int>, <i4>, <i8>         int (an int64 range; out of range is an error)
//	<boolean>                 bool ("1" or "0", nothing else)
//	<string>, untyped <value> string
//	<double>                  float64
//	<dateTime.iso8601>        time.Time, in UTC ("20060102T15:04:05"; also with dashes)
//	<base64>                  []byte (whitespace in the text is ignored)
//	<array>                   []any
//	<struct>                  map[string]any (a repeated member name: the last wins)
//	<nil/>                    nil (also ex:nil, as Apache's extension names it)
//
// Encoding takes those, and also int8..int64, uint8..uint32, float32, []string,
// []map[string]any, and any other slice or map with string keys through
// reflection. A value that is none of these is an error, never a panic.
// Strings are written escaped for XML 1.0: invalid UTF-8 and characters XML
// cannot carry (controls other than tab, newline and return) become U+FFFD,
// so a reply always parses on the other side (Python's expat refuses them).
//
// Bounds: DecodeCall and DecodeResponse read at most MaxBody bytes (more is
// ErrTooLarge) and nest values at most MaxDepth deep (more is an error). They
// never panic, whatever the input (FuzzDecodeCall), and what DecodeCall
// accepts, EncodeCall writes back to something DecodeCall decodes to the same
// values.
//
// Compatibility: checked against Python's xmlrpc.client (the library
// supervisorctl uses) in both directions by TestPython.
package xmlrpc
