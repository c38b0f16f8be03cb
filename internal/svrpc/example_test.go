package svrpc_test

import (
	"errors"

	"github.com/hashicorp/go-hclog"

	"github.com/supervisor/supervisor/internal/supervise"
	"github.com/supervisor/supervisor/internal/svrpc"
)

// How cmd/supervisor serves a supervisord configuration's sockets: the
// Supervisor runs layout.Group; the Loader re-reads the file.
func Example() {
	log := hclog.NewNullLogger()
	var (
		sup    *supervise.Supervisor // supervise.New(log, layout.Group, ...), being served
		layout svrpc.Layout          // from the configuration file
		load   svrpc.Loader          // re-reads it
	)
	srv, err := svrpc.NewServer(log, svrpc.Options{
		Backend: sup, Layout: layout, Loader: load,
		Logfile:        "/var/log/supervisor/supervisord.log", // [supervisord] logfile
		Identification: "supervisor",                          // [supervisord] identifier
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	// [unix_http_server] file, chmod (0 for our default, 0600), chown, username, password.
	unixLn, err := svrpc.ListenUnix(log, "/var/run/supervisor.sock", 0o700, svrpc.NoChown)
	if err != nil {
		panic(err) // control.ErrInUse: another server answers there
	}
	go srv.Serve(unixLn, svrpc.Auth{})
	// [inet_http_server] port, username, password.
	inetLn, err := svrpc.ListenInet(log, "127.0.0.1:9001", "user", "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4")
	if errors.Is(err, svrpc.ErrNoAuth) {
		panic(err) // say so and refuse to start
	}
	go srv.Serve(inetLn, svrpc.Auth{Username: "user", Password: "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"})
}
