package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/supervisor/supervisor/internal/buildinfo"
	"github.com/supervisor/supervisor/internal/supervise"
)

// ErrNotRunning says no supervisor listens on the socket (it does not exist, or
// nobody accepts on it).
var ErrNotRunning = errors.New("no supervisor is running there")

// ErrDenied says a supervisor listens on the socket but this user may not
// connect (the socket is another user's: its mode is 0600).
var ErrDenied = errors.New("permission denied: the control socket belongs to another user")

// APIError is an error the supervisor answered with.
type APIError struct {
	Status int    // HTTP status
	Kind   string // "no_such_program", "conflict", "bad_request" or "failed"
	Msg    string
}

func (e *APIError) Error() string { return e.Msg }

// Client talks to the supervisor listening on one socket.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a Client for the socket at path, after checking that the
// socket and its directory belong to us or root and that others cannot write them.
// A missing socket is ErrNotRunning.
func NewClient(path string) (*Client, error) {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNotRunning)
	}
	for _, p := range []string{filepath.Dir(path), path} {
		if err := checkOwned(p, false); err != nil {
			return nil, fmt.Errorf("refusing to use the control socket: %w", err)
		}
	}
	d := &net.Dialer{}
	return &Client{path: path, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
	}}}, nil
}

// Status returns every program's status.
func (c *Client) Status(ctx context.Context) ([]ProgramStatus, error) {
	var st []ProgramStatus
	return st, c.do(ctx, http.MethodGet, "/v1/status", &st)
}

// Program runs op (start, stop, restart, signal) on the named program; sig is
// used by signal only. start and restart return once the program is running or
// failed to get there, unless noWait (then once it was spawned).
func (c *Client) Program(ctx context.Context, op, name, sig string, noWait bool) error {
	p := "/v1/programs/" + url.PathEscape(name) + "/" + op
	switch {
	case op == "signal":
		p += "?sig=" + url.QueryEscape(sig)
	case noWait && (op == "start" || op == "restart"):
		p += "?wait=false"
	}
	return c.do(ctx, http.MethodPost, p, nil)
}

// Group runs op (start, stop, restart, signal) on every program names name
// (names, glob patterns, "all"), resolved by the supervisor at once, and
// returns each program's outcome; sig is used by signal only, noWait by start
// and restart. A name or pattern that matches nothing is an *APIError of kind
// no_such_program, and then nothing was done.
func (c *Client) Group(ctx context.Context, op string, names []string, sig string, noWait bool) ([]GroupResult, error) {
	in, err := json.Marshal(GroupArgs{Programs: names, Sig: sig, NoWait: noWait})
	if err != nil {
		return nil, err
	}
	var rep GroupReply
	if err := c.doBody(ctx, http.MethodPost, "/v1/group/"+url.PathEscape(op), in, &rep); err != nil {
		return nil, err
	}
	return rep.Results, nil
}

// Version returns the running supervisor's build information.
func (c *Client) Version(ctx context.Context) (buildinfo.Info, error) {
	var info buildinfo.Info
	return info, c.do(ctx, http.MethodGet, "/v1/version", &info)
}

// Request sends method and body to the program name, or, if name is a pattern
// such as "worker-*", to the least busy ready program matching it, and returns
// the reply. timeout (0: DefaultRequestTimeout) bounds the wait in the
// supervisor; ctx should allow a little longer, so that the supervisor's answer
// saying the request timed out arrives.
func (c *Client) Request(ctx context.Context, name, method string, body []byte, timeout time.Duration) (RequestReply, error) {
	args := RequestArgs{Method: method, Body: body}
	if timeout > 0 {
		args.Timeout = timeout.String()
	}
	in, err := json.Marshal(args)
	if err != nil {
		return RequestReply{}, err
	}
	var rep RequestReply
	return rep, c.doBody(ctx, http.MethodPost, "/v1/programs/"+url.PathEscape(name)+"/request", in, &rep)
}

// Tree returns what drawing the supervisor's process tree needs.
func (c *Client) Tree(ctx context.Context) (TreeInfo, error) {
	var info TreeInfo
	if err := c.do(ctx, http.MethodGet, "/v1/tree", &info); err != nil {
		return info, err
	}
	if ours := pidNamespace(); info.PidNS != 0 && ours != 0 && info.PidNS != ours {
		return info, fmt.Errorf("%w: the supervisor (pid %d there) runs in another PID namespace, whose pids mean nothing here; run the command inside it (nsenter --target PID --pid --mount, with PID as this namespace knows it)", ErrOtherNamespace, info.Pid)
	}
	return info, nil
}

// ErrOtherNamespace is returned by Tree for a supervisor in another PID namespace.
var ErrOtherNamespace = errors.New("cannot show the tree")

// ReopenLogs asks the supervisor to reopen every log file it writes (its
// programs' and its own), as after a logrotate.
func (c *Client) ReopenLogs(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/reopen-logs", nil)
}

// Reload asks the supervisor to re-read its config file and apply it.
func (c *Client) Reload(ctx context.Context) (supervise.ReloadResult, error) {
	var res supervise.ReloadResult
	return res, c.do(ctx, http.MethodPost, "/v1/reload", &res)
}

// Upgrade asks the supervisor to check binary (an absolute path; "" means
// the binary it was started from) and exec it in place, keeping its pid, its
// children and its sockets. It blocks until the new image answers (the old one
// may first stop programs that cannot be kept), or ctx ends. A refusal (the
// binary failed its checks, or the exec failed; nothing changed) is an
// *APIError of kind KindUpgradeRefused.
func (c *Client) Upgrade(ctx context.Context, binary string) (UpgradeResult, error) {
	in, err := json.Marshal(UpgradeArgs{Binary: binary})
	if err != nil {
		return UpgradeResult{}, err
	}
	var res UpgradeResult
	return res, c.doBody(ctx, http.MethodPost, "/v1/upgrade", in, &res)
}

// Shutdown asks the supervisor to stop everything and exit.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/shutdown", nil)
}

// send makes one request and returns the response of a 200; any other status
// is an *APIError (the body closed), a refused dial is ErrNotRunning.
func (c *Client) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://supervisor"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" && errors.Is(op.Err, syscall.EACCES) {
			return nil, fmt.Errorf("%s: %w", c.path, ErrDenied)
		}
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("%s: %w (%v)", c.path, ErrNotRunning, op.Err)
		}
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e apiError
	if json.Unmarshal(got, &e) != nil || e.Error == "" {
		e = apiError{Error: fmt.Sprintf("%s: %s", resp.Status, got), Kind: "failed"}
	}
	return nil, &APIError{Status: resp.StatusCode, Kind: e.Kind, Msg: e.Error}
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	return c.doBody(ctx, method, path, nil, out)
}

// doBody is do with a JSON request body (nil for none).
func (c *Client) doBody(ctx context.Context, method, path string, in []byte, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the reply: %w", err)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("a reply that is not what we expect: %w", err)
		}
	}
	return nil
}

// Events calls fn for every state change from now on, until ctx ends, fn
// returns an error, or the stream ends (an error saying why).
func (c *Client) Events(ctx context.Context, fn func(EventRecord) error) error {
	return streamInto(c, ctx, "/v1/events", fn)
}

// Logs calls fn for program's last n lines of output and, with follow, for every
// later line until ctx ends or fn returns an error.
func (c *Client) Logs(ctx context.Context, program string, n int, follow bool, fn func(LogRecord) error) error {
	p := fmt.Sprintf("/v1/programs/%s/logs?lines=%d", url.PathEscape(program), n)
	if follow {
		p += "&follow=1"
	}
	return streamInto(c, ctx, p, fn)
}

// LogsOf is Logs for every program that programs name (names, glob patterns,
// "all"), resolved by the supervisor at once: their last n lines each, merged
// in time order, then with follow every later line of any of them, over one
// connection. A name or pattern matching nothing is an *APIError of kind
// no_such_program.
func (c *Client) LogsOf(ctx context.Context, programs []string, n int, follow bool, fn func(LogRecord) error) error {
	q := url.Values{"program": programs, "lines": {strconv.Itoa(n)}}
	if follow {
		q.Set("follow", "1")
	}
	return streamInto(c, ctx, "/v1/logs?"+q.Encode(), fn)
}

// streamInto GETs path and decodes its body, one JSON object a line, into fn. A
// line that is an error object ends the stream with that error.
func streamInto[T any](c *Client, ctx context.Context, path string, fn func(T) error) error {
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("reading the stream: %w", err)
		}
		var e apiError
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return &APIError{Status: http.StatusOK, Kind: e.Kind, Msg: e.Error}
		}
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("a record that is not what we expect: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
}
