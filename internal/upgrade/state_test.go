package upgrade

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWriteFromEnvRoundTrip(t *testing.T) {
	in := &State{Old: "v1", Freeze: Mono(), Pid: os.Getpid(), Binary: "/bin/x",
		Supervisor: Supervisor{KillMode: "group", Programs: []Program{{Name: "a", RunNo: 3, State: "running",
			Run: &Run{No: 3, Pid: 42, Stdout: Stream{FD: 7, Pending: []byte("half a \x00line")}, Stderr: Stream{FD: -1}}}}}}
	f, env, err := Write(in)
	if err != nil {
		t.Fatal(err)
	}
	// Sealed: nobody can change it after the old image wrote it.
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("write to the sealed state succeeded")
	}
	defer f.Close()
	if !strings.HasPrefix(env, EnvVar+"=fd:") {
		t.Fatalf("env %q", env)
	}
	d, err := unix.Dup(int(f.Fd())) // FromEnv closes what it names
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvVar, "fd:"+strconv.Itoa(d))
	out, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := os.LookupEnv(EnvVar); ok {
		t.Error("FromEnv left the variable set")
	}
	if _, err := unix.FcntlInt(uintptr(d), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("FromEnv left the state's fd open: %v", err)
	}
	p := out.Supervisor.Programs[0]
	if out.Format != Format || out.Version != Version || p.Name != "a" || p.Run.Pid != 42 || string(p.Run.Stdout.Pending) != "half a \x00line" || p.Run.Stderr.FD != -1 {
		t.Errorf("round trip: %+v", out)
	}
}

func TestReadRefuses(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"format":"supervisor-upgrade","version":99}`, "state version 99; this build reads [1]"},
		{`{"format":"other","version":1}`, `state format "other"`},
		{`not json`, "upgrade: state:"},
		{`{"format":"supervisor-upgrade","version":1,"pid":"x"}`, "state version 1:"},
	} {
		_, err := Read(strings.NewReader(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Read(%s): %v, want %q", tc.doc, err, tc.want)
		}
	}
	// A newer writer's fields within version 1 are ignored.
	if _, err := Read(strings.NewReader(`{"format":"supervisor-upgrade","version":1,"future":{"x":1}}`)); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}

func TestFromEnvBadValue(t *testing.T) {
	for _, v := range []string{"7", "fd:", "fd:2", "fd:x"} {
		t.Setenv(EnvVar, v)
		if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "want fd:N") {
			t.Errorf("%s=%s: %v", EnvVar, v, err)
		}
	}
	os.Unsetenv(EnvVar)
	if _, err := FromEnv(); err != ErrNoState {
		t.Errorf("unset: %v, want ErrNoState", err)
	}
}
