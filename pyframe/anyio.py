"""Framed anyio streams: frames over any anyio byte stream, on asyncio and on trio.

``FramedStream(stream, framer)`` is an ``anyio.abc.ObjectStream[bytes]`` over any anyio byte
stream (TCP, AF_UNIX, TLS, a stapled or in-memory stream): ``send(frame)``, ``receive()``
(one frame), ``receive_many()`` (every frame buffered, in one list), ``async for``,
``send_eof()`` and ``aclose()``::

    import anyio, pyframe
    from pyframe.anyio import connect_tcp, create_tcp_listener

    async def echo(stream):                # stream: a FramedStream
        async with stream:
            async for frame in stream:     # frames until the peer closes cleanly
                await stream.send(frame)

    listener = await create_tcp_listener(local_host="127.0.0.1", local_port=8000,
                                         framer_factory=pyframe.LengthPrefixFramer)
    ...                                    # await listener.serve(echo) in a task
    async with await connect_tcp("127.0.0.1", 8000, framer=pyframe.LengthPrefixFramer()) as s:
        await s.send(b"hello")
        reply = await s.receive()

The end of the stream is anyio's: a peer that closes between two frames makes ``receive()``
raise ``anyio.EndOfStream`` (``async for`` stops); one that closes inside a frame raises
``pyframe.IncompleteFrameError`` (``.partial`` holds the bytes received). The framer's errors
(``FrameTooLargeError``, ``MalformedFrameError``) come through unchanged, after the frames
received before them; every later ``receive()`` raises the same error again, except a fault
the framer skipped (``on_error="raise"``): raised once at its place, then frames go on.

``receive()`` cuts one frame at a time (``framer.next_frame()``), so the bytes after it stay
raw: ``receive_exactly(n)`` returns the next ``n`` bytes, and ``switch_framer(new)`` frames
the rest with another framer (``receive_many()`` cuts every frame held).

Receiving: each read takes at most ``read_size`` bytes from the byte stream (``receive``) and
copies them into the framer's buffer (``get_buffer``; anyio's byte streams have no
``receive_into``). anyio's socket streams on trio (TCP, AF_UNIX) are read without
that copy: they read their socket only when asked, so the FramedStream reads it itself,
straight into the room the framer offers (``get_buffer(read_size)``, which may be more).
Frames already buffered are returned without a checkpoint, as ``BufferedByteReceiveStream``
does. A cancelled ``receive()`` loses nothing: anyio's streams give a chunk whole or not at
all, bytes read into the framer stay there, and the next call continues the frame.

Sending: a ``bytes`` payload of 16 KiB or more goes out uncopied, as its header, itself and
its trailer (separate sends); anything smaller, or any other buffer type (which anyio's
streams may keep a reference to after ``send()`` returns), is encoded with its header into
one ``bytes`` object and sent at once. A send that ends with an exception (a cancellation,
a lost connection) may have sent part of a frame: the stream is then *broken* and every
later ``send()`` raises ``anyio.BrokenResourceError``; receiving goes on, and ``aclose()``
closes the byte stream forcefully. A cancellation already pending when ``send()`` starts is
raised before any byte goes out: the stream stays whole.

Two tasks must not receive (or send) on one FramedStream at the same time: the second gets
``anyio.BusyResourceError``, as with anyio's socket streams.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Iterable, Mapping
from contextlib import AsyncExitStack
from operator import index as _index
from typing import Any, Callable, Optional, Union

try:
    import anyio
    from anyio.abc import (
        AnyByteStream,
        ByteReceiveStream,
        IPAddressType,
        Listener,
        ObjectStream,
        SocketAttribute,
        SocketStream,
        TaskGroup,
    )
    from anyio.lowlevel import cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled
except ImportError as exc:  # an optional dependency: pyframe itself imports without it
    raise ImportError(
        f"pyframe.anyio needs anyio 4 or later ({exc}): pip install 'pyframe-codec[anyio]'"
    ) from exc

from . import _rawbytes
from ._errors import FrameError, IncompleteFrameError
from ._types import Buffer, Framer
from .sockets import _BACKOFF_FIRST, _BACKOFF_MAX, _EXHAUSTED, _VANISHED

__all__ = [
    "READ_SIZE",
    "FramedListener",
    "FramedStream",
    "connect_tcp",
    "connect_unix",
    "create_tcp_listener",
    "create_unix_listener",
]

#: Most bytes asked of the byte stream by one receive (anyio's own default); the room asked
#: of the framer when reading a socket into it (trio).
READ_SIZE = 65536
logger = logging.getLogger("pyframe")

#: What a peer can make a handler raise (a frame cut short or too large, a connection reset,
#: an end of stream the handler did not expect): it ends that connection, not the server.
_PEER_ERRORS = (FrameError, anyio.BrokenResourceError, anyio.EndOfStream)

#: ``bytes`` payloads from this size on are sent uncopied (header and payload as two sends);
#: smaller ones cost less as one encoded buffer than as two sends.
_SPLIT_FROM = 16384


def _accept_error(exc: BaseException) -> Optional[OSError]:
    """The OSError that made a listener's serve() fail, if that is what ``exc`` is: asyncio
    raises accept()'s own, trio a BrokenResourceError from it, and a listener of several
    (anyio's TCP listeners are) wraps it in an exception group."""
    # (BaseExceptionGroup is 3.11's; anyio uses a backport before: duck-typed for both)
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    if isinstance(exc, anyio.BrokenResourceError):
        return exc.__cause__ if isinstance(exc.__cause__, OSError) else None
    return exc if isinstance(exc, OSError) else None


def _readable_socket(stream: AnyByteStream) -> Optional[socket.socket]:
    """The socket under one of anyio's socket streams on trio, else None. Those read their
    socket only when asked to (receive()), so reading it ourselves straight into the
    framer's buffer saves a copy. asyncio's TCP streams read theirs on their own (into a
    queue), and TLS and the other streams transform or keep the bytes."""
    if isinstance(stream, SocketStream) and type(stream).__module__ == "anyio._backends._trio":
        sock: socket.socket = stream.extra(SocketAttribute.raw_socket)
        return sock
    return None


def _none() -> None:
    return None


def _check_read_size(read_size: int) -> None:
    if read_size < 1:
        raise ValueError(f"read_size must be at least 1, got {read_size}")


class FramedStream(ObjectStream[bytes]):
    """Frames over an anyio byte stream (``anyio.abc.ByteStream``, or an
    ``ObjectStream[bytes]`` such as a pair of memory object streams). ``framer`` cuts and
    encodes the frames (a pyframe framer, or any ``pyframe.Framer``); it belongs to this
    stream. Extra attributes (``stream.extra(SocketAttribute.remote_address)``...) are the
    byte stream's."""

    def __init__(
        self, stream: AnyByteStream, framer: Framer, *, read_size: int = READ_SIZE
    ) -> None:
        _check_read_size(read_size)
        self._stream = stream
        self._framer = framer
        self._read_size = read_size
        # Raw bytes receive_exactly() took from the framer and has not returned yet:
        # _raw[_raw_at:], ahead of any byte the framer received since, unless _lent: a
        # receive gave part of them back to the framer (a piece at a time, see _fill()),
        # and the bytes it holds are the last of _raw[:_raw_at] (nothing is read then).
        self._raw = b""
        self._raw_at = 0
        self._lent = False
        self._tail: list[bytes] = []  # frames framer.eof() cut at the end of the stream
        self._verbatim = getattr(framer, "verbatim", True)  # else large payloads use encode()
        # receive()'s fast path: the framer's next_frame bound once (a stub returning None
        # once closed). While raw bytes are kept the framer holds none, or bytes lent that
        # come before them.
        self._next_frame: Callable[[], Optional[bytes]] = framer.next_frame
        self._chunk: Callable[[int], Awaitable[bytes]]
        if isinstance(stream, ByteReceiveStream):
            self._chunk = stream.receive
        else:  # an ObjectStream[bytes]: its items are the chunks

            async def chunk(max_bytes: int) -> bytes:
                return await stream.receive()

            self._chunk = chunk
        self._socket = _readable_socket(stream)
        self._read: Callable[[], Awaitable[None]] = (
            self._read_copy if self._socket is None else self._read_into
        )
        self._eof = False  # the byte stream ended (the framer was told)
        self._eof_sent = False  # send_eof() returned: the sending side is closed
        self._closed = False
        self._receiving = False
        self._sending = False
        self._broken: Optional[str] = None  # why sends are refused

    @property
    def transport_stream(self) -> AnyByteStream:
        """The byte stream underneath."""
        return self._stream

    @property
    def framer(self) -> Framer:
        return self._framer

    @property
    def broken(self) -> bool:
        """True once a send failed part-way through a frame: later sends raise."""
        return self._broken is not None

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return self._stream.extra_attributes

    def __repr__(self) -> str:
        state = " closed" if self._closed else " broken" if self._broken else ""
        return f"<FramedStream {type(self._framer).__name__} over {self._stream!r}{state}>"

    # -- receiving ------------------------------------------------------------------

    async def receive(self) -> bytes:
        """The next frame. Raises ``anyio.EndOfStream`` once the peer closed cleanly and
        every frame was received, ``IncompleteFrameError`` if it closed inside a frame, the
        framer's error on a bad stream, ``anyio.ClosedResourceError`` after ``aclose()``.
        A fault the framer skipped (``on_error="raise"``) is raised once, at its place;
        the next receive() goes on. Only the frame returned is cut (see
        receive_exactly())."""
        frame = self._next_frame()
        if frame is not None:
            return frame
        return (await self._fill(False))[0]

    async def receive_many(self) -> list[bytes]:
        """Every frame buffered, receiving once if none is (a non-empty list; it cuts every
        frame the framer holds). One await for many small frames; the end of the stream
        and errors as ``receive()``."""
        return await self._fill(True)

    async def __anext__(self) -> bytes:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def _fill(self, many: bool) -> list[bytes]:
        """The next frame (a list of one) or, with ``many``, every frame the framer holds,
        receiving until there is one."""
        if self._closed:
            raise anyio.ClosedResourceError
        if self._receiving:
            raise anyio.BusyResourceError("receiving from")
        framer = self._framer
        if self._raw_at < len(self._raw) and (many or (framer.pending and not self._lent)):
            self._give_back()  # all of them: before the bytes received since, or all cut
        cut = framer.pop_frames if many else self._next_frames
        frames = cut()  # raises a fault left over from the last call
        size = _rawbytes.GIVE_FIRST
        while not frames and self._raw_at < len(self._raw):
            # raw bytes receive_exactly() left: a piece of them at a time (doubling until a
            # frame is whole), not the whole rest that the next receive_exactly() takes out
            # again (quadratic for small frames and reads over a large buffered tail)
            self._give_back(size)
            size *= 2
            frames = cut()
        if frames:
            return frames
        if self._eof:
            if not self._tail and framer.pending:
                # bytes given back after the end (receive_exactly() or switch_framer() took
                # them from a frame cut short): the end is reported again, not dropped
                self._tail = framer.eof()
            return self._from_tail(many)
        read = self._read
        self._receiving = True
        self._next_frame = _none  # another task's receive() goes to _fill(): busy
        try:
            while True:
                try:
                    await read()
                except anyio.EndOfStream:
                    self._eof = True
                    frames = cut()
                    if frames:
                        return frames
                    self._tail = framer.eof()  # IncompleteFrameError if a frame was cut short
                    return self._from_tail(many)
                frames = cut()
                if frames:
                    return frames
        finally:
            self._receiving = False
            self._next_frame = _none if self._closed else self._framer.next_frame

    def _from_tail(self, many: bool) -> list[bytes]:
        if not self._tail:
            raise anyio.EndOfStream
        if many:
            frames, self._tail = self._tail, []
        else:
            frames = self._tail[:1]
            del self._tail[:1]
        return frames

    def _next_frames(self) -> list[bytes]:
        frame = self._framer.next_frame()
        return [] if frame is None else [frame]

    async def receive_exactly(self, nbytes: int) -> bytes:
        """The next ``nbytes`` raw bytes, after the last frame received (as anyio's
        ``BufferedByteReceiveStream.receive_exactly``): those the framer holds first
        (``framer.detach()``), then from the byte stream; the bytes past them are framed
        again by the next receive(). A stream that ends first raises
        ``IncompleteFrameError`` (``.partial``, ``.expected``; an ``EOFError``). A
        cancellation loses nothing."""
        nbytes = _index(nbytes)
        if nbytes < 0:
            raise ValueError(f"nbytes must be at least 0, got {nbytes}")
        if self._closed:
            raise anyio.ClosedResourceError
        if self._receiving:
            raise anyio.BusyResourceError("receiving from")
        if self._lent:
            self._take_held()  # (before any read: it adds after the raw bytes)
        framer = self._framer
        self._receiving = True
        self._next_frame = _none  # another task's receive() goes to _fill(): busy
        try:
            while len(self._raw) - self._raw_at + framer.pending < nbytes:
                try:
                    if self._eof:
                        raise anyio.EndOfStream
                    await self._read()
                except anyio.EndOfStream:
                    self._eof = True
                    self._take_held()
                    partial = self._raw[self._raw_at :]
                    self._raw, self._raw_at = b"", 0
                    raise IncompleteFrameError(
                        f"stream ended after {len(partial)} of {nbytes} bytes read exactly",
                        partial,
                        nbytes,
                    ) from None
        finally:
            self._receiving = False
            self._next_frame = _none if self._closed else self._framer.next_frame
        if len(self._raw) - self._raw_at < nbytes:
            self._take_held()
        raw, at = self._raw, self._raw_at
        self._raw_at = at + nbytes
        if self._raw_at == len(raw):
            self._raw, self._raw_at = b"", 0
        return raw if nbytes == len(raw) else raw[at : at + nbytes]

    def switch_framer(self, framer: Framer) -> None:
        """Frame the rest of the stream with ``framer`` (both directions): every byte the
        old framer holds (and any raw byte receive_exactly() kept) moves into it, uncut
        (``get_buffer``/``buffer_updated``)."""
        if self._receiving:
            raise anyio.BusyResourceError("receiving from")
        self._take_held()
        self._framer = framer
        self._next_frame = framer.next_frame
        self._verbatim = getattr(framer, "verbatim", True)
        self._give_back()

    def _take_held(self) -> None:
        """Move the bytes the framer holds to the raw bytes: after them, or back in front
        of them when they were lent."""
        lent, self._lent = self._lent, False
        self._raw, self._raw_at = _rawbytes.take_held(self._framer, self._raw, self._raw_at, lent)

    def _give_back(self, most: Optional[int] = None) -> None:
        """Put the raw bytes kept (at most ``most`` of them) back into the framer, uncut:
        all of them before its own, or a piece lent to an empty framer (or after the
        piece lent before)."""
        if most is None and not self._lent:
            self._take_held()
        raw, at = _rawbytes.give_back(self._framer, self._raw, self._raw_at, most)
        self._raw, self._raw_at, self._lent = raw, at, bool(raw)

    async def _read_copy(self) -> None:
        """One chunk from the byte stream, into the framer's buffer (uncut)."""
        # The one await: a cancellation here leaves the stream's bytes unread.
        chunk = await self._chunk(self._read_size)
        framer = self._framer
        with framer.get_buffer(len(chunk)) as room:
            room[: len(chunk)] = chunk
        framer.buffer_updated(len(chunk))

    async def _read_into(self) -> None:
        """One read from the socket straight into the framer's buffer (uncut). As anyio's
        own receive() on trio: converted errors, a checkpoint each."""
        sock, framer = self._socket, self._framer
        assert sock is not None
        await checkpoint_if_cancelled()  # (before any byte is taken)
        while True:
            with framer.get_buffer(self._read_size) as room:
                try:
                    nbytes = sock.recv_into(room)
                except BlockingIOError:
                    nbytes = -1
                except OSError as exc:
                    if sock.fileno() < 0:  # aclose()d
                        raise anyio.ClosedResourceError from None
                    raise anyio.BrokenResourceError from exc
            if nbytes > 0:
                framer.buffer_updated(nbytes)
                # The bytes are the framer's now: a cancellation cannot lose them here.
                await cancel_shielded_checkpoint()
                return
            if nbytes == 0:
                raise anyio.EndOfStream
            await anyio.wait_readable(sock)  # ClosedResourceError once aclose()d

    # -- sending --------------------------------------------------------------------

    async def send(self, item: Buffer) -> None:
        """Send one frame (any bytes-like payload; a large ``bytes`` one is not copied)."""
        if self._sending:
            raise anyio.BusyResourceError("sending to")
        self._check_send()
        pieces: tuple[bytes, ...]
        if type(item) is bytes and len(item) >= _SPLIT_FROM and self._verbatim:
            header, trailer = self._framer.encode_parts(item)
            pieces = (header, item, trailer) if trailer else (header, item)
        else:
            pieces = (self._framer.encode(item),)
        await self._send(pieces)

    async def send_many(self, items: Iterable[Buffer]) -> None:
        """Send several frames, encoded into one buffer (``framer.encode_many``)."""
        if self._sending:
            raise anyio.BusyResourceError("sending to")
        self._check_send()
        await self._send((self._framer.encode_many(items),))

    def _check_send(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        if self._eof_sent:
            # Refused here: the byte stream's own error varies (asyncio: RuntimeError) and,
            # raised from a send, would wrongly mark a whole stream broken.
            raise anyio.ClosedResourceError("send_eof() closed the sending side")
        if self._broken is not None:
            raise anyio.BrokenResourceError(
                f"this FramedStream cannot send any more: {self._broken}"
            )

    async def _send(self, pieces: tuple[bytes, ...]) -> None:
        # A cancellation already pending is raised before a byte goes out: the stream stays
        # whole. Past this point any exception may leave the peer with part of a frame.
        await checkpoint_if_cancelled()
        send = self._stream.send
        self._sending = True
        try:
            for piece in pieces:
                if piece:
                    await send(piece)
        except BaseException as exc:
            self._broken = (
                f"a send ended with {type(exc).__name__} in the middle of a frame; the peer "
                "may hold part of it and the stream is out of sync"
            )
            raise
        finally:
            self._sending = False

    async def send_eof(self) -> None:
        """Close the sending side (the peer's ``receive()`` raises ``EndOfStream`` after
        the last frame); receiving goes on. Later sends raise ``anyio.ClosedResourceError``."""
        if self._closed:
            raise anyio.ClosedResourceError
        await self._stream.send_eof()
        self._eof_sent = True

    async def aclose(self) -> None:
        """Close the stream (and the byte stream); frames not received yet are dropped.
        Closing a closed stream does nothing (some byte streams raise when closed twice).
        A broken stream closes its byte stream forcefully (``anyio.aclose_forcefully``): a
        graceful close, such as TLS's close_notify, would follow the cut frame, and could
        wait for ever on a peer still waiting for the rest of that frame."""
        if self._closed:
            await checkpoint()
            return
        self._closed = True
        self._next_frame = _none
        self._tail.clear()
        if self._broken is not None:
            await anyio.aclose_forcefully(self._stream)
        else:
            await self._stream.aclose()


class FramedListener(Listener[FramedStream]):
    """A listener of framed streams: wraps any anyio listener of byte streams (TCP,
    AF_UNIX, ``anyio.streams.tls.TLSListener``...), with a fresh ``framer_factory()`` per
    connection. ``serve(handler)`` calls ``handler(stream)`` for each, as anyio does (the
    handler owns the stream: ``async with stream:`` closes it). A handler that lets an
    error the peer caused end it (a pyframe ``FrameError``, ``anyio.BrokenResourceError``,
    ``anyio.EndOfStream``) just closes that connection (logged at DEBUG); any other
    exception ends ``serve()``, as with anyio's listeners. A ``framer_factory()`` that raises
    is logged and that connection closed. Out of descriptors or memory,
    ``serve()`` logs, waits a little and accepts again (anyio's own would end)."""

    def __init__(
        self,
        listener: Listener[AnyByteStream],
        framer_factory: Callable[[], Framer],
        *,
        read_size: int = READ_SIZE,
    ) -> None:
        _check_read_size(read_size)
        self._listener = listener
        self._factory = framer_factory
        self._read_size = read_size

    @property
    def listener(self) -> Listener[AnyByteStream]:
        """The listener underneath."""
        return self._listener

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return self._listener.extra_attributes

    async def serve(
        self, handler: Callable[[FramedStream], Any], task_group: Optional[TaskGroup] = None
    ) -> None:
        factory, read_size = self._factory, self._read_size

        async def framed(stream: AnyByteStream) -> None:
            try:
                framer = factory()
            except Exception:  # its bug, logged: the server goes on (as pyframe.sockets')
                logger.exception("pyframe.anyio server: framer_factory() failed")
                await anyio.aclose_forcefully(stream)
                return
            except BaseException:
                await anyio.aclose_forcefully(stream)
                raise
            framed_stream = FramedStream(stream, framer, read_size=read_size)
            try:
                await handler(framed_stream)
            except _PEER_ERRORS as exc:
                # anyio would end serve(), and every other connection with it.
                logger.debug("pyframe.anyio server: connection closed: %r", exc)
                await anyio.aclose_forcefully(framed_stream)

        async with AsyncExitStack() as stack:
            if task_group is None:  # ours, so that connections outlive a failed accept()
                task_group = await stack.enter_async_context(anyio.create_task_group())
            delay, failed_at = 0.0, float("-inf")
            while True:
                try:
                    await self._listener.serve(framed, task_group)
                except Exception as exc:
                    cause = _accept_error(exc)
                    if cause is not None and cause.errno in _VANISHED:
                        continue  # that client left before it was accepted
                    if cause is None or cause.errno not in _EXHAUSTED:
                        raise
                    now = anyio.current_time()
                    quiet = now - failed_at > 2 * _BACKOFF_MAX  # a new shortage: start small
                    delay = _BACKOFF_FIRST if quiet else min(2 * delay, _BACKOFF_MAX)
                    failed_at = now
                    logger.warning(
                        "pyframe.anyio server: accept() failed (%s); retrying in %.2f s",
                        cause,
                        delay,
                    )
                    await anyio.sleep(delay)

    async def aclose(self) -> None:
        await self._listener.aclose()


async def connect_tcp(
    remote_host: IPAddressType,
    remote_port: int,
    *,
    framer: Framer,
    read_size: int = READ_SIZE,
    **kwargs: Any,
) -> FramedStream:
    """``anyio.connect_tcp(remote_host, remote_port, **kwargs)`` (``tls=True``,
    ``ssl_context``, ``tls_hostname``, ``local_host``...) as a FramedStream."""
    _check_read_size(read_size)  # before connecting: a bad value leaks no connection
    stream = await anyio.connect_tcp(remote_host, remote_port, **kwargs)
    return FramedStream(stream, framer, read_size=read_size)


async def connect_unix(
    path: Union[str, bytes, os.PathLike[Any]], *, framer: Framer, read_size: int = READ_SIZE
) -> FramedStream:
    """``anyio.connect_unix(path)`` as a FramedStream."""
    _check_read_size(read_size)
    return FramedStream(await anyio.connect_unix(path), framer, read_size=read_size)


async def create_tcp_listener(
    *, framer_factory: Callable[[], Framer], read_size: int = READ_SIZE, **kwargs: Any
) -> FramedListener:
    """``anyio.create_tcp_listener(**kwargs)`` (``local_host``, ``local_port``,
    ``family``, ``backlog``, ``reuse_port``) as a FramedListener. For TLS, wrap anyio's
    listener yourself: ``FramedListener(TLSListener(listener, ssl_context), factory)``."""
    _check_read_size(read_size)  # before listening: a bad value leaks no socket
    return FramedListener(
        await anyio.create_tcp_listener(**kwargs), framer_factory, read_size=read_size
    )


async def create_unix_listener(
    path: Union[str, bytes, os.PathLike[Any]],
    *,
    framer_factory: Callable[[], Framer],
    read_size: int = READ_SIZE,
    **kwargs: Any,
) -> FramedListener:
    """``anyio.create_unix_listener(path, **kwargs)`` (``mode``, ``backlog``) as a
    FramedListener."""
    _check_read_size(read_size)
    return FramedListener(
        await anyio.create_unix_listener(path, **kwargs), framer_factory, read_size=read_size
    )
