// Package upgrade is the state an old image of the supervisor hands to the
// new one across an in-place upgrade (supervisor ctl upgrade): its format,
// versioned (docs/upgrade.md), and its transport, a sealed memfd the new image
// inherits and names in its environment (EnvVar=fd:N).
//
// Contracts:
//   - Write seals the memfd it returns and leaves it close-on-exec; the caller
//     clears that (Inherit) just before the exec, and closes it if the exec
//     fails.
//   - FromEnv reads and closes the memfd, and unsets EnvVar, so no child of the
//     new image inherits either; call it before anything copies the
//     environment for a child.
//   - Every time in State is an age or a remaining duration on
//     CLOCK_MONOTONIC at the freeze (Mono), never a wall-clock time or Go's
//     monotonic reading, which counts from the process's own start.
//   - Read accepts every version in Reads and refuses others by name; unknown
//     fields are ignored, so a newer writer can add fields within a version.
//
// The package holds no process, no fd beyond the memfd, and starts no
// goroutine.
package upgrade
