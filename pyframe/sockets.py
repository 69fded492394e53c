"""Framed blocking sockets: a thin layer that moves bytes between the kernel and a framer.

``FramedSocket(sock, framer)`` wraps a connected SOCK_STREAM socket (TCP over IPv4/IPv6,
AF_UNIX). It owns no framing logic: received bytes go straight into the framer's buffer
(``sock.recv_into(framer.get_buffer())``) and frames come out of the framer; outgoing frames
are encoded by the framer: a small payload into one buffer with its header and trailer
(one ``send``), a large one as header, payload (not copied by the socket layer) and trailer
in one ``sendmsg`` call::

    import pyframe

    with pyframe.connect(("127.0.0.1", 8000), pyframe.LengthPrefixFramer()) as conn:
        conn.send(b"hello")
        reply = conn.recv()          # bytes, or None at a clean end of stream

    with pyframe.FramedServer(("127.0.0.1", 8000), pyframe.LengthPrefixFramer) as server:
        for conn in server:          # one FramedSocket per accepted connection
            with conn:
                for frame in conn:   # frames until the peer closes cleanly
                    conn.send(frame)

Receiving: ``recv()`` returns the next frame, serving frames already buffered without any
system call; ``None`` means the peer closed the stream cleanly between two frames (an empty
payload is a valid frame, ``b""``). A stream that ends inside a frame raises
``IncompleteFrameError`` (its ``.partial`` holds the bytes received). A timeout, or
``BlockingIOError`` on a non-blocking socket, keeps every byte received so far: the next
call continues the same frame. A framer with ``on_error="raise"`` has its skipped frame's
fault raised by recv() at its place among the frames, once; the next recv() goes on.

Switching framing mid-stream: recv() cuts one frame at a time (``framer.next_frame()``), so
the bytes after the frame it returned are still raw in the framer. ``read_exactly(n)``
returns the next ``n`` raw bytes (an HTTP body after its head), and ``switch_framer(new)``
hands every byte held to another framer; recv() goes on with it.

Sending: ``send()`` returns once the whole frame is handed to the kernel. On a blocking
socket (with or without a timeout) a send that fails part-way through a frame leaves the
peer with half a frame: the FramedSocket is then *broken* and every later send raises
``BrokenStreamError`` instead of corrupting the stream. That holds for any exception raised
once bytes of the frame went out: a timeout, a connection error (raised as
``BrokenStreamError``), or an exception from a signal handler such as ``KeyboardInterrupt``
(raised as it is, the FramedSocket broken all the same). (A timeout before the first byte of
a frame went out is a plain ``socket.timeout``: nothing was sent, the stream is intact.)
``socket.timeout`` is ``TimeoutError`` from Python 3.10 on; on 3.9 it is not, so catch
``socket.timeout`` to cover every supported Python.
On a non-blocking socket ``send()`` either raises ``BlockingIOError`` having sent nothing,
or accepts the whole frame and keeps the part the kernel would not take yet (``unsent``
bytes), which ``flush()`` sends when the socket is writable (and the next ``send()`` sends
before anything new). ``EINTR`` is retried.

Threads: one thread may receive while another sends; two threads must not both receive, or
both send, on the same FramedSocket at the same time.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import selectors
import socket
import stat
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from operator import index as _index
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Optional, TypeVar, Union, cast

from . import _impl, _rawbytes, _rules
from ._errors import IncompleteFrameError
from ._types import Buffer, Framer

if TYPE_CHECKING:
    from typing_extensions import TypeIs

__all__ = [
    "FRAME_TIMEOUT",
    "IDLE_TIMEOUT",
    "MAX_CONNECTIONS",
    "SHUTDOWN_TIMEOUT",
    "TIMEOUT",
    "BrokenStreamError",
    "FrameTimeoutError",
    "FramedServer",
    "FramedSocket",
    "IdleTimeoutError",
    "connect",
    "serve",
]

logger = logging.getLogger("pyframe")

#: FramedServer's defaults (README "Servers under load"). Seconds a connection may wait for
#: the first byte of a new frame before recv() raises IdleTimeoutError (None: no limit).
IDLE_TIMEOUT: Optional[float] = 60.0
#: Seconds each blocking operation of a server's connection may wait otherwise: a recv()
#: inside a frame, a send() to a peer that does not read (``socket.timeout``).
TIMEOUT: Optional[float] = 60.0
#: Seconds a frame may take to arrive once a receive has its first bytes, however steadily
#: they drip in (``FrameTimeoutError``): the per-operation timeout bounds only each wait.
FRAME_TIMEOUT: Optional[float] = 120.0
#: Connections served at once by serve_forever(); more wait in the listen backlog.
MAX_CONNECTIONS: Optional[int] = 512
#: Seconds serve_forever() lets busy handlers finish after shutdown() before it shuts their
#: sockets down (idle connections are closed at once).
SHUTDOWN_TIMEOUT: Optional[float] = 10.0
_LAST_LOOK = 0.001  # seconds a read past a frame's deadline waits for bytes already sent

#: Most bytes taken from the kernel by one ``recv_into`` (the room asked of the framer). Reads
#: of many hundred KiB cost more than they save: each returns tens of thousands of small frames
#: at once (fresh memory for the objects, page faults) and keeps a big buffer in the framer.
READ_SIZE = 128 * 1024

try:
    _IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024)
except (AttributeError, ValueError, OSError):
    _IOV_MAX = 16
_IOV_MAX = max(_IOV_MAX, 3)  # a frame is at most 3 buffers

_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # EPIPE instead of SIGPIPE where it exists
_FLAGS = (_NOSIGNAL,)  # the flags of send() and sendmsg(), as map() takes them
_NO_FLAGS = (0,)  # ssl.SSLSocket.send() refuses flags
_NO_ANCILLARY = ((),)
#: ``send_nowait(sock, data, log) -> bool``: the compiled module's first attempt at a send,
#: made without releasing the GIL (see FramedSocket._send_one); None without it.
_SEND_NOWAIT: Optional[Callable[[socket.socket, bytes, list[int]], bool]] = getattr(
    _impl, "_send_nowait", None
)
#: A send failing with these before any byte went out still breaks the FramedSocket.
_LOST = frozenset((errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN))
#: A payload up to this size is encoded into one buffer with its header and trailer (one copy
#: is cheaper than one more iovec); a larger one goes out uncopied, as three iovecs.
_JOIN_BELOW = 8192
#: A send of up to this many bytes is first tried without releasing the GIL (see
#: FramedSocket._send_one). Above it the kernel's copy outweighs the GIL's handover, and
#: holding the GIL through it would keep a receiving thread of the same process from
#: draining the connection in parallel (measured here: 4.5x faster at 2 KiB, 1.2x at
#: 16 KiB, 0.76x at 32 KiB, over loopback TCP with the drain in a thread).
_NOWAIT_UP_TO = 16384
#: send_many() with large payloads: runs of small ones are encoded into buffers of about this
#: size between them.
_CHUNK = 65536
_CHUNK_SLACK = 16  # room counted per frame for its header and trailer when sizing a chunk
_SHUT_WR = socket.SHUT_WR  # FramedSocket.shutdown's default (its class body has a `socket`)
#: accept() failing with these: the process or the system ran out of descriptors or memory.
#: serve_forever() logs, backs off and accepts again (as asyncio, Netty and nginx do).
_EXHAUSTED = frozenset(
    getattr(errno, name)
    for name in ("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM")
    if hasattr(errno, name)
)
#: accept() failing with these: that one connection failed before it was accepted (accept(2)
#: on Linux says to retry on pending network errors).
_VANISHED = frozenset(
    getattr(errno, name)
    for name in (
        "ECONNABORTED",
        "EPROTO",
        "EPERM",
        "ENETDOWN",
        "ENOPROTOOPT",
        "EHOSTDOWN",
        "ENONET",
        "EHOSTUNREACH",
        "EOPNOTSUPP",
        "ENETUNREACH",
    )
    if hasattr(errno, name)
)
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 1.0  # seconds between accept() attempts when exhausted
_FORCED_JOIN = 1.0  # seconds serve_forever() waits for handlers whose sockets it shut down
_Socket = socket.socket  # for annotations, in class bodies too

#: An AF_UNIX path: ``str``, ``bytes`` or a path-like object.
_UnixAddress = Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]
#: What ``connect()`` takes: ``(host, port)`` or an AF_UNIX path.
_ConnectAddress = Union[tuple[Optional[str], int], _UnixAddress]
#: What ``FramedServer`` listens on: ``(host, port)`` (or IPv6's ``(host, port, flowinfo,
#: scope_id)``) or an AF_UNIX path.
_ServerAddress = Union[tuple[str, int], tuple[str, int, int, int], _UnixAddress]
#: A piece of an outgoing frame: a header or trailer, or a view of the payload.
_Piece = Union[bytes, memoryview]
_FramedSocketT = TypeVar("_FramedSocketT", bound="FramedSocket")
_FramedServerT = TypeVar("_FramedServerT", bound="FramedServer")


class IdleTimeoutError(socket.timeout):
    """No frame began within the connection's ``idle_timeout`` (nothing was buffered: no
    byte is lost). A ``socket.timeout``, told apart from the end of stream (None)."""


class FrameTimeoutError(socket.timeout):
    """A frame did not arrive whole within the connection's ``frame_timeout`` (a peer
    dripping it slowly). Its bytes stay buffered (``framer.pending``): nothing is lost, and
    reading on allows the frame another ``frame_timeout``."""


class BrokenStreamError(ConnectionError):
    """A send was interrupted in the middle of a frame: the peer holds part of a frame and
    the stream can no longer be framed. The FramedSocket refuses every later send."""


def _drop(buffers: list[_Piece], n: int) -> list[_Piece]:
    """``buffers`` without their first ``n`` bytes (which went out)."""
    i = 0
    while n:
        size = len(buffers[i])
        if n >= size:
            n -= size
            i += 1
        else:
            buffers[i] = memoryview(buffers[i])[n:]
            n = 0
    return buffers[i:]


def _nbytes(payload: Buffer) -> int:
    """The size of a payload in bytes; 0 for an object that is not a buffer (the framer's
    encoder then refuses it with its own error)."""
    try:
        with memoryview(payload) as view:
            return view.nbytes
    except TypeError:
        return 0


def _is_address_unix(address: object) -> TypeIs[_UnixAddress]:
    return isinstance(address, (str, bytes, os.PathLike))


def _releases_buffer(framer: Framer) -> bool:
    """Whether ``framer.reset()`` between two frames only gives the read buffer back: true of
    pyframe's framers. A framer of one's own may keep state across frames that its reset()
    (which starts a new stream) would clear, so it keeps its buffer."""
    for cls in type(framer).__mro__:
        if "reset" in vars(cls):
            return cls.__module__ in ("pyframe._pyframers", "pyframe._cframers")
    return False


def _timed_out(exc: BaseException) -> bool:
    """A timeout, or a send that one broke part-way: an idle or stalled peer, routine for a
    server (not a bug of its handler)."""
    return isinstance(exc, socket.timeout) or isinstance(exc.__cause__, socket.timeout)


def _check_stream(sock: _Socket) -> None:
    if not isinstance(sock, socket.socket):
        raise TypeError(f"FramedSocket needs a socket.socket, not {type(sock).__name__}")
    kind = sock.type
    if kind != socket.SOCK_STREAM:
        name = getattr(kind, "name", str(kind))
        raise ValueError(
            f"FramedSocket needs a SOCK_STREAM socket, got {name}: datagram sockets "
            "(SOCK_DGRAM, SOCK_SEQPACKET) keep message boundaries themselves and need no framing"
        )


class FramedSocket:
    """A connected SOCK_STREAM socket that sends and receives whole frames.

    ``sock``: a connected TCP or AF_UNIX stream socket (blocking, with a timeout, or
    non-blocking; the FramedSocket owns it from now on: ``close()`` closes it).
    ``framer``: a pyframe framer (``LengthPrefixFramer()``, ``LineFramer()``, ...) used for
    both directions; its decoder must not be fed by anyone else.
    ``idle_timeout``: seconds a blocking receive waits for the first byte of a new frame
    before it raises ``IdleTimeoutError`` (None: the socket's own timeout applies, as inside
    a frame). With it, the framer's read buffer is given back while the connection waits
    between frames (an idle connection then costs a few KiB, whatever ``read_size``).
    ``frame_timeout``: seconds a blocking receive may take over one frame, counted from the
    first of its bytes the receive holds, before it raises ``FrameTimeoutError`` (None: no
    limit but the socket's timeout on each wait).
    """

    def __init__(
        self,
        sock: _Socket,
        framer: Framer,
        *,
        read_size: int = READ_SIZE,
        idle_timeout: Optional[float] = None,
        frame_timeout: Optional[float] = None,
    ) -> None:
        _check_stream(sock)
        self._sock = sock
        self._framer = framer
        self._read_size = read_size
        self._idle_timeout = idle_timeout
        self._frame_timeout = frame_timeout
        self._deadline: Optional[float] = None  # time.monotonic() by which the frame is due
        # wait for a readable socket between frames (its buffer given back meanwhile)
        self._waits = idle_timeout is not None
        self._releases = _releases_buffer(framer)
        self._wake: Optional[_Socket] = None  # FramedServer's: readable once it shuts down
        self._poller: Any = None  # select.poll() of the socket (and _wake), made once
        # Raw bytes read_exactly() took from the framer or the socket and has not returned
        # yet: _raw[_raw_at:]. recv() gives them back to the framer a piece at a time (see
        # _from_raw()); the framer then holds only bytes given back, which come before
        # _raw[_raw_at:] and are the last of _raw[:_raw_at].
        self._raw = b""
        self._raw_at = 0
        # read_exactly()'s buffer, its first _filled bytes received, kept when a timeout or
        # BlockingIOError stopped it: the next call with the same n fills it on (no copy of
        # what came). While it is kept, _raw is empty and the framer holds nothing.
        self._filling: Optional[bytearray] = None
        self._filled = 0
        self._tail: list[bytes] = []  # frames framer.eof() cut at the end of the stream
        self._verbatim = getattr(framer, "verbatim", True)  # else large payloads use encode()
        self._next_frame = framer.next_frame  # (bound once: recv() calls it per frame)
        self._eof = False  # the peer closed its side cleanly
        self._broken: Optional[str] = None  # the error that broke the sending side
        self._unsent: Optional[bytes] = None  # non-blocking: the rest the kernel refused
        self._sendmsg: Optional[Callable[..., int]] = getattr(sock, "sendmsg", None)
        self._sock_send: Callable[..., int] = sock.send
        ssl = sys.modules.get("ssl")  # (not imported: sock cannot be an SSLSocket)
        self._flags = _NO_FLAGS if ssl and isinstance(sock, ssl.SSLSocket) else _FLAGS
        # Only a plain socket writes straight to its descriptor (not a TLS one, nor a
        # subclass that may change what send() does).
        self._send_nowait = _SEND_NOWAIT if type(sock) is socket.socket else None

    # -- access ---------------------------------------------------------------------

    @property
    def socket(self) -> _Socket:
        """The underlying socket."""
        return self._sock

    @property
    def framer(self) -> Framer:
        """The framer (its decoder holds the bytes of any partly received frame)."""
        return self._framer

    @property
    def broken(self) -> bool:
        """True when an interrupted send made the stream unusable for sending."""
        return self._broken is not None

    @property
    def unsent(self) -> int:
        """Bytes accepted by send() on a non-blocking socket but not yet sent (see flush)."""
        return 0 if self._unsent is None else len(self._unsent)

    @property
    def closed(self) -> bool:
        return self._sock.fileno() < 0

    @property
    def idle_timeout(self) -> Optional[float]:
        """Seconds a receive waits for a new frame to begin (None: no idle limit)."""
        return self._idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, seconds: Optional[float]) -> None:
        self._idle_timeout = seconds
        self._waits = self._waits or seconds is not None

    @property
    def frame_timeout(self) -> Optional[float]:
        """Seconds a receive may take over one frame (None: no frame deadline)."""
        return self._frame_timeout

    @frame_timeout.setter
    def frame_timeout(self, seconds: Optional[float]) -> None:
        self._frame_timeout = seconds
        self._deadline = None  # the frame under way gets the new limit from now

    def fileno(self) -> int:
        return self._sock.fileno()

    def settimeout(self, timeout: Optional[float]) -> None:
        self._sock.settimeout(timeout)

    def gettimeout(self) -> Optional[float]:
        return self._sock.gettimeout()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __repr__(self) -> str:
        try:
            where = self._sock.getpeername()
        except OSError:
            where = "closed" if self.closed else "not connected"
        state = " broken" if self._broken is not None else ""
        return f"<FramedSocket {where!r} {type(self._framer).__name__}{state}>"

    # -- receiving ------------------------------------------------------------------

    def recv(self) -> Optional[bytes]:
        """The next frame (``bytes``), or None once the peer has closed cleanly between
        frames. Raises IncompleteFrameError if the stream ended inside a frame, and the
        framer's error (FrameTooLargeError, MalformedFrameError) on a bad stream (frames
        received before the fault are returned first). A fault the framer skipped
        (``on_error="raise"``) is raised once, at its place; the next recv() goes on. Only
        the frame returned is cut: the bytes after it stay raw in the framer (see
        read_exactly() and switch_framer())."""
        frame = self._next_frame()
        if frame is None:
            frames = self._receive(False)
            return frames[0] if frames else None
        return frame

    def recv_many(self) -> list[bytes]:
        """Every frame buffered, receiving once if none is (a list; [] at a clean EOF).
        Cheaper per frame than recv() for streams of small frames; it cuts every frame the
        framer holds (switch framing after recv() instead)."""
        frames = self._framer.pop_frames()
        return frames if frames else self._receive(True)

    def __iter__(self) -> Iterator[bytes]:
        """Yield frames until the peer closes cleanly, as recv() returns them (one at a
        time: stopping early, or switching framing inside the loop, loses nothing)."""
        while True:
            frame = self._next_frame()
            if frame is None:
                frames = self._receive(False)
                if not frames:
                    return
                frame = frames[0]
            yield frame

    def _receive(self, many: bool) -> list[bytes]:
        """The frames the framer holds (all, or with ``many`` false the next one), receiving
        until there is at least one; [] at a clean EOF. Timeouts and BlockingIOError
        propagate with every byte kept."""
        framer = self._framer
        cut = framer.pop_frames if many else self._next_frames
        if self._filling is not None:
            self._settle()
        if self._raw_at < len(self._raw):  # raw bytes read_exactly() left: frames from here
            frames = self._from_raw(cut, many)
        else:
            frames = cut()  # raises a fault left over from the last call
        if frames:
            return frames
        if self._eof:
            if not self._tail and framer.pending:
                # bytes given back after the end (read_exactly() or switch_framer() took
                # them from a frame cut short): the end is reported again, not dropped
                self._tail = framer.eof()
            if many:
                frames, self._tail = self._tail, []
            else:
                frames = self._tail[:1]
                del self._tail[:1]
            return frames
        if self._waits and not framer.pending and not self._wait_for_frame():
            return frames  # the server shuts down: as at a clean end of stream
        if self._frame_timeout is not None:
            return self._receive_by_deadline(cut)
        recv_into = self._sock.recv_into
        size = self._read_size
        while True:
            with framer.get_buffer(size) as view:
                try:
                    # at most `size` bytes, even when the framer lends more room
                    n = recv_into(view, min(size, len(view)))
                except InterruptedError:
                    continue
            framer.buffer_updated(n)
            if n == 0:
                return self._ended(cut)
            frames = cut()
            if frames:
                return frames

    def _from_raw(self, cut: Callable[[], list[bytes]], many: bool) -> list[bytes]:
        """The frames of the raw bytes kept (a piece of them given back to the framer at a
        time, doubling: a frame is found without copying the whole rest, which the next
        read_exactly() would take out again; quadratic for many small frames and reads
        over a large buffered tail). recv_many() cuts every frame: all go back at once."""
        if many:
            self._give_back()
            return cut()
        size = _rawbytes.GIVE_FIRST
        while True:
            self._give_back(size)
            frames = cut()
            if frames or self._raw_at == len(self._raw):
                return frames
            size *= 2

    def _next_frames(self) -> list[bytes]:
        """The next frame as a list of one, or []: recv()'s cut, one frame at a time."""
        frame = self._next_frame()
        return [] if frame is None else [frame]

    def _ended(self, cut: Callable[[], list[bytes]]) -> list[bytes]:
        """The peer closed: the frames left (IncompleteFrameError if one was cut short)."""
        self._eof = True
        frames = cut()
        if frames:
            return frames
        self._tail = self._framer.eof()  # (what only the end tells: a delimiter's tail)
        frames = self._tail[:1]
        del self._tail[:1]
        return frames

    def _receive_by_deadline(self, cut: Callable[[], list[bytes]]) -> list[bytes]:
        """_receive() with a frame_timeout: the reads for the rest of a frame end at its
        deadline. The deadline starts when a receive first holds bytes of the frame, and any
        exception that leaves (a timeout, a framer error) clears it: time the caller spends
        between receives is not the peer's, so the next receive times the frame afresh."""
        framer = self._framer
        recv_into = self._sock.recv_into
        size = self._read_size
        if not framer.pending:
            self._deadline = None  # no frame under way (one an error skipped, say)
        try:
            while True:
                with framer.get_buffer(size) as view:
                    try:
                        if framer.pending:
                            n = self._recv_by_deadline(view, min(size, len(view)))
                        else:
                            n = recv_into(view, min(size, len(view)))
                    except InterruptedError:
                        continue
                framer.buffer_updated(n)
                if n == 0:
                    self._deadline = None
                    return self._ended(cut)
                frames = cut()
                if frames:
                    self._deadline = None  # bytes left over begin a frame: timed from next read
                    return frames
        except BaseException:
            self._deadline = None
            raise

    def _recv_by_deadline(self, view: memoryview, nbytes: int) -> int:
        """recv_into() inside a frame, its wait cut to what is left of the frame's deadline
        (then FrameTimeoutError). The socket's timeout bounds the read itself, not a poll
        before it: an ssl.SSLSocket is readable with part of a TLS record, and its read then
        waits for the rest of the record (a retried read loses nothing: OpenSSL keeps it)."""
        sock = self._sock
        if self._deadline is None:
            self._deadline = time.monotonic() + cast(float, self._frame_timeout)
        timeout = sock.gettimeout()
        left = self._deadline - time.monotonic()
        if timeout == 0.0 or (timeout is not None and timeout <= left):
            return sock.recv_into(view, nbytes)  # non-blocking, or its own timeout comes first
        # a deadline already past still takes the bytes that are there (0 would not block)
        sock.settimeout(max(left, _LAST_LOOK))
        try:
            return sock.recv_into(view, nbytes)
        except socket.timeout:
            raise FrameTimeoutError(
                f"a frame did not arrive within {self._frame_timeout} s "
                f"({self._framer.pending} bytes of it received)"
            ) from None
        finally:
            sock.settimeout(timeout)

    def _wait_for_frame(self) -> bool:
        """Between two frames: wait for the next one to begin, the framer's read buffer
        given back meanwhile (nothing is buffered). False when the server's wake-up comes
        first; IdleTimeoutError after ``idle_timeout`` seconds."""
        sock = self._sock
        if sock.gettimeout() == 0.0:
            return True  # non-blocking: the caller waits for readiness itself
        ssl_pending = getattr(sock, "pending", None)  # an ssl.SSLSocket's decrypted bytes
        if ssl_pending is not None and ssl_pending():
            return True
        if self._readable(0.0):
            return True  # a busy stream keeps its buffer: no wait, no new allocation
        if self._releases:
            self._framer.reset()  # (pending is 0: no byte is lost, no error is stored)
        ready = self._readable(self._idle_timeout)
        if ready is None:
            raise IdleTimeoutError(f"no frame began within {self._idle_timeout} s")
        return ready

    def _readable(self, timeout: Optional[float]) -> Optional[bool]:
        """Wait until the socket is readable (True; an error or a hang-up counts), else until
        the server's wake-up is (False), or for ``timeout`` seconds (None)."""
        sock, wake = self._sock, self._wake
        fd = sock.fileno()
        if fd < 0:
            return True  # closed: the receive that follows raises
        if wake is not None and wake.fileno() < 0:
            return False
        if not hasattr(select, "poll"):  # Windows
            ready, _, _ = select.select([sock] if wake is None else [sock, wake], [], [], timeout)
            return sock in ready if ready else None
        poller = self._poller
        if poller is None:
            poller = self._poller = select.poll()
            poller.register(fd, select.POLLIN)
            if wake is not None:
                poller.register(wake, select.POLLIN)
        events = poller.poll(None if timeout is None else max(timeout, 0.0) * 1000.0)
        if not events:
            return None
        return any(ready == fd for ready, _ in events)

    @property
    def at_eof(self) -> bool:
        """True once the peer closed cleanly and every frame and byte has been returned."""
        return (
            self._eof
            and not self._tail
            and self._framer.pending == 0
            and self._raw_at == len(self._raw)
            and self._filling is None
        )

    # -- switching framing ------------------------------------------------------------

    def read_exactly(self, n: int) -> bytes:
        """The next ``n`` raw bytes of the stream, after the last frame returned: those the
        framer holds first (taken with ``framer.detach()``), then from the socket. Raw bytes
        read past them are kept, and framed again by the next recv().

        A stream that ends first raises ``IncompleteFrameError`` (``.partial``: the bytes
        that came, ``.expected``: ``n``), as a frame cut short does. A timeout
        (``socket.timeout``, ``FrameTimeoutError`` with a ``frame_timeout``, counted over the
        whole read) or ``BlockingIOError`` keeps the bytes that arrived: the next call with
        the same ``n`` goes on from them, in the same buffer. A large ``n`` gets its buffer
        at once: check a length the peer sent against a limit first."""
        n = _index(n)
        if n < 0:
            raise ValueError(f"n must be at least 0, got {n}")
        buf = self._filling
        if buf is not None and self._filled < n <= len(buf):
            got, self._filling = self._filled, None  # a read a timeout stopped: on with it
        else:
            self._settle()
            self._take_held()
            raw, at = self._raw, self._raw_at
            have = len(raw) - at
            if have >= n:
                self._raw_at = at + n
                if self._raw_at == len(raw):
                    self._raw, self._raw_at = b"", 0
                return raw if n == len(raw) else raw[at : at + n]
            # Read the rest: a large n exactly into its own buffer, a small one with a whole
            # read (the bytes past n stay raw for the next call).
            buf = bytearray(max(n, self._read_size))
            buf[:have] = memoryview(raw)[at:]
            got = have
            self._raw, self._raw_at = b"", 0
        size = len(buf)
        timed = self._frame_timeout is not None and self._sock.gettimeout() != 0.0
        try:
            with memoryview(buf) as view:
                while got < n:
                    try:
                        if timed:
                            count = self._recv_by_deadline(view[got:], size - got)
                        else:
                            count = self._sock.recv_into(view[got:], size - got)
                    except InterruptedError:
                        continue
                    if count == 0:
                        self._eof = True
                        partial = bytes(view[:got])
                        got = 0
                        raise IncompleteFrameError(
                            f"stream ended after {len(partial)} of {n} bytes read exactly",
                            partial,
                            n,
                        )
                    got += count
                self._deadline = None
                if got > n:
                    self._raw = bytes(view[n:got])
                return bytes(view[:n]) if size > n else bytes(buf)
        except BaseException:
            self._deadline = None
            if got:  # what arrived stays for the next call, in its buffer
                self._filling, self._filled = buf, got
            raise

    def switch_framer(self, framer: Framer) -> None:
        """Frame the rest of the stream with ``framer`` (both directions): every byte the
        old framer holds (and any raw byte read_exactly() kept) moves into it, uncut
        (``get_buffer``/``buffer_updated``). The old framer is left empty, its state (a
        fault, ``skipped``) forgotten."""
        self._settle()
        self._take_held()
        self._framer = framer
        self._next_frame = framer.next_frame
        self._verbatim = getattr(framer, "verbatim", True)
        self._releases = _releases_buffer(framer)
        self._deadline = None
        self._give_back()

    def _settle(self) -> None:
        """The bytes of a read_exactly() a timeout stopped become raw bytes (for a frame,
        another framer, or a read_exactly() of another size)."""
        buf = self._filling
        if buf is not None:
            self._filling = None
            self._raw, self._raw_at = bytes(memoryview(buf)[: self._filled]), 0

    def _take_held(self) -> None:
        """Move the bytes the framer holds back in front of the raw bytes (only bytes given
        back are there: nothing is received while raw bytes are kept)."""
        self._raw, self._raw_at = _rawbytes.take_held(self._framer, self._raw, self._raw_at, True)

    def _give_back(self, most: Optional[int] = None) -> None:
        """Put the raw bytes kept (at most ``most`` of them) back into the framer, uncut."""
        self._raw, self._raw_at = _rawbytes.give_back(self._framer, self._raw, self._raw_at, most)

    # -- sending --------------------------------------------------------------------

    def send(self, payload: Buffer) -> None:
        """Send one frame. A payload up to 8 KiB is encoded with its header and trailer into
        one buffer (``framer.encode``); a larger one is not copied: header, payload and
        trailer go out together in one ``sendmsg``."""
        framer = self._framer
        size = len(payload) if isinstance(payload, bytes) else _nbytes(payload)
        if size <= _JOIN_BELOW or not self._verbatim:  # (a transforming framer: encode())
            self._send_one(framer.encode(payload))
            return
        header, trailer = framer.encode_parts(payload)
        view = _rules.byte_view(payload)
        buffers: list[_Piece] = [header, view, trailer] if header else [view, trailer]
        if not trailer:
            buffers.pop()
        self._send(buffers, len(header) + view.nbytes + len(trailer))

    def send_many(self, payloads: Iterable[Buffer]) -> None:
        """Send several frames in as few system calls as possible. When no payload is over
        8 KiB, all of them are encoded into one buffer (``framer.encode_many``) sent as
        ``send()`` sends one frame; otherwise runs of small payloads are encoded together
        and larger ones go out uncopied, up to IOV_MAX buffers per ``sendmsg``. Every
        payload is encoded before the first byte is sent: an invalid one sends nothing."""
        if not isinstance(payloads, (list, tuple)):
            payloads = list(payloads)
        if not payloads:
            return
        if not self._verbatim:  # a framing that transforms payloads copies them anyway
            self._send_one(self._framer.encode_many(payloads))
            return
        # pyframe's framers tell in the pass that encodes whether a payload is large
        encode_below = getattr(self._framer, "_encode_many_below", None)
        if encode_below is not None:
            wire = encode_below(payloads, _JOIN_BELOW)
            if wire is not None:
                self._send_one(wire)
                return
        else:
            try:
                # (for a payload of items wider than a byte, len() counts items: a little
                # more than 8 KiB may be joined)
                largest = max(map(len, payloads))
            except TypeError:  # a buffer without len()
                largest = _JOIN_BELOW + 1
            if largest <= _JOIN_BELOW:
                self._send_one(self._framer.encode_many(payloads))
                return
        buffers = self._encode_mixed(payloads)
        self._send(buffers, sum(map(len, buffers)))

    def _encode_mixed(self, payloads: Iterable[Buffer]) -> list[_Piece]:
        """send_many()'s buffers when some payloads are large: runs of small payloads
        encoded together, each large one as its header, itself and its trailer."""
        encode_many, encode_parts = self._framer.encode_many, self._framer.encode_parts
        buffers: list[_Piece] = []
        run: list[Buffer] = []  # small payloads, to be encoded together
        views: list[memoryview] = []  # of the large payloads
        room = _CHUNK
        try:
            for payload in payloads:
                size = _nbytes(payload)
                if size <= _JOIN_BELOW:
                    run.append(payload)
                    room -= size + _CHUNK_SLACK
                    if room <= 0:
                        buffers.append(encode_many(run))
                        run, room = [], _CHUNK
                    continue
                if run:
                    buffers.append(encode_many(run))
                    run, room = [], _CHUNK
                header, trailer = encode_parts(payload)
                if header:
                    buffers.append(header)
                views.append(_rules.byte_view(payload))
                buffers.append(views[-1])
                if trailer:
                    buffers.append(trailer)
            if run:
                buffers.append(encode_many(run))
        except BaseException:  # a payload refused: no view of the others left behind
            for view in views:
                view.release()
            raise
        return [buffer for buffer in buffers if len(buffer)]

    def flush(self) -> bool:
        """Send what a non-blocking send() left over. True when nothing is left; False if
        the socket would still block."""
        if self._broken is not None:
            raise self._broken_error()
        if self._unsent is None:
            return True
        data, self._unsent = self._unsent, None
        try:
            self._send([data], len(data), resumed=True)
        except BlockingIOError:  # nothing went out: keep it all
            self._unsent = data
        return self._unsent is None

    def _send_one(self, data: bytes) -> None:
        """_send([data]), its first attempt inline: the common case, one call sends all.

        Compiled, when ``data`` is small, that attempt is a send that does not wait, made
        without releasing the GIL (as uvloop makes its calls): releasing it costs more than
        the call, and a thread waiting for the GIL would take it at every frame, each
        handover a context switch. Whatever the kernel does not take at once is sent the
        usual way (the GIL released while waiting, the socket's timeout and blocking mode
        obeyed)."""
        total = len(data)
        if self._broken is not None or self._unsent is not None:
            self._send([data], total)
            return
        log: list[int] = []  # the count, stored in C (see _send())
        try:
            try:
                # (exactly bytes: a framer of one's own may return a bytearray, a
                # memoryview or a subclass of bytes, which the compiled call refuses)
                if self._send_nowait is not None and total <= _NOWAIT_UP_TO and type(data) is bytes:
                    if self._send_nowait(self._sock, data, log):
                        return
                else:
                    log.extend(map(self._sock_send, (data,), self._flags))
            except InterruptedError:
                pass
            except OSError as exc:  # nothing of the data went out
                self._lost(exc)
                raise
            if log and log[0] == total:
                return
            self._send([data], total, log[0] if log else 0)
        except BaseException as exc:
            if log and log[0]:
                self._interrupted(exc, log[0], total)
            raise

    def _broken_error(self) -> BrokenStreamError:
        return BrokenStreamError(f"this FramedSocket cannot send any more: {self._broken}")

    def _send(
        self, buffers: list[_Piece], total: int, sent: int = 0, resumed: bool = False
    ) -> None:
        """Hand ``buffers`` (one frame, or several whole frames; ``total`` bytes, of which
        the first ``sent`` went out already) to the kernel. Once a byte of them went out,
        any exception breaks the stream."""
        if not sent:
            if self._broken is not None:
                raise self._broken_error()
            if self._unsent is not None and not resumed and not self.flush():
                raise BlockingIOError(
                    errno.EAGAIN, "the previous frame is still being sent; call flush() first"
                )
        # Each call runs inside map(), whose count log.extend() stores in C: a pending
        # signal handler runs between two bytecodes (on 3.9 and 3.10 even between a call
        # and the store of its result), so its exception never hides bytes that went out.
        # `sent` is what went out before this call to _send(), plus sum(log).
        log: list[int] = []
        try:
            if sent:
                buffers = _drop(buffers, sent)
            while True:
                try:
                    if len(buffers) == 1 or self._sendmsg is None:
                        data = buffers[0] if len(buffers) == 1 else b"".join(buffers[:_IOV_MAX])
                        log.extend(map(self._sock_send, (data,), self._flags))
                    else:
                        try:
                            log.extend(
                                map(self._sendmsg, (buffers[:_IOV_MAX],), _NO_ANCILLARY, _FLAGS)
                            )
                        except NotImplementedError:  # ssl.SSLSocket has no sendmsg
                            self._sendmsg = None
                            continue
                except InterruptedError:
                    continue
                except (BlockingIOError, socket.timeout) as exc:
                    done = sent + sum(log)
                    if done == 0 and not resumed:
                        raise  # nothing of these frames went out: the stream is intact
                    if self._sock.gettimeout() == 0.0:  # non-blocking: keep the rest for flush()
                        self._unsent = b"".join(bytes(b) for b in buffers)
                        return
                    self._break(exc, done, total)
                except OSError as exc:
                    done = sent + sum(log)
                    if done or resumed:
                        self._break(exc, done, total)
                    self._lost(exc)
                    raise
                n = log[-1]
                log[:] = (sum(log),)  # one total, replaced in one step
                if sent + log[0] >= total:
                    return
                buffers = _drop(buffers, n)
        except BaseException as exc:
            # A signal handler's exception (KeyboardInterrupt...) or any other one, once
            # bytes went out: the peer holds part of a frame. Raised as it is, but no later
            # send may append to the stream.
            done = sent + sum(log)
            if done or resumed:
                self._interrupted(exc, done, total)
            raise

    def _lost(self, exc: OSError) -> None:
        """A send failed before any byte went out: a lost connection still breaks it."""
        if exc.errno in _LOST:
            self._broken = f"the connection was lost ({exc})"

    def _interrupted(self, exc: BaseException, sent: int, total: int) -> None:
        """``exc`` stopped a send once part of a frame went out: the stream is broken."""
        if self._broken is None:
            self._broken = (
                f"a send was interrupted after {sent} of {total} bytes "
                f"({type(exc).__name__}); the peer holds a partial frame and the stream is "
                "out of sync"
            )

    def _break(self, exc: OSError, sent: int, total: int) -> NoReturn:
        what = "timed out" if isinstance(exc, socket.timeout) else str(exc)
        self._broken = (
            f"a send was interrupted after {sent} of {total} bytes ({what}); the peer holds "
            "a partial frame and the stream is out of sync"
        )
        raise BrokenStreamError(
            f"send interrupted in the middle of a frame: {self._broken}; close this connection"
        ) from exc

    # -- closing --------------------------------------------------------------------

    def shutdown(self, how: int = _SHUT_WR) -> None:
        """Shut down one or both directions (default: writing, so the peer sees a clean EOF
        while this side can still receive)."""
        self._sock.shutdown(how)

    def close(self) -> None:
        """Close the socket. Frames still buffered can still be returned by recv()."""
        self._sock.close()

    def __enter__(self: _FramedSocketT) -> _FramedSocketT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _nodelay(sock: _Socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def connect(
    address: _ConnectAddress,
    framer: Framer,
    *,
    timeout: Optional[float] = None,
    nodelay: bool = True,
    **kwargs: Any,
) -> FramedSocket:
    """Connect to ``address`` and return a FramedSocket using ``framer``.

    ``address``: a ``(host, port)`` tuple (TCP, IPv4 or IPv6 through
    ``socket.create_connection``) or a filesystem path (AF_UNIX). ``timeout``: seconds for
    connecting and for every later operation (None: blocking). ``nodelay``: disable Nagle's
    algorithm on TCP (as asyncio does): whole frames go out at once anyway, and small
    frames are not held back. Other keywords go to ``socket.create_connection``.
    """
    if _is_address_unix(address):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(os.fspath(address))  # (a path-like object, as bind() below)
        except BaseException:
            sock.close()
            raise
    else:
        sock = socket.create_connection(address, timeout, **kwargs)
        try:
            if nodelay:
                _nodelay(sock)
        except BaseException:
            sock.close()
            raise
    return FramedSocket(sock, framer)


class FramedServer:
    """A listening socket that accepts connections as FramedSockets.

    ``address``: ``(host, port)`` (port 0 picks a free port; see ``address`` afterwards) or an
    AF_UNIX path (a stale socket file there is replaced; the file is removed on close).
    ``framer_factory``: called with no argument for each connection (a framer class, or
    ``functools.partial(LengthPrefixFramer, 2)``...).

    ``accept()`` returns ``(FramedSocket, peer address)``; iterating yields the FramedSockets
    one after another;
    ``serve_forever(handler)`` runs ``handler(conn)`` in a thread per connection (closing
    ``conn`` afterwards) until ``shutdown()`` or ``close()`` is called from another thread.

    Limits (README "Servers under load"): ``timeout`` (default ``TIMEOUT``, 60 s): each
    blocking operation of a connection (a receive inside a frame, a send); ``idle_timeout``
    (default ``IDLE_TIMEOUT``, 60 s): the wait for a new frame to begin, after which recv()
    raises ``IdleTimeoutError``; ``frame_timeout`` (default ``FRAME_TIMEOUT``, 120 s): the
    whole of a frame, after which recv() raises ``FrameTimeoutError``; ``max_connections``
    (default ``MAX_CONNECTIONS``, 512): handlers running at once under serve_forever(), more
    clients wait in the backlog;
    ``shutdown_timeout`` (default ``SHUTDOWN_TIMEOUT``, 10 s): how long serve_forever() lets
    busy handlers finish once stopped. None lifts a limit.
    """

    def __init__(
        self,
        address: _ServerAddress,
        framer_factory: Callable[[], Framer],
        *,
        backlog: int = 128,
        reuse_address: bool = True,
        nodelay: bool = True,
        timeout: Optional[float] = TIMEOUT,
        idle_timeout: Optional[float] = IDLE_TIMEOUT,
        frame_timeout: Optional[float] = FRAME_TIMEOUT,
        max_connections: Optional[int] = MAX_CONNECTIONS,
        shutdown_timeout: Optional[float] = SHUTDOWN_TIMEOUT,
    ) -> None:
        if max_connections is not None and max_connections < 1:
            raise ValueError(f"max_connections must be at least 1 or None, got {max_connections}")
        self.framer_factory = framer_factory
        self._nodelay = nodelay
        self._timeout = timeout
        self._idle_timeout = idle_timeout
        self._frame_timeout = frame_timeout
        self._max_connections = max_connections
        self._shutdown_timeout = shutdown_timeout
        self._unix_path: Union[str, bytes, None] = None
        self._conns: dict[threading.Thread, FramedSocket] = {}  # serve_forever()'s handlers
        if _is_address_unix(address):
            path = os.fspath(address)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                try:
                    if stat.S_ISSOCK(os.stat(path).st_mode):
                        os.unlink(path)
                except FileNotFoundError:
                    pass
                sock.bind(path)
            except BaseException:
                sock.close()
                raise
            self._unix_path = path
        else:
            host = address[0]
            family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if reuse_address and os.name == "posix":
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(tuple(address))
            except BaseException:
                sock.close()
                raise
        try:
            sock.listen(backlog)
            # wakes serve_forever(): b"x" from shutdown(), b"." from a handler that ended.
            # Made now so that a shutdown() or close() that comes before serve_forever() has
            # started is not lost (the byte waits in the pair).
            self._stop_r, self._stop_w = socket.socketpair()
        except BaseException:
            sock.close()
            raise
        self._stop_r.setblocking(False)
        self._stop_w.setblocking(False)
        self._lock = threading.Lock()
        self._serving = False
        self._closed = False
        self.socket = sock

    @property
    def address(self) -> Any:
        """The bound address: ``(host, port, ...)`` with the real port, or the path."""
        return self.socket.getsockname()

    @property
    def connections(self) -> int:
        """Handlers running under serve_forever() (connections being served)."""
        return len(self._conns)

    def fileno(self) -> int:
        return self.socket.fileno()

    def accept(self) -> tuple[FramedSocket, Any]:
        """Wait for a connection; return ``(FramedSocket, peer address)``."""
        while True:
            try:
                sock, peer = self.socket.accept()
                break
            except InterruptedError:
                continue
        return self._wrap(sock), peer

    def _wrap(self, sock: _Socket) -> FramedSocket:
        try:
            if self._nodelay:
                _nodelay(sock)
            sock.settimeout(self._timeout)
            conn = FramedSocket(
                sock,
                self.framer_factory(),
                idle_timeout=self._idle_timeout,
                frame_timeout=self._frame_timeout,
            )
        except BaseException:
            sock.close()
            raise
        conn._waits = True  # an idle connection holds no read buffer, with or without a limit
        return conn

    def _retry_accept(self, exc: OSError, delay: float) -> float:
        """After accept() failed with ``exc``: the seconds to wait before the next attempt
        (0: at once); raises what is not a known transient or exhaustion error."""
        if exc.errno in _EXHAUSTED:
            delay = min(max(2 * delay, _BACKOFF_FIRST), _BACKOFF_MAX)
            logger.warning(
                "pyframe server %s: accept() failed (%s); retrying in %.2f s",
                self._where(),
                exc,
                delay,
            )
            return delay
        if exc.errno in _VANISHED or isinstance(exc, ConnectionAbortedError):
            return 0.0  # that client is gone; the next one is served
        raise exc

    def _where(self) -> str:
        try:
            return repr(self.address)
        except OSError:
            return "(closed)"

    def __iter__(self) -> Iterator[FramedSocket]:
        """Yield a FramedSocket per accepted connection, until the server is closed. Out of
        descriptors or memory, it logs and retries after a short wait instead of raising."""
        delay = 0.0
        while True:
            try:
                conn, _ = self.accept()
            except OSError as exc:
                if self.socket.fileno() < 0:
                    return
                delay = self._retry_accept(exc, delay)
                if delay:
                    time.sleep(delay)
                continue
            delay = 0.0
            yield conn

    def serve_forever(self, handler: Callable[[FramedSocket], object]) -> None:
        """Call ``handler(conn)`` in a new thread for each connection (``conn`` is closed when
        the handler returns) until ``shutdown()``/``close()``, even one called before
        serve_forever() started.

        At ``max_connections`` handlers it stops accepting (clients wait in the backlog)
        until one ends. Out of descriptors or memory, or unable to start a thread, it logs
        (logger ``"pyframe"``), waits a little and goes on serving. A handler's
        ``socket.timeout`` (an idle or stalled peer) is logged at DEBUG, not raised.

        Once stopped: a connection waiting for a new frame gets None from recv() (as at a
        clean end of stream) at once; busy handlers get ``shutdown_timeout`` seconds to
        finish, then their sockets are shut down; serve_forever() returns when they ended
        (or, for a handler blocked elsewhere, after logging it)."""
        with self._lock:
            if self._serving:
                raise RuntimeError("serve_forever() is already running")
            if self._closed:
                return
            self._serving = True
        try:
            # readable once the server stops: wakes every handler waiting for a new frame
            wake_r, wake_w = socket.socketpair()
        except BaseException:
            with self._lock:
                self._serving = False
            raise
        try:
            self._accept_loop(handler, wake_r)
        finally:
            try:
                wake_w.send(b"x")
            except OSError:
                pass
            ended = self._finish_handlers()
            with self._lock:
                self._serving = False
                if self._closed:
                    self._stop_r.close()
                    self._stop_w.close()
                else:
                    self._drain_stop()  # this shutdown() is served: the next run starts anew
            if ended:  # (else a handler may still poll wake_r: left to the garbage collector)
                wake_r.close()
                wake_w.close()

    def _accept_loop(self, handler: Callable[[FramedSocket], object], wake: _Socket) -> None:
        listener = self.socket
        delay = 0.0  # the last back-off, 0 after a success
        resume = 0.0  # time.monotonic() before which nothing is accepted
        with selectors.DefaultSelector() as sel:
            sel.register(self._stop_r, selectors.EVENT_READ)
            listening = False
            while True:
                if listener.fileno() < 0:
                    return
                now = time.monotonic()
                cap = self._max_connections
                want = now >= resume and (cap is None or len(self._conns) < cap)
                if want != listening:
                    if want:
                        sel.register(listener, selectors.EVENT_READ)
                    else:
                        sel.unregister(listener)
                    listening = want
                events = sel.select(None if now >= resume else resume - now)
                if any(key.fileobj is self._stop_r for key, _ in events) and self._stopped():
                    return
                if not any(key.fileobj is listener for key, _ in events):
                    continue
                try:
                    sock, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    if listener.fileno() < 0:
                        return
                    delay = self._retry_accept(exc, delay)
                    resume = time.monotonic() + delay
                    continue
                try:
                    conn = self._wrap(sock)
                except OSError:  # (a peer gone already: setsockopt fails on some systems)
                    continue
                except Exception:  # the framer_factory's bug: logged, the server goes on
                    logger.exception("pyframe server %s: framer_factory() failed", self._where())
                    continue
                conn._wake = wake
                if self._start(handler, conn):
                    delay = 0.0
                else:
                    delay = min(max(2 * delay, _BACKOFF_FIRST), _BACKOFF_MAX)
                    resume = time.monotonic() + delay

    def _start(self, handler: Callable[[FramedSocket], object], conn: FramedSocket) -> bool:
        """Run ``handler(conn)`` in a new thread; False (``conn`` closed) if none can start."""
        thread = threading.Thread(target=self._handle, args=(handler, conn), daemon=True)
        with self._lock:
            self._conns[thread] = conn
        try:
            thread.start()
        except RuntimeError as exc:  # "can't start new thread": out of memory or threads
            with self._lock:
                self._conns.pop(thread, None)
            conn.close()
            logger.warning(
                "pyframe server %s: cannot start a handler thread (%s); connection closed, "
                "accepting again shortly",
                self._where(),
                exc,
            )
            return False
        return True

    def _stopped(self) -> bool:
        """Read the wake-up bytes: True if shutdown() sent one (a handler's end sends b".")."""
        stop = False
        try:
            while True:
                data = self._stop_r.recv(4096)
                if not data:
                    return True
                stop = stop or b"x" in data
        except OSError:  # BlockingIOError: read them all
            return stop

    def _finish_handlers(self) -> bool:
        """After the accept loop: let the handlers end (idle ones are woken already). True
        when every one did."""
        with self._lock:
            threads = list(self._conns)
        limit = self._shutdown_timeout
        deadline = None if limit is None else time.monotonic() + limit
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        with self._lock:
            busy = [(t, c) for t, c in self._conns.items() if t.is_alive()]
        if not busy:
            return True
        logger.warning(
            "pyframe server %s: %d handler(s) still busy after %s s; shutting their sockets down",
            self._where(),
            len(busy),
            limit,
        )
        for _, conn in busy:
            try:
                conn.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + _FORCED_JOIN
        for thread, _ in busy:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = sum(thread.is_alive() for thread, _ in busy)
        if left:
            logger.warning(
                "pyframe server %s: %d handler(s) still running; serve_forever() returns",
                self._where(),
                left,
            )
        return not left

    def _drain_stop(self) -> None:
        try:
            while self._stop_r.recv(4096):
                pass
        except OSError:  # BlockingIOError: empty
            pass

    def _handle(self, handler: Callable[[FramedSocket], object], conn: FramedSocket) -> None:
        try:
            with conn:
                handler(conn)
        except (socket.timeout, BrokenStreamError) as exc:
            if not _timed_out(exc):
                raise
            logger.debug("pyframe server %s: connection closed: %s", self._where(), exc)
        finally:
            with self._lock:
                self._conns.pop(threading.current_thread(), None)
            try:
                self._stop_w.send(b".")  # a slot is free: the accept loop looks again
            except OSError:  # closed, or full: a wake-up is waiting anyway
                pass

    def shutdown(self) -> None:
        """Make serve_forever() return (see there for the handlers). Called before
        serve_forever() has started, it makes the next serve_forever() return at once."""
        try:
            self._stop_w.send(b"x")
        except OSError:  # closed, or the pair is full: a wake-up is waiting anyway
            pass

    def close(self) -> None:
        """Stop accepting (serve_forever() returns); remove the AF_UNIX socket file."""
        with self._lock:
            self.shutdown()
            self._closed = True
            if not self._serving:  # else serve_forever() closes the pair when it is done
                self._stop_r.close()
                self._stop_w.close()
        self.socket.close()
        if self._unix_path is not None:
            try:
                os.unlink(self._unix_path)
            except OSError:
                pass
            self._unix_path = None

    def __enter__(self: _FramedServerT) -> _FramedServerT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def serve(
    address: _ServerAddress, framer_factory: Callable[[], Framer], **kwargs: Any
) -> FramedServer:
    """Listen on ``address``: a FramedServer (see there); same keywords."""
    return FramedServer(address, framer_factory, **kwargs)
