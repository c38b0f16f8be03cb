// Package memtrim gives back the pages of the supervisor's own executable
// that start-up touched and nothing uses after it.
//
// A Go binary's text and read-only data are mapped from its file. Start-up
// (package inits, the config parser, flag handling, the first spawns) faults
// pages of them in, and the kernel maps 64 KiB around each fault
// (fault_around_bytes), so most of a 14 MB binary ends up resident and counted
// in the supervisor's PSS, though little of it runs again. Executable asks the
// kernel (madvise MADV_DONTNEED) to unmap the file-backed, read-only mappings
// of the running executable; the page cache keeps their contents, and what
// runs afterwards faults back in (a minor fault from the page cache, with its
// fault-around). What it saves is measured in docs/benchmarks.md.
//
// Contracts:
//   - Only mappings of /proc/self/exe's file, read-only (r-xp, r--p), with no
//     anonymous (copy-on-write) pages are touched: their contents are exactly
//     the file's, so dropping them loses nothing. A mapping that was written
//     (a PIE binary's relocated RELRO) has anonymous pages and is left alone;
//     so is everything when the executable was deleted or replaced (its path
//     no longer matches).
//   - It is safe while other threads run the code being unmapped: their next
//     instruction fetch faults the page back in.
//   - It changes no state of the program; calling it again is harmless.
package memtrim
