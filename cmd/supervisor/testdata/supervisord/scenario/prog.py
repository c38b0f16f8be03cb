# A program of the supervisord differential test (supervisord_test.go).
# argv: prog.py NAME EVENTS [--exit N]
# On start (its signal handlers set) it appends one JSON line to EVENTS (its
# name, pid, argv, cwd, uid, gid, groups, whole environment, time), prints
# known lines to stdout and stderr, then
# either exits with N at once or waits for signals: USR1 appends "usr1" and
# prints a line; TERM appends "stop" and exits 0.
import json, os, signal, sys, time

name, events = sys.argv[1], sys.argv[2]
code = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--exit" else None


def event(kind, **extra):
    line = dict(ev=kind, name=name, pid=os.getpid(), t=time.time(), **extra)
    with open(events, "a") as f:  # one short write per line: O_APPEND keeps lines whole
        f.write(json.dumps(line, sort_keys=True) + "\n")


def on_usr1(sig, frame):
    print(name + " got USR1", flush=True)
    event("usr1")


def on_term(sig, frame):
    event("stop")
    sys.exit(0)


signal.signal(signal.SIGUSR1, on_usr1)
signal.signal(signal.SIGTERM, on_term)
# argv and environment as exec'd, before python changes either (it drops its
# own path from sys.argv and may add LC_CTYPE to os.environ).
with open("/proc/self/cmdline", "rb") as f:
    argv = [a.decode() for a in f.read().split(b"\0")[:-1]]
with open("/proc/self/environ", "rb") as f:
    env = dict(kv.decode().partition("=")[::2] for kv in f.read().split(b"\0") if kv)
event("start", argv=argv, cwd=os.getcwd(), uid=os.getuid(), gid=os.getgid(), groups=sorted(os.getgroups()), env=env)
print(name + " out 1", flush=True)
print(name + " err 1", file=sys.stderr, flush=True)
print(name + " out 2", flush=True)
if code is not None:
    sys.exit(code)
while True:
    signal.pause()
