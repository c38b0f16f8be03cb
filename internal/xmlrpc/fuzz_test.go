package xmlrpc_test

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/xmlrpc"
)

// FuzzDecodeCall: DecodeCall never panics, and what it accepts, EncodeCall
// writes back to a call that decodes to the same method and values.
func FuzzDecodeCall(f *testing.F) {
	for _, s := range []string{
		`<methodCall><methodName>supervisor.getAllProcessInfo</methodName><params></params></methodCall>`,
		`<?xml version='1.0'?><methodCall><methodName>supervisor.startProcess</methodName><params><param><value><string>g:p</string></value></param><param><value><boolean>1</boolean></value></param></params></methodCall>`,
		`<methodCall><methodName>system.multicall</methodName><params><param><value><array><data><value><struct><member><name>methodName</name><value>supervisor.getPID</value></member><member><name>params</name><value><array><data/></array></value></member></struct></value></data></array></value></param></params></methodCall>`,
		`<methodCall><methodName>m</methodName><params><param><value><double>1e5</double></value></param><param><value><dateTime.iso8601>20260101T00:00:00</dateTime.iso8601></value></param><param><value><base64>AAE=</base64></value></param><param><value><nil/></value></param><param><value><i8>-9</i8></value></param></params></methodCall>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, ps, err := xmlrpc.DecodeCall(bytes.NewReader(in))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := xmlrpc.EncodeCall(&b, m, ps...); err != nil {
			t.Fatalf("encode what was decoded: %v", err)
		}
		m2, ps2, err := xmlrpc.DecodeCall(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("decode what was encoded: %v\n%s", err, b.Bytes())
		}
		if m2 != m || !same(ps, ps2) {
			t.Fatalf("round trip:\n%q %#v\n%q %#v", m, ps, m2, ps2)
		}
	})
}

// same is reflect.DeepEqual, with NaN equal to NaN and times compared as
// the codec writes them (to the second).
func same(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Format("20060102T15:04:05") == y.Format("20060102T15:04:05")
	case string:
		// A string decoded from XML text can hold nothing XML cannot carry.
		y, ok := b.(string)
		return ok && (x == y || strings.ToValidUTF8(x, "\uFFFD") == y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !same(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !same(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
