#!/usr/bin/env python3
"""An example worker for supervisor's pipe protocol, run with protocol = true.

It answers the methods cmd/child --protocol answers, the same way:

    echo    replies with the body
    hash    replies with the hex SHA-256 of the body
    sleep   body is a Go duration ("250ms"); sleeps that long, or until
            cancelled (the stop deadline), then replies "slept"
    crash   exits with code 3 at once, without replying
    append  PATH LEASE N TAG: appends N lines "TAG i/N" to PATH, one write(2)
            each, holding the lease "file" (limit 1) throughout if LEASE is 1;
            replies "appended N"

Its main loop calls progress() twice per heartbeat interval. With --hang the
main loop blocks forever after Ready (with --hang-after DUR, once it ran for
DUR): no more progress, so no more heartbeats, although the reader and
heartbeat threads are fine; heartbeat_timeout catches it.

Output: "python worker PID started" on stdout; "stopping on request" on stdout
when a Stop ends it, "supervisor gone" on stderr when EOF on fd 4 does; both
exit 0. A protocol error is written on stderr and exits 1.
"""

import argparse
import hashlib
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import supervisor_protocol as sp  # noqa: E402

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DUR = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text):
    """Parses a Go duration ("1.5s", "100ms", "1h2m") into seconds."""
    s = text.strip()
    sign = 1.0
    if s[:1] in "+-" and s:
        sign, s = (-1.0 if s[0] == "-" else 1.0), s[1:]
    if s == "0":
        return 0.0
    total, pos = 0.0, 0
    for m in _DUR.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError('time: invalid duration "%s"' % text)
    return sign * total


def main(argv=None):
    ap = argparse.ArgumentParser(description="An example worker for supervisor's pipe protocol.")
    ap.add_argument("--heartbeat", default="100ms", help="heartbeat interval, a Go duration (default 100ms)")
    ap.add_argument("--hang", action="store_true", help="after Ready, the main loop blocks forever")
    ap.add_argument("--hang-after", default="", help="after Ready, the main loop runs this long (a Go duration), then blocks forever")
    ap.add_argument("--status", default="", help="status text to send after Ready")
    args = ap.parse_args(argv)
    interval = parse_duration(args.heartbeat)
    if interval <= 0:
        ap.error("--heartbeat must be positive")

    w = sp.Worker()

    @w.handle("echo")
    def echo(body):
        return body

    @w.handle("hash")
    def hash_(body):
        return hashlib.sha256(body).hexdigest()

    @w.handle("sleep")
    def sleep(body):
        w.cancelled.wait(parse_duration(body.decode("utf-8", "replace")))
        return "slept"

    @w.handle("crash")
    def crash(body):
        print("python worker: crashing on request", file=sys.stderr, flush=True)
        os._exit(3)

    @w.handle("append")
    def append(body):
        fields = body.decode("utf-8", "surrogateescape").split()
        if len(fields) != 4:
            raise ValueError("append: want PATH LEASE N TAG, got %r" % body)
        path, use_lease, count, tag = fields
        try:
            n = int(count)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError("append: bad count %r" % count)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            lease = w.acquire("file", 1) if use_lease == "1" else None
            try:
                for i in range(1, n + 1):
                    os.write(fd, ("%s %d/%d\n" % (tag, i, n)).encode())
            finally:
                if lease is not None:
                    lease.release()
        finally:
            os.close(fd)
        return "appended %s" % count

    print("python worker %d started" % os.getpid(), flush=True)
    try:
        w.connect()
    except (sp.ProtocolError, EOFError, OSError) as e:
        print("python worker: handshake: %s" % e, file=sys.stderr, flush=True)
        return 1
    w.ready()
    if args.status:
        w.set_status(args.status)
    w.start_heartbeats(interval)
    if args.hang:
        threading.Event().wait()  # never set: the main loop makes no more progress
    hang_at = time.monotonic() + parse_duration(args.hang_after) if args.hang_after else None
    try:
        while not w.wait(interval / 2):
            w.progress()
            if hang_at is not None and time.monotonic() >= hang_at:
                print("python worker: main loop blocked", flush=True)
                threading.Event().wait()  # never set: the heartbeats stop, the threads live on
    except (sp.ProtocolError, OSError) as e:
        print("python worker: %s" % e, file=sys.stderr, flush=True)
        w.close(grace=0)
        return 1
    w.close()
    if w.stop_requested:
        print("stopping on request", flush=True)
    else:
        print("supervisor gone", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
