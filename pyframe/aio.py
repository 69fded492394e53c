"""Framed asyncio streams: frames in and out of asyncio (and uvloop) connections.

Streams, like ``asyncio.open_connection``::

    reader, writer = await pyframe.aio.open_connection("127.0.0.1", 8000,
                                                       framer=pyframe.LengthPrefixFramer())
    writer.write_frame(b"hello")
    await writer.drain()
    reply = await reader.read_frame()      # bytes, or None at a clean end of stream
    writer.close()
    await writer.wait_closed()

    async def handle(reader, writer):
        async for frame in reader:         # frames until the peer closes cleanly
            writer.write_frame(frame)
            await writer.drain()

    server = await pyframe.aio.start_server(handle, "127.0.0.1", 8000,
                                            framer_factory=pyframe.LengthPrefixFramer)

Protocols, for code that prefers callbacks: subclass ``FrameProtocol`` and override
``frame_received(frame)``, or ``frames_received(frames)`` to take every frame of a read in one
call (a list; the default calls ``frame_received`` for each). Underneath both is an
``asyncio.BufferedProtocol``: the transport reads straight into the framer's buffer
(``get_buffer``/``buffer_updated``); this module owns no framing logic.

Timeouts (servers; README "Servers under load"): while a task waits in ``read_frame()``, a
peer that sends nothing for ``idle_timeout`` seconds between frames makes it raise
``IdleTimeoutError``, and one that stalls for ``read_timeout`` seconds inside a frame makes it
raise ``socket.timeout`` (the bytes of the frame are kept); a frame still not whole
``frame_timeout`` seconds after a waiting read first held bytes of it (a peer dripping it)
makes it raise ``FrameTimeoutError`` (bytes kept too); ``drain()`` waiting ``write_timeout``
seconds for a peer that reads nothing raises ``socket.timeout``. ``start_server`` and
``start_unix_server`` default ``frame_timeout`` to 120 s, the other three to 60 s
(``FrameReader`` and ``FrameWriter`` take them too; a client's reader and writer from
``open_connection`` have none). A handler that lets the exception end it just closes the
connection (logged at DEBUG; aborted if unsent bytes remain). A server's connection idle for a
second while a read waits gives its framer's read buffer back, and once the server is closed,
a read waiting for a new frame returns None (as at a clean end of stream) and the connection
is closed when its handler returns.

Frames are cut on demand: a FrameReader's connection reads into the framer's buffer, and
``read_frame()`` cuts one frame (``framer.next_frame()``), so the bytes after it stay raw:
``read_exactly(n)`` returns the next ``n`` bytes and ``switch_framer(new)`` hands them all to
another framer (an HTTP body after its head). ``read_frames()`` cuts every frame held.
A framer with ``on_error="raise"`` has a skipped frame's fault raised by the read at its place
among the frames, once; the next read goes on (``FrameProtocol`` calls ``frame_error(exc)``
there and goes on).

Flow control: the bytes the framer holds wait for a read; when they exceed ``high_water``
reading pauses, and it resumes once they are at most ``low_water``, or when a read waits
for more (a frame bigger than ``high_water`` still arrives: memory stays bounded by
``max_frame_size`` plus a read). Writers honour ``drain()``, which waits while the
transport's write buffer is above its own high-water mark.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
from collections.abc import Awaitable, Iterable, Sequence
from operator import index as _index
from typing import Any, Callable, Optional, TypeVar, Union, cast

from . import _rawbytes, _rules
from ._errors import FrameError, IncompleteFrameError
from ._types import Buffer, Framer
from .sockets import (
    FRAME_TIMEOUT,
    IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    READ_SIZE,
    TIMEOUT,
    BrokenStreamError,
    FrameTimeoutError,
    IdleTimeoutError,
    _nbytes,
    _releases_buffer,
)

__all__ = [
    "FRAME_OVERHEAD",
    "HIGH_WATER",
    "FrameProtocol",
    "FrameReader",
    "FrameTimeoutError",
    "FrameWriter",
    "IdleTimeoutError",
    "open_connection",
    "open_unix_connection",
    "start_server",
    "start_unix_server",
]

#: Default high-water mark of a FrameReader, in bytes held by its framer and not read yet.
HIGH_WATER = 1 << 20
#: Bytes the framer takes in, at most about, between waking a waiting read and that read
#: running (uvloop reads up to 32 times in one go): past them reading pauses until it runs,
#: so that one read_frames() does not cut a megabyte of small frames at once (fresh memory
#: for every one of them, out of the caches).
_WOKEN_WATER = 64 * 1024
#: Unused since frames are cut on demand (the bytes held count, as they came); kept for
#: code that names it.
FRAME_OVERHEAD = 64
#: Payloads up to this size are written as one encoded buffer; larger ones as
#: header, payload, trailer through ``writelines`` (no copy by pyframe).
_COPY_BELOW = 16384
#: Longest step of a waiting read's timer: how soon an idle connection gives back its read
#: buffer, and how late (at most) a timeout may come.
_TICK = 1.0
#: A read after read_exactly(): raw bytes given back to the framer first (doubled until a
#: frame is whole), so that small frames between small reads copy little of a large tail.
_GIVE_FIRST = 1024

logger = logging.getLogger("pyframe")

#: ``client_connected_cb(reader, writer)`` of the servers: a function, or a coroutine function
#: (its coroutine runs as a task), as for ``asyncio.start_server``.
_ClientConnected = Callable[["FrameReader", "FrameWriter"], Optional[Awaitable[None]]]
_FrameWriterT = TypeVar("_FrameWriterT", bound="FrameWriter")


class FrameProtocol(asyncio.BufferedProtocol):
    """An ``asyncio.BufferedProtocol`` that cuts the byte stream into frames.

    Override ``frame_received(frame)`` (called once per frame, in order), or
    ``frames_received(frames)`` (called once per read with the list of every frame it
    completed, in order; the default calls ``frame_received`` for each, so a subclass
    overrides one or the other); optionally ``frame_error(exc)`` (a frame broke the
    framing: too large, malformed, or the stream ended inside one; called at its place
    among the frames), ``connection_made``/``connection_lost`` and ``eof_received`` (call
    the super() versions). ``send_frame(payload)`` writes a frame; ``await drain()`` waits
    while the transport's write buffer is full. Frames are cut as each read completes them.
    """

    def __init__(self, framer: Framer) -> None:
        self._framer = framer
        self._verbatim = getattr(framer, "verbatim", True)  # else large payloads use encode()
        self.transport: Optional[asyncio.Transport] = None
        self._write_paused = False
        self._drain_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._lost = False
        self._lost_exc: Optional[BaseException] = None
        self._closed: Optional[asyncio.Future[None]] = None  # set when the connection is lost
        # True while a frame goes to the transport in two pieces: still True afterwards, an
        # exception (a signal handler's...) came between them and the stream is broken
        self._mid_frame = False

    # -- callbacks for users -----------------------------------------------------------

    def frame_received(self, frame: bytes) -> None:
        """A whole frame arrived (``bytes``)."""

    def frames_received(self, frames: list[bytes]) -> None:
        """Whole frames arrived, in order: every frame one read completed (a non-empty list,
        the protocol's to keep). One call per read instead of one per frame: override it to
        take small frames in batches. The default calls ``frame_received`` for each."""
        frame_received = self.frame_received
        for frame in frames:
            frame_received(frame)

    def frame_error(self, exc: FrameError) -> None:
        """A frame broke the framing (``exc`` is a FrameError). Default: close the
        transport if the framer cannot go past it (after a too-large or malformed header a
        length-prefixed stream is out of sync); a fault its framer skipped
        (``on_error="raise"``) leaves the connection open, and frames go on."""
        if self.transport is not None and not _went_on(self._framer):
            self.transport.close()

    @property
    def framer(self) -> Framer:
        """The framer (both directions). Setting another one hands it the bytes the old
        one holds (``detach()``), uncut: in ``frame_received`` for the frame after which
        the framing changes, the frames the read cut already still come as they are."""
        return self._framer

    @framer.setter
    def framer(self, framer: Framer) -> None:
        old = self._framer
        held = _rawbytes.detach(old) if old is not framer and old.pending else b""
        self._framer = framer
        self._verbatim = getattr(framer, "verbatim", True)
        if held:
            with framer.get_buffer(len(held)) as room:
                room[: len(held)] = held
            framer.buffer_updated(len(held))

    # -- asyncio.BufferedProtocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream transport
        self._closed = asyncio.get_running_loop().create_future()

    def get_buffer(self, sizehint: int) -> memoryview:
        # At most READ_SIZE, as FramedSocket reads: a framer lends all of its room, a
        # megabyte once its array grew, and one read of a megabyte of small frames costs
        # more than it saves (fresh memory for every frame, out of the caches).
        view = self._framer.get_buffer(sizehint)
        return view if len(view) <= READ_SIZE else view[:READ_SIZE]

    def buffer_updated(self, nbytes: int) -> None:
        if nbytes > READ_SIZE:  # (the framer checks nbytes against all the room it lent)
            raise ValueError(f"nbytes must be between 0 and the buffer's size, got {nbytes}")
        self._framer.buffer_updated(nbytes)
        self._received()

    def _received(self) -> None:
        """Bytes arrived in the framer: hand its frames on."""
        self._deliver(self._framer.pop_frames)

    def _deliver(self, cut: Callable[[], list[bytes]]) -> None:
        """Hand the frames ``cut()`` gives to frames_received(), and each fault to
        frame_error() at its place; go on past a fault the framer skipped."""
        while True:
            try:
                frames = cut()
                while frames:
                    self.frames_received(frames)
                    # frames cut before a fault come first; the fault is raised by the next call
                    frames = self._framer.pop_frames()
                return
            except FrameError as exc:
                self.frame_error(exc)
                if not _went_on(self._framer):
                    return
            cut = self._framer.pop_frames

    def eof_received(self) -> Optional[bool]:
        """The peer closed its side: deliver what is left, report a frame cut short."""
        self._deliver(self._framer.eof)
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._lost = True
        self._lost_exc = exc
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        while self._drain_waiters:
            waiter = self._drain_waiters.popleft()
            if not waiter.done():
                if exc is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(exc)

    # -- writing and flow control ------------------------------------------------------

    def send_frame(self, payload: Buffer) -> None:
        """Write one frame (the payload is not copied by pyframe when it is large)."""
        _write_frame(self, payload)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        while self._drain_waiters:
            waiter = self._drain_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is under its high-water mark."""
        await self._drain(None)

    async def _drain(self, timeout: Optional[float]) -> None:
        """drain(); socket.timeout if the buffer stays full ``timeout`` seconds (the bytes
        stay queued: nothing is lost)."""
        if self._lost:
            raise ConnectionResetError("connection lost") from self._lost_exc
        if not self._write_paused:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._drain_waiters.append(waiter)
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter, timeout)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
        if self._lost:
            raise ConnectionResetError("connection lost") from self._lost_exc


def _expire(waiter: asyncio.Future[None], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(socket.timeout(f"the peer read nothing for {timeout} s"))


def _went_on(framer: Framer) -> bool:
    """After a framer's call raised a FrameError: True if that was a skipped frame's fault,
    raised once (``on_error="raise"``), and the framer goes on; False if it stays failed
    (as a framer of one's own without ``failed`` is taken to)."""
    return not getattr(framer, "failed", True)


def _write_frame(protocol: FrameProtocol, payload: Buffer) -> None:
    transport, framer = protocol.transport, protocol._framer
    if transport is None:
        raise RuntimeError("not connected")
    _check_alive(protocol)
    if _nbytes(payload) < _COPY_BELOW or not protocol._verbatim:
        transport.write(framer.encode(payload))
        return
    trailer: Union[bytes, memoryview]
    header, trailer = framer.encode_parts(payload)  # (checked: no view of a refused one)
    view = _rules.byte_view(payload)
    if not trailer:  # the payload's last byte is the frame's last piece
        view, trailer = view[:-1], view[-1:]
    # writelines() hands the pieces to the kernel without a copy, but on CPython 3.12.0-3.12.8
    # and 3.13.0-3.13.1 it never pauses the protocol (gh-127655): drain() would not wait.
    # write() checks the high-water mark on every version, so the last piece goes through it.
    protocol._mid_frame = True
    transport.writelines([piece for piece in (header, view) if len(piece)])
    transport.write(trailer)
    protocol._mid_frame = False


def _check_alive(protocol: FrameProtocol) -> None:
    if protocol._mid_frame:
        raise BrokenStreamError(
            "cannot write a frame: an exception interrupted the writing of a frame, the peer "
            "holds part of it and the stream is out of sync; close this connection"
        )
    # asyncio drops writes to a lost connection with a warning, uvloop raises RuntimeError:
    # both loops raise the same ConnectionResetError here.
    if protocol._lost or cast(asyncio.Transport, protocol.transport).is_closing():
        raise ConnectionResetError("cannot write a frame: the connection is closed or lost")


class FrameReader:
    """Frames received on a connection, in order: ``await read_frame()``, ``await
    read_frames()`` (every frame received so far, in one list) or ``async for``; raw bytes
    with ``await read_exactly(n)``; ``switch_framer(new)`` to frame the rest otherwise."""

    def __init__(
        self,
        protocol: FrameProtocol,
        high_water: int = HIGH_WATER,
        low_water: Optional[int] = None,
        *,
        idle_timeout: Optional[float] = None,
        read_timeout: Optional[float] = None,
        frame_timeout: Optional[float] = None,
    ) -> None:
        if low_water is None:
            low_water = high_water // 4
        if not 0 <= low_water <= high_water:
            raise ValueError(f"need 0 <= low_water <= high_water, got {low_water}, {high_water}")
        self._protocol = protocol
        # Raw bytes read_exactly() took out of the framer and has not returned yet:
        # _raw[_raw_at:], ahead of any byte the framer received since, unless _lent: a read
        # gave part of them back to the framer (a piece at a time, see _receive()), and the
        # bytes it holds are the last of _raw[:_raw_at] (the protocol gives the rest back
        # before the transport adds any).
        self._raw = b""
        self._raw_at = 0
        self._lent = False
        self._tail: list[bytes] = []  # frames framer.eof() cut at the end of the stream
        self._high, self._low = high_water, low_water
        self._eof = False
        self._exception: Optional[BaseException] = None
        self._waiter: Optional[asyncio.Future[None]] = None
        self._woken = False  # a read was woken and has not run yet
        self._paused = False
        self._idle_timeout, self._read_timeout = idle_timeout, read_timeout
        # a waiting read's timer: only with a timeout (the fast path arms none)
        self._timed = any(t is not None for t in (idle_timeout, read_timeout, frame_timeout))
        self._frame_timeout = frame_timeout
        self._deadline: Optional[float] = None  # loop.time() by which the frame is due
        self._timer: Optional[asyncio.TimerHandle] = None
        self._seen = 0  # the framer's pending bytes at the last tick: changes mean progress
        self._silent = 0.0  # seconds the peer has sent nothing while a read waited
        self._stopped: Optional[Callable[[], bool]] = None  # a server's: has it been closed?
        self._ended = False  # ended by the server's close(), waiting for a frame

    @property
    def framer(self) -> Framer:
        return self._protocol._framer

    @property
    def buffered(self) -> int:
        """Bytes received but not read yet (held by the framer, or by read_exactly())."""
        return self._protocol._framer.pending + len(self._raw) - self._raw_at

    def at_eof(self) -> bool:
        """True when the stream has ended and every frame and byte has been read."""
        return self._eof and not self._tail and not self.buffered

    def exception(self) -> Optional[BaseException]:
        return self._exception

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _data_received(self) -> None:
        """Bytes arrived in the framer: wake the waiting read (it cuts what it needs), or
        pause reading once the framer holds more than ``high_water`` bytes that nobody
        waits for."""
        if self._waiter is not None:
            self._wake()
            self._woken = True
        elif not self._paused and self._protocol._framer.pending > (
            min(self._high, _WOKEN_WATER) if self._woken else self._high
        ):
            transport = self._protocol.transport
            try:
                transport.pause_reading()  # type: ignore[union-attr]  # (None: AttributeError)
            except (AttributeError, RuntimeError, NotImplementedError):
                return  # closing transports or ones that cannot pause
            self._paused = True

    def _feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def _set_exception(self, exc: BaseException) -> None:
        if self._exception is None:
            self._exception = exc
        self._eof = True
        self._wake()

    def _maybe_resume(self) -> None:
        if self._paused and self._protocol._framer.pending <= self._low:
            self._resume()

    def _resume(self) -> None:
        self._paused = False
        transport = self._protocol.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def _cut(self, cut: Callable[[], Any]) -> Any:
        """``cut()`` (the framer's next_frame or pop_frames); a fault the framer cannot go
        past closes the transport, as FrameProtocol.frame_error does, and is raised by
        every later read."""
        try:
            return cut()
        except FrameError:
            framer = self._protocol._framer
            transport = self._protocol.transport
            if transport is not None and not _went_on(framer):
                transport.close()
            raise

    async def _more(self) -> bool:
        """Wait for more bytes (True), or the stream ended (False); raise the connection's
        error. A read waiting for more resumes reading even above ``high_water``."""
        if self._exception is not None:
            raise self._exception.with_traceback(None)  # not a growing traceback
        if self._eof:
            return False
        if self._waiter is not None:
            raise RuntimeError("read_frame() called while another task is waiting for a frame")
        if self._paused:
            self._resume()
        loop = asyncio.get_running_loop()
        if self._timed:
            self._seen, self._silent = self._protocol._framer.pending, 0.0
            if self._end_if_stopped(self._seen):
                return False
            if not self._seen:
                self._deadline = None  # nothing is buffered: no frame is under way
            self._start_deadline(loop)
            self._arm(loop)
        self._waiter = loop.create_future()
        try:
            await self._waiter
        except BaseException:
            # a timeout or a cancellation: the time until the next read is not the
            # peer's, so that read gives the frame a fresh frame_timeout
            self._deadline = None
            raise
        finally:
            self._waiter = None
            if self._woken:  # it runs: reading paused below high_water goes on
                self._woken = False
                if self._paused and self._protocol._framer.pending <= self._high:
                    self._resume()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        return True

    async def _receive(self, many: bool) -> list[bytes]:
        """The next frame (a list of one) or, with ``many``, every frame held: waiting
        until there is one; [] at a clean end of stream."""
        framer = self._protocol._framer
        if self._raw_at < len(self._raw) and (many or (framer.pending and not self._lent)):
            self._give_back()  # all of them: before the bytes received since, or all cut
        cut = framer.pop_frames if many else self._next_frames
        size = _rawbytes.GIVE_FIRST
        while True:
            frames: list[bytes] = self._cut(cut)
            if frames:
                self._deadline = None  # a frame came: bytes left over are timed afresh
                if self._paused:
                    self._maybe_resume()
                return frames
            if self._raw_at < len(self._raw):
                # raw bytes read_exactly() left: a piece of them at a time (doubling until a
                # frame is whole), not the whole rest that the next read_exactly() takes out
                # again (quadratic for small frames and reads over a large buffered tail)
                self._give_back(size)
                size *= 2
                continue
            if not await self._more():
                break
        if self._exception is None and not self._ended and framer.pending:
            self._tail = self._cut(framer.eof)  # (what only the end tells: a tail)
            self._eof = True
        if many:
            frames, self._tail = self._tail, []
        else:
            frames = self._tail[:1]
            del self._tail[:1]
        return frames

    def _next_frames(self) -> list[bytes]:
        frame = self._protocol._framer.next_frame()
        return [] if frame is None else [frame]

    async def read_exactly(self, n: int) -> bytes:
        """The next ``n`` raw bytes of the stream, after the last frame read: those the
        framer holds first (taken with ``framer.detach()``), then as they arrive. The
        bytes past them stay for the next read, framed again by read_frame(). A stream
        that ends first raises ``IncompleteFrameError`` (``.partial``: the bytes that came,
        ``.expected``: ``n``). A timeout or a cancellation loses nothing: the bytes stay
        held for the next call. Waiting, it holds the ``n`` bytes in the framer (reading is
        not paused for them)."""
        n = _index(n)
        if n < 0:
            raise ValueError(f"n must be at least 0, got {n}")
        if self._lent:
            self._take_held()  # (before any wait: the transport adds after the raw bytes)
        framer = self._protocol._framer
        while len(self._raw) - self._raw_at < n:
            if len(self._raw) - self._raw_at + framer.pending >= n:
                self._take_held()
                break
            if not await self._more():
                self._take_held()
                partial = self._raw[self._raw_at :]
                self._raw, self._raw_at = b"", 0
                raise IncompleteFrameError(
                    f"stream ended after {len(partial)} of {n} bytes read exactly",
                    partial,
                    n,
                )
            framer = self._protocol._framer
        raw, at = self._raw, self._raw_at
        self._raw_at = at + n
        if self._raw_at == len(raw):
            self._raw, self._raw_at = b"", 0
        if self._paused:
            self._maybe_resume()
        return raw if n == len(raw) else raw[at : at + n]

    def switch_framer(self, framer: Framer) -> None:
        """Frame the rest of the stream with ``framer`` (both directions: the writer's
        too): every byte the old framer holds (and any raw byte read_exactly() kept)
        moves into it, uncut (``get_buffer``/``buffer_updated``). The old framer is left
        empty, its state (a fault, ``skipped``) forgotten."""
        self._take_held()
        self._protocol.framer = framer
        self._deadline = None
        self._give_back()

    def _take_held(self) -> None:
        """Move the bytes the framer holds to the raw bytes: after them, or back in front
        of them when they were lent."""
        lent, self._lent = self._lent, False
        framer = self._protocol._framer
        self._raw, self._raw_at = _rawbytes.take_held(framer, self._raw, self._raw_at, lent)

    def _give_back(self, most: Optional[int] = None) -> None:
        """Put the raw bytes kept (at most ``most`` of them) back into the framer, uncut:
        all of them before the bytes it received since, or a piece lent to an empty
        framer (or after the piece lent before)."""
        if most is None and not self._lent:
            self._take_held()
        framer = self._protocol._framer
        raw, at = _rawbytes.give_back(framer, self._raw, self._raw_at, most)
        self._raw, self._raw_at, self._lent = raw, at, bool(raw)

    def _end_if_stopped(self, pending: int) -> bool:
        """Between frames on a server that was closed: end as at a clean end of stream (the
        connection is closed when the handler returns)."""
        if pending or self._stopped is None or not self._stopped():
            return False
        self._ended = True
        self._feed_eof()
        return True

    def _limit(self, pending: int) -> Optional[float]:
        return self._idle_timeout if pending == 0 else self._read_timeout

    def _start_deadline(self, loop: asyncio.AbstractEventLoop) -> None:
        """The frame's deadline starts when a waiting read first holds bytes of it."""
        if self._seen and self._deadline is None and self._frame_timeout is not None:
            self._deadline = loop.time() + self._frame_timeout

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        limit = self._limit(self._seen)
        step = _TICK if limit is None else min(_TICK, max(limit - self._silent, 0.0))
        if self._seen and self._deadline is not None:
            step = min(step, max(self._deadline - loop.time(), 0.0))
        self._timer = loop.call_later(step, self._tick, step)

    def _tick(self, step: float) -> None:
        """A read has waited ``step`` more seconds: give the read buffer back when idle,
        raise the timeout in the waiting read once the peer was silent long enough."""
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        framer = self._protocol.framer
        pending = framer.pending
        if self._end_if_stopped(pending):
            return
        loop = asyncio.get_running_loop()
        if pending != self._seen:  # bytes arrived (not a whole frame yet)
            self._seen, self._silent = pending, 0.0
            self._start_deadline(loop)
        else:
            self._silent += step
            if pending == 0:
                self._deadline = None  # nothing is buffered: no frame is under way
                if _releases_buffer(framer):
                    framer.reset()  # the read buffer is given back
        if pending and self._deadline is not None and loop.time() >= self._deadline:
            self._deadline = None  # reading on allows another frame_timeout
            waiter.set_exception(
                FrameTimeoutError(
                    f"a frame did not arrive within {self._frame_timeout} s "
                    f"({pending} bytes of it received)"
                )
            )
            return
        limit = self._limit(pending)
        if limit is not None and self._silent >= limit:
            if pending == 0:
                waiter.set_exception(IdleTimeoutError(f"no frame began within {limit} s"))
            else:
                waiter.set_exception(
                    socket.timeout(f"the peer sent nothing for {limit} s inside a frame")
                )
            return
        self._arm(loop)

    async def read_frame(self) -> Optional[bytes]:
        """The next frame, or None at a clean end of stream. Frames received before an error
        are returned first; then the error is raised (IncompleteFrameError if the stream ended
        inside a frame, the framer's error on a bad stream, or the connection's error). A
        fault the framer skipped (``on_error="raise"``) is raised once, at its place; the
        next read goes on. Only the frame returned is cut (see read_exactly())."""
        if not self._raw or self._lent:  # (bytes lent come before the raw bytes kept)
            frame: Optional[bytes] = self._cut(self._protocol._framer.next_frame)
            if frame is not None:
                if self._paused:
                    self._maybe_resume()
                return frame
        frames = await self._receive(False)
        return frames[0] if frames else None

    async def read_frames(self) -> list[bytes]:
        """Every frame received and not read yet (it cuts every frame the framer holds),
        waiting for one if none is; [] at a clean end of stream. Errors as read_frame().
        One await for many small frames."""
        return await self._receive(True)

    def __aiter__(self) -> FrameReader:
        return self

    async def __anext__(self) -> bytes:
        frame = await self.read_frame()
        if frame is None:
            raise StopAsyncIteration
        return frame


class FrameWriter:
    """Writes frames to a connection: ``write_frame``, ``write_frames``, ``await drain()``.

    ``write_timeout``: seconds one ``drain()`` may wait for a peer that reads nothing before
    it raises ``socket.timeout`` (None: no limit; the servers' default is 60 s)."""

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: FrameProtocol,
        reader: Optional[FrameReader] = None,
        *,
        write_timeout: Optional[float] = None,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._reader = reader
        self._write_timeout = write_timeout

    @property
    def transport(self) -> asyncio.Transport:
        return self._transport

    @property
    def framer(self) -> Framer:
        return self._protocol.framer

    def write_frame(self, payload: Buffer) -> None:
        """Queue one frame (a large payload is handed to the transport uncopied; do not
        change it before drain() returns). ConnectionResetError once the connection is
        closed or lost (on asyncio and uvloop alike)."""
        _write_frame(self._protocol, payload)

    def write_frames(self, payloads: Iterable[Buffer]) -> None:
        """Queue several frames as one buffer."""
        _check_alive(self._protocol)
        self._transport.write(self._protocol.framer.encode_many(payloads))

    async def drain(self) -> None:
        """Wait until the write buffer is under the transport's high-water mark; raises
        ConnectionResetError once the connection is lost."""
        if self._transport.is_closing():
            await asyncio.sleep(0)  # let connection_lost run, as asyncio's StreamWriter does
        await self._protocol._drain(self._write_timeout)

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        """Close the writing side (the peer reads a clean end of stream); reading goes on."""
        self._transport.write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self._transport.close()

    async def wait_closed(self) -> None:
        closed = self._protocol._closed
        if closed is not None:
            await closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    async def __aenter__(self: _FrameWriterT) -> _FrameWriterT:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()


class _Server:
    """What a server's connections share: the asyncio.Server (once made), and the connection
    limit: a connection past it waits, its reading paused and its handler not started, until
    a served one ends (first come, first served). At most ``hold`` wait (the listen backlog's
    size: as many as would wait in the kernel had the server stopped accepting); one more is
    refused, lest held connections use up the process's descriptors."""

    def __init__(self, limit: Optional[int], hold: int) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"max_connections must be at least 1 or None, got {limit}")
        self.server: Optional[asyncio.AbstractServer] = None
        self.limit = limit
        self.hold = hold
        self.served = 0
        self.waiting: collections.deque[_StreamProtocol] = collections.deque()
        self.refusing = False  # logged once until the queue empties

    def stopped(self) -> bool:
        """True once the server was closed: connections waiting for a frame end."""
        return self.server is not None and not self.server.is_serving()

    def enter(self, protocol: _StreamProtocol) -> bool:
        """True: serve ``protocol`` now; else it waits (``_held`` set), or is to be refused."""
        if self.limit is None or self.served < self.limit:
            self.served += 1
            return True
        if len(self.waiting) < self.hold:
            protocol._held = True
            self.waiting.append(protocol)
        elif not self.refusing:
            self.refusing = True
            logger.warning(
                "pyframe.aio server: %s connections served and %d waiting; refusing more",
                self.limit,
                self.hold,
            )
        return False

    def leave(self, protocol: _StreamProtocol) -> None:
        if protocol._held:
            self.waiting.remove(protocol)
        else:
            self.served -= 1
            while self.waiting and (self.limit is None or self.served < self.limit):
                self.served += 1
                self.waiting.popleft()._start()
        if not self.waiting:
            self.refusing = False


class _StreamProtocol(FrameProtocol):
    """FrameProtocol feeding a FrameReader; calls ``client_connected_cb`` on servers."""

    def __init__(
        self,
        framer: Framer,
        high_water: int,
        low_water: Optional[int],
        client_connected_cb: Optional[_ClientConnected] = None,
        *,
        idle_timeout: Optional[float] = None,
        read_timeout: Optional[float] = None,
        frame_timeout: Optional[float] = None,
        write_timeout: Optional[float] = None,
        server: Optional[_Server] = None,
    ) -> None:
        super().__init__(framer)
        self._write_timeout = write_timeout
        self.reader = FrameReader(
            self,
            high_water,
            low_water,
            idle_timeout=idle_timeout,
            read_timeout=read_timeout,
            frame_timeout=frame_timeout,
        )
        if server is not None:
            self.reader._stopped = server.stopped
            self.reader._timed = True
        self.writer: Optional[FrameWriter] = None
        self._cb = client_connected_cb
        self._task: Optional[asyncio.Task[Any]] = None
        self._server = server
        self._held = False  # past the connection limit: waiting for a slot

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if transport.get_extra_info("socket") is not None:
            sock = transport.get_extra_info("socket")
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                # asyncio sets TCP_NODELAY already; uvloop too, but be sure
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
        self.writer = FrameWriter(
            cast(asyncio.Transport, transport),
            self,
            self.reader,
            write_timeout=self._write_timeout,
        )
        if self._server is not None and not self._server.enter(self):
            if self._held:
                cast(asyncio.Transport, transport).pause_reading()  # (no read: no read buffer)
            else:  # refused: the queue is full too
                self._server = None
                cast(asyncio.Transport, transport).abort()
            return
        self._start()

    def _start(self) -> None:
        """Serve the connection: call ``client_connected_cb``."""
        if self._held:  # (a held connection that was lost has left the queue)
            self._held = False
            cast(asyncio.Transport, self.transport).resume_reading()
        if self._cb is not None:
            result = self._cb(self.reader, cast(FrameWriter, self.writer))
            if asyncio.iscoroutine(result):
                loop = asyncio.get_running_loop()
                self._task = loop.create_task(result)
                self._task.add_done_callback(self._cb_done)

    def _cb_done(self, task: asyncio.Task[Any]) -> None:
        transport = cast(asyncio.Transport, self.transport)
        if task.cancelled() or self.reader._ended:
            transport.close()
            return
        exc = task.exception()
        if isinstance(exc, socket.timeout):  # an idle or stalled peer: routine for a server
            logger.debug("pyframe.aio server: connection closed: %s", exc)
            if transport.get_write_buffer_size():
                transport.abort()  # (close() would wait for a peer that does not read)
            else:
                transport.close()
        elif exc is not None:
            loop = asyncio.get_running_loop()
            loop.call_exception_handler(
                {
                    "message": "unhandled exception in pyframe.aio client_connected_cb",
                    "exception": exc,
                    "transport": transport,
                }
            )
            transport.close()

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.reader._lent:  # the framer holds raw bytes lent: the rest go in before
            self.reader._give_back()
        return super().get_buffer(sizehint)

    def _received(self) -> None:
        self.reader._data_received()  # the reader cuts frames as it reads them

    def eof_received(self) -> bool:
        self.reader._feed_eof()  # (the reader tells the framer, once it has read the rest)
        # keep the writing side open (half-close), as asyncio streams do; TLS has no
        # half-close (asking for one there only logs a warning)
        transport = self.transport
        return transport is None or transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if exc is None:
            self.reader._feed_eof()
        else:
            self.reader._set_exception(exc)
        super().connection_lost(exc)
        if self._server is not None:
            server, self._server = self._server, None
            server.leave(self)


async def open_connection(
    host: Optional[str] = None,
    port: Union[int, str, None] = None,
    *,
    framer: Framer,
    high_water: int = HIGH_WATER,
    low_water: Optional[int] = None,
    **kwargs: Any,
) -> tuple[FrameReader, FrameWriter]:
    """Connect over TCP; return ``(FrameReader, FrameWriter)`` using ``framer`` both ways.
    Other keywords go to ``loop.create_connection`` (``ssl``, ``sock``, ``family``...)."""
    loop = asyncio.get_running_loop()
    protocol = _StreamProtocol(framer, high_water, low_water)
    # (host and port are None when kwargs holds sock=, which typeshed's overloads keep apart)
    await loop.create_connection(lambda: protocol, host, port, **kwargs)  # type: ignore[arg-type]
    return protocol.reader, cast(FrameWriter, protocol.writer)  # set by connection_made()


async def open_unix_connection(
    path: Union[str, os.PathLike[str], None] = None,
    *,
    framer: Framer,
    high_water: int = HIGH_WATER,
    low_water: Optional[int] = None,
    **kwargs: Any,
) -> tuple[FrameReader, FrameWriter]:
    """Connect to an AF_UNIX stream socket; return ``(FrameReader, FrameWriter)``."""
    loop = asyncio.get_running_loop()
    protocol = _StreamProtocol(framer, high_water, low_water)
    # (the loop takes a path-like object, which typeshed's signature leaves out)
    await loop.create_unix_connection(lambda: protocol, path, **kwargs)  # type: ignore[arg-type]
    return protocol.reader, cast(FrameWriter, protocol.writer)  # set by connection_made()


def _server_factory(
    client_connected_cb: _ClientConnected,
    framer_factory: Callable[[], Framer],
    high_water: int,
    low_water: Optional[int],
    idle_timeout: Optional[float],
    read_timeout: Optional[float],
    frame_timeout: Optional[float],
    write_timeout: Optional[float],
    max_connections: Optional[int],
    backlog: int,
) -> tuple[Callable[[], _StreamProtocol], _Server]:
    state = _Server(max_connections, backlog)

    def factory() -> _StreamProtocol:
        return _StreamProtocol(
            framer_factory(),
            high_water,
            low_water,
            client_connected_cb,
            idle_timeout=idle_timeout,
            read_timeout=read_timeout,
            frame_timeout=frame_timeout,
            write_timeout=write_timeout,
            server=state,
        )

    return factory, state


async def start_server(
    client_connected_cb: _ClientConnected,
    host: Union[str, Sequence[str], None] = None,
    port: Union[int, str, None] = None,
    *,
    framer_factory: Callable[[], Framer],
    high_water: int = HIGH_WATER,
    low_water: Optional[int] = None,
    idle_timeout: Optional[float] = IDLE_TIMEOUT,
    read_timeout: Optional[float] = TIMEOUT,
    frame_timeout: Optional[float] = FRAME_TIMEOUT,
    write_timeout: Optional[float] = TIMEOUT,
    max_connections: Optional[int] = MAX_CONNECTIONS,
    **kwargs: Any,
) -> asyncio.Server:
    """Serve TCP: ``client_connected_cb(reader, writer)`` (a function or coroutine function)
    is called for each connection, with a fresh ``framer_factory()``. Returns the
    ``asyncio.Server`` (other keywords go to ``loop.create_server``).

    ``idle_timeout``, ``read_timeout``, ``frame_timeout``: see the module docstring;
    ``write_timeout``: see ``FrameWriter`` (None: no limit).
    ``max_connections``: connections served at once; one more waits (accepted, reading
    paused, ``client_connected_cb`` not called yet) until a served one ends; past ``backlog``
    (default 100) waiting, more are closed at once."""
    loop = asyncio.get_running_loop()
    factory, state = _server_factory(
        client_connected_cb,
        framer_factory,
        high_water,
        low_water,
        idle_timeout,
        read_timeout,
        frame_timeout,
        write_timeout,
        max_connections,
        kwargs.get("backlog", 100),  # (loop.create_server's default)
    )
    # (a service name as port is passed on to getaddrinfo(), which typeshed leaves out)
    server = await loop.create_server(factory, host, port, **kwargs)  # type: ignore[arg-type]
    state.server = server
    return server


async def start_unix_server(
    client_connected_cb: _ClientConnected,
    path: Union[str, os.PathLike[str], None] = None,
    *,
    framer_factory: Callable[[], Framer],
    high_water: int = HIGH_WATER,
    low_water: Optional[int] = None,
    idle_timeout: Optional[float] = IDLE_TIMEOUT,
    read_timeout: Optional[float] = TIMEOUT,
    frame_timeout: Optional[float] = FRAME_TIMEOUT,
    write_timeout: Optional[float] = TIMEOUT,
    max_connections: Optional[int] = MAX_CONNECTIONS,
    **kwargs: Any,
) -> asyncio.Server:
    """Serve on an AF_UNIX path; like ``start_server``."""
    loop = asyncio.get_running_loop()
    factory, state = _server_factory(
        client_connected_cb,
        framer_factory,
        high_water,
        low_water,
        idle_timeout,
        read_timeout,
        frame_timeout,
        write_timeout,
        max_connections,
        kwargs.get("backlog", 100),  # (loop.create_server's default)
    )
    server = await loop.create_unix_server(factory, path, **kwargs)
    state.server = server
    return server
