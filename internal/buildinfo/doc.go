// Package buildinfo says which build of the supervisor is running: the version
// the Makefile stamps at link time, and the commit Go recorded at build time.
//
// Sources, and what each one is worth:
//
//   - Version: set by `make build` with -ldflags "-X
//     github.com/supervisor/supervisor/internal/buildinfo.Version=..." to the
//     output of `git describe --always --dirty` (a tag, or a short commit, with
//     "-dirty" when the tree had uncommitted changes). A plain `go build` or
//     `go test` leaves it "devel".
//   - Commit and Modified: vcs.revision and vcs.modified from
//     runtime/debug.ReadBuildInfo, which `go build` records on its own when it
//     builds inside a git checkout (or worktree) with git installed
//     (-buildvcs=auto). They are absent for a build outside a checkout, with
//     -buildvcs=false, in test binaries, and in a git worktree (its .git is a
//     file, which Go does not take for a checkout). The Makefile therefore also
//     stamps Commit (`git rev-parse HEAD`); Modified then comes from Version's
//     "-dirty". What Go recorded wins over what was stamped.
//
// Nothing here reads the environment or the file system: the answer is fixed
// when the binary is linked.
package buildinfo
