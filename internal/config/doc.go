// Package config parses the supervisor's native configuration file into a
// [supervise.Group].
//
// # Example
//
//	# demo.conf
//	[supervisor]
//	strategy = one_for_one
//
//	[defaults]
//	stop_grace = 5s
//
//	[program:web]
//	command = /usr/bin/python3 -m http.server "8000"
//	directory = /srv/www
//	environment = PYTHONUNBUFFERED=1, GREETING="hello, world"
//	restart = always
//
//	[program:worker]
//	command = /usr/local/bin/worker --queue jobs
//	success_codes = 0, 2
//	stop_signal = INT
//
// # Syntax
//
// The file is an INI dialect close to supervisord's. It is read line by line; a
// line ends at "\n" (a preceding "\r" is dropped). A UTF-8 byte order mark at the
// start is ignored.
//
// Comments follow supervisord's rule (Python's configparser with
// inline_comment_prefixes ';' and '#'): a ';' or '#' that begins a line or follows
// whitespace (such as a space or a tab) starts a comment, which runs to the end of the
// line. Elsewhere they are ordinary characters:
//
//	strategy = one_for_all   ; or rest_for_one    value "one_for_all"
//	command = /bin/web --port 8000 # the web      argv [/bin/web --port 8000]
//	command = sh -c "a;b"                         argv [sh -c a;b]
//	directory = /srv/a#b                          "/srv/a#b"
//
// The rule holds on every line, header or setting, and quotes do not protect:
// in command = sh -c "a ; b" the comment begins at ';' and leaves an
// unterminated quote (an error, with a hint). In command and environment, a
// backslash outside quotes keeps the character: echo \; is argv [echo ;].
//
// With the comment cut, leading and trailing whitespace is ignored, and each line
// is one of:
//
//   - blank (which includes a line holding only a comment);
//   - a section header: "[NAME]" (whitespace inside the brackets is ignored);
//   - a setting: "key = value". The key is everything before the first '=', the
//     value everything after it, both with surrounding whitespace removed. Keys are
//     lower case and exact. Values are literal except where a key's description
//     below says otherwise (command, environment). There are no continuation lines.
//
// Anything else is an error, as is a line containing a NUL byte. Nothing is ever
// silently ignored: unknown sections, unknown keys, a key set twice in one
// section, a key before the first section and an empty value (except for
// directory and environment) are all errors.
//
// # Sections
//
// [supervisor] is optional and may appear anywhere, at most once. Its keys are
//
//	strategy    one_for_one (default), one_for_all or rest_for_one: what happens to
//	            the other programs when one ends (see supervise.Strategy)
//	kill_mode   auto (default), cgroup or group: how a program's whole process
//	            tree is stopped. cgroup: each program runs in its own cgroup v2,
//	            and stopping ends with cgroup.kill, which reaches descendants that
//	            called setsid or double-forked too; the supervisor refuses to start
//	            where cgroups cannot be used. group: the program's process group
//	            only; descendants that left it are reported after a stop, not
//	            killed. auto: cgroup where the host allows it, else group; the
//	            choice, and why, is logged once at start (see supervise.KillMode)
//
// [defaults] is optional, at most once, and must come before the first
// [program:NAME]. It takes every program key except command; each sets the
// default for all programs, which may override it. A program that sets
// environment or success_codes replaces the default list; the lists are not
// merged.
//
// [program:NAME] defines one program; there must be at least one. NAME must be 1-64
// letters, digits, '-', '_' or '.', or GROUP:NAME, two such names (supervisord's
// name of a process in a group, as supervisor convert writes it), and unique in
// the file. Programs start in file
// order and stop in reverse order. Each program starts from supervise.DefaultSpec,
// then [defaults], then its own keys.
//
// # Program keys
//
//	command          required, [defaults] excluded. The argv, split as a POSIX shell
//	                 would but with no expansion other than ${VAR} (below; no
//	                 $VAR, ~, globs, ...):
//	                 unquoted whitespace separates arguments; '...' is taken
//	                 literally; inside "..." a backslash escapes \ " $ and ` and is
//	                 otherwise kept; outside quotes a backslash escapes any
//	                 character. An unterminated quote or a trailing backslash is an
//	                 error. For spawner = reexec and kind = goroutine, the first
//	                 word names the built-in worker.
//	kind             goroutine, reexec or exec: how isolated the worker is (the
//	                 same built-in worker runs as any of them; see package worker).
//	                 goroutine runs the built-in worker named by the first word of
//	                 command (one of worker.FuncNames: service) inside the
//	                 supervisor process: no process, no pid; it implies protocol =
//	                 true (false is an error), and directory and environment are
//	                 errors for it. A panic in it is a crash (status 2, value and
//	                 stack logged); one that ignores its stop for stop_grace is
//	                 reported as leaked and the program counts as stopped. reexec
//	                 is spawner = reexec; exec is spawner = exec (or forkexec, if
//	                 spawner says so). Unset: the spawner decides. A spawner that
//	                 contradicts kind is an error naming both.
//	spawner          exec (default), forkexec or reexec: how the process is
//	                 started (see kind)
//	directory        working directory, taken literally (no quote processing; a
//	                 value starting with a quote is rejected). Empty means the
//	                 supervisor's own.
//	environment      extra variables, added to the supervisor's environment:
//	                 comma-separated KEY=VALUE entries, for example
//	                 A=1, B="two words", C='a,b'. KEY is letters, digits and '_'
//	                 and does not start with a digit; a KEY may appear once. VALUE
//	                 runs to the next unquoted comma; quotes and backslashes work as
//	                 in command, whitespace around an entry is dropped and
//	                 whitespace inside a VALUE is kept. VALUE may be empty (A=).
//	                 An empty list means no extra variables (useful to clear a
//	                 default).
//	autostart        boolean (default true): start with the group
//	essential        boolean (default false): once this program has ended for
//	                 good (exited and not restarted by its policy, or fatal), the
//	                 supervisor stops every other program (in reverse order, as
//	                 for SIGTERM) and exits with this program's status: its exit
//	                 code, 128+signal if a signal killed it, 127/126 if it could
//	                 not be started, at least 1 if it turned fatal
//	restart          always, on-failure (default) or never
//	success_codes    comma-separated exit codes 0-255, each at most once (default 0)
//	min_uptime       duration (default 1s): a run shorter than this is a failed start
//	start_retries    integer >= 0 (default 3): failed starts in a row before the
//	                 program turns fatal
//	start_backoff    duration (default 0: off): supervisord's start schedule
//	                 instead of the backoff keys below. A failed start (an exit
//	                 before min_uptime) is retried whatever restart says, the nth
//	                 failure in a row after n times this delay, until
//	                 start_retries; a run that reached running and exits is
//	                 restarted (as restart says) at once. What supervisord
//	                 configurations get (1s; package svconf)
//	stop_phase       integer >= 0 (default 0): a shutdown, or a stop of several
//	                 programs, stops programs of a higher phase first, a phase at
//	                 a time, without ordering starts (supervisord's groups)
//	keep_user_env    boolean (default false): with user, leave HOME, USER and
//	                 LOGNAME as the supervisor's environment has them
//	                 (supervisord's way) instead of the user's
//	redirect_stderr  boolean (default false): the program's stderr is its
//	                 stdout pipe; its lines are stdout's, in the order written
//	backoff_initial  duration (default 100ms): delay before the first restart
//	backoff_max      duration (default 30s): cap on the doubling delay; must not be
//	                 less than backoff_initial
//	backoff_jitter   number 0..1 (default 0.2): the delay varies by up to this
//	                 fraction
//	backoff_reset    duration (default 10s): a run this long resets the backoff
//	max_restarts     integer >= 0 (default 5): restarts allowed within
//	                 restart_window; 0 means no limit
//	restart_window   duration (default 10s); must be positive unless max_restarts
//	                 is 0
//	stop_signal      signal sent to the process group to stop it (default TERM):
//	                 a name with or without "SIG", in any case (TERM, SIGTERM,
//	                 term), or a number 1-64. Names: HUP INT QUIT ILL TRAP ABRT IOT
//	                 BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM CHLD CONT STOP TSTP
//	                 TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO SYS.
//	stop_grace       duration (default 10s): wait this long, then SIGKILL
//	protocol         boolean (default false): the program speaks the pipe protocol
//	                 of internal/ipc on fds 3 and 4. It counts as running once it
//	                 said Ready, is asked to stop over the pipe before any signal
//	                 (the stop signal follows at half of stop_grace), and gets
//	                 SUPERVISOR_PROGRAM=NAME in its environment
//	start_timeout    duration (default 10s): a protocol program that has not said
//	                 Ready by then is killed; the start counts as failed
//	heartbeat_timeout duration (default 0: not watched; needs protocol): a
//	                 protocol program with no heartbeat for this long is stopped
//	                 and restarted per its policy, as a failure
//
// Identity, limits, environment file and instances (ident.go, envfile.go):
//
//	user             a user name or uid, looked up in the user database when
//	                 the file is parsed (an unknown one is an error at its line):
//	                 supervise.Spec.User, with the supplementary groups of the
//	                 group database and the home directory. Whether this process
//	                 may switch to it is supervise.CheckUser's to say (New,
//	                 Reload and CheckCommands ask), not Parse's
//	group            a group name or gid (needs user): the primary group
//	                 instead of the user's, added to the supplementary groups
//	umask            octal, 000-777
//	rlimit_nofile, rlimit_core, rlimit_nproc, rlimit_memlock
//	                 N, unlimited (or infinity), or SOFT:HARD
//	nice             -20..19
//	oom_score_adj    -1000..1000
//	env_file         a file of KEY=VALUE lines (ParseEnvFile: systemd's
//	                 EnvironmentFile= syntax), read when the file is parsed
//	                 under the limits of a config file (ReadFile's); a leading
//	                 '-' makes a missing file no error. Its variables come
//	                 before environment's, which win
//	instances        1..1000, not in [defaults]: the program becomes N programs
//	                 NAME-0 .. NAME-(N-1), each with SUPERVISOR_INSTANCE=i in its
//	                 environment and ${INSTANCE} = i; after and requires naming
//	                 NAME name them all
//
// ${VAR} expansion (Expand) applies to the values of ExpandKeys (command,
// directory, environment, env_file, pid_file, ready_probe, live_probe, and the
// log paths when they exist), before quotes are read: ${NAME} from the
// supervisor's environment (INSTANCE: the instance number, in a program with
// instances), ${NAME:-WORD}, and $$ for a literal $. An undefined NAME is an
// error at the key's line; any other $ is kept. A value is expanded when its
// line is read (with INSTANCE 0, for the early checks) and again when its
// program's section ends, per instance; the keys endSection resolves (user,
// group, env_file, instances and the expanded ones) are kept as written per
// section for that.
//
// A boolean is true, yes, on or 1, or false, no, off or 0, in any case. A duration
// is a Go duration (time.ParseDuration: "500ms", "1m30s", "0") or a whole number of
// seconds ("90", as in supervisord); it may not be negative. Enumerated values
// (strategy, kill_mode, kind, spawner, restart) are lower case and exact.
//
// # Errors
//
// Parse and Load report every problem in the file, not only the first. Each is
// an *[Error], which names the file, the line, the section and the key, and
// prints as
//
//	demo.conf:12: [program:web] restart: "sometimes" is not one of always, on-failure, never
//
// One problem is returned as that *Error; several as an *[Errors]: the first
// 50 (maxErrors) in line order, one a line, then "and N more problem(s)"; its
// Unwrap lets errors.As find the first *Error. The keys under a refused section
// header are skipped (they are not each "outside any section"); a program whose
// section or [defaults] had a problem is not validated as a whole, and the
// group-level rules (Group.Validate) run only on a file with no other problem,
// so consequences are not reported as problems of their own. A supervisord key
// with an equivalent here (startsecs, autorestart, ...) is named in the error.
//
// A program missing command is reported at its section header. After a program
// section is read, the program is checked with supervise's Validate; a failure is
// reported at the line of the key it names (in the program's section, else in
// [defaults], else at the section header) and wraps the Validate error, so
// errors.Is(err, supervise.ErrInvalidSpec) holds. A file with no programs is an
// error with Line 0.
//
// # Invariants
//
// Parsing runs nothing and reads only what the file names: the supervisor's
// environment (for ${VAR}), the user and group databases (for user and group)
// and env_file files (each under ReadFile's rules). A file that uses none of
// these is parsed without any I/O. Load only adds reading one file (ReadFile: a
// regular file or a pipe, at most maxFileSize bytes; never a named pipe that is
// not our stdin, a device or a socket, which could block the read forever or
// feed it without end). Parse never panics, whatever the input (FuzzParse
// checks this). On success the returned
// Group has at least one program and passes Group.Validate; on failure it is the
// zero Group.
package config
