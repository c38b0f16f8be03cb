package probe_test

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/probe"
)

// quoteSplit stands in for the config loader's command splitter: words are
// separated by spaces, and '...' groups words.
func quoteSplit(s string) ([]string, error) {
	var args []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '\'' {
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated single quote")
			}
			args, s = append(args, s[1:1+end]), s[2+end:]
			continue
		}
		word, rest, _ := strings.Cut(s, " ")
		args, s = append(args, word), rest
	}
	return args, nil
}

func TestParse(t *testing.T) {
	t.Parallel()
	def := func(s probe.Spec) probe.Spec {
		s.Interval, s.Timeout, s.Failures = probe.DefaultInterval, probe.DefaultTimeout, probe.DefaultFailures
		return s
	}
	tests := []struct {
		doc   string
		in    string
		split func(string) ([]string, error)
		want  probe.Spec
	}{
		{doc: "tcp", in: "tcp 127.0.0.1:6379", want: def(probe.Spec{Kind: probe.TCP, Target: "127.0.0.1:6379"})},
		{doc: "tcp name", in: "tcp localhost:80", want: def(probe.Spec{Kind: probe.TCP, Target: "localhost:80"})},
		{doc: "tcp ipv6", in: "tcp [::1]:8080", want: def(probe.Spec{Kind: probe.TCP, Target: "[::1]:8080"})},
		{doc: "surrounding and inner whitespace", in: " \ttcp \t 127.0.0.1:1  ", want: def(probe.Spec{Kind: probe.TCP, Target: "127.0.0.1:1"})},
		{doc: "http", in: "http http://127.0.0.1:8080/healthz", want: def(probe.Spec{Kind: probe.HTTP, Target: "http://127.0.0.1:8080/healthz"})},
		{doc: "https no port with query", in: "http https://localhost/ready?full=1", want: def(probe.Spec{Kind: probe.HTTP, Target: "https://localhost/ready?full=1"})},
		{doc: "exec nil split", in: "exec redis-cli -p 6379 ping", want: def(probe.Spec{Kind: probe.Exec, Argv: []string{"redis-cli", "-p", "6379", "ping"}})},
		{doc: "exec with splitter", in: "exec sh -c 'pg_isready -q'", split: quoteSplit, want: def(probe.Spec{Kind: probe.Exec, Argv: []string{"sh", "-c", "pg_isready -q"}})},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			got, err := probe.Parse(tc.in, tc.split)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc   string
		in    string
		split func(string) ([]string, error)
		want  string // a substring of the error
	}{
		{doc: "empty", in: "", want: "empty (want tcp HOST:PORT, http URL or exec COMMAND)"},
		{doc: "blank", in: "  \t", want: "empty"},
		{doc: "unknown kind", in: "udp 127.0.0.1:53", want: `unknown kind "udp" (want tcp, http or exec)`},
		{doc: "kind in upper case", in: "TCP 127.0.0.1:1", want: `unknown kind "TCP"`},
		{doc: "url without kind", in: "http://127.0.0.1/", want: `unknown kind "http://127.0.0.1/"`},
		{doc: "tcp no address", in: "tcp", want: "missing address (want tcp HOST:PORT)"},
		{doc: "tcp no port", in: "tcp localhost", want: "missing port in address"},
		{doc: "tcp no host", in: "tcp :6379", want: "missing host (write 127.0.0.1:6379 for this machine)"},
		{doc: "tcp port zero", in: "tcp 127.0.0.1:0", want: `port "0" is not a number 1-65535`},
		{doc: "tcp port too big", in: "tcp 127.0.0.1:65536", want: `port "65536" is not a number 1-65535`},
		{doc: "tcp port name", in: "tcp 127.0.0.1:http", want: `port "http" is not a number`},
		{doc: "tcp two addresses", in: "tcp 127.0.0.1:1 127.0.0.1:2", want: "more than one address"},
		{doc: "tcp ipv6 without brackets", in: "tcp ::1:80", want: "too many colons in address"},
		{doc: "http no url", in: "http", want: "missing URL (want http URL"},
		{doc: "http no scheme", in: "http 127.0.0.1:8080/healthz", want: "first path segment in URL cannot contain colon"},
		{doc: "http path only", in: "http /healthz", want: "URL has no scheme"},
		{doc: "http other scheme", in: "http ftp://127.0.0.1/", want: `scheme "ftp" is not http or https`},
		{doc: "http no host", in: "http http:///healthz", want: "URL has no host"},
		{doc: "http port zero", in: "http http://127.0.0.1:0/", want: `URL port "0" is not a number 1-65535`},
		{doc: "http bad port", in: "http http://127.0.0.1:x/", want: "invalid port"},
		{doc: "http two words", in: "http http://a/ http://b/", want: "more than one URL"},
		{doc: "exec no command", in: "exec", want: "missing command (want exec COMMAND)"},
		{doc: "exec quotes without splitter", in: `exec sh -c "true"`, want: "quotes and backslashes in an exec command need the config's splitter"},
		{doc: "exec splitter error", in: "exec sh -c 'true", split: quoteSplit, want: "command: unterminated single quote"},
		{doc: "exec splitter gives nothing", in: "exec ''", split: quoteSplit, want: "missing command"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			got, err := probe.Parse(tc.in, tc.split)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error containing %q", tc.in, got, tc.want)
			}
			if !errors.Is(err, probe.ErrInvalid) {
				t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tc.in, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) error\n  %v\nwant it to contain\n  %s", tc.in, err, tc.want)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tc.in)) {
				t.Errorf("Parse(%q) error %v does not quote the input", tc.in, err)
			}
			if !reflect.DeepEqual(got, probe.Spec{}) {
				t.Errorf("Parse(%q) returned %+v with its error, want the zero Spec", tc.in, got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := probe.Spec{Kind: probe.TCP, Target: "127.0.0.1:1", Interval: time.Second, Timeout: time.Second, Failures: 1}
	tests := []struct {
		doc  string
		edit func(*probe.Spec)
		want string // "" for valid
	}{
		{doc: "valid", edit: func(*probe.Spec) {}},
		{doc: "timeout above interval", edit: func(s *probe.Spec) { s.Timeout = time.Minute }},
		{doc: "zero kind", edit: func(s *probe.Spec) { s.Kind = 0 }, want: "unknown kind 0"},
		{doc: "bad tcp target", edit: func(s *probe.Spec) { s.Target = "127.0.0.1" }, want: `tcp "127.0.0.1": missing port in address`},
		{doc: "bad http target", edit: func(s *probe.Spec) { s.Kind = probe.HTTP }, want: `http "127.0.0.1:1": `},
		{doc: "exec without argv", edit: func(s *probe.Spec) { s.Kind = probe.Exec }, want: "exec: missing command"},
		{doc: "zero interval", edit: func(s *probe.Spec) { s.Interval = 0 }, want: "interval 0s is not positive"},
		{doc: "negative timeout", edit: func(s *probe.Spec) { s.Timeout = -time.Second }, want: "timeout -1s is not positive"},
		{doc: "zero failures", edit: func(s *probe.Spec) { s.Failures = 0 }, want: "failures 0 is less than 1"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			s := ok
			tc.edit(&s)
			err := s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate(%+v): %v", s, err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate(%+v) = nil, want an error containing %q", s, tc.want)
			case tc.want != "" && (!errors.Is(err, probe.ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate(%+v) = %v, want ErrInvalid containing %q", s, err, tc.want)
			}
		})
	}
}

func TestSpecString(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"tcp 127.0.0.1:6379", "http http://127.0.0.1:8080/healthz?x=1", "exec redis-cli -p 6379 ping"} {
		s, err := probe.Parse(in, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.String(); got != in {
			t.Errorf("Parse(%q).String() = %q", in, got)
		}
	}
	s := probe.Spec{Kind: probe.Exec, Argv: []string{"sh", "-c", "exit 1", ""}}
	if got, want := s.String(), `exec sh -c "exit 1" ""`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
