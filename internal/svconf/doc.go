// Package svconf reads a supervisord configuration file, as supervisord 4.2
// does, and translates it into the supervisor's own model: a
// [supervise.Group] of [supervise.Spec]s, with what supervisord knows besides
// (process and group names, priorities, log files, the [supervisord] and
// server sections) alongside. Convert writes the equivalent native
// configuration. docs/supervisord.md is the user's page; this is the
// contract.
//
// # Syntax
//
// Files are read as Python's configparser reads them for supervisord
// (inline_comment_prefixes ';' and '#', strict off): a line whose first
// non-blank character is ';' or '#' is a comment; elsewhere ';' or '#' starts
// a comment when it begins the line or follows whitespace (configparser looks
// at the occurrences of both in step and stops at the first step where one
// qualifies). "key = value" and "key: value" (split at the first '=' or ':')
// set keys, lower-cased; section names are kept as written. A line indented
// deeper than its key's line continues the value (joined with a newline); a
// blank line inside such a value is kept. A section or key given twice is
// merged, the later value winning, with a warning (supervisord does the
// same, silently). [DEFAULT]'s keys apply to every section that lacks them.
// "\r\n" and a lone "\r" end lines; a NUL byte or invalid UTF-8 is an error.
//
// # Expansions
//
// Values are expanded as Python's "value % names" (expand): %(NAME)s with
// the whole conversion spec (%(process_num)02d, %(ENV_HOME)s), and %% for a
// literal %. Names: ENV_X (the environment through Options.Env, then
// [supervisord]'s environment, then, for the keys read per process, the
// program's environment), here (the directory of the file the value is in),
// and in [program:x] program_name, group_name, host_node_name; the keys read
// per process (environment, directory, command, process_name and the log
// keys) also have process_num and numprocs. An unknown name, a bare %, or a
// type that does not fit (%(ENV_X)d) is an error at the value's line.
//
// # Includes
//
// [include] files is a whitespace-separated list of globs, relative to the
// main file's directory; each match is read in sorted order (a wildcard does
// not match a leading '.'). A pattern that matches nothing, or a file that
// cannot be read, is a warning (supervisord skips it). An [include] in an
// included file is not followed (supervisord does not either): a warning.
// At most 1000 files are read; each is read under config.ReadFile's rules.
//
// # Processes, groups and order
//
// Each [program:x] gives numprocs processes (numprocs_start ..), named by
// process_name (default %(program_name)s; with numprocs > 1 it must contain
// %(process_num)). A program not named in a [group:x] forms a group of its
// own, named after it; a [group:x] with programs = a, b takes their
// processes. A process's Spec.Name is GROUP:NAME, or NAME when the group and
// the process have the same name (supervisord's namespec); both parts must
// pass supervise's name rule. Group.Programs lists the groups by (priority,
// name), and within a group the processes by priority, stable over the order
// of programs = and, within a program, by name. Supervise starts them in that
// order and stops them in reverse: this is supervisord's stop order exactly
// (it stops group after group, highest priority first, and within a group
// the highest priority first). supervisord spawns all of them in one pass in
// that order too, except that within a [group:x] it spawns in the order of
// programs = rather than by priority.
//
// # Programs
//
// Each process starts from supervise.DefaultSpec, then supervisord's
// defaults: autorestart (unexpected) is Restart (true always, false never,
// unexpected on-failure); startsecs (1) MinUptime; startretries (3)
// StartRetries; StartBackoff is 1s (supervisord's retry delays while
// starting: 1s, 2s, 3s...), MaxRestarts 0 and BackoffJitter 0; exitcodes (0)
// SuccessCodes; stopsignal (TERM) StopSignal; stopwaitsecs (10) StopGrace;
// user (looked up now: an unknown user is an error) User; umask
// Limits.Umask; directory Dir; command Command, split as Python's shlex.split
// (the first word is looked up in supervisor's PATH when it has no '/';
// a PATH set by environment is not used for that, a warning). Env is
// SUPERVISOR_ENABLED=1, SUPERVISOR_SERVER_URL (the program's serverurl, else
// unix://FILE of [unix_http_server], else http://HOST:PORT of
// [inet_http_server], HOST localhost when it listens everywhere),
// SUPERVISOR_PROCESS_NAME, SUPERVISOR_GROUP_NAME, then [supervisord]'s
// environment, then the program's: a later setting of a variable replaces an
// earlier one in its place, as supervisord's dict update does.
//
// Log files: stdout_logfile and stderr_logfile are AUTO by default,
// CHILDLOGDIR/SPECNAME-stdout---IDENTIFIER.log (one fixed name per process
// and stream, where supervisord adds a random suffix); NONE or OFF is none;
// /dev/stdout, /dev/stderr and /dev/fd/N are none (with a warning: the
// console log carries every program's output already); anything else is a
// path whose directory must exist, made absolute. redirect_stderr sends
// stderr to stdout's file (StderrLog = StdoutLog), and a stderr_logfile
// then set is unused (a warning). LogMaxBytes and LogBackups come from the
// stdout file's keys (50MB, 10), or the stderr file's when only it exists;
// when both exist and differ, a warning.
//
// stopasgroup and killasgroup: supervise always signals the whole process
// group; an explicit false is a warning (it changes the meaning),
// stopasgroup = true with killasgroup = false an error (as in supervisord).
//
// # Warnings and errors
//
// What is read but not done is a warning, never a refusal: [eventlistener:x],
// [fcgi-program:x], [ctlplugin:x], unknown sections, an [rpcinterface:x]
// other than the standard one, keys supervisord does not know, and keys set
// to something supervisor does not do (*_events_enabled, *_capture_maxbytes,
// *_syslog, [supervisord] user, strip_ansi, minprocs, minfds, and umask and
// directory, which supervisord applies only when it daemonizes). Every
// warning is a *config.Error naming its file and line (a missing
// [supervisord] section, which supervisord refuses and this package
// tolerates, is reported at line 1 of the main file). What supervisord refuses (a bad integer, boolean, signal,
// size or octal value, an unknown user, a missing command, numprocs > 1
// without %(process_num), an unknown program in a [group:x], an unknown
// expansion name, a syntax error) is an error: every one is reported, as a
// *config.Error, or a *config.Errors for several, in file and line order.
// [supervisorctl] is supervisorctl's alone: a value there it would refuse is
// a warning.
// So are a few things supervisord takes but fails on later (a command that
// does not split, a name outside supervise's rule) and numprocs over 1000.
//
// # Invariants
//
// Parse reads the files [include] names, stats the directories of log files,
// childlogdir and directory as supervisord checks them, looks users and
// groups up, and looks a command up in the PATH its program's environment sets
// (supervisord's rule; a command found there becomes its full path); it runs
// nothing. It never panics, whatever the input (FuzzParse).
// On success Config.Group passes Group.Validate and Programs matches it entry
// for entry.
package svconf
