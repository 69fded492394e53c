"""The layers (blocking sockets, asyncio, anyio) with framers that transform the payload,
switching framing mid-stream (read_exactly, switch_framer), and a skipped frame's fault
(on_error="raise") delivered at its place among the frames, on both twins."""

import asyncio
import base64
import socket
import threading

import pytest

from pyframe import FrameTooLargeError, IncompleteFrameError, aio
from pyframe.sockets import FramedSocket, FrameTimeoutError


class Base64Lines:
    verbatim = False

    def __init__(self, impl, **kwargs):
        self.lines = impl.LineFramer(**kwargs)
        self.encoded = 0  # encode() and encode_many() calls

    # -- decoding: the LineFramer's, each frame decoded --------------------------------
    max_frame_size = property(lambda self: self.lines.max_frame_size)
    pending = property(lambda self: self.lines.pending)
    on_error = property(lambda self: self.lines.on_error)
    skipped = property(lambda self: self.lines.skipped)

    def feed(self, data):
        return [base64.b64decode(f) for f in self.lines.feed(data)]

    def get_buffer(self, sizehint=-1):
        return self.lines.get_buffer(sizehint)

    def buffer_updated(self, nbytes):
        self.lines.buffer_updated(nbytes)

    def next_frame(self):
        frame = self.lines.next_frame()
        return None if frame is None else base64.b64decode(frame)

    def pop_frames(self):
        return [base64.b64decode(f) for f in self.lines.pop_frames()]

    def eof(self):
        return [base64.b64decode(f) for f in self.lines.eof()]

    def reset(self):
        self.lines.reset()

    def detach(self):
        return self.lines.detach()

    # -- encoding ------------------------------------------------------------------------
    def encode(self, payload):
        self.encoded += 1
        return base64.b64encode(bytes(payload)) + b"\n"

    def encode_many(self, payloads):
        self.encoded += 1
        return b"".join(base64.b64encode(bytes(p)) + b"\n" for p in payloads)

    def encode_parts(self, payload):
        raise TypeError("Base64Lines transforms the payload: encode_parts() cannot split it")


LARGE = bytes(range(256)) * 800  # 200 KiB: above every layer's "send uncopied" size
SMALL = b"small payload"


def sock_pair():
    a, b = socket.socketpair()
    b.settimeout(10)
    return a, b


def sender(sock, *chunks, delay=0.05):
    """Send ``chunks`` from a thread, ``delay`` seconds apart."""

    def run():
        for chunk in chunks:
            sock.sendall(chunk)
            threading.Event().wait(delay)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# -- blocking sockets ----------------------------------------------------------------------


def test_socket_sends_with_a_transforming_framer(impl):
    a, b = sock_pair()
    framer = Base64Lines(impl)
    with FramedSocket(a, framer) as out, FramedSocket(b, Base64Lines(impl)) as into:
        done = threading.Thread(
            target=lambda: (
                out.send(SMALL),
                out.send(LARGE),
                out.send(memoryview(LARGE)),
                out.send_many([SMALL, LARGE, b""]),
                out.send_many([SMALL, SMALL]),
                out.shutdown(),
            )
        )
        done.start()
        got = list(into)
        done.join()
    assert got == [SMALL, LARGE, LARGE, SMALL, LARGE, b"", SMALL, SMALL]
    assert framer.encoded == 5


def test_socket_recv_cuts_one_frame_at_a_time(impl):
    a, b = sock_pair()
    with FramedSocket(b, impl.LineFramer()) as conn:
        a.sendall(b"one\ntwo\nthree\n")
        assert conn.recv() == b"one"
        assert conn.framer.pending == len(b"two\nthree\n")  # not cut ahead
        assert conn.recv() == b"two"
        a.close()
        assert conn.recv() == b"three"
        assert conn.recv() is None
        assert conn.at_eof


def test_socket_read_exactly_after_a_head(impl):
    a, b = sock_pair()
    body = b"B" * 300_000  # over READ_SIZE: partly held by the framer, the rest read raw
    with FramedSocket(b, impl.LineFramer()) as conn:
        thread = sender(a, b"HEAD\n300000\n" + body[:1000], body[1000:] + b"next\nlast")
        assert conn.recv() == b"HEAD"
        assert conn.recv() == b"300000"
        assert conn.read_exactly(300_000) == body
        assert conn.recv() == b"next"
        assert conn.read_exactly(0) == b""
        assert conn.read_exactly(2) == b"la"
        thread.join()
        a.close()
        with pytest.raises(IncompleteFrameError) as info:
            conn.read_exactly(5)
        assert info.value.partial == b"st"
        assert info.value.expected == 5
        assert conn.recv() is None
        with pytest.raises(ValueError):
            conn.read_exactly(-1)


def test_socket_small_reads_exactly_then_frames_again(impl):
    a, b = sock_pair()
    lp = impl.LengthPrefixFramer()
    with FramedSocket(b, impl.LineFramer()) as conn:
        a.sendall(b"raw\n" + b"".join(b"%04d" % i for i in range(1000)) + b"end\n")
        assert conn.recv() == b"raw"
        assert [conn.read_exactly(4) for _ in range(1000)] == [b"%04d" % i for i in range(1000)]
        assert conn.recv() == b"end"  # the raw bytes read ahead are framed again
        a.sendall(b"switch\n" + lp.encode(b"x" * 10) + lp.encode(b"y"))
        assert conn.recv() == b"switch"
        conn.switch_framer(lp)
        assert conn.framer is lp
        assert conn.recv() == b"x" * 10
        assert conn.recv() == b"y"
        conn.send(b"back")
    assert FramedSocket(a, impl.LengthPrefixFramer()).recv() == b"back"


def test_socket_switch_keeps_raw_bytes_and_a_partial_frame(impl):
    a, b = sock_pair()
    lp = impl.LengthPrefixFramer()
    wire = lp.encode(b"z" * 50)
    with FramedSocket(b, impl.LineFramer()) as conn:
        a.sendall(b"go\nRAW" + wire[:20])
        assert conn.recv() == b"go"
        assert conn.read_exactly(3) == b"RAW"
        conn.switch_framer(lp)
        assert lp.pending == 20
        a.sendall(wire[20:])
        assert conn.recv() == b"z" * 50


def test_socket_read_exactly_keeps_bytes_over_a_timeout(impl):
    a, b = sock_pair()
    with FramedSocket(b, impl.LineFramer()) as conn:
        a.sendall(b"h\n" + b"1234")
        assert conn.recv() == b"h"
        conn.settimeout(0.2)
        with pytest.raises(socket.timeout):
            conn.read_exactly(10)
        a.sendall(b"567890")
        assert conn.read_exactly(10) == b"1234567890"
        conn.frame_timeout = 0.2
        conn.settimeout(5)
        a.sendall(b"abc")
        with pytest.raises(FrameTimeoutError):
            conn.read_exactly(6)
        a.sendall(b"def!\n")
        assert conn.read_exactly(6) == b"abcdef"
        assert conn.recv() == b"!"
        conn.setblocking(False)
        with pytest.raises(BlockingIOError):
            conn.read_exactly(1)


def test_socket_read_exactly_goes_on_in_its_buffer_after_blocking(impl, monkeypatch):
    # A large read_exactly() on a non-blocking socket is called again after each
    # BlockingIOError: each call made a new buffer and copied every byte come so far
    # (quadratic in the size). The bytes now stay in the buffer, which the next call fills.
    from pyframe import sockets

    made = []

    def counted(*args):
        made.append(args)
        return bytearray(*args)

    monkeypatch.setattr(sockets, "bytearray", counted, raising=False)
    a, b = sock_pair()
    size = 1 << 20
    body = bytes(range(256)) * (size // 256)
    with FramedSocket(b, impl.LineFramer()) as conn:
        a.sendall(b"head\n" + body[:1000])
        assert conn.recv() == b"head"
        conn.setblocking(False)
        calls = 0
        for at in range(1000, size, 50_000):
            with pytest.raises(BlockingIOError):
                conn.read_exactly(size)
            calls += 1
            a.sendall(body[at : at + 50_000])
        a.sendall(b"next\n")
        conn.setblocking(True)
        assert conn.read_exactly(size) == body
        assert len(made) == 1, (len(made), calls)
        with pytest.raises(BlockingIOError):
            conn.setblocking(False)
            a.sendall(b"1234")
            conn.read_exactly(10)
        conn.setblocking(True)
        assert conn.recv() == b"next"  # bytes kept for another read go to the framer
        a.sendall(b"56789\nlast\n")
        assert conn.read_exactly(4) == b"1234"
        assert conn.switch_framer(impl.LineFramer()) is None
        assert conn.recv() == b"56789"
        assert conn.recv() == b"last"


def test_socket_raises_a_skipped_frames_fault_at_its_place(impl):
    a, b = sock_pair()
    with FramedSocket(b, impl.LineFramer(max_frame_size=3, on_error="raise")) as conn:
        a.sendall(b"ab\nTOO LONG\ncd\nef\n")
        a.close()
        assert conn.recv() == b"ab"
        with pytest.raises(FrameTooLargeError):
            conn.recv()
        assert conn.recv() == b"cd"
        assert conn.recv() == b"ef"
        assert conn.recv() is None


def test_socket_recv_many_raises_a_skipped_frames_fault_at_its_place(impl):
    a, b = sock_pair()
    with FramedSocket(b, impl.LineFramer(max_frame_size=3, on_error="raise")) as conn:
        a.sendall(b"ab\nTOO LONG\ncd\nef\nXXXXXXX\n")
        a.close()
        assert conn.recv_many() == [b"ab"]
        with pytest.raises(FrameTooLargeError):
            conn.recv_many()
        assert conn.recv_many() == [b"cd", b"ef"]
        with pytest.raises(FrameTooLargeError):
            conn.recv_many()
        assert conn.recv_many() == []
        assert conn.framer.skipped == 2


class Counted:
    """A framer that counts the bytes handed to it (buffer_updated) and taken out of it
    (detach): the copies the layer makes of the stream."""

    def __init__(self, framer):
        self.framer = framer
        self.given = self.taken = 0

    def __getattr__(self, name):
        return getattr(self.framer, name)

    def buffer_updated(self, nbytes):
        self.given += nbytes
        self.framer.buffer_updated(nbytes)

    def detach(self):
        held = self.framer.detach()
        self.taken += len(held)
        return held


def test_socket_small_frames_and_reads_copy_a_large_tail_once(impl):
    # memcached's `set`: a line, then its value read exactly, many over one buffered read.
    # Each recv() after a read_exactly() gave every raw byte left back to the framer and
    # the next read_exactly() took them out again: bytes copied grew with the square of
    # the messages in a read.
    a, b = sock_pair()
    count = 3000
    wire = b"set k 0 0 5\r\nhello\r\n" * count
    framer = Counted(impl.LineFramer())
    thread = sender(a, wire, delay=0)
    thread.join()  # (all of it waits in the socket: 66 KB)
    a.close()
    with FramedSocket(b, framer) as conn:
        for _ in range(count):
            assert conn.recv() == b"set k 0 0 5"
            assert conn.read_exactly(7) == b"hello\r\n"
        assert conn.recv() is None
    moved = framer.given + framer.taken
    assert moved <= 3 * len(wire) + count * 4096, (moved, len(wire))


def test_socket_bytes_given_back_after_the_end_are_reported(impl):
    # The stream ended inside a frame; read_exactly() took some of its bytes: the rest is
    # still a frame cut short, not a clean end.
    a, b = sock_pair()
    with FramedSocket(b, impl.LineFramer()) as conn:
        a.sendall(b"line\npartial")
        a.close()
        assert conn.recv() == b"line"
        with pytest.raises(IncompleteFrameError):
            conn.recv()
        assert conn.read_exactly(3) == b"par"
        with pytest.raises(IncompleteFrameError) as info:
            conn.recv()
        assert info.value.partial == b"tial"
        assert not conn.at_eof


# -- asyncio -------------------------------------------------------------------------------


def arun(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def aio_pair(framer, peer_framer):
    """A FrameReader/FrameWriter on one end of a socketpair, a blocking FramedSocket on
    the other."""
    a, b = socket.socketpair()
    reader, writer = await aio.open_connection(sock=a, framer=framer)
    b.settimeout(10)
    return reader, writer, b


async def peer_send(sock, data):
    await asyncio.to_thread(sock.sendall, data)


def peer_frames(sock, framer):
    """Every frame the peer receives until the end of the stream, in a thread."""
    return asyncio.ensure_future(asyncio.to_thread(lambda: list(FramedSocket(sock, framer))))


def test_aio_writes_with_a_transforming_framer(impl):
    async def main():
        framer = Base64Lines(impl)
        _, writer, b = await aio_pair(framer, None)
        received = peer_frames(b, Base64Lines(impl))
        writer.write_frame(SMALL)
        writer.write_frame(LARGE)
        writer.write_frame(bytearray(LARGE))
        writer.write_frames([SMALL, LARGE])
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        assert await received == [SMALL, LARGE, LARGE, SMALL, LARGE]
        assert framer.encoded == 4

    arun(main())


def test_aio_protocol_sends_with_a_transforming_framer(impl):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        protocol = aio.FrameProtocol(Base64Lines(impl))
        await loop.create_connection(lambda: protocol, sock=a)
        b.settimeout(10)
        received = peer_frames(b, Base64Lines(impl))
        try:
            protocol.send_frame(LARGE)
            protocol.send_frame(SMALL)
            await protocol.drain()
        finally:
            protocol.transport.close()
        assert await received == [LARGE, SMALL]

    arun(main())


def test_aio_protocol_switches_framer_in_frame_received(impl):
    # Setting FrameProtocol.framer dropped the bytes the old framer held (a partial frame
    # of the new framing): the new framer read a header out of the middle of a frame.
    class Switching(aio.FrameProtocol):
        def __init__(self):
            super().__init__(impl.LineFramer())
            self.got = []
            self.done = asyncio.get_running_loop().create_future()

        def frame_received(self, frame):
            self.got.append(frame)
            if frame == b"switch":
                self.framer = impl.LengthPrefixFramer()

        def frame_error(self, exc):
            self.got.append(exc)
            super().frame_error(exc)

        def connection_lost(self, exc):
            super().connection_lost(exc)
            self.done.set_result(None)

    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        _, protocol = await loop.create_connection(Switching, sock=a)
        wire = impl.LengthPrefixFramer().encode_many([b"one", b"two"])
        await peer_send(b, b"switch\n" + wire[:5])
        while not protocol.got:  # (the 5 bytes came in the same read)
            await asyncio.sleep(0.01)
        await peer_send(b, wire[5:])
        while len(protocol.got) < 3 and not protocol.done.done():
            await asyncio.sleep(0.01)
        b.close()
        await protocol.done
        assert protocol.got == [b"switch", b"one", b"two"]

    arun(main())


def test_aio_read_frame_cuts_one_frame_and_read_exactly(impl):
    async def main():
        reader, writer, b = await aio_pair(impl.LineFramer(), None)
        body = b"B" * 300_000
        await peer_send(b, b"HEAD\n" + body[:1000])
        assert await reader.read_frame() == b"HEAD"
        assert reader.framer.pending <= 1000  # nothing cut past the head
        task = asyncio.ensure_future(reader.read_exactly(300_000))
        await peer_send(b, body[1000:] + b"next\n" + b"".join(b"%04d" % i for i in range(500)))
        assert await task == body
        assert await reader.read_frame() == b"next"
        assert [await reader.read_exactly(4) for i in range(500)] == [
            b"%04d" % i for i in range(500)
        ]
        await peer_send(b, b"abc")
        with pytest.raises(asyncio.TimeoutError):  # a timeout keeps what came
            await asyncio.wait_for(reader.read_exactly(6), 0.2)
        await peer_send(b, b"def\nlast\nla")
        assert await reader.read_exactly(6) == b"abcdef"
        assert await reader.read_frame() == b""
        assert await reader.read_frame() == b"last"
        b.close()
        with pytest.raises(IncompleteFrameError) as info:
            await reader.read_exactly(5)
        assert (info.value.partial, info.value.expected) == (b"la", 5)
        assert await reader.read_frame() is None
        assert reader.at_eof()
        writer.close()

    arun(main())


def test_aio_small_frames_and_reads_copy_a_large_tail_once(impl):
    # As test_socket_small_frames_and_reads_copy_a_large_tail_once: the raw bytes left go
    # back to the framer a piece at a time; bytes arriving while a piece is lent go in
    # after the rest of the raw bytes, in order.
    async def main():
        framer = Counted(impl.LineFramer())
        reader, writer, b = await aio_pair(framer, None)
        count = 3000
        wire = b"set k 0 0 5\r\nhello\r\n" * count
        await peer_send(b, wire)
        while reader.buffered < len(wire):
            await asyncio.sleep(0.01)
        for i in range(count):
            assert await reader.read_frame() == b"set k 0 0 5"
            if i == 10:  # a piece is lent: the transport's next bytes follow the rest
                left = reader.buffered
                await peer_send(b, b"more\n")
                while reader.buffered < left + 5:
                    await asyncio.sleep(0.01)
            assert await reader.read_exactly(7) == b"hello\r\n"
            if i == 10:
                moved = framer.given + framer.taken
        assert await reader.read_frame() == b"more"
        b.close()
        assert await reader.read_frame() is None
        writer.close()
        return framer.given + framer.taken - moved

    moved = arun(main())
    assert moved <= 3 * 27 * 3000 + 3000 * 4096, moved


def test_aio_switch_framer_both_ways(impl):
    async def main():
        reader, writer, b = await aio_pair(impl.LineFramer(), None)
        lp = impl.LengthPrefixFramer()
        await peer_send(b, b"switch\nRAW" + lp.encode(b"x" * 10) + lp.encode(b"y")[:3])
        assert await reader.read_frame() == b"switch"
        assert await reader.read_exactly(3) == b"RAW"
        reader.switch_framer(lp)
        assert reader.framer is lp and writer.framer is lp
        assert await reader.read_frame() == b"x" * 10
        task = asyncio.ensure_future(reader.read_frame())
        await asyncio.sleep(0.05)
        await peer_send(b, lp.encode(b"y")[3:])
        assert await task == b"y"
        writer.write_frame(b"back")
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        assert FramedSocket(b, impl.LengthPrefixFramer()).recv() == b"back"

    arun(main())


def test_aio_reader_raises_a_skipped_frames_fault_at_its_place(impl):
    async def main():
        reader, writer, b = await aio_pair(
            impl.LineFramer(max_frame_size=3, on_error="raise"), None
        )
        await peer_send(b, b"ab\nTOO LONG\ncd\nef\n")
        assert await reader.read_frame() == b"ab"
        with pytest.raises(FrameTooLargeError):
            await reader.read_frame()
        assert await reader.read_frame() == b"cd"
        await peer_send(b, b"XXXXXX\ngh\n")
        assert await reader.read_frames() == [b"ef"]
        with pytest.raises(FrameTooLargeError):
            await reader.read_frames()
        assert await reader.read_frames() == [b"gh"]
        assert not writer.is_closing()  # the connection stays open
        b.close()
        assert await reader.read_frame() is None
        writer.close()

    arun(main())


def test_aio_reader_closes_on_a_fault_the_framer_cannot_pass(impl):
    async def main():
        reader, writer, b = await aio_pair(impl.LengthPrefixFramer(1, max_frame_size=3), None)
        await peer_send(b, b"\x01a\x09zzzzzzzzz")
        assert await reader.read_frame() == b"a"
        with pytest.raises(FrameTooLargeError):
            await reader.read_frame()
        assert writer.is_closing()
        with pytest.raises(FrameTooLargeError):  # and again
            await reader.read_frame()

    arun(main())


def test_aio_protocol_reports_a_skipped_fault_in_order_and_stays_open(impl):
    class Recorder(aio.FrameProtocol):
        def __init__(self, framer):
            super().__init__(framer)
            self.events = []

        def frame_received(self, frame):
            self.events.append(frame)

        def frame_error(self, exc):
            self.events.append(type(exc).__name__)
            super().frame_error(exc)

    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        protocol = Recorder(impl.LineFramer(max_frame_size=3, on_error="raise"))
        await loop.create_connection(lambda: protocol, sock=a)
        await peer_send(b, b"ab\nTOO LONG\ncd\nXXXXX\nef\n")
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(protocol.events) == 5:
                break
        assert protocol.events == [
            b"ab",
            "FrameTooLargeError",
            b"cd",
            "FrameTooLargeError",
            b"ef",
        ]
        assert not protocol.transport.is_closing()
        await peer_send(b, b"gh")
        b.close()
        await protocol._closed
        assert protocol.events[5:] == ["IncompleteFrameError"]  # cut short: reported

    arun(main())


# -- anyio ---------------------------------------------------------------------------------


def anyio_pair(framer):
    """A FramedStream over memory object streams; the peer's send and receive ends."""
    import anyio
    from anyio.streams.stapled import StapledObjectStream

    from pyframe.anyio import FramedStream

    to_us, ours = anyio.create_memory_object_stream(100)
    to_peer, theirs = anyio.create_memory_object_stream(100)
    return FramedStream(StapledObjectStream(to_peer, ours), framer), to_us, theirs


def test_anyio_sends_with_a_transforming_framer(impl):
    import anyio

    async def main():
        framer = Base64Lines(impl)
        stream, _, theirs = anyio_pair(framer)
        await stream.send(SMALL)
        await stream.send(LARGE)
        await stream.send_many([SMALL, LARGE])
        peer = Base64Lines(impl)
        got = []
        while len(got) < 4:
            got += peer.feed(await theirs.receive())
        assert got == [SMALL, LARGE, SMALL, LARGE]
        assert framer.encoded == 3

    anyio.run(main)


def test_anyio_receive_exactly_and_switch_framer(impl):
    import anyio

    async def main():
        stream, to_us, _ = anyio_pair(impl.LineFramer())
        lp = impl.LengthPrefixFramer()
        await to_us.send(b"HEAD\n12345")
        assert await stream.receive() == b"HEAD"
        assert stream.framer.pending == 5  # nothing cut past the head
        await to_us.send(b"67890tail\n" + b"".join(b"%03d" % i for i in range(100)))
        assert await stream.receive_exactly(10) == b"1234567890"
        assert await stream.receive() == b"tail"
        assert [await stream.receive_exactly(3) for _ in range(100)] == [
            b"%03d" % i for i in range(100)
        ]
        await to_us.send(b"switch\nRAW" + lp.encode(b"x" * 10) + lp.encode(b"y")[:2])
        assert await stream.receive() == b"switch"
        assert await stream.receive_exactly(3) == b"RAW"
        stream.switch_framer(lp)
        assert await stream.receive() == b"x" * 10
        await to_us.send(lp.encode(b"y")[2:] + b"\x00\x00\x00\x09abc")
        assert await stream.receive() == b"y"
        await to_us.aclose()
        with pytest.raises(IncompleteFrameError) as info:
            await stream.receive_exactly(20)
        assert (info.value.partial, info.value.expected) == (b"\x00\x00\x00\x09abc", 20)
        with pytest.raises(anyio.EndOfStream):
            await stream.receive()

    anyio.run(main)


def test_anyio_small_frames_and_reads_copy_a_large_tail_once(impl):
    # As test_socket_small_frames_and_reads_copy_a_large_tail_once; a piece is lent to the
    # framer while receive_exactly() reads more, and while receive_many() cuts the rest.
    import anyio

    async def main():
        framer = Counted(impl.LineFramer())
        stream, to_us, _ = anyio_pair(framer)
        count = 3000
        await to_us.send(b"set k 0 0 5\r\nhello\r\n" * count)
        for _ in range(count):
            assert await stream.receive() == b"set k 0 0 5"
            assert await stream.receive_exactly(7) == b"hello\r\n"
        moved = framer.given + framer.taken
        assert moved <= 3 * 27 * count + count * 4096, moved
        await to_us.send(b"h\nRAW" + b"x\n" * 3000)
        assert await stream.receive() == b"h"
        assert await stream.receive_exactly(3) == b"RAW"
        assert await stream.receive() == b"x"  # a piece of the raw bytes lent
        await to_us.send(b"tail\n")
        assert await stream.receive_exactly(2999 * 2 + 4) == b"x\n" * 2999 + b"tail"
        await to_us.send(b"RAW" + b"y\n" * 3000 + b"end\n")
        assert await stream.receive() == b""
        assert await stream.receive_exactly(3) == b"RAW"
        assert await stream.receive() == b"y"
        assert await stream.receive_many() == [b"y"] * 2999 + [b"end"]

    anyio.run(main)


def test_anyio_raises_a_skipped_frames_fault_at_its_place(impl):
    import anyio

    async def main():
        stream, to_us, _ = anyio_pair(impl.LineFramer(max_frame_size=3, on_error="raise"))
        await to_us.send(b"ab\nTOO LONG\ncd\nef\nXXXXX\ngh\n")
        await to_us.aclose()
        assert await stream.receive() == b"ab"
        with pytest.raises(FrameTooLargeError):
            await stream.receive()
        assert await stream.receive_many() == [b"cd", b"ef"]
        with pytest.raises(FrameTooLargeError):
            await stream.receive_many()
        assert [frame async for frame in stream] == [b"gh"]

    anyio.run(main)


def test_anyio_a_second_receiver_is_busy_while_receive_exactly_waits(impl):
    import anyio

    async def main():
        stream, to_us, _ = anyio_pair(impl.LineFramer())
        await to_us.send(b"a\nb\n")
        async with anyio.create_task_group() as tg:
            got = []

            async def exact():
                got.append(await stream.receive_exactly(10))

            tg.start_soon(exact)
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(anyio.BusyResourceError):
                await stream.receive()  # the bytes are receive_exactly()'s
            await to_us.send(b"12345678")
        assert got == [b"a\nb\n123456"]
        await to_us.send(b"\n")
        assert await stream.receive() == b"78"

    anyio.run(main)
