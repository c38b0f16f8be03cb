package svconf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/supervisor/supervisor/internal/supervise"
)

// Convert writes c as a native configuration (internal/config's syntax) that
// config.Parse reads back as c.Group, with the User of each program looked
// up again. Each line whose meaning differs from the supervisord
// configuration carries a comment saying how, and c's warnings head the
// file. What the native format cannot say (a value with a newline, a
// directory with " ;" in it) is an error naming the program, and so is a
// configuration without processes; nothing is written then. It only writes
// to w.
func Convert(c *Config, w io.Writer) error {
	if len(c.Group.Programs) == 0 {
		return errors.New("convert: no processes to run: a native configuration needs at least one program")
	}
	var b strings.Builder
	b.WriteString("# Converted from a supervisord configuration by supervisor convert.\n")
	if len(c.Files) > 0 {
		fmt.Fprintf(&b, "# Read: %s\n", strings.Join(c.Files, ", "))
	}
	if len(c.Warnings) > 0 {
		b.WriteString("#\n# What supervisor does not do, or does differently:\n")
		for _, warn := range c.Warnings {
			fmt.Fprintf(&b, "#   %s\n", oneLine(warn.Error()))
		}
	}
	b.WriteString("#\n# The [supervisord], [unix_http_server], [inet_http_server] and [supervisorctl]\n")
	b.WriteString("# sections have no native equivalent: run the supervisord file itself to keep them\n")
	b.WriteString("# (supervisor run -c FILE), or pass their settings on the command line.\n")
	b.WriteString("# Every program is signalled as a whole process group (stopasgroup, killasgroup).\n\n")
	b.WriteString("[supervisor]\nstrategy = one_for_one\n")
	for i := range c.Group.Programs {
		s := &c.Group.Programs[i]
		var info *Program
		if i < len(c.Programs) {
			info = &c.Programs[i]
		}
		if err := writeProgram(&b, s, info, c); err != nil {
			return fmt.Errorf("convert program %q: %w", s.Name, err)
		}
	}
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(b.String()); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	return nil
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

func writeProgram(b *strings.Builder, s *supervise.Spec, info *Program, c *Config) error {
	b.WriteString("\n")
	if info != nil {
		fmt.Fprintf(b, "# [%s] at %s:%d: process %q of group %q, priority %d (group %d)\n",
			info.Section, info.File, info.Line, info.Name, info.Group, info.Priority, info.GroupPriority)
	}
	fmt.Fprintf(b, "[program:%s]\n", s.Name)
	var words []string
	for _, a := range s.Command {
		q, err := quoteWord(a, "")
		if err != nil {
			return fmt.Errorf("command: %w", err)
		}
		words = append(words, q)
	}
	fmt.Fprintf(b, "command = %s\n", strings.Join(words, " "))
	if s.Dir != "" {
		if err := literalOK(s.Dir); err != nil {
			return fmt.Errorf("directory: %w", err)
		}
		fmt.Fprintf(b, "directory = %s\n", strings.ReplaceAll(s.Dir, "$", "$$"))
	}
	var env []string
	for _, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		if !envName(k) {
			fmt.Fprintf(b, "; NOT CONVERTED: variable %q: the native environment key takes letters, digits and '_' only\n", k)
			continue
		}
		q, err := quoteWord(v, ",")
		if err != nil {
			return fmt.Errorf("environment %s: %w", k, err)
		}
		env = append(env, k+"="+q)
	}
	if len(env) > 0 {
		b.WriteString("; supervisord's SUPERVISOR_* variables, then [supervisord]'s environment, then the program's\n")
		fmt.Fprintf(b, "environment = %s\n", strings.Join(env, ", "))
	}
	if s.User != nil {
		fmt.Fprintf(b, "user = %s\n", s.User.Name)
		if s.KeepUserEnv {
			b.WriteString("keep_user_env = true             ; as supervisord: HOME, USER and LOGNAME stay the supervisor's\n")
		}
	}
	if s.Limits.Umask != nil {
		fmt.Fprintf(b, "umask = %03o\n", *s.Limits.Umask)
	}
	fmt.Fprintf(b, "autostart = %t\n", s.Autostart)
	fmt.Fprintf(b, "restart = %s\n", s.Restart)
	if len(s.SuccessCodes) == 0 {
		b.WriteString("; CHANGED: exitcodes is empty (no exit is expected); the native success_codes needs a code\n")
		b.WriteString("success_codes = 0\n")
	} else {
		codes := make([]string, len(s.SuccessCodes))
		for i, n := range s.SuccessCodes {
			codes[i] = fmt.Sprint(n)
		}
		fmt.Fprintf(b, "success_codes = %s\n", strings.Join(codes, ", "))
	}
	fmt.Fprintf(b, "min_uptime = %s\n", dur(s.MinUptime))
	fmt.Fprintf(b, "start_retries = %d\n", s.StartRetries)
	fmt.Fprintf(b, "start_backoff = %s               ; supervisord's retry delays: 1s, 2s, 3s, ...\n", dur(s.StartBackoff))
	if s.BackoffInitial != supervise.DefaultSpec().BackoffInitial {
		fmt.Fprintf(b, "backoff_initial = %s\n", dur(s.BackoffInitial))
	}
	if s.BackoffMax != supervise.DefaultSpec().BackoffMax {
		fmt.Fprintf(b, "backoff_max = %s\n", dur(s.BackoffMax))
	}
	fmt.Fprintf(b, "backoff_jitter = %g\n", s.BackoffJitter)
	if s.BackoffReset != supervise.DefaultSpec().BackoffReset {
		fmt.Fprintf(b, "backoff_reset = %s\n", dur(s.BackoffReset))
	}
	fmt.Fprintf(b, "max_restarts = %d                ; supervisord has no restart limit\n", s.MaxRestarts)
	if s.RestartWindow != supervise.DefaultSpec().RestartWindow {
		fmt.Fprintf(b, "restart_window = %s\n", dur(s.RestartWindow))
	}
	fmt.Fprintf(b, "stop_signal = %s                ; sent to the whole process group (stopasgroup = true)\n", sigName(s.StopSignal))
	fmt.Fprintf(b, "stop_grace = %s\n", dur(s.StopGrace))
	if s.StopPhase != 0 {
		fmt.Fprintf(b, "stop_phase = %d                  ; supervisord stops its groups one at a time, the last started first\n", s.StopPhase)
	}
	if s.RedirectStderr {
		b.WriteString("redirect_stderr = true\n")
	}
	for _, l := range []struct{ key, path string }{{"stdout_log", s.StdoutLog}, {"stderr_log", s.StderrLog}} {
		if l.path == "" {
			continue
		}
		if err := literalOK(l.path); err != nil {
			return fmt.Errorf("%s: %w", l.key, err)
		}
		note := ""
		if c != nil && strings.HasPrefix(l.path, c.Supervisord.Childlogdir+"/") && strings.Contains(l.path, "---"+c.Supervisord.Identifier+"-") {
			note = "   ; AUTO: supervisord's suffix is random at every start, ours the same for the same process"
		}
		fmt.Fprintf(b, "%s = %s%s\n", l.key, strings.ReplaceAll(l.path, "$", "$$"), note)
	}
	if s.StdoutLog != "" || s.StderrLog != "" {
		fmt.Fprintf(b, "log_max_bytes = %d\n", s.LogMaxBytes)
		fmt.Fprintf(b, "log_backups = %d\n", s.LogBackups)
	}
	return nil
}

func dur(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return d.String()
}

func sigName(sig syscall.Signal) string {
	var names []string
	for n, s := range signalNames {
		if s == sig && n != "IOT" && n != "CLD" && n != "POLL" && n != "STKFLT" && n != "PWR" && n != "RTMIN" && n != "RTMAX" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return fmt.Sprint(int(sig))
	}
	slices.Sort(names)
	return names[0]
}

func envName(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// literalOK says whether v can be written as a native literal value
// (directory, log paths): no newline, no comment start, no quote first, no
// surrounding whitespace.
func literalOK(v string) error {
	switch {
	case strings.ContainsAny(v, "\n\r\x00"):
		return fmt.Errorf("%q: a newline cannot be written in the native format", v)
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("%q: surrounding whitespace cannot be written in the native format", v)
	case strings.HasPrefix(v, `"`) || strings.HasPrefix(v, `'`):
		return fmt.Errorf("%q: a leading quote cannot be written in the native format", v)
	}
	for i := 1; i < len(v); i++ {
		if (v[i] == ';' || v[i] == '#') && (v[i-1] == ' ' || v[i-1] == '\t') {
			return fmt.Errorf("%q: a ';' or '#' after whitespace starts a comment in the native format", v)
		}
	}
	if strings.HasPrefix(v, ";") || strings.HasPrefix(v, "#") {
		return fmt.Errorf("%q: a leading ';' or '#' starts a comment in the native format", v)
	}
	return nil
}

// quoteWord writes a command word or an environment value (extra: more
// characters to escape) in the native syntax: as is when plain, else each
// special character escaped with a backslash and whitespace in single
// quotes, so that no ';' or '#' ever follows whitespace and no line ends in
// a backslash; '$' is doubled (the native ${VAR} expansion).
func quoteWord(w, extra string) (string, error) {
	if strings.ContainsAny(w, "\n\r\x00") {
		return "", fmt.Errorf("%q: a newline cannot be written in the native format", w)
	}
	if w == "" {
		return "''", nil
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == ' ' || c == '\t' || c == '\v' || c == '\f':
			b.WriteByte('\'')
			b.WriteByte(c)
			b.WriteByte('\'')
		case c == '\\' || c == '\'' || c == '"' || c == ';' || c == '#' || strings.IndexByte(extra, c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
