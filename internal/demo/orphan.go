package demo

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// orphan: a child forks a grandchild and exits. The grandchild is re-parented to
// the nearest subreaper among its ancestors (PID 1 if there is none): shown with
// a host process between the supervisor and the child, whose subreaper bit is off
// (the supervisor adopts the orphan) and then on (the host does); then with the
// supervisor's own bit off as well (PID 1, or a subreaper further up, does).
func orphan(d *demo) error {
	d.say("demo orphan: when a process exits, its children are re-parented to the nearest")
	d.say("ancestor that set PR_SET_CHILD_SUBREAPER, or to PID 1 if none did. The supervisor")
	d.say("(pid %d) is a subreaper. Between it and the child sits a host process.", d.self)
	for _, on := range []bool{false, true} {
		if err := d.orphanCase(on); err != nil {
			return err
		}
	}
	return d.noSubreaperCase()
}

// noSubreaperCase clears the supervisor's own subreaper bit for one orphan:
// nobody between the orphan and the top of the tree claims it, so the kernel
// gives it to PID 1 (of our PID namespace), or to a subreaper further up than
// the supervisor (a container runtime's shim, a systemd user manager), which
// the demo reads from /proc and names.
func (d *demo) noSubreaperCase() error {
	d.beginStep("host and supervisor with the subreaper bit off: the orphan goes past them both")
	if d.self == 1 {
		d.say("  The supervisor is PID 1 here: every orphan of the namespace is its own, bit or no bit. Skipped.")
		return d.endStep()
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear the subreaper bit: %w", err)
	}
	restored := false
	restore := func() error {
		if restored {
			return nil
		}
		restored = true
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set the subreaper bit again: %w", err)
		}
		return nil
	}
	defer restore()
	o, err := d.startOrphan("off")
	if err != nil {
		return err
	}
	host, child, grand, status, cmdW, holdW := o.host, o.child, o.grand, o.status, o.cmdW, o.holdW
	if err := restore(); err != nil {
		return err
	}
	d.say("  The supervisor cleared its own subreaper bit; the host's child (pid %d) forked pid %d and exited:", child, grand)
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
	if n.PPid == d.self || n.PPid == host.pid {
		return d.fail("orphan %d was adopted by %d, but neither the host nor the supervisor was a subreaper", grand, n.PPid)
	}
	if n.PPid == 1 {
		d.say("  The orphan pid %d went to PID 1 (%s): no subreaper was left between them.", grand, adopter.Command())
	} else {
		d.say("  The orphan pid %d went to pid %d (%s), a subreaper above the supervisor: the", grand, adopter.Pid, adopter.Command())
		d.say("  nearest one left (without it, PID 1 would have taken it). The supervisor cannot reap it now.")
	}
	if err := d.tree(); err != nil {
		return err
	}
	if err := d.endStep(); err != nil {
		return err
	}

	d.beginStep("host and supervisor with the subreaper bit off: the orphan exits; its adopter reaps it")
	holdW.Close() // the grandchild reads EOF and exits; its adopter reaps it
	gone, err := d.waitGone(grand, n.StartTicks)
	if err != nil {
		return err
	}
	if gone {
		d.say("  It exited and its adopter reaped it.")
	} else {
		d.say("  It exited, and its adopter (pid %d) has not reaped it yet: a zombie that is not ours to reap.", adopter.Pid)
	}
	cmdW.Close()
	if err := d.waitExited(host); err != nil {
		return err
	}
	return d.endStep()
}

// orphanRun is a host process whose child forked a grandchild and exited.
type orphanRun struct {
	host         *helper
	bit          string   // the host's subreaper bit as it read it back
	child, grand int      // the child (reaped by the host) and the orphan
	status       string   // the child's exit status, as the host reaped it
	cmdW, holdW  *os.File // closing cmdW ends the host, holdW the grandchild
}

// startOrphan starts a host with its subreaper bit set to mode ("on"/"off")
// and waits until its child has forked the grandchild and been reaped; by then
// the kernel has re-parented the grandchild (it does so before the child
// becomes a zombie).
func (d *demo) startOrphan(mode string) (*orphanRun, error) {
	cmdR, cmdW, err := d.pipe() // host's fd 3; EOF ends it
	if err != nil {
		return nil, err
	}
	holdR, holdW, err := d.pipe() // host's fd 4, the grandchild's stdin; EOF ends the grandchild
	if err != nil {
		return nil, err
	}
	o := &orphanRun{cmdW: cmdW, holdW: holdW}
	if o.host, err = d.start([]*os.File{cmdR, holdR}, "host", "--subreaper", mode); err != nil {
		return nil, err
	}
	d.roles[o.host.pid] = "host, subreaper " + mode
	if o.bit, err = o.host.out.next(fmt.Sprintf("host %d subreaper ", o.host.pid)); err != nil {
		return nil, err
	}
	if o.child, err = o.host.out.nextPid("child "); err != nil {
		return nil, err
	}
	if o.grand, err = o.host.out.nextPid("grandchild "); err != nil {
		return nil, err
	}
	d.roles[o.grand] = "grandchild"
	if o.status, err = o.host.out.next(fmt.Sprintf("reaped %d ", o.child)); err != nil {
		return nil, err
	}
	return o, nil
}

func (d *demo) orphanCase(hostSubreaper bool) error {
	mode := "off"
	if hostSubreaper {
		mode = "on"
	}
	d.beginStep(fmt.Sprintf("host with the subreaper bit %s: a child forks a grandchild and exits", mode))
	o, err := d.startOrphan(mode)
	if err != nil {
		return err
	}
	host, bit, child, grand, status, cmdW, holdW := o.host, o.bit, o.child, o.grand, o.status, o.cmdW, o.holdW
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
		d.say("  (Had the supervisor not been a subreaper either, PID 1 would have adopted it: step 5.)")
		listed := false
		for _, a := range d.r.Adopted() {
			if a.Pid == grand && a.StartTicks == n.StartTicks {
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
		for _, a := range d.r.Adopted() {
			if a.Pid == grand {
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
