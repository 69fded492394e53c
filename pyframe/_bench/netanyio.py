"""anyio receivers, on anyio's asyncio and trio backends: ``pyframe.anyio.FramedStream``
(``receive_many()`` batches, ``receive()`` per frame) with the compiled framer or the pure
twin, against what anyio users write by hand: ``BufferedByteReceiveStream.receive_exactly``
(length prefix) or ``receive_until`` (newline) (:func:`.netasync.anyio_buffered`, which
runs on either backend). ``raw`` receives the bytes with the socket stream's ``receive()``
without framing them: the ceiling. Each function returns a coroutine receiver
(:data:`~.netdrive.AsyncReceiver`); :func:`in_backend` runs it with ``anyio.run``.
"""

from __future__ import annotations

import importlib
import socket
from typing import Any, Optional

from .core import FRAMINGS, load_module, optional
from .netdrive import READ, AsyncReceiver, Clock, Receiver

BACKENDS = ("asyncio", "trio")


def in_backend(backend: str, receive: AsyncReceiver) -> Receiver:
    """A blocking receiver running the coroutine receiver with ``anyio.run`` on ``backend``
    ("asyncio": the default event loop; "trio")."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")

    def run(sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]) -> int:
        anyio: Any = optional("anyio")
        if anyio is None or (backend == "trio" and optional("trio") is None):
            raise RuntimeError(f"anyio's {backend} backend is not installed")
        n: int = anyio.run(receive, sock, clock, count, out, backend=backend)
        return n

    return run


async def _socket_stream(sock: socket.socket) -> Any:
    """anyio's socket stream over a connected socket (TCP or AF_UNIX)."""
    abc: Any = importlib.import_module("anyio.abc")
    unix = hasattr(socket, "AF_UNIX") and sock.family == socket.AF_UNIX
    return await (abc.UNIXSocketStream if unix else abc.SocketStream).from_socket(sock)


def framed(impl: str, method: str, family: str, frame_size: int) -> AsyncReceiver:
    """``pyframe.anyio.FramedStream`` over the socket stream: ``receive_many()`` or
    ``receive()`` until ``count`` frames (or the end of the stream)."""
    mod = load_module(impl)
    make = FRAMINGS[family].make

    async def receive(
        sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]
    ) -> int:
        anyio: Any = importlib.import_module("anyio")
        from ..anyio import FramedStream

        stream = FramedStream(await _socket_stream(sock), make(mod, frame_size))
        n = 0
        try:
            clock.start()
            try:
                if method == "receive_many":
                    receive_many = stream.receive_many
                    while n < count:
                        frames = await receive_many()
                        n += len(frames)
                        if out is not None:
                            out.extend(frames)
                else:
                    receive_one = stream.receive
                    while n < count:
                        frame = await receive_one()
                        n += 1
                        if out is not None:
                            out.append(frame)
            except anyio.EndOfStream:
                pass  # a short stream: the count says so
            clock.stop()
        finally:
            await stream.aclose()
        return n

    return receive


def raw(total: int) -> AsyncReceiver:
    """The socket stream's ``receive(64 KiB)`` until ``total`` bytes, no framing."""

    async def receive(
        sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]
    ) -> int:
        anyio: Any = importlib.import_module("anyio")
        stream = await _socket_stream(sock)
        got = 0
        try:
            clock.start()
            receive_bytes = stream.receive
            try:
                while got < total:
                    got += len(await receive_bytes(READ))
            except anyio.EndOfStream:
                pass
            clock.stop()
        finally:
            await stream.aclose()
        if got != total:
            raise RuntimeError(f"received {got} bytes, expected {total}")
        return count

    return receive
