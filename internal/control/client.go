package control

import (
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
)

// ErrNotRunning says no supervisor listens on the socket (it does not exist, or
// nobody accepts on it).
var ErrNotRunning = errors.New("no supervisor is running there")

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
// used by signal only.
func (c *Client) Program(ctx context.Context, op, name, sig string) error {
	p := "/v1/programs/" + url.PathEscape(name) + "/" + op
	if op == "signal" {
		p += "?sig=" + url.QueryEscape(sig)
	}
	return c.do(ctx, http.MethodPost, p, nil)
}

// Shutdown asks the supervisor to stop everything and exit.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/shutdown", nil)
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://supervisor"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("%s: %w (%v)", c.path, ErrNotRunning, op.Err)
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e = apiError{Error: fmt.Sprintf("%s: %s", resp.Status, body), Kind: "failed"}
		}
		return &APIError{Status: resp.StatusCode, Kind: e.Kind, Msg: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("a reply that is not what we expect: %w", err)
		}
	}
	return nil
}
