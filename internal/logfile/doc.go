// Package logfile writes log files that rotate by size and can be reopened: a
// supervised program's stdout_log and stderr_log, and the supervisor's own
// --log-file.
//
// # Contracts
//
//   - A File owns its fd. It is opened O_WRONLY|O_APPEND|O_CREATE|O_CLOEXEC with
//     mode 0640 (then the supervisor's umask): program output often carries
//     what should not be world-readable (tokens in a URL, a stack trace with
//     the environment), and 0640 lets a log group read it (Debian's adm) as
//     syslog's files do. An existing file keeps its mode and is appended to.
//   - Every method is safe for concurrent use: one mutex per File serialises
//     the writers (the supervisor's output mux goroutine, goroutine workers'
//     stdout and stderr), rotation and Reopen. Nothing here starts a goroutine.
//   - Line buffers whole lines; Flush writes them in one write(2). Rotation
//     happens only between lines, so a line is never split across two files
//     and never lost at a rotation; a line longer than MaxBytes goes whole into
//     a file of its own. Memory is bounded: Line flushes by itself once
//     flushAt bytes are buffered.
//   - Rotation is supervisord's: PATH.(N-1) becomes PATH.N (replacing it),
//     ..., PATH becomes PATH.1, and a new PATH is opened, so at most Backups
//     rotated files exist besides PATH. With Backups 0, PATH is truncated
//     instead. MaxBytes 0 never rotates (leave it to logrotate and Reopen).
//     The size counted is the file's at open plus what this File wrote: what
//     others append to the same file is not seen until the next open.
//   - Reopen closes the fd and opens PATH again (creating it): after an
//     external logrotate moved the file, lines go to the new file at PATH.
//   - A write, rotation or reopen that fails is logged once, with the path and
//     the error, and not again until one succeeds (then "writable again" is
//     logged): a full disk costs one log line, not one per line of output.
//     What could not be written is dropped; nothing blocks, nothing is retried
//     later, and the program goes on.
package logfile
