package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/config"
	"github.com/supervisor/supervisor/internal/svconf"
	"github.com/supervisor/supervisor/internal/svrpc"
)

// isSupervisord says whether a config file's text is read as supervisord's:
// --format says so, or it is auto and the file looks like one (svconf.Detect).
func isSupervisord(format string, src []byte) bool {
	switch format {
	case "supervisord":
		return true
	case "native":
		return false
	}
	return svconf.Detect(src)
}

// checkSupervisord is run --check of a supervisord file: its warnings, then
// whether each program's command can run here.
func checkSupervisord(source string, sv *svconf.Config, stdout, stderr io.Writer) int {
	for _, w := range sv.Warnings {
		fmt.Fprintf(stderr, "supervisor: warning: %v\n", w)
	}
	bad := 0
	for i, sp := range sv.Group.Programs {
		if err := config.CheckSpec(sp); err != nil {
			p := sv.Programs[i]
			fmt.Fprintf(stderr, "supervisor: %s:%d: [%s] %s: %v\n", p.File, p.Line, p.Section, sp.Name, err)
			bad++
		}
	}
	if bad > 0 {
		fmt.Fprintf(stdout, "%s: parses (supervisord format), but %d program(s) cannot be started here\n", source, bad)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (supervisord format), %s, %s\n", source, plural(len(sv.Group.Programs), "program"), plural(len(sv.Warnings), "warning"))
	return 0
}

// cmdConvert is `supervisor convert FILE`: a supervisord file as the native
// configuration, on stdout.
func cmdConvert(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("supervisor convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: supervisor convert FILE\n\nPrints the supervisord configuration FILE (and its includes) as the\nequivalent native configuration; a comment marks each line whose meaning\nchanges. Warnings go to stderr.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	sv, err := svconf.Load(fs.Arg(0), svconf.Options{})
	if err != nil {
		printErr(stderr, err)
		return exitUsage
	}
	for _, w := range sv.Warnings {
		fmt.Fprintf(stderr, "supervisor: warning: %v\n", w)
	}
	if err := svconf.Convert(sv, stdout); err != nil {
		fmt.Fprintf(stderr, "supervisor: %v\n", err)
		return 1
	}
	return 0
}

// writePidfile writes our pid to path ([supervisord] pidfile), and returns
// what removes it at exit.
func writePidfile(log hclog.Logger, path string) func() {
	if path == "" {
		return func() {}
	}
	pid := strconv.Itoa(os.Getpid()) + "\n"
	if err := os.WriteFile(path, []byte(pid), 0o644); err != nil {
		log.Warn("cannot write the pidfile", "path", path, "error", err)
		return func() {}
	}
	return func() {
		// Only ours: another supervisor may have taken the path since.
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == strings.TrimSpace(pid) {
			_ = os.Remove(path)
		}
	}
}

// layoutOf is a supervisord configuration as svrpc sees it.
func layoutOf(sv *svconf.Config) svrpc.Layout {
	l := svrpc.Layout{Group: sv.Group}
	for _, p := range sv.Programs {
		l.Procs = append(l.Procs, svrpc.Proc{Name: p.Name, Group: p.Group, Priority: p.Priority, StdoutLogfile: p.StdoutLogfile, StderrLogfile: p.StderrLogfile})
	}
	for _, g := range sv.Groups {
		l.Groups = append(l.Groups, svrpc.GroupInfo{Name: g.Name, Priority: g.Priority, Members: g.Members})
	}
	return l
}

// startSupervisord serves supervisord's interface for a supervisord
// configuration (on [unix_http_server] and [inet_http_server]) and writes its
// pidfile; stop undoes both. A socket that cannot be served is an error, as
// it is for supervisord. After an upgrade the sockets the old image served are
// taken over (inheritedSupervisord); the upgrader gets them (st.up.sv) to hand
// over again.
func startSupervisord(log hclog.Logger, st steer, sv *svconf.Config) (stop func(), err error) {
	log = log.Named("supervisord")
	srv, err := svrpc.NewServer(log, svrpc.Options{
		Backend: st.Supervisor,
		Layout:  layoutOf(sv),
		Loader: func() (svrpc.Layout, error) {
			_, nsv, err := st.load()
			if err != nil {
				return svrpc.Layout{}, err
			}
			if nsv == nil {
				return svrpc.Layout{}, fmt.Errorf("%s is no longer a supervisord configuration", st.file)
			}
			return layoutOf(nsv), nil
		},
		Logfile:        st.out.path(),
		Identification: sv.Supervisord.Identifier,
	})
	if err != nil {
		return nil, err
	}
	st.rpc.Store(srv)
	var lns []net.Listener
	var auths []svrpc.Auth
	fail := func(err error) (func(), error) {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	if u := sv.UnixHTTP; u != nil {
		inherited := inheritedSupervisord("unix")
		ln, err := svrpc.ListenUnixFrom(log, inherited, u.File, u.Chmod, svrpc.Chown{Uid: u.ChownUID, Gid: u.ChownGID})
		if inherited != nil {
			inherited.Close()
		}
		if err != nil {
			return fail(err)
		}
		log.Info("supervisorctl socket ready", "path", u.File)
		lns, auths = append(lns, ln), append(auths, svrpc.Auth{Username: u.Username, Password: u.Password})
	}
	if in := sv.InetHTTP; in != nil {
		inherited := inheritedSupervisord("inet")
		ln, err := svrpc.ListenInetFrom(log, inherited, in.Port, in.Username, in.Password)
		if inherited != nil {
			inherited.Close()
		}
		if err != nil {
			return fail(err)
		}
		lns, auths = append(lns, ln), append(auths, svrpc.Auth{Username: in.Username, Password: in.Password})
	}
	if st.up != nil {
		st.up.sv = &svServing{srv: srv, lns: lns}
	}
	done := make(chan struct{}, len(lns))
	for i, ln := range lns {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := srv.Serve(ln, auths[i]); err != nil {
				log.Error("supervisord interface failed", "error", err)
			}
		}()
	}
	unpid := writePidfile(log, sv.Supervisord.Pidfile)
	return func() {
		_ = srv.Close()
		for range lns {
			<-done
		}
		unpid()
	}, nil
}

// flagSet reports whether the command line gave flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// svLogLevel is [supervisord] loglevel as a --log-level: critical is error,
// blather trace; the others are the same words.
func svLogLevel(l string) string {
	switch l {
	case "critical":
		return "error"
	case "blather":
		return "trace"
	case "":
		return "info"
	}
	return l
}
