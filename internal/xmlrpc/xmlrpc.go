package xmlrpc

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxBody is the most bytes DecodeCall and DecodeResponse read.
const MaxBody = 4 << 20

// MaxDepth is how deep values may nest (arrays and structs).
const MaxDepth = 64

// ErrTooLarge is returned when a body is longer than MaxBody.
var ErrTooLarge = errors.New("xmlrpc: body too large")

// ErrMalformed is wrapped by every decoding error that is the input's fault.
var ErrMalformed = errors.New("xmlrpc: malformed")

// Fault is an XML-RPC fault: a methodResponse that says the call failed. It is
// an error.
type Fault struct {
	Code   int
	String string
}

func (f *Fault) Error() string { return fmt.Sprintf("xmlrpc fault %d: %s", f.Code, f.String) }

// node is one element of a parsed document: its local name, its own text
// (direct character data only) and its child elements.
type node struct {
	name string
	text []byte
	kids []*node
}

// parse reads one XML document into a tree, bounded by MaxBody and MaxDepth.
func parse(r io.Reader) (*node, error) {
	lr := &io.LimitedReader{R: r, N: MaxBody + 1}
	d := xml.NewDecoder(bufio.NewReader(lr))
	d.Strict = true
	// Only UTF-8 (and its subset ASCII) is read; Python sends UTF-8.
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return in, nil
		}
		return nil, fmt.Errorf("%w: charset %q (want utf-8)", ErrMalformed, label)
	}
	var stack []*node
	var root *node
	for {
		tok, err := d.Token()
		if lr.N <= 0 {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= 2*MaxDepth+8 {
				return nil, fmt.Errorf("%w: nested more than %d deep", ErrMalformed, MaxDepth)
			}
			n := &node{name: t.Name.Local}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("%w: a second root element", ErrMalformed)
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1] // the decoder checks that ends match starts
		case xml.CharData:
			if len(stack) > 0 {
				n := stack[len(stack)-1]
				n.text = append(n.text, t...)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("%w: text outside the root element", ErrMalformed)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", ErrMalformed)
	}
	return root, nil
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// DecodeCall reads a methodCall from r: the method's name and its parameters
// (see the package doc for the Go types). The <params> element may be absent.
// It reads at most MaxBody bytes (ErrTooLarge); every other error wraps
// ErrMalformed.
func DecodeCall(r io.Reader) (method string, params []any, err error) {
	root, err := parse(r)
	if err != nil {
		return "", nil, err
	}
	if root.name != "methodCall" {
		return "", nil, bad("root element <%s>, want <methodCall>", root.name)
	}
	var haveName, haveParams bool
	for _, k := range root.kids {
		switch k.name {
		case "methodName":
			if haveName || len(k.kids) > 0 {
				return "", nil, bad("a second or structured <methodName>")
			}
			method, haveName = string(k.text), true
		case "params":
			if haveParams {
				return "", nil, bad("a second <params>")
			}
			haveParams = true
			if params, err = decodeParams(k); err != nil {
				return "", nil, err
			}
		default:
			return "", nil, bad("<%s> in <methodCall>", k.name)
		}
	}
	if method == "" {
		return "", nil, bad("no <methodName>")
	}
	if params == nil {
		params = []any{}
	}
	return method, params, nil
}

func decodeParams(n *node) ([]any, error) {
	ps := make([]any, 0, len(n.kids))
	for _, p := range n.kids {
		if p.name != "param" || len(p.kids) != 1 || p.kids[0].name != "value" {
			return nil, bad("<params> holds <%s>, want <param><value>", p.name)
		}
		v, err := decodeValue(p.kids[0], 0)
		if err != nil {
			return nil, err
		}
		ps = append(ps, v)
	}
	return ps, nil
}

// decodeValue decodes a <value> element.
func decodeValue(n *node, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, bad("values nested more than %d deep", MaxDepth)
	}
	switch len(n.kids) {
	case 0:
		return string(n.text), nil // untyped: a string
	case 1:
	default:
		return nil, bad("<value> holds %d elements", len(n.kids))
	}
	if len(bytes.TrimSpace(n.text)) > 0 {
		return nil, bad("<value> holds both text and an element")
	}
	t := n.kids[0]
	text := string(t.text)
	trim := strings.TrimSpace(text)
	if t.name != "array" && t.name != "struct" && len(t.kids) > 0 {
		return nil, bad("<%s> holds elements", t.name)
	}
	switch t.name {
	case "int", "i4", "i8", "i1", "i2", "biginteger":
		i, err := strconv.ParseInt(trim, 10, 64)
		if err != nil || i < math.MinInt || i > math.MaxInt {
			return nil, bad("<%s>%q</%s>: not an integer", t.name, trim, t.name)
		}
		return int(i), nil
	case "boolean":
		switch trim {
		case "1":
			return true, nil
		case "0":
			return false, nil
		}
		return nil, bad("<boolean>%q</boolean>: want 0 or 1", trim)
	case "string":
		return text, nil
	case "double", "float":
		f, err := strconv.ParseFloat(trim, 64)
		if err != nil {
			return nil, bad("<double>%q</double>: not a number", trim)
		}
		return f, nil
	case "dateTime.iso8601":
		return parseTime(trim)
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
		if err != nil {
			return nil, bad("<base64>: %w", err)
		}
		return b, nil
	case "nil":
		if trim != "" {
			return nil, bad("<nil> with text")
		}
		return nil, nil
	case "array":
		if len(t.kids) != 1 || t.kids[0].name != "data" || len(bytes.TrimSpace(t.text)) > 0 {
			return nil, bad("<array> without exactly one <data>")
		}
		d := t.kids[0]
		if len(bytes.TrimSpace(d.text)) > 0 {
			return nil, bad("text in <data>")
		}
		a := make([]any, 0, len(d.kids))
		for _, k := range d.kids {
			if k.name != "value" {
				return nil, bad("<%s> in <data>", k.name)
			}
			v, err := decodeValue(k, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	case "struct":
		if len(bytes.TrimSpace(t.text)) > 0 {
			return nil, bad("text in <struct>")
		}
		m := make(map[string]any, len(t.kids))
		for _, mem := range t.kids {
			if mem.name != "member" || len(mem.kids) != 2 || mem.kids[0].name != "name" || mem.kids[1].name != "value" ||
				len(mem.kids[0].kids) > 0 || len(bytes.TrimSpace(mem.text)) > 0 {
				return nil, bad("<struct> holds a <%s> that is not <member><name/><value/></member>", mem.name)
			}
			v, err := decodeValue(mem.kids[1], depth+1)
			if err != nil {
				return nil, err
			}
			m[string(mem.kids[0].text)] = v
		}
		return m, nil
	}
	return nil, bad("unknown type <%s>", t.name)
}

var timeLayouts = []string{"20060102T15:04:05", "2006-01-02T15:04:05", "20060102T15:04:05Z07:00", "2006-01-02T15:04:05Z07:00"}

func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, bad("<dateTime.iso8601>%q</dateTime.iso8601>: want 20060102T15:04:05", s)
}

// DecodeResponse reads a methodResponse from r: its one value, or a *Fault as
// the error. Bounded as DecodeCall is.
func DecodeResponse(r io.Reader) (any, error) {
	root, err := parse(r)
	if err != nil {
		return nil, err
	}
	if root.name != "methodResponse" || len(root.kids) != 1 {
		return nil, bad("want <methodResponse> with one element")
	}
	k := root.kids[0]
	switch k.name {
	case "params":
		ps, err := decodeParams(k)
		if err != nil {
			return nil, err
		}
		if len(ps) != 1 {
			return nil, bad("a response with %d params, want 1", len(ps))
		}
		return ps[0], nil
	case "fault":
		if len(k.kids) != 1 || k.kids[0].name != "value" {
			return nil, bad("<fault> without a <value>")
		}
		v, err := decodeValue(k.kids[0], 0)
		if err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		code, ok1 := m["faultCode"].(int)
		str, ok2 := m["faultString"].(string)
		if !ok || !ok1 || !ok2 {
			return nil, bad("a <fault> that is not {faultCode int, faultString string}")
		}
		return nil, &Fault{Code: code, String: str}
	}
	return nil, bad("<%s> in <methodResponse>", k.name)
}

// EncodeCall writes a methodCall of method with params.
func EncodeCall(w io.Writer, method string, params ...any) error {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<methodCall><methodName>")
	escape(&b, method)
	b.WriteString("</methodName><params>")
	for _, p := range params {
		b.WriteString("<param><value>")
		if err := encodeValue(&b, reflect.ValueOf(p), 0); err != nil {
			return err
		}
		b.WriteString("</value></param>")
	}
	b.WriteString("</params></methodCall>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// EncodeResponse writes a methodResponse carrying v. On an error (a value it
// cannot encode) nothing is written.
func EncodeResponse(w io.Writer, v any) error {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<methodResponse><params><param><value>")
	if err := encodeValue(&b, reflect.ValueOf(v), 0); err != nil {
		return err
	}
	b.WriteString("</value></param></params></methodResponse>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// EncodeFault writes a methodResponse carrying the fault f.
func EncodeFault(w io.Writer, f *Fault) error {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>")
	b.WriteString(strconv.Itoa(f.Code))
	b.WriteString("</int></value></member><member><name>faultString</name><value><string>")
	escape(&b, f.String)
	b.WriteString("</string></value></member></struct></value></fault></methodResponse>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// escape writes s as XML text (see the package doc about characters XML
// cannot carry).
func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s)) // a bytes.Buffer does not fail
}

var timeType = reflect.TypeFor[time.Time]()

func encodeValue(b *bytes.Buffer, v reflect.Value, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("xmlrpc: values nested more than %d deep", MaxDepth)
	}
	if !v.IsValid() {
		b.WriteString("<nil/>")
		return nil
	}
	if v.Type() == timeType {
		b.WriteString("<dateTime.iso8601>")
		b.WriteString(v.Interface().(time.Time).Format("20060102T15:04:05"))
		b.WriteString("</dateTime.iso8601>")
		return nil
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			b.WriteString("<nil/>")
			return nil
		}
		return encodeValue(b, v.Elem(), depth)
	case reflect.Bool:
		if v.Bool() {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString("<int>" + strconv.FormatInt(v.Int(), 10) + "</int>")
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		b.WriteString("<int>" + strconv.FormatUint(v.Uint(), 10) + "</int>")
	case reflect.Float32, reflect.Float64:
		b.WriteString("<double>" + strconv.FormatFloat(v.Float(), 'g', -1, 64) + "</double>")
	case reflect.String:
		b.WriteString("<string>")
		escape(b, v.String())
		b.WriteString("</string>")
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b.WriteString("<base64>")
			raw := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(raw), v)
			b.WriteString(base64.StdEncoding.EncodeToString(raw))
			b.WriteString("</base64>")
			return nil
		}
		b.WriteString("<array><data>")
		for i := range v.Len() {
			b.WriteString("<value>")
			if err := encodeValue(b, v.Index(i), depth+1); err != nil {
				return err
			}
			b.WriteString("</value>")
		}
		b.WriteString("</data></array>")
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("xmlrpc: cannot encode a map with %s keys", v.Type().Key())
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, c reflect.Value) int { return strings.Compare(a.String(), c.String()) })
		b.WriteString("<struct>")
		for _, k := range keys {
			b.WriteString("<member><name>")
			escape(b, k.String())
			b.WriteString("</name><value>")
			if err := encodeValue(b, v.MapIndex(k), depth+1); err != nil {
				return err
			}
			b.WriteString("</value></member>")
		}
		b.WriteString("</struct>")
	default:
		return fmt.Errorf("xmlrpc: cannot encode a %s", v.Type())
	}
	return nil
}
