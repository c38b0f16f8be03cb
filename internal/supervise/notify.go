package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/supervisor/supervisor/internal/notify"
	"github.com/supervisor/supervisor/internal/procfs"
)

// Readiness from ordinary daemons (Spec.Notify): sd_notify datagrams on a socket
// of the run's own, or s6's readiness line on an fd. Both feed the policy
// machine's one readiness model (readyBy), as the pipe protocol's Ready and the
// ready probe do; sd_notify also feeds its liveness (WATCHDOG=1).
//
// The socket of a run lives in a directory the Supervisor makes (mode 0700,
// under $TMPDIR) and is removed when the run closes. Each datagram is
// attributed to its sender by its credentials (SO_PASSCRED): it is applied only
// if the sender is the run's leader, in its process group, or in its cgroup;
// others are logged and dropped. A sender already gone when its datagram is
// read (a script's one-shot sender) cannot be placed; its datagram is applied
// all the same, since it came on the run's own socket, which only the
// supervisor's user can write to, and that is logged. (systemd-notify run as
// root states its parent's pid, the daemon, and waits on a barrier until the
// datagram was handled, so it is always placed.) The listener reads a datagram
// only once the state goroutine has room for it (notifyCredit), so a flood
// fills the kernel's queue (about 10 datagrams) and blocks the sender.

// notifyCredit bounds the sd_notify messages of one run waiting for the state
// goroutine.
const notifyCredit = 16

// notifyMsg is one sd_notify datagram of p's run number run, or the result of
// its s6 readiness fd (s6 set).
type notifyMsg struct {
	p      *program
	run    uint64
	msg    notify.Message
	placed string // how the sender was placed in the run's tree, or why not
	s6     error  // s6: nil for the readiness line, else why none came
	isS6   bool
	credit chan struct{}
}

func (notifyMsg) isMessage() {}

// notifyDir returns the directory of the runs' notify sockets, made at first use.
func (s *Supervisor) notifyDir() (string, error) {
	if s.notifyPath == "" {
		dir, err := os.MkdirTemp("", "supervisor-notify-")
		if err != nil {
			return "", fmt.Errorf("notify socket directory: %w", err)
		}
		s.notifyPath = dir
	}
	return s.notifyPath, nil
}

// listenNotify makes the sd_notify socket of r (before its spawn) and returns
// the environment the child needs for it.
func (r *procRun) listenNotify() ([]string, error) {
	s, p := r.s, r.p
	dir, err := s.notifyDir()
	if err != nil {
		return nil, err
	}
	s.notifySeq++
	l, err := notify.Listen(filepath.Join(dir, strconv.FormatUint(s.notifySeq, 10)+".sock"), p.log)
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	if c := spawnCred(p.spec.User); c != nil {
		// Another user's program must own its socket (0600) and be able to
		// search the directory (0711: no listing; the others' sockets stay
		// theirs). Datagrams are attributed by their credentials anyway.
		err := os.Chown(l.Path(), int(c.Uid), int(c.Gid))
		if err == nil {
			err = os.Chmod(dir, 0o711)
		}
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("notify socket for user %s: %w", p.spec.User, err)
		}
	}
	r.notifyL = l
	return notify.Env(l.Path(), p.spec.Watchdog, 0), nil
}

// serveNotify starts reading r's sd_notify socket, once r's process exists.
func (r *procRun) serveNotify() {
	ctx, cancel := context.WithCancel(context.Background())
	r.notifyStop = cancel
	credit := make(chan struct{}, notifyCredit)
	s, p, no, l := r.s, r.p, r.no, r.notifyL
	leader, cg := r.proc.Pid, r.cg
	go func() {
		_ = l.Serve(ctx, func(m notify.Message) {
			placed := placeSender(m.Pid, leader, cg) // now: the sender may be gone soon
			select {
			case credit <- struct{}{}:
			case <-ctx.Done():
				return
			}
			s.inbox.push(notifyMsg{p: p, run: no, msg: m, placed: placed, credit: credit})
		})
	}()
}

// placeSender says how pid belongs to the run whose leader is leader (and whose
// cgroup is cg, if any): "" if it does not, else how.
func placeSender(pid, leader int, cg *cgroup) string {
	switch {
	case pid == 0:
		return "" // in a PID namespace we cannot see
	case pid == leader:
		return "the leader"
	}
	st, err := procfs.ReadStat(pid)
	switch {
	case err != nil:
		return "sender gone: accepted, as it came on the run's own socket"
	case st.Pgrp == leader:
		return "in the process group"
	case cg != nil && strings.HasPrefix(procCgroup(pid)+"/", cg.rel+"/"):
		return "in the cgroup"
	}
	return ""
}

// waitS6 waits, in its own goroutine, for r's readiness line on the pipe whose
// read end is rd (the child has the write end as fd NotifyFd).
func (r *procRun) waitS6(rd *os.File) {
	ctx, cancel := context.WithCancel(context.Background())
	r.notifyStop = cancel
	s, p, no := r.s, r.p, r.no
	go func() {
		err := notify.WaitS6(ctx, rd)
		if !errors.Is(err, context.Canceled) {
			s.inbox.push(notifyMsg{p: p, run: no, isS6: true, s6: err})
		}
	}()
}

// stopNotify ends r's readiness sources: the socket is closed and removed, the
// s6 wait ends.
func (r *procRun) stopNotify() {
	if r.notifyStop != nil {
		r.notifyStop()
		r.notifyStop = nil
	}
	if r.notifyL != nil {
		r.notifyL.Close()
		r.notifyL = nil
	}
}

// notified applies a notifyMsg to p's current run.
func (s *Supervisor) notified(p *program, m notifyMsg) {
	now := time.Now()
	if m.isS6 {
		if m.s6 == nil {
			s.do(s.m.readyBy(p, fmt.Sprintf("wrote its readiness line to fd %d", p.spec.NotifyFd), now))
		} else {
			p.log.Warn("no readiness line on the notification fd", "fd", p.spec.NotifyFd, "error", m.s6)
		}
		return
	}
	n := m.msg
	switch {
	case n.Err != nil:
		p.log.Warn("sd_notify: malformed datagram dropped", "sender", n.Pid, "error", n.Err)
		return
	case m.placed == "":
		p.log.Warn("sd_notify: datagram from a process outside the program dropped", "sender", n.Pid, "uid", n.Uid)
		return
	case strings.HasPrefix(m.placed, "sender gone"):
		p.log.Debug("sd_notify: "+m.placed, "sender", n.Pid)
	}
	if len(n.Ignored) > 0 {
		p.log.Debug("sd_notify: fields ignored", "fields", strings.Join(n.Ignored, ", "))
	}
	if n.HasStatus {
		p.statusText = n.Status
		p.log.Info("status", "pid", p.pid, "text", n.Status)
	}
	if n.HasErrno {
		p.log.Warn("sd_notify: the program reports an error", "errno", n.Errno)
	}
	if n.MainPid != 0 && n.MainPid != p.pid {
		p.log.Warn("sd_notify: MAINPID is not followed; the supervisor watches the process it started", "mainpid", n.MainPid, "pid", p.pid)
	}
	if n.HasExtendTimeout {
		s.do(s.m.extendStart(p, n.ExtendTimeout, now))
	}
	if n.Ready {
		s.do(s.m.readyBy(p, "sent READY=1", now))
	}
	if n.Reloading {
		p.log.Info("sd_notify: reloading")
	}
	if n.Stopping {
		p.log.Info("sd_notify: stopping")
	}
	if n.Watchdog {
		s.do(s.m.watchdog(p, now))
	}
	if n.WatchdogTrigger {
		s.do(s.m.runFailed(p, "the program asked to be treated as hung (WATCHDOG=trigger)", syscall.SIGABRT))
	}
}
