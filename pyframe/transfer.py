"""``pyframe send`` / ``pyframe recv``: a framed file transfer over TCP.

Protocol (4-byte big-endian length-prefixed frames, pyframe.LengthPrefixFramer):

1. sender -> receiver: a header frame, JSON ``{"name": ..., "size": ..., "sha256": ...}``;
2. receiver -> sender: ``{"ok": true}`` to go on, or ``{"ok": false, "error": ...}`` (a name
   that is not a plain file name, a file that exists without ``--force``, a header larger
   than HEADER_LIMIT, a directory the receiver cannot write in);
3. sender -> receiver: the content, in frames of at most CHUNK bytes (the total is ``size``);
4. receiver -> sender: ``{"ok": true}`` once the SHA-256 matched and the file was renamed from
   its temporary name into place, or ``{"ok": false, "error": ...}``.

The receiver writes into a temporary file next to the destination and renames it only after
the digest matches; a transfer cut short leaves nothing behind and is reported as truncated.
Progress: a tqdm bar (the ``progress`` extra) when tqdm is installed and stderr is a terminal,
else plain lines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import IO, Any, Optional, Union

from . import FrameTooLargeError, IncompleteFrameError, LengthPrefixFramer
from .sockets import FramedServer, FramedSocket, connect

CHUNK = 256 * 1024
#: The largest JSON frame (header or reply) accepted; a larger one is refused.
HEADER_LIMIT = 64 * 1024
DEFAULT_LISTEN = "127.0.0.1:8765"

# the receiver's temporary file: f"{_TMP_PREFIX}{name}.{8 random chars}{_TMP_SUFFIX}"
_TMP_PREFIX, _TMP_SUFFIX = ".", ".part"
_TMP_EXTRA = len(_TMP_PREFIX) + 1 + 8 + len(_TMP_SUFFIX)  # bytes added to the name
_NAME_MAX = 255 - _TMP_EXTRA  # so that the temporary name fits a 255-byte file name


class TransferError(Exception):
    """A transfer that failed; the message is for the user."""


class TruncatedError(TransferError):
    """The connection ended before the whole file arrived: no reply can reach the sender."""


def _framer() -> LengthPrefixFramer:
    return LengthPrefixFramer(4, max_frame_size=max(CHUNK, HEADER_LIMIT))


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6HOST]:PORT`` -> ``(host, port)``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


def check_name(name: object) -> str:
    """The received ``name`` if it is a plain file name; TransferError otherwise."""
    if not isinstance(name, str) or not name:
        raise TransferError("refused: the file name is empty or not a string")
    bad = ("/", "\\", "\0")
    if (
        name in (".", "..")
        or any(c in name for c in bad)
        or os.path.isabs(name)
        or (len(name) > 1 and name[1] == ":")
        or os.path.basename(name) != name
        or any(ord(c) < 32 for c in name)
    ):
        raise TransferError(f"refused: {name!r} is not a plain file name (path traversal?)")
    if len(name.encode("utf-8", "replace")) > _NAME_MAX:
        raise TransferError(f"refused: the file name is longer than {_NAME_MAX} bytes")
    return name


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


def _json_frame(conn: FramedSocket, what: str) -> dict[str, Any]:
    too_large = f"refused: {what} larger than {HEADER_LIMIT} bytes"
    try:
        frame = conn.recv()
    except FrameTooLargeError:  # larger than the framer's limit (CHUNK)
        raise TransferError(too_large) from None
    if frame is None:
        raise TransferError(f"the peer closed the connection before sending {what}")
    if len(frame) > HEADER_LIMIT:
        raise TransferError(too_large)
    try:
        value = json.loads(frame)
    except ValueError:
        raise TransferError(f"the peer sent an unreadable {what}") from None
    if not isinstance(value, dict):
        raise TransferError(f"the peer sent an unreadable {what}")
    return value


def send_file(
    path: Union[str, os.PathLike[str]],
    address: tuple[str, int],
    *,
    timeout: float = 30.0,
    plain: bool = False,
) -> dict[str, Any]:
    """Send the file at ``path`` to a ``pyframe recv`` listening at ``address``."""
    size = os.path.getsize(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    header = {"name": os.path.basename(path), "size": size, "sha256": digest.hexdigest()}
    with connect(address, _framer(), timeout=timeout) as conn, open(path, "rb") as f:
        conn.send(json.dumps(header).encode())
        reply = _json_frame(conn, "a reply to the header")
        if not reply.get("ok"):
            raise TransferError(f"the receiver refused the file: {reply.get('error')}")
        progress = Progress(size, f"send {header['name']}", force_plain=plain)
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        sent = 0
        try:
            while sent < size:
                n = f.readinto(buf)
                if not n:
                    raise TransferError(f"{path} shrank while being sent ({sent} of {size})")
                n = min(n, size - sent)
                conn.send(view[:n])
                sent += n
                progress.update(n)
            result = _json_frame(conn, "the final status")
        except BaseException:
            progress.close(ok=False)
            raise
        progress.close()
        if not result.get("ok"):
            raise TransferError(f"the receiver reports a failure: {result.get('error')}")
    return header


def receive_file(
    conn: FramedSocket,
    out_dir: Union[str, os.PathLike[str]],
    *,
    force: bool = False,
    plain: bool = False,
) -> str:
    """Receive one file on the FramedSocket ``conn`` into ``out_dir``; its final path."""
    try:
        header = _json_frame(conn, "a header")
        name = check_name(header.get("name"))
        size, expected = header.get("size"), header.get("sha256")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise TransferError(f"refused: bad size {size!r}")
        if not (
            isinstance(expected, str)
            and len(expected) == 64
            and all(c in "0123456789abcdef" for c in expected)
        ):
            raise TransferError(f"refused: bad sha256 {expected!r}")
        dest = os.path.join(out_dir, name)
        if os.path.lexists(dest) and not force:
            raise TransferError(f"refused: {dest} exists (use --force to overwrite)")
        try:  # before the go-ahead: a receiver that cannot write says so now
            fd, tmp = tempfile.mkstemp(
                dir=out_dir, prefix=f"{_TMP_PREFIX}{name}.", suffix=_TMP_SUFFIX
            )
        except OSError as exc:
            raise TransferError(
                f"refused: cannot create a file in {out_dir}: {exc.strerror or exc}"
            ) from exc
    except TransferError as exc:
        conn.send(json.dumps({"ok": False, "error": str(exc)}).encode())
        raise
    progress = None
    try:
        with os.fdopen(fd, "wb") as out:
            conn.send(b'{"ok": true}')
            progress = Progress(size, f"recv {name}", force_plain=plain)
            digest = hashlib.sha256()
            got = 0
            while got < size:
                try:
                    frame = conn.recv()
                except IncompleteFrameError:
                    frame = None
                if frame is None:
                    raise TruncatedError(
                        f"transfer truncated: received {got} of {size} bytes of {name} "
                        "before the connection closed; nothing was saved"
                    )
                if got + len(frame) > size:
                    raise TransferError(f"the sender sent more than the {size} bytes announced")
                out.write(frame)
                digest.update(frame)
                got += len(frame)
                progress.update(len(frame))
        if digest.hexdigest() != expected:
            raise TransferError(
                f"SHA-256 mismatch for {name}: expected {expected}, got "
                f"{digest.hexdigest()}; nothing was saved"
            )
        if force:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest)  # fails if dest appeared meanwhile: never overwrite
            except FileExistsError:
                raise TransferError(f"refused: {dest} exists (use --force to overwrite)") from None
            except OSError:  # no hard links here
                if os.path.lexists(dest):
                    msg = f"refused: {dest} exists (use --force to overwrite)"
                    raise TransferError(msg) from None
                os.rename(tmp, dest)
            else:
                os.unlink(tmp)
    except BaseException as exc:
        if progress is not None:
            progress.close(ok=False)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, TransferError) and not isinstance(exc, TruncatedError):
            try:
                conn.send(json.dumps({"ok": False, "error": str(exc)}).encode())
            except OSError:
                pass
        raise
    progress.close()
    conn.send(b'{"ok": true}')
    return dest


def main(argv: Sequence[str]) -> int:
    """``argv[0]`` is "send" or "recv"; returns the exit status."""
    parser = argparse.ArgumentParser(prog=f"pyframe {argv[0] if argv else ''}".strip())
    if argv and argv[0] == "send":
        parser.description = "Send FILE to a 'pyframe recv' at HOST:PORT."
        parser.add_argument("file")
        parser.add_argument("address", metavar="HOST:PORT", type=parse_address)
    elif argv and argv[0] == "recv":
        parser.description = (
            "Receive files sent with 'pyframe send'. Prints "
            "'listening on HOST:PORT' (the real port when given port 0)."
        )
        parser.add_argument(
            "--listen",
            metavar="HOST:PORT",
            type=parse_address,
            default=parse_address(DEFAULT_LISTEN),
            help=f"address to listen on (default {DEFAULT_LISTEN}; "
            "0.0.0.0:PORT accepts other hosts)",
        )
        parser.add_argument("--out", metavar="DIR", default=".", help="directory for files")
        parser.add_argument("--force", action="store_true", help="overwrite existing files")
        parser.add_argument(
            "--once",
            action="store_true",
            help="exit after one transfer (status 0 only if it succeeded)",
        )
    else:
        print(
            "usage: pyframe send FILE HOST:PORT | pyframe recv [--listen HOST:PORT] "
            "[--out DIR] [--force] [--once]",
            file=sys.stderr,
        )
        return 2
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds a stalled connection is given (default 30)",
    )
    parser.add_argument("--plain", action="store_true", help="no progress bar")
    args = parser.parse_args(argv[1:])
    if argv[0] == "send":
        try:
            header = send_file(args.file, args.address, timeout=args.timeout, plain=args.plain)
        except (TransferError, OSError) as exc:
            print(f"pyframe send: error: {exc}", file=sys.stderr)
            return 1
        print(f"sent {header['name']} ({header['size']} bytes, sha256 {header['sha256']})")
        return 0
    if not os.path.isdir(args.out):
        print(f"pyframe recv: error: {args.out} is not a directory", file=sys.stderr)
        return 2
    with FramedServer(args.listen, _framer, timeout=args.timeout) as server:
        host, port = server.address[:2]
        print(f"listening on {host}:{port}", flush=True)
        for conn in server:
            with conn:
                try:
                    dest = receive_file(conn, args.out, force=args.force, plain=args.plain)
                except (TransferError, OSError, ValueError) as exc:
                    print(f"pyframe recv: error: {exc}", file=sys.stderr, flush=True)
                    if args.once:
                        return 1
                    continue
            print(f"received {dest}", flush=True)
            if args.once:
                return 0
    return 0
