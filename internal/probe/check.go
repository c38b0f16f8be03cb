package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// MaxOutputLine bounds the output line an exec probe keeps for its error.
const MaxOutputLine = 256

// maxBody bounds how much of an HTTP response body an attempt reads (and
// discards) before it closes the connection.
const maxBody = 4 << 10

// checker is one kind of attempt. check is bounded by ctx; close releases what
// the checker holds between attempts. Both are called from the probe's
// goroutine only.
type checker interface {
	check(ctx context.Context) error
	close()
}

func newChecker(s Spec, run Runner) checker {
	switch s.Kind {
	case TCP:
		return tcpChecker{addr: s.Target}
	case HTTP:
		return newHTTPChecker(s.Target)
	default:
		return execChecker{argv: s.Argv, run: run}
	}
}

// tcpChecker connects and closes: a listener accepting is success.
type tcpChecker struct{ addr string }

var _ checker = tcpChecker{}

func (c tcpChecker) check(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err // "dial tcp 127.0.0.1:1: connect: connection refused"
	}
	return conn.Close()
}

func (tcpChecker) close() {}

// httpChecker GETs a URL with its own client: no proxy (a probe of
// 127.0.0.1 must not go to $HTTP_PROXY), no keep-alive (every attempt opens
// and closes its own connection, so none is left open between attempts, and a
// wedged server cannot pass on a stale connection), no redirect followed (3xx is
// itself a success, as in Kubernetes), and no certificate check for https (as
// Kubernetes: a probe asks whether the program answers, not who it is, and
// programs on loopback often have self-signed certificates).
type httpChecker struct {
	url       string
	client    *http.Client
	transport *http.Transport
}

var _ checker = (*httpChecker)(nil)

func newHTTPChecker(url string) *httpChecker {
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{}).DialContext,
		DisableKeepAlives:      true,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, // deliberate: see httpChecker
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &httpChecker{
		url:       url,
		transport: tr,
		client: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

func (c *httpChecker) check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "supervisor-probe")
	resp, err := c.client.Do(req)
	if err != nil {
		return err // a *url.Error: `Get "http://...": dial tcp ...: connection refused`
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxBody)
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("GET %s: status %s", c.url, resp.Status)
	}
	return nil
}

func (c *httpChecker) close() { c.transport.CloseIdleConnections() }

// execChecker runs a command through the Runner; exit status 0 is success.
type execChecker struct {
	argv []string
	run  Runner
}

var _ checker = execChecker{}

func (c execChecker) check(ctx context.Context) error {
	out := new(lastLine)
	code, err := c.run.Run(ctx, c.argv, out)
	line := out.end()
	if err != nil {
		return fmt.Errorf("exec %q: %w", c.argv[0], err)
	}
	if code == 0 {
		return nil
	}
	if line == "" {
		return fmt.Errorf("exec %q: exit status %d", c.argv[0], code)
	}
	return fmt.Errorf("exec %q: exit status %d: %s", c.argv[0], code, line)
}

func (execChecker) close() {}

// lastLine is an io.Writer keeping the last non-blank line written to it, at
// most MaxOutputLine bytes of it. Safe for concurrent use; after end, writes
// are accepted and dropped.
type lastLine struct {
	mu        sync.Mutex
	cur, last []byte // the line being written; the last complete non-blank one
	curCut    bool   // cur lost bytes past MaxOutputLine
	lastCut   bool
	ended     bool
}

func (w *lastLine) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return len(p), nil
	}
	for rest := p; len(rest) > 0; {
		chunk, after, nl := bytes.Cut(rest, []byte{'\n'})
		room := MaxOutputLine - len(w.cur)
		if len(chunk) > room {
			chunk, w.curCut = chunk[:room], true
		}
		w.cur = append(w.cur, chunk...)
		if nl {
			if len(bytes.TrimSpace(w.cur)) > 0 {
				w.last, w.lastCut = append(w.last[:0], w.cur...), w.curCut
			}
			w.cur, w.curCut = w.cur[:0], false
		}
		rest = after
	}
	return len(p), nil
}

// end stops recording and returns the last non-blank line (an unterminated
// last line counts), trimmed, with control characters replaced by '?' and
// "..." appended when it was cut.
func (w *lastLine) end() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ended = true
	line, cut := w.cur, w.curCut
	if len(bytes.TrimSpace(line)) == 0 {
		line, cut = w.last, w.lastCut
	}
	line = bytes.TrimSpace(line)
	b := make([]byte, 0, len(line)+3)
	for _, c := range line {
		if c < ' ' && c != '\t' || c == 0x7f {
			c = '?'
		}
		b = append(b, c)
	}
	if cut && len(b) > 0 {
		b = append(b, "..."...)
	}
	return string(b)
}
