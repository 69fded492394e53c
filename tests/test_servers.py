"""Servers under hostile load: running out of descriptors or threads, idle and stalled
peers, a connection limit, memory per idle connection, shutdown with clients connected.

Loopback only; every test bounded in count and time (the slow side is always a peer that
does nothing, waited for with generous timeouts).
"""

import asyncio
import errno
import inspect
import logging
import os
import select
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import pytest

import pyframe
from pyframe import aio
from pyframe.sockets import (
    FRAME_TIMEOUT,
    IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    SHUTDOWN_TIMEOUT,
    TIMEOUT,
    FramedServer,
    FramedSocket,
    FrameTimeoutError,
    IdleTimeoutError,
    connect,
)

WAIT = 5.0  # seconds for anything that should happen promptly


def echo(conn):
    for frame in conn:
        conn.send(frame)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def read_frame(sock):
    """One length-prefixed frame from a raw socket (None at EOF)."""
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data[4:]


class Serving:
    """serve_forever() in a thread, for a with block; records whether it raised."""

    def __init__(self, server, handler):
        self.server = server
        self.raised = []
        self.thread = threading.Thread(target=self._run, args=(handler,), daemon=True)

    def _run(self, handler):
        try:
            self.server.serve_forever(handler)
        except BaseException as exc:
            self.raised.append(exc)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.close()
        self.thread.join(WAIT + 2)

    def stop(self):
        """shutdown(); how long serve_forever() took to return (None: it did not)."""
        start = time.monotonic()
        self.server.shutdown()
        self.thread.join(WAIT)
        return None if self.thread.is_alive() else time.monotonic() - start


def wait_for(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- running out of descriptors and threads ------------------------------------------------

SERVER_UNDER_RLIMIT = textwrap.dedent(
    """
    import importlib, resource, sys, threading
    from pyframe.sockets import FramedServer
    limit = int(sys.argv[2])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    framer = importlib.import_module(sys.argv[1]).LengthPrefixFramer
    server = FramedServer(("127.0.0.1", 0), framer)  # (no new keyword: runs on old versions)
    def echo(conn):
        for frame in conn:
            conn.send(frame)
    def stop():
        sys.stdin.read()  # the test closes stdin: stop
        server.shutdown()
    threading.Thread(target=stop, daemon=True).start()
    print(server.address[1], flush=True)
    server.serve_forever(echo)
    server.close()
    print("returned", flush=True)
    """
)


def test_serve_forever_survives_running_out_of_descriptors(impl, tmp_path):
    # The server process may hold 40 descriptors; 80 idle clients make accept() fail with
    # EMFILE. It must log, keep serving, and serve an honest client once they leave.
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_UNDER_RLIMIT, impl.__name__, "40"],
        cwd=tmp_path,  # (not the checkout: its unbuilt pyframe/ would shadow the package)
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    attackers = []
    try:
        port = int(proc.stdout.readline())
        for _ in range(80):
            attackers.append(socket.create_connection(("127.0.0.1", port), timeout=WAIT))
        time.sleep(0.5)  # let the server run into the limit
        assert proc.poll() is None
        for sock in attackers:
            sock.close()
        with connect(("127.0.0.1", port), impl.LengthPrefixFramer(), timeout=WAIT) as client:
            client.send(b"honest")
            assert client.recv() == b"honest"
        out, err = proc.communicate("", timeout=WAIT + 5)  # stdin closed: the server stops
    finally:
        for sock in attackers:
            sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == "returned"
    assert "Too many open files" in err  # logged, as a warning
    assert "Traceback" not in err


def test_shutdown_while_out_of_descriptors(impl, tmp_path):
    # shutdown() comes while accept() keeps failing with EMFILE (the back-off) and idle
    # clients hold every descriptor: serve_forever() returns promptly all the same.
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_UNDER_RLIMIT, impl.__name__, "40"],
        cwd=tmp_path,  # (not the checkout: its unbuilt pyframe/ would shadow the package)
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    attackers = []
    try:
        port = int(proc.stdout.readline())
        for _ in range(60):
            attackers.append(socket.create_connection(("127.0.0.1", port), timeout=WAIT))
        time.sleep(0.5)  # let the server run into the limit
        out, err = proc.communicate("", timeout=WAIT + 5)  # stdin closed: the server stops
    finally:
        for sock in attackers:
            sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == "returned"
    assert "Too many open files" in err


def test_serve_forever_survives_a_thread_that_cannot_start(impl, monkeypatch, caplog):
    server = FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer)
    original = threading.Thread.start
    failures = []

    def start(thread):
        if threading.current_thread() is serving.thread and len(failures) < 2:
            failures.append(thread)
            raise RuntimeError("can't start new thread")
        original(thread)

    serving = Serving(server, echo)
    with caplog.at_level(logging.WARNING, logger="pyframe"), serving:
        monkeypatch.setattr(threading.Thread, "start", start)
        for _ in range(2):  # closed by the server: it could not serve them
            with socket.create_connection(server.address, timeout=WAIT) as sock:
                sock.sendall(frame(b"lost"))
                try:
                    assert sock.recv(16) == b""
                except ConnectionResetError:
                    pass
        with connect(server.address, impl.LengthPrefixFramer(), timeout=WAIT) as client:
            client.send(b"served")
            assert client.recv() == b"served"
        assert not serving.raised
    assert len(failures) == 2
    assert "cannot start a handler thread" in caplog.text


def test_iterating_survives_running_out_of_descriptors(impl, caplog):
    server = FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer)
    real_accept = server.accept
    failures = []

    def accept():
        if len(failures) < 2:  # as accept() fails while descriptors run out
            failures.append(True)
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return real_accept()

    server.accept = accept
    with server, caplog.at_level(logging.WARNING, logger="pyframe"):
        with connect(server.address, impl.LengthPrefixFramer(), timeout=WAIT) as client:
            client.send(b"honest")
            conn = next(iter(server))
            with conn:
                assert conn.recv() == b"honest"
    assert len(failures) == 2
    assert "Too many open files" in caplog.text


# -- a connection limit -------------------------------------------------------------------


def test_connection_limit_leaves_clients_in_the_backlog(impl):
    server = FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer, max_connections=2)
    with Serving(server, echo):
        first = [connect(server.address, impl.LengthPrefixFramer(), timeout=WAIT) for _ in "ab"]
        for conn in first:
            conn.send(b"hi")
            assert conn.recv() == b"hi"
        assert server.connections == 2
        waiting = connect(server.address, impl.LengthPrefixFramer(), timeout=0.3)
        waiting.send(b"third")
        with pytest.raises(socket.timeout):  # not served, and not closed either
            waiting.recv()
        assert server.connections == 2
        first[0].close()  # a slot frees: the waiting client is accepted and served
        waiting.settimeout(WAIT)
        assert waiting.recv() == b"third"
        for conn in (*first, waiting):
            conn.close()


def test_connection_limit_must_be_positive(impl):
    with pytest.raises(ValueError, match="max_connections"):
        FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer, max_connections=0)


# -- idle and stalled peers ----------------------------------------------------------------


def test_server_defaults(impl):
    assert (IDLE_TIMEOUT, TIMEOUT, MAX_CONNECTIONS, SHUTDOWN_TIMEOUT) == (60.0, 60.0, 512, 10.0)
    assert FRAME_TIMEOUT == 120.0
    with FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer) as server:
        with socket.create_connection(server.address):
            conn, _ = server.accept()
            with conn:
                assert conn.idle_timeout == IDLE_TIMEOUT
                assert conn.gettimeout() == TIMEOUT
                assert conn.frame_timeout == FRAME_TIMEOUT


def test_idle_connection_times_out(impl):
    seen = []

    def handler(conn):
        try:
            conn.recv()
        except BaseException as exc:
            seen.append(exc)
            raise

    server = FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer, idle_timeout=0.2)
    with Serving(server, handler), socket.create_connection(server.address) as idle:
        idle.settimeout(WAIT)
        assert idle.recv(16) == b""  # closed by the server after the idle timeout
    assert len(seen) == 1 and isinstance(seen[0], IdleTimeoutError)
    assert isinstance(seen[0], socket.timeout)


def test_stalled_frame_times_out_and_keeps_its_bytes(impl):
    seen = []

    def handler(conn):
        try:
            conn.recv()
        except socket.timeout as exc:
            seen.append((exc, conn.framer.pending))
            raise

    server = FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer, timeout=0.2)
    with Serving(server, handler), socket.create_connection(server.address) as slow:
        slow.sendall(frame(b"0123456789")[:7])  # a header and 3 bytes, then nothing
        slow.settimeout(WAIT)
        assert slow.recv(16) == b""
    [(exc, pending)] = seen
    assert not isinstance(exc, IdleTimeoutError)  # a stalled frame, not an idle connection
    assert pending == 7


def test_idle_timeout_loses_nothing_and_the_connection_goes_on(impl):
    a, b = socket.socketpair()
    with FramedSocket(a, impl.LengthPrefixFramer(), idle_timeout=0.1) as conn, b:
        with pytest.raises(IdleTimeoutError):
            conn.recv()
        b.sendall(frame(b"late") + frame(b"later")[:5])
        assert conn.recv() == b"late"
        with pytest.raises(socket.timeout):  # inside a frame: the socket's timeout
            conn.settimeout(0.1)
            conn.recv()
        b.sendall(frame(b"later")[5:])
        assert conn.recv() == b"later"
        conn.idle_timeout = None
        b.close()
        assert conn.recv() is None


def test_send_timeout_mid_frame_ends_the_connection_quietly(impl, monkeypatch, caplog):
    # A peer that reads nothing: the send times out part-way through a large frame
    # (BrokenStreamError, caused by the timeout). Before: an unhandled exception in the
    # handler's thread (a traceback on stderr), not the DEBUG line a timeout gets.
    unhandled = []
    monkeypatch.setattr(threading, "excepthook", unhandled.append)
    server = FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer, timeout=0.3)

    def reply_big(conn):
        conn.recv()
        try:
            conn.send(b"x" * (4 << 20))
        finally:
            ended.append(conn.broken)

    ended = []

    with caplog.at_level(logging.DEBUG, logger="pyframe"), Serving(server, reply_big):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(server.address)
            sock.sendall(frame(b"go"))  # then never reads
            assert wait_for(lambda: ended) and ended == [True]
            assert wait_for(lambda: server.connections == 0)
            wait_for(lambda: unhandled, timeout=0.5)  # (the thread's end reports it after)
    assert not unhandled, unhandled[0].exc_value
    assert "connection closed" in caplog.text and "timed out" in caplog.text


# -- a peer that drips a frame ----------------------------------------------------------

DRIP_TIMEOUT = 1.0  # the servers' idle and read timeouts in the drip tests
DRIP_FOR = 4.0  # seconds a dripping client goes on unless the server cuts it off


def drip(address):
    """Send the header of a 1000-byte frame, then a byte every 0.7 * DRIP_TIMEOUT (each
    wait of the server shorter than its timeouts), for DRIP_FOR seconds at most. Returns
    (bytes sent, whether the server closed the connection meanwhile)."""
    with socket.create_connection(address) as sock:
        sock.sendall(struct.pack(">I", 1000))
        sent = 4
        end = time.monotonic() + DRIP_FOR
        while time.monotonic() < end:
            if select.select([sock], [], [], 0.7 * DRIP_TIMEOUT)[0]:  # the server sends nothing
                return sent, True  # but its close: EOF (or a reset)
            try:
                sock.send(b"x")
            except OSError:
                return sent, True
            sent += 1
        return sent, False


def test_slow_drip_frame_times_out(impl):
    seen = []

    def handler(conn):
        try:
            conn.recv()
        except socket.timeout as exc:
            seen.append((exc, conn.framer.pending))
            raise

    server = FramedServer(
        ("127.0.0.1", 0),
        impl.LengthPrefixFramer,
        timeout=DRIP_TIMEOUT,
        idle_timeout=DRIP_TIMEOUT,
        frame_timeout=1.5,
    )
    with Serving(server, handler):
        sent, closed = drip(server.address)
    assert closed, f"the server kept a dripping client for {DRIP_FOR} s ({sent} bytes)"
    [(exc, pending)] = seen
    assert isinstance(exc, FrameTimeoutError) and not isinstance(exc, IdleTimeoutError)
    assert 4 < pending <= sent  # every byte received is kept


@pytest.mark.parametrize("timeout", [None, WAIT])
def test_frame_timeout_keeps_the_bytes_and_reading_goes_on(impl, timeout):
    a, b = socket.socketpair()
    # were the deadline ignored, recv() would wait forever: end the stream after a while
    watchdog = threading.Timer(WAIT, b.shutdown, (socket.SHUT_WR,))
    watchdog.start()
    with FramedSocket(a, impl.LengthPrefixFramer(), frame_timeout=0.2) as conn, b:
        conn.settimeout(timeout)  # no limit, or each wait far longer than the frame's
        assert conn.frame_timeout == 0.2
        whole = frame(b"0123456789")
        b.sendall(whole[:7])
        with pytest.raises(FrameTimeoutError):
            conn.recv()
        assert conn.framer.pending == 7
        b.sendall(whole[7:] + whole[:2])
        assert conn.recv() == b"0123456789"  # reading on: the frame is whole
        with pytest.raises(FrameTimeoutError):  # the next frame, begun already, has its own
            conn.recv()
        conn.frame_timeout = None
        conn.settimeout(0.2)
        with pytest.raises(socket.timeout) as info:  # only the wait's own timeout now
            conn.recv()
        assert not isinstance(info.value, FrameTimeoutError)
        b.sendall(whole[2:])
        assert conn.recv() == b"0123456789"
        watchdog.cancel()
        b.close()
        assert conn.recv() is None


def test_idle_timeout_none_waits(impl):
    server = FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer, idle_timeout=None)
    with Serving(server, echo):
        with connect(server.address, impl.LengthPrefixFramer(), timeout=WAIT) as client:
            time.sleep(0.3)
            client.send(b"still here")
            assert client.recv() == b"still here"


# -- memory per idle connection ---------------------------------------------------------


def test_idle_connection_holds_no_read_buffer(impl):
    # Each connection receives one frame (the framer fills a read_size buffer), then idles.
    # Before: every idle connection kept its 128 KiB read buffer.
    count = 40
    server = FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer)
    clients = []
    with Serving(server, echo):
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(count):
                sock = socket.create_connection(server.address, timeout=WAIT)
                clients.append(sock)
                sock.sendall(frame(b"x" * 100))
                assert read_frame(sock) == b"x" * 100  # its handler waits for the next frame
            time.sleep(0.2)
            per_connection = (tracemalloc.get_traced_memory()[0] - before) / count
        finally:
            tracemalloc.stop()
            for sock in clients:
                sock.close()
    assert per_connection < 32 * 1024, per_connection


class NumberingFramer:
    """A framer of one's own with state across frames: it numbers the frames of a stream,
    and its reset() (the Framer protocol's: a new stream) starts again from 0."""

    def __init__(self, inner):
        self._inner = inner
        self.count = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    @property
    def pending(self):
        return self._inner.pending

    def _number(self, frames):
        numbered = [b"%d:" % (self.count + i) + f for i, f in enumerate(frames)]
        self.count += len(frames)
        return numbered

    def pop_frames(self):
        return self._number(self._inner.pop_frames())

    def next_frame(self):  # (FramedSocket.recv() and iteration take one frame at a time)
        frame = self._inner.next_frame()
        return None if frame is None else self._number([frame])[0]

    def eof(self):
        return self._number(self._inner.eof())

    def reset(self):
        self._inner.reset()
        self.count = 0


def test_idle_wait_keeps_the_state_of_a_framer_of_ones_own(impl):
    # Before: the wait between frames called reset() on any framer, so a user's framer
    # started a new stream after each idle moment (every frame here came out as "0:x").
    server = FramedServer(("127.0.0.1", 0), lambda: NumberingFramer(impl.LengthPrefixFramer()))
    with Serving(server, echo), socket.create_connection(server.address, timeout=WAIT) as sock:
        for i in range(3):
            sock.sendall(frame(b"x"))
            assert read_frame(sock) == b"%d:x" % i
            time.sleep(0.1)  # the handler waits for the next frame


# -- shutdown ---------------------------------------------------------------------------


def test_shutdown_closes_idle_connections_promptly(impl):
    # (the default idle timeout, far longer than this test, and no new keyword: this test
    # fails on versions before the fix by its assertion, not by a TypeError)
    server = FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer)
    clients = []
    try:
        with Serving(server, echo) as serving:
            for _ in range(30):
                conn = connect(server.address, impl.LengthPrefixFramer(), timeout=WAIT)
                clients.append(conn)
                conn.send(b"hello")
                assert conn.recv() == b"hello"
            took = serving.stop()
            assert took is not None, "serve_forever() still waits for idle clients"
            for conn in clients:
                assert conn.recv() is None  # closed by the server, cleanly
    finally:
        for conn in clients:
            conn.close()


def test_shutdown_bounds_a_busy_handler(impl):
    seen = []

    def handler(conn):
        try:
            conn.recv()
        except Exception as exc:
            seen.append(exc)

    server = FramedServer(
        ("127.0.0.1", 0), impl.LengthPrefixFramer, timeout=None, shutdown_timeout=0.2
    )
    with Serving(server, handler) as serving, socket.create_connection(server.address) as busy:
        busy.sendall(frame(b"0123456789")[:6])  # the handler waits inside a frame
        assert wait_for(lambda: server.connections == 1)
        time.sleep(0.1)
        assert serving.stop() is not None
    [exc] = seen  # the partial frame is reported, not dropped silently
    assert isinstance(exc, pyframe.IncompleteFrameError)
    assert exc.partial == frame(b"0123456789")[:6]


def test_shutdown_lets_a_busy_handler_finish(impl):
    done = threading.Event()

    def handler(conn):
        conn.recv()
        time.sleep(0.3)
        conn.send(b"finished")
        done.set()

    server = FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer)
    with Serving(server, handler) as serving:
        with connect(server.address, impl.LengthPrefixFramer(), timeout=WAIT) as client:
            client.send(b"work")
            assert wait_for(lambda: server.connections == 1)
            assert serving.stop() is not None
            assert done.is_set()
            assert client.recv() == b"finished"


def test_serve_forever_can_run_again_after_shutdown(impl):
    server = FramedServer(("127.0.0.1", 0), impl.LengthPrefixFramer)
    try:
        for _ in range(2):
            serving = Serving(server, echo)
            serving.thread.start()
            with connect(server.address, impl.LengthPrefixFramer(), timeout=WAIT) as client:
                client.send(b"again")
                assert client.recv() == b"again"
                assert serving.stop() is not None
            assert not serving.raised
    finally:
        server.close()


@pytest.mark.skipif(os.name != "posix", reason="AF_UNIX")
def test_unix_server_closes_idle_connections_on_shutdown(impl, tmp_path):
    path = str(tmp_path / "s")
    server = FramedServer(path, impl.LengthPrefixFramer)
    with Serving(server, echo) as serving:
        with connect(path, impl.LengthPrefixFramer(), timeout=WAIT) as client:
            client.send(b"x")
            assert client.recv() == b"x"
            assert serving.stop() is not None
            assert client.recv() is None


def later(delay, func, *args):
    """Call func(*args) in delay seconds from a timer thread (started; returned to join)."""
    timer = threading.Timer(delay, func, args)
    timer.start()
    return timer


def test_frame_deadline_starts_at_the_first_byte(impl):
    # A receive waiting longer than frame_timeout for a frame to begin is not the peer's
    # fault: the deadline counts from the first byte the receive holds.
    a, b = socket.socketpair()
    with FramedSocket(a, impl.LengthPrefixFramer(), frame_timeout=1.0) as conn, b:
        conn.settimeout(WAIT)
        whole = frame(b"0123456789")
        timers = [later(1.5, b.sendall, whole[:5]), later(1.7, b.sendall, whole[5:])]
        assert conn.recv() == b"0123456789"
        for timer in timers:
            timer.join()


def test_frame_deadline_resets_for_each_frame(impl):
    # Two frames, each whole within frame_timeout, the second ending later than the
    # first's deadline: each frame has a deadline of its own.
    a, b = socket.socketpair()
    with FramedSocket(a, impl.LengthPrefixFramer(), frame_timeout=1.0) as conn, b:
        conn.settimeout(WAIT)
        first, second = frame(b"first....."), frame(b"second....")
        b.sendall(first[:5])
        timers = [
            later(0.7, b.sendall, first[5:] + second[:5]),
            later(1.4, b.sendall, second[5:]),
        ]
        assert conn.recv() == b"first....."
        assert conn.recv() == b"second...."
        for timer in timers:
            timer.join()


def test_frame_deadline_is_not_left_over_from_a_framer_error(impl):
    # Before: a frame refused with on_error="raise" left its deadline set, and the next
    # frame, sent promptly long after, timed out at once.
    a, b = socket.socketpair()
    framer = impl.LengthPrefixFramer(max_frame_size=16, on_error="raise")
    with FramedSocket(a, framer, frame_timeout=0.5) as conn, b:
        conn.settimeout(WAIT)
        bad = struct.pack(">I", 100) + b"z" * 100
        b.sendall(bad[:2])
        timer = later(0.1, b.sendall, bad[2:])
        with pytest.raises(pyframe.FrameError):
            conn.recv()
        timer.join()
        time.sleep(0.7)  # past the refused frame's deadline
        whole = frame(b"0123456789")
        b.sendall(whole[:5])
        timer = later(0.1, b.sendall, whole[5:])
        assert conn.recv() == b"0123456789"
        timer.join()


def test_frame_deadline_does_not_run_after_a_socket_timeout(impl):
    # After the socket's own timeout, the time the caller spends before it reads on is not
    # the peer's (README): the frame's deadline starts again with the next receive.
    a, b = socket.socketpair()
    with FramedSocket(a, impl.LengthPrefixFramer(), frame_timeout=1.0) as conn, b:
        conn.settimeout(0.3)
        whole = frame(b"0123456789")
        b.sendall(whole[:5])
        with pytest.raises(socket.timeout) as info:
            conn.recv()
        assert not isinstance(info.value, FrameTimeoutError)
        time.sleep(1.2)  # the handler does something else: past the frame's first deadline
        conn.settimeout(WAIT)
        timer = later(0.1, b.sendall, whole[5:])
        assert conn.recv() == b"0123456789"
        timer.join()


def test_frame_deadline_holds_after_shutdown(impl):
    # Before: once the server shut down, a receive inside a frame waited for the socket's
    # timeout only, so a dripping peer kept the handler (and serve_forever) going.
    seen, conns = [], []

    def handler(conn):
        conns.append(conn)
        try:
            conn.recv()
        except Exception as exc:
            seen.append(exc)

    server = FramedServer(
        ("127.0.0.1", 0),
        impl.LengthPrefixFramer,
        timeout=WAIT,
        frame_timeout=0.5,
        shutdown_timeout=None,
    )
    with Serving(server, handler):
        with socket.create_connection(server.address) as client:
            client.sendall(struct.pack(">I", 100) + b"x")
            assert wait_for(lambda: conns and conns[0].framer.pending)
            stopper = threading.Thread(target=server.shutdown)
            stopper.start()
            end = time.monotonic() + 3.0
            while not seen and time.monotonic() < end:  # a byte every 0.2 s
                time.sleep(0.2)
                try:
                    client.sendall(b"y")
                except OSError:
                    break
        stopper.join(WAIT)
    [exc] = seen
    assert isinstance(exc, FrameTimeoutError), repr(exc)


def tls_pair():
    """A connected (server ssl.SSLSocket, client raw socket, client TLS object, its out
    BIO): the client writes records into the BIO and sends their bytes as it likes."""
    trustme = pytest.importorskip("trustme")
    import ssl

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    a, raw = socket.socketpair()
    a.settimeout(WAIT)
    raw.settimeout(WAIT)
    accepted = []
    thread = threading.Thread(
        target=lambda: accepted.append(server_ctx.wrap_socket(a, server_side=True))
    )
    thread.start()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            incoming.write(raw.recv(65536))
    raw.sendall(outgoing.read())
    thread.join(WAIT)
    [server] = accepted
    return server, raw, tls, outgoing


def test_frame_deadline_bounds_a_partial_tls_record(impl):
    # Before: part of a TLS record made the raw socket readable, and the TLS read then
    # waited for the rest of the record up to the socket's timeout, deadline or not (a peer
    # dripping records kept a frame open). After: FrameTimeoutError at the deadline, and a
    # read that goes on loses nothing of the record.
    server, raw, tls, outgoing = tls_pair()
    with FramedSocket(server, impl.LengthPrefixFramer(), frame_timeout=0.5) as conn, raw:
        whole = frame(b"0123456789")
        tls.write(whole[:7])
        raw.sendall(outgoing.read())  # the frame begins
        tls.write(whole[7:])
        record = outgoing.read()
        raw.sendall(record[:5])  # part of the next record only
        with pytest.raises(FrameTimeoutError):
            conn.recv()  # (before: socket.timeout after WAIT s)
        assert conn.framer.pending == 7
        raw.sendall(record[5:])
        assert conn.recv() == b"0123456789"


# -- the asyncio servers ------------------------------------------------------------------


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """Run a coroutine on a fresh loop of the kind under test, bounded in time."""
    if request.param == "uvloop":
        if sys.platform == "win32":
            pytest.skip("uvloop does not exist on Windows")
        import uvloop

        make_loop = uvloop.new_event_loop
    else:
        make_loop = asyncio.new_event_loop

    def runner(coro):
        loop = make_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, 3 * WAIT))
        finally:
            loop.close()

    return runner


async def aio_server(handler, impl, **kw):
    server = await aio.start_server(
        handler, "127.0.0.1", 0, framer_factory=impl.LengthPrefixFramer, **kw
    )
    port = server.sockets[0].getsockname()[1]

    def open_():
        return aio.open_connection("127.0.0.1", port, framer=impl.LengthPrefixFramer())

    return server, port, open_


async def aio_echo(reader, writer):
    async for frame in reader:
        writer.write_frame(frame)
        await writer.drain()
    writer.close()


def test_aio_server_defaults():
    for start in (aio.start_server, aio.start_unix_server):
        params = inspect.signature(start).parameters
        assert params["idle_timeout"].default == IDLE_TIMEOUT
        assert params["read_timeout"].default == TIMEOUT
        assert params["write_timeout"].default == TIMEOUT
        assert params["frame_timeout"].default == FRAME_TIMEOUT
        assert params["max_connections"].default == MAX_CONNECTIONS


def test_aio_slow_drip_frame_times_out(impl, run):
    seen = []

    async def handler(reader, writer):
        try:
            await reader.read_frame()
        except socket.timeout as exc:
            seen.append((exc, reader.framer.pending))
            raise

    async def main():
        server, port, _ = await aio_server(
            handler,
            impl,
            idle_timeout=DRIP_TIMEOUT,
            read_timeout=DRIP_TIMEOUT,
            frame_timeout=1.5,
        )
        async with server:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, drip, ("127.0.0.1", port))

    sent, closed = run(main())
    assert closed, f"the server kept a dripping client for {DRIP_FOR} s ({sent} bytes)"
    [(exc, pending)] = seen
    assert isinstance(exc, FrameTimeoutError) and not isinstance(exc, IdleTimeoutError)
    assert 4 < pending <= sent


def test_aio_frame_timeout_can_be_caught_and_reading_goes_on(impl, run):
    seen = []

    async def handler(reader, writer):
        try:
            await reader.read_frame()
        except FrameTimeoutError:
            seen.append(reader.framer.pending)
            timed_out.set()
        writer.write_frame(await reader.read_frame())  # reading on: the frame, completed
        writer.close()

    async def main():
        nonlocal timed_out
        timed_out = asyncio.Event()
        server, _, open_ = await aio_server(handler, impl, read_timeout=WAIT, frame_timeout=0.2)
        async with server:
            reader, writer = await open_()
            whole = impl.LengthPrefixFramer().encode(b"0123456789")
            writer.transport.write(whole[:7])
            await asyncio.wait_for(timed_out.wait(), WAIT)
            writer.transport.write(whole[7:])
            assert await asyncio.wait_for(reader.read_frame(), WAIT) == b"0123456789"
            writer.close()

    timed_out = None
    run(main())
    assert seen == [7]


@pytest.mark.parametrize("ended_by", ["cancellation", "read_timeout"])
def test_aio_frame_deadline_is_not_left_over_from_an_ended_wait(impl, run, ended_by):
    # Before: a wait ended by an exception kept its frame's deadline; that frame then came
    # while nobody waited, and the next frame, sent promptly, inherited the old deadline.
    seen = []

    async def handler(reader, writer):
        while reader.framer.pending < 7:  # the wait below begins inside the first frame
            await asyncio.sleep(0.01)
        try:
            if ended_by == "cancellation":
                await asyncio.wait_for(reader.read_frame(), 0.3)
            else:
                await reader.read_frame()
        except (asyncio.TimeoutError, socket.timeout):
            first_ended.set()
        await asyncio.wait_for(first_sent.wait(), WAIT)
        await asyncio.sleep(1.2)  # busy: the first frame comes, its deadline passes
        seen.append(await reader.read_frame())
        second_wanted.set()
        try:
            seen.append(await reader.read_frame())
        except socket.timeout as exc:
            seen.append(exc)
        writer.close()

    async def main():
        nonlocal first_ended, first_sent, second_wanted
        first_ended, first_sent, second_wanted = (asyncio.Event() for _ in range(3))
        read_timeout = 0.3 if ended_by == "read_timeout" else WAIT
        server, _, open_ = await aio_server(
            handler, impl, read_timeout=read_timeout, frame_timeout=1.0
        )
        async with server:
            reader, writer = await open_()
            first, second = frame(b"first....."), frame(b"second....")
            writer.transport.write(first[:7])
            await asyncio.wait_for(first_ended.wait(), WAIT)
            writer.transport.write(first[7:] + second[:7])  # the second frame begins
            first_sent.set()
            await asyncio.wait_for(second_wanted.wait(), WAIT)
            await asyncio.sleep(0.2)
            writer.transport.write(second[7:])
            assert await asyncio.wait_for(reader.read_frame(), WAIT) is None
            writer.close()

    first_ended = first_sent = second_wanted = None
    run(main())
    assert seen == [b"first.....", b"second...."]


def test_aio_frame_deadline_does_not_run_after_a_read_timeout(impl, run):
    # As for FramedSocket: after a read_timeout the handler caught, the time it spends
    # before it reads on is not the peer's; the frame gets a fresh frame_timeout.
    seen = []

    async def handler(reader, writer):
        while reader.framer.pending < 7:  # the wait below begins inside the frame
            await asyncio.sleep(0.01)
        try:
            await reader.read_frame()
        except socket.timeout as exc:
            seen.append(exc)
        await asyncio.sleep(1.2)  # busy: past the frame's first deadline
        reading_on.set()
        try:
            seen.append(await reader.read_frame())
        except socket.timeout as exc:
            seen.append(exc)
        writer.close()

    async def main():
        nonlocal reading_on
        reading_on = asyncio.Event()
        server, _, open_ = await aio_server(handler, impl, read_timeout=0.3, frame_timeout=1.0)
        async with server:
            reader, writer = await open_()
            whole = frame(b"0123456789")
            writer.transport.write(whole[:7])
            await asyncio.wait_for(reading_on.wait(), WAIT)
            await asyncio.sleep(0.2)
            writer.transport.write(whole[7:])
            assert await asyncio.wait_for(reader.read_frame(), WAIT) is None
            writer.close()

    reading_on = None
    run(main())
    [timeout, got] = seen
    assert isinstance(timeout, socket.timeout) and not isinstance(timeout, FrameTimeoutError)
    assert got == b"0123456789"


def test_aio_idle_connection_times_out(impl, run):
    seen = []

    async def handler(reader, writer):
        try:
            await reader.read_frame()
        except BaseException as exc:
            seen.append(exc)
            raise

    async def main():
        server, port, _ = await aio_server(handler, impl, idle_timeout=0.2)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(16), WAIT) == b""  # closed by the server
            writer.close()

    run(main())
    assert len(seen) == 1 and isinstance(seen[0], IdleTimeoutError)


def test_aio_stalled_frame_times_out_and_keeps_its_bytes(impl, run):
    seen = []

    async def handler(reader, writer):
        try:
            await reader.read_frame()
        except socket.timeout as exc:
            seen.append((exc, reader.framer.pending))
            raise

    async def main():
        server, port, _ = await aio_server(handler, impl, read_timeout=0.2)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(frame(b"0123456789")[:7])
            assert await asyncio.wait_for(reader.read(16), WAIT) == b""
            writer.close()

    run(main())
    [(exc, pending)] = seen
    assert not isinstance(exc, IdleTimeoutError)
    assert pending == 7


def test_aio_timeout_can_be_caught_and_reading_goes_on(impl, run):
    got = []

    async def handler(reader, writer):
        while True:
            try:
                got.append(await reader.read_frame())  # the connection is still there
                break
            except IdleTimeoutError as exc:
                got.append(exc)
        writer.close()

    async def main():
        server, _, open_ = await aio_server(handler, impl, idle_timeout=0.2)
        async with server:
            reader, writer = await open_()
            await asyncio.sleep(0.5)
            writer.write_frame(b"late")
            assert await asyncio.wait_for(reader.read_frame(), WAIT) is None
            writer.close()

    run(main())
    assert got[-1] == b"late"
    assert got[:-1] and all(isinstance(exc, IdleTimeoutError) for exc in got[:-1])


def test_aio_connection_limit_holds_the_next_client(impl, run):
    async def main():
        server, _, open_ = await aio_server(aio_echo, impl, max_connections=2)
        async with server:
            first = [await open_() for _ in "ab"]
            for reader, writer in first:
                writer.write_frame(b"hi")
                assert await asyncio.wait_for(reader.read_frame(), WAIT) == b"hi"
            reader, writer = await open_()
            writer.write_frame(b"third")
            reply = asyncio.ensure_future(reader.read_frame())
            done, _ = await asyncio.wait({reply}, timeout=0.3)
            assert not done  # not served yet (and not closed either)
            first[0][1].close()  # a slot frees: the held client is served
            assert await asyncio.wait_for(reply, WAIT) == b"third"
            for _, w in (*first, (reader, writer)):
                w.close()

    run(main())


def test_aio_idle_connection_holds_no_read_buffer(impl, run):
    count = 40

    async def main():
        server, port, _ = await aio_server(aio_echo, impl)
        clients = []
        async with server:
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                for _ in range(count):
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    clients.append(writer)
                    writer.write(frame(b"x" * 100))
                    assert await asyncio.wait_for(reader.readexactly(104), WAIT)
                await asyncio.sleep(1.5)  # idle for more than a tick: buffers given back
                per_connection = (tracemalloc.get_traced_memory()[0] - before) / count
            finally:
                tracemalloc.stop()
                for writer in clients:
                    writer.close()
        return per_connection

    per_connection = run(main())
    assert per_connection < 32 * 1024, per_connection


def test_aio_close_ends_idle_connections_promptly(impl, run):
    ended = []

    async def handler(reader, writer):
        async for frame in reader:
            writer.write_frame(frame)
        ended.append(True)  # a clean end: the server closes the connection

    async def main():
        server, _, open_ = await aio_server(handler, impl, idle_timeout=None, read_timeout=None)
        clients = [await open_() for _ in range(20)]
        for reader, writer in clients:
            writer.write_frame(b"hi")
            assert await asyncio.wait_for(reader.read_frame(), WAIT) == b"hi"
        server.close()
        for reader, _ in clients:  # each one closed by the server, cleanly
            assert await asyncio.wait_for(reader.read_frame(), WAIT) is None
        await asyncio.wait_for(server.wait_closed(), WAIT)
        for _, writer in clients:
            writer.close()

    run(main())
    assert len(ended) == 20


def test_aio_idle_wait_keeps_the_state_of_a_framer_of_ones_own(impl, run, monkeypatch):
    # Before: an idle tick called reset() on any framer (a new stream: "0:x" again).
    monkeypatch.setattr(aio, "_TICK", 0.05)

    async def main():
        server = await aio.start_server(
            aio_echo,
            "127.0.0.1",
            0,
            framer_factory=lambda: NumberingFramer(impl.LengthPrefixFramer()),
        )
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for i in range(3):
                writer.write(frame(b"x"))
                reply = b"%d:x" % i
                assert await asyncio.wait_for(reader.readexactly(4 + len(reply)), WAIT) == (
                    frame(reply)
                )
                await asyncio.sleep(0.3)  # several idle ticks
            writer.close()

    run(main())


def test_aio_peer_that_does_not_read_times_out(impl, run):
    # Before: drain() waited for ever on a peer that reads nothing (no write timeout), and
    # the handler and connection with it.
    outcome, writers = [], []

    async def handler(reader, writer):
        writers.append(writer)
        await reader.read_frame()
        try:
            for _ in range(10_000):  # far more than the socket buffers hold
                writer.write_frame(b"x" * 65536)
                await writer.drain()
        except BaseException as exc:
            outcome.append(exc)
            raise

    async def main():
        server, port, _ = await aio_server(handler, impl, write_timeout=0.3)
        async with server:
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.connect(("127.0.0.1", port))
                sock.sendall(frame(b"go"))  # then never reads
                deadline = time.monotonic() + WAIT
                while not outcome and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                # the connection ends (its unsent bytes dropped), though the peer still
                # reads nothing: close() would wait for ever to flush them
                await asyncio.wait_for(writers[0].wait_closed(), WAIT)

    run(main())
    assert len(outcome) == 1 and isinstance(outcome[0], socket.timeout), outcome


def test_aio_connections_past_the_limit_and_the_queue_are_refused(impl, run, caplog):
    # Before: every connection past max_connections was accepted and held, without bound:
    # a flood used up the server's descriptors.
    async def main():
        server, _, open_ = await aio_server(aio_echo, impl, max_connections=1, backlog=2)
        async with server:
            clients = [await open_() for _ in range(3)]  # one served, two held
            await asyncio.sleep(0.1)
            refused_reader, refused_writer = await open_()
            assert await asyncio.wait_for(refused_reader.read_frame(), WAIT) is None
            refused_writer.close()
            for reader, writer in clients:  # each served in turn once the one before leaves
                writer.write_frame(b"hi")
                assert await asyncio.wait_for(reader.read_frame(), WAIT) == b"hi"
                writer.close()

    with caplog.at_level(logging.WARNING, logger="pyframe"):
        run(main())
    assert "refusing more" in caplog.text


def test_aio_tls_server_serves_held_clients_without_warnings(impl, run, caplog):
    # Over TLS too, a held client is served once a slot frees. Before: every TLS peer's
    # close logged asyncio's WARNING "returning true from eof_received() has no effect
    # when using ssl" (the half-close that eof_received() asks for does not exist there).
    trustme = pytest.importorskip("trustme")
    import ssl

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def main():
        server = await aio.start_server(
            aio_echo,
            "127.0.0.1",
            0,
            framer_factory=impl.LengthPrefixFramer,
            max_connections=1,
            ssl=server_ctx,
        )
        port = server.sockets[0].getsockname()[1]
        async with server:
            clients = [
                await aio.open_connection(
                    "127.0.0.1",
                    port,
                    framer=impl.LengthPrefixFramer(),
                    ssl=client_ctx,
                    server_hostname="localhost",
                )
                for _ in range(2)
            ]
            for reader, writer in clients:  # the second is held until the first leaves
                writer.write_frame(b"hi")
                assert await asyncio.wait_for(reader.read_frame(), WAIT) == b"hi"
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), WAIT)
            await asyncio.sleep(0.2)  # the server sees both closes

    with caplog.at_level(logging.WARNING):
        run(main())
    assert "eof_received" not in caplog.text
