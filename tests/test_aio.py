"""pyframe.aio on real connections, on both framer twins and both event loops (asyncio,
uvloop). All traffic on 127.0.0.1 or temporary AF_UNIX paths; every wait has a timeout."""

import asyncio
import gc
import random
import socket
import struct
import sys
import traceback

import pytest

import pyframe
from pyframe import aio

TIMEOUT = 20


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """Run a coroutine to completion on a fresh loop of the kind under test."""
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
            return loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT * 2))
        finally:
            loop.close()

    runner.kind = request.param
    return runner


def framers(impl):
    return [
        ("length4", lambda: impl.LengthPrefixFramer(4, max_frame_size=2 << 20)),
        ("decimal", lambda: impl.DecimalLengthFramer(8, max_frame_size=2 << 20)),
        ("delimiter", lambda: impl.DelimiterFramer((b"\r\n", b"\0"))),
        ("line", lambda: impl.LineFramer()),
    ]


def clean(payload):
    return payload.replace(b"\n", b"-").replace(b"\r", b"-").replace(b"\0", b"-")


async def echo(reader, writer):
    async for frame in reader:
        writer.write_frame(frame)
        await writer.drain()
    writer.close()


async def start(family, tmp_path, cb, factory, **kw):
    """Start a pyframe.aio server; return (server, connect coroutine function)."""
    if family == "unix":
        path = str(tmp_path / "aio.sock")
        server = await aio.start_unix_server(cb, path, framer_factory=factory, **kw)

        def open_(framer, **kw2):
            return aio.open_unix_connection(path, framer=framer, **kw2)
    else:
        server = await aio.start_server(cb, "127.0.0.1", 0, framer_factory=factory, **kw)
        port = server.sockets[0].getsockname()[1]

        def open_(framer, **kw2):
            return aio.open_connection("127.0.0.1", port, framer=framer, **kw2)

    return server, open_


@pytest.fixture(params=["tcp", "unix"])
def family(request):
    return request.param


def test_roundtrip_every_framer(impl, run, family, tmp_path):
    async def main():
        for name, factory in framers(impl):
            server, open_ = await start(family, tmp_path, echo, factory)
            reader, writer = await open_(factory())
            assert type(reader.framer).__module__ == impl.__name__
            payloads = [b"", b"a", b"hello", clean(bytes(range(256))) * 300]
            for p in payloads:
                writer.write_frame(p)
                await writer.drain()
                assert await reader.read_frame() == p, name
            writer.write_frames(payloads)
            writer.write_frame(bytearray(b"B" * 40000))  # large: header, payload, trailer
            assert [await reader.read_frame() for _ in payloads] == payloads, name
            assert await reader.read_frame() == b"B" * 40000
            assert writer.can_write_eof()
            writer.write_eof()
            assert await reader.read_frame() is None
            assert reader.at_eof()
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()

    run(main())


class Rechunker:
    """An asyncio proxy that re-chunks both directions at random (merges and splits)."""

    def __init__(self, upstream_open, seed):
        self.upstream_open = upstream_open
        self.rng = random.Random(seed)
        self.writes = 0
        # asyncio keeps only weak references to tasks, and its stream protocol one to its
        # StreamReader: once a client has half-closed, nothing else holds a connection's
        # handler, and the garbage collector would destroy it mid-stream (its StreamWriters'
        # __del__ closes both connections: the client reads a frame cut short)
        self.handlers = set()

    async def handle(self, down_r, down_w):
        self.handlers.add(asyncio.current_task())
        up_r, up_w = await self.upstream_open()
        await asyncio.gather(
            self.pump(down_r, up_w, random.Random(self.rng.random())),
            self.pump(up_r, down_w, random.Random(self.rng.random())),
        )

    async def pump(self, reader, writer, rng):
        buf = bytearray()
        try:
            while True:
                data = await reader.read(rng.choice((1, 100, 4096, 65536, 262144)))
                buf += data
                if data and len(buf) < 100000 and rng.random() < 0.5:
                    continue  # merge with what comes next
                while buf:
                    n = min(len(buf), rng.choice((1, 3, 64, 1500, 16384, 200000)))
                    writer.write(bytes(buf[:n]))
                    del buf[:n]
                    self.writes += 1
                    if rng.random() < 0.3:
                        await writer.drain()  # let the pieces go out as separate sends
                await writer.drain()
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
        except (ConnectionError, OSError):
            writer.close()


async def start_proxy(family, tmp_path, server, seed):
    """A Rechunker in front of ``server`` (from start()): (proxy, its asyncio server,
    open_proxy(framer) connecting through it)."""
    if family == "unix":
        upstream = lambda: asyncio.open_unix_connection(str(tmp_path / "aio.sock"))  # noqa
    else:
        port = server.sockets[0].getsockname()[1]
        upstream = lambda: asyncio.open_connection("127.0.0.1", port)  # noqa: E731
    proxy = Rechunker(upstream, seed=seed)
    if family == "unix":
        ppath = str(tmp_path / "proxy.sock")
        pserver = await asyncio.start_unix_server(proxy.handle, ppath)
        open_proxy = lambda f: aio.open_unix_connection(ppath, framer=f)  # noqa: E731
    else:
        pserver = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        pport = pserver.sockets[0].getsockname()[1]
        open_proxy = lambda f: aio.open_connection("127.0.0.1", pport, framer=f)  # noqa
    return proxy, pserver, open_proxy


def test_rechunking_proxy_survives_garbage_collection(impl, run, family, tmp_path):
    """The proxy of the test below once held its connections only through a reference cycle
    (asyncio holds tasks and a StreamReader weakly): a cyclic collection while a half-closed
    client waited for its echo closed the connection mid-stream (a flaky IncompleteFrameError
    under load). pyframe's own streams must survive the collection too."""
    factory = lambda: impl.LengthPrefixFramer()  # noqa: E731
    payload = bytes(range(256)) * 40

    async def main():
        half_closed, release = asyncio.Event(), asyncio.Event()

        async def late_echo(reader, writer):
            frame = await reader.read_frame()
            assert await reader.read_frame() is None  # the proxy passed the client's EOF on
            half_closed.set()
            await release.wait()
            writer.write_frame(frame)
            await writer.drain()
            writer.close()

        server, _open_server = await start(family, tmp_path, late_echo, factory)
        _proxy, pserver, open_proxy = await start_proxy(family, tmp_path, server, seed=1)
        reader, writer = await open_proxy(factory())
        writer.write_frame(payload)
        await writer.drain()
        writer.write_eof()
        await asyncio.wait_for(half_closed.wait(), TIMEOUT)
        gc.collect()  # the proxy's pumps now wait: the client's side is read to its end
        release.set()
        assert await reader.read_frame() == payload
        assert await reader.read_frame() is None
        writer.close()
        await writer.wait_closed()
        pserver.close()
        server.close()

    run(main())


def test_concurrent_clients_through_a_rechunking_proxy(impl, run, family, tmp_path, self_checking):
    clients, count = 4, 300
    factory = lambda: impl.LengthPrefixFramer(max_frame_size=(1 << 20) + 8)  # noqa: E731

    async def main():
        server, _open_server = await start(family, tmp_path, echo, factory)
        proxy, pserver, open_proxy = await start_proxy(family, tmp_path, server, seed=7)

        async def client(k):
            rng = random.Random(k)
            payloads = [self_checking.payload(rng, self_checking.size(rng)) for _ in range(count)]
            reader, writer = await open_proxy(factory())

            async def send():
                for i, p in enumerate(payloads):
                    if k % 2 and i % 10 == 0:
                        writer.write_frames(payloads[i : i + 10])
                    elif not k % 2:
                        writer.write_frame(p)
                    await writer.drain()
                writer.write_eof()

            sender = asyncio.ensure_future(send())
            got = [frame async for frame in reader]
            await sender
            writer.close()
            await writer.wait_closed()
            return payloads, got

        results = await asyncio.gather(*(client(k) for k in range(clients)))
        pserver.close()
        server.close()
        return results, proxy.writes

    results, writes = run(main())
    sizes = []
    for payloads, got in results:
        assert len(got) == len(payloads)
        for sent, received in zip(payloads, got):
            assert received == sent
            if len(received) >= 8:
                assert self_checking.intact(received)
        sizes += [len(p) for p in payloads]
    assert 0 in sizes and max(sizes) > 500000
    assert writes > clients * count


async def raw_server(family, tmp_path, handler):
    """An asyncio streams server whose handler writes raw bytes."""
    if family == "unix":
        path = str(tmp_path / "raw.sock")
        server = await asyncio.start_unix_server(handler, path)
        return server, lambda f, **kw: aio.open_unix_connection(path, framer=f, **kw)
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, lambda f, **kw: aio.open_connection("127.0.0.1", port, framer=f, **kw)


@pytest.mark.parametrize("where", ["between", "header", "payload"])
def test_peer_closes(impl, run, family, tmp_path, where):
    framer = impl.LengthPrefixFramer()
    wire = framer.encode(b"first") + framer.encode(b"")
    tail = framer.encode(b"unfinished")
    cut = {"between": 0, "header": 2, "payload": 7}[where]

    async def handler(reader, writer):
        writer.write(wire + tail[:cut])
        await writer.drain()
        writer.close()

    async def main():
        server, open_ = await raw_server(family, tmp_path, handler)
        reader, writer = await open_(impl.LengthPrefixFramer())
        got = [await reader.read_frame(), await reader.read_frame()]
        assert got == [b"first", b""]
        if where == "between":
            assert await reader.read_frame() is None
            assert await reader.read_frame() is None
        else:
            with pytest.raises(pyframe.IncompleteFrameError) as info:
                await reader.read_frame()
            assert info.value.partial == tail[:cut]
            with pytest.raises(pyframe.IncompleteFrameError):
                await reader.read_frame()  # never a silent None afterwards
        writer.close()
        server.close()

    run(main())


def test_peer_resets(impl, run):
    async def handler(reader, writer):
        writer.write(impl.LengthPrefixFramer().encode(b"before") + b"\x00\x00\x00\x09par")
        await writer.drain()
        await asyncio.sleep(0.1)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST

    async def main():
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await aio.open_connection(
            "127.0.0.1", port, framer=impl.LengthPrefixFramer()
        )
        assert await reader.read_frame() == b"before"
        with pytest.raises((ConnectionResetError, pyframe.IncompleteFrameError)) as info:
            await reader.read_frame()
        if isinstance(info.value, pyframe.IncompleteFrameError):
            # the FIN-less RST may be seen as an end of stream inside the frame
            assert info.value.partial == b"\x00\x00\x00\x09par"
        with pytest.raises(ConnectionError):
            for _ in range(100):
                writer.write_frame(b"x")
                await writer.drain()
        writer.close()
        server.close()

    run(main())


@pytest.mark.parametrize("size", [3, 100_000])  # copied into one write, or sent uncopied
def test_a_refused_payload_is_not_held(impl, run, size):
    """write_frame() keeps no view of a payload the framer refuses: the caller may resize
    it while the error (and its traceback) lives."""

    async def main():
        server = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await aio.open_connection("127.0.0.1", port, framer=impl.LineFramer())
        payload = bytearray(b"a\n".ljust(size, b"x"))
        with pytest.raises(ValueError, match="delimiter") as info:
            writer.write_frame(payload)
        payload.clear()  # (BufferError while a view of it is alive)
        assert info.value.__traceback__ is not None
        writer.close()
        server.close()

    run(main())


def test_a_non_buffer_is_refused_as_the_framer_refuses_it(impl, run):
    """write_frame() says what encode() and FramedSocket.send() say, not memoryview()'s
    own wording."""

    async def main():
        server = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await aio.open_connection("127.0.0.1", port, framer=impl.LineFramer())
        with pytest.raises(TypeError, match=r"^a bytes-like object is required, not 'str'$"):
            writer.write_frame("text")
        writer.close()
        server.close()

    run(main())


def test_framing_error_after_good_frames(impl, run):
    async def handler(reader, writer):
        writer.write(impl.LengthPrefixFramer().encode(b"ok") + struct.pack(">I", 1 << 30))
        await writer.drain()
        await reader.read()  # keep the connection open until the client closes it

    async def main():
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await aio.open_connection(
            "127.0.0.1", port, framer=impl.LengthPrefixFramer(max_frame_size=1000)
        )
        assert await reader.read_frame() == b"ok"
        depths = []
        for _ in range(3):  # raised again on every call, its traceback not growing
            with pytest.raises(pyframe.FrameTooLargeError) as info:
                await reader.read_frame()
            depths.append(len(traceback.extract_tb(info.value.__traceback__)))
        assert depths[0] == depths[1] == depths[2], depths
        await asyncio.wait_for(writer.wait_closed(), TIMEOUT)  # the stream was closed
        server.close()

    run(main())


FLOOD_COUNT, FLOOD_SIZE, FLOOD_HIGH = 2000, 1000, 64 * 1024
FLOOD = [i.to_bytes(4, "big") * (FLOOD_SIZE // 4) for i in range(FLOOD_COUNT)]


async def flooded_reader(impl):
    """A server that sends FLOOD at once, and a reader (high water FLOOD_HIGH) that has
    stopped reading from it: (server, reader, writer)."""

    async def handler(reader, writer):
        framer = impl.LengthPrefixFramer()
        for payload in FLOOD:
            writer.write(framer.encode(payload))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await aio.open_connection(
        "127.0.0.1", port, framer=impl.LengthPrefixFramer(), high_water=FLOOD_HIGH
    )
    for _ in range(200):  # wait until the reader stops reading
        await asyncio.sleep(0.01)
        if not writer.transport.is_reading():
            break
    assert not writer.transport.is_reading()
    return server, reader, writer


def test_read_flow_control_pauses_and_resumes(impl, run):
    count, size, high = FLOOD_COUNT, FLOOD_SIZE, FLOOD_HIGH

    async def main():
        server, reader, writer = await flooded_reader(impl)
        transport = writer.transport
        held = reader.buffered
        assert high < held <= high + 300 * (size + aio.FRAME_OVERHEAD)  # one read's worth
        await asyncio.sleep(0.1)
        assert reader.buffered == held  # paused: nothing more arrives
        got = []
        for _ in range(count):
            got.append(await reader.read_frame())
            if reader.buffered <= high // 4:
                assert transport.is_reading() or reader.at_eof() or transport.is_closing()
        assert await reader.read_frame() is None
        assert got == FLOOD
        writer.close()
        server.close()

    run(main())


def test_read_frames_batches_and_resumes_reading(impl, run):
    async def main():
        server, reader, writer = await flooded_reader(impl)
        transport = writer.transport
        got, batches = [], 0
        while True:
            frames = await reader.read_frames()
            if not frames:
                break
            batches += 1
            got += frames
            assert reader.buffered < FLOOD_SIZE + 4  # every whole frame held was handed over
            assert transport.is_reading() or reader.at_eof() or transport.is_closing()
        assert got == FLOOD
        assert batches < FLOOD_COUNT  # batched: fewer awaits than frames
        assert await reader.read_frames() == []
        writer.close()
        server.close()

    run(main())


def test_flow_control_watermarks_are_checked():
    with pytest.raises(ValueError):
        aio.FrameReader(None, high_water=10, low_water=20)


def test_drain_waits_for_a_slow_peer(impl, run):
    async def main():
        gate = asyncio.Event()
        received = []

        async def handler(reader, writer):
            await gate.wait()
            async for frame in reader:
                received.append(len(frame))
            writer.close()

        server = await aio.start_server(
            handler, "127.0.0.1", 0, framer_factory=impl.LengthPrefixFramer
        )
        port = server.sockets[0].getsockname()[1]
        _reader, writer = await aio.open_connection(
            "127.0.0.1", port, framer=impl.LengthPrefixFramer()
        )
        writer.transport.set_write_buffer_limits(high=65536)
        big = b"z" * (4 << 20)
        blocked = False
        # Loopback kernel buffers and the peer's reader absorb up to ~24 MiB before the
        # transport's own buffer grows; without flow control drain() never waits at all.
        for _ in range(32):
            writer.write_frame(big)
            try:
                await asyncio.wait_for(asyncio.shield(writer.drain()), 0.2)
            except asyncio.TimeoutError:
                blocked = True
                break
        assert blocked  # the peer reads nothing: drain() must wait
        gate.set()
        await asyncio.wait_for(writer.drain(), TIMEOUT)
        writer.write_eof()
        for _ in range(500):
            if writer.transport.get_write_buffer_size() == 0 and received:
                break
            await asyncio.sleep(0.01)
        writer.close()
        await writer.wait_closed()
        server.close()
        return received

    received = run(main())
    assert received and all(n == 4 << 20 for n in received)


def test_protocol_callback_api(impl, run):
    class Collector(aio.FrameProtocol):
        def __init__(self):
            super().__init__(impl.LineFramer())
            self.frames, self.errors, self.lost = [], [], None

        def frame_received(self, frame):
            self.frames.append(frame)
            if frame == b"ping":
                self.send_frame(b"pong")

        def frame_error(self, exc):
            self.errors.append(exc)
            super().frame_error(exc)

        def connection_lost(self, exc):
            super().connection_lost(exc)
            self.lost = self.lost or asyncio.get_running_loop().time()

    async def handler(reader, writer):
        writer.write(b"one\r\ntwo\nping\n")
        await writer.drain()
        assert await reader.readuntil(b"\n") == b"pong\n"
        writer.write(b"tail without newline")
        writer.close()

    async def main():
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        _transport, proto = await loop.create_connection(Collector, "127.0.0.1", port)
        assert isinstance(proto, asyncio.BufferedProtocol)
        for _ in range(500):
            if proto.lost:
                break
            await asyncio.sleep(0.01)
        server.close()
        return proto

    proto = run(main())
    assert proto.frames == [b"one", b"two", b"ping"]
    assert len(proto.errors) == 1 and isinstance(proto.errors[0], pyframe.IncompleteFrameError)
    assert proto.errors[0].partial == b"tail without newline"
    assert proto.lost


def test_frames_received_gets_each_read_in_one_call(impl, run):
    payloads = [b"%d" % i for i in range(5000)]

    class Batches(aio.FrameProtocol):
        def __init__(self):
            super().__init__(impl.LineFramer())
            self.batches, self.single = [], 0
            self.lost = asyncio.get_running_loop().create_future()

        def frame_received(self, frame):
            self.single += 1  # not called: frames_received is overridden

        def frames_received(self, frames):
            assert type(frames) is list and frames
            self.batches.append(frames)

        def connection_lost(self, exc):
            super().connection_lost(exc)
            self.lost.set_result(None)

    async def handler(reader, writer):
        writer.write(impl.LineFramer().encode_many(payloads))  # one write: few reads
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        _transport, proto = await loop.create_connection(Batches, "127.0.0.1", port)
        await asyncio.wait_for(proto.lost, TIMEOUT)
        server.close()
        return proto

    proto = run(main())
    assert [frame for batch in proto.batches for frame in batch] == payloads
    assert len(proto.batches) < 100  # one call per read, not per frame
    assert proto.single == 0


def test_frames_received_defaults_to_frame_received(impl):
    class OneByOne(aio.FrameProtocol):
        def __init__(self):
            super().__init__(impl.LengthPrefixFramer())
            self.frames = []

        def frame_received(self, frame):
            self.frames.append(frame)

    proto = OneByOne()
    proto.frames_received([b"a", b"", b"c"])
    assert proto.frames == [b"a", b"", b"c"]
    wire = impl.LengthPrefixFramer().encode_many([b"x", b"yy"]) + b"\0\0"
    with proto.get_buffer(len(wire)) as view:  # as a transport delivers bytes
        view[: len(wire)] = wire
    proto.buffer_updated(len(wire))
    assert proto.frames == [b"a", b"", b"c", b"x", b"yy"]


class FakeTransport(asyncio.Transport):
    """Records pause_reading() / resume_reading(); delivers nothing by itself."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.closing = False

    def pause_reading(self):
        self.calls.append("pause")

    def resume_reading(self):
        self.calls.append("resume")

    def is_closing(self):
        return self.closing

    def close(self):
        self.closing = True

    def get_extra_info(self, name, default=None):
        return default


def deliver(protocol, data):
    """``data`` through get_buffer()/buffer_updated(), as a transport's reads do (several,
    when the protocol offers less room than ``data`` needs)."""
    while data:
        with protocol.get_buffer(len(data)) as view:
            n = min(len(view), len(data))
            view[:n] = data[:n]
        protocol.buffer_updated(n)
        data = data[n:]


def test_reader_takes_a_read_with_one_wake_up(impl, run):
    async def main():
        protocol = aio._StreamProtocol(impl.LengthPrefixFramer(), aio.HIGH_WATER, None)
        protocol.connection_made(FakeTransport())
        reader = protocol.reader
        wakes = []
        wake = reader._wake
        reader._wake = lambda: (wakes.append(1), wake())
        payloads = [b"%d" % i for i in range(1000)]
        task = asyncio.ensure_future(reader.read_frames())
        await asyncio.sleep(0)  # the task waits for frames
        deliver(protocol, impl.LengthPrefixFramer().encode_many(payloads))
        assert len(wakes) == 1  # one wake-up for the 1000 frames of the read
        assert await task == payloads  # all of them, in one list
        assert reader.buffered == 0

    run(main())


def test_reader_flow_control_counts_the_bytes_held(impl, run):
    """Frames are cut as they are read: the framer's bytes not read yet count."""

    async def main():
        high, low = 10000, 2000
        protocol = aio._StreamProtocol(impl.LengthPrefixFramer(), high, low)
        transport = FakeTransport()
        protocol.connection_made(transport)
        reader = protocol.reader
        framer = impl.LengthPrefixFramer()
        first = [bytes([i]) * 100 for i in range(96)]  # 96 * 104 = 9984: not over
        deliver(protocol, framer.encode_many(first))
        assert reader.buffered == 96 * 104
        assert transport.calls == []
        deliver(protocol, framer.encode_many([b"z" * 100]))  # 10088: over high water
        assert reader.buffered == 97 * 104
        assert transport.calls == ["pause"]
        got = [await reader.read_frame() for _ in range(77)]  # 20 frames held: 2080 > low
        assert reader.buffered == 20 * 104
        assert transport.calls == ["pause"]
        got.append(await reader.read_frame())  # 19 held: 1976 <= low
        assert transport.calls == ["pause", "resume"]
        deliver(protocol, framer.encode_many([b"y"] * 3))
        got += await reader.read_frames()  # the rest of the first batch, then the others
        assert got == [*first, b"z" * 100, b"y", b"y", b"y"]
        assert reader.buffered == 0
        reader._set_exception(ConnectionResetError("gone"))
        with pytest.raises(ConnectionResetError):
            await reader.read_frames()

    run(main())


def test_a_waiting_read_resumes_reading_for_a_frame_over_high_water(impl, run):
    async def main():
        protocol = aio._StreamProtocol(impl.LengthPrefixFramer(), 1000, 100)
        transport = FakeTransport()
        protocol.connection_made(transport)
        reader = protocol.reader
        wire = impl.LengthPrefixFramer().encode(b"x" * 5000)
        deliver(protocol, wire[:2000])  # nobody waits: over high water, paused
        assert transport.calls == ["pause"]
        task = asyncio.ensure_future(reader.read_frame())
        await asyncio.sleep(0)
        assert transport.calls == ["pause", "resume"]  # the read needs more
        deliver(protocol, wire[2000:])
        assert await task == b"x" * 5000
        assert transport.calls == ["pause", "resume"]

    run(main())


def test_a_woken_read_pauses_reading_until_it_runs(impl, run):
    """uvloop reads up to 32 times before the task it woke runs: past _WOKEN_WATER the
    protocol pauses reading, so that the read does not cut megabytes of frames at once."""

    async def main():
        protocol = aio._StreamProtocol(impl.LengthPrefixFramer(), aio.HIGH_WATER, None)
        transport = FakeTransport()
        protocol.connection_made(transport)
        reader = protocol.reader
        task = asyncio.ensure_future(reader.read_frames())
        await asyncio.sleep(0)  # the task waits for frames
        chunk = impl.LengthPrefixFramer().encode_many([b"x" * 60] * 1000)  # 64,000 bytes
        deliver(protocol, chunk)  # wakes the read
        deliver(protocol, chunk)  # 128,000 held: within HIGH_WATER, over _WOKEN_WATER
        assert 2 * len(chunk) > aio._WOKEN_WATER and transport.calls == ["pause"]
        assert await task == [b"x" * 60] * 2000  # the read ran: it cut both reads
        assert transport.calls == ["pause", "resume"]  # and reading goes on
        deliver(protocol, chunk)  # nobody waits now: HIGH_WATER applies again
        deliver(protocol, chunk)
        assert transport.calls == ["pause", "resume"]
        assert len(await reader.read_frames()) == 2000

    run(main())


@pytest.mark.parametrize("low", [16384, None])
def test_a_woken_read_resumes_reading_below_high_water_when_it_runs(impl, run, low):
    """The woken pause only holds reads back until the read runs: a read_frame() that
    returns one frame must not leave reading paused far below high_water (until low_water)."""

    async def main():
        protocol = aio._StreamProtocol(impl.LengthPrefixFramer(), 256 * 1024, low)
        transport = FakeTransport()
        protocol.connection_made(transport)
        reader = protocol.reader
        task = asyncio.ensure_future(reader.read_frame())
        await asyncio.sleep(0)
        chunk = impl.LengthPrefixFramer().encode_many([b"x" * 60] * 1000)
        deliver(protocol, chunk)  # wakes the read
        deliver(protocol, chunk)  # pauses: over _WOKEN_WATER
        assert transport.calls == ["pause"]
        assert await task == b"x" * 60
        assert protocol._framer.pending > reader._low  # within high_water, over low_water
        assert transport.calls == ["pause", "resume"] and not reader._paused

    run(main())


@pytest.mark.parametrize("which", ["reader", "FrameProtocol"])
def test_buffer_updated_past_the_view_handed_out_is_refused(impl, run, which):
    """The framer lent all of its room, the transport got READ_SIZE of it: more is refused."""

    async def main():
        framer = impl.LengthPrefixFramer()
        if which == "FrameProtocol":
            protocol = aio.FrameProtocol(framer)
        else:
            protocol = aio._StreamProtocol(framer, aio.HIGH_WATER, None)
            protocol.connection_made(FakeTransport())
        deliver(protocol, framer.encode(b"x" * (2 << 20)))  # grows the array
        if which == "reader":
            await protocol.reader.read_frame()
        with protocol.get_buffer(-1) as view:
            assert len(view) == aio.READ_SIZE
        with pytest.raises(ValueError):
            protocol.buffer_updated(aio.READ_SIZE + 1)
        protocol.buffer_updated(0)
        assert framer.pending == 0

    run(main())


@pytest.mark.parametrize("which", ["reader", "FrameProtocol"])
def test_one_read_fills_at_most_read_size(impl, run, which):
    """A framer lends all of its room (a megabyte, once a big frame grew its array); the
    protocols hand a transport at most READ_SIZE of it, as FramedSocket reads."""

    def protocol_over(framer):
        if which == "FrameProtocol":
            return aio.FrameProtocol(framer)
        protocol = aio._StreamProtocol(framer, aio.HIGH_WATER, None)
        protocol.connection_made(FakeTransport())
        return protocol

    async def main():
        framer = impl.LengthPrefixFramer()
        protocol = protocol_over(framer)
        deliver(protocol, framer.encode(b"x" * (2 << 20)))  # a 2 MiB frame grows the array
        assert len(framer.get_buffer(65536)) > aio.READ_SIZE  # (the framer lends it all)
        for hint in (-1, 65536, 1 << 20):
            with protocol.get_buffer(hint) as view:
                assert len(view) == aio.READ_SIZE
        small = impl.LengthPrefixFramer()
        protocol = protocol_over(small)
        with protocol.get_buffer(1000) as view:  # less room than READ_SIZE: all of it
            assert len(view) == len(small.get_buffer(1000))

    run(main())


def test_callback_exception_closes_the_connection(impl, run):
    async def main():
        loop = asyncio.get_running_loop()
        seen = []
        loop.set_exception_handler(lambda loop, ctx: seen.append(ctx.get("exception")))

        async def bad(reader, writer):
            raise RuntimeError("boom")

        server = await aio.start_server(bad, "127.0.0.1", 0, framer_factory=impl.LengthPrefixFramer)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await aio.open_connection(
            "127.0.0.1", port, framer=impl.LengthPrefixFramer()
        )
        assert await reader.read_frame() is None
        assert any(isinstance(e, RuntimeError) for e in seen)
        writer.close()
        server.close()

    run(main())


# -- interop with asyncio's own streams and with Twisted --------------------------------


def test_interop_with_asyncio_streams_both_ways(impl, run):
    rng = random.Random(9)
    payloads = [clean(rng.randbytes(rng.randrange(0, 30000))) for _ in range(150)]

    async def main():
        async def plain(reader, writer):
            while True:
                try:
                    (n,) = struct.unpack(">I", await reader.readexactly(4))
                    body = await reader.readexactly(n)
                except asyncio.IncompleteReadError:
                    break
                writer.write(struct.pack(">I", n) + body[::-1])
                await writer.drain()
            writer.close()

        async def lines(reader, writer):
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    break
                writer.write(line[:-1][::-1] + b"\n")
                await writer.drain()
            writer.close()

        results = []
        for handler, factory in ((plain, impl.LengthPrefixFramer), (lines, impl.LineFramer)):
            server = await asyncio.start_server(handler, "127.0.0.1", 0, limit=1 << 20)
            port = server.sockets[0].getsockname()[1]
            reader, writer = await aio.open_connection("127.0.0.1", port, framer=factory())
            for p in payloads:
                writer.write_frame(p)
            await writer.drain()
            writer.write_eof()
            results.append([frame async for frame in reader])
            writer.close()
            server.close()

        # and the other way: pyframe.aio serves, asyncio's readexactly reads
        server = await aio.start_server(
            echo, "127.0.0.1", 0, framer_factory=impl.LengthPrefixFramer
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        for p in payloads:
            writer.write(struct.pack(">I", len(p)) + p)
        await writer.drain()
        back = []
        for _ in payloads:
            (n,) = struct.unpack(">I", await reader.readexactly(4))
            back.append(await reader.readexactly(n))
        writer.close()
        server.close()
        results.append(back)
        return results

    by_length, by_line, echoed = run(main())
    assert by_length == [p[::-1] for p in payloads]
    assert by_line == [p[::-1] for p in payloads]
    assert echoed == payloads


@pytest.mark.parametrize("mode", ["length", "line"])
def test_interop_with_twisted(impl, run, mode, twisted_echo):
    port = twisted_echo(mode)
    factory = impl.LengthPrefixFramer if mode == "length" else impl.LineFramer
    rng = random.Random(mode)
    payloads = [clean(rng.randbytes(rng.randrange(0, 20000))) for _ in range(200)]

    async def main():
        reader, writer = await aio.open_connection("127.0.0.1", port, framer=factory())
        writer.write_frames(payloads[:100])
        for p in payloads[100:]:
            writer.write_frame(p)
        await writer.drain()
        got = [await reader.read_frame() for _ in payloads]
        writer.close()
        await writer.wait_closed()
        return got

    assert run(main()) == [p[::-1] for p in payloads]


class Interrupt(Exception):
    """What a signal handler raises in the tests below."""


class InterruptedTransport:
    """A transport whose write() raises Interrupt, as a signal handler's exception would
    between the two pieces of a large frame (writelines(), then write())."""

    def __init__(self, transport):
        self._transport = transport

    def __getattr__(self, name):
        return getattr(self._transport, name)

    def write(self, data):
        raise Interrupt


def test_an_exception_between_the_pieces_of_a_frame_breaks_the_writer(impl, run):
    async def main():
        a, b = socket.socketpair()
        _, writer = await aio.open_connection(
            sock=a, framer=impl.LengthPrefixFramer(max_frame_size=None)
        )
        protocol = writer._protocol
        real = protocol.transport
        protocol.transport = InterruptedTransport(real)
        try:
            with pytest.raises(Interrupt):
                writer.write_frame(b"x" * (32 << 20))  # all but its last byte are queued
        finally:
            protocol.transport = real
        with pytest.raises(pyframe.BrokenStreamError, match="out of sync"):
            writer.write_frame(b"next")  # never appended after part of a frame
        with pytest.raises(pyframe.BrokenStreamError):
            writer.write_frames([b"a", b"b"])
        writer.close()
        b.close()

    run(main())
