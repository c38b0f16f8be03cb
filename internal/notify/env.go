package notify

import (
	"strconv"
	"strings"
	"time"
)

// The environment variables sd_notify clients read.
const (
	EnvSocket        = "NOTIFY_SOCKET"
	EnvWatchdogUsec  = "WATCHDOG_USEC"
	EnvWatchdogPid   = "WATCHDOG_PID"
	envSocketPrefix  = EnvSocket + "="
	envWatchdogUsecP = EnvWatchdogUsec + "="
	envWatchdogPidP  = EnvWatchdogPid + "="
)

// Env returns the environment entries for a child whose sd_notify socket is at
// path: NOTIFY_SOCKET=path and, when watchdog > 0, WATCHDOG_USEC (rounded up to
// a whole microsecond) and, when mainPid > 0, WATCHDOG_PID. Append them to a
// StripEnv'ed environment.
//
// The supervisor forks with os/exec, so it does not know the child's pid when it
// builds the environment: pass mainPid 0. Without WATCHDOG_PID, sd_watchdog_enabled
// reports the watchdog enabled to every process that inherits WATCHDOG_USEC, the
// daemon's own children included; daemons that care unset it (sd_watchdog_enabled
// with unset_environment).
func Env(path string, watchdog time.Duration, mainPid int) []string {
	env := []string{envSocketPrefix + path}
	if watchdog > 0 {
		usec := (watchdog + time.Microsecond - 1) / time.Microsecond
		env = append(env, envWatchdogUsecP+strconv.FormatInt(int64(usec), 10))
		if mainPid > 0 {
			env = append(env, envWatchdogPidP+strconv.Itoa(mainPid))
		}
	}
	return env
}

// StripEnv returns env without NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, in
// a new slice. Use it for every child's inherited environment, notify or not: a
// supervisor itself started by systemd has a NOTIFY_SOCKET of its own, and a
// child that inherited it would report to systemd instead of to us.
func StripEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.HasPrefix(kv, envSocketPrefix) || strings.HasPrefix(kv, envWatchdogUsecP) ||
			strings.HasPrefix(kv, envWatchdogPidP) {
			continue
		}
		out = append(out, kv)
	}
	return out
}
