package demo

import (
	"fmt"
	"os"
)

// zombie: a parent that never waits leaves zombies; when it dies they pass to
// the supervisor (a subreaper), which reaps them at once.
func zombie(d *demo) error {
	const nChildren = 3
	d.say("demo zombie: a process that has exited stays in the process table, in state Z (zombie),")
	d.say("until its parent waits for it. The supervisor (pid %d) starts a parent that never waits.", d.self)
	if d.noReap {
		d.say("NEGATIVE CONTROL (--no-reap): the supervisor is a subreaper that does not reap either.")
	}

	d.beginStep("a parent and its children, all alive")
	cmdR, cmdW, err := d.pipe() // cmdR goes to the parent as its fd 3; cmdW stays here
	if err != nil {
		return err
	}
	parent, err := d.start([]*os.File{cmdR}, "zombie-parent")
	if err != nil {
		return err
	}
	d.roles[parent.pid] = "parent: never waits"
	send := func(cmd string) error {
		if _, err := fmt.Fprintln(cmdW, cmd); err != nil {
			return fmt.Errorf("tell the parent %q: %w", cmd, err)
		}
		return nil
	}
	if _, err := parent.out.next("parent "); err != nil {
		return err
	}
	var kids []int
	for i := 1; i <= nChildren; i++ {
		if err := send("spawn"); err != nil {
			return err
		}
		pid, err := parent.out.nextPid("child ")
		if err != nil {
			return err
		}
		kids = append(kids, pid)
		d.roles[pid] = fmt.Sprintf("child %d", i)
	}
	// Blocked reading: S. Wait for that, so what is printed is the steady state.
	for _, pid := range append([]int{parent.pid}, kids...) {
		n, err := d.waitState(pid, "S")
		if err != nil {
			return err
		}
		d.printFact(n)
		want := parent.pid
		if pid == parent.pid {
			want = d.self
		}
		if n.PPid != want {
			return d.fail("pid %d has parent %d, want %d", pid, n.PPid, want)
		}
	}
	d.say("  The parent (pid %d) started %d children; each sleeps (S) until the parent lets it go.", parent.pid, nChildren)
	if err := d.tree(); err != nil {
		return err
	}
	if err := d.endStep(); err != nil {
		return err
	}

	d.beginStep("a child exits, and nobody waits for it")
	release := func(pid int) error {
		if err := send(fmt.Sprintf("release %d", pid)); err != nil {
			return err
		}
		_, err := parent.out.next(fmt.Sprintf("released %d", pid))
		return err
	}
	if err := release(kids[0]); err != nil {
		return err
	}
	n, err := d.waitState(kids[0], "Z")
	if err != nil {
		return err
	}
	d.printFact(n)
	d.say("  pid %d has exited: it is in state %c, and still listed under its parent %d.", n.Pid, n.State, n.PPid)
	d.say("  Its exit status waits in the kernel until pid %d calls wait(); it never will.", n.PPid)
	if err := d.tree(); err != nil {
		return err
	}
	if err := d.endStep(); err != nil {
		return err
	}

	d.beginStep("a parent that never reaps leaves zombies behind")
	for _, pid := range kids[1:] {
		if err := release(pid); err != nil {
			return err
		}
		if _, err := d.waitState(pid, "Z"); err != nil {
			return err
		}
	}
	// The parent answers after all of them exited: it runs, and still has not reaped.
	if err := send("ping"); err != nil {
		return err
	}
	if _, err := parent.out.next("pong"); err != nil {
		return err
	}
	starts := map[int]uint64{}
	for _, pid := range append([]int{parent.pid}, kids...) {
		n, err := d.waitState(pid, "SZ") // asleep (the parent) or a zombie (its children)
		if err != nil {
			return err
		}
		d.printFact(n)
		starts[pid] = n.StartTicks
		if pid != parent.pid && (n.State != 'Z' || n.PPid != parent.pid) {
			return d.fail("pid %d: state %c, parent %d; want a zombie of %d", pid, n.State, n.PPid, parent.pid)
		}
	}
	d.say("  All %d children have exited; the parent (pid %d, state S) answered a ping after that,", nChildren, parent.pid)
	d.say("  so it runs: it just never calls wait(). Its zombies stay as long as it lives.")
	if err := d.tree(); err != nil {
		return err
	}
	if err := d.endStep(); err != nil {
		return err
	}

	d.beginStep("the parent dies: its zombies pass to the supervisor")
	if err := send("exit"); err != nil {
		return err
	}
	if err := d.waitExited(parent); err != nil {
		return err
	}
	d.say("  The parent (pid %d) has exited. The kernel re-parents its children to the nearest", parent.pid)
	d.say("  subreaper: the supervisor (pid %d).", d.self)
	if d.noReap {
		return d.zombiesStay(parent.pid, kids)
	}
	for _, pid := range kids {
		e, err := d.waitReaped(pid)
		if err != nil {
			return err
		}
		d.say("  fact pid=%d reaped-by=%d status=%q", pid, d.self, e.String())
		if err := d.factGone(pid, starts[pid]); err != nil {
			return err
		}
	}
	if err := d.factGone(parent.pid, starts[parent.pid]); err != nil {
		return err
	}
	d.say("  The supervisor reaped all %d zombies the moment they became its children; none is left.", nChildren)
	if err := d.tree(); err != nil {
		return err
	}
	return d.endStep()
}

// zombiesStay is the negative control's last step: with reaping off, the zombies
// are now the supervisor's and stay; the check sees them and fails.
func (d *demo) zombiesStay(parent int, kids []int) error {
	var left []int
	for _, pid := range kids {
		n, err := d.fact(pid)
		if err != nil {
			return err
		}
		if n.State == 'Z' && n.PPid == d.self {
			left = append(left, pid)
		}
	}
	if err := d.tree(); err != nil {
		return err
	}
	err := d.fail("%d zombies were not reaped: pids %v are in state Z under the supervisor (pid %d), whose reaping is off", len(left), left, d.self)
	if err2 := d.endStep(); err2 != nil {
		return err2
	}
	return err
}
