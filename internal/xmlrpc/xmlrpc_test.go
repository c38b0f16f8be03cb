package xmlrpc_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/xmlrpc"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	when := time.Date(2026, 12, 5, 2, 25, 4, 0, time.UTC)
	params := []any{
		1, -7, true, false, "a <b> & \"c\"\n\ttab", "", 2.5, when, []byte{0, 1, 255},
		[]any{1, "x", []any{}}, map[string]any{"k": 1, "": "empty key", "n": nil}, nil,
	}
	var b bytes.Buffer
	if err := xmlrpc.EncodeCall(&b, "supervisor.test", params...); err != nil {
		t.Fatal(err)
	}
	m, got, err := xmlrpc.DecodeCall(&b)
	if err != nil {
		t.Fatal(err)
	}
	if m != "supervisor.test" || !reflect.DeepEqual(got, params) {
		t.Fatalf("got %q %#v\nwant %#v", m, got, params)
	}
}

func TestDecodeCall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc, in string
		method  string
		params  []any
		err     bool
	}{
		{doc: "no params", in: `<methodCall><methodName>m</methodName></methodCall>`, method: "m", params: []any{}},
		{doc: "untyped string", in: `<?xml version="1.0"?><methodCall><methodName>m</methodName><params><param><value> x </value></param></params></methodCall>`, method: "m", params: []any{" x "}},
		{doc: "typed with whitespace", in: "<methodCall><methodName>m</methodName><params><param><value>\n<i4> 5 </i4>\n</value></param></params></methodCall>", method: "m", params: []any{5}},
		{doc: "ex:nil", in: `<methodCall xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"><methodName>m</methodName><params><param><value><ex:nil/></value></param></params></methodCall>`, method: "m", params: []any{nil}},
		{doc: "base64 with newlines", in: "<methodCall><methodName>m</methodName><params><param><value><base64>aGVs\nbG8=\n</base64></value></param></params></methodCall>", method: "m", params: []any{[]byte("hello")}},
		{doc: "no method", in: `<methodCall><params/></methodCall>`, err: true},
		{doc: "bad int", in: `<methodCall><methodName>m</methodName><params><param><value><int>x</int></value></param></params></methodCall>`, err: true},
		{doc: "bad boolean", in: `<methodCall><methodName>m</methodName><params><param><value><boolean>true</boolean></value></param></params></methodCall>`, err: true},
		{doc: "unknown type", in: `<methodCall><methodName>m</methodName><params><param><value><blob/></value></param></params></methodCall>`, err: true},
		{doc: "not xml", in: `hello`, err: true},
		{doc: "unknown entity", in: `<methodCall><methodName>&foo;</methodName></methodCall>`, err: true},
		{doc: "two roots", in: `<methodCall><methodName>m</methodName></methodCall><methodCall/>`, err: true},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			m, ps, err := xmlrpc.DecodeCall(strings.NewReader(tc.in))
			if tc.err {
				if err == nil || !errors.Is(err, xmlrpc.ErrMalformed) {
					t.Fatalf("got %q %v, %v; want a malformed error", m, ps, err)
				}
				return
			}
			if err != nil || m != tc.method || !reflect.DeepEqual(ps, tc.params) {
				t.Fatalf("got %q %#v, %v; want %q %#v", m, ps, err, tc.method, tc.params)
			}
		})
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	big := "<methodCall><methodName>m</methodName><params><param><value>" + strings.Repeat("x", xmlrpc.MaxBody) + "</value></param></params></methodCall>"
	if _, _, err := xmlrpc.DecodeCall(strings.NewReader(big)); !errors.Is(err, xmlrpc.ErrTooLarge) {
		t.Fatalf("big body: %v", err)
	}
	deep := "<methodCall><methodName>m</methodName><params><param><value>" + strings.Repeat("<array><data><value>", 200) + "1" + strings.Repeat("</value></data></array>", 200) + "</value></param></params></methodCall>"
	if _, _, err := xmlrpc.DecodeCall(strings.NewReader(deep)); !errors.Is(err, xmlrpc.ErrMalformed) {
		t.Fatalf("deep: %v", err)
	}
}

func TestEncodeOddValues(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	// Characters XML cannot carry come out as U+FFFD, and the reply parses.
	if err := xmlrpc.EncodeResponse(&b, map[string]any{"s": "a\x00b\xffc", "l": []string{"x"}, "f": math.Inf(1)}); err != nil {
		t.Fatal(err)
	}
	v, err := xmlrpc.DecodeResponse(&b)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["s"] != "a\uFFFDb\uFFFDc" || !reflect.DeepEqual(m["l"], []any{"x"}) || m["f"] != math.Inf(1) {
		t.Fatalf("got %#v", m)
	}
	if err := xmlrpc.EncodeResponse(&b, make(chan int)); err == nil {
		t.Fatal("a channel encoded")
	}
	if err := xmlrpc.EncodeResponse(&b, map[int]int{1: 1}); err == nil {
		t.Fatal("a map with int keys encoded")
	}
}

func TestFault(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := xmlrpc.EncodeFault(&b, &xmlrpc.Fault{Code: 10, String: "BAD_NAME: foo"}); err != nil {
		t.Fatal(err)
	}
	_, err := xmlrpc.DecodeResponse(&b)
	var f *xmlrpc.Fault
	if !errors.As(err, &f) || f.Code != 10 || f.String != "BAD_NAME: foo" {
		t.Fatalf("got %v", err)
	}
}

// TestPython checks the codec against Python's xmlrpc.client, what
// supervisorctl speaks: a call Python encodes decodes here, and a response and
// a fault encoded here load there.
func TestPython(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("SUPERVISOR_NEED_PYTHON") == "1" {
			t.Fatal("python3 not found and SUPERVISOR_NEED_PYTHON=1")
		}
		t.Skip("no python3")
	}
	const dump = `import sys, xmlrpc.client as x, datetime
sys.stdout.write(x.dumps((1, -2, True, "a<&>\u00e9\n", 2.5, x.Binary(b"\x00\xff"), [1, ["n"]], {"k": "v"}, None, datetime.datetime(2026, 12, 5, 2, 25, 4)), "supervisor.m", allow_none=True))`
	out, err := exec.Command(py, "-c", dump).Output()
	if err != nil {
		t.Fatal(err)
	}
	m, ps, err := xmlrpc.DecodeCall(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []any{1, -2, true, "a<&>\u00e9\n", 2.5, []byte{0, 0xff}, []any{1, []any{"n"}}, map[string]any{"k": "v"}, nil, time.Date(2026, 12, 5, 2, 25, 4, 0, time.UTC)}
	if m != "supervisor.m" || !reflect.DeepEqual(ps, want) {
		t.Fatalf("got %q %#v\nwant %#v", m, ps, want)
	}

	var resp, fault bytes.Buffer
	if err := xmlrpc.EncodeResponse(&resp, []any{map[string]any{"name": "x", "pid": 42, "ok": true, "s": "a\x01<b>\r\n"}, 1.5, []byte("hi"), nil}); err != nil {
		t.Fatal(err)
	}
	if err := xmlrpc.EncodeFault(&fault, &xmlrpc.Fault{Code: 10, String: "BAD_NAME: x"}); err != nil {
		t.Fatal(err)
	}
	const load = `import sys, xmlrpc.client as x
v = x.loads(open(sys.argv[1], "rb").read(), use_builtin_types=True)[0][0]
print(ascii(v))
try:
    x.loads(open(sys.argv[2], "rb").read())
except x.Fault as f:
    print(f.faultCode, f.faultString)`
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/r", resp.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/f", fault.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(py, "-c", load, dir+"/r", dir+"/f").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	const wantOut = "[{'name': 'x', 'ok': True, 'pid': 42, 's': 'a\\ufffd<b>\\r\\n'}, 1.5, b'hi', None]\n10 BAD_NAME: x\n"
	if string(out) != wantOut {
		t.Fatalf("python read\n%s\nwant\n%s", out, wantOut)
	}
}
