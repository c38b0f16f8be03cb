package demo

import (
	"fmt"
	"os"
)

// orphan: a child forks a grandchild and exits. The grandchild is re-parented to
// the nearest subreaper among its ancestors (PID 1 if there is none): shown with
// a host process between the supervisor and the child, whose subreaper bit is off
// (the supervisor adopts the orphan) and then on (the host does).
func orphan(d *demo) error {
	d.say("demo orphan: when a process exits, its children are re-parented to the nearest")
	d.say("ancestor that set PR_SET_CHILD_SUBREAPER, or to PID 1 if none did. The supervisor")
	d.say("(pid %d) is a subreaper. Between it and the child sits a host process.", d.self)
	for _, on := range []bool{false, true} {
		if err := d.orphanCase(on); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) orphanCase(hostSubreaper bool) error {
	mode := "off"
	if hostSubreaper {
		mode = "on"
	}
	d.beginStep(fmt.Sprintf("host with the subreaper bit %s: a child forks a grandchild and exits", mode))
	cmdR, cmdW, err := d.pipe() // host's fd 3; EOF ends it
	if err != nil {
		return err
	}
	holdR, holdW, err := d.pipe() // host's fd 4, the grandchild's stdin; EOF ends the grandchild
	if err != nil {
		return err
	}
	host, err := d.start([]*os.File{cmdR, holdR}, "host", "--subreaper", mode)
	if err != nil {
		return err
	}
	d.roles[host.pid] = "host, subreaper " + mode
	bit, err := host.out.next(fmt.Sprintf("host %d subreaper ", host.pid))
	if err != nil {
		return err
	}
	child, err := host.out.nextPid("child ")
	if err != nil {
		return err
	}
	grand, err := host.out.nextPid("grandchild ")
	if err != nil {
		return err
	}
	d.roles[grand] = "grandchild"
	// The host reaps the child; by then the grandchild has been re-parented (the
	// kernel does it before the child becomes a zombie).
	status, err := host.out.next(fmt.Sprintf("reaped %d ", child))
	if err != nil {
		return err
	}
	d.say("  The host (pid %d) read back its subreaper bit: %s. Its child (pid %d) forked pid %d", host.pid, bit, child, grand)
	d.say("  and exited; the host reaped it:")
	d.say("  fact pid=%d reaped-by=%d status=%q", child, host.pid, status)
	n, err := d.waitState(grand, "S")
	if err != nil {
		return err
	}
	d.printFact(n)
	adopter, err := d.fact(n.PPid)
	if err != nil {
		return err
	}
	d.say("  The orphan pid %d was adopted by pid %d (%s).", grand, adopter.Pid, adopter.Command())
	want := d.self
	if hostSubreaper {
		want = host.pid
	}
	if n.PPid != want {
		return d.fail("orphan %d was adopted by %d, want %d", grand, n.PPid, want)
	}
	if hostSubreaper {
		d.say("  The host is the nearest subreaper, so it adopted the orphan; the supervisor never sees it.")
	} else {
		d.say("  The host is no subreaper, so the orphan skipped it and went to the nearest one: the supervisor.")
		d.say("  (Had the supervisor not been a subreaper either, PID 1 would have adopted it.)")
		listed := false
		for _, o := range d.r.Adopted() {
			if o.Pid == grand && o.StartTicks == n.StartTicks {
				listed = true
			}
		}
		if !listed {
			return d.fail("the supervisor's reaper does not list orphan %d as adopted", grand)
		}
		d.say("  The supervisor's reaper lists it: Reaper.Adopted() has pid %d (and logged \"adopted orphan\").", grand)
	}
	if err := d.tree(); err != nil {
		return err
	}
	if err := d.endStep(); err != nil {
		return err
	}

	d.beginStep(fmt.Sprintf("host with the subreaper bit %s: the orphan exits and is reaped", mode))
	holdW.Close() // the grandchild reads EOF and exits
	if hostSubreaper {
		status, err := host.out.next(fmt.Sprintf("reaped %d ", grand))
		if err != nil {
			return err
		}
		d.say("  fact pid=%d reaped-by=%d status=%q", grand, host.pid, status)
	} else {
		e, err := d.waitReaped(grand)
		if err != nil {
			return err
		}
		d.say("  fact pid=%d reaped-by=%d status=%q", grand, d.self, e.String())
		for _, o := range d.r.Adopted() {
			if o.Pid == grand {
				return d.fail("the reaper still lists orphan %d after reaping it", grand)
			}
		}
	}
	if err := d.factGone(grand, n.StartTicks); err != nil {
		return err
	}
	d.say("  Its adopter reaped it: no zombie is left.")
	if err := d.tree(); err != nil {
		return err
	}
	cmdW.Close() // the host exits
	if err := d.waitExited(host); err != nil {
		return err
	}
	return d.endStep()
}
