package svconf

import (
	"reflect"
	"testing"
)

// The expectations below were checked against Python 3.11 and supervisord 4.2.5.

func TestExpandFormat(t *testing.T) {
	t.Parallel()
	vs := vars{m: map[string]any{"n": 3, "s": "ab", "neg": -5}}
	for _, tt := range []struct{ in, want string }{
		{"%(n)02d|%(s)5s|%(n)-4d|%(n)+d|%(n)x|%(s).1s|%%", "03|   ab|3   |+3|3|a|%"},
		{"%(neg)04d %(n)#o %(n)#x %(n).3d %(n)s %(s)r", "-005 0o3 0x3 003 3 'ab'"},
		{"no percent", "no percent"},
	} {
		got, err := expand(tt.in, vs)
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"%", "100% off", "%s", "%(n", "%(s)d", "%(x)s", "%(n)*d", "%(n)q"} {
		if got, err := expand(bad, vs); err == nil {
			t.Errorf("expand(%q) = %q, want an error", bad, got)
		}
	}
}

func TestEnvPairs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{`A=1,B="x,y",C=/usr/bin:/bin`, []string{"A=1", "B=x,y", "C=/usr/bin:/bin"}},
		{"A=a b", []string{"A=a"}}, // the fourth token is the separator, whatever it is
		{"A=x#c\nd", []string{"A=xd"}},
		{`K="it s", L='q'`, []string{"K=it s", "L=q"}},
		{"A=1,A=2,B=3", []string{"A=2", "B=3"}},
		{"", nil},
	} {
		got, err := envPairs(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("envPairs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"A=x*y", "A=", "A", `A="open`} {
		if got, err := envPairs(bad); err == nil {
			t.Errorf("envPairs(%q) = %q, want an error", bad, got)
		}
	}
}

func TestCommentStart(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"a = b ; c\n", 6},
		{"a = b;c\n", 8},
		{"a=b#c ; d\n", 6},
		{"a = b;c;d ;e #f\n", 13}, // configparser stops at the first round where one qualifies
		{"  ; all comment\n", 0},
		{"\t# all comment\n", 0},
	} {
		if got := commentStart(tt.in); got != tt.want {
			t.Errorf("commentStart(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestSplitCommand(t *testing.T) {
	t.Parallel()
	got, err := splitCommand(`a "b\$c" d\ e 'x y' ""`)
	want := []string{"a", `b\$c`, "d e", "x y", ""}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("splitCommand = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{`a "b`, `a 'b`, `a \`} {
		if _, err := splitCommand(bad); err == nil {
			t.Errorf("splitCommand(%q): no error", bad)
		}
	}
}
