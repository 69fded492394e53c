"""A typed user of every public API: tests/test_typing.py runs ``mypy --strict`` on this file
against the installed pyframe and expects no error (not collected by pytest: it is not a
test module, and it is only type-checked, never run)."""

# ruff: noqa: F841, RUF059  (typed assignments whose only use is to be type-checked)

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, Optional

import pyframe
from pyframe import aio, transfer

if TYPE_CHECKING:
    from typing_extensions import Buffer  # PEP 688: collections.abc.Buffer on 3.12+

# -- the framers ---------------------------------------------------------------------------

length = pyframe.LengthPrefixFramer(
    2, "little", offset=1, adjustment=-2, include_header=True, max_frame_size=None
)
decimal = pyframe.DecimalLengthFramer(4, max_frame_size=pyframe.DEFAULT_MAX_FRAME_SIZE)
delimited = pyframe.DelimiterFramer((b"\r\n", bytearray(b"\n")), keep_delimiter=True)
lines = pyframe.LineFramer(line_ending=b"\r\n", max_frame_size=1024)
cobs = pyframe.COBSFramer(max_frame_size=1024, on_error="skip")
slip = pyframe.SLIPFramer(leading_end=True, on_error="raise")
marked = pyframe.MarkerFramer(b"{", bytearray(b"}"), on_error="skip")
escaped = pyframe.MarkerFramer(escape=b"\x10")  # not verbatim: no encode_parts()
implementation: str = pyframe.IMPLEMENTATION
version: str = pyframe.__version__

size: int = length.length_size
order: Literal["big", "little"] = length.byteorder
offset: int = length.offset
adjustment: int = length.adjustment
include_header: bool = length.include_header
digits: int = decimal.digits
delimiters: tuple[bytes, ...] = delimited.delimiters
keep: bool = delimited.keep_delimiter
limit: Optional[int] = lines.max_frame_size
line_delimiters: tuple[bytes, ...] = lines.delimiters
leading_end: bool = slip.leading_end
transformed: bool = cobs.verbatim or slip.verbatim  # False: encode() only, no encode_parts()
start_marker: bytes = marked.start
end_marker: bytes = marked.end
escape: Optional[bytes] = escaped.escape
garbage: int = marked.garbage
verbatim: bool = escaped.verbatim
stuffed: bytes = escaped.encode(b"\x02\x03") + escaped.encode_many([b"\x10"])


def use(framer: pyframe.Framer) -> list[bytes]:
    """Every method of the Framer protocol, on any framer."""
    wire: bytes = framer.encode(b"payload")
    wire += framer.encode(bytearray(b"payload")) + framer.encode(memoryview(b"payload"))
    header, trailer = framer.encode_parts(b"payload")
    parts: tuple[bytes, bytes] = (header, trailer)
    wire += b"".join(parts) + framer.encode_many([b"a", bytearray(b"b"), memoryview(b"c")])
    frames: list[bytes] = framer.feed(wire)
    with framer.get_buffer(4096) as view:
        view[:1] = b"\x00"
    framer.buffer_updated(1)
    framer.get_buffer().release()
    frame: Optional[bytes] = framer.next_frame()
    if frame is not None:
        frames.append(frame)
    frames += framer.pop_frames()
    pending: int = framer.pending
    most: Optional[int] = framer.max_frame_size
    frames += framer.eof() if pending or most is None else []
    framer.reset()
    return frames


for framer in (length, decimal, delimited, lines, marked):
    use(framer)
concrete: list[pyframe.Framer] = [length, decimal, delimited, lines, marked, cobs, slip]


class CountingFramer(pyframe.LengthPrefixFramer):
    """A subclass is a framer too."""

    def feed(self, data: Buffer) -> list[bytes]:
        return super().feed(data)


use(CountingFramer(max_frame_size=64))

# -- errors --------------------------------------------------------------------------------

try:
    pyframe.LengthPrefixFramer().eof()
except pyframe.IncompleteFrameError as exc:
    partial: bytes = exc.partial
    eof: EOFError = exc
except pyframe.FrameTooLargeError as exc:
    announced: Optional[int] = exc.size
    allowed: Optional[int] = exc.limit
except pyframe.MalformedFrameError as exc:
    frame_error: pyframe.FrameError = exc
except pyframe.FrameError as exc:
    value_error: ValueError = exc
broken: ConnectionError = pyframe.BrokenStreamError("cut")

# -- blocking sockets ----------------------------------------------------------------------


def echo(conn: pyframe.FramedSocket) -> None:
    for frame in conn:
        conn.send(frame)
    more: list[bytes] = conn.recv_many()
    conn.send_many(more)


def serve() -> None:
    with pyframe.serve(("127.0.0.1", 0), pyframe.LengthPrefixFramer, backlog=8) as server:
        server.serve_forever(echo)
    factory = functools.partial(pyframe.LengthPrefixFramer, 2)
    with pyframe.FramedServer("/tmp/pyframe.sock", factory, timeout=1.0) as server:
        conn, peer = server.accept()
        conn.close()
        for conn in server:
            echo(conn)
            break
        fd: int = server.fileno()
        where = server.address
        server.shutdown()


def client(framers: Iterable[pyframe.Framer]) -> Optional[bytes]:
    reply: Optional[bytes] = None
    for framer in framers:
        with pyframe.connect(("127.0.0.1", 8000), framer, timeout=10) as conn:
            conn.send(b"hello")
            reply = conn.recv()
            sock: socket.socket = conn.socket
            same: pyframe.Framer = conn.framer
            flags: tuple[bool, bool, bool, int] = (
                conn.broken,
                conn.at_eof,
                conn.closed,
                conn.unsent,
            )
            conn.settimeout(None)
            timeout: Optional[float] = conn.gettimeout()
            conn.setblocking(False)
            done: bool = conn.flush()
            fd: int = conn.fileno()
            conn.shutdown()
    a, b = socket.socketpair()
    wrapped = pyframe.FramedSocket(a, pyframe.LineFramer(), read_size=4096)
    wrapped.close()
    b.close()
    return reply


# -- asyncio -------------------------------------------------------------------------------


async def handle(reader: aio.FrameReader, writer: aio.FrameWriter) -> None:
    async for frame in reader:
        writer.write_frame(frame)
        await writer.drain()
    writer.write_frames([b"a", b"b"])
    frames: list[bytes] = await reader.read_frames()
    cost: int = reader.buffered
    error: Optional[BaseException] = reader.exception()
    ended: bool = reader.at_eof()
    same: pyframe.Framer = reader.framer
    if writer.can_write_eof():
        writer.write_eof()
    closing: bool = writer.is_closing()
    peer = writer.get_extra_info("peername")
    transport: asyncio.Transport = writer.transport
    writer.close()
    await writer.wait_closed()


def handle_sync(reader: aio.FrameReader, writer: aio.FrameWriter) -> None:
    writer.close()


class Echo(aio.FrameProtocol):
    def frame_received(self, frame: bytes) -> None:
        self.send_frame(frame)

    def frame_error(self, exc: pyframe.FrameError) -> None:
        super().frame_error(exc)


async def amain() -> None:
    server = await aio.start_server(
        handle,
        "127.0.0.1",
        0,
        framer_factory=pyframe.LengthPrefixFramer,
        high_water=aio.HIGH_WATER,
        low_water=aio.FRAME_OVERHEAD,
    )
    unix = await aio.start_unix_server(
        handle_sync, "/tmp/pyframe.sock", framer_factory=pyframe.LineFramer
    )
    reader, writer = await aio.open_connection("127.0.0.1", 8000, framer=pyframe.LineFramer())
    async with writer:
        writer.write_frame(b"hello")
        reply: Optional[bytes] = await reader.read_frame()
    reader, writer = await aio.open_unix_connection(
        "/tmp/pyframe.sock", framer=pyframe.DelimiterFramer(b"\0")
    )
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(
        lambda: Echo(pyframe.DecimalLengthFramer()), "127.0.0.1", 8000
    )
    protocol.send_frame(b"ping")
    await protocol.drain()
    framer: pyframe.Framer = protocol.framer
    lazily: object = pyframe.aio.FrameReader  # pyframe.aio after import pyframe
    server.close()
    unix.close()


# -- file transfer ---------------------------------------------------------------------------

address: tuple[str, int] = transfer.parse_address("127.0.0.1:8765")
name: str = transfer.check_name("file.bin")
header = transfer.send_file("file.bin", address, timeout=5.0, plain=True)
announced_size: int = header["size"]
status: int = transfer.main(["recv", "--once"])
try:
    with pyframe.connect(address, pyframe.LengthPrefixFramer()) as conn:
        saved: str = transfer.receive_file(conn, ".", force=True)
except transfer.TransferError as exc:
    message = str(exc)
