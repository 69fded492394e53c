"""``pyframe send`` / ``pyframe recv``: a framed file transfer over TCP.

Protocol version 2 (4-byte big-endian length-prefixed frames, pyframe.LengthPrefixFramer):

1. sender -> receiver: a header frame, JSON ``{"version": 2, "name": ..., "size": ...}``;
2. receiver -> sender: ``{"ok": true}`` to go on, or ``{"ok": false, "error": ...}`` (a name
   the receiver refuses, a file that exists without ``--force``, a size above ``--max-size``
   or the free space, a receiver busy with ``--max-connections`` transfers...);
3. sender -> receiver: the content, in frames of at most CHUNK bytes (the total is ``size``);
4. sender -> receiver: a trailer frame, JSON ``{"sha256": ...}``: the digest of the content,
   computed while sending it (the file is read once);
5. receiver -> sender: ``{"ok": true}`` once the SHA-256 matched and the file was renamed from
   its partial name into place, or ``{"ok": false, "error": ...}``.

The receiver may send its error reply at any point of step 3 (a write that failed, a sender
too slow, the deadline, a shutdown); the sender looks for it between frames, and after a failed
send.

The receiver writes into ``.NAME.XXXXXXXX.pyframe-part`` next to the destination (locked while it is
written) and renames it only after the digest matches; a transfer cut short leaves nothing
behind. Senders are served concurrently, each under an idle timeout, a total deadline and a
minimum average rate.
Progress: a tqdm bar (the ``progress`` extra) when tqdm is installed and stderr is a terminal,
else plain lines.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import math
import os
import re
import selectors
import shutil
import signal
import socket
import stat
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from typing import IO, Any, NoReturn, Optional, Union

from . import FrameError, IncompleteFrameError, LengthPrefixFramer
from .sockets import FramedServer, FramedSocket, connect

PROTOCOL = 2
CHUNK = 256 * 1024
#: The largest JSON frame (header, trailer or reply) accepted; a larger one is refused.
HEADER_LIMIT = 64 * 1024
DEFAULT_LISTEN = "127.0.0.1:8765"
#: Receiver defaults (each has a command-line option): the largest file accepted, the seconds
#: a connection may stay silent, the seconds a whole transfer may take, the transfers served
#: at once (one more sender is told the receiver is busy), the slowest average rate accepted
#: (bytes per second, 0: any; far below any real link, far above a trickle).
DEFAULT_MAX_SIZE = 4 << 30
DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 3600.0
DEFAULT_MAX_CONNECTIONS = 8
DEFAULT_MIN_RATE = 1024
#: A sender may fall behind --min-rate by this many --timeout's worth of seconds (a slow
#: start, a stall) and catch up. More than one, so that a silent sender hears "sent nothing".
RATE_SLACK = 2
#: The longest --timeout or --deadline accepted (about three years).
MAX_SECONDS = 1e8
#: Seconds the receiver keeps reading (and discarding) after an error reply, so that the
#: sender reads the reply instead of a connection reset.
LINGER = 2.0
_READ_SIZE = 128 * 1024

# the receiver's partial file: f".{name}.{8 random characters}.pyframe-part", a suffix of its
# own, so that the sweep never takes a user's file (".notes.20241101.part") for one
_PART_SUFFIX = ".pyframe-part"
_PART_RE = re.compile(r"\..+\.[a-z2-7]{8}" + re.escape(_PART_SUFFIX) + r"\Z", re.DOTALL)
_NAME_MAX = 255 - len(f"..XXXXXXXX{_PART_SUFFIX}")  # so that the partial name fits 255 bytes
# bidi embeddings, overrides, isolates and marks: they make a name display as another one
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Windows opens a device for these names, whatever the extension ("nul.txt"), and reads a
# colon as a stream of another file ("ab:c" writes into a hidden stream of "ab")
_WINDOWS = sys.platform == "win32"
_WINDOWS_DEVICE = re.compile(
    r"(CON|PRN|AUX|NUL|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3])\s*(\..*)?\Z",
    re.I | re.S,
)
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')


class TransferError(Exception):
    """A transfer that failed; the message is for the user."""


class TruncatedError(TransferError):
    """The connection ended before the whole file arrived: no reply can reach the sender."""


class _Stopped(BaseException):
    """SIGTERM, raised in the main thread as SIGINT raises KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _framer() -> LengthPrefixFramer:
    return LengthPrefixFramer(4, max_frame_size=max(CHUNK, HEADER_LIMIT))


# -- command-line values ------------------------------------------------------------------


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6HOST]:PORT`` -> ``(host, port)``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    if int(port) > 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range (0-65535)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


def parse_size(text: str) -> int:
    """A byte count: ``1000``, ``512K``, ``4G``, ``1TiB`` (K, M, G, T: powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:([KMGT])(?:i?B)?)?\s*", text, re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a size such as 100M or 4G, got {text!r}")
    unit = match.group(2)
    return int(match.group(1)) << (10 * ("KMGT".index(unit.upper()) + 1) if unit else 0)


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    """A positive number of seconds, at most MAX_SECONDS (a socket timeout must fit the
    platform's time_t: "inf" raised OverflowError at the first connection)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of seconds up to {MAX_SECONDS:g}, got {text!r}"
        )
    return value


# -- file names -----------------------------------------------------------------------------


def check_name(name: object, *, dotfiles: bool = False) -> str:
    """The received ``name``, NFC-normalised, if the receiver accepts it; TransferError if not.

    Refused: anything but a plain file name (a path, ".", "..", NUL), a lone surrogate (not
    text: it would be stored as raw bytes), control characters, line and paragraph separators,
    bidi controls (they make a name display as another), a name with no visible character, a
    name that begins or ends with white space or ends with a dot, a name longer than 232
    UTF-8 bytes, a name like the receiver's partial files, and a dot-file unless ``dotfiles``;
    on Windows, device names ("CON", "nul.txt") and the characters ``<>:"|?*`` too.
    """
    if not isinstance(name, str) or not name:
        raise TransferError("refused: the file name is empty or not a string")
    if any("\ud800" <= c <= "\udfff" for c in name):
        raise TransferError(f"refused: the file name {_shown(name)} is not valid Unicode")
    name = unicodedata.normalize("NFC", name)
    if (
        name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or os.path.isabs(name)
        or (len(name) > 1 and name[1] == ":")
        or os.path.basename(name) != name
    ):
        raise TransferError(f"refused: {_shown(name)} is not a plain file name (path traversal?)")
    bad = sorted({c for c in name if unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI})
    if bad:
        codes = ", ".join(f"U+{ord(c):04X}" for c in bad[:8]) + (", ..." if bad[8:] else "")
        raise TransferError(
            f"refused: the file name {_shown(name)} holds control characters ({codes})"
        )
    if _WINDOWS and (_WINDOWS_DEVICE.match(name) or _WINDOWS_FORBIDDEN.intersection(name)):
        raise TransferError(f"refused: {_shown(name)} is not a valid file name on Windows")
    if all(c.isspace() or unicodedata.category(c) == "Cf" for c in name):
        raise TransferError(f"refused: the file name {_shown(name)} has no visible character")
    if name != name.strip() or name.endswith("."):
        raise TransferError(
            f"refused: the file name {_shown(name)} begins or ends with white space, "
            "or ends with a dot"
        )
    if name.startswith("."):
        if not dotfiles:
            raise TransferError(
                f"refused: {_shown(name)} is a dot-file (hidden); the receiver accepts them "
                "with --dotfiles"
            )
        if _PART_RE.match(name):
            raise TransferError(
                f"refused: {_shown(name)} is named like the receiver's partial files"
            )
    if len(name.encode("utf-8")) > _NAME_MAX:
        raise TransferError(f"refused: the file name is longer than {_NAME_MAX} bytes")
    return name


def _shown(name: str) -> str:
    """``name`` for a message: its repr, cut at 80 characters (a name can be 64 KiB long)."""
    shown = repr(name[:80])
    return shown if len(shown) <= 80 and len(name) <= 80 else shown[:76] + "...'"


# -- partial files --------------------------------------------------------------------------

if sys.platform == "win32":  # no flock: partial files are not locked, nor swept

    def _lock(fd: int) -> bool:
        return False

else:
    import fcntl

    def _lock(fd: int) -> bool:
        """Lock ``fd`` for this process (released when it exits, even by SIGKILL)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


def _create_part(out_dir: str, name: str) -> tuple[int, str]:
    """A new, locked ``.NAME.XXXXXXXX.pyframe-part`` in ``out_dir``, with the umask's mode."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tag = base64.b32encode(os.urandom(5)).decode().lower()  # 8 characters, [a-z2-7]
        path = os.path.join(out_dir, f".{name}.{tag}{_PART_SUFFIX}")
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        except (OSError, ValueError) as exc:  # (ValueError: not encodable for this filesystem)
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise TransferError(f"refused: cannot create a file in {out_dir}: {why}") from exc
        _lock(fd)
        if _still_at(fd, path):
            return fd, path
        os.close(fd)  # swept before the lock by a receiver starting elsewhere: another name
    raise TransferError(f"refused: cannot create a file in {out_dir}: no free temporary name")


def _still_at(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _sync_dir(path: str) -> None:
    """Flush ``path``'s entries to disk, where the system can (not Windows, nor some file
    systems: the file itself is synced already)."""
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def sweep_parts(out_dir: Union[str, os.PathLike[str]]) -> int:
    """Remove the partial files left in ``out_dir`` by a receiver that was killed; those of a
    receiver still running (locked) stay. Returns the number removed (0 on Windows)."""
    if sys.platform == "win32":
        return 0
    removed = 0
    with os.scandir(out_dir) as entries:
        for entry in entries:
            if not _PART_RE.match(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            try:  # (O_NONBLOCK: a FIFO put in its place meanwhile must not block the start)
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode) and _lock(fd):
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                pass
            finally:
                os.close(fd)
    return removed


# -- progress -------------------------------------------------------------------------------


class Progress:
    """tqdm when available and stderr is a terminal, else a start and an end line."""

    def __init__(
        self, total: int, label: str, stream: Optional[IO[str]] = None, force_plain: bool = False
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.label, self.done = total, label, 0
        self.start = time.monotonic()
        self.bar: Any = None  # a tqdm bar
        if not force_plain and getattr(self.stream, "isatty", lambda: False)():
            try:  # (untyped, or absent: the `progress` extra)
                from tqdm import tqdm  # type: ignore[import,unused-ignore]
            except ImportError:
                tqdm = None  # type: ignore[assignment, unused-ignore]  # (typed by types-tqdm)
            if tqdm is not None:
                self.bar = tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=label,
                    file=self.stream,
                )
        if self.bar is None:
            print(f"{label}: {total} bytes", file=self.stream, flush=True)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def close(self, ok: bool = True) -> None:
        if self.bar is not None:
            self.bar.close()
        if ok:
            elapsed = max(time.monotonic() - self.start, 1e-9)
            print(
                f"{self.label}: done, {self.done} bytes in {elapsed:.2f} s "
                f"({self.done / elapsed / 1e6:.1f} MB/s)",
                file=self.stream,
                flush=True,
            )


# -- JSON frames ----------------------------------------------------------------------------


def _parse_json(frame: Optional[bytes], what: str) -> dict[str, Any]:
    """The JSON object in ``frame``; TransferError for anything else."""
    if frame is None:
        raise TransferError(f"the peer closed the connection before sending {what}")
    if len(frame) > HEADER_LIMIT:
        raise TransferError(f"{what} is larger than {HEADER_LIMIT} bytes")
    try:
        value = json.loads(frame)
    except (ValueError, RecursionError):  # (RecursionError: deeply nested arrays)
        value = None
    if not isinstance(value, dict):
        raise TransferError(f"{what} is unreadable (not a JSON object)")
    return value


def _json_frame(conn: FramedSocket, what: str) -> dict[str, Any]:
    try:
        frame = conn.recv()
    except FrameError:  # larger than the framer's limit (CHUNK), or cut short
        raise TransferError(f"{what} is unreadable (too large, or cut short)") from None
    return _parse_json(frame, what)


def _reply(conn: FramedSocket, error: Optional[str] = None) -> None:
    message = {"ok": True} if error is None else {"ok": False, "error": error}
    conn.send(json.dumps(message).encode())


# -- sending --------------------------------------------------------------------------------


def send_file(
    path: Union[str, os.PathLike[str]],
    address: tuple[str, int],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    plain: bool = False,
) -> dict[str, Any]:
    """Send the file at ``path`` to a ``pyframe recv`` listening at ``address``; returns
    ``{"name", "size", "sha256"}`` of what was sent (hashed while sending)."""
    name = os.path.basename(os.fspath(path))
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):  # a pipe or a device has no size to announce
            raise TransferError(f"{os.fspath(path)} is not a regular file")
        size = st.st_size
        with connect(address, _framer(), timeout=timeout) as conn:
            try:
                digest = _send(conn, f, name, size, plain)
            except OSError:
                # a receiver that failed closes the connection after saying why: read it
                reason = _late_reply(conn)
                if reason is None:
                    raise
                raise TransferError(f"the receiver reports a failure: {reason}") from None
    return {"name": name, "size": size, "sha256": digest}


def _send(conn: FramedSocket, f: io.BufferedReader, name: str, size: int, plain: bool) -> str:
    conn.send(json.dumps({"version": PROTOCOL, "name": name, "size": size}).encode())
    reply = _json_frame(conn, "the reply to the header")
    if not reply.get("ok"):
        raise TransferError(f"the receiver refused the file: {reply.get('error')}")
    progress = Progress(size, f"send {name}", force_plain=plain)
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    sent = 0
    try:
        with selectors.DefaultSelector() as replies:
            replies.register(conn.socket, selectors.EVENT_READ)
            while sent < size:
                if replies.select(0):  # the receiver spoke before the end: an error
                    _receiver_failed(_json_frame(conn, "the error reply"))
                n = f.readinto(buf)
                if not n:
                    raise TransferError(f"{name} shrank while being sent ({sent} of {size})")
                n = min(n, size - sent)
                digest.update(view[:n])
                conn.send(view[:n])
                sent += n
                progress.update(n)
        conn.send(json.dumps({"sha256": digest.hexdigest()}).encode())
        result = _json_frame(conn, "the final status")
        if not result.get("ok"):
            _receiver_failed(result)
    except BaseException:
        progress.close(ok=False)
        raise
    progress.close()
    return digest.hexdigest()


def _receiver_failed(reply: dict[str, Any]) -> NoReturn:
    raise TransferError(f"the receiver reports a failure: {reply.get('error')}")


def _late_reply(conn: FramedSocket) -> Optional[str]:
    """The error the receiver sent before closing, if it is there to read."""
    try:
        conn.settimeout(LINGER)
        reply = _json_frame(conn, "the error reply")
    except (OSError, TransferError):
        return None
    return None if reply.get("ok") else str(reply.get("error"))


# -- receiving ------------------------------------------------------------------------------


class _Link:
    """The receiver's side of one connection: frames read under an idle timeout (per read)
    and a deadline (the whole transfer), checked between system calls, so that a sender
    that trickles a byte at a time is cut off too. The header must arrive whole within the
    idle timeout: trickled, it would hold a connection slot until the deadline.

    After the go-ahead, the sender must also keep up ``min_rate`` bytes per second (0: no
    minimum). It starts with ``RATE_SLACK * idle`` seconds of credit; each second spent
    waiting for it costs one, each ``min_rate`` bytes received earn one back (up to the
    start value); at zero it is too slow. Only the time spent waiting in recv counts: a
    receiver slowed by its own disk does not blame the sender."""

    def __init__(
        self,
        conn: FramedSocket,
        idle: float,
        deadline: float,
        stop: threading.Event,
        min_rate: int = 0,
    ) -> None:
        self.conn, self.idle, self.deadline, self.stop = conn, idle, deadline, stop
        now = time.monotonic()
        self.end = now + deadline
        self.header_end = now + min(idle, deadline)
        # the sender may be sending when we fail: after the go-ahead, or within a frame
        self.sending = False
        self.min_rate = min_rate
        self.slack = RATE_SLACK * idle
        self.credit: Optional[float] = None  # seconds; None until the go-ahead
        # since the credit was last full: bytes received and seconds waited (for the message)
        self.got = 0
        self.waited = 0.0

    def go_ahead(self) -> None:
        """Tell the sender to send the content; its minimum rate counts from now."""
        self.reply()
        if self.min_rate > 0:
            self.credit = self.slack

    def _pace(self, n: int, waited: float) -> None:
        """Count ``n`` bytes received after waiting ``waited`` seconds against the minimum
        rate; TransferError once the sender has fallen too far behind."""
        if self.credit is None:
            return
        self.got += n
        self.waited += waited
        self.credit = self.credit - waited + n / self.min_rate
        if self.credit >= self.slack:
            self.credit, self.got, self.waited = self.slack, 0, 0.0
        elif self.credit <= 0:
            rate = self.got / self.waited  # < min_rate, over more than the slack
            raise TransferError(
                f"too slow: {rate:.4g} bytes/s under --min-rate {self.min_rate} (the average "
                f"over the last {self.waited:.3g} s of waiting for it); nothing was saved"
            )

    def _timeout(self, header: bool = False) -> float:
        """The socket timeout for the next read; TransferError once past the deadline."""
        now = time.monotonic()
        end = self.header_end if header else self.end
        if now >= end and header:
            limit = "--timeout" if self.idle <= self.deadline else "--deadline"
            raise TransferError(
                f"the header did not arrive within {min(self.idle, self.deadline):g} s "
                f"({limit}); nothing was saved"
            )
        if now >= end:
            raise TransferError(
                f"the transfer took longer than the receiver's deadline ({self.deadline:g} s, "
                "--deadline); nothing was saved"
            )
        return min(self.idle, end - now)

    def recv(self, what: str, header: bool = False) -> Optional[bytes]:
        """The next frame (``header``: the first one); None at the end of the stream (clean
        or not)."""
        framer, sock = self.conn.framer, self.conn.socket
        while True:
            try:
                frame = framer.next_frame()
            except FrameError:
                self.sending = True  # (the rest of the frame may be on its way)
                limit = framer.max_frame_size
                raise TransferError(f"refused: {what} is larger than {limit} bytes") from None
            if frame is not None:
                return frame
            timeout = self._timeout(header)
            if self.credit is not None:  # (wake up when it runs out)
                timeout = min(timeout, self.credit)
            sock.settimeout(timeout)
            start = time.monotonic()
            try:
                with framer.get_buffer(_READ_SIZE) as view:
                    n = sock.recv_into(view, min(_READ_SIZE, len(view)))
            except socket.timeout:
                self._pace(0, time.monotonic() - start)
                if timeout < self.idle:
                    continue  # a deadline, reported by _timeout(), or the rate, by _pace()
                raise TransferError(
                    f"the sender sent nothing for {self.idle:g} s (--timeout) while the "
                    f"receiver waited for {what}; nothing was saved"
                ) from None
            except InterruptedError:
                continue
            except OSError as exc:
                raise TruncatedError(f"connection lost while receiving {what}: {exc}") from exc
            framer.buffer_updated(n)
            if n == 0:
                if self.stop.is_set():
                    raise TransferError("the receiver is shutting down; nothing was saved")
                try:
                    framer.eof()
                except IncompleteFrameError:
                    pass
                return None
            self._pace(n, time.monotonic() - start)

    def reply(self, error: Optional[str] = None) -> None:
        self.conn.settimeout(min(self.idle, LINGER) if error else self._timeout())
        try:
            _reply(self.conn, error)
        except OSError as exc:  # the sender is gone (reset, or not reading): not our bug
            raise TruncatedError(f"connection lost while replying: {exc}") from exc
        self.sending = error is None

    def refuse(self, error: str) -> None:
        """Send ``error``; then, if the sender may still be sending, read what it sends for
        a moment (a close with unread bytes resets the connection: the reply could be lost)."""
        sending = self.sending or self.conn.framer.pending > 0
        try:
            self.reply(error)
            if not sending:
                return
            self.conn.socket.shutdown(socket.SHUT_WR)
        except (OSError, TransferError):
            return
        end = time.monotonic() + LINGER
        scratch = bytearray(_READ_SIZE)
        sock = self.conn.socket
        try:
            while time.monotonic() < end:
                sock.settimeout(max(end - time.monotonic(), 0.001))
                if not sock.recv_into(scratch):
                    return
        except OSError:
            pass


class Receiver:
    """Receives files sent with ``pyframe send`` into ``out_dir``.

    ``receive(conn)`` runs one transfer; ``serve(server)`` accepts senders and serves up to
    ``max_connections`` of them at once in threads (one more is told the receiver is busy).
    Each transfer may stay silent ``timeout`` seconds and last ``deadline`` seconds in all;
    after the go-ahead it must keep up ``min_rate`` bytes per second on average (0: no
    minimum), falling behind by at most ``2 * timeout`` seconds (a slow start, a stall);
    it may announce at most ``max_size`` bytes, and no more than the free space. ``force``
    overwrites existing files; ``dotfiles`` accepts names that begin with a dot.
    """

    def __init__(
        self,
        out_dir: Union[str, os.PathLike[str]],
        *,
        force: bool = False,
        plain: bool = False,
        max_size: int = DEFAULT_MAX_SIZE,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        dotfiles: bool = False,
        min_rate: int = DEFAULT_MIN_RATE,
    ) -> None:
        self.out_dir = os.fspath(out_dir)
        self.force, self.plain, self.dotfiles = force, plain, dotfiles
        self.max_size, self.timeout, self.deadline = max_size, timeout, deadline
        self.max_connections, self.min_rate = max_connections, min_rate
        self._lock = threading.Lock()
        self._reserved = 0  # bytes the transfers in progress may still write
        self._active: dict[FramedSocket, threading.Thread] = {}
        self._stop = threading.Event()

    # -- one transfer

    def receive(self, conn: FramedSocket) -> str:
        """Receive one file on ``conn``; its final path. TransferError (after an error reply
        to the sender, unless the connection is gone) if it fails; nothing is left behind."""
        link = _Link(conn, self.timeout, self.deadline, self._stop, self.min_rate)
        reserved, fd, part = 0, -1, ""
        progress: Optional[Progress] = None
        try:
            header = _parse_json(link.recv("the header", header=True), "the header")
            name, size = self._check_header(header)
            dest = os.path.join(self.out_dir, name)
            reserved = self._reserve(size)
            fd, part = _create_part(self.out_dir, name)
            link.go_ahead()
            progress = Progress(size, f"recv {name}", force_plain=self.plain)
            digest = hashlib.sha256()
            got = 0
            while got < size:
                frame = link.recv(f"the content of {name}")
                if frame is None:
                    raise TruncatedError(
                        f"transfer truncated: received {got} of {size} bytes of {name} "
                        "before the connection closed; nothing was saved"
                    )
                if got + len(frame) > size:
                    raise TransferError(f"the sender sent more than the {size} bytes announced")
                self._write(fd, frame, name)
                # the free space now lacks these bytes: they are no longer reserved
                self._release(len(frame))
                reserved -= len(frame)
                digest.update(frame)
                got += len(frame)
                progress.update(len(frame))
            trailer = _parse_json(link.recv("the digest"), "the digest")
            expected = trailer.get("sha256")
            if not (isinstance(expected, str) and re.fullmatch("[0-9a-f]{64}", expected)):
                raise TransferError("the digest is not 64 hex digits; nothing was saved")
            if expected != digest.hexdigest():
                raise TransferError(
                    f"SHA-256 mismatch for {name}: the sender sent {expected}, the content "
                    f"received is {digest.hexdigest()}; nothing was saved"
                )
            try:
                os.fsync(fd)  # on disk before the sender hears it is
            except OSError as exc:
                msg = f"cannot write {name}: {exc.strerror}; nothing was saved"
                raise TransferError(msg) from exc
            self._place(part, dest)
            _sync_dir(self.out_dir)  # the new name too, before the sender hears it is saved
        except BaseException as exc:
            if progress is not None:
                progress.close(ok=False)
            if part:
                with contextlib.suppress(OSError):
                    os.unlink(part)
            if isinstance(exc, TransferError) and not isinstance(exc, TruncatedError):
                link.refuse(str(exc))
            elif isinstance(exc, Exception) and not isinstance(exc, TransferError):
                link.refuse(f"internal error in the receiver ({type(exc).__name__})")
            raise
        finally:
            if fd >= 0:
                os.close(fd)
            self._release(reserved)
        progress.close()
        with contextlib.suppress(OSError, TransferError):
            link.reply()
        return dest

    def _check_header(self, header: dict[str, Any]) -> tuple[str, int]:
        version = header.get("version")
        if type(version) is not int or version != PROTOCOL:
            raise TransferError(
                f"refused: protocol version {version!r} (this receiver speaks version "
                f"{PROTOCOL}: use the same pyframe version on both sides)"
            )
        name = check_name(header.get("name"), dotfiles=self.dotfiles)
        size = header.get("size")
        if type(size) is not int or size < 0:
            raise TransferError(f"refused: bad size {size!r}")
        if size > self.max_size:
            shown = size if size < 1 << 64 else "over 2**64"  # (not a number of 60 KB digits)
            raise TransferError(
                f"refused: {name!r} is {shown} bytes, more than the receiver accepts "
                f"({self.max_size} bytes, --max-size)"
            )
        dest = os.path.join(self.out_dir, name)
        if os.path.lexists(dest) and not self.force:
            raise TransferError(f"refused: {dest} exists (use --force to overwrite)")
        if os.path.isdir(dest) and not os.path.islink(dest):  # (--force replaces files only)
            raise TransferError(f"refused: {dest} is a directory")
        return name, size

    def _reserve(self, size: int) -> int:
        """Count ``size`` bytes against the free space (less what transfers in progress
        may still write); TransferError if they do not fit."""
        with self._lock:
            try:
                free = shutil.disk_usage(self.out_dir).free - self._reserved
            except OSError as exc:
                raise TransferError(f"refused: cannot use {self.out_dir}: {exc.strerror}") from exc
            if size > free:
                raise TransferError(
                    f"refused: {size} bytes announced, {max(free, 0)} bytes free in {self.out_dir}"
                )
            self._reserved += size
        return size

    def _release(self, size: int) -> None:
        with self._lock:
            self._reserved -= size

    @staticmethod
    def _write(fd: int, data: bytes, name: str) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:  # ENOSPC, EDQUOT, EFBIG, EIO...
            raise TransferError(
                f"cannot write {name}: {exc.strerror or exc}; nothing was saved"
            ) from exc

    def _place(self, part: str, dest: str) -> None:
        exists = TransferError(f"refused: {dest} exists (use --force to overwrite)")
        try:
            if self.force:
                os.replace(part, dest)
                return
            try:
                os.link(part, dest)  # fails if dest appeared meanwhile: never overwrite
            except FileExistsError:
                raise exists from None
            except OSError:  # no hard links here
                if os.path.lexists(dest):
                    raise exists from None
                os.rename(part, dest)
            else:
                os.unlink(part)
        except OSError as exc:
            raise TransferError(f"cannot save {dest}: {exc.strerror or exc}") from exc

    # -- serving

    def serve(self, server: FramedServer, *, once: bool = False) -> int:
        """Accept senders on ``server`` and receive their files in threads, until interrupted
        (KeyboardInterrupt, or the _Stopped of SIGTERM in main(), propagate: call ``abort()``
        then) or until the listening socket is closed and shut down (status 0). ``once``: the
        first transfer only (status 0 if it succeeded)."""
        while True:
            try:
                conn, peer = server.accept()
            except OSError as exc:
                if server.socket.fileno() < 0:
                    return 0
                _log(f"cannot accept a connection: {exc}")  # EMFILE...: the service goes on
                time.sleep(0.5)
                continue
            with self._lock:
                busy = len(self._active) >= self.max_connections
            if busy:
                self._busy(conn, f"{self.max_connections} transfers in progress")
                continue
            result: list[bool] = []
            thread = threading.Thread(
                target=self._serve_one, args=(conn, peer, result), daemon=True
            )
            with self._lock:
                self._active[conn] = thread
            try:
                thread.start()
            except RuntimeError as exc:  # no thread to be had: refuse this one, go on
                with self._lock:
                    self._active.pop(conn, None)
                self._busy(conn, f"cannot start a thread ({exc})")
                continue
            if once:
                thread.join()
                return 0 if result == [True] else 1

    @staticmethod
    def _busy(conn: FramedSocket, why: str) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(0.5)
            _reply(conn, f"busy: {why} (--max-connections); try again later")

    def _serve_one(self, conn: FramedSocket, peer: Any, result: list[bool]) -> None:
        where = f" (from {peer[0]}:{peer[1]})" if isinstance(peer, tuple) else ""
        try:
            with conn:
                dest = self.receive(conn)
        except TransferError as exc:
            _log(f"{exc}{where}")
        except Exception as exc:  # a bug must not stop the service: say it, go on
            _log(f"internal error: {exc!r}{where}")
        else:
            _say(f"received {dest}", sys.stdout)
            result.append(True)
        finally:
            with self._lock:
                self._active.pop(conn, None)

    def abort(self, timeout: float = 5.0) -> int:
        """Stop the transfers in progress (each replies an error and removes its partial
        file); wait up to ``timeout`` seconds for them. Returns how many there were."""
        self._stop.set()
        with self._lock:
            active = list(self._active.items())
        for conn, thread in active:
            if thread.ident is None:  # interrupted before it started: nobody else closes conn
                conn.close()
                continue
            with contextlib.suppress(OSError):
                conn.socket.shutdown(socket.SHUT_RD)  # wakes its recv: end of stream
        end = time.monotonic() + timeout
        for _, thread in active:
            if thread.ident is not None:
                thread.join(max(end - time.monotonic(), 0))
        return len(active)


def receive_file(
    conn: FramedSocket,
    out_dir: Union[str, os.PathLike[str]],
    *,
    force: bool = False,
    plain: bool = False,
) -> str:
    """Receive one file on ``conn`` into ``out_dir`` with the default limits; its final
    path (``Receiver(out_dir, ...).receive(conn)``: see Receiver for the limits)."""
    return Receiver(out_dir, force=force, plain=plain).receive(conn)


def _log(message: str) -> None:
    _say(f"pyframe recv: error: {message}", sys.stderr)


def _say(line: str, stream: IO[str]) -> None:
    try:
        print(line, file=stream, flush=True)
    except (OSError, ValueError):  # a closed or broken stdout/stderr must not stop the service
        pass


# -- signals --------------------------------------------------------------------------------


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped(signum)


@contextlib.contextmanager
def _signals(handler: Any) -> Iterator[None]:
    """SIGTERM (and SIGINT unless ``handler`` is _raise_stopped) handled by ``handler``, in
    the main thread only (elsewhere signal.signal() is refused)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = ["SIGTERM"] if handler is _raise_stopped else ["SIGINT", "SIGTERM"]
    old = {s: signal.signal(s, handler) for s in (getattr(signal, n) for n in names)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _interrupted(exc: BaseException) -> tuple[str, int]:
    """The signal's name and the exit status for KeyboardInterrupt or _Stopped."""
    signum = exc.signum if isinstance(exc, _Stopped) else signal.SIGINT
    return signal.Signals(signum).name, 128 + signum


# -- command line ---------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not the whole usage
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: Sequence[str]) -> int:
    """``argv[0]`` is "send" or "recv"; returns the exit status."""
    parser = _Parser(prog=f"pyframe {argv[0] if argv else ''}".strip())
    if argv and argv[0] == "send":
        parser.description = "Send FILE to a 'pyframe recv' at HOST:PORT."
        parser.add_argument("file")
        parser.add_argument("address", metavar="HOST:PORT", type=parse_address)
        timeout_help = "seconds a stalled connection is given (default %(default)g)"
    elif argv and argv[0] == "recv":
        _recv_arguments(parser)
        timeout_help = "seconds a sender may stay silent (default %(default)g)"
    else:
        print(
            "usage: pyframe send FILE HOST:PORT | pyframe recv [--listen HOST:PORT] "
            "[--out DIR] [--force] [--once] ...",
            file=sys.stderr,
        )
        return 2
    parser.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, help=timeout_help)
    parser.add_argument("--plain", action="store_true", help="no progress bar")
    args = parser.parse_args(argv[1:])
    return _send_main(args) if argv[0] == "send" else _recv_main(args)


def _recv_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Receive files sent with 'pyframe send'. Prints "
        "'listening on HOST:PORT' (the real port when given port 0)."
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        type=parse_address,
        default=parse_address(DEFAULT_LISTEN),
        help=f"address to listen on (default {DEFAULT_LISTEN}; 0.0.0.0:PORT accepts other hosts)",
    )
    parser.add_argument("--out", metavar="DIR", default=".", help="directory for files")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument(
        "--once",
        action="store_true",
        help="exit after one transfer (status 0 only if it succeeded)",
    )
    parser.add_argument(
        "--max-size",
        metavar="SIZE",
        type=parse_size,
        default=DEFAULT_MAX_SIZE,
        help="largest file accepted, e.g. 500M, 20G (default 4G); "
        "a file larger than the free space is refused too",
    )
    parser.add_argument(
        "--deadline",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_DEADLINE,
        help="seconds a whole transfer may take (default %(default)g)",
    )
    parser.add_argument(
        "--max-connections",
        metavar="N",
        type=_positive,
        default=DEFAULT_MAX_CONNECTIONS,
        help="transfers served at once; one more sender is told to retry (default %(default)s)",
    )
    parser.add_argument(
        "--min-rate",
        metavar="BYTES",
        type=parse_size,
        default=DEFAULT_MIN_RATE,
        help="slowest average rate accepted, in bytes per second (default 1K; 0: any); a "
        "sender may fall behind by twice --timeout (a slow start, a stall), not more",
    )
    parser.add_argument(
        "--dotfiles", action="store_true", help="accept file names that begin with a dot"
    )


def _send_main(args: argparse.Namespace) -> int:
    try:
        with _signals(_raise_stopped):
            header = send_file(args.file, args.address, timeout=args.timeout, plain=args.plain)
    except (TransferError, OSError) as exc:
        print(f"pyframe send: error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Stopped) as exc:
        name, status = _interrupted(exc)
        print(f"pyframe send: stopped by {name}; the receiver keeps nothing", file=sys.stderr)
        return status
    print(f"sent {header['name']} ({header['size']} bytes, sha256 {header['sha256']})")
    return 0


def _recv_main(args: argparse.Namespace) -> int:
    if not os.path.isdir(args.out):
        print(f"pyframe recv: error: {args.out} is not a directory", file=sys.stderr)
        return 2
    receiver = Receiver(
        args.out,
        force=args.force,
        plain=args.plain,
        max_size=args.max_size,
        timeout=args.timeout,
        deadline=args.deadline,
        max_connections=args.max_connections,
        dotfiles=args.dotfiles,
        min_rate=args.min_rate,
    )
    try:
        with _signals(_raise_stopped):
            swept = sweep_parts(args.out)
            if swept:
                print(f"pyframe recv: removed {swept} stale partial file(s)", file=sys.stderr)
            host, port = args.listen
            try:
                server = FramedServer(args.listen, _framer, timeout=args.timeout)
            except (OSError, OverflowError) as exc:
                print(
                    f"pyframe recv: error: cannot listen on {host}:{port}: {exc}", file=sys.stderr
                )
                return 1
            with server:
                bound = server.address
                print(f"listening on {bound[0]}:{bound[1]}", flush=True)
                return receiver.serve(server, once=args.once)
    except (KeyboardInterrupt, _Stopped) as exc:
        name, status = _interrupted(exc)
        with _signals(signal.SIG_IGN):  # the clean-up is short and bounded: let it finish
            count = receiver.abort()
        print(
            f"pyframe recv: stopped by {name}; {count} transfer(s) in progress abandoned, "
            "nothing of them saved",
            file=sys.stderr,
        )
        return status
