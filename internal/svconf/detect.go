package svconf

import (
	"strings"

	"github.com/supervisor/supervisor/internal/config"
)

// nativeKeys are the [program:x] keys the native format shares with
// supervisord: they say nothing about which format a file is in.
var nativeKeys = []string{"command", "directory", "environment", "autostart", "user", "umask"}

// Detect reports whether src looks like a supervisord configuration rather
// than a native one: it has one of supervisord's own sections
// ([supervisord], [unix_http_server], [inet_http_server], [supervisorctl],
// [include], [group:x], [rpcinterface:x], [eventlistener:x],
// [fcgi-program:x]), or a [program:x] key only supervisord has (autorestart,
// startsecs, ...) or a %(NAME)s expansion and no [program:x] key only the
// native format has (restart, success_codes, ...: a native file with a
// supervisord key by mistake, which the native parser names); and none of the
// native-only sections ([supervisor], [defaults]). It reads nothing but src
// and never fails.
func Detect(src []byte) bool {
	c := newINI()
	var pr problems
	c.read("detect", "/", src, false, &pr)
	found, svKey, nativeKey := false, false, false
	for _, sec := range c.sections {
		kind, _, _ := strings.Cut(sec.name, ":")
		switch {
		case sec.name == "supervisor" || sec.name == "defaults":
			return false
		case sec.name == "supervisord", sec.name == "unix_http_server", sec.name == "inet_http_server",
			sec.name == "supervisorctl", sec.name == "include":
			found = true
		case kind == "group" || kind == "rpcinterface" || kind == "eventlistener" || kind == "fcgi-program":
			found = true
		case kind == "program":
			for _, k := range sec.order {
				switch {
				case isSupervisordOnly(k), strings.Contains(sec.keys[k].val, "%("):
					svKey = true
				case config.IsProgramKey(k) && !isSupervisordKey(k):
					nativeKey = true
				}
			}
		}
	}
	return found || svKey && !nativeKey
}

func isSupervisordKey(k string) bool {
	for _, pk := range programKeys {
		if pk == k {
			return true
		}
	}
	return false
}

func isSupervisordOnly(k string) bool {
	for _, pk := range programKeys {
		if pk == k {
			for _, nk := range nativeKeys {
				if nk == k {
					return false
				}
			}
			return true
		}
	}
	return false
}
