package supervise_test

import (
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/supervisor/supervisor/internal/shim"
	"github.com/supervisor/supervisor/internal/supervise"
)

// Spawn runs a process as another user, with and without limits (the exec
// shim), from the calling thread and through the light spawner, for the
// spawners that run a program. Not parallel: it makes testReaper fork through
// the light spawner for a while.
func TestSpawnIdentity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	u, err := user.Lookup("supervisor-test")
	if err != nil {
		t.Skip("needs the user supervisor-test (.ci/run creates it): ", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &shim.Cred{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}
	umask := uint32(0o027)
	nice := 4
	limits := &supervise.Limits{Umask: &umask, Nice: &nice}
	for _, light := range []bool{false, true} {
		for _, kind := range []supervise.SpawnerKind{supervise.SpawnExec, supervise.SpawnForkExec} {
			for _, l := range []*supervise.Limits{nil, limits} {
				name := string(kind) + map[bool]string{false: "/heavy", true: "/light"}[light] + map[bool]string{false: "/cred", true: "/shim"}[l != nil]
				t.Run(name, func(t *testing.T) {
					if light {
						defer testReaper.SetLightSpawnMinFds(testReaper.SetLightSpawnMinFds(0))
					}
					before := testReaper.LightSpawns()
					r, w, err := os.Pipe()
					if err != nil {
						t.Fatal(err)
					}
					defer r.Close()
					exited := make(chan supervise.Exit, 1)
					_, err = testReaper.Spawn(supervise.SpawnRequest{Kind: kind, Stdout: w, Cred: cred, Limits: l,
						Argv:   []string{"/bin/sh", "-c", `grep -E '^(Uid|Gid|Groups|Umask):' /proc/self/status; cut -d' ' -f19 /proc/self/stat`},
						OnExit: func(e supervise.Exit) { exited <- e }})
					w.Close()
					if err != nil {
						t.Fatal(err)
					}
					out, err := io.ReadAll(r) // EOF: the process and its children are done with the pipe
					if err != nil {
						t.Fatal(err)
					}
					select {
					case e := <-exited:
						if e.ShellCode() != 0 {
							t.Fatalf("exit %s, output %q", e, out)
						}
					case <-time.After(30 * time.Second):
						t.Fatal("no exit")
					}
					if got := testReaper.LightSpawns() - before; (got > 0) != light {
						t.Errorf("%d light spawns, want light = %v", got, light)
					}
					fields := map[string][]string{}
					lines := strings.Split(strings.TrimSpace(string(out)), "\n")
					for _, line := range lines[:len(lines)-1] {
						k, v, _ := strings.Cut(line, ":")
						fields[k] = strings.Fields(v)
					}
					if f := fields["Uid"]; len(f) < 3 || f[0] != u.Uid || f[1] != u.Uid || f[2] != u.Uid {
						t.Errorf("Uid %q, want %s", f, u.Uid)
					}
					if f := fields["Gid"]; len(f) < 2 || f[0] != u.Gid || f[1] != u.Gid {
						t.Errorf("Gid %q, want %s", f, u.Gid)
					}
					if f := fields["Groups"]; len(f) != 1 || f[0] != u.Gid {
						t.Errorf("Groups %q, want [%s]", f, u.Gid)
					}
					wantUmask, wantNice := "", "0"
					if l != nil {
						wantUmask, wantNice = "0027", "4"
					}
					if f := fields["Umask"]; wantUmask != "" && (len(f) != 1 || f[0] != wantUmask) {
						t.Errorf("Umask %q, want %s", f, wantUmask)
					}
					if got := lines[len(lines)-1]; got != wantNice {
						t.Errorf("nice %s, want %s", got, wantNice)
					}
				})
			}
		}
	}
}
