"""pyframe.datagrams: whole datagrams or a clear error, packed frames, on real sockets.

Traffic goes only to the loopback range (127.0.0.1, ::1, broadcast to 127.255.255.255) and to
AF_UNIX sockets in a temporary directory or Linux's abstract namespace. Every blocking socket
has a timeout and every coroutine runs under one.
"""

import asyncio
import copy
import os
import pickle
import random
import shutil
import socket
import sys
import tempfile
import threading
import time

import pytest

from pyframe import FrameTooLargeError, IncompleteFrameError, MalformedFrameError, datagrams
from pyframe.datagrams import DatagramTooLargeError, MalformedDatagramError

TIMEOUT = 10
LINUX = sys.platform.startswith("linux")


# -- where the sockets live -------------------------------------------------------------


def _ipv6_available():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def unix_dir():
    # short: an AF_UNIX path must fit in about 100 bytes, pytest's tmp_path may not
    path = tempfile.mkdtemp(prefix="pfdg")
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Places:
    """Addresses to bind in one family: ``next()`` gives a fresh one each call."""

    def __init__(self, family, unix_dir):
        self.family = family
        self._dir = unix_dir
        self._count = 0

    def next(self):
        if self.family == "ipv4":
            return ("127.0.0.1", 0)
        if self.family == "ipv6":
            return ("::1", 0)
        self._count += 1
        path = os.path.join(self._dir, f"{os.getpid()}-{id(self)}-{self._count}")
        if os.path.exists(path):
            os.unlink(path)
        return path


@pytest.fixture(params=["ipv4", "ipv6", "unix"])
def places(request, unix_dir):
    if request.param == "ipv6" and not _ipv6_available():
        pytest.skip("::1 is not available on this machine (no IPv6 loopback)")
    if request.param == "unix" and not hasattr(socket, "AF_UNIX"):
        pytest.skip("no AF_UNIX on this platform")
    return Places(request.param, unix_dir)


def pair(places, rx_framer=None, tx_framer=None, **kwargs):
    """A receiver and a sender, both bound (an AF_UNIX sender must bind to have an address)."""
    rx = datagrams.bind(places.next(), rx_framer, **kwargs)
    tx = datagrams.bind(places.next(), tx_framer, **kwargs)
    rx.settimeout(TIMEOUT)
    tx.settimeout(TIMEOUT)
    return rx, tx


def same_address(a, b):
    """Socket addresses compare equal (IPv6 adds flowinfo and scope_id)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return a[:2] == b[:2]
    return os.fsdecode(a) == os.fsdecode(b)


# -- how a datagram over the limit is detected --------------------------------------------

#: "exact": recvmsg with MSG_TRUNC (Linux: the real size); "flagged": recvmsg's MSG_TRUNC
#: output flag alone (macOS and the BSDs); "fallback": recvfrom into max_size + 1 bytes
#: (Windows, or a socket without recvmsg).
DETECTIONS = ["exact", "flagged", "fallback"]


def detect(dgram, detection, monkeypatch):
    """Make ``dgram`` (a DatagramSocket or an AsyncDatagramSocket) use ``detection``."""
    inner = getattr(dgram, "_dgram", dgram)
    if detection == "exact":
        if not LINUX:
            pytest.skip("the real size of a truncated datagram is reported on Linux only")
        assert datagrams._REAL_SIZE_FLAG == socket.MSG_TRUNC
    elif detection == "flagged":
        if inner._recvmsg_into is None:
            pytest.skip("this platform has no recvmsg")
        monkeypatch.setattr(datagrams, "_REAL_SIZE_FLAG", 0)
    else:
        inner._recvmsg_into = None


def check_too_large(exc, size, limit, sender, detection):
    assert isinstance(exc, FrameTooLargeError)
    assert exc.limit == limit
    assert same_address(exc.address, sender)
    if detection == "exact":
        assert exc.exact and exc.size == size
        assert f"{size} bytes" in str(exc)
    else:
        assert not exc.exact and exc.size == limit + 1
        assert f"more than {limit} bytes" in str(exc)


def framers(impl):
    return {
        "length": impl.LengthPrefixFramer(),
        "line": impl.LineFramer(),
        "decimal": impl.DecimalLengthFramer(4),
        "delimiter": impl.DelimiterFramer((b"\r\n", b"\0")),
    }


@pytest.fixture(params=["length", "line", "decimal", "delimiter"])
def kind(request):
    return request.param


# -- blocking: whole datagrams -----------------------------------------------------------


def test_recv_returns_whole_datagrams_with_the_sender(places):
    rx, tx = pair(places, max_size=4000)
    with rx, tx:
        sizes = [0, 1, 1000, 3999, 4000]
        for size in sizes:
            tx.send(bytes([size % 251]) * size, rx.address)
        for size in sizes:
            payload, sender = rx.recv()
            assert payload == bytes([size % 251]) * size
            assert same_address(sender, tx.address)


@pytest.mark.parametrize("detection", DETECTIONS)
def test_oversized_datagram_is_reported_then_the_next_arrives(places, detection, monkeypatch):
    # A plain recvfrom(1000) would return the first 1000 bytes of these as if whole.
    limit = 1000
    rx, tx = pair(places, max_size=limit)
    with rx, tx:
        detect(rx, detection, monkeypatch)
        # (AF_UNIX: a sender with a timeout waits in poll() until less than a quarter of
        # its send buffer is in flight, even when the kernel would take the datagram)
        big = 60000 if places.family != "unix" else 40000
        for size in (limit + 1, big):
            tx.socket.sendto(b"x" * size, rx.address)  # (over tx's own max_datagram_size)
            tx.send(b"good", rx.address)
            with pytest.raises(DatagramTooLargeError) as info:
                rx.recv()
            check_too_large(info.value, size, limit, tx.address, detection)
            payload, sender = rx.recv()
            assert payload == b"good" and same_address(sender, tx.address)
        tx.send(b"y" * limit, rx.address)  # exactly the limit is whole
        assert rx.recv()[0] == b"y" * limit


@pytest.mark.parametrize("detection", DETECTIONS)
def test_max_size_zero_takes_only_empty_datagrams(places, detection, monkeypatch):
    rx, tx = pair(places, max_size=0)
    with rx, tx:
        detect(rx, detection, monkeypatch)
        for payload in (b"", b"a", b""):
            tx.send(payload, rx.address)
        payload, sender = rx.recv()
        assert payload == b"" and same_address(sender, tx.address)
        with pytest.raises(DatagramTooLargeError) as info:
            rx.recv()
        check_too_large(info.value, 1, 0, tx.address, detection)
        payload, sender = rx.recv()
        assert payload == b"" and same_address(sender, tx.address)


@pytest.mark.parametrize("detection", DETECTIONS)
def test_oversized_datagram_of_frames_is_reported_then_the_next_arrives(
    impl, places, detection, monkeypatch
):
    limit = 500
    rx, tx = pair(places, impl.LineFramer(), impl.LineFramer(), max_size=limit)
    with rx, tx:
        detect(rx, detection, monkeypatch)
        tx.send(b"a\n" * 400, rx.address)  # 800 bytes: 400 frames, in one datagram
        assert tx.send_frames([b"b", b"c"], rx.address) == 1
        with pytest.raises(DatagramTooLargeError) as info:
            rx.recv_frames()
        check_too_large(info.value, 800, limit, tx.address, detection)
        frames, sender = rx.recv_frames()
        assert frames == [b"b", b"c"]
        assert same_address(sender, tx.address)


def test_windows_message_too_long_is_reported(monkeypatch):
    """Windows has no recvmsg, and its recvfrom fails with WSAEMSGSIZE on a datagram larger
    than the buffer (the datagram is discarded): reported as DatagramTooLargeError."""

    class WindowsLike(socket.socket):
        def recvfrom_into(self, buffer, nbytes=0, flags=0):
            exc = OSError(10040, "A message sent on a datagram socket was larger")
            exc.winerror = 10040
            raise exc

    with WindowsLike(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        dgram = datagrams.DatagramSocket(sock, max_size=100)
        dgram._recvmsg_into = None
        with pytest.raises(DatagramTooLargeError) as info:
            dgram.recv()
        assert info.value.size == 101 and not info.value.exact
        assert info.value.limit == 100


def test_errors_survive_pickle_and_copy(impl):
    """Errors cross process boundaries (multiprocessing, concurrent.futures) by pickle."""
    rx = datagrams.bind(("127.0.0.1", 0), impl.LineFramer(), max_size=10)
    tx = datagrams.bind(("127.0.0.1", 0))
    rx.settimeout(TIMEOUT)
    with rx, tx:
        tx.send(b"x" * 11, rx.address)
        tx.send(b"cut", rx.address)
        errors = []
        for _ in range(2):
            with pytest.raises((DatagramTooLargeError, MalformedDatagramError)) as info:
                rx.recv_frames()
            errors.append(info.value)
    for exc in errors:
        for twin in (pickle.loads(pickle.dumps(exc)), copy.copy(exc)):
            assert type(twin) is type(exc) and str(twin) == str(exc)
            assert vars(twin) == vars(exc)  # size, limit, address, exact / datagram, frames


def test_timeout_loses_nothing(places):
    rx, tx = pair(places)
    with rx, tx:
        rx.settimeout(0.05)
        with pytest.raises(socket.timeout):
            rx.recv()
        rx.settimeout(TIMEOUT)
        tx.send(b"after", rx.address)
        assert rx.recv()[0] == b"after"


@pytest.mark.parametrize("host, largest", [("127.0.0.1", 65507), ("::1", 65527)])
def test_the_largest_udp_datagrams_arrive_whole_with_the_defaults(host, largest):
    # 65535 less the headers: IPv4's and UDP's, or UDP's alone (IPv6 counts no header)
    if host == "::1" and not _ipv6_available():
        pytest.skip("::1 is not available on this machine (no IPv6 loopback)")
    with (
        datagrams.bind((host, 0)) as rx,
        datagrams.bind((host, 0), max_datagram_size=largest) as tx,
    ):
        rx.settimeout(TIMEOUT)
        assert rx.max_size == datagrams.DEFAULT_MAX_SIZE >= largest
        payload = os.urandom(largest)
        tx.send(payload, rx.address)
        assert rx.recv() == (payload, tx.address)
        with pytest.raises(FrameTooLargeError):  # refused here, before the kernel's EMSGSIZE
            rx.send(b"x" * 65508, tx.address)  # (the default max_datagram_size is 65507)


def test_connection_refused_is_reported_once_and_the_socket_lives_on():
    """A connected UDP socket hears of ICMP port unreachable as ConnectionRefusedError on
    its next receive; that is reported, and the socket still works afterwards."""
    with datagrams.bind(("127.0.0.1", 0)) as gone:
        port = gone.address[1]  # closed: nobody listens there any more
    with datagrams.connect(("127.0.0.1", port)) as client, datagrams.bind(("127.0.0.1", 0)) as live:
        client.settimeout(TIMEOUT)
        live.settimeout(TIMEOUT)
        client.send(b"anyone?")
        with pytest.raises(ConnectionRefusedError):
            client.recv()
        client.socket.connect(live.address)
        client.send(b"ping")
        assert live.recv() == (b"ping", client.address)
        live.send(b"pong", client.address)
        assert client.recv() == (b"pong", live.address)


# -- packing ------------------------------------------------------------------------------


def fewest_datagrams(sizes, limit):
    """The fewest datagrams that hold frames of ``sizes``, in order (by search)."""
    best = [0] + [len(sizes) + 1] * len(sizes)  # best[i]: for the first i frames
    for i in range(1, len(sizes) + 1):
        for j in range(i):
            if sum(sizes[j:i]) <= limit:
                best[i] = min(best[i], best[j] + 1)
    return best[-1]


def test_packing_limits_are_exact(impl, kind):
    framer = framers(impl)[kind]
    one = len(framer.encode(b"p" * 10))  # every frame below encodes to this size
    limit = 3 * one
    # three frames fill a datagram exactly
    assert datagrams.pack_frames(framer, [b"p" * 10] * 3, limit) == [framer.encode(b"p" * 10) * 3]
    # one byte more than the limit: the third frame goes to a second datagram
    wires = datagrams.pack_frames(framer, [b"p" * 10, b"p" * 10, b"p" * 11], limit)
    assert wires == [framer.encode(b"p" * 10) * 2, framer.encode(b"p" * 11)]
    # a frame of exactly the limit fits alone; one byte more cannot fit
    header = one - 10
    assert datagrams.pack_frames(framer, [b"q" * (limit - header)], limit) == [
        framer.encode(b"q" * (limit - header))
    ]
    with pytest.raises(FrameTooLargeError) as info:
        datagrams.pack_frames(framer, [b"a", b"q" * (limit - header + 1)], limit)
    assert info.value.size == limit + 1 and info.value.limit == limit
    assert "frame 1" in str(info.value)
    # in order, never split, and as few datagrams as any order-keeping packing
    rng = random.Random(kind)
    for _ in range(20):
        payloads = [b"r" * rng.randrange(0, 40) for _ in range(rng.randrange(1, 12))]
        sizes = [len(framer.encode(p)) for p in payloads]
        limit = rng.randrange(max(sizes), 3 * max(sizes) + 1)
        wires = datagrams.pack_frames(framer, payloads, limit)
        assert all(len(w) <= limit for w in wires)
        assert b"".join(wires) == b"".join(map(framer.encode, payloads))
        assert [f for w in wires for f in datagrams.unpack_frames(framer, w)] == payloads
        assert len(wires) == fewest_datagrams(sizes, limit)
    assert datagrams.pack_frames(framer, [], limit) == []


def test_send_frames_packs_into_as_few_datagrams_as_fit(impl, kind, places):
    make = type(framers(impl)[kind])
    fresh = framers(impl)[kind]
    one = len(fresh.encode(b"p" * 10))
    rx, tx = pair(places, fresh, framers(impl)[kind], max_datagram_size=3 * one)
    with rx, tx:
        assert tx.send_frames([b"p" * 10] * 3, rx.address) == 1
        frames, sender = rx.recv_frames()
        assert frames == [b"p" * 10] * 3
        assert same_address(sender, tx.address)
        # one byte over: two datagrams, no frame split
        assert tx.send_frames([b"p" * 10, b"p" * 10, b"p" * 11], rx.address) == 2
        assert rx.recv_frames()[0] == [b"p" * 10, b"p" * 10]
        assert rx.recv_frames()[0] == [b"p" * 11]
        # a frame that cannot fit alone: refused before anything is sent
        with pytest.raises(FrameTooLargeError):
            tx.send_frames([b"first", b"z" * (3 * one)], rx.address)
        tx.send_frames([b"next"], rx.address)
        assert rx.recv_frames()[0] == [b"next"]  # "first" was never sent
        # a payload the framer refuses is refused before anything is sent too
        if make.__name__ in ("LineFramer", "DelimiterFramer"):
            with pytest.raises(ValueError):
                tx.send_frames([b"ok", b"bad\nline\r\n\0"], rx.address)
            tx.send_frames([b"then"], rx.address)
            assert rx.recv_frames()[0] == [b"then"]
        # a raw datagram over max_datagram_size is refused too
        with pytest.raises(FrameTooLargeError):
            tx.send(b"z" * (3 * one + 1), rx.address)


def test_send_frames_of_nothing_a_generator_and_an_empty_datagram(impl):
    framer = impl.LengthPrefixFramer()
    limit = 2 * len(framer.encode(b"one"))
    rx = datagrams.bind(("127.0.0.1", 0), impl.LengthPrefixFramer())
    tx = datagrams.bind(("127.0.0.1", 0), framer, max_datagram_size=limit)
    rx.settimeout(TIMEOUT)

    def payloads(fail):
        yield b"one"
        yield b"two"
        if fail:
            raise KeyError("the caller's own error")
        yield b"three"

    with rx, tx:
        assert tx.send_frames([], rx.address) == 0  # no frames: no datagram, not an empty one
        with pytest.raises(KeyError):
            tx.send_frames(payloads(True), rx.address)  # nothing sent: all is encoded first
        assert tx.send_frames(payloads(False), rx.address) == 2
        tx.send(b"", rx.address)  # an empty datagram holds no frames: it is not malformed
        assert rx.recv_frames() == ([b"one", b"two"], tx.address)
        assert rx.recv_frames() == ([b"three"], tx.address)
        assert rx.recv_frames() == ([], tx.address)


def test_many_senders_are_kept_apart(impl, kind, places):
    rx = datagrams.bind(places.next(), framers(impl)[kind])
    rx.settimeout(TIMEOUT)
    senders = [
        datagrams.bind(places.next(), framers(impl)[kind], max_datagram_size=30) for _ in range(4)
    ]
    expected = {n: [] for n in range(len(senders))}
    got = {n: [] for n in range(len(senders))}
    names = [tx.address for tx in senders]
    total = 4 * 5 * 6

    def receive():  # in a thread: an AF_UNIX receive queue may hold as few as 10 datagrams
        count = 0
        while count < total:
            frames, sender = rx.recv_frames()
            (n,) = [i for i, name in enumerate(names) if same_address(name, sender)]
            got[n].extend(frames)
            count += len(frames)

    receiver = threading.Thread(target=receive)
    receiver.start()
    try:
        for round_ in range(5):  # interleaved: every sender sends each round
            for n, tx in enumerate(senders):
                payloads = [f"s{n}r{round_}f{i}".encode() for i in range(6)]
                assert tx.send_frames(payloads, rx.address) >= 2
                expected[n].extend(payloads)
        receiver.join(TIMEOUT)
        assert not receiver.is_alive()
        assert got == expected
    finally:
        rx.close()
        for tx in senders:
            tx.close()
        receiver.join(TIMEOUT)


# -- malformed datagrams ------------------------------------------------------------------


def test_malformed_datagram_then_a_good_one(impl, kind, places):
    framer = framers(impl)[kind]
    rx, tx = pair(places, framers(impl)[kind], framers(impl)[kind])
    with rx, tx:
        cut = framer.encode(b"one") + framer.encode(b"two")[:-1]  # ends inside a frame
        tx.send(cut, rx.address)
        tx.send_frames([b"three", b"four"], rx.address)
        with pytest.raises(MalformedDatagramError) as info:
            rx.recv_frames()
        exc = info.value
        assert isinstance(exc, MalformedFrameError)
        assert isinstance(exc.__cause__, IncompleteFrameError)
        assert "ends in the middle of a frame" in str(exc)
        assert exc.frames == [b"one"]
        assert exc.datagram == cut
        assert same_address(exc.address, tx.address)
        frames, _ = rx.recv_frames()
        assert frames == [b"three", b"four"]  # nothing of the bad datagram leaked in


def test_framer_faults_in_a_datagram_are_malformed(impl, places):
    rx, tx = pair(places, impl.DecimalLengthFramer(4, max_frame_size=10))
    with rx, tx:
        tx.send(b"0003abcXYZWdata", rx.address)  # a header that is not digits
        tx.send(b"0011abcdefghijk", rx.address)  # a frame over the framer's limit
        tx.send(b"0001a0000", rx.address)
        with pytest.raises(MalformedDatagramError) as info:
            rx.recv_frames()
        assert type(info.value.__cause__) is MalformedFrameError
        assert info.value.frames == [b"abc"]
        with pytest.raises(MalformedDatagramError) as info:
            rx.recv_frames()
        assert isinstance(info.value.__cause__, FrameTooLargeError)
        assert rx.recv_frames()[0] == [b"a", b""]


def test_unpack_frames(impl, kind):
    framer = framers(impl)[kind]
    wire = framer.encode(b"x") + framer.encode(b"") + framer.encode(b"yz")
    assert datagrams.unpack_frames(framer, wire) == [b"x", b"", b"yz"]
    assert datagrams.unpack_frames(framer, b"") == []
    with pytest.raises(MalformedDatagramError):
        datagrams.unpack_frames(framer, wire[:-1])
    assert datagrams.unpack_frames(framer, memoryview(wire)) == [b"x", b"", b"yz"]
    assert framer.pending == 0


# -- broadcast, AF_UNIX addresses, misuse -------------------------------------------------


def test_broadcast_on_loopback():
    rx = datagrams.bind(("127.255.255.255", 0))
    rx.settimeout(TIMEOUT)
    port = rx.address[1]
    with datagrams.bind(("127.0.0.1", 0)) as plain:
        with pytest.raises(PermissionError):  # the kernel refuses without SO_BROADCAST
            plain.send(b"no", ("127.255.255.255", port))
    with rx, datagrams.bind(("127.0.0.1", 0), broadcast=True) as tx:
        assert tx.socket.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
        try:
            tx.send(b"to all", ("127.255.255.255", port))
        except OSError as exc:  # an environment limit, not a missing feature
            pytest.skip(f"this kernel refuses broadcast on the loopback interface: {exc}")
        assert rx.recv() == (b"to all", tx.address)


def test_broadcast_needs_ipv4():
    with pytest.raises(ValueError, match="IPv4"):
        datagrams.bind(("::1", 0), broadcast=True)


@pytest.mark.skipif(not LINUX, reason="abstract AF_UNIX addresses are Linux's")
def test_unix_connect_with_an_abstract_address(impl):
    name = f"\0pyframe-dg-{os.getpid()}"
    with (
        datagrams.bind(name, impl.LengthPrefixFramer()) as rx,
        datagrams.connect(name, impl.LengthPrefixFramer(), local_address="") as tx,
    ):
        rx.settimeout(TIMEOUT)
        tx.settimeout(TIMEOUT)
        assert tx.send_frames([b"ping", b"pong"]) == 1
        frames, sender = rx.recv_frames()
        assert frames == [b"ping", b"pong"] and sender  # autobound: a name to reply to
        rx.send_frames([b"reply"], sender)
        assert tx.recv_frames() == ([b"reply"], name.encode())


def test_unix_sender_without_a_name_has_no_address(unix_dir):
    path = os.path.join(unix_dir, f"anon-{os.getpid()}")
    with datagrams.bind(path) as rx, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as raw:
        rx.settimeout(TIMEOUT)
        raw.sendto(b"anon", path)
        assert rx.recv() == (b"anon", None)
    assert os.path.exists(path)  # (unlinking a bound path is the caller's)
    os.unlink(path)


@pytest.mark.parametrize("method", ["recv", "recv_frames"])
def test_two_threads_receiving_at_once_are_refused(impl, method):
    rx = datagrams.bind(("127.0.0.1", 0), impl.LineFramer())
    tx = datagrams.bind(("127.0.0.1", 0), impl.LineFramer())
    rx.settimeout(TIMEOUT)
    with rx, tx:
        waiting = threading.Thread(target=rx.recv)  # blocks in the kernel until "wake"
        waiting.start()
        try:
            for _ in range(1000):  # until the thread is inside recv()
                if rx._receiving.locked():
                    break
                time.sleep(0.01)
            with pytest.raises(RuntimeError, match="another thread"):
                getattr(rx, method)()
        finally:
            tx.send(b"wake", rx.address)
            waiting.join(TIMEOUT)
        assert not waiting.is_alive()
        tx.send_frames([b"next"], rx.address)
        assert getattr(rx, method)()[0] in (b"next\n", [b"next"])  # usable again


def test_misuse():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as stream:
        with pytest.raises(ValueError, match="SOCK_DGRAM"):
            datagrams.DatagramSocket(stream)
    with pytest.raises(TypeError):
        datagrams.DatagramSocket(object())
    if hasattr(socket, "SOCK_SEQPACKET") and hasattr(socket, "AF_UNIX"):
        # message boundaries, but a connection: not a byte stream, so no FramedSocket advice
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as packets:
            with pytest.raises(ValueError, match="SOCK_DGRAM") as info:
                datagrams.DatagramSocket(packets)
            assert "SOCK_SEQPACKET" in str(info.value)
            assert "FramedSocket" not in str(info.value)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(TypeError, match="max_size"):
            datagrams.DatagramSocket(sock, max_size=True)
        with pytest.raises(ValueError, match="max_datagram_size"):
            datagrams.DatagramSocket(sock, max_datagram_size=0)
        dgram = datagrams.DatagramSocket(sock)
        with pytest.raises(RuntimeError, match="no framer"):
            dgram.send_frames([b"x"], ("127.0.0.1", 9))
        with pytest.raises(RuntimeError, match="no framer"):
            dgram.recv_frames()
        assert "DatagramSocket" in repr(dgram)
    with pytest.raises(TypeError, match="host, port"):
        datagrams.bind(12)


@pytest.mark.parametrize("opener", ["bind", "connect", "bind_async", "connect_async"])
@pytest.mark.parametrize(
    "limits, error",
    [
        ({"max_size": -1}, ValueError),
        ({"max_datagram_size": 0}, ValueError),
        ({"max_size": 2**63}, OverflowError),  # fails only when its buffer is made
    ],
)
def test_bad_limits_leave_no_socket_behind(places, opener, limits, error, monkeypatch):
    opened = []

    class Recording(socket.socket):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

    with datagrams.bind(places.next()) as peer:
        monkeypatch.setattr(socket, "socket", Recording)
        here = places.next()
        if opener.startswith("bind"):
            args, kwargs = (here,), {}
        else:
            args, kwargs = (peer.address,), {"local_address": here}
        with pytest.raises(error):
            call = getattr(datagrams, opener)(*args, **kwargs, **limits)
            if opener.endswith("async"):
                asyncio.run(call)
    assert all(sock.fileno() == -1 for sock in opened)  # closed, not left to the GC
    if places.family == "unix":
        assert not os.path.exists(here)  # nor an AF_UNIX name bound on the way


@pytest.mark.parametrize("opener", ["connect", "connect_async"])
def test_a_failed_unix_connect_unbinds_its_local_path(unix_dir, opener):
    """Else a retry with the same local path fails with EADDRINUSE, not the real error."""
    here = os.path.join(unix_dir, f"retry-{os.getpid()}-{opener}")
    nobody = os.path.join(unix_dir, f"nobody-{os.getpid()}")
    for _ in range(2):
        with pytest.raises(FileNotFoundError):
            call = getattr(datagrams, opener)(nobody, local_address=here)
            if opener.endswith("async"):
                asyncio.run(call)
        assert not os.path.exists(here)


def test_addresses_are_resolved_as_socket_bind_takes_them(run):
    # "" and None mean the wildcard address, as for socket.bind (resolved here, not bound)
    for host in ("", None):
        assert datagrams._family((host, 0))[1][0] in ("0.0.0.0", "::")
        assert run(datagrams._resolve((host, 0)))[1][0] in ("0.0.0.0", "::")
    assert datagrams._family(("127.0.0.1", 5)) == (socket.AF_INET, ("127.0.0.1", 5))
    if _ipv6_available():
        assert datagrams._family(("::1", 5, 0, 0)) == (socket.AF_INET6, ("::1", 5, 0, 0))
    assert run(datagrams._resolve("/tmp/x")) == (socket.AF_UNIX, "/tmp/x")


# -- asyncio (and uvloop) ----------------------------------------------------------------


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """Run a coroutine on a fresh loop of the kind under test."""
    if request.param == "uvloop":
        if sys.platform == "win32":
            pytest.skip("uvloop does not exist on Windows")
        import uvloop  # in the test extra: a missing uvloop is a failure, not a skip

        make_loop = uvloop.new_event_loop
    else:
        make_loop = asyncio.new_event_loop

    def runner(coro):
        loop = make_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))
        finally:
            loop.close()

    return runner


async def apair(places, rx_framer=None, tx_framer=None, **kwargs):
    rx = await datagrams.bind_async(places.next(), rx_framer, **kwargs)
    tx = await datagrams.bind_async(places.next(), tx_framer, **kwargs)
    return rx, tx


@pytest.mark.parametrize("detection", DETECTIONS)
def test_async_oversized_datagram_then_good(impl, places, detection, monkeypatch, run):
    limit = 1000

    async def main():
        rx, tx = await apair(places, impl.LineFramer(), impl.LineFramer(), max_size=limit)
        async with rx, tx:
            detect(rx, detection, monkeypatch)
            receiving = asyncio.ensure_future(rx.recv())  # waits: nothing sent yet
            await asyncio.sleep(0)
            await tx.send(b"x" * 5000, rx.address)
            with pytest.raises(DatagramTooLargeError) as info:
                await receiving
            check_too_large(info.value, 5000, limit, tx.address, detection)
            await tx.send(b"raw", rx.address)
            assert (await rx.recv())[0] == b"raw"
            await tx.send(b"a\n" * 600, rx.address)
            assert await tx.send_frames([b"b", b"c"], rx.address) == 1
            with pytest.raises(DatagramTooLargeError):
                await rx.recv_frames()
            frames, sender = await rx.recv_frames()
            assert frames == [b"b", b"c"] and same_address(sender, tx.address)

    run(main())


def test_async_frames_from_many_senders_and_malformed(impl, kind, places, run):
    async def main():
        rx = await datagrams.bind_async(places.next(), framers(impl)[kind])
        senders = [
            await datagrams.bind_async(places.next(), framers(impl)[kind], max_datagram_size=20)
            for _ in range(3)
        ]
        framer = framers(impl)[kind]
        expected = {n: [] for n in range(len(senders))}
        got = {n: [] for n in range(len(senders))}
        errors = []

        async def send():
            await senders[0].send(framer.encode(b"cut")[:-1], rx.address)
            for round_ in range(4):
                for n, tx in enumerate(senders):
                    payloads = [f"{n}.{round_}.{i}".encode() for i in range(5)]
                    assert await tx.send_frames(payloads, rx.address) >= 2
                    expected[n].extend(payloads)

        async def receive():
            count = 0
            while count < 3 * 4 * 5:
                try:
                    frames, sender = await rx.recv_frames()
                except MalformedDatagramError as exc:
                    errors.append(exc)
                    continue
                (n,) = [i for i, tx in enumerate(senders) if same_address(tx.address, sender)]
                got[n].extend(frames)
                count += len(frames)

        try:
            await asyncio.gather(receive(), send())
            assert got == expected
            assert len(errors) == 1
            assert same_address(errors[0].address, senders[0].address)
        finally:
            rx.close()
            for tx in senders:
                tx.close()

    run(main())


def test_async_unix_datagram_over_asyncio_read_size_is_whole(run, unix_dir):
    """asyncio's own datagram transport reads with recvfrom(256 KiB) and silently cuts a
    larger AF_UNIX datagram; AsyncDatagramSocket receives it whole."""
    size = 300 * 1024
    path = os.path.join(unix_dir, f"big-{os.getpid()}")

    async def main():
        async with await datagrams.bind_async(path, max_size=size) as rx:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as tx:
                tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * size)
                if tx.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < size + 1024:
                    pytest.skip("the system caps SO_SNDBUF below 300 KiB")
                tx.sendto(os.urandom(16) + b"z" * (size - 16), path)
                payload, _ = await rx.recv()
                assert len(payload) == size and payload.endswith(b"z" * 1000)

    try:
        run(main())
    finally:
        os.unlink(path)


def test_async_send_waits_while_the_receiver_is_full(impl, run, unix_dir):
    """AF_UNIX datagram sends block (EAGAIN) while the receiver's queue is full: send_frames
    waits for room and every datagram arrives, in order."""
    path = os.path.join(unix_dir, f"full-{os.getpid()}")
    count = 1500  # more than the receive queue holds (net.unix.max_dgram_qlen, 512 here)

    async def main():
        async with await datagrams.bind_async(path, impl.LengthPrefixFramer()) as rx:
            async with await datagrams.connect_async(
                path, impl.LengthPrefixFramer(), max_datagram_size=8
            ) as tx:
                sending = asyncio.ensure_future(
                    tx.send_frames([i.to_bytes(4, "big") for i in range(count)])
                )
                got = []
                while len(got) < count:
                    frames, _ = await rx.recv_frames()
                    got.extend(int.from_bytes(f, "big") for f in frames)
                assert await sending == count
                assert got == list(range(count))

    try:
        run(main())
    finally:
        os.unlink(path)


def test_async_cancel_and_close_lose_nothing(run, places):
    async def main():
        rx, tx = await apair(places)
        async with rx, tx:
            first = asyncio.ensure_future(rx.recv())
            second = asyncio.ensure_future(rx.recv())  # two tasks may wait at once
            await asyncio.sleep(0.01)
            first.cancel()
            await tx.send(b"kept", rx.address)
            assert (await second)[0] == b"kept"
            assert first.cancelled()
            waiting = asyncio.ensure_future(rx.recv())
            await asyncio.sleep(0.01)
            rx.close()
            with pytest.raises(OSError):
                await waiting
            with pytest.raises(OSError):
                await rx.recv()

    run(main())


def test_async_many_receivers_get_one_datagram_each_and_leave_no_reader(run, places):
    async def main():
        loop = asyncio.get_running_loop()
        rx, tx = await apair(places)
        async with rx, tx:
            tasks = [asyncio.ensure_future(rx.recv()) for _ in range(40)]
            await asyncio.sleep(0.01)
            tasks[0].cancel()
            tasks[-1].cancel()
            for n in range(38):
                await tx.send(str(n).encode(), rx.address)
            got = await asyncio.gather(*tasks[1:-1])
            assert sorted(int(payload) for payload, _ in got) == list(range(38))
            assert all(task.cancelled() for task in (tasks[0], tasks[-1]))
            # nobody waits any more: the socket is no longer watched (remove_reader says
            # whether it was)
            assert not loop.remove_reader(rx.fileno())
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(rx.recv(), 0.01)
            assert not loop.remove_reader(rx.fileno())
            await tx.send(b"last", rx.address)
            assert (await rx.recv())[0] == b"last"

    run(main())


def test_async_a_datagram_wakes_one_waiting_task_not_all(run):
    """With every waiting task woken for each datagram, n tasks cost n*n attempts: 3000 took
    14 s to receive one datagram each."""
    tasks = 200

    async def main():
        rx, tx = await apair(Places("ipv4", None))
        async with rx, tx:
            futile = []
            recv = rx._dgram.recv

            def counting():
                try:
                    return recv()
                except BlockingIOError:
                    futile.append(1)
                    raise

            rx._dgram.recv = counting
            receiving = [asyncio.ensure_future(rx.recv()) for _ in range(tasks)]
            await asyncio.sleep(0.01)
            futile.clear()  # (each task's first try)
            for n in range(tasks):
                await tx.send(str(n).encode(), rx.address)
                await asyncio.sleep(0)  # one datagram at a time
            got = await asyncio.gather(*receiving)
            assert sorted(int(payload) for payload, _ in got) == list(range(tasks))
            # one task, and perhaps another before the first has read, per datagram
            assert len(futile) < 5 * tasks

    run(main())


def test_async_a_woken_task_cancelled_passes_the_datagram_on(run):
    """The task woken for a datagram may be cancelled before it reads: another gets it."""

    async def main():
        rx, tx = await apair(Places("ipv4", None))
        async with rx, tx:
            for turns in range(6):  # cancel the first task after 0..5 turns of the loop
                first = asyncio.ensure_future(rx.recv())
                second = asyncio.ensure_future(rx.recv())
                await asyncio.sleep(0.01)  # both wait
                await tx.send(b"%d" % turns, rx.address)
                for _ in range(turns):
                    await asyncio.sleep(0)
                first.cancel()
                try:
                    payload, _ = await first  # it may have read the datagram already
                    second.cancel()
                except asyncio.CancelledError:
                    payload, _ = await second
                assert payload == b"%d" % turns

    run(main())


@pytest.mark.parametrize("connected", [True, False])
def test_async_close_ends_a_send_waiting_for_room(impl, run, unix_dir, connected):
    path = os.path.join(unix_dir, f"close-{os.getpid()}-{connected}")

    async def main():
        async with await datagrams.bind_async(path, impl.LengthPrefixFramer()) as rx:
            one = {"max_datagram_size": 12}  # a frame a datagram: 4 bytes of header, 8 of x
            if connected:
                tx = await datagrams.connect_async(path, impl.LengthPrefixFramer(), **one)
            else:
                tx = await datagrams.bind_async(path + "-tx", impl.LengthPrefixFramer(), **one)
            payloads = [b"x" * 8] * 3000  # more datagrams than the receive queue takes
            sending = asyncio.ensure_future(tx.send_frames(payloads, None if connected else path))
            await asyncio.sleep(0.05)
            assert not sending.done()  # waiting for room that never comes
            tx.close()
            with pytest.raises(OSError):
                await sending
            assert tx.closed and not rx.closed

    try:
        run(main())
    finally:
        os.unlink(path)
        if not connected:
            os.unlink(path + "-tx")


@pytest.mark.parametrize("method", ["frames_received", "datagram_received", "error_received"])
def test_async_serve_refuses_coroutine_callbacks(impl, run, method):
    """Its callbacks are called, not awaited (as DatagramProtocol's): an async one would
    drop every datagram with only a RuntimeWarning."""

    class Framed(datagrams.DatagramHandler):
        def frames_received(self, frames, address):
            pass

    async def callback(self, *args):
        pass

    handler = type("Handler", (Framed,), {method: callback})()

    async def main():
        rx, tx = await apair(Places("ipv4", None), impl.LineFramer(), impl.LineFramer())
        async with rx, tx:
            await tx.send_frames([b"kept"], rx.address)
            with pytest.raises(TypeError, match=method):
                await rx.serve(handler)
            assert await rx.recv_frames() == ([b"kept"], tx.address)  # nothing was taken

    run(main())


@pytest.mark.parametrize("framed", [True, False])
def test_async_serve_refuses_a_handler_without_the_callback_it_needs(impl, run, framed):
    """With a framer serve() calls frames_received, without one datagram_received: a
    handler defining only the other would drop every datagram without a word."""
    needed, other = "frames_received", "datagram_received"
    if not framed:
        needed, other = other, needed
    wrong = type("Wrong", (datagrams.DatagramHandler,), {other: lambda self, data, address: 0})

    async def main():
        framer = impl.LineFramer() if framed else None
        rx, tx = await apair(Places("ipv4", None), framer, impl.LineFramer())
        async with rx, tx:
            await tx.send_frames([b"kept"], rx.address)
            for handler in (wrong(), datagrams.DatagramHandler()):
                with pytest.raises(TypeError, match=needed):
                    await rx.serve(handler)
            assert (await rx.recv())[0] == b"kept\n"  # nothing was taken

    run(main())


def test_async_serve_reports_connection_refused_and_goes_on(impl, run):
    class Collect(datagrams.DatagramHandler):
        def __init__(self, sock):
            self.sock = sock
            self.got = []
            self.refused = asyncio.Event()

        def frames_received(self, frames, address):
            self.got.append(frames)
            self.sock.close()

        def error_received(self, exc):
            self.got.append(type(exc).__name__)
            self.refused.set()

    async def main():
        gone = await datagrams.bind_async(("127.0.0.1", 0))
        port = gone.address[1]
        gone.close()
        live = await datagrams.bind_async(("127.0.0.1", 0), impl.LineFramer())
        client = await datagrams.connect_async(("127.0.0.1", port), impl.LineFramer())
        handler = Collect(client)
        async with live, client:
            serving = asyncio.ensure_future(client.serve(handler))
            await client.send(b"anyone?\n")
            await handler.refused.wait()
            client.socket.connect(live.address)
            await live.send_frames([b"still", b"here"], client.address)
            await serving  # the handler closes the client on its first frames
            assert handler.got == ["ConnectionRefusedError", [b"still", b"here"]]

    run(main())


def test_async_serve_hands_datagrams_and_errors_to_the_handler(impl, places, run):
    class Collect(datagrams.DatagramHandler):
        def __init__(self, rx):
            self.rx = rx
            self.got = []

        def frames_received(self, frames, address):
            self.got.append((frames, address))
            if frames == [b"stop"]:
                self.rx.close()

        def error_received(self, exc):
            self.got.append(type(exc).__name__)

    async def main():
        rx, tx = await apair(
            places, impl.LengthPrefixFramer(), impl.LengthPrefixFramer(), max_size=1000
        )
        rx2 = await datagrams.bind_async(places.next(), max_size=10)  # raw, default handler
        async with tx:
            handler = Collect(rx)
            serving = asyncio.ensure_future(rx.serve(handler))
            await tx.send_frames([b"a", b"b"], rx.address)
            await tx.send(b"\0\0\0\x09cut", rx.address)  # malformed
            await tx.send(b"z" * 5000, rx.address)  # over max_size
            await tx.send_frames([b"c"], rx.address)
            await tx.send_frames([b"stop"], rx.address)
            await serving  # returns once the handler closed the socket
            name = tx.address
            assert [
                g if isinstance(g, str) else (g[0], same_address(g[1], name)) for g in handler.got
            ] == [
                ([b"a", b"b"], True),
                "MalformedDatagramError",
                "DatagramTooLargeError",
                ([b"c"], True),
                ([b"stop"], True),
            ]

            class Raw(datagrams.DatagramHandler):
                def datagram_received(self, data, address):
                    pass

            async with rx2:
                await tx.send(b"y" * 11, rx2.address)
                with pytest.raises(DatagramTooLargeError):  # the default error_received
                    await rx2.serve(Raw())

    run(main())


def test_async_unconnected_unix_send_waits_without_spinning(impl, run, unix_dir):
    """Linux reports an unconnected AF_UNIX socket writable while the receiver's queue is
    full (poll() checks only a connected peer's queue), so each send fails again at once:
    the wait must pause rather than spin the CPU. Every datagram still arrives, in order."""
    path = os.path.join(unix_dir, f"spin-{os.getpid()}")
    sender = path + "-tx"
    # more than the receive queue holds (net.unix.max_dgram_qlen, 512 here) with margin
    count = 3000

    async def main():
        async with await datagrams.bind_async(path, impl.LengthPrefixFramer()) as rx:
            tx = await datagrams.bind_async(sender, impl.LengthPrefixFramer(), max_datagram_size=8)
            async with tx:
                refused = []
                send = tx._dgram._send_datagram

                def counting(data, address):
                    try:
                        send(data, address)
                    except BlockingIOError:
                        refused.append(1)
                        raise

                tx._dgram._send_datagram = counting
                sending = asyncio.ensure_future(
                    tx.send_frames([i.to_bytes(4, "big") for i in range(count)], path)
                )
                await asyncio.sleep(0.3)  # the receiver does not read: the queue is full
                assert not sending.done()
                # spinning makes thousands of attempts here; pausing, a few dozen
                assert 0 < len(refused) < 200
                got = []
                while len(got) < count:
                    frames, _ = await rx.recv_frames()
                    got.extend(int.from_bytes(f, "big") for f in frames)
                assert await sending == count
                assert got == list(range(count))

    try:
        run(main())
    finally:
        os.unlink(path)
        os.unlink(sender)
