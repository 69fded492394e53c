"""Datagrams (UDP over IPv4/IPv6, AF_UNIX SOCK_DGRAM) that never lose data silently.

A datagram socket keeps message boundaries, so it needs no stream framing; it has two traps of
its own that this module closes:

* **Truncation.** ``recvfrom(bufsize)`` returns one datagram and silently drops whatever did
  not fit in ``bufsize``. ``DatagramSocket.recv()`` returns a whole datagram or raises
  ``DatagramTooLargeError`` (a ``FrameTooLargeError``) with the sender's address, the datagram
  being discarded and the socket ready for the next one. On Linux ``.size`` is the real size
  (``recvmsg`` with ``MSG_TRUNC`` returns it); on other systems with ``recvmsg`` the kernel's
  ``MSG_TRUNC`` flag tells that it was cut, and where there is no ``recvmsg`` (Windows) a buffer
  one byte larger than the limit does: there ``.size`` is a lower bound (``.exact`` is False).
* **Many small messages per datagram**, as statsd, syslog batches and game netcode send them.
  With a framer, ``send_frames(payloads, address)`` encodes each payload with it and packs the
  frames, in order, into as few datagrams as fit ``max_datagram_size`` (a frame is never split
  across datagrams; one too large to fit alone is refused before anything is sent), and
  ``recv_frames()`` returns every frame of one datagram with its sender's address. A datagram
  that is not a whole number of frames raises ``MalformedDatagramError``; each datagram is
  decoded on its own, so the next one is not affected.

Blocking::

    from pyframe import LineFramer, datagrams

    with datagrams.bind(("127.0.0.1", 0), framer=LineFramer()) as server, \\
            datagrams.connect(server.address, framer=LineFramer()) as client:
        client.send_frames([b"cpu:1|c", b"mem:2|g"])   # one datagram
        frames, sender = server.recv_frames()           # [b"cpu:1|c", b"mem:2|g"], address

asyncio (and uvloop): ``AsyncDatagramSocket`` has the same methods as coroutines, and
``serve(handler)`` calls a ``DatagramHandler``'s ``frames_received``/``datagram_received``/
``error_received`` (the shape of ``asyncio.DatagramProtocol``). It reads with its own reader
(``loop.add_reader`` and the same ``recvmsg`` code as the blocking class) rather than an
``asyncio.DatagramProtocol``: asyncio's datagram transport reads with ``recvfrom(256 KiB)``,
which silently truncates a larger AF_UNIX datagram and never says so. (It needs a loop with
``add_reader``: on Windows, the selector event loop rather than the default proactor.)

The codec functions ``pack_frames()`` and ``unpack_frames()`` do the packing with no I/O, for
code that moves datagrams itself.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import socket
import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union

from ._errors import FrameError, FrameTooLargeError, IncompleteFrameError, MalformedFrameError
from ._types import Buffer, Framer

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "DEFAULT_MAX_DATAGRAM_SIZE",
    "DEFAULT_MAX_SIZE",
    "AsyncDatagramSocket",
    "DatagramHandler",
    "DatagramSocket",
    "DatagramTooLargeError",
    "MalformedDatagramError",
    "bind",
    "bind_async",
    "connect",
    "connect_async",
    "pack_frames",
    "unpack_frames",
]

#: Default receive limit (``max_size``): 65535 bytes, more than any UDP datagram carries
#: (65507 over IPv4, 65527 over IPv6). AF_UNIX datagrams can be larger: raise it for those.
DEFAULT_MAX_SIZE = 65535
#: Default send limit (``max_datagram_size``): 65507 bytes, the largest UDP payload over IPv4.
#: On a real network use your path's budget instead (1472 for Ethernet over IPv4, 1452 over
#: IPv6; statsd's advice is 512 on the Internet): a larger datagram is fragmented by IP and
#: lost whole if any fragment is lost.
DEFAULT_MAX_DATAGRAM_SIZE = 65507

# How the kernel reports truncation (see DatagramSocket._receive). On Linux, MSG_TRUNC passed
# to recvmsg() makes it return the datagram's real size (UDP since 2.6.8, AF_UNIX since 3.4);
# elsewhere MSG_TRUNC is only an output flag, passing it would mean nothing.
_MSG_TRUNC = getattr(socket, "MSG_TRUNC", 0)
_REAL_SIZE_FLAG = _MSG_TRUNC if sys.platform.startswith("linux") else 0
_WSAEMSGSIZE = 10040  # Windows: recvfrom() into a smaller buffer fails with this error

_UnixAddress = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
#: A socket address: ``(host, port)``, IPv6's ``(host, port, flowinfo, scope_id)``, or an
#: AF_UNIX path (``str``/``bytes``/path-like; on Linux ``"\0name"`` is an abstract address).
Address = Union[tuple[Any, ...], _UnixAddress]
_SockAddr = Union[tuple[Any, ...], str, bytes]  # what the socket methods take
_DatagramSocketT = TypeVar("_DatagramSocketT", bound="DatagramSocket")
_S = TypeVar("_S")


class DatagramTooLargeError(FrameTooLargeError):
    """A datagram larger than ``max_size`` arrived. It was discarded (reported, not lost
    silently); the socket is ready for the next datagram.

    ``size``: its real size when ``exact`` is True (Linux), else a lower bound
    (``max_size + 1``: the system said only that it did not fit). ``limit``: ``max_size``.
    ``address``: the sender's address (None where the system does not give it: Windows).
    """

    def __init__(
        self, message: str, size: int, limit: int, address: Any = None, exact: bool = True
    ) -> None:
        super().__init__(message, size, limit)
        self.address = address
        self.exact = exact

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException's would call cls(message) alone: pickle and copy need all the fields
        args = (self.args[0], self.size, self.limit, self.address, self.exact)
        return type(self), args, self.__dict__


class MalformedDatagramError(MalformedFrameError):
    """A datagram that is not a whole number of frames (it ends inside a frame, or the framer
    refuses its bytes). Datagrams are atomic, so the whole datagram is refused; the next one
    is decoded afresh.

    ``address``: the sender's address. ``datagram``: its bytes. ``frames``: the complete
    frames decoded before the fault (for diagnosis). ``__cause__``: the framer's error.
    """

    def __init__(
        self,
        message: str,
        address: Any = None,
        datagram: bytes = b"",
        frames: Optional[list[bytes]] = None,
    ) -> None:
        super().__init__(message)
        self.address = address
        self.datagram = datagram
        self.frames: list[bytes] = [] if frames is None else frames


# -- the codec: no I/O -------------------------------------------------------------------


def _limit(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def pack_frames(
    framer: Framer,
    payloads: Iterable[Buffer],
    max_datagram_size: int = DEFAULT_MAX_DATAGRAM_SIZE,
) -> list[bytes]:
    """Encode each payload with ``framer`` and pack the frames into datagrams of at most
    ``max_datagram_size`` bytes: greedily, in order (a datagram takes frames until the next
    one would not fit, which gives the fewest datagrams that keep the order). A frame is
    never split. Every payload is encoded before a datagram is returned, so nothing is
    returned if one fails: a frame (header, payload and trailer) larger than
    ``max_datagram_size`` raises ``FrameTooLargeError`` (``size``: its encoded size), a
    payload the framer refuses raises the framer's error."""
    limit = _limit("max_datagram_size", max_datagram_size, 1)
    datagrams: list[bytes] = []
    group: list[bytes] = []
    used = 0
    for index, payload in enumerate(payloads):
        wire = framer.encode(payload)
        size = len(wire)
        if size > limit:
            raise FrameTooLargeError(
                f"frame {index} is {size} bytes once encoded, more than "
                f"max_datagram_size={limit}: it cannot fit in a datagram (nothing was sent)",
                size,
                limit,
            )
        if used + size > limit:
            datagrams.append(b"".join(group))
            group, used = [], 0
        group.append(wire)
        used += size
    if group:
        datagrams.append(b"".join(group))
    return datagrams


def _decode(framer: Framer, datagram: Buffer, address: Any) -> list[bytes]:
    """The frames of one datagram, decoded by ``framer`` from a fresh state."""
    frames: list[bytes] = []
    framer.reset()
    try:
        frames += framer.feed(datagram)
        frames += framer.eof()
        frames += framer.pop_frames()  # raises a fault a framer deferred behind its last frames
    except FrameError as exc:
        with memoryview(datagram) as view:
            data = view.tobytes()
        if isinstance(exc, IncompleteFrameError):
            why = (
                f"it ends in the middle of a frame ({len(exc.partial)} bytes of it); "
                "a frame never spans datagrams"
            )
        else:
            why = f"{type(exc).__name__}: {exc}"
        raise MalformedDatagramError(
            f"malformed datagram of {len(data)} bytes from {address!r} after "
            f"{len(frames)} whole frames: {why}",
            address,
            data,
            frames,
        ) from exc
    finally:
        framer.reset()  # nothing of this datagram is left for the next one
    return frames


def unpack_frames(framer: Framer, datagram: Buffer) -> list[bytes]:
    """Every frame in ``datagram``, decoded by ``framer`` from a fresh state (``reset()``
    before and after). Raises ``MalformedDatagramError`` if the datagram is not a whole number
    of frames."""
    return _decode(framer, datagram, None)


# -- sockets -----------------------------------------------------------------------------


def _check_datagram(sock: socket.socket) -> None:
    if not isinstance(sock, socket.socket):
        raise TypeError(f"a datagram socket must be a socket.socket, not {type(sock).__name__}")
    if sock.type != socket.SOCK_DGRAM:
        name = getattr(sock.type, "name", str(sock.type))
        advice = ": for a byte stream use pyframe.FramedSocket"
        raise ValueError(
            f"expected a SOCK_DGRAM socket, got {name}"
            + (advice if sock.type == socket.SOCK_STREAM else "")
        )


class DatagramSocket:
    """A SOCK_DGRAM socket (UDP over IPv4/IPv6, AF_UNIX) that never truncates silently.

    ``sock``: a SOCK_DGRAM socket, bound and/or connected as needed (the DatagramSocket owns
    it: ``close()`` closes it). ``framer``: for ``send_frames``/``recv_frames`` (encoders are
    stateless; the decoder is reset for every datagram). ``max_size``: the largest datagram
    received (a buffer of that size is kept). ``max_datagram_size``: the largest datagram
    sent.

    Threads: one thread may receive while another sends, and several may send; a receive
    while another thread is receiving raises RuntimeError (the two would share the receive
    buffer and the framer's decoder).
    """

    def __init__(
        self,
        sock: socket.socket,
        framer: Optional[Framer] = None,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        max_datagram_size: int = DEFAULT_MAX_DATAGRAM_SIZE,
    ) -> None:
        _check_datagram(sock)
        self._sock = sock
        self._framer = framer
        self._max_size = _limit("max_size", max_size, 0)
        self._max_datagram_size = _limit("max_datagram_size", max_datagram_size, 1)
        self._recvmsg_into: Optional[Callable[..., tuple[int, Any, int, Any]]] = getattr(
            sock, "recvmsg_into", None
        )
        # recvmsg_into() gets max_size bytes of room; recvfrom_into() one more, to tell
        self._buffer = bytearray(self._max_size + 1)
        self._views = [memoryview(self._buffer)[: self._max_size]]
        self._receiving = threading.Lock()

    # -- access ---------------------------------------------------------------------

    @property
    def socket(self) -> socket.socket:
        return self._sock

    @property
    def framer(self) -> Optional[Framer]:
        return self._framer

    @property
    def max_size(self) -> int:
        """The largest datagram received; a larger one raises DatagramTooLargeError."""
        return self._max_size

    @property
    def max_datagram_size(self) -> int:
        """The largest datagram sent (send_frames packs up to it)."""
        return self._max_datagram_size

    @property
    def address(self) -> Any:
        """The bound address (``getsockname()``)."""
        return self._sock.getsockname()

    @property
    def closed(self) -> bool:
        return self._sock.fileno() < 0

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
            where = repr(self._sock.getsockname())
        except OSError:
            where = "closed"
        framer = f" {type(self._framer).__name__}" if self._framer is not None else ""
        return f"<{type(self).__name__} {where}{framer} max_size={self._max_size}>"

    # -- receiving ------------------------------------------------------------------

    def _receive(self) -> tuple[int, Any]:
        """Receive one datagram into the buffer: ``(size, sender)``. Raises
        DatagramTooLargeError for one over max_size (it is consumed). Timeouts and
        BlockingIOError propagate with nothing consumed."""
        limit = self._max_size
        recvmsg_into = self._recvmsg_into
        if recvmsg_into is not None:
            n, _, flags, address = recvmsg_into(self._views, 0, _REAL_SIZE_FLAG)
            if n > limit:  # Linux: the real size
                raise self._too_large(n, address, exact=True)
            if flags & _MSG_TRUNC:  # a kernel that only flags it
                raise self._too_large(limit + 1, address, exact=False)
            return n, address
        try:
            n, address = self._sock.recvfrom_into(self._buffer, limit + 1)
        except OSError as exc:
            if getattr(exc, "winerror", None) != _WSAEMSGSIZE:
                raise
            raise self._too_large(limit + 1, None, exact=False) from exc
        if n > limit:
            raise self._too_large(n, address, exact=False)
        return n, address

    def _too_large(self, size: int, address: Any, exact: bool) -> DatagramTooLargeError:
        limit = self._max_size
        what = f"{size} bytes" if exact else f"more than {limit} bytes"
        return DatagramTooLargeError(
            f"datagram of {what} from {address!r} exceeds max_size={limit}; it was discarded",
            size,
            limit,
            address,
            exact,
        )

    def recv(self) -> tuple[bytes, Any]:
        """One whole datagram: ``(payload, sender address)``. Raises DatagramTooLargeError
        (a FrameTooLargeError) for a datagram over ``max_size``, which is discarded: the next
        call receives the next datagram. (An AF_UNIX sender that did not bind has the
        address None.)"""
        self._enter()
        try:
            n, address = self._receive()
            with self._views[0][:n] as view:
                return view.tobytes(), address
        finally:
            self._receiving.release()

    def recv_frames(self) -> tuple[list[bytes], Any]:
        """Every frame of one datagram: ``(frames, sender address)``. Raises
        DatagramTooLargeError as ``recv()``, and MalformedDatagramError for a datagram that
        is not a whole number of frames; either way the next call starts afresh."""
        framer = self._need_framer()
        self._enter()
        try:
            n, address = self._receive()
            with self._views[0][:n] as view:
                return _decode(framer, view, address), address
        finally:
            self._receiving.release()

    def _enter(self) -> None:
        # The receive buffer (and the framer's decoder) serve one call at a time: a second
        # thread is refused rather than let it overwrite a datagram being read.
        if not self._receiving.acquire(False):
            raise RuntimeError(
                f"this {type(self).__name__} is receiving in another thread: two threads must "
                "not receive on it at once (give each thread a socket of its own, or a lock)"
            )

    def _need_framer(self) -> Framer:
        if self._framer is None:
            raise RuntimeError(
                f"this {type(self).__name__} has no framer: pass framer= to send and "
                "receive packed frames"
            )
        return self._framer

    # -- sending --------------------------------------------------------------------

    def _send_datagram(self, data: Buffer, address: Optional[Address]) -> None:
        if address is None:
            self._sock.send(data)
        elif isinstance(address, tuple):
            self._sock.sendto(data, address)
        else:
            self._sock.sendto(data, os.fspath(address))

    def _checked(self, payload: Buffer) -> Buffer:
        with memoryview(payload) as view:
            size = view.nbytes
        if size > self._max_datagram_size:
            raise FrameTooLargeError(
                f"datagram of {size} bytes exceeds max_datagram_size="
                f"{self._max_datagram_size} (nothing was sent)",
                size,
                self._max_datagram_size,
            )
        return payload

    def send(self, payload: Buffer, address: Optional[Address] = None) -> None:
        """Send ``payload`` as one datagram, to ``address`` (or to the connected peer). One
        over ``max_datagram_size`` raises FrameTooLargeError, sending nothing."""
        self._send_datagram(self._checked(payload), address)

    def send_frames(self, payloads: Iterable[Buffer], address: Optional[Address] = None) -> int:
        """Encode each payload with the framer and send them packed into as few datagrams
        as fit ``max_datagram_size`` (see ``pack_frames``); return how many datagrams were
        sent. Every payload is encoded and checked before the first datagram goes out. A
        send that fails raises; the datagrams before it were sent (each datagram arrives
        whole or not at all)."""
        datagrams = pack_frames(self._need_framer(), payloads, self._max_datagram_size)
        for datagram in datagrams:
            self._send_datagram(datagram, address)
        return len(datagrams)

    # -- closing --------------------------------------------------------------------

    def close(self) -> None:
        self._sock.close()

    def __enter__(self: _DatagramSocketT) -> _DatagramSocketT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- opening sockets ---------------------------------------------------------------------


def _is_unix(address: object) -> bool:
    return isinstance(address, (str, bytes, os.PathLike))


def _family(address: Address, infos: Optional[list[Any]] = None) -> tuple[int, _SockAddr]:
    """The family and the address to bind or connect ``address`` with: AF_UNIX for a path,
    else the first result of getaddrinfo (``infos``, or looked up here); a host of ``""`` or
    None is the wildcard address, as for ``socket.bind``."""
    if _is_unix(address):
        return socket.AF_UNIX, os.fspath(address)  # type: ignore[arg-type]
    if not isinstance(address, tuple) or len(address) < 2:
        raise TypeError(f"expected (host, port) or an AF_UNIX path, got {address!r}")
    if infos is None:
        infos = socket.getaddrinfo(
            address[0] or None, address[1], type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
        )
    family, _, _, _, sockaddr = infos[0]
    if family == socket.AF_INET6 and len(address) == 4:
        sockaddr = (sockaddr[0], sockaddr[1], address[2], address[3])
    return family, sockaddr


def _open(
    wrapper: Callable[..., _S],
    family: int,
    local: Optional[_SockAddr],
    remote: Optional[_SockAddr],
    framer: Optional[Framer],
    *,
    broadcast: bool,
    reuse_port: bool,
    max_size: int,
    max_datagram_size: int,
) -> _S:
    """A new socket, set up, wrapped by ``wrapper`` (DatagramSocket or AsyncDatagramSocket);
    closed if anything fails."""
    # the limits first: a bad one must leave no socket open and no AF_UNIX name bound
    _limit("max_size", max_size, 0)
    _limit("max_datagram_size", max_datagram_size, 1)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    named = None  # an AF_UNIX file this call bound
    try:
        if broadcast:
            if family != socket.AF_INET:
                raise ValueError("broadcast needs an IPv4 (AF_INET) socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if local is not None:
            sock.bind(local)
            if family == socket.AF_UNIX and isinstance(local, (str, bytes)):
                # "" and "\0..." name no file (autobind; Linux's abstract namespace)
                named = local if os.fsencode(local)[:1] not in (b"", b"\0") else None
        if remote is not None:
            sock.connect(remote)
        return wrapper(sock, framer, max_size=max_size, max_datagram_size=max_datagram_size)
    except BaseException:
        sock.close()
        if named is not None:  # else a retry with the same name fails with EADDRINUSE
            with contextlib.suppress(OSError):
                os.unlink(named)
        raise


def bind(
    address: Address,
    framer: Optional[Framer] = None,
    *,
    broadcast: bool = False,
    reuse_port: bool = False,
    max_size: int = DEFAULT_MAX_SIZE,
    max_datagram_size: int = DEFAULT_MAX_DATAGRAM_SIZE,
) -> DatagramSocket:
    """A DatagramSocket bound to ``address``: ``(host, port)`` (port 0 picks a free one; see
    ``.address``), IPv6 included, or an AF_UNIX path. ``broadcast``: allow sending to a
    broadcast address (sets ``SO_BROADCAST``; IPv4 only). ``reuse_port``: set
    ``SO_REUSEPORT``. The other arguments are DatagramSocket's."""
    family, local = _family(address)
    return _open(
        DatagramSocket,
        family,
        local,
        None,
        framer,
        broadcast=broadcast,
        reuse_port=reuse_port,
        max_size=max_size,
        max_datagram_size=max_datagram_size,
    )


def connect(
    address: Address,
    framer: Optional[Framer] = None,
    *,
    local_address: Optional[Address] = None,
    broadcast: bool = False,
    max_size: int = DEFAULT_MAX_SIZE,
    max_datagram_size: int = DEFAULT_MAX_DATAGRAM_SIZE,
) -> DatagramSocket:
    """A DatagramSocket connected to ``address`` (sends go there; only its datagrams are
    received). ``local_address``: bind there first; an AF_UNIX socket must bind to get
    replies (on Linux, ``""`` binds to a fresh abstract address)."""
    family, remote = _family(address)
    local = None if local_address is None else _family(local_address)[1]
    return _open(
        DatagramSocket,
        family,
        local,
        remote,
        framer,
        broadcast=broadcast,
        reuse_port=False,
        max_size=max_size,
        max_datagram_size=max_datagram_size,
    )


# -- asyncio -----------------------------------------------------------------------------

_T = TypeVar("_T")
# The pauses of a send that the socket said it could take and then refused (seconds).
_FIRST_SEND_PAUSE = 0.001
_LONGEST_SEND_PAUSE = 0.02
_AsyncDatagramSocketT = TypeVar("_AsyncDatagramSocketT", bound="AsyncDatagramSocket")


def _wake_one(waiters: list[asyncio.Future[None]]) -> None:
    # One task per readiness event, not all (n waiting tasks would cost n*n tries). None is
    # lost: the socket stays watched while a task waits, and the event loop reports it
    # ready again as long as it is, so if the task woken does not take the datagram (it was
    # cancelled, or it has not run yet), the next report wakes another.
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
            return


class DatagramHandler:
    """The callbacks of ``AsyncDatagramSocket.serve()``; subclass it and override what you
    need (the defaults do nothing, except ``error_received``, which re-raises: an error is
    never dropped unless you choose to)."""

    def datagram_received(self, data: bytes, address: Any) -> None:
        """One whole datagram (on a socket without a framer)."""

    def frames_received(self, frames: list[bytes], address: Any) -> None:
        """Every frame of one datagram (on a socket with a framer)."""

    def error_received(self, exc: Exception) -> None:
        """A datagram over ``max_size``, a malformed one, or an OSError of the socket."""
        raise exc


def _check_handler(handler: DatagramHandler, needed: str) -> None:
    """Refuse, before anything is read, a handler with which serve() would lose datagrams."""
    name = type(handler).__name__
    if getattr(type(handler), needed, None) in (None, getattr(DatagramHandler, needed)):
        # the default does nothing: a handler defining only the other callback (the socket
        # has, or has not, a framer) would drop every datagram without a word
        raise TypeError(
            f"{name} does not define {needed}(), which serve() calls on this socket (it has "
            f"{'a' if needed == 'frames_received' else 'no'} framer)"
        )
    for method in ("frames_received", "datagram_received", "error_received"):
        if inspect.iscoroutinefunction(getattr(handler, method, None)):
            # its coroutines would never run: every datagram lost, with a mere warning
            raise TypeError(
                f"{name}.{method} is a coroutine function: serve() calls it without "
                "awaiting; make it a plain method (start a task from it if it must await)"
            )


class AsyncDatagramSocket:
    """``DatagramSocket`` for asyncio (and uvloop): the same arguments, and coroutines
    ``recv()``, ``recv_frames()``, ``send()`` and ``send_frames()`` with the same results and
    errors. The socket is made non-blocking.

    Each call first tries the socket; only when it would block does it wait, with
    ``loop.add_reader``/``add_writer``, so datagrams are read by the same code as the
    blocking class (truncation always detected) and wait in the kernel's queue until a task
    asks for them (no unbounded queue in user space). Several tasks may receive or send at
    once: each receive takes one whole datagram. Cancelling a call loses no datagram.
    """

    def __init__(
        self,
        sock: socket.socket,
        framer: Optional[Framer] = None,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        max_datagram_size: int = DEFAULT_MAX_DATAGRAM_SIZE,
    ) -> None:
        self._dgram = DatagramSocket(
            sock, framer, max_size=max_size, max_datagram_size=max_datagram_size
        )
        sock.setblocking(False)
        self._fd = sock.fileno()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        # tasks waiting for the socket to be readable / writable, woken one at a time
        self._readers: list[asyncio.Future[None]] = []
        self._writers: list[asyncio.Future[None]] = []

    @property
    def socket(self) -> socket.socket:
        return self._dgram.socket

    @property
    def framer(self) -> Optional[Framer]:
        return self._dgram.framer

    @property
    def max_size(self) -> int:
        return self._dgram.max_size

    @property
    def max_datagram_size(self) -> int:
        return self._dgram.max_datagram_size

    @property
    def address(self) -> Any:
        return self._dgram.address

    @property
    def closed(self) -> bool:
        return self._dgram.closed

    def fileno(self) -> int:
        return self._dgram.fileno()

    def __repr__(self) -> str:
        return repr(self._dgram).replace("DatagramSocket", "AsyncDatagramSocket", 1)

    async def _wait(self, reading: bool) -> None:
        """Wait until the socket is readable (or writable)."""
        import asyncio

        if self.closed:
            raise OSError(9, "the AsyncDatagramSocket is closed")  # EBADF
        loop = asyncio.get_running_loop()
        self._loop = loop
        waiters = self._readers if reading else self._writers
        if not waiters:
            if reading:
                loop.add_reader(self._fd, _wake_one, waiters)
            else:
                loop.add_writer(self._fd, _wake_one, waiters)
        waiter: asyncio.Future[None] = loop.create_future()
        waiters.append(waiter)
        try:
            await waiter
        finally:
            waiters.remove(waiter)
            if not waiters and not self.closed:
                if reading:
                    loop.remove_reader(self._fd)
                else:
                    loop.remove_writer(self._fd)

    async def _retry(self, reading: bool, operation: Callable[[], _T]) -> _T:
        import asyncio

        pause = 0.0
        while True:
            try:
                return operation()
            except (BlockingIOError, InterruptedError):
                pass
            if pause:
                # Linux says an unconnected AF_UNIX socket is writable while the receiver's
                # queue is full (poll() checks only a connected peer's queue), so the send
                # fails again at once: pause, longer each time, rather than spin the CPU.
                await asyncio.sleep(pause)
            await self._wait(reading)
            if not reading:
                pause = min(2 * pause, _LONGEST_SEND_PAUSE) if pause else _FIRST_SEND_PAUSE

    async def recv(self) -> tuple[bytes, Any]:
        """One whole datagram: ``(payload, sender address)``; see ``DatagramSocket.recv``."""
        return await self._retry(True, self._dgram.recv)

    async def recv_frames(self) -> tuple[list[bytes], Any]:
        """Every frame of one datagram: ``(frames, sender address)``; see
        ``DatagramSocket.recv_frames``."""
        return await self._retry(True, self._dgram.recv_frames)

    async def send(self, payload: Buffer, address: Optional[Address] = None) -> None:
        """Send ``payload`` as one datagram, waiting while the socket cannot take it."""
        dgram = self._dgram
        dgram._checked(payload)
        await self._retry(False, lambda: dgram._send_datagram(payload, address))

    async def send_frames(
        self, payloads: Iterable[Buffer], address: Optional[Address] = None
    ) -> int:
        """Send the payloads packed into as few datagrams as fit; return how many were sent
        (see ``DatagramSocket.send_frames``: everything is encoded and checked first)."""
        dgram = self._dgram
        datagrams = pack_frames(dgram._need_framer(), payloads, dgram.max_datagram_size)
        for datagram in datagrams:
            await self._retry(False, functools.partial(dgram._send_datagram, datagram, address))
        return len(datagrams)

    async def serve(self, protocol: DatagramHandler) -> None:
        """Hand every datagram to ``protocol``, the shape of ``asyncio.DatagramProtocol``:
        ``frames_received(frames, address)`` with a framer, else
        ``datagram_received(payload, address)``; ``error_received(exc)`` for a datagram over
        ``max_size`` (DatagramTooLargeError), a malformed one (MalformedDatagramError) or an
        OSError of the socket (such as ConnectionRefusedError on a connected UDP socket).
        Returns once the socket is closed (``close()`` from a callback or another task).
        Refused with TypeError before anything is read: a handler that does not define the
        callback this socket needs, or whose callbacks are coroutine functions (they are
        called, not awaited)."""
        framed = self.framer is not None
        _check_handler(protocol, "frames_received" if framed else "datagram_received")
        while not self.closed:
            try:
                if framed:
                    frames, address = await self.recv_frames()
                else:
                    payload, address = await self.recv()
            except (DatagramTooLargeError, MalformedDatagramError) as exc:
                protocol.error_received(exc)
                continue
            except OSError as exc:
                if self.closed:
                    return
                protocol.error_received(exc)
                continue
            if framed:
                protocol.frames_received(frames, address)
            else:
                protocol.datagram_received(payload, address)

    def close(self) -> None:
        """Close the socket; tasks waiting in a call get OSError."""
        if self.closed:
            return
        loop = self._loop
        for reading, waiters in ((True, self._readers), (False, self._writers)):
            if waiters and loop is not None and not loop.is_closed():
                if reading:
                    loop.remove_reader(self._fd)
                else:
                    loop.remove_writer(self._fd)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(OSError(9, "the AsyncDatagramSocket was closed"))
        self._dgram.close()

    async def __aenter__(self: _AsyncDatagramSocketT) -> _AsyncDatagramSocketT:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


async def _resolve(address: Address) -> tuple[int, _SockAddr]:
    import asyncio

    if _is_unix(address) or not isinstance(address, tuple) or len(address) < 2:
        return _family(address)
    infos = await asyncio.get_running_loop().getaddrinfo(
        address[0] or None, address[1], type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
    )
    return _family(address, infos)


async def bind_async(
    address: Address,
    framer: Optional[Framer] = None,
    *,
    broadcast: bool = False,
    reuse_port: bool = False,
    max_size: int = DEFAULT_MAX_SIZE,
    max_datagram_size: int = DEFAULT_MAX_DATAGRAM_SIZE,
) -> AsyncDatagramSocket:
    """``bind()`` for asyncio (host names are looked up with the loop's getaddrinfo)."""
    family, local = await _resolve(address)
    return _open(
        AsyncDatagramSocket,
        family,
        local,
        None,
        framer,
        broadcast=broadcast,
        reuse_port=reuse_port,
        max_size=max_size,
        max_datagram_size=max_datagram_size,
    )


async def connect_async(
    address: Address,
    framer: Optional[Framer] = None,
    *,
    local_address: Optional[Address] = None,
    broadcast: bool = False,
    max_size: int = DEFAULT_MAX_SIZE,
    max_datagram_size: int = DEFAULT_MAX_DATAGRAM_SIZE,
) -> AsyncDatagramSocket:
    """``connect()`` for asyncio."""
    family, remote = await _resolve(address)
    local = None if local_address is None else (await _resolve(local_address))[1]
    return _open(
        AsyncDatagramSocket,
        family,
        local,
        remote,
        framer,
        broadcast=broadcast,
        reuse_port=False,
        max_size=max_size,
        max_datagram_size=max_datagram_size,
    )
