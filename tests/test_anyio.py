"""pyframe.anyio: framed object streams over anyio byte streams.

Every case runs on both anyio backends (asyncio, trio: anyio's pytest plugin), both framer
twins (``impl``) and, where a connection is involved, over loopback TCP, AF_UNIX and TLS
(a throwaway CA from trustme): round trips, the end of the stream as anyio users expect it,
the framer's errors, back-pressure, cancellation in the middle of a frame on both sides, a
peer closing mid-frame, misuse, and importing pyframe without anyio.
"""

import contextlib
import random
import socket
import ssl
import sys

import anyio
import pytest
import trustme
from anyio.abc import SocketAttribute
from anyio.streams.stapled import StapledObjectStream
from anyio.streams.tls import TLSListener

import pyframe
from pyframe import FrameTooLargeError, IncompleteFrameError
from pyframe.anyio import (
    FramedListener,
    FramedStream,
    connect_tcp,
    connect_unix,
    create_tcp_listener,
    create_unix_listener,
)

pytestmark = pytest.mark.anyio

TRANSPORTS = ["tcp", "unix", "tls"] if hasattr(socket, "AF_UNIX") else ["tcp", "tls"]
BIG = 32 << 20  # more than the kernel and the transports buffer: a send that must wait


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


@pytest.fixture(scope="module")
def tls_contexts():
    """(server, client) SSL contexts trusting a throwaway CA."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@contextlib.asynccontextmanager
async def framed_pair(transport, make, tmp_path, tls_contexts):
    """(client, server): FramedStreams over ``transport``, each with a framer from ``make()``;
    the server side comes from a FramedListener's serve()."""
    if transport == "unix":
        path = tmp_path / "sock"
        listener = await create_unix_listener(path, framer_factory=make)
    else:
        listener = await create_tcp_listener(local_host="127.0.0.1", framer_factory=make)
        port = listener.extra(SocketAttribute.local_port)
        if transport == "tls":
            listener = FramedListener(TLSListener(listener.listener, tls_contexts[0]), make)
    accepted_send, accepted = anyio.create_memory_object_stream(1)

    async def handler(stream):
        assert isinstance(stream, FramedStream)
        await accepted_send.send(stream)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handler)
            if transport == "unix":
                client = await connect_unix(path, framer=make())
            elif transport == "tls":
                client = await connect_tcp(
                    "127.0.0.1",
                    port,
                    framer=make(),
                    ssl_context=tls_contexts[1],
                    tls_hostname="localhost",
                )
            else:
                client = await connect_tcp("127.0.0.1", port, framer=make())
            try:
                with anyio.fail_after(10):
                    server = await accepted.receive()
                    # One frame each way first. An accepted anyio socket stream on asyncio
                    # reads without limit until its first receive() (later ones pause
                    # reading between calls); and a TLS client that never reads leaves the
                    # server's session tickets unread: closing it would reset the
                    # connection instead of ending it.
                    await client.send(b"hi")
                    assert await server.receive() == b"hi"
                    await server.send(b"hi")
                    assert await client.receive() == b"hi"
                try:
                    yield client, server
                finally:
                    await anyio.aclose_forcefully(server)
            finally:
                await anyio.aclose_forcefully(client)
                tg.cancel_scope.cancel()  # stop serving
    finally:
        await listener.aclose()  # (once serve() has returned)


@pytest.fixture
def pair(transport, impl, tmp_path, tls_contexts):
    """``pair(make=impl.LengthPrefixFramer)``: an async context manager of (client, server)."""

    def open_pair(make=impl.LengthPrefixFramer):
        return framed_pair(transport, make, tmp_path, tls_contexts)

    return open_pair


def close_soon(tg, stream):
    """Close ``stream`` in a task of ``tg``: a TLS stream's close waits for the peer's
    close_notify, which the peer sends when it closes in turn (after reading to the end)."""
    tg.start_soon(stream.aclose)


def payloads(rng, n):
    sizes = [0, 1, 100, 16383, 16384, 20000, 300_000] + [rng.randrange(0, 3000) for _ in range(n)]
    return [rng.randbytes(size) for size in sizes]


# -- round trips ---------------------------------------------------------------------------


async def test_round_trip_every_payload_kind(pair):
    rng = random.Random(1)
    sent = payloads(rng, 40)
    async with pair() as (client, server):

        async def echo():
            async for frame in server:  # until the client closes
                await server.send(frame)
            await server.aclose()

        async with anyio.create_task_group() as tg:
            tg.start_soon(echo)
            with anyio.fail_after(10):
                for i, payload in enumerate(sent):
                    # bytes (large ones uncopied), bytearray and memoryview (encoded)
                    kind = (bytes, bytearray, memoryview)[i % 3]
                    await client.send(kind(payload))
                    assert await client.receive() == payload
                await client.send_many(sent[:5])
                got = []
                while len(got) < 5:
                    got += await client.receive_many()
                assert got == sent[:5]
                await client.aclose()  # the server's async for ends: a clean end of stream
        assert not client.broken and not server.broken


async def test_line_framer_round_trip(pair, impl):
    async with pair(lambda: impl.LineFramer(max_frame_size=1 << 20)) as (client, server):
        lines = [b"", b"one", b"x" * 70000, b"three"]
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for line in lines:
                    await client.send(line)
                close_soon(tg, client)
                assert [frame async for frame in server] == lines
                await server.aclose()


async def test_receive_many_hands_every_buffered_frame_over(pair):
    async with pair() as (client, server):
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                await client.send_many([b"%d" % i for i in range(1000)])
                close_soon(tg, client)
                got = []
                async for frame in server:
                    got.append(frame)
                    if len(got) == 10:
                        break  # stopping early loses nothing
                while True:
                    try:
                        batch = await server.receive_many()
                    except anyio.EndOfStream:
                        break
                    assert batch
                    got += batch
                await server.aclose()
        assert got == [b"%d" % i for i in range(1000)]


async def test_extra_attributes_are_the_byte_streams(pair, transport):
    async with pair() as (client, server):
        if transport != "unix":
            assert client.extra(SocketAttribute.remote_port) == server.extra(
                SocketAttribute.local_port
            )
        assert server.transport_stream is not None
        assert "FramedStream LengthPrefixFramer" in repr(client)


async def test_listener_serves_clients_at_once_each_with_its_own_framer(impl):
    framers = []

    def make():
        framers.append(impl.LengthPrefixFramer())
        return framers[-1]

    async def echo(stream):
        async with stream:
            async for frame in stream:
                await stream.send(frame)

    async def client(port, name):
        async with await connect_tcp("127.0.0.1", port, framer=impl.LengthPrefixFramer()) as s:
            for i in range(50):
                await s.send(b"%s %d" % (name, i) + bytes(i * 100))
                assert await s.receive() == b"%s %d" % (name, i) + bytes(i * 100)
                await anyio.sleep(0)  # let the clients interleave

    listener = await create_tcp_listener(local_host="127.0.0.1", framer_factory=make)
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as serving:
                serving.start_soon(listener.serve, echo)
                async with anyio.create_task_group() as clients:
                    for name in (b"a", b"b", b"c"):
                        clients.start_soon(client, listener.extra(SocketAttribute.local_port), name)
                serving.cancel_scope.cancel()
    finally:
        await listener.aclose()
    assert len(framers) == 3 and len({id(f) for f in framers}) == 3


async def listen(transport, framer_factory, make, tmp_path, tls_contexts):
    """(listener, connect): a FramedListener on ``transport`` with ``framer_factory``, and a
    coroutine function connecting a FramedStream to it with a framer from ``make()``."""
    if transport == "unix":
        listener = await create_unix_listener(tmp_path / "sock", framer_factory=framer_factory)
        return listener, lambda: connect_unix(tmp_path / "sock", framer=make())
    listener = await create_tcp_listener(local_host="127.0.0.1", framer_factory=framer_factory)
    port = listener.extra(SocketAttribute.local_port)
    kwargs = {}
    if transport == "tls":
        listener = FramedListener(TLSListener(listener.listener, tls_contexts[0]), framer_factory)
        kwargs = {"ssl_context": tls_contexts[1], "tls_hostname": "localhost"}
    return listener, lambda: connect_tcp("127.0.0.1", port, framer=make(), **kwargs)


async def test_a_framer_factory_that_fails_ends_its_connection_not_the_server(
    transport, impl, tmp_path, tls_contexts, caplog
):
    calls = 0

    def factory():  # fails for the first connection only
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("no framer for you")
        return impl.LengthPrefixFramer()

    ended = 0

    async def echo(stream):
        nonlocal ended
        async with stream:
            async for frame in stream:
                await stream.send(frame)
        ended += 1

    listener, connect = await listen(
        transport, factory, impl.LengthPrefixFramer, tmp_path, tls_contexts
    )
    try:
        with anyio.fail_after(10), caplog.at_level("ERROR", logger="pyframe"):
            async with anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, echo)  # (an error here would fail the test)
                refused = await connect()
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await refused.receive()  # closed at once (TLS: once the handshake failed)
                await anyio.aclose_forcefully(refused)
                async with await connect() as served:
                    await served.send(b"served")
                    assert await served.receive() == b"served"
                while not ended:  # (see test_a_peer_that_misbehaves_...: AF_UNIX on asyncio)
                    await anyio.sleep(0.01)
                tg.cancel_scope.cancel()
    finally:
        await listener.aclose()
    assert "framer_factory() failed" in caplog.text and "no framer for you" in caplog.text


async def test_a_peer_that_misbehaves_ends_its_connection_not_the_server(
    transport, impl, tmp_path, tls_contexts, caplog
):
    """The README's echo server: a client cutting a frame short, or announcing one too
    large, ends its own connection; the others are still served."""
    make = lambda: impl.LengthPrefixFramer(max_frame_size=1000)  # noqa: E731
    ended = 0

    async def echo(stream):
        nonlocal ended
        try:
            async with stream:
                async for frame in stream:
                    await stream.send(frame)
        finally:
            ended += 1

    listener, connect = await listen(transport, make, make, tmp_path, tls_contexts)
    try:
        with anyio.fail_after(10), caplog.at_level("DEBUG", logger="pyframe"):
            async with anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, echo)  # (an error here would fail the test)
                good = await connect()
                for i, wire in enumerate([b"\0\0\0\x10cut", b"\0\0\x10\0too large"]):
                    bad = await connect()
                    await bad.transport_stream.send(wire)
                    await (anyio.aclose_forcefully(bad) if transport == "tls" else bad.aclose())
                    while caplog.text.count("connection closed") <= i:  # its handler ended
                        await anyio.sleep(0.01)
                    await good.send(b"still served %d" % i)
                    assert await good.receive() == b"still served %d" % i
                await good.aclose()
                while ended < 3:  # (cancelling a receive as its socket becomes readable
                    await anyio.sleep(0.01)  # upsets anyio's AF_UNIX streams on asyncio)
                tg.cancel_scope.cancel()
    finally:
        await listener.aclose()


EXHAUSTION = """
import logging, os, resource, ssl, sys
import anyio, trustme
import pyframe
from pyframe.anyio import *
from anyio.streams.tls import TLSListener

backend, transport = sys.argv[1:]
failures = []
logging.getLogger("pyframe").addHandler(logging.Handler())
logging.getLogger("pyframe").handlers[0].emit = lambda record: failures.append(record)


async def echo(stream):
    async with stream:
        async for frame in stream:
            await stream.send(frame)


async def main():
    make, kwargs = pyframe.LengthPrefixFramer, {}
    if transport == "unix":
        listener = await create_unix_listener("sock", framer_factory=make)
        connect = lambda: connect_unix("sock", framer=make())
    else:
        listener = await create_tcp_listener(local_host="127.0.0.1", framer_factory=make)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        if transport == "tls":
            ca, server = trustme.CA(), ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("localhost").configure_cert(server)
            client = ssl.create_default_context()
            ca.configure_trust(client)
            listener = FramedListener(TLSListener(listener.listener, server), make)
            kwargs = {"ssl_context": client, "tls_hostname": "localhost"}
        connect = lambda: connect_tcp("127.0.0.1", port, framer=make(), **kwargs)
    replies = []

    async def client():
        async with await connect() as stream:
            await stream.send(b"hello")
            replies.append(await stream.receive())

    with anyio.fail_after(8):
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, echo)
            await anyio.wait_all_tasks_blocked()
            # Use up every descriptor but one: the client's socket takes it, and the
            # server's accept() fails with EMFILE until the hog lets go.
            "localhost".encode("idna")  # (TLS needs this codec: loaded now, while it can be)
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            soft = len(os.listdir("/proc/self/fd")) + 50
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            hog = []
            try:
                while True:
                    hog.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                os.close(hog.pop())
            tg.start_soon(client)
            while len(failures) < 2:  # accept() failed, twice: the server waits and retries
                await anyio.sleep(0.01)
            for fd in hog:
                os.close(fd)
            while not replies:
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    await listener.aclose()
    assert replies == [b"hello"], replies
    assert "Too many open files" in failures[0].getMessage(), failures[0].getMessage()
    print("served")


anyio.run(main, backend=backend)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/fd")
def test_listener_survives_running_out_of_descriptors(anyio_backend, transport, python_run):
    proc = python_run("-c", EXHAUSTION, anyio_backend, transport, timeout=30)
    assert proc.returncode == 0 and "served" in proc.stdout, proc.stderr[-3000:]


# -- the end of the stream -----------------------------------------------------------------


async def test_clean_end_between_frames_is_end_of_stream(pair):
    async with pair() as (client, server):
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for payload in (b"a", b"", b"c" * 50000):
                    await client.send(payload)
                close_soon(tg, client)
                assert [await server.receive() for _ in range(3)] == [b"a", b"", b"c" * 50000]
                for _ in range(2):  # every later call says the same
                    with pytest.raises(anyio.EndOfStream):
                        await server.receive()
                    with pytest.raises(anyio.EndOfStream):
                        await server.receive_many()
                assert [frame async for frame in server] == []
                await server.aclose()


async def test_peer_closing_mid_frame_is_incomplete_frame_error(pair, impl):
    async with pair() as (client, server):
        framer = impl.LengthPrefixFramer()
        wire = framer.encode(b"whole") + framer.encode(b"cut short")[:-3]
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                await client.transport_stream.send(wire)
                close_soon(tg, client)
                assert await server.receive() == b"whole"
                with pytest.raises(IncompleteFrameError) as info:
                    await server.receive()
                assert info.value.partial == framer.encode(b"cut short")[:-3]
                with pytest.raises(IncompleteFrameError):  # and again: never a silent end
                    await server.receive()
                await server.aclose()


@pytest.mark.parametrize("transport", ["tcp", "unix"])  # TLS before 1.3 cannot half-close
async def test_send_eof_half_closes(pair):
    async with pair() as (client, server):
        with anyio.fail_after(10):
            await client.send(b"question")
            await client.send_eof()
            await client.send_eof()  # idempotent
            assert await server.receive() == b"question"
            with pytest.raises(anyio.EndOfStream):
                await server.receive()
            await server.send(b"answer")  # the other direction is still open
            assert await client.receive() == b"answer"


# -- the framer's errors, unchanged ---------------------------------------------------------


async def test_framer_errors_come_through_unchanged(pair, impl):
    async with pair(lambda: impl.LengthPrefixFramer(max_frame_size=1000)) as (client, server):
        with anyio.fail_after(10):
            await client.transport_stream.send(
                impl.LengthPrefixFramer().encode(b"ok") + (5000).to_bytes(4, "big") + b"x" * 10
            )
            assert await server.receive() == b"ok"  # frames before the fault come first
            for _ in range(2):
                with pytest.raises(FrameTooLargeError) as info:
                    await server.receive()
                assert type(info.value) is pyframe.FrameTooLargeError
                assert info.value.size == 5000 and info.value.limit == 1000


# -- cancellation and back-pressure --------------------------------------------------------


async def test_cancelled_receive_mid_frame_loses_nothing(pair, impl):
    async with pair() as (client, server):
        wire = impl.LengthPrefixFramer().encode(b"0123456789" * 1000)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                scope = anyio.CancelScope()

                async def receive():
                    with scope:
                        await server.receive()
                        raise AssertionError("a frame out of half a frame")

                tg.start_soon(receive)
                await client.transport_stream.send(wire[:4000])
                while server.framer.pending < 4000:  # the half frame is in the framer
                    await anyio.sleep(0.001)
                scope.cancel()
            assert scope.cancelled_caught
            await client.transport_stream.send(wire[4000:])
            await client.send(b"next")
            assert await server.receive() == b"0123456789" * 1000
            assert await server.receive() == b"next"


async def test_cancelled_send_breaks_the_stream_against_a_peer_that_stops_reading(pair, impl):
    async with pair(lambda: impl.LengthPrefixFramer(max_frame_size=2 * BIG)) as (client, server):
        big = bytes(BIG)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                scope = anyio.CancelScope()

                async def send():
                    with scope:
                        await client.send(b"first")
                        await client.send(big)  # the server does not read: this waits
                        raise AssertionError("32 MiB went out to a peer that reads nothing")

                tg.start_soon(send)
                await anyio.wait_all_tasks_blocked()
                scope.cancel()
            assert scope.cancelled_caught
            assert client.broken
            with pytest.raises(anyio.BrokenResourceError, match="out of sync"):
                await client.send(b"more")
            with pytest.raises(anyio.BrokenResourceError):
                await client.send_many([b"more"])
            # The peer gets the frames sent whole, then the cut one if the byte stream had
            # queued it all, else an error: IncompleteFrameError, or BrokenResourceError from
            # TLS (its records were cut too). Never a wrong frame.
            async with anyio.create_task_group() as tg:
                close_soon(tg, client)
                got = []
                with contextlib.suppress(IncompleteFrameError, anyio.BrokenResourceError):
                    async for frame in server:
                        got.append(frame)
                await anyio.aclose_forcefully(server)
            assert got == [b"first"] or got == [b"first", big]


async def test_back_pressure_bounds_what_small_sends_queue(pair):
    async with pair() as (client, server):
        sent = 0
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                scope = anyio.CancelScope()

                async def flood():
                    nonlocal sent
                    with scope:
                        while sent < 2 * BIG:
                            await client.send(b"%08d" % sent + bytes(1000))
                            sent += 1
                        raise AssertionError("the sender never waited")

                tg.start_soon(flood)
                await anyio.wait_all_tasks_blocked()
                scope.cancel()
            assert scope.cancelled_caught
            assert 0 < sent * 1008 < BIG  # back-pressure stopped the sender early
            async with anyio.create_task_group() as tg:
                close_soon(tg, client)
                got = 0
                # the cancelled frame, if cut (TLS: its record too)
                with contextlib.suppress(IncompleteFrameError, anyio.BrokenResourceError):
                    async for frame in server:
                        assert frame == b"%08d" % got + bytes(1000)  # whole frames, in order
                        got += 1
                await anyio.aclose_forcefully(server)
            assert sent <= got <= sent + 1


async def test_a_cancellation_pending_before_a_send_leaves_the_stream_whole(pair):
    async with pair() as (client, server):
        with anyio.CancelScope() as scope:
            scope.cancel()
            await client.send(b"never")
        assert scope.cancelled_caught and not client.broken
        with anyio.fail_after(10):
            await client.send(b"after")
            assert await server.receive() == b"after"


# -- misuse --------------------------------------------------------------------------------


async def test_closed_stream_refuses_everything(pair):
    async with pair() as (client, server):
        await client.send(b"x")
        with anyio.fail_after(10):
            assert await server.receive_many() == [b"x"]
        await anyio.aclose_forcefully(server)  # (a TLS close would wait for the client)
        for call in (server.receive, server.receive_many):
            with pytest.raises(anyio.ClosedResourceError):
                await call()
        with pytest.raises(anyio.ClosedResourceError):
            await server.send(b"x")


@pytest.mark.parametrize("transport", ["tcp", "unix"])  # TLS before 1.3 cannot half-close
async def test_send_after_send_eof_is_refused_and_breaks_nothing(pair):
    async with pair() as (client, server):
        with anyio.fail_after(10):
            await client.send_eof()
            for call, arg in ((client.send, b"late"), (client.send_many, [b"late"])):
                with pytest.raises(anyio.ClosedResourceError, match="send_eof"):
                    await call(arg)
            assert not client.broken  # nothing went out: no frame was cut
            with pytest.raises(anyio.EndOfStream):
                await server.receive()
            await server.send(b"still open")
            assert await client.receive() == b"still open"


async def test_send_eof_after_aclose_is_refused(pair):
    async with pair() as (client, _server):
        await anyio.aclose_forcefully(client)
        with pytest.raises(anyio.ClosedResourceError):
            await client.send_eof()


@pytest.mark.parametrize("transport", ["tcp"])
async def test_two_receivers_or_two_senders_are_refused(pair, impl):
    async with pair(lambda: impl.LengthPrefixFramer(max_frame_size=2 * BIG)) as (client, server):
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.send, bytes(BIG))
                await anyio.wait_all_tasks_blocked()
                with pytest.raises(anyio.BusyResourceError):
                    await client.send(b"x")
                tg.cancel_scope.cancel()
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.receive)
                await anyio.wait_all_tasks_blocked()
                with pytest.raises(anyio.BusyResourceError):
                    await server.receive()
                tg.cancel_scope.cancel()


async def test_bad_read_size_is_refused_before_connecting(impl):
    framer = impl.LengthPrefixFramer()
    with pytest.raises(ValueError, match="read_size"):
        await connect_tcp("127.0.0.1", 1, framer=framer, read_size=0)
    with pytest.raises(ValueError, match="read_size"):
        FramedStream(
            StapledObjectStream(*anyio.create_memory_object_stream(1)[::-1]), framer, read_size=0
        )


# -- other byte streams: an ObjectStream[bytes] of memory object streams ---------------------


async def test_over_memory_object_streams(impl):
    a_send, b_receive = anyio.create_memory_object_stream(100)
    b_send, a_receive = anyio.create_memory_object_stream(100)
    a = FramedStream(StapledObjectStream(a_send, a_receive), impl.DelimiterFramer(b"\r\n"))
    b = FramedStream(StapledObjectStream(b_send, b_receive), impl.DelimiterFramer(b"\r\n"))
    async with a, b:
        wire = a.framer.encode_many([b"one", b"two", b"three"])
        for i in range(len(wire)):  # one byte per chunk
            await a_send.send(wire[i : i + 1])
        await a.send(b"four")
        assert [await b.receive() for _ in range(4)] == [b"one", b"two", b"three", b"four"]
        await b.send(b"back")
        assert await a.receive() == b"back"
        await a.send_eof()  # closes a's memory stream: b sees the end
        with pytest.raises(anyio.EndOfStream):
            await b.receive()


@pytest.mark.parametrize("transport", [t for t in TRANSPORTS if t != "tls"])
async def test_trio_socket_streams_are_read_into_the_framers_buffer(
    anyio_backend, transport, impl, tmp_path
):
    """On trio, anyio's socket streams read their socket only when asked: the FramedStream
    reads it itself, into the framer's buffer (no chunk object), and never calls receive().
    On asyncio (a transport reads the socket on its own) it calls receive()."""
    if transport == "unix":
        listener = await anyio.create_unix_listener(tmp_path / "sock")
        connect = lambda: anyio.connect_unix(tmp_path / "sock")  # noqa: E731
    else:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(SocketAttribute.local_port)
        connect = lambda: anyio.connect_tcp("127.0.0.1", port)  # noqa: E731
    async with listener:
        accepted = []

        async def accept(stream):
            accepted.append(stream)

        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, accept)
            byte_stream = await connect()
            while not accepted:
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        calls = []
        real_receive = accepted[0].receive

        async def receive(max_bytes=65536):
            calls.append(max_bytes)
            return await real_receive(max_bytes)

        accepted[0].receive = receive
        framer = impl.LengthPrefixFramer(max_frame_size=1 << 24)
        async with byte_stream, FramedStream(accepted[0], framer, read_size=1000) as server:
            with anyio.fail_after(10):
                payloads = [b"x" * 10, bytes(range(256)) * 20000, b""]
                wire = framer.encode_many(payloads)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(byte_stream.send, wire)
                    assert [await server.receive() for _ in payloads] == payloads
                await byte_stream.send(wire[:10])
                await byte_stream.send_eof()
                with pytest.raises(IncompleteFrameError):
                    await server.receive()
        assert (calls == []) == (anyio_backend == "trio")


async def test_large_bytes_payloads_go_out_uncopied(impl):
    out, wire = anyio.create_memory_object_stream(10)
    unused_send, unused = anyio.create_memory_object_stream(1)
    framer = impl.LengthPrefixFramer()
    async with FramedStream(StapledObjectStream(out, unused), framer) as stream:
        big, small = bytes(range(256)) * 100, b"small"
        await stream.send(big)
        header = wire.receive_nowait()
        assert header == framer.encode_parts(big)[0]
        assert wire.receive_nowait() is big  # the payload object itself: no copy
        await stream.send(small)  # small: one buffer with its header
        assert wire.receive_nowait() == framer.encode(small)
        await stream.send(bytearray(big))  # not bytes (mutable): encoded, one buffer
        assert wire.receive_nowait() == framer.encode(big)
        with pytest.raises(anyio.WouldBlock):
            wire.receive_nowait()
    unused_send.close()
    wire.close()


# -- pyframe without anyio -----------------------------------------------------------------


def test_pyframe_imports_without_anyio(python_run):
    code = (
        "import sys\n"
        "sys.modules['anyio'] = None  # as if anyio were not installed\n"
        "import pyframe\n"
        "assert 'pyframe.anyio' not in sys.modules\n"
        "try:\n"
        "    import pyframe.anyio\n"
        "except ImportError as exc:\n"
        "    assert 'pip install' in str(exc) and 'anyio' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('pyframe.anyio imported without anyio')\n"
    )
    proc = python_run("-c", code)
    assert proc.returncode == 0, proc.stderr
