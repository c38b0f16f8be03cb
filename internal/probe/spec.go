package probe

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Kind is what a probe does.
type Kind int

const (
	TCP  Kind = iota + 1 // connect to Spec.Target (host:port), then close
	HTTP                 // GET Spec.Target (a URL); 2xx or 3xx is success
	Exec                 // run Spec.Argv through a Runner; exit status 0 is success
)

func (k Kind) String() string {
	switch k {
	case TCP:
		return "tcp"
	case HTTP:
		return "http"
	case Exec:
		return "exec"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Defaults, as Kubernetes' (periodSeconds 10, timeoutSeconds 1,
// failureThreshold 3). Parse fills them in.
const (
	DefaultInterval = 10 * time.Second
	DefaultTimeout  = time.Second
	DefaultFailures = 3
)

// ErrInvalid is wrapped by every error of Parse and Spec.Validate.
var ErrInvalid = errors.New("probe: invalid spec")

// Spec describes one probe. The zero Spec is invalid; Parse returns a valid one.
type Spec struct {
	Kind   Kind
	Target string   // TCP: "host:port"; HTTP: an absolute http or https URL; Exec: unused
	Argv   []string // Exec only: the command, Argv[0] the program
	// Interval between the starts of two attempts; an attempt that takes longer
	// is followed at once by the next (attempts never overlap). Must be > 0.
	Interval time.Duration
	// Timeout bounds each attempt; past it the attempt is cancelled and failed.
	// Must be > 0; it may exceed Interval.
	Timeout time.Duration
	// Failures is how many failed attempts in a row make a liveness probe report
	// Result.Failed. Must be >= 1. Readiness probes ignore it.
	Failures int
}

// String is the probe as Parse reads it, for logs: "tcp 127.0.0.1:6379". Exec
// arguments are quoted with strconv.Quote when they hold anything but
// letters, digits and -_./:=@%+,.
func (s Spec) String() string {
	if s.Kind != Exec {
		return s.Kind.String() + " " + s.Target
	}
	var b strings.Builder
	b.WriteString("exec")
	for _, a := range s.Argv {
		b.WriteByte(' ')
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
			b.WriteString(a)
		} else {
			b.WriteString(strconv.Quote(a))
		}
	}
	return b.String()
}

// Parse reads a probe: "tcp HOST:PORT", "http URL" or "exec COMMAND", the kind in
// lower case, separated from the rest by whitespace; surrounding whitespace is
// ignored. HOST may be a name or an IP address (IPv6 in brackets); PORT is a
// number 1-65535. URL is absolute, http or https, with a host, and contains no
// whitespace. For exec, split turns COMMAND into argv: the config loader passes
// its own command splitter, so that quoting works as in command =. A nil split
// splits on whitespace and rejects quotes and backslashes rather than guess
// what they mean.
//
// The returned Spec has DefaultInterval, DefaultTimeout and DefaultFailures;
// the caller overrides them (probe_interval, probe_timeout, probe_failures) and
// calls Validate. Errors wrap ErrInvalid and name what is wrong, for example
//
//	probe: invalid spec: "tcp localhost": missing port in address (want tcp HOST:PORT)
//
// Parse does no I/O: names are not resolved, nothing is run or looked up in PATH.
func Parse(s string, split func(string) ([]string, error)) (Spec, error) {
	spec := Spec{Interval: DefaultInterval, Timeout: DefaultTimeout, Failures: DefaultFailures}
	text := strings.TrimSpace(s)
	word, rest := text, ""
	if i := strings.IndexAny(text, " \t"); i >= 0 {
		word, rest = text[:i], strings.TrimSpace(text[i+1:])
	}
	bad := func(format string, args ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("%w: %q: %s", ErrInvalid, s, fmt.Sprintf(format, args...))
	}
	switch word {
	case "":
		return bad("empty (want tcp HOST:PORT, http URL or exec COMMAND)")
	case "tcp":
		spec.Kind = TCP
		if msg := checkHostPort(rest); msg != "" {
			return bad("%s (want tcp HOST:PORT)", msg)
		}
		spec.Target = rest
	case "http":
		spec.Kind = HTTP
		if msg := checkURL(rest); msg != "" {
			return bad("%s (want http URL, such as http://127.0.0.1:8080/healthz)", msg)
		}
		spec.Target = rest
	case "exec":
		spec.Kind = Exec
		if rest == "" {
			return bad("missing command (want exec COMMAND)")
		}
		var argv []string
		if split != nil {
			var err error
			if argv, err = split(rest); err != nil {
				return Spec{}, fmt.Errorf("%w: %q: command: %w", ErrInvalid, s, err)
			}
		} else {
			if strings.ContainsAny(rest, `"'\`) {
				return bad("quotes and backslashes in an exec command need the config's splitter")
			}
			argv = strings.Fields(rest)
		}
		if len(argv) == 0 || argv[0] == "" {
			return bad("missing command (want exec COMMAND)")
		}
		spec.Argv = argv
	default:
		return bad("unknown kind %q (want tcp, http or exec)", word)
	}
	return spec, nil
}

// checkHostPort returns what is wrong with a TCP target, or "".
func checkHostPort(t string) string {
	if t == "" {
		return "missing address"
	}
	if strings.ContainsAny(t, " \t") {
		return "more than one address"
	}
	host, port, err := net.SplitHostPort(t)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return ae.Err + " in address"
		}
		return "bad address"
	}
	if host == "" {
		return "missing host (write 127.0.0.1" + t + " for this machine)"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
		return fmt.Sprintf("port %q is not a number 1-65535", port)
	}
	return ""
}

// checkURL returns what is wrong with an HTTP target, or "".
func checkURL(t string) string {
	if t == "" {
		return "missing URL"
	}
	if strings.ContainsAny(t, " \t") {
		return "more than one URL"
	}
	u, err := url.Parse(t)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err.Error()
		}
		return "bad URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return "URL has no scheme"
		}
		return fmt.Sprintf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return "URL has no host"
	}
	if msg := checkHostPortOptional(u.Host); msg != "" {
		return msg
	}
	return ""
}

// checkHostPortOptional checks a URL's host, whose port may be absent.
func checkHostPortOptional(h string) string {
	if _, _, err := net.SplitHostPort(h); err != nil {
		return "" // no port: url.Parse already checked the host
	}
	if msg := checkHostPort(h); msg != "" {
		return "URL " + msg
	}
	return ""
}

// Validate reports whether s can be started: a known Kind with its target
// (checked as Parse does) or argv, Interval and Timeout > 0, Failures >= 1.
// Errors wrap ErrInvalid.
func (s Spec) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch s.Kind {
	case TCP:
		if msg := checkHostPort(s.Target); msg != "" {
			return bad("tcp %q: %s", s.Target, msg)
		}
	case HTTP:
		if msg := checkURL(s.Target); msg != "" {
			return bad("http %q: %s", s.Target, msg)
		}
	case Exec:
		if len(s.Argv) == 0 || s.Argv[0] == "" {
			return bad("exec: missing command")
		}
	default:
		return bad("unknown kind %d", int(s.Kind))
	}
	if s.Interval <= 0 {
		return bad("interval %s is not positive", s.Interval)
	}
	if s.Timeout <= 0 {
		return bad("timeout %s is not positive", s.Timeout)
	}
	if s.Failures < 1 {
		return bad("failures %d is less than 1", s.Failures)
	}
	return nil
}
