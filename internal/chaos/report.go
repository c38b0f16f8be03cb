package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// print writes the one table.
func (r *result) print(w io.Writer, cfg config) {
	mib := func(kib int) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
	gor := func(n int) string {
		if n < 0 {
			return "n/a"
		}
		return fmt.Sprint(n)
	}
	verdict := func(ok bool) string {
		if ok {
			return "pass"
		}
		return "FAIL"
	}
	fmt.Fprintf(w, "supervisor chaos: %d programs, kill mode %s, storm %s, seed %d, %s\n\n",
		cfg.programs, r.killMode, cfg.storm, cfg.seed, time.Now().Format("2006-01-02"))
	fmt.Fprintf(w, "%-58s %22s %16s %6s\n", "measurement", "value", "target", "")
	row := func(name, value, target, res string) {
		fmt.Fprintf(w, "%-58s %22s %16s %6s\n", name, value, target, res)
	}
	row("programs started (spawns)", fmt.Sprint(r.spawns), "", "")
	row("exits reported in the supervisor's log", fmt.Sprint(r.exits), "", "")
	row("SIGKILLs sent to program processes", fmt.Sprint(r.kills), "", "")
	row("SIGSTOPs sent (each SIGCONTed or SIGKILLed)", fmt.Sprint(r.stops), "", "")
	row("adopted orphans reaped", fmt.Sprint(r.orphansReaped), "", "")
	row("lost exit statuses (killed, or gone with no exit)", fmt.Sprintf("%d + %d", r.lostKilled, r.lostOpen), "0", verdict(r.lostKilled+r.lostOpen == 0))
	row(fmt.Sprintf("zombies of the supervisor older than 1s (%d scans)", r.zombieScans), fmt.Sprint(r.oldZombies), "0", verdict(r.oldZombies == 0))
	row("PSS before / peak / final", fmt.Sprintf("%s / %s / %s", mib(r.before.pss), mib(r.peakPSS), mib(r.after.pss)), "", "")
	row("open fds before / after", fmt.Sprintf("%d / %d", r.before.fds, r.after.fds), "", "")
	row("goroutines before / after (go_goroutines)", fmt.Sprintf("%s / %s", gor(r.before.goroutines), gor(r.after.goroutines)), "", "")
	row("OS threads before / after", fmt.Sprintf("%d / %d", r.before.threads, r.after.threads), "", "")

	fmt.Fprintln(w)
	grow := r.leaseAfter.pss - r.leaseBefore.pss
	dg := r.leaseAfter.goroutines - r.leaseBefore.goroutines
	row(fmt.Sprintf("%d lease requests: PSS growth", cfg.leases), mib(grow), "< 10 MiB", verdict(r.leaseDone && grow < 10*1024))
	row(fmt.Sprintf("%d lease requests: goroutines after - before", cfg.leases), fmt.Sprintf("%+d (%s -> %s)", dg, gor(r.leaseBefore.goroutines), gor(r.leaseAfter.goroutines)), "within 10",
		verdict(r.leaseDone && r.leaseBefore.goroutines >= 0 && r.leaseAfter.goroutines >= 0 && dg <= 10 && dg >= -10))
	capFds := r.connFdsBefore + cfg.connCap + 100
	row(fmt.Sprintf("%d idle connections (%d held): supervisor fds", cfg.conns, r.connsOpened), fmt.Sprintf("%d (%d before)", r.connFdsDuring, r.connFdsBefore),
		fmt.Sprintf("<= %d", capFds), verdict(r.connFdsDuring <= capFds))
	row("  their PSS before / peak / 2s after closing", fmt.Sprintf("%s / %s / %s", mib(r.connPSSBefore), mib(r.connPSSPeak), mib(r.connPSSAfter)), "", "")
	row("  fds 2s after closing them", fmt.Sprint(r.connFdsAfter), "", "")
	row(fmt.Sprintf("%d idle connections: ctl status answers", cfg.conns), fmt.Sprintf("%v in %s", r.statusAnswered, r.statusLatency.Round(time.Millisecond)), "yes", verdict(r.statusAnswered))
	row(fmt.Sprintf("%d idle connections: programs started", cfg.conns), fmt.Sprintf("%d of %d", r.lateStarted, cfg.late), "all", verdict(r.lateStarted == cfg.late))
	ratio := 0.0
	if r.rateAlone > 0 {
		ratio = r.rateFlood / r.rateAlone
	}
	row("frame flood: another program's restarts/s, flood / alone", fmt.Sprintf("%.0f / %.0f = %.2f", r.rateFlood, r.rateAlone, ratio), "> 0.5", verdict(r.beatRan && ratio > 0.5))
	row("garbage on the pipe: runs of that program (killed, restarted)", fmt.Sprint(r.garbageRuns), "", "")
	dFlood := r.floodAfter - r.floodBefore
	row(fmt.Sprintf("%d x %s output floods: PSS before / peak / after 5s", cfg.floods, size(cfg.floodBytes)), fmt.Sprintf("%s / %s / %s", mib(r.floodBefore), mib(r.floodPeak), mib(r.floodAfter)), "", "")
	row("  PSS after - before", mib(dFlood), "within 5 MiB", verdict(r.floodDone == cfg.floods && dFlood < 5*1024 && dFlood > -5*1024))

	fmt.Fprintln(w)
	row("supervisor SIGKILLed: its programs alive 2s later", fmt.Sprint(r.survivors), "0", verdict(r.survivors == 0))
	row("  processes it left (setsid grandchildren)", fmt.Sprint(r.leftovers), "", "")
	row("  next start: stale cgroups warned about", fmt.Sprint(r.nextStaleCgroups), "", "")
	row("  next start: stale control socket removed", fmt.Sprint(r.nextStaleSocket), "yes", verdict(r.nextStaleSocket))
	if len(r.survivorList) > 0 {
		fmt.Fprintf(w, "\nsurvivors: %v\n", r.survivorList)
	}
	for _, z := range r.zombieList {
		fmt.Fprintf(w, "old zombie: %s\n", z)
	}
	if r.pidReused > 0 {
		fmt.Fprintf(w, "\nnote: %d pids were reused during the run (runs are counted per pid)\n", r.pidReused)
	}
	if r.before.goroutines < 0 {
		fmt.Fprintln(w, "\nnote: go_goroutines could not be read from /metrics")
	}
	if len(r.problems) > 0 {
		fmt.Fprintln(w, "\nwarnings and errors the supervisor logged (count):")
		keys := make([]string, 0, len(r.problems))
		for k := range r.problems {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %6d  %s\n", r.problems[k], k)
		}
	}
}

// size says n bytes in MiB, or KiB below one MiB.
func size(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
