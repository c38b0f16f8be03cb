"""The worker's side of supervisor's pipe protocol, in Python, standard library only.

The specification is docs/protocol.md in the supervisor's repository. A program
run with ``protocol = true`` gets the pipe to the supervisor at fd 3 and the
pipe from it at fd 4. This module frames and unframes the messages (``encode``,
``Decoder``) and runs a worker's side of the conversation (``Worker``)::

    w = Worker()
    w.handle("echo", lambda body: body)
    w.connect()                  # Hello, HelloAck; starts the reader thread
    w.ready()
    w.start_heartbeats(0.1)      # sends a Heartbeat only if progress() was called
    while not w.wait(0.05):      # True once Stop or EOF ended the conversation
        w.progress()             # from the main loop: the proof of progress
    w.close()

Threads: ``connect`` starts one reader thread (fd 4); ``start_heartbeats`` one
heartbeat thread; requests run on a small pool of handler threads, so handlers
may block (on a lease, say) without stopping the reader. Every thread is a
daemon: a stuck handler never keeps the process alive. Every frame is written
with one ``write(2)`` under a lock, so frames never interleave.

Errors: whatever the supervisor sends that breaks the protocol (a malformed or
oversized frame, an unknown type, a truncated frame, a message in the wrong
direction) ends the conversation, and ``wait``, ``acquire`` and the handshake
raise it as a ``ProtocolError`` subclass whose text says what was wrong. The
decoder checks a frame's declared length before it reads or allocates anything
for it, and never waits for more bytes than a frame declares, so bad input can
end the conversation but never hang it.
"""

import os
import stat
import struct
import sys
import threading
import queue

__all__ = [
    "PROTOCOL_VERSION", "MAX_FRAME", "MAX_STATUS_LEN", "MAX_LEASE_NAME",
    "Hello", "HelloAck", "Ready", "Heartbeat", "Status", "Request", "Reply",
    "Stop", "Stopping", "Acquire", "Lease", "Release",
    "encode", "Decoder", "Worker", "LeaseHandle",
    "ProtocolError", "FrameTooLarge", "UnknownType", "Malformed", "Truncated",
    "VersionMismatch", "UnexpectedMessage", "PeerGone", "StopRequested",
    "LeaseRefused", "Closed",
]

PROTOCOL_VERSION = 1
MAX_FRAME = 1 << 20  # the frame's type byte and payload, not the 4 length bytes
MAX_STATUS_LEN = 1024
MAX_LEASE_NAME = 256
_MAX_U32 = (1 << 32) - 1
_MAX_PID = (1 << 31) - 1
_MAX_I64 = (1 << 63) - 1
_MAX_U64 = (1 << 64) - 1


# Errors ---------------------------------------------------------------------

class ProtocolError(Exception):
    """The stream broke the protocol. The text says what was wrong."""


class FrameTooLarge(ProtocolError):
    """A frame declares more than the limit (1 MiB), or a message to send would."""


class UnknownType(ProtocolError):
    """A frame's type byte names no message of protocol version 1."""


class Malformed(ProtocolError):
    """A zero-length frame, or a payload breaking the encoding rules; also a
    message this module refuses to encode."""


class Truncated(ProtocolError):
    """The stream ended inside a frame."""


class VersionMismatch(ProtocolError):
    """The supervisor speaks another protocol version."""


class UnexpectedMessage(ProtocolError):
    """A well-formed message where the protocol does not allow it."""


class PeerGone(EOFError):
    """The supervisor closed its end of the pipe (EOF at a frame boundary)."""


class StopRequested(Exception):
    """The supervisor asked the worker to stop: no lease will be granted now."""


class LeaseRefused(Exception):
    """The supervisor refused an Acquire; the text carries its reason."""


class Closed(Exception):
    """The Worker was closed."""


# Messages -------------------------------------------------------------------

def _text(b):
    # Go strings are bytes: surrogateescape keeps any byte sequence exact.
    return b.decode("utf-8", "surrogateescape")


def _raw(s):
    return s.encode("utf-8", "surrogateescape")


class _Message:
    """Base of the twelve message types: plain values, compared by fields."""
    __slots__ = ()
    TYPE = 0
    FIELDS = ()

    def __init__(self, *args, **kwargs):
        names = self.FIELDS
        if len(args) > len(names):
            raise TypeError("%s takes at most %d fields" % (type(self).__name__, len(names)))
        values = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names or k in values:
                raise TypeError("%s: bad field %r" % (type(self).__name__, k))
            values[k] = v
        for name, default in zip(names, self.DEFAULTS):
            object.__setattr__(self, name, values.get(name, default))

    def __setattr__(self, k, v):
        raise AttributeError("messages are immutable")

    def __eq__(self, other):
        return type(self) is type(other) and all(getattr(self, f) == getattr(other, f) for f in self.FIELDS)

    def __hash__(self):
        return hash((type(self),) + tuple(getattr(self, f) for f in self.FIELDS))

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % (f, getattr(self, f)) for f in self.FIELDS))

    def fields(self):
        """The fields as a dict, as the golden file names them."""
        return {f: getattr(self, f) for f in self.FIELDS}


def _message(name, type_code, fields, defaults):
    cls = type(name, (_Message,), {"__slots__": fields, "TYPE": type_code, "FIELDS": fields, "DEFAULTS": defaults})
    return cls


Hello = _message("Hello", 1, ("version", "pid", "name"), (PROTOCOL_VERSION, 0, ""))
HelloAck = _message("HelloAck", 2, ("version",), (PROTOCOL_VERSION,))
Ready = _message("Ready", 3, (), ())
Heartbeat = _message("Heartbeat", 4, ("seq",), (0,))
Status = _message("Status", 5, ("text",), ("",))
Request = _message("Request", 6, ("id", "method", "body"), (0, "", b""))
Reply = _message("Reply", 7, ("id", "err", "body"), (0, "", b""))
Stop = _message("Stop", 8, ("deadline_ns",), (0,))
Stopping = _message("Stopping", 9, (), ())
Acquire = _message("Acquire", 10, ("id", "name", "limit"), (0, "", 1))
Lease = _message("Lease", 11, ("id", "err"), (0, ""))
Release = _message("Release", 12, ("id",), (0,))

_TYPES = {cls.TYPE: cls for cls in (Hello, HelloAck, Ready, Heartbeat, Status, Request, Reply,
                                    Stop, Stopping, Acquire, Lease, Release)}
# What each side may send once the handshake is done.
_FROM_SUPERVISOR = (Request, Stop, Lease)
_FROM_CHILD = (Ready, Heartbeat, Status, Reply, Stopping, Acquire, Release)


def type_name(code):
    """The message name for a type code ("Heartbeat"), or "Type(0x7f)"."""
    cls = _TYPES.get(code)
    return cls.__name__ if cls else "Type(0x%02x)" % code


# Encoding -------------------------------------------------------------------

def _uvarint(out, x, what, limit=_MAX_U64):
    if not isinstance(x, int) or isinstance(x, bool) or x < 0 or x > limit:
        raise Malformed("%s: %r out of range 0..%d" % (what, x, limit))
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)


def _bytes(out, b, what):
    if isinstance(b, str):
        b = _raw(b)
    b = bytes(b)
    _uvarint(out, len(b), what)
    out += b
    return len(b)


def _payload(m):
    out = bytearray()
    t = type(m)
    if t is Hello:
        _uvarint(out, m.version, "Hello.version", _MAX_U32)
        _uvarint(out, m.pid, "Hello.pid", _MAX_PID)
        _bytes(out, m.name, "Hello.name")
    elif t is HelloAck:
        _uvarint(out, m.version, "HelloAck.version", _MAX_U32)
    elif t is Heartbeat:
        _uvarint(out, m.seq, "Heartbeat.seq")
    elif t is Status:
        n = _bytes(out, m.text, "Status.text")
        if n > MAX_STATUS_LEN:
            raise Malformed("Status: text of %d bytes exceeds the %d-byte limit" % (n, MAX_STATUS_LEN))
    elif t is Request:
        _uvarint(out, m.id, "Request.id")
        _bytes(out, m.method, "Request.method")
        _bytes(out, m.body, "Request.body")
    elif t is Reply:
        _uvarint(out, m.id, "Reply.id")
        _bytes(out, m.err, "Reply.err")
        _bytes(out, m.body, "Reply.body")
    elif t is Stop:
        _uvarint(out, m.deadline_ns, "Stop.deadline_ns", _MAX_I64)
    elif t is Acquire:
        _uvarint(out, m.id, "Acquire.id")
        n = _bytes(out, m.name, "Acquire.name")
        if n == 0 or n > MAX_LEASE_NAME:
            raise Malformed("Acquire: name of %d bytes (want 1..%d)" % (n, MAX_LEASE_NAME))
        if m.limit == 0:
            raise Malformed("Acquire: limit 0")
        _uvarint(out, m.limit, "Acquire.limit", _MAX_U32)
    elif t is Lease:
        _uvarint(out, m.id, "Lease.id")
        _bytes(out, m.err, "Lease.err")
    elif t is Release:
        _uvarint(out, m.id, "Release.id")
    elif t not in (Ready, Stopping):
        raise Malformed("not a message: %r" % (m,))
    return out


def encode(m):
    """Returns the whole frame of message m as bytes. Refuses, with Malformed or
    FrameTooLarge, a message the Go decoder would reject."""
    p = _payload(m)
    n = 1 + len(p)
    if n > MAX_FRAME:
        raise FrameTooLarge("%s frame of %d bytes exceeds the %d-byte limit" % (type(m).__name__, n, MAX_FRAME))
    return struct.pack("<IB", n, m.TYPE) + bytes(p)


# Decoding -------------------------------------------------------------------

class _Payload:
    """Parses one frame's payload; every failure raises Malformed naming the field."""

    def __init__(self, b, tname):
        self.b, self.i, self.tname = b, 0, tname

    def fail(self, field, why):
        raise Malformed("malformed %s frame: %s: %s" % (self.tname, field, why))

    def uvarint(self, field):
        x, s, b = 0, 0, self.b
        for k in range(self.i, len(b)):
            c = b[k]
            if k - self.i == 9 and c > 1:
                self.fail(field, "varint overflows 64 bits")
            if c < 0x80:
                if c == 0 and k > self.i:
                    self.fail(field, "varint is not minimally encoded")
                self.i = k + 1
                return x | (c << s)
            x |= (c & 0x7F) << s
            s += 7
        self.fail(field, "varint runs past the end of the frame")

    def uint(self, field, limit):
        x = self.uvarint(field)
        if x > limit:
            self.fail(field, "%d exceeds %d" % (x, limit))
        return x

    def bytes(self, field, limit=None):
        n = self.uvarint(field)
        left = len(self.b) - self.i
        if n > left:
            self.fail(field, "length %d exceeds the %d bytes left in the frame" % (n, left))
        if limit is not None and n > limit:
            self.fail(field, "length %d exceeds the %d-byte limit" % (n, limit))
        s = bytes(self.b[self.i:self.i + n])
        self.i += n
        return s

    def finish(self):
        left = len(self.b) - self.i
        if left:
            raise Malformed("malformed %s frame: %d bytes after the last field" % (self.tname, left))


def decode_payload(code, payload):
    """Decodes the payload of a frame of type code into its message."""
    cls = _TYPES.get(code)
    if cls is None:
        raise UnknownType("unknown message type 0x%02x" % code)
    p = _Payload(payload, cls.__name__)
    if cls is Hello:
        m = Hello(p.uint("Version", _MAX_U32), p.uint("Pid", _MAX_PID), _text(p.bytes("Name")))
    elif cls is HelloAck:
        m = HelloAck(p.uint("Version", _MAX_U32))
    elif cls is Heartbeat:
        m = Heartbeat(p.uvarint("Seq"))
    elif cls is Status:
        m = Status(_text(p.bytes("Text", MAX_STATUS_LEN)))
    elif cls is Request:
        m = Request(p.uvarint("ID"), _text(p.bytes("Method")), p.bytes("Body"))
    elif cls is Reply:
        m = Reply(p.uvarint("ID"), _text(p.bytes("Err")), p.bytes("Body"))
    elif cls is Stop:
        m = Stop(p.uint("Deadline", _MAX_I64))
    elif cls is Acquire:
        m = Acquire(p.uvarint("ID"), _text(p.bytes("Name", MAX_LEASE_NAME)), p.uint("Limit", _MAX_U32))
        if m.name == "" or m.limit == 0:
            p.fail("Acquire", "empty name or Limit 0")
    elif cls is Lease:
        m = Lease(p.uvarint("ID"), _text(p.bytes("Err")))
    elif cls is Release:
        m = Release(p.uvarint("ID"))
    else:  # Ready, Stopping
        m = cls()
    p.finish()
    return m


class Decoder:
    """Reads frames through read(n), a function returning at most n bytes and
    b"" at the end of the stream (os.read on a pipe, a file's read).

    decode() returns the next message, or None at EOF at a frame boundary. It
    raises FrameTooLarge, UnknownType, Malformed or Truncated for a bad stream,
    and keeps raising the same error afterwards: after a bad frame the next
    byte cannot be trusted to start a frame. The declared length is checked
    against max_frame before anything more is read or allocated."""

    def __init__(self, read, max_frame=MAX_FRAME):
        self._read = read
        self._max = max_frame
        self._buf = bytearray()
        self._err = None

    @classmethod
    def from_fd(cls, fd, max_frame=MAX_FRAME):
        return cls(lambda n: os.read(fd, n), max_frame)

    @classmethod
    def from_bytes(cls, data, max_frame=MAX_FRAME):
        view = memoryview(bytes(data))
        pos = [0]

        def read(n):
            b = view[pos[0]:pos[0] + n].tobytes()
            pos[0] += len(b)
            return b
        return cls(read, max_frame)

    def _fill(self, n):
        """Reads until n bytes are buffered; False if the stream ends first."""
        while len(self._buf) < n:
            chunk = self._read(max(n - len(self._buf), 65536))
            if not chunk:
                return False
            self._buf += chunk
        return True

    def decode(self):
        if self._err is not None:
            raise self._err
        try:
            return self._decode()
        except ProtocolError as e:
            self._err = e
            raise

    def _decode(self):
        if not self._fill(4):
            if not self._buf:
                return None
            raise Truncated("truncated frame: got %d of 4 length bytes" % len(self._buf))
        (n,) = struct.unpack_from("<I", self._buf)
        if n == 0:
            raise Malformed("zero-length frame")
        if n > self._max:
            raise FrameTooLarge("frame of %d bytes exceeds the %d-byte limit" % (n, self._max))
        if not self._fill(5):
            raise Truncated("truncated frame: got 0 of %d bytes" % n)
        code = self._buf[4]
        if code not in _TYPES:
            raise UnknownType("unknown message type 0x%02x" % code)
        if not self._fill(4 + n):
            raise Truncated("truncated %s frame: got %d of %d bytes" % (type_name(code), len(self._buf) - 4, n))
        payload = bytes(self._buf[5:4 + n])
        del self._buf[:4 + n]
        return decode_payload(code, payload)


def decode(frame):
    """Decodes exactly one whole frame from bytes."""
    d = Decoder.from_bytes(frame)
    m = d.decode()
    if m is None:
        raise Truncated("no frame")
    if d._buf or d._read(1):
        raise Malformed("bytes after the frame")
    return m


# The worker -----------------------------------------------------------------

def _check_pipe(fd):
    try:
        mode = os.fstat(fd).st_mode
    except OSError as e:
        raise OSError(e.errno, "the protocol needs a pipe at fd %d: %s (is protocol = true set?)" % (fd, e.strerror)) from e
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        raise OSError("the protocol needs a pipe at fd %d, not a file of mode %#o (is protocol = true set?)" % (fd, mode))


class LeaseHandle:
    """A granted lease. Release it once with release(), or use it as a context
    manager. If the process dies first, the supervisor releases it."""

    def __init__(self, worker, lease_id, name):
        self._w, self.id, self.name = worker, lease_id, name
        self._released = False
        self._lock = threading.Lock()

    def release(self):
        """Gives the lease back. Safe to call more than once: only the first sends."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self._w._send(Release(self.id))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


class _Waiter:
    __slots__ = ("event", "lease")

    def __init__(self):
        self.event = threading.Event()
        self.lease = None


class Worker:
    """A worker's side of the conversation with its supervisor.

    name defaults to $SUPERVISOR_PROGRAM; fd_out (3) is the pipe to the
    supervisor and fd_in (4) the pipe from it. The Worker never closes them:
    they close when the process exits, which is how the supervisor learns it
    is gone. max_handlers bounds the handler threads (requests beyond wait in
    a queue)."""

    def __init__(self, name=None, fd_in=4, fd_out=3, max_handlers=16):
        if name is None:
            name = os.environ.get("SUPERVISOR_PROGRAM") or os.path.basename(sys.argv[0] or "python")
        self.name = name
        self._fd_in, self._fd_out = fd_in, fd_out
        self._dec = Decoder.from_fd(fd_in)
        self._wlock = threading.Lock()
        self._lock = threading.Lock()
        self._handlers = {}
        self._ready_sent = False
        self._progress = False
        self._closed = False
        self._connected = False
        self._ended = threading.Event()     # Stop, EOF or an error ended the conversation
        self.cancelled = threading.Event()  # handlers should give up: the stop deadline passed, or the supervisor is gone
        self.stop_requested = False
        self.supervisor_gone = False
        self.error = None                   # the ProtocolError or OSError that ended the reader
        self.stop_deadline = None           # seconds the supervisor gave, after Stop
        self._hb_thread = None
        self._hb_stop = threading.Event()
        self._leases = {}
        self._lease_next = 0
        self._jobs = queue.SimpleQueue()
        self._idle = 0
        self._threads = 0
        self._max_handlers = max_handlers
        self._inflight = 0
        self._inflight_cv = threading.Condition(self._lock)

    # Handlers

    def handle(self, method, fn=None):
        """Registers fn(body: bytes) for Requests of method. fn returns the reply
        body (bytes, str, or None for none); an exception becomes an error Reply
        with its text. Usable as a decorator: @w.handle("echo")."""
        if fn is None:
            return lambda f: self.handle(method, f) or f
        self._handlers[method] = fn
        return None

    # The conversation

    def connect(self):
        """Checks that fds 3 and 4 are pipes, marks them close-on-exec, sends
        Hello and blocks until the supervisor's HelloAck, then starts the reader
        thread. Raises VersionMismatch, UnexpectedMessage (the first frame is
        not HelloAck), PeerGone, another ProtocolError, or OSError."""
        for fd in (self._fd_out, self._fd_in):
            _check_pipe(fd)
            os.set_inheritable(fd, False)
        self._send(Hello(PROTOCOL_VERSION, os.getpid(), self.name))
        m = self._dec.decode()
        if m is None:
            raise PeerGone("supervisor closed the pipe before HelloAck")
        if type(m) is not HelloAck:
            raise UnexpectedMessage("first frame is %s, want HelloAck" % type(m).__name__)
        if m.version != PROTOCOL_VERSION:
            raise VersionMismatch("protocol version %d, want %d" % (m.version, PROTOCOL_VERSION))
        self._connected = True
        threading.Thread(target=self._reader, name="supervisor-protocol-reader", daemon=True).start()

    def ready(self):
        """Tells the supervisor initialisation is done. Only the first call sends."""
        with self._lock:
            if self._ready_sent:
                return
            self._ready_sent = True
        self._send(Ready())

    def set_status(self, text):
        """Sends text (at most 1024 bytes in UTF-8) as the worker's status."""
        self._send(Status(text))

    def progress(self):
        """Records that the main loop made progress: the next heartbeat will be
        sent. Call it from the loop whose liveness the supervisor should see."""
        self._progress = True

    def start_heartbeats(self, interval):
        """Starts the heartbeat thread: every interval seconds, if progress() was
        called since the last heartbeat, it sends Heartbeat with the next Seq
        (from 1); otherwise nothing. Only the first call starts anything."""
        if interval <= 0:
            raise ValueError("heartbeat interval must be positive")
        with self._lock:
            if self._hb_thread is not None or self._closed:
                return
            self._hb_thread = threading.Thread(target=self._heartbeats, args=(interval,),
                                               name="supervisor-protocol-heartbeat", daemon=True)
        self._hb_thread.start()

    def _heartbeats(self, interval):
        seq = 0
        while not self._hb_stop.wait(interval):
            if self._ended.is_set():
                return
            if not self._progress:
                continue
            self._progress = False
            seq += 1
            try:
                self._send(Heartbeat(seq))
            except (OSError, Closed):
                return

    def wait(self, timeout=None):
        """Blocks until the conversation ends or timeout seconds pass. Returns
        False on timeout; True once a Stop arrived (stop_requested) or the
        supervisor closed the pipe (supervisor_gone). Raises the ProtocolError
        (or OSError) that ended it otherwise: a malformed frame, say."""
        if not self._ended.wait(timeout):
            return False
        if self.error is not None:
            raise self.error
        return True

    def acquire(self, name, limit=1, timeout=None):
        """Asks the supervisor for one unit of the semaphore name (at most limit
        holders at once; 1 is a mutex) and blocks until it is granted. Returns a
        LeaseHandle. Raises LeaseRefused with the supervisor's reason,
        TimeoutError after timeout seconds (the Acquire is withdrawn),
        StopRequested or PeerGone if the conversation ended meanwhile, or the
        ProtocolError that ended it. Safe from any thread; the reader delivers
        the answer, so connect() must have been called."""
        w = _Waiter()
        with self._lock:
            self._lease_next += 1
            lid = self._lease_next
            self._leases[lid] = w
        try:
            self._send(Acquire(lid, name, limit))
        except BaseException:
            with self._lock:
                self._leases.pop(lid, None)
            raise
        if not w.event.wait(timeout):
            with self._lock:
                self._leases.pop(lid, None)
            if w.lease is None:
                try:
                    self._send(Release(lid))  # withdraws it, or gives it back if granted meanwhile
                except (OSError, Closed):
                    pass
                raise TimeoutError("lease %r not granted within %ss" % (name, timeout))
        lease = w.lease
        if lease is None:
            self._raise_ended("waiting for lease %r" % name)
        if lease.err:
            raise LeaseRefused("lease %r refused: %s" % (name, lease.err))
        return LeaseHandle(self, lid, name)

    def _raise_ended(self, what):
        if self.error is not None:
            raise self.error
        if self.stop_requested:
            raise StopRequested("stop requested while " + what)
        if self._closed:
            raise Closed("worker closed while " + what)
        raise PeerGone("supervisor gone while " + what)

    def close(self, grace=None):
        """Stops the heartbeats and waits for requests in flight: after a Stop,
        until its deadline (then cancelled is set); otherwise cancelled is set
        at once and they get grace seconds (default 1) to return. Frames
        requested afterwards raise Closed. Safe to call more than once. The
        pipes stay open until the process exits."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._hb_stop.set()
        if self._hb_thread is not None:
            self._hb_thread.join()
        if self.stop_requested and self.stop_deadline is not None:
            wait = self.stop_deadline
        else:
            self.cancelled.set()
            wait = 1.0 if grace is None else grace
        with self._lock:
            self._inflight_cv.wait_for(lambda: self._inflight == 0, timeout=wait)
        self.cancelled.set()
        self._end()

    # Internals

    def _send(self, m):
        frame = encode(m)
        with self._wlock:
            if self._closed and type(m) not in (Reply, Release, Stopping):
                raise Closed("worker closed")
            view = memoryview(frame)
            while view:
                n = os.write(self._fd_out, view)
                view = view[n:]

    def _end(self):
        """Ends the conversation: wakes every lease waiter."""
        self._ended.set()
        with self._lock:
            waiters = list(self._leases.values())
            self._leases.clear()
        for w in waiters:
            w.event.set()

    def _reader(self):
        try:
            while True:
                m = self._dec.decode()
                if m is None:
                    self.supervisor_gone = True
                    self.cancelled.set()
                    return
                t = type(m)
                if t is Request:
                    self._submit(m)
                elif t is Lease:
                    with self._lock:
                        w = self._leases.pop(m.id, None)
                    if w is not None:
                        w.lease = m
                        w.event.set()
                elif t is Stop:
                    self.stop_deadline = m.deadline_ns / 1e9
                    self.stop_requested = True
                    timer = threading.Timer(self.stop_deadline, self.cancelled.set)
                    timer.daemon = True
                    timer.start()
                    try:
                        self._send(Stopping())
                    except OSError:
                        pass
                    return  # reads nothing more
                else:
                    raise UnexpectedMessage("%s from the supervisor" % t.__name__)
        except (ProtocolError, OSError) as e:
            self.error = e
            self.cancelled.set()
        finally:
            self._end()

    def _submit(self, req):
        with self._lock:
            self._inflight += 1
            spawn = self._idle == 0 and self._threads < self._max_handlers
            if spawn:
                self._threads += 1
        self._jobs.put(req)
        if spawn:
            threading.Thread(target=self._handler_loop, name="supervisor-protocol-handler", daemon=True).start()

    def _handler_loop(self):
        while True:
            with self._lock:
                self._idle += 1
            req = self._jobs.get()
            with self._lock:
                self._idle -= 1
            try:
                self._handle(req)
            finally:
                with self._lock:
                    self._inflight -= 1
                    self._inflight_cv.notify_all()

    def _handle(self, req):
        fn = self._handlers.get(req.method)
        body, err = b"", ""
        if fn is None:
            err = 'unknown method "%s"' % req.method.replace("\\", "\\\\").replace('"', '\\"')
        else:
            try:
                out = fn(req.body)
                if out is None:
                    body = b""
                elif isinstance(out, str):
                    body = out.encode("utf-8")
                else:
                    body = bytes(out)
            except Exception as e:  # the handler's error is the Reply's
                err = str(e) or type(e).__name__
        try:
            try:
                self._send(Reply(req.id, err, body))
            except (FrameTooLarge, Malformed) as e:
                self._send(Reply(req.id, "reply not sent: %s" % e, b""))
        except OSError:
            pass  # the supervisor is gone
