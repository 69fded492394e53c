"""Blocking network receivers: frames over a socket, without an event loop.

pyframe's ``FramedSocket`` (``recv_many()`` batches, ``recv()`` per frame, iteration) with
the compiled framer or the pure twin, and what users write by hand: for a length prefix a
``recv`` + ``struct.unpack_from`` loop, the textbook loop that receives exactly the header
then exactly the payload, and ``sock.makefile('rb')`` with ``read(4)`` + ``read(n)``; for
lines the ``(tail + sock.recv(256 KiB)).split(b"\\n")`` loop and ``makefile('rb').readline()``.
``raw`` receives the same bytes into a fixed buffer without framing them: the ceiling.
Each receiver is a :data:`~.netdrive.Receiver`; :func:`receiver` picks one by name.
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Callable, Optional

from .core import FRAMINGS, load_module
from .netdrive import READ, Clock, Receiver

SPLIT_READ = 256 * 1024


def framed(impl: str, method: str, family: str, frame_size: int) -> Receiver:
    """``FramedSocket`` receiving by ``method``: "recv_many", "recv" or "iter"."""
    from ..sockets import FramedSocket

    mod = load_module(impl)
    make = FRAMINGS[family].make

    def receive(sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]) -> int:
        conn = FramedSocket(sock, make(mod, frame_size))
        n = 0
        clock.start()
        if method == "recv_many":
            recv_many = conn.recv_many
            while n < count:
                frames = recv_many()
                if not frames:
                    break
                n += len(frames)
                if out is not None:
                    out.extend(frames)
        elif method == "recv":
            recv = conn.recv
            while n < count:
                frame = recv()
                if frame is None:  # clean end of stream before the last frame
                    break
                n += 1
                if out is not None:
                    out.append(frame)
        else:
            for frame in conn:
                n += 1
                if out is not None:
                    out.append(frame)
        clock.stop()
        return n

    return receive


def struct_loop(sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]) -> int:
    """recv 64 KiB into a bytearray, struct.unpack_from and a slice per frame, one
    ``del buf[:pos]`` per chunk."""
    unpack_from = struct.Struct(">I").unpack_from
    recv = sock.recv
    buf = bytearray()
    n = 0
    clock.start()
    while n < count:
        chunk = recv(READ)
        if not chunk:
            break
        buf += chunk
        frames: list[Any] = []
        append = frames.append
        pos, end = 0, len(buf)
        while end - pos >= 4:
            (size,) = unpack_from(buf, pos)
            stop = pos + 4 + size
            if stop > end:
                break
            append(buf[pos + 4 : stop])
            pos = stop
        del buf[:pos]
        n += len(frames)
        if out is not None:
            out.extend(frames)
    clock.stop()
    return n


def naive_loop(sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]) -> int:
    """The textbook loop: recv exactly the 4 header bytes, then exactly the payload."""
    recv = sock.recv

    def recv_exact(size: int) -> bytes:
        data = b""
        while len(data) < size:
            more = recv(size - len(data))
            if not more:
                raise EOFError(f"the stream ended {size - len(data)} bytes short")
            data += more
        return data

    unpack = struct.unpack
    clock.start()
    for _ in range(count):
        (size,) = unpack(">I", recv_exact(4))
        frame = recv_exact(size)
        if out is not None:
            out.append(frame)
    clock.stop()
    return count


def makefile_read(sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]) -> int:
    """``sock.makefile('rb')``: ``read(4)``, ``struct.unpack``, ``read(n)``."""
    unpack = struct.unpack
    n = 0
    with sock.makefile("rb") as f:
        read = f.read
        clock.start()
        while n < count:
            header = read(4)
            if len(header) < 4:
                break
            (size,) = unpack(">I", header)
            frame = read(size)
            if len(frame) < size:
                break
            n += 1
            if out is not None:
                out.append(frame)
        clock.stop()
    return n


def split_loop(sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]) -> int:
    """``(tail + sock.recv(256 KiB)).split(b"\\n")``, the last piece kept as the tail."""
    recv = sock.recv
    tail = b""
    n = 0
    clock.start()
    while n < count:
        chunk = recv(SPLIT_READ)
        if not chunk:
            break
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        n += len(lines)
        if out is not None:
            out.extend(lines)
    clock.stop()
    return n


def makefile_readline(
    sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]
) -> int:
    """``sock.makefile('rb').readline()`` per line (lines keep their b"\\n")."""
    n = 0
    with sock.makefile("rb") as f:
        readline = f.readline
        clock.start()
        while n < count:
            line = readline()
            if not line.endswith(b"\n"):
                break
            n += 1
            if out is not None:
                out.append(line)
        clock.stop()
    return n


def raw_recv_into(total: int) -> Receiver:
    """``recv_into`` a fixed 64 KiB buffer until ``total`` bytes came: no framing."""

    def receive(sock: socket.socket, clock: Clock, count: int, out: Optional[list[Any]]) -> int:
        view = memoryview(bytearray(READ))
        recv_into = sock.recv_into
        got = 0
        clock.start()
        while got < total:
            k = recv_into(view)
            if not k:
                break
            got += k
        clock.stop()
        if got != total:
            raise RuntimeError(f"received {got} bytes, expected {total}")
        return count

    return receive


RECEIVERS: dict[str, Callable[[socket.socket, Clock, int, Optional[list[Any]]], int]] = {
    "struct": struct_loop,
    "naive": naive_loop,
    "makefile": makefile_read,
    "split": split_loop,
    "makefile readline": makefile_readline,
}
