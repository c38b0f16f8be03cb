"""Tests of supervisor_protocol: python3 -m unittest discover -s clients/python

The golden frames come from the Go encoder (internal/ipc/testdata/golden.json),
so the two implementations cannot drift apart. The Worker tests play the
supervisor over real pipes. Every wait is bounded: a hang fails the test."""

import json
import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import supervisor_protocol as sp  # noqa: E402

GOLDEN = os.path.join(HERE, "..", "..", "internal", "ipc", "testdata", "golden.json")
WAIT = 10.0  # seconds: any wait longer than this is a hang

ERRORS = {
    "frame_too_large": sp.FrameTooLarge,
    "unknown_type": sp.UnknownType,
    "malformed": sp.Malformed,
    "truncated": sp.Truncated,
}


def message_of(entry):
    """The message a golden entry describes, built from its fields."""
    cls = getattr(sp, entry["type"])
    kwargs = {}
    for k, v in entry["fields"].items():
        if k.endswith("_hex"):
            kwargs[k[:-4]] = bytes.fromhex(v)
        else:
            kwargs[k] = v
    return cls(**kwargs)


class GoldenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(GOLDEN) as f:
            cls.golden = json.load(f)

    def test_encode_matches_go(self):
        for e in self.golden["frames"]:
            with self.subTest(e["name"]):
                m = message_of(e)
                self.assertEqual(m.TYPE, e["code"])
                self.assertEqual(sp.encode(m).hex(), e["hex"])

    def test_decode_matches_go(self):
        for e in self.golden["frames"]:
            with self.subTest(e["name"]):
                self.assertEqual(sp.decode(bytes.fromhex(e["hex"])), message_of(e))

    def test_stream_of_all_frames(self):
        data = b"".join(bytes.fromhex(e["hex"]) for e in self.golden["frames"])
        d = sp.Decoder.from_bytes(data)
        for e in self.golden["frames"]:
            self.assertEqual(d.decode(), message_of(e))
        self.assertIsNone(d.decode())

    def test_bad_frames_refused(self):
        self.assertGreater(len(self.golden["bad"]), 10)
        for e in self.golden["bad"]:
            with self.subTest(e["name"]):
                d = sp.Decoder.from_bytes(bytes.fromhex(e["hex"]))
                with self.assertRaises(ERRORS[e["error"]]) as cm:
                    d.decode()
                self.assertTrue(str(cm.exception))
                # Sticky: the same error again.
                with self.assertRaises(ERRORS[e["error"]]):
                    d.decode()

    def test_encoder_refuses_what_decoder_would(self):
        for m in (sp.Status("s" * 1025), sp.Acquire(1, "", 1), sp.Acquire(1, "x", 0),
                  sp.Acquire(1, "n" * 257, 1), sp.Hello(1, -1, "w"), sp.Hello(1, 1 << 31, "w"),
                  sp.Stop(-1), sp.Heartbeat(1 << 64)):
            with self.subTest(m):
                with self.assertRaises(sp.Malformed):
                    sp.encode(m)
        with self.assertRaises(sp.FrameTooLarge):
            sp.encode(sp.Reply(1, "", b"x" * sp.MAX_FRAME))

    def test_too_large_frame_is_refused_before_reading_it(self):
        reads = []

        def read(n):
            reads.append(n)
            return b"\x00\x00\x20\x00\x06" if len(reads) == 1 else b""
        with self.assertRaises(sp.FrameTooLarge):
            sp.Decoder(read).decode()
        self.assertEqual(len(reads), 1)


class Supervisor:
    """The supervisor's side, played by the test over two real pipes."""

    def __init__(self, test):
        self.c2s_r, self.c2s_w = os.pipe()  # child writes fd "3"
        self.s2c_r, self.s2c_w = os.pipe()  # child reads fd "4"
        self.dec = sp.Decoder.from_fd(self.c2s_r)
        test.addCleanup(self.close)
        self.worker = sp.Worker(name="t", fd_in=self.s2c_r, fd_out=self.c2s_w)

    def close(self):
        for fd in (self.c2s_r, self.c2s_w, self.s2c_r, self.s2c_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.c2s_r = self.c2s_w = self.s2c_r = self.s2c_w = -1

    def send(self, m):
        os.write(self.s2c_w, sp.encode(m))

    def send_raw(self, b):
        os.write(self.s2c_w, b)

    def close_write(self):
        os.close(self.s2c_w)
        self.s2c_w = -1

    def recv(self):
        return self.dec.decode()

    def connect(self, ack=None):
        """Runs connect() in a thread, answers its Hello, returns connect's error."""
        out = []
        t = threading.Thread(target=lambda: self._connect(out), daemon=True)
        t.start()
        hello = self.recv()
        assert type(hello) is sp.Hello, hello
        assert hello.version == 1 and hello.pid == os.getpid() and hello.name == "t", hello
        if ack is None:
            self.send(sp.HelloAck(1))
        else:
            self.send_raw(ack)
        t.join(WAIT)
        assert not t.is_alive(), "connect() hangs"
        return out[0]

    def _connect(self, out):
        try:
            self.worker.connect()
            out.append(None)
        except Exception as e:  # returned to the test
            out.append(e)


def wait_raises(test, w, exc):
    """Asserts that w.wait raises exc within WAIT."""
    t0 = time.monotonic()
    with test.assertRaises(exc) as cm:
        while not w.wait(0.05):
            if time.monotonic() - t0 > WAIT:
                test.fail("wait() hangs")
    return cm.exception


class WorkerTest(unittest.TestCase):
    def test_conversation(self):
        s = Supervisor(self)
        w = s.worker
        w.handle("echo", lambda body: body)
        w.handle("fail", lambda body: (_ for _ in ()).throw(RuntimeError("it failed")))
        self.assertIsNone(s.connect())
        w.ready()
        w.ready()  # only the first sends
        w.set_status("warming up")
        self.assertEqual(s.recv(), sp.Ready())
        self.assertEqual(s.recv(), sp.Status("warming up"))

        s.send(sp.Request(7, "echo", b"\x00hi\xff"))
        self.assertEqual(s.recv(), sp.Reply(7, "", b"\x00hi\xff"))
        s.send(sp.Request(8, "nope", b""))
        self.assertEqual(s.recv(), sp.Reply(8, 'unknown method "nope"', b""))
        s.send(sp.Request(9, "fail", b""))
        self.assertEqual(s.recv(), sp.Reply(9, "it failed", b""))

        # Heartbeats only while progress() is called.
        w.start_heartbeats(0.01)
        w.progress()
        self.assertEqual(s.recv(), sp.Heartbeat(1))
        w.progress()
        self.assertEqual(s.recv(), sp.Heartbeat(2))
        # No progress: silence. Then a Request, and its Reply is the next frame:
        # no heartbeat came in between although many intervals passed.
        time.sleep(0.1)  # give the heartbeat thread intervals without progress (asserting an absence)
        s.send(sp.Request(10, "echo", b"after"))
        self.assertEqual(s.recv(), sp.Reply(10, "", b"after"))

        s.send(sp.Stop(2_000_000_000))
        self.assertEqual(s.recv(), sp.Stopping())
        self.assertTrue(w.wait(WAIT))
        self.assertTrue(w.stop_requested)
        self.assertFalse(w.supervisor_gone)
        self.assertEqual(w.stop_deadline, 2.0)
        w.close()

    def test_leases(self):
        s = Supervisor(self)
        w = s.worker
        self.assertIsNone(s.connect())
        got = []
        t = threading.Thread(target=lambda: got.append(w.acquire("file", 1)), daemon=True)
        t.start()
        self.assertEqual(s.recv(), sp.Acquire(1, "file", 1))
        s.send(sp.Lease(1, ""))
        t.join(WAIT)
        self.assertEqual(len(got), 1)
        with got[0]:
            pass
        got[0].release()  # a second release sends nothing
        self.assertEqual(s.recv(), sp.Release(1))

        errs = []

        def refused():
            try:
                w.acquire("file", 2)
            except sp.LeaseRefused as e:
                errs.append(e)
        t = threading.Thread(target=refused, daemon=True)
        t.start()
        self.assertEqual(s.recv(), sp.Acquire(2, "file", 2))
        s.send(sp.Lease(2, "semaphore \"file\" has limit 1, not 2"))
        t.join(WAIT)
        self.assertIn("has limit 1, not 2", str(errs[0]))

        with self.assertRaises(TimeoutError):
            w.acquire("slow", 1, timeout=0.05)
        self.assertEqual(s.recv(), sp.Acquire(3, "slow", 1))
        self.assertEqual(s.recv(), sp.Release(3))  # withdrawn

        # A waiter when the supervisor goes: PeerGone, not a hang.
        errs = []

        def gone():
            try:
                w.acquire("never", 1)
            except EOFError as e:
                errs.append(e)
        t = threading.Thread(target=gone, daemon=True)
        t.start()
        self.assertEqual(s.recv(), sp.Acquire(4, "never", 1))
        s.close_write()
        t.join(WAIT)
        self.assertFalse(t.is_alive(), "acquire hangs after EOF")
        self.assertIsInstance(errs[0], sp.PeerGone)
        self.assertTrue(w.wait(WAIT))
        self.assertTrue(w.supervisor_gone)
        self.assertTrue(w.cancelled.is_set())
        w.close()

    def test_eof_ends_the_conversation(self):
        s = Supervisor(self)
        self.assertIsNone(s.connect())
        s.close_write()
        self.assertTrue(s.worker.wait(WAIT))
        self.assertTrue(s.worker.supervisor_gone)

    def test_malformed_frames_from_the_supervisor(self):
        # Every bad stream of the golden file, after the handshake: wait()
        # raises the right error, never hangs (the truncated ones end with EOF).
        with open(GOLDEN) as f:
            bad = json.load(f)["bad"]
        for e in bad:
            with self.subTest(e["name"]):
                s = Supervisor(self)
                self.assertIsNone(s.connect())
                s.send_raw(bytes.fromhex(e["hex"]))
                s.close_write()
                err = wait_raises(self, s.worker, ERRORS[e["error"]])
                self.assertTrue(str(err))
                s.worker.close()
                s.close()

    def test_oversized_frame_refused_without_waiting_for_it(self):
        # The writer stays open: the worker must refuse the declared length at
        # once, not wait for 2 MiB that never come.
        s = Supervisor(self)
        self.assertIsNone(s.connect())
        s.send_raw(b"\x00\x00\x20\x00\x06")
        err = wait_raises(self, s.worker, sp.FrameTooLarge)
        self.assertIn("exceeds the 1048576-byte limit", str(err))

    def test_wrong_direction(self):
        s = Supervisor(self)
        self.assertIsNone(s.connect())
        s.send(sp.Ready())
        err = wait_raises(self, s.worker, sp.UnexpectedMessage)
        self.assertIn("Ready from the supervisor", str(err))

    def test_handshake_errors(self):
        for ack, exc, text in (
            (sp.encode(sp.HelloAck(2)), sp.VersionMismatch, "protocol version 2, want 1"),
            (sp.encode(sp.Request(1, "echo", b"")), sp.UnexpectedMessage, "first frame is Request, want HelloAck"),
            (b"\x01\x00\x00\x00\x7f", sp.UnknownType, "unknown message type 0x7f"),
        ):
            with self.subTest(text):
                s = Supervisor(self)
                err = s.connect(ack)
                self.assertIsInstance(err, exc)
                self.assertIn(text, str(err))
                s.close()

    def test_handshake_eof(self):
        s = Supervisor(self)
        out = []
        t = threading.Thread(target=lambda: s._connect(out), daemon=True)
        t.start()
        self.assertEqual(type(s.recv()), sp.Hello)
        s.close_write()
        t.join(WAIT)
        self.assertIsInstance(out[0], sp.PeerGone)

    def test_not_a_pipe(self):
        with open(os.devnull, "rb") as f:
            w = sp.Worker(fd_in=f.fileno(), fd_out=f.fileno())
            with self.assertRaises(OSError) as cm:
                w.connect()
            self.assertIn("needs a pipe", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
