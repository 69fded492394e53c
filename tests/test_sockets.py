"""pyframe.sockets on real connections (loopback TCP, AF_UNIX), on both framer twins.

Every test takes the ``impl`` fixture (tests/conftest.py), so it runs once with the pure-Python
twin and once with the compiled module. All traffic stays on 127.0.0.1 / ::1 / temporary
AF_UNIX paths; every loop is bounded and every socket has a timeout.
"""

import array
import os
import random
import select
import selectors
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import pyframe
from pyframe.sockets import BrokenStreamError, FramedServer, FramedSocket, connect

TIMEOUT = 20  # seconds: a hung test fails instead of hanging the run


# -- helpers -------------------------------------------------------------------------


def framers(impl):
    """One framer of each kind, as (name, factory)."""
    return [
        ("length4", lambda: impl.LengthPrefixFramer(4, max_frame_size=2 << 20)),
        ("length2le", lambda: impl.LengthPrefixFramer(2, "little")),
        ("decimal", lambda: impl.DecimalLengthFramer(8, max_frame_size=2 << 20)),
        ("delimiter", lambda: impl.DelimiterFramer((b"\r\n", b"\0"))),
        ("line", lambda: impl.LineFramer()),
    ]


def pair(impl_framer_factory, family=socket.AF_UNIX):
    a, b = socket.socketpair(family)
    a.settimeout(TIMEOUT)
    b.settimeout(TIMEOUT)
    return FramedSocket(a, impl_framer_factory()), FramedSocket(b, impl_framer_factory())


class Rechunker:
    """A loopback proxy that re-chunks both directions at random: it merges what arrives
    in several reads into one send, and splits what it has into sends of random sizes
    (down to single bytes), so sticky and split packets are certain."""

    def __init__(self, upstream, family, seed):
        self.upstream = upstream
        self.family = family
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.threads = []
        if family == socket.AF_UNIX:
            self.tmp = tempfile.mkdtemp()
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(os.path.join(self.tmp, "proxy.sock"))
        else:
            self.listener = socket.socket(family, socket.SOCK_STREAM)
            self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(TIMEOUT)
        self.address = self.listener.getsockname()
        self.chunks = 0
        self.accepter = threading.Thread(target=self._accept_loop, daemon=True)
        self.accepter.start()

    def _accept_loop(self):
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            up = socket.socket(self.family, socket.SOCK_STREAM)
            up.connect(self.upstream)
            for s in (up, down):
                s.settimeout(TIMEOUT)
                if self.family != socket.AF_UNIX:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                seed = self.rng.random()
            for src, dst, k in ((down, up, 0), (up, down, 1)):
                t = threading.Thread(
                    target=self._pump, args=(src, dst, random.Random(seed + k)), daemon=True
                )
                t.start()
                self.threads.append(t)

    def _pump(self, src, dst, rng):
        buf = bytearray()
        try:
            while True:
                data = src.recv(rng.choice((1, 7, 100, 4096, 65536, 262144)))
                if data:
                    buf += data
                    # merge: when more is already on its way, sometimes read it first
                    if (
                        len(buf) < 200000
                        and rng.random() < 0.5
                        and select.select([src], [], [], 0.001)[0]
                    ):
                        continue
                while buf:
                    n = min(len(buf), rng.choice((1, 3, 64, 1500, 16384, 200000)))
                    dst.sendall(buf[:n])
                    del buf[:n]
                    self.chunks += 1
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
        except OSError:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()
        for t in self.threads:
            t.join(TIMEOUT)


@pytest.fixture(params=["tcp", "unix"])
def family(request):
    return socket.AF_INET if request.param == "tcp" else socket.AF_UNIX


@pytest.fixture
def address(family, tmp_path):
    """A listening address for FramedServer in the family under test."""
    if family == socket.AF_UNIX:
        return str(tmp_path / "server.sock")
    return ("127.0.0.1", 0)


def echo_handler(conn):
    for frame in conn:
        conn.send(frame)


def serve_in_thread(server, handler=echo_handler):
    thread = threading.Thread(target=server.serve_forever, args=(handler,), daemon=True)
    thread.start()
    return thread


class CountingSocket(socket.socket):
    """A socket that counts recv_into calls (and remembers what each returned), and
    remembers the buffers given to sendmsg and the data given to send."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recv_calls = 0
        self.received = []  # what each recv_into returned
        self.sendmsg_calls = []
        self.send_calls = []

    def recv_into(self, *args):
        self.recv_calls += 1
        n = super().recv_into(*args)
        self.received.append(n)
        return n

    def sendmsg(self, buffers, *args):
        buffers = list(buffers)
        self.sendmsg_calls.append(buffers)
        return super().sendmsg(buffers, *args)

    def send(self, data, *args):
        self.send_calls.append(bytes(data))
        return super().send(data, *args)


def counting_pair(family=None):
    if family == "tcp":  # loopback TCP: one recv may return megabytes
        with socket.create_server(("127.0.0.1", 0)) as listener:
            a = socket.create_connection(listener.getsockname())
            b, _ = listener.accept()
    else:
        a, b = socket.socketpair()
    ca = CountingSocket(a.family, a.type, a.proto, a.detach())
    cb = CountingSocket(b.family, b.type, b.proto, b.detach())
    ca.settimeout(TIMEOUT)
    cb.settimeout(TIMEOUT)
    return ca, cb


# -- basic behaviour --------------------------------------------------------------


def test_roundtrip_every_framer_over_a_server(impl, address):
    for name, factory in framers(impl):
        payloads = [
            b"",
            b"a",
            b"hello world",
            bytes(range(1, 256)).replace(b"\r", b"").replace(b"\n", b"") * 50,
        ]
        with FramedServer(address, factory) as server:
            thread = serve_in_thread(server)
            with connect(server.address, factory(), timeout=TIMEOUT) as conn:
                assert conn.socket.type == socket.SOCK_STREAM
                assert type(conn.framer).__module__ == impl.__name__
                for p in payloads:
                    conn.send(p)
                    assert conn.recv() == p, name
                conn.send_many(payloads)
                assert [conn.recv() for _ in payloads] == payloads, name
                conn.shutdown()
                assert conn.recv() is None
                assert conn.recv() is None  # still None: the stream stays ended
                assert conn.at_eof
            server.shutdown()
            thread.join(TIMEOUT)
            assert not thread.is_alive()


def test_unix_server_removes_its_socket_file(impl, tmp_path):
    path = str(tmp_path / "s.sock")
    with FramedServer(path, impl.LineFramer):
        assert os.path.exists(path)
    assert not os.path.exists(path)


@pytest.mark.parametrize("stop", ["shutdown", "close"])
def test_stop_before_serve_forever_is_not_lost(impl, address, stop):
    with FramedServer(address, impl.LineFramer) as server:
        getattr(server, stop)()  # before serve_forever() has started
        thread = serve_in_thread(server)
        thread.join(TIMEOUT)
        assert not thread.is_alive(), f"serve_forever() missed an early {stop}()"


def test_serve_forever_again_after_a_shutdown(impl, address):
    with FramedServer(address, impl.LineFramer) as server:
        server.shutdown()
        first = serve_in_thread(server)
        first.join(TIMEOUT)  # returns at once
        assert not first.is_alive()
        thread = serve_in_thread(server)  # this run waits for a new shutdown()
        with connect(server.address, impl.LineFramer(), timeout=TIMEOUT) as conn:
            conn.send(b"still serving")
            assert conn.recv() == b"still serving"
        assert thread.is_alive()
        server.shutdown()
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def test_close_while_serving(impl, address):
    server = FramedServer(address, impl.LineFramer)
    thread = serve_in_thread(server)
    with connect(server.address, impl.LineFramer(), timeout=TIMEOUT) as conn:
        conn.send(b"x")
        assert conn.recv() == b"x"
    server.close()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    server.close()  # twice is harmless
    server.serve_forever(echo_handler)  # a closed server serves nothing: returns at once


def test_ipv6_loopback(impl):
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6 support")
    try:
        server = FramedServer(("::1", 0), impl.LengthPrefixFramer)
    except OSError as exc:  # an IPv6-less kernel or container
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with server:
        thread = serve_in_thread(server)
        with connect(server.address[:2], impl.LengthPrefixFramer(), timeout=TIMEOUT) as conn:
            assert conn.socket.family == socket.AF_INET6
            conn.send(b"v6")
            assert conn.recv() == b"v6"
        server.shutdown()
        thread.join(TIMEOUT)


def test_datagram_sockets_are_refused(impl):
    for family in (socket.AF_INET, socket.AF_UNIX):
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            with pytest.raises(ValueError, match=r"SOCK_STREAM.*SOCK_DGRAM"):
                FramedSocket(s, impl.LengthPrefixFramer())
    with pytest.raises(TypeError):
        FramedSocket(object(), impl.LengthPrefixFramer())


def test_buffered_frames_are_served_without_a_syscall(impl):
    a, b = counting_pair()
    framer = impl.LengthPrefixFramer()
    a.sendall(framer.encode_many([b"one", b"", b"three"]))
    conn = FramedSocket(b, impl.LengthPrefixFramer())
    assert conn.recv() == b"one"
    assert b.recv_calls == 1
    assert conn.recv() == b""
    assert conn.recv() == b"three"
    assert b.recv_calls == 1
    a.close()
    assert conn.recv() is None
    assert b.recv_calls == 2
    b.close()


def test_send_hands_a_large_payload_itself_to_sendmsg(impl):
    a, b = counting_pair()
    conn = FramedSocket(a, impl.LengthPrefixFramer())
    payload = bytearray(os.urandom(100000))
    conn.send(payload)
    (buffers,) = a.sendmsg_calls[:1]
    assert len(buffers) == 2
    assert bytes(buffers[0]) == struct.pack(">I", len(payload))
    assert isinstance(buffers[1], memoryview) and buffers[1].obj is payload  # not a copy
    assert a.send_calls == []
    line = FramedSocket(b, impl.LineFramer())
    words = array.array("i", [0x11223344]) * 3000  # 12000 bytes in items of 4, no newline
    line.send(words)
    view, trailer = b.sendmsg_calls[0]
    assert view.obj is words and view.nbytes == 12000 and bytes(trailer) == b"\n"
    reader = FramedSocket(b, impl.LengthPrefixFramer())
    assert reader.recv() == payload
    assert a.recv(12001, socket.MSG_WAITALL) == words.tobytes() + b"\n"
    a.close()
    b.close()


def test_send_encodes_a_small_payload_into_one_buffer(impl):
    a, b = counting_pair()
    for factory in (impl.LengthPrefixFramer, impl.LineFramer):
        conn = FramedSocket(a, factory())
        for payload in (b"", b"abc", bytearray(b"x" * 8192), memoryview(b"y" * 300)[100:]):
            a.send_calls.clear()
            conn.send(payload)
            assert a.send_calls == [factory().encode(payload)]  # one call, header joined
            assert a.sendmsg_calls == []
            assert b.recv(10000, socket.MSG_WAITALL) == factory().encode(payload)
    a.close()
    b.close()


def test_send_many_joins_small_payloads_into_one_buffer(impl):
    a, b = counting_pair()
    for factory in (impl.LengthPrefixFramer, impl.LineFramer):
        conn = FramedSocket(a, factory())
        payloads = [b"%d" % i for i in range(1000)]
        a.send_calls.clear()
        conn.send_many(payloads)
        wire = factory().encode_many(payloads)
        assert a.send_calls == [wire]  # one encode_many(), one system call
        assert a.sendmsg_calls == []
        assert b.recv(len(wire), socket.MSG_WAITALL) == wire
    a.close()
    b.close()


def test_send_many_with_a_framer_of_its_own(impl):
    """A framer that is not pyframe's (only the Framer protocol's methods) is served by
    the same send_many(): small payloads joined, a large one uncopied."""

    class Framer:  # pyframe's methods, and nothing private
        def __init__(self):
            self._inner = impl.LengthPrefixFramer()

        def __getattr__(self, name):
            if name.startswith("_"):
                raise AttributeError(name)
            return getattr(self._inner, name)

    a, b = counting_pair()
    conn = FramedSocket(a, Framer())
    small, large = [b"x", b"yy"], b"L" * 20000
    conn.send_many(small)
    assert a.send_calls == [impl.LengthPrefixFramer().encode_many(small)]
    conn.send_many([*small, large])
    wire = impl.LengthPrefixFramer().encode_many([*small, *small, large])
    assert b.recv(len(wire), socket.MSG_WAITALL) == wire
    a.close()
    b.close()


def test_encode_many_below_tells_a_large_payload(impls):
    for module in impls.values():
        framer = module.LengthPrefixFramer()
        items = [b"a", bytearray(b"bb"), memoryview(b"ccc")]
        assert framer._encode_many_below(items, 3) == framer.encode_many(items)
        assert framer._encode_many_below(items, 2) is None
        assert framer._encode_many_below([], 0) == b""


def test_send_many_sends_a_big_batch_of_small_frames_as_one_buffer(impl):
    a, b = counting_pair()
    conn = FramedSocket(a, impl.LengthPrefixFramer())
    payloads = [bytes([i % 251]) * 1000 for i in range(3000)]  # 3 MB of small frames
    reader = FramedSocket(b, impl.LengthPrefixFramer())
    got = []
    t = threading.Thread(target=lambda: got.extend(reader.recv() for _ in payloads))
    t.start()
    conn.send_many(payloads)
    t.join(TIMEOUT)
    assert got == payloads
    assert a.sendmsg_calls == []
    wire = impl.LengthPrefixFramer().encode_many(payloads)
    assert a.send_calls[0] == wire  # one buffer; later calls send what the kernel left
    assert all(wire.endswith(rest) for rest in a.send_calls[1:])
    a.close()
    b.close()


def test_send_many_sends_large_payloads_uncopied(impl):
    a, b = counting_pair()
    conn = FramedSocket(a, impl.LengthPrefixFramer())
    big = bytearray(os.urandom(50000))
    payloads = [b"one", b"two", big, b"three"]
    conn.send_many(iter(payloads))  # any iterable
    (buffers,) = a.sendmsg_calls
    assert [bytes(x) for x in buffers] == [
        impl.LengthPrefixFramer().encode_many([b"one", b"two"]),
        struct.pack(">I", len(big)),
        big,
        impl.LengthPrefixFramer().encode(b"three"),
    ]
    assert buffers[2].obj is big  # not a copy
    reader = FramedSocket(b, impl.LengthPrefixFramer())
    assert [reader.recv() for _ in payloads] == payloads
    a.close()
    b.close()


def test_send_many_keeps_no_view_when_a_payload_is_refused(impl):
    """Every payload is encoded before the first byte is sent: when one is refused, the
    views of the large ones before it are released (the caller may resize them while the
    error and its traceback live)."""
    a, b = counting_pair()
    conn = FramedSocket(a, impl.LineFramer())
    big = bytearray(b"x" * 50000)
    with pytest.raises(ValueError, match="delimiter") as info:
        conn.send_many([big, b"a\nb"])
    big.clear()  # (BufferError while a view of it is alive)
    assert info.value.__traceback__ is not None and a.sendmsg_calls == []
    a.close()
    b.close()


def test_recv_takes_at_most_read_size_per_call(impl):
    a, b = counting_pair()
    payloads = [os.urandom(i % 50) for i in range(20000)]
    wire = impl.LengthPrefixFramer().encode_many(payloads)
    t = threading.Thread(target=a.sendall, args=(wire,))
    t.start()
    conn = FramedSocket(b, impl.LengthPrefixFramer(), read_size=1000)
    got = []
    while len(got) < len(payloads):
        got += conn.recv_many()
    t.join(TIMEOUT)
    assert got == payloads
    assert max(b.received) == 1000  # the framer lends more room than that
    a.close()
    b.close()


def test_an_idle_framed_socket_holds_a_small_buffer(impl):
    a, b = counting_pair("tcp")
    payloads = [b"x" * 15] * 200000  # 3.8 MB of small frames, sent at once
    wire = impl.LengthPrefixFramer().encode_many(payloads)
    t = threading.Thread(target=a.sendall, args=(wire,))
    t.start()
    conn = FramedSocket(b, impl.LengthPrefixFramer())
    n = 0
    while n < len(payloads):
        n += len(conn.recv_many())
    t.join(TIMEOUT)
    assert max(b.received) <= pyframe.sockets.READ_SIZE <= 128 * 1024
    with conn.framer.get_buffer(1) as room:  # all the room the framer holds
        assert len(room) <= 256 * 1024
    conn.framer.buffer_updated(0)
    a.close()
    b.close()


def test_send_many_uses_few_syscalls_and_keeps_order(impl):
    a, b = counting_pair()
    conn = FramedSocket(a, impl.LengthPrefixFramer())
    rng = random.Random(5)
    payloads = [rng.randbytes(rng.choice((0, 5, 3000, 70000))) for _ in range(300)]
    reader = FramedSocket(b, impl.LengthPrefixFramer())
    got = []
    t = threading.Thread(target=lambda: got.extend(reader.recv() for _ in payloads))
    t.start()
    conn.send_many(payloads)
    t.join(TIMEOUT)
    assert got == payloads
    assert len(a.sendmsg_calls) < 30  # one call per IOV_MAX buffers, plus partial sends
    conn.send_many([])  # nothing to send is fine
    a.close()
    b.close()


def test_invalid_payload_is_refused_before_anything_is_sent(impl):
    a, b = socket.socketpair()
    conn = FramedSocket(a, impl.LineFramer())
    with pytest.raises(ValueError, match="delimiter"):
        conn.send(b"two\nlines")
    with pytest.raises(ValueError, match="delimiter"):
        conn.send_many([b"fine", b"not\nfine"])
    conn.send(b"ok")
    a.close()
    b.settimeout(TIMEOUT)
    assert b.recv(100) == b"ok\n"  # nothing from the refused calls went out
    b.close()


def test_iteration_stopped_early_loses_nothing(impl):
    left, right = pair(impl.LengthPrefixFramer)
    left.send_many([b"%d" % i for i in range(10)])
    left.close()
    got = []
    for frame in right:
        got.append(frame)
        if len(got) == 3:
            break
    assert right.recv() == b"3"
    got += [b"3"] + list(right)
    assert got == [b"%d" % i for i in range(10)]
    assert right.recv() is None


def test_context_manager_closes(impl):
    left, right = pair(impl.LineFramer)
    with left as conn:
        assert conn is left
    assert left.closed and left.socket.fileno() == -1
    assert right.recv() is None
    right.close()


# -- the first attempt at a small send, without releasing the GIL ---------------------


def nowait_expected():
    """Whether this run's FramedSocket tries small sends without releasing the GIL: where
    pyframe runs compiled and sends can be told not to wait (not on Windows)."""
    return pyframe.IMPLEMENTATION == "cython" and sys.platform != "win32"


class SendSpy:
    """Records what socket.socket.send() is asked to send (FramedSocket's usual way)."""

    def __init__(self, monkeypatch):
        self.calls = []
        real = socket.socket.send

        def send(sock, data, *args):
            self.calls.append(bytes(data))
            return real(sock, data, *args)

        monkeypatch.setattr(socket.socket, "send", send)


def test_the_compiled_send_that_does_not_wait_is_used_where_it_exists(impl):
    # a run with the compiled module must not fall back silently to the slower way
    if nowait_expected():
        assert pyframe.sockets._SEND_NOWAIT is pyframe._cframers._send_nowait is not None
    else:
        assert pyframe.sockets._SEND_NOWAIT is None


@pytest.mark.parametrize("nowait", [True, False])
def test_a_small_send_makes_one_call_of_the_kind_it_should(impl, monkeypatch, nowait):
    if not nowait:
        monkeypatch.setattr(pyframe.sockets, "_SEND_NOWAIT", None)
    spy = SendSpy(monkeypatch)
    a, b = socket.socketpair()
    b.settimeout(TIMEOUT)
    conn = FramedSocket(a, impl.LengthPrefixFramer())
    small, large = b"x" * 1000, b"y" * 8000  # a batch above 16 KiB takes the usual way
    conn.send(small)
    conn.send_many([small] * 2)
    conn.send_many([large] * 3)
    direct = nowait and nowait_expected()
    wire = conn.framer.encode(small)
    many = conn.framer.encode_many([large] * 3)
    assert spy.calls == ([many] if direct else [wire, wire + wire, many])
    got = b.recv(len(wire) * 3, socket.MSG_WAITALL) + b.recv(len(many), socket.MSG_WAITALL)
    assert got == wire * 3 + many
    a.close()
    b.close()


def nowait_or_skip():
    if not nowait_expected():
        pytest.skip("the compiled module's send_nowait: not in this run (checked above)")
    return pyframe._cframers._send_nowait


def test_send_nowait_sends_what_the_kernel_takes_at_once(impl):
    send_nowait = nowait_or_skip()
    a, b = socket.socketpair()
    b.settimeout(TIMEOUT)
    log = []
    assert send_nowait(a, b"hello", log) is True
    assert log == [5]
    assert b.recv(5) == b"hello"
    big = os.urandom(8 << 20)  # more than the socket buffers hold: part of it goes
    log = []
    assert send_nowait(a, big, log) is False
    assert len(log) == 1 and 0 < log[0] < len(big)
    assert b.recv(log[0], socket.MSG_WAITALL) == big[: log[0]]
    fill_send_buffer(a)
    a.setblocking(True)  # a blocking socket: still no wait, nothing taken, nothing logged
    log = []
    started = time.monotonic()
    assert send_nowait(a, b"more", log) is False
    assert log == [] and time.monotonic() - started < 1.0
    with pytest.raises(TypeError):
        send_nowait(a, bytearray(b"x"), [])
    b.close()
    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        for _ in range(1000):  # the first send after the peer closed may still be taken
            send_nowait(a, b"x", [])
    a.close()
    assert send_nowait(a, b"x", []) is False  # a closed socket: the usual way raises


class Interrupt(Exception):
    """Raised by the SIGALRM handler of the tests below (and by stand-ins for one)."""


def taking(taken, then=None):
    """A stand-in for the compiled send_nowait: the kernel takes ``taken`` bytes at once
    (then ``then`` is raised, as a signal handler's exception would be)."""

    def send_nowait(sock, data, log):
        n = sock.send(data[:taken]) if taken else 0
        if n:
            log.append(n)
        if then is not None:
            raise then
        return n == len(data)

    return send_nowait


@pytest.mark.parametrize("timeout", [None, 5.0, 0.0])
@pytest.mark.parametrize("taken", [0, 1, 700])
def test_a_send_the_kernel_takes_in_part_goes_on_the_usual_way(impl, monkeypatch, timeout, taken):
    monkeypatch.setattr(pyframe.sockets, "_SEND_NOWAIT", taking(taken))
    spy = SendSpy(monkeypatch)
    a, b = socket.socketpair()
    a.settimeout(timeout)
    b.settimeout(TIMEOUT)
    conn = FramedSocket(a, impl.LengthPrefixFramer())
    payloads = [os.urandom(1000), b"next"]
    for payload in payloads:
        conn.send(payload)
    assert not conn.broken and conn.unsent == 0
    wire = b"".join(map(conn.framer.encode, payloads))
    assert b.recv(len(wire), socket.MSG_WAITALL) == wire  # nothing lost, nothing twice
    assert b"".join(spy.calls) == wire  # (the stand-in's sends included)
    a.close()
    b.close()


@pytest.mark.parametrize("taken", [0, 7])
def test_an_exception_after_the_first_attempt_breaks_the_stream_only_if_bytes_went(
    impl, monkeypatch, taken
):
    monkeypatch.setattr(pyframe.sockets, "_SEND_NOWAIT", taking(taken, Interrupt()))
    a, b = socket.socketpair()
    conn = FramedSocket(a, impl.LengthPrefixFramer())
    with pytest.raises(Interrupt):
        conn.send(b"payload")
    assert conn.broken == bool(taken)
    a.close()
    b.close()


def test_a_full_send_buffer_refuses_a_small_frame_whole(impl):
    """Non-blocking, and the kernel takes nothing: BlockingIOError, the stream intact."""
    a, b = socket.socketpair()
    fill_send_buffer(a)
    conn = FramedSocket(a, impl.LengthPrefixFramer())
    with pytest.raises(BlockingIOError):
        conn.send(b"small")
    assert not conn.broken and conn.unsent == 0
    a.close()
    b.close()


class _OwnEncoding:
    """A framer of one's own: pyframe's length prefix, its encode() returning another
    bytes-like type (the Framer protocol says bytes; the usual way sends any buffer)."""

    def __init__(self, base, wrap):
        self._base, self._wrap = base, wrap

    def __getattr__(self, name):
        return getattr(self._base, name)

    def encode(self, payload):
        return self._wrap(self._base.encode(payload))


class _BytesSubclass(bytes):
    pass


@pytest.mark.parametrize("wrap", [bytearray, memoryview, _BytesSubclass])
def test_a_framer_of_ones_own_may_encode_to_any_bytes_like(impl, wrap):
    # the compiled first attempt takes exactly bytes: anything else goes the usual way,
    # as it does without the compiled module
    a, b = socket.socketpair()
    b.settimeout(TIMEOUT)
    framer = impl.LengthPrefixFramer()
    conn = FramedSocket(a, _OwnEncoding(framer, wrap))
    conn.send(b"hello")
    wire = framer.encode(b"hello")
    assert b.recv(len(wire), socket.MSG_WAITALL) == wire
    a.close()
    b.close()


def test_a_socket_subclass_is_sent_to_through_its_own_send(impl):
    """A subclass may change what send() does (count, throttle, encrypt): never bypassed."""
    seen = []

    class Counting(socket.socket):
        def send(self, data, *args):
            seen.append(bytes(data))
            return super().send(data, *args)

    a, b = socket.socketpair()
    counting = Counting(a.family, a.type, fileno=a.detach())
    b.settimeout(TIMEOUT)
    conn = FramedSocket(counting, impl.LengthPrefixFramer())
    conn.send(b"small")
    wire = conn.framer.encode(b"small")
    assert seen == [wire]
    assert b.recv(len(wire), socket.MSG_WAITALL) == wire
    counting.close()
    b.close()


# -- ends of streams ------------------------------------------------------------


@pytest.mark.parametrize("where", ["between", "header", "payload"])
def test_peer_closes(impl, where, family):
    if family == socket.AF_UNIX:
        a, b = socket.socketpair()
    else:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            a = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
            b, _ = listener.accept()
    b.settimeout(TIMEOUT)
    framer = impl.LengthPrefixFramer()
    wire = framer.encode(b"first") + framer.encode(b"") + framer.encode(b"second!")
    cut = {"between": len(wire), "header": len(wire) + 2, "payload": len(wire) + 4 + 3}[where]
    a.sendall((wire + framer.encode(b"unfinished"))[:cut])
    a.close()
    conn = FramedSocket(b, impl.LengthPrefixFramer())
    assert [conn.recv(), conn.recv(), conn.recv()] == [b"first", b"", b"second!"]
    if where == "between":
        assert conn.recv() is None
    else:
        with pytest.raises(pyframe.IncompleteFrameError) as info:
            conn.recv()
        assert isinstance(info.value, EOFError)
        expected = framer.encode(b"unfinished")[: cut - len(wire)]
        assert info.value.partial == expected
        with pytest.raises(pyframe.IncompleteFrameError):
            conn.recv()  # the stream stays failed: never a silent None
    conn.close()


def test_iteration_ends_cleanly_or_raises_mid_frame(impl):
    left, right = pair(impl.LineFramer)
    left.send_many([b"a", b"b"])
    left.socket.sendall(b"no newline")
    left.close()
    got = []
    with pytest.raises(pyframe.IncompleteFrameError) as info:
        for frame in right:
            got.append(frame)
    assert got == [b"a", b"b"]
    assert info.value.partial == b"no newline"


def test_peer_reset(impl):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = connect(listener.getsockname(), impl.LengthPrefixFramer(), timeout=TIMEOUT)
        peer, _ = listener.accept()
    peer.sendall(impl.LengthPrefixFramer().encode(b"before"))
    assert client.recv() == b"before"
    peer.sendall(b"\x00\x00\x00\x10part")
    time.sleep(0.05)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()  # SO_LINGER 0: the peer sends RST
    with pytest.raises(ConnectionResetError):
        for _ in range(3):  # the kernel may first deliver the bytes that arrived before
            client.recv()
    with pytest.raises(ConnectionError):  # the dead connection cannot carry frames
        for _ in range(3):
            client.send(b"x")
    client.close()


def test_send_to_a_closed_peer(impl):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = connect(listener.getsockname(), impl.LengthPrefixFramer(), timeout=TIMEOUT)
        peer, _ = listener.accept()
    peer.close()
    error = None
    for _ in range(200):  # the first sends may still be accepted by the kernel
        try:
            client.send(b"payload" * 100)
        except ConnectionError as exc:
            error = exc
            break
        time.sleep(0.01)
    assert isinstance(error, (BrokenPipeError, ConnectionResetError)), error
    assert client.broken
    with pytest.raises(BrokenStreamError, match="connection was lost"):
        client.send(b"again")
    client.close()


# -- timeouts, non-blocking, signals ------------------------------------------------


def test_timeout_mid_frame_then_resume(impl):
    for name, factory in framers(impl):
        a, b = socket.socketpair()
        b.settimeout(0.1)
        conn = FramedSocket(b, factory())
        wire = factory().encode(b"x" * 5000)
        for cut in (1, len(wire) // 2, len(wire) - 1):
            a.sendall(wire[:cut])
            with pytest.raises(socket.timeout):
                conn.recv()
            assert conn.framer.pending == cut, name  # nothing lost
            with pytest.raises(socket.timeout):
                conn.recv()  # again: still nothing lost, nothing duplicated
            a.sendall(wire[cut:])
            assert conn.recv() == b"x" * 5000, name
        a.close()
        assert conn.recv() is None
        b.close()


def test_nonblocking_receive_with_selectors(impl, self_checking):
    for name, factory in framers(impl):
        rng = random.Random(name)
        payloads = [
            self_checking.payload(rng, rng.randrange(0, 5000))
            .replace(b"\n", b"")
            .replace(b"\0", b"")
            .replace(b"\r", b"")
            for _ in range(300)
        ]
        wire = factory().encode_many(payloads)
        a, b = socket.socketpair()
        b.setblocking(False)
        conn = FramedSocket(b, factory())

        def writer():
            pos = 0
            while pos < len(wire):
                n = rng.choice((1, 2, 10, 1000, 50000))
                a.sendall(wire[pos : pos + n])
                pos += n
                if rng.random() < 0.1:
                    time.sleep(0.001)
            a.close()

        t = threading.Thread(target=writer)
        t.start()
        got, done, would_block = [], False, 0
        deadline = time.monotonic() + TIMEOUT
        with selectors.DefaultSelector() as sel:
            sel.register(conn, selectors.EVENT_READ)
            while not done and time.monotonic() < deadline:
                sel.select(1.0)
                while True:
                    try:
                        frame = conn.recv()
                    except BlockingIOError:
                        would_block += 1
                        break
                    if frame is None:
                        done = True
                        break
                    got.append(frame)
        t.join(TIMEOUT)
        assert done, name
        assert got == payloads, name
        assert would_block > 0
        b.close()


def test_nonblocking_send_keeps_the_rest_for_flush(impl):
    a, b = socket.socketpair()
    a.setblocking(False)
    sender = FramedSocket(a, impl.LengthPrefixFramer(max_frame_size=None))
    big = os.urandom(8 << 20)  # far more than the socket buffers hold
    sender.send(big)  # accepted whole; the kernel took only part of it
    assert 0 < sender.unsent < len(big) + 4
    with pytest.raises(BlockingIOError):
        sender.send(b"next")  # refused: the previous frame is not out yet
    b.settimeout(TIMEOUT)
    receiver = FramedSocket(b, impl.LengthPrefixFramer(max_frame_size=None))
    got = []
    t = threading.Thread(target=lambda: got.extend([receiver.recv(), receiver.recv()]))
    t.start()
    with selectors.DefaultSelector() as sel:
        sel.register(a, selectors.EVENT_WRITE)
        for _ in range(100000):
            if sender.flush():
                break
            sel.select(1.0)
    assert sender.unsent == 0
    for _ in range(100000):  # a non-blocking send may refuse until there is room
        try:
            sender.send(b"next")
            break
        except BlockingIOError:
            time.sleep(0.001)
    t.join(TIMEOUT)
    assert got == [big, b"next"]
    assert not sender.broken
    a.close()
    b.close()


def fill_send_buffer(sock):
    """Fill ``sock``'s send path until the kernel takes not even one byte."""
    sock.setblocking(False)
    for size in (1 << 20, 65536, 4096, 256, 16, 1):
        while True:
            try:
                sock.send(b"\0" * size)
            except BlockingIOError:
                break


def test_timeout_before_the_first_byte_keeps_the_stream_usable(impl):
    a, b = socket.socketpair()
    fill_send_buffer(a)
    a.settimeout(0.1)
    conn = FramedSocket(a, impl.LengthPrefixFramer())
    with pytest.raises(socket.timeout):
        conn.send(b"small")
    assert not conn.broken
    a.close()
    b.close()


def test_send_many_interrupted_mid_batch_breaks_the_stream(impl):
    a, b = socket.socketpair()
    a.settimeout(0.2)
    conn = FramedSocket(a, impl.LengthPrefixFramer())
    batch = [b"y" * 1000] * 16000  # 16 MB of small frames: more than the socket buffers hold
    with pytest.raises(BrokenStreamError, match="interrupted after") as info:
        conn.send_many(batch)
    assert isinstance(info.value.__cause__, socket.timeout)
    assert conn.broken
    with pytest.raises(BrokenStreamError):
        conn.send(b"small")
    a.close()
    b.close()


def _raise_interrupt(*_):
    raise Interrupt


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
@pytest.mark.parametrize("timeout", [None, 5.0])
@pytest.mark.parametrize("how", ["send", "send_many"])
def test_signal_handler_exception_mid_frame_breaks_the_stream(impl, timeout, how):
    assert threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGALRM, _raise_interrupt)
    a, b = socket.socketpair()
    try:
        a.settimeout(timeout)
        conn = FramedSocket(a, impl.LengthPrefixFramer(max_frame_size=None))
        signal.setitimer(signal.ITIMER_REAL, 0.2)  # the peer reads nothing: the send waits
        with pytest.raises(Interrupt):  # the handler's exception, as it is
            if how == "send":
                conn.send(b"x" * (16 << 20))
            else:
                conn.send_many([b"x" * 1000] * 16000)
        assert conn.broken  # part of a frame went out
        b.settimeout(0.5)
        with pytest.raises(BrokenStreamError, match="Interrupt"):
            conn.send(b"small")  # refused: never appended after part of a frame
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        a.close()
        b.close()


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
@pytest.mark.parametrize("timeout", [None, 5.0])
def test_signal_mid_send_to_a_reading_tcp_peer_breaks_the_stream(impl, timeout):
    # The reported case: a 32 MiB frame over TCP to a peer that reads (slowly, so that the
    # send is still going when the signal comes), Ctrl-C's handler raising mid-send.
    assert threading.current_thread() is threading.main_thread()
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    peer, _ = listener.accept()
    listener.close()
    received = []
    stop = threading.Event()

    def read_slowly():
        peer.settimeout(TIMEOUT)
        while not stop.is_set():
            data = peer.recv(65536)
            if not data:
                return
            received.append(len(data))
            time.sleep(0.005)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    old = signal.signal(signal.SIGALRM, _raise_interrupt)
    try:
        client.settimeout(timeout)
        conn = FramedSocket(client, impl.LengthPrefixFramer(max_frame_size=None))
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Interrupt):
            conn.send(b"x" * (32 << 20))
        stop.set()
        assert conn.broken
        assert sum(received) < 4 + (32 << 20)  # the peer holds part of the frame at most
        with pytest.raises(BrokenStreamError, match="Interrupt"):
            conn.send(b"small")  # refused: the peer never reads it as the frame's tail
        with pytest.raises(BrokenStreamError):
            conn.send_many([b"a", b"b"])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        stop.set()
        client.close()
        reader.join(TIMEOUT)
        peer.close()


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
@pytest.mark.parametrize("timeout", [None, 5.0])
def test_signal_handler_exception_before_the_first_byte_keeps_the_stream(impl, timeout):
    assert threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGALRM, _raise_interrupt)
    a, b = socket.socketpair()
    try:
        fill_send_buffer(a)
        a.settimeout(timeout)
        conn = FramedSocket(a, impl.LengthPrefixFramer())
        signal.setitimer(signal.ITIMER_REAL, 0.2)  # while send() waits for room
        with pytest.raises(Interrupt):
            conn.send(b"small")
        assert not conn.broken  # nothing of the frame went out
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        a.close()
        b.close()


def test_send_interrupted_mid_frame_breaks_the_stream(impl):
    a, b = socket.socketpair()
    a.settimeout(0.2)
    conn = FramedSocket(a, impl.LengthPrefixFramer(max_frame_size=None))
    with pytest.raises(BrokenStreamError, match="interrupted after") as info:
        conn.send(b"x" * (16 << 20))  # the peer reads nothing: the send times out part-way
    assert isinstance(info.value.__cause__, socket.timeout)
    assert conn.broken
    with pytest.raises(BrokenStreamError, match="out of sync"):
        conn.send(b"small")  # never appended after half a frame
    with pytest.raises(BrokenStreamError):
        conn.send_many([b"a", b"b"])
    a.close()
    b.close()


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_signals_during_recv_and_send_are_retried(impl):
    assert threading.current_thread() is threading.main_thread()
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *_: hits.append(1))
    try:
        left, right = pair(impl.LengthPrefixFramer, socket.AF_UNIX)
        big = os.urandom(8 << 20)

        def peer():
            time.sleep(0.3)
            left.send(b"late")
            assert left.recv() == big

        t = threading.Thread(target=peer)
        t.start()
        signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
        assert right.recv() == b"late"  # interrupted many times while waiting
        right.send(big)  # interrupted while the peer drains it
        signal.setitimer(signal.ITIMER_REAL, 0)
        t.join(TIMEOUT)
        assert len(hits) >= 3
        assert not right.broken
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_framing_fault_after_good_frames(impl):
    left, right = pair(lambda: impl.LengthPrefixFramer(max_frame_size=100))
    left.socket.sendall(left.framer.encode(b"ok") + struct.pack(">I", 1 << 30))
    assert right.recv() == b"ok"
    with pytest.raises(pyframe.FrameTooLargeError):
        right.recv()
    with pytest.raises(pyframe.FrameTooLargeError):
        right.recv()  # failed until the framer is reset
    left.close()
    right.close()


# -- reliability: many clients, random sizes, a re-chunking proxy -------------------------


def test_concurrent_clients_through_a_rechunking_proxy(impl, family, address, self_checking):
    clients, frames_per_client = 4, 500
    factory = lambda: impl.LengthPrefixFramer(max_frame_size=(1 << 20) + 8)  # noqa: E731
    with FramedServer(address, factory) as server:
        serve_thread = serve_in_thread(server)
        proxy = Rechunker(server.address, family, seed=11)
        errors, results = [], {}

        def client(k):
            rng = random.Random(1000 + k)
            payloads = [
                self_checking.payload(rng, self_checking.size(rng))
                for _ in range(frames_per_client)
            ]
            conn = connect(proxy.address, factory(), timeout=TIMEOUT)
            try:
                sender = threading.Thread(
                    target=conn.send_many if k % 2 else lambda ps: [conn.send(p) for p in ps],
                    args=(payloads,),
                )
                sender.start()
                got = []
                for _ in payloads:
                    got.append(conn.recv())
                sender.join(TIMEOUT)
                conn.shutdown()
                end = conn.recv()
                results[k] = (payloads, got, end)
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        proxy.close()
        server.shutdown()
        serve_thread.join(TIMEOUT)
    assert not errors, errors
    assert sorted(results) == list(range(clients))
    sizes = []
    for k, (payloads, got, end) in results.items():
        assert end is None
        assert len(got) == len(payloads)
        for i, (sent, received) in enumerate(zip(payloads, got)):
            assert received == sent, (k, i, len(sent), len(received))
            if len(received) >= 8:  # the checksum travels inside the frame
                assert self_checking.intact(received)
        sizes += [len(p) for p in payloads]
    assert 0 in sizes and max(sizes) >= 500000
    assert proxy.chunks > clients * frames_per_client  # the proxy really re-chunked


def test_every_framer_through_the_rechunking_proxy(impl, family, address, self_checking):
    for name, factory in framers(impl):
        rng = random.Random(name)
        payloads = []
        for _ in range(300):
            p = self_checking.payload(rng, rng.randrange(0, 3000))
            if name in ("delimiter", "line"):
                p = p.replace(b"\n", b"-").replace(b"\r", b"-").replace(b"\0", b"-")
            if name == "length2le":
                p = p[:65535]
            payloads.append(p)
        with FramedServer(address, factory) as server:
            serve_thread = serve_in_thread(server)
            proxy = Rechunker(server.address, family, seed=3)
            with connect(proxy.address, factory(), timeout=TIMEOUT) as conn:
                sender = threading.Thread(target=conn.send_many, args=(payloads,))
                sender.start()
                got = [conn.recv() for _ in payloads]
                sender.join(TIMEOUT)
                conn.shutdown()
                assert conn.recv() is None
            proxy.close()
            server.shutdown()
            serve_thread.join(TIMEOUT)
        assert got == payloads, name


# -- interop with peers nobody here wrote ----------------------------------------------


def asyncio_peer(mode):
    """An asyncio server in a thread that echoes frames using StreamReader.readexactly
    (4-byte big-endian lengths) or readuntil (lines)."""
    import asyncio

    ready = threading.Event()
    state = {}

    async def handle(reader, writer):
        try:
            while True:
                if mode == "length":
                    try:
                        header = await reader.readexactly(4)
                    except asyncio.IncompleteReadError:
                        break
                    (n,) = struct.unpack(">I", header)
                    body = await reader.readexactly(n)
                    writer.write(struct.pack(">I", n) + body[::-1])
                else:
                    try:
                        line = await reader.readuntil(b"\n")
                    except asyncio.IncompleteReadError:
                        break
                    writer.write(line[:-1][::-1] + b"\n")
                await writer.drain()
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=1 << 21)
        state["address"] = server.sockets[0].getsockname()
        state["stop"] = asyncio.Event()
        state["loop"] = asyncio.get_running_loop()
        ready.set()
        async with server:
            await state["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(TIMEOUT)

    def stop():
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(TIMEOUT)

    return state["address"], stop


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory):
    """(server, client) SSL contexts over a throwaway self-signed certificate."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    where = tmp_path_factory.mktemp("tls")
    cert, key = str(where / "cert.pem"), str(where / "key.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key]
        + ["-out", cert, "-days", "1", "-subj", "/CN=localhost"],
        check=True,
        capture_output=True,
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cert)
    return server, client


def test_tls_sockets(impl, tls_contexts):
    """An ssl.SSLSocket has no sendmsg and takes no send flags: small and large frames,
    one by one and in batches, still go through."""
    server_ctx, client_ctx = tls_contexts
    a, b = socket.socketpair()
    a.settimeout(TIMEOUT)
    b.settimeout(TIMEOUT)
    accepted = []
    t = threading.Thread(target=lambda: accepted.append(server_ctx.wrap_socket(b, True)))
    t.start()
    client = client_ctx.wrap_socket(a, server_hostname="localhost")
    t.join(TIMEOUT)
    (server,) = accepted
    sender = FramedSocket(client, impl.LengthPrefixFramer(max_frame_size=None))
    receiver = FramedSocket(server, impl.LengthPrefixFramer(max_frame_size=None))
    payloads = [b"", b"small", os.urandom(100000), b"x" * 8192, os.urandom(3 << 20)]
    got = []
    t = threading.Thread(target=lambda: got.extend(receiver.recv() for _ in range(10)))
    t.start()
    for payload in payloads:
        sender.send(payload)
    sender.send_many(payloads)
    t.join(TIMEOUT)
    assert got == payloads * 2
    assert not sender.broken
    client.close()
    server.close()


def test_tls_idle_wait_sees_bytes_the_ssl_layer_holds(impl, tls_contexts):
    """Between frames an idle_timeout waits for the socket to be readable: bytes already
    decrypted and held by the SSL object must count, though the kernel has none."""
    server_ctx, client_ctx = tls_contexts
    a, b = socket.socketpair()
    a.settimeout(TIMEOUT)
    b.settimeout(TIMEOUT)
    accepted = []
    t = threading.Thread(target=lambda: accepted.append(server_ctx.wrap_socket(b, True)))
    t.start()
    client = client_ctx.wrap_socket(a, server_hostname="localhost")
    t.join(TIMEOUT)
    (server,) = accepted
    # reads of exactly one frame: the second frame of the record stays in the SSL object
    receiver = FramedSocket(server, impl.LengthPrefixFramer(), read_size=8, idle_timeout=2.0)
    client.sendall(struct.pack(">I", 4) + b"one." + struct.pack(">I", 4) + b"two.")
    assert receiver.recv() == b"one."
    assert receiver.recv() == b"two."  # not an IdleTimeoutError after 2 s
    client.close()
    server.close()


@pytest.mark.parametrize("mode", ["length", "line"])
def test_interop_with_asyncio_streams(impl, mode):
    address, stop = asyncio_peer(mode)
    try:
        factory = impl.LengthPrefixFramer if mode == "length" else impl.LineFramer
        rng = random.Random(mode)
        payloads = [
            rng.randbytes(rng.randrange(0, 20000)).replace(b"\n", b"").replace(b"\r", b"")
            for _ in range(200)
        ]
        with connect(address, factory(), timeout=TIMEOUT) as conn:
            t = threading.Thread(target=conn.send_many, args=(payloads,))
            t.start()
            got = [conn.recv() for _ in payloads]
            t.join(TIMEOUT)
            conn.shutdown()
            assert conn.recv() is None
        assert got == [p[::-1] for p in payloads]
    finally:
        stop()


@pytest.mark.parametrize("mode", ["length", "line"])
def test_interop_with_twisted(impl, mode, twisted_echo):
    port = twisted_echo(mode)
    factory = impl.LengthPrefixFramer if mode == "length" else impl.LineFramer
    rng = random.Random(mode)
    payloads = [
        rng.randbytes(rng.randrange(0, 20000)).replace(b"\n", b"").replace(b"\r", b"")
        for _ in range(200)
    ]
    with connect(("127.0.0.1", port), factory(), timeout=TIMEOUT) as conn:
        t = threading.Thread(target=conn.send_many, args=(payloads,))
        t.start()
        got = [conn.recv() for _ in payloads]
        t.join(TIMEOUT)
    assert got == [p[::-1] for p in payloads]
