"""Loopback receive benchmarks for the socket layer, over TCP and AF_UNIX, blocking and
asyncio (measurement functions only; the report lives in ``pyframe._bench``).

Every function takes ``frame_size`` (payload bytes of each frame; the 4-byte big-endian
length header comes on top), ``count`` (frames) and ``family``: ``"tcp"`` (a connection over
127.0.0.1) or ``"unix"`` (an AF_UNIX stream ``socketpair``). A sender thread pushes one
pre-built buffer with ``sendall`` on a plain blocking socket, so every receiver sees the same
bytes and pays nothing for producing them; only the receiver differs. Each function returns
the seconds the receiver needed from the moment the sender starts (connection and event loop
already set up) to the last frame, and raises unless every frame arrived with the right size.

Blocking receivers:

- ``framed_recv(size, count, "cython")``: ``FramedSocket.recv()`` per frame, compiled framer;
- ``framed_recv(size, count, "python")``: the same with the pure-Python twin;
- ``framed_recv(..., method="iter")`` / ``"recv_many"``: iteration / batches instead;
- ``python_struct_loop``: the best plain-Python idiom: ``recv`` 64 KiB into a bytearray,
  ``struct.unpack_from`` and slicing per frame, one ``del buf[:pos]`` per chunk;
- ``python_naive_loop``: the textbook loop: ``recv`` exactly 4 header bytes, ``struct.unpack``,
  then ``recv`` exactly the payload;
- ``raw_recv_into``: ``recv_into`` a fixed buffer until the same byte volume arrived (no
  framing at all: the ceiling).

asyncio receivers (default event loop, one ``asyncio.run`` per call; the receiving socket is
handed to the loop with ``sock=``):

- ``aio_read(size, count, "cython")`` / ``"python"``: ``pyframe.aio`` ``FrameReader.read_frame()``
  per frame (``open_connection`` / ``open_unix_connection``), compiled framer / pure twin;
- ``aio_protocol(size, count, impl)``: a ``pyframe.aio.FrameProtocol`` subclass counting frames
  in ``frame_received`` (the callback API, no awaiting per frame);
- ``asyncio_readexactly``: asyncio's own streams, the usual idiom: ``readexactly(4)``,
  ``struct.unpack``, ``readexactly(n)``;
- ``asyncio_raw``: an ``asyncio.BufferedProtocol`` receiving into one fixed 64 KiB buffer and
  counting bytes (no framing: the ceiling of the asyncio rows).

``python -m pyframe.netbench [ARGS]`` runs the network section of ``pyframe bench`` (the one
report; ``--quick``, ``--json`` ... as there).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Optional, Union, cast

if TYPE_CHECKING:  # imported where used, so that importing netbench stays cheap
    from . import aio
    from ._types import Framer

__all__ = [
    "FAMILIES",
    "aio_protocol",
    "aio_read",
    "asyncio_raw",
    "asyncio_readexactly",
    "framed_recv",
    "python_naive_loop",
    "python_struct_loop",
    "raw_recv_into",
]

READ = 65536
FAMILIES = ("tcp", "unix")
JOIN_TIMEOUT = 30.0  # seconds to wait for the sender thread after a receiver failed


def _wire(frame_size: int, count: int) -> bytes:
    one = (
        struct.pack(">I", frame_size)
        + bytes(range(256)) * (frame_size // 256)
        + bytes(range(frame_size % 256))
    )
    return one * count


def _pair(family: str) -> tuple[socket.socket, socket.socket]:
    """(sender, receiver): connected stream sockets of ``family`` ("tcp" or "unix")."""
    if family == "tcp":
        with socket.create_server(("127.0.0.1", 0)) as listener:
            sender = socket.create_connection(listener.getsockname())
            receiver, _ = listener.accept()
        return sender, receiver
    if family == "unix":
        if not hasattr(socket, "AF_UNIX"):
            raise OSError("AF_UNIX sockets are not available on this platform")
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    raise ValueError(f"family must be one of {FAMILIES}, not {family!r}")


class _Clock:
    """Starts the sender thread and the clock together; stopped at the last frame."""

    def __init__(self, thread: threading.Thread) -> None:
        self._thread = thread
        self.started: Optional[float] = None
        self.stopped: Optional[float] = None

    def start(self) -> None:
        self._thread.start()
        self.started = time.perf_counter()

    def stop(self) -> None:
        self.stopped = time.perf_counter()


def _run(
    frame_size: int, count: int, receive: Callable[..., Any], family: str = "tcp"
) -> tuple[float, Any]:
    """Connect a sender thread to a receiver over ``family`` and time the receiver.

    ``receive(sock)``: a blocking receiver, timed around the call. An ``async def
    receive(sock, clock)`` runs in ``asyncio.run``: it sets up its connection, calls
    ``clock.start()`` (starts the sender), receives, calls ``clock.stop()``, then cleans up.
    """
    wire = _wire(frame_size, count)
    sender_sock, receiver_sock = _pair(family)
    errors: list[OSError] = []

    def send() -> None:
        try:
            sender_sock.sendall(wire)
        except OSError as exc:  # reported by the receiver's count check
            errors.append(exc)
        finally:
            sender_sock.close()

    thread = threading.Thread(target=send, daemon=True)
    clock = _Clock(thread)
    try:
        if asyncio.iscoroutinefunction(receive):
            result = asyncio.run(receive(receiver_sock, clock))
        else:
            clock.start()
            result = receive(receiver_sock)
            clock.stop()
    except BaseException:
        receiver_sock.close()  # a sender blocked in sendall fails and ends
        raise
    finally:
        if clock.started is None:
            sender_sock.close()
        else:
            thread.join(JOIN_TIMEOUT)
        receiver_sock.close()
    if errors:
        raise errors[0]
    if clock.stopped is None:
        raise RuntimeError("receiver returned without stopping the clock")
    return clock.stopped - cast(float, clock.started), result


def _check(result: tuple[int, int], count: int, frame_size: int) -> None:
    n, size = result
    if n != count or size != frame_size:
        raise RuntimeError(
            f"received {n} frames (last {size} B), expected {count} of {frame_size} B"
        )


def _framers(impl: str) -> ModuleType:
    if impl == "cython":
        from . import _cframers as module
    elif impl == "python":
        from . import _pyframers as module  # type: ignore[no-redef]
    else:
        raise ValueError(f"impl must be 'cython' or 'python', not {impl!r}")
    return module


# -- blocking receivers ----------------------------------------------------------------------


def framed_recv(
    frame_size: int, count: int, impl: str = "cython", method: str = "recv", family: str = "tcp"
) -> float:
    """Seconds for a FramedSocket (with the ``impl`` twin: "cython" or "python") to receive
    ``count`` frames, by ``recv()`` per frame, by iteration ("iter") or by "recv_many"."""
    from .sockets import FramedSocket

    module = _framers(impl)
    if method not in ("recv", "iter", "recv_many"):
        raise ValueError(f"method must be 'recv', 'iter' or 'recv_many', not {method!r}")

    def receive(sock: socket.socket) -> tuple[int, int]:
        conn = FramedSocket(sock, module.LengthPrefixFramer())
        n = 0
        last = b""
        if method == "recv":
            recv = conn.recv
            for _ in range(count):
                frame = recv()
                if frame is None:  # clean end of stream before the last frame
                    break
                last = frame
                n += 1
        elif method == "iter":
            for last in conn:  # noqa: B007 (the last frame is checked after the loop)
                n += 1
        else:
            while n < count:
                frames = conn.recv_many()
                if not frames:
                    break
                n += len(frames)
                last = frames[-1]
        return n, len(last)

    elapsed, result = _run(frame_size, count, receive, family)
    _check(result, count, frame_size)
    return elapsed


def python_struct_loop(frame_size: int, count: int, family: str = "tcp") -> float:
    """Seconds for the best plain-Python loop (buffered recv + struct.unpack_from)."""

    def receive(sock: socket.socket) -> tuple[int, int]:
        unpack_from = struct.unpack_from
        buf = bytearray()
        frames = 0
        last = b""
        while frames < count:
            chunk = sock.recv(READ)
            if not chunk:
                break
            buf += chunk
            pos, end = 0, len(buf)
            while end - pos >= 4:
                (n,) = unpack_from(">I", buf, pos)
                if end - pos - 4 < n:
                    break
                last = bytes(buf[pos + 4 : pos + 4 + n])
                pos += 4 + n
                frames += 1
            del buf[:pos]
        return frames, len(last)

    elapsed, result = _run(frame_size, count, receive, family)
    _check(result, count, frame_size)
    return elapsed


def python_naive_loop(frame_size: int, count: int, family: str = "tcp") -> float:
    """Seconds for the textbook loop: recv exactly the header, then exactly the payload."""

    def receive(sock: socket.socket) -> tuple[int, int]:
        def recv_exact(n: int) -> bytes:
            data = b""
            while len(data) < n:
                more = sock.recv(n - len(data))
                if not more:
                    raise EOFError
                data += more
            return data

        unpack = struct.unpack
        last = b""
        for _ in range(count):
            (n,) = unpack(">I", recv_exact(4))
            last = recv_exact(n)
        return count, len(last)

    elapsed, result = _run(frame_size, count, receive, family)
    _check(result, count, frame_size)
    return elapsed


def raw_recv_into(frame_size: int, count: int, family: str = "tcp") -> float:
    """Seconds to receive the same byte volume with ``recv_into`` and no framing."""
    total = (4 + frame_size) * count

    def receive(sock: socket.socket) -> int:
        buf = bytearray(READ)
        view = memoryview(buf)
        got = 0
        recv_into = sock.recv_into
        while got < total:
            n = recv_into(view)
            if not n:
                break
            got += n
        return got

    elapsed, got = _run(frame_size, count, receive, family)
    if got != total:
        raise RuntimeError(f"received {got} bytes, expected {total}")
    return elapsed


# -- asyncio receivers -----------------------------------------------------------------------


async def _close(writer: Union[aio.FrameWriter, asyncio.StreamWriter]) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass


def aio_read(
    frame_size: int,
    count: int,
    impl: str = "cython",
    family: str = "tcp",
    method: str = "read_frame",
) -> float:
    """Seconds for ``pyframe.aio`` (FrameReader.read_frame() per frame, or read_frames()
    batches with ``method="read_frames"``, with the ``impl`` twin) to receive ``count``
    frames on an asyncio connection."""
    from . import aio

    module = _framers(impl)
    opener = aio.open_connection if family == "tcp" else aio.open_unix_connection

    async def receive(sock: socket.socket, clock: _Clock) -> tuple[int, int]:
        reader, writer = await opener(sock=sock, framer=module.LengthPrefixFramer())
        try:
            clock.start()
            n = 0
            last = b""
            if method == "read_frames":
                while n < count:
                    frames = await reader.read_frames()
                    if not frames:
                        break
                    last = frames[-1]
                    n += len(frames)
            else:
                read_frame = reader.read_frame
                for _ in range(count):
                    frame = await read_frame()
                    if frame is None:
                        break
                    last = frame
                    n += 1
            clock.stop()
        finally:
            await _close(writer)
        return n, len(last)

    elapsed, result = _run(frame_size, count, receive, family)
    _check(result, count, frame_size)
    return elapsed


async def _protocol_connection(
    loop: asyncio.AbstractEventLoop,
    family: str,
    factory: Callable[[], asyncio.BaseProtocol],
    sock: socket.socket,
) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
    if family == "tcp":
        return await loop.create_connection(factory, sock=sock)
    return await loop.create_unix_connection(factory, sock=sock)


def aio_protocol(frame_size: int, count: int, impl: str = "cython", family: str = "tcp") -> float:
    """Seconds for a ``pyframe.aio.FrameProtocol`` subclass (callback API, ``impl`` twin) to
    receive ``count`` frames."""
    from . import aio

    module = _framers(impl)

    class Counter(aio.FrameProtocol):
        def __init__(self, framer: Framer, done: asyncio.Future[None]) -> None:
            super().__init__(framer)
            self.n = 0
            self.last = b""
            self.done = done

        def frame_received(self, frame: bytes) -> None:
            self.n += 1
            self.last = frame
            if self.n == count and not self.done.done():
                self.done.set_result(None)

        def eof_received(self) -> bool:
            super().eof_received()
            if not self.done.done():
                self.done.set_result(None)
            return False

        def connection_lost(self, exc: Optional[Exception]) -> None:
            super().connection_lost(exc)
            if not self.done.done():
                self.done.set_result(None)

    async def receive(sock: socket.socket, clock: _Clock) -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        proto = Counter(module.LengthPrefixFramer(), done)
        transport, _ = await _protocol_connection(loop, family, lambda: proto, sock)
        try:
            clock.start()
            await done
            clock.stop()
        finally:
            transport.close()
        return proto.n, len(proto.last)

    elapsed, result = _run(frame_size, count, receive, family)
    _check(result, count, frame_size)
    return elapsed


def asyncio_readexactly(frame_size: int, count: int, family: str = "tcp") -> float:
    """Seconds for asyncio's StreamReader: readexactly(4) + struct.unpack + readexactly(n)."""
    opener = asyncio.open_connection if family == "tcp" else asyncio.open_unix_connection

    async def receive(sock: socket.socket, clock: _Clock) -> tuple[int, int]:
        reader, writer = await opener(sock=sock)
        try:
            clock.start()
            readexactly = reader.readexactly
            unpack = struct.unpack
            last = b""
            for _ in range(count):
                (n,) = unpack(">I", await readexactly(4))
                last = await readexactly(n)
            clock.stop()
        finally:
            await _close(writer)
        return count, len(last)

    elapsed, result = _run(frame_size, count, receive, family)
    _check(result, count, frame_size)
    return elapsed


class _Sink(asyncio.BufferedProtocol):
    """Receives into one fixed buffer and counts the bytes."""

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


def asyncio_raw(frame_size: int, count: int, family: str = "tcp") -> float:
    """Seconds for an asyncio BufferedProtocol to receive the same byte volume into a fixed
    buffer, no framing (the asyncio ceiling)."""
    total = (4 + frame_size) * count

    async def receive(sock: socket.socket, clock: _Clock) -> int:
        loop = asyncio.get_running_loop()
        proto = _Sink(total, loop.create_future())
        transport, _ = await _protocol_connection(loop, family, lambda: proto, sock)
        try:
            clock.start()
            await proto.done
            clock.stop()
        finally:
            transport.close()
        return proto.got

    elapsed, got = _run(frame_size, count, receive, family)
    if got != total:
        raise RuntimeError(f"received {got} bytes, expected {total}")
    return elapsed


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m pyframe.netbench [ARGS]``: the network section of ``pyframe bench``."""
    from ._bench.cli import main as bench

    argv = sys.argv[1:] if argv is None else list(argv)
    return bench(["--filter", "network/", *argv])


if __name__ == "__main__":
    sys.exit(main())
