"""Event-loop receivers: frames over a socket under asyncio, uvloop and anyio.

pyframe's ``pyframe.aio`` (``FrameReader.read_frames()`` batches, ``read_frame()`` per
frame, a ``FrameProtocol`` subclass) with the compiled framer or the pure twin, and what
users write by hand: asyncio's ``StreamReader`` (``readexactly`` / ``readuntil``), a
hand-written ``asyncio.Protocol`` whose ``data_received`` runs a ``struct`` loop or the
split idiom, and anyio's ``BufferedByteReceiveStream`` (``receive_exactly`` /
``receive_until``). ``raw`` is an ``asyncio.BufferedProtocol`` receiving the bytes into a
fixed buffer without framing them: the ceiling. Each function returns a coroutine
receiver (:data:`~.netdrive.AsyncReceiver`); :mod:`.netdrive` runs it in a loop.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
import struct
from typing import Any, Optional

from .core import FRAMINGS, limit, load_module
from .netdrive import READ, AsyncReceiver, Clock


async def _close(writer: Any) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass


def _unix(sock: socket.socket) -> bool:
    return hasattr(socket, "AF_UNIX") and sock.family == socket.AF_UNIX


def reader(impl: str, method: str, family: str, frame_size: int) -> AsyncReceiver:
    """``pyframe.aio.open_connection(sock=...)``, then ``read_frames()`` or ``read_frame()``."""
    from .. import aio

    mod = load_module(impl)
    make = FRAMINGS[family].make

    async def receive(
        sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]
    ) -> int:
        opener = aio.open_unix_connection if _unix(sock) else aio.open_connection
        frames_reader, writer = await opener(sock=sock, framer=make(mod, frame_size))
        n = 0
        try:
            clock.start()
            if method == "read_frames":
                read_frames = frames_reader.read_frames
                while n < count:
                    frames = await read_frames()
                    if not frames:
                        break
                    n += len(frames)
                    if out is not None:
                        out.extend(frames)
            else:
                read_frame = frames_reader.read_frame
                while n < count:
                    frame = await read_frame()
                    if frame is None:
                        break
                    n += 1
                    if out is not None:
                        out.append(frame)
            clock.stop()
        finally:
            await _close(writer)
        return n

    return receive


class _Done(asyncio.Protocol):
    """Shared ending of the hand-written protocols: a future set at ``count`` frames."""

    def __init__(self, count: int, done: asyncio.Future[None], out: Optional[list[Any]]) -> None:
        self.count = count
        self.done = done
        self.out = out
        self.n = 0

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def eof_received(self) -> bool:
        self.finish()
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.finish()


class _SplitProtocol(_Done):
    """A hand-written asyncio.Protocol: ``(tail + data).split(b"\\n")`` per chunk."""

    tail = b""

    def data_received(self, data: bytes) -> None:
        lines = (self.tail + data).split(b"\n")
        self.tail = lines.pop()
        self.n += len(lines)
        if self.out is not None:
            self.out.extend(lines)
        if self.n >= self.count:
            self.finish()


_unpack_from = struct.Struct(">I").unpack_from


class _StructProtocol(_Done):
    """A hand-written asyncio.Protocol: a bytearray, ``struct.unpack_from`` and a slice per
    frame, one ``del buf[:pos]`` per chunk."""

    def __init__(self, count: int, done: asyncio.Future[None], out: Optional[list[Any]]) -> None:
        super().__init__(count, done, out)
        self.buf = bytearray()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        frames: list[Any] = []
        append = frames.append
        pos, end = 0, len(buf)
        while end - pos >= 4:
            (size,) = _unpack_from(buf, pos)
            stop = pos + 4 + size
            if stop > end:
                break
            append(buf[pos + 4 : stop])
            pos = stop
        del buf[:pos]
        self.n += len(frames)
        if self.out is not None:
            self.out.extend(frames)
        if self.n >= self.count:
            self.finish()


class _Sink(asyncio.BufferedProtocol):
    """Receives into one fixed buffer and counts the bytes: the ceiling."""

    def __init__(self, total: int, done: asyncio.Future[None]) -> None:
        self.view = memoryview(bytearray(READ))
        self.total = total
        self.got = 0
        self.done = done

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.got += nbytes
        if self.got >= self.total and not self.done.done():
            self.done.set_result(None)

    def eof_received(self) -> bool:
        if not self.done.done():
            self.done.set_result(None)
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _connect(sock: socket.socket, protocol: asyncio.BaseProtocol) -> asyncio.BaseTransport:
    loop = asyncio.get_running_loop()
    if _unix(sock):
        transport, _ = await loop.create_unix_connection(lambda: protocol, sock=sock)
    else:
        transport, _ = await loop.create_connection(lambda: protocol, sock=sock)
    return transport


def hand_protocol(family: str) -> AsyncReceiver:
    """The hand-written ``asyncio.Protocol`` for ``family``: split or struct loop."""
    cls = _SplitProtocol if family == "newline" else _StructProtocol

    async def receive(
        sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]
    ) -> int:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        protocol = cls(count, done, out)
        transport = await _connect(sock, protocol)
        try:
            clock.start()
            await done
            clock.stop()
        finally:
            transport.close()
        return protocol.n

    return receive


def frame_protocol(impl: str, family: str, frame_size: int) -> AsyncReceiver:
    """A ``pyframe.aio.FrameProtocol`` subclass counting frames: it takes them in batches
    (``frames_received``) where the FrameProtocol offers that, else one by one."""
    from .. import aio

    mod = load_module(impl)
    make = FRAMINGS[family].make

    async def receive(
        sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]
    ) -> int:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        class Counter(aio.FrameProtocol):
            n = 0

            def frame_received(self, frame: bytes) -> None:
                self.n += 1
                if out is not None:
                    out.append(frame)
                if self.n >= count and not done.done():
                    done.set_result(None)

            def frames_received(self, frames: list[bytes]) -> None:
                self.n += len(frames)
                if out is not None:
                    out.extend(frames)
                if self.n >= count and not done.done():
                    done.set_result(None)

            def eof_received(self) -> Optional[bool]:
                super().eof_received()
                if not done.done():
                    done.set_result(None)
                return False

            def connection_lost(self, exc: Optional[Exception]) -> None:
                super().connection_lost(exc)
                if not done.done():
                    done.set_result(None)

        protocol = Counter(make(mod, frame_size))
        transport = await _connect(sock, protocol)
        try:
            clock.start()
            await done
            clock.stop()
        finally:
            transport.close()
        return protocol.n

    return receive


def stream_reader(family: str, frame_size: int) -> AsyncReceiver:
    """asyncio's streams: ``readexactly(4)`` + ``struct.unpack`` + ``readexactly(n)``, or
    ``readuntil(b"\\n")`` (the line keeps its b"\\n" unless stripped: here it is sliced off,
    as the streams' users do)."""

    async def receive(
        sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]
    ) -> int:
        kwargs: dict[str, Any] = {"sock": sock, "limit": max(64 * 1024, 2 * frame_size + 64)}
        if _unix(sock):
            stream, writer = await asyncio.open_unix_connection(**kwargs)
        else:
            stream, writer = await asyncio.open_connection(**kwargs)
        n = 0
        try:
            clock.start()
            if family == "newline":
                readuntil = stream.readuntil
                for _ in range(count):
                    frame = (await readuntil(b"\n"))[:-1]
                    if out is not None:
                        out.append(frame)
            else:
                readexactly = stream.readexactly
                unpack = struct.unpack
                for _ in range(count):
                    (size,) = unpack(">I", await readexactly(4))
                    frame = await readexactly(size)
                    if out is not None:
                        out.append(frame)
            n = count
            clock.stop()
        finally:
            await _close(writer)
        return n

    return receive


def anyio_buffered(family: str, frame_size: int) -> AsyncReceiver:
    """anyio's ``BufferedByteReceiveStream`` over the socket's stream:
    ``receive_exactly(4)`` + ``receive_exactly(n)``, or ``receive_until(b"\\n", limit)``."""

    async def receive(
        sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]
    ) -> int:
        abc: Any = importlib.import_module("anyio.abc")
        buffered: Any = importlib.import_module("anyio.streams.buffered")
        kind = abc.UNIXSocketStream if _unix(sock) else abc.SocketStream
        stream = await kind.from_socket(sock)
        receiver = buffered.BufferedByteReceiveStream(stream)
        try:
            clock.start()
            if family == "newline":
                receive_until = receiver.receive_until
                most = limit(frame_size)
                for _ in range(count):
                    frame = await receive_until(b"\n", most)
                    if out is not None:
                        out.append(frame)
            else:
                receive_exactly = receiver.receive_exactly
                from_bytes = int.from_bytes
                for _ in range(count):
                    frame = await receive_exactly(from_bytes(await receive_exactly(4), "big"))
                    if out is not None:
                        out.append(frame)
            clock.stop()
        finally:
            await stream.aclose()
        return count

    return receive


def raw(total: int) -> AsyncReceiver:
    """An ``asyncio.BufferedProtocol`` receiving ``total`` bytes into a fixed buffer."""

    async def receive(
        sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]
    ) -> int:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        protocol = _Sink(total, done)
        transport = await _connect(sock, protocol)
        try:
            clock.start()
            await done
            clock.stop()
        finally:
            transport.close()
        if protocol.got != total:
            raise RuntimeError(f"received {protocol.got} bytes, expected {total}")
        return count

    return receive
