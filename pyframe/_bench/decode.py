"""Decode contenders: a stream already cut into chunks, decoded into frames.

pyframe compiled and its pure-Python twin, pyframe's own variants (``LineFramer``, several
delimiters), and the alternatives users write today, each as fast as its idiom goes: a
``struct.unpack_from`` loop, ``struct.iter_unpack`` where every frame has one size,
``buf.find`` + ``del buf[:n]``, the ``(tail + chunk).split(b"\\n")`` idiom,
``io.BytesIO(...).readlines()`` and iterating a ``BytesIO``, asyncio ``StreamReader``
(``readexactly`` / ``readuntil``), Twisted's ``Int32StringReceiver`` / ``LineOnlyReceiver``
and ``msgpack.Unpacker``. Optional packages that are missing make a contender "absent".

Every hand-written decoder is written in the shape of pyframe's ``feed()``: it builds the
list of frames cut from each chunk, so every contender pays for one frame object per frame
and one list per chunk. Called with a list ``out``, a factory builds the verifying variant
that collects the frames.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import re
import struct
from collections.abc import Coroutine
from typing import Any, Callable

from . import floor
from .core import (
    FRAMINGS,
    MEMORY,
    SUBJECT,
    TWIN,
    Contender,
    Factory,
    Input,
    KiB,
    MiB,
    Workload,
    digits,
    limit,
    load_module,
)

#: the delimiters of the "8 delimiters" row: b"\n" and seven that never occur in the text
EIGHT_DELIMITERS = (b"\n", b"\r\n", b"\x00", b"\x03", b"\x04", b"\x17", b"\x1e", b"\x1f")


def pyframe_decode(
    which: str, make: Callable[[Any, int], Any] | None = None, wire: str | None = None
) -> Factory:
    """pyframe's ``feed()`` per chunk, then ``eof()``; ``make(module, frame_size)`` builds
    the framer (default: the workload's framing); ``wire``: the input's other wire format
    of that name (default: the workload's stream)."""

    def factory(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
        mod = load_module(which)
        chunks = inp.alt[wire][0] if wire else inp.chunks
        framer = make or FRAMINGS[w.family].make
        size = w.frame_size

        if out is None:

            def run() -> int:
                f = framer(mod, size)
                feed = f.feed
                n = 0
                for chunk in chunks:
                    n += len(feed(chunk))
                return n + len(f.eof())
        else:

            def run() -> int:
                f = framer(mod, size)
                for chunk in chunks:
                    out.extend(f.feed(chunk))
                out.extend(f.eof())
                return len(out)

        return run

    return factory


def _line_framer(mod: Any, size: int) -> Any:
    return mod.LineFramer(max_frame_size=limit(size))


def _escaped_markers(mod: Any, size: int) -> Any:
    return mod.MarkerFramer(b"\x02", b"\x03", escape=b"\x10", max_frame_size=limit(size))


def _eight_delimiters(mod: Any, size: int) -> Any:
    return mod.DelimiterFramer(EIGHT_DELIMITERS, max_frame_size=limit(size))


def _struct_loop(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    unpack_from = struct.Struct(">I").unpack_from
    chunks = inp.chunks

    def run() -> int:
        buf = bytearray()
        n = 0
        for chunk in chunks:
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
        return n

    return run


def _iter_unpack(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """Fixed-size records (every frame of the workload has one size): struct.iter_unpack
    over the whole records buffered, the rest kept for the next chunk."""
    record = struct.Struct(f">I{w.frame_size}s")
    size = record.size
    iter_unpack = record.iter_unpack
    chunks = inp.chunks

    def run() -> int:
        tail = b""
        n = 0
        for chunk in chunks:
            data = tail + chunk if tail else chunk
            whole = len(data) - len(data) % size
            frames = [payload for _, payload in iter_unpack(memoryview(data)[:whole])]
            tail = data[whole:]
            n += len(frames)
            if out is not None:
                out.extend(frames)
        return n

    return run


def _decimal_loop(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    chunks = inp.chunks
    width = digits(w.frame_size)

    def run() -> int:
        buf = bytearray()
        n = 0
        for chunk in chunks:
            buf += chunk
            frames: list[Any] = []
            append = frames.append
            pos, end = 0, len(buf)
            while end - pos >= width:
                body = pos + width
                stop = body + int(buf[pos:body])
                if stop > end:
                    break
                append(buf[body:stop])
                pos = stop
            del buf[:pos]
            n += len(frames)
            if out is not None:
                out.extend(frames)
        return n

    return run


def _netstring_loop(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """Netstrings by hand: find the colon, int() the digits, check the comma, one
    compaction per chunk (leading zeros and limits left unchecked: less work than a
    decoder must do)."""
    chunks = inp.chunks

    def run() -> int:
        buf = bytearray()
        n = 0
        for chunk in chunks:
            buf += chunk
            frames: list[Any] = []
            append = frames.append
            pos, end = 0, len(buf)
            while True:
                colon = buf.find(b":", pos, pos + 21)
                if colon < 0:
                    break
                body = colon + 1
                stop = body + int(buf[pos:colon])
                if stop >= end:
                    break
                if buf[stop] != 44:  # b","
                    raise ValueError("missing comma")
                append(buf[body:stop])
                pos = stop + 1
            del buf[:pos]
            n += len(frames)
            if out is not None:
                out.extend(frames)
        return n

    return run


def _protobuf_varints(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """protobuf's own varint reader (google.protobuf.internal.decoder._DecodeVarint, what
    Python users of delimited streams call) + offsets, one compaction per chunk."""
    decoder: Any = importlib.import_module("google.protobuf.internal.decoder")
    decode_varint = decoder._DecodeVarint
    chunks = inp.chunks

    def run() -> int:
        buf = b""
        n = 0
        for chunk in chunks:
            buf = buf + chunk if buf else chunk
            frames: list[Any] = []
            append = frames.append
            pos, end = 0, len(buf)
            while pos < end:
                try:
                    size, body = decode_varint(buf, pos)
                except IndexError:  # the varint is cut off by the chunk's end
                    break
                if body + size > end:
                    break
                append(buf[body : body + size])
                pos = body + size
            buf = buf[pos:]
            n += len(frames)
            if out is not None:
                out.extend(frames)
        return n

    return run


def _marker_find(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """Head and tail marks by hand: find the start mark, then the end mark, slice between,
    one compaction per chunk (bytes before a start mark dropped unreported, a start mark
    inside a frame not looked for: less work than a decoder must do)."""
    chunks = inp.chunks

    def run() -> int:
        buf = bytearray()
        n = 0
        for chunk in chunks:
            buf += chunk
            frames: list[Any] = []
            append = frames.append
            find = buf.find
            pos = 0
            while True:
                start = find(b"\x02", pos)
                if start < 0:
                    pos = len(buf)
                    break
                stop = find(b"\x03", start + 1)
                if stop < 0:
                    pos = start
                    break
                append(buf[start + 1 : stop])
                pos = stop + 1
            del buf[:pos]
            n += len(frames)
            if out is not None:
                out.extend(frames)
        return n

    return run


_MARKED = re.compile(rb"\x02([^\x02\x03]*)\x03")


def _marker_regex(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """Head and tail marks with one regular expression per chunk: findall() of
    ``\x02([^\x02\x03]*)\x03`` over the tail and the chunk, the tail kept from after the
    last end mark (a start mark inside a frame begins the next one, as a resync)."""
    chunks = inp.chunks
    findall = _MARKED.findall

    def run() -> int:
        tail = b""
        n = 0
        for chunk in chunks:
            buf = tail + chunk if tail else chunk
            frames = findall(buf)
            tail = buf[buf.rfind(b"\x03") + 1 :]
            n += len(frames)
            if out is not None:
                out.extend(frames)
        return n

    return run


def _split_decode(
    inp: Input, out: list[Any] | None, delimiter: bytes, decode: Callable[[bytes], bytes]
) -> Callable[[], int]:
    """What users of COBS and SLIP packages write: split the stream on the delimiter
    (keeping the unended tail), decode each non-empty frame with the package."""
    chunks = inp.chunks

    def run() -> int:
        tail = b""
        n = 0
        for chunk in chunks:
            parts = (tail + chunk if tail else chunk).split(delimiter)
            tail = parts.pop()
            frames = [decode(part) for part in parts if part]
            n += len(frames)
            if out is not None:
                out.extend(frames)
        return n

    return run


def _cobs_split(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    cobs: Any = importlib.import_module("cobs.cobs")  # optional contender (its C extension)
    return _split_decode(inp, out, b"\x00", cobs.decode)


def _sliplib_split(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    sliplib: Any = importlib.import_module("sliplib")  # optional contender
    return _split_decode(inp, out, b"\xc0", sliplib.decode)


def _sliplib_driver(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    sliplib: Any = importlib.import_module("sliplib")
    chunks = inp.chunks

    def run() -> int:
        driver = sliplib.Driver()
        receive, get = driver.receive, driver.get
        n = 0
        for chunk in chunks:
            receive(chunk)
            while (frame := get(block=False)) is not None:
                n += 1
                if out is not None:
                    out.append(frame)
        return n

    return run


def _find_del(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    chunks = inp.chunks

    def run() -> int:
        buf = bytearray()
        scanned = 0  # bytes of buf already searched (a careful user keeps this)
        n = 0
        for chunk in chunks:
            buf += chunk
            frames: list[Any] = []
            append = frames.append
            start = 0
            at = buf.find(b"\n", scanned)
            while at >= 0:
                append(buf[start:at])
                start = at + 1
                at = buf.find(b"\n", start)
            if start:
                del buf[:start]
            scanned = len(buf)
            n += len(frames)
            if out is not None:
                out.extend(frames)
        return n

    return run


def _memory(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """Trap reference: append every chunk to a bytearray, nothing else. Its growth with
    the stream length is the memory system's (caches, page faults), not an algorithm's."""
    chunks = inp.chunks
    head = FRAMINGS[w.family].head(w.frame_size)
    tail = FRAMINGS[w.family].trailer

    def run() -> int:
        buf = bytearray()
        for chunk in chunks:
            buf += chunk
        if out is not None:
            out.append(bytes(buf[head : len(buf) - tail]))
        return 1

    return run


def _split_idiom(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    chunks = inp.chunks

    def run() -> int:
        tail = b""
        n = 0
        for chunk in chunks:
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            n += len(lines)
            if out is not None:
                out.extend(lines)
        return n

    return run


def _bytesio_readlines(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """``io.BytesIO(tail + chunk).readlines()``: C-speed line splitting; lines keep b"\\n"."""
    chunks = inp.chunks
    BytesIO = io.BytesIO

    def run() -> int:
        tail = b""
        n = 0
        for chunk in chunks:
            lines = BytesIO(tail + chunk).readlines()
            tail = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
            n += len(lines)
            if out is not None:
                out.extend(lines)
        return n

    return run


def _bytesio_iter(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """``for line in io.BytesIO(tail + chunk)``: lines keep b"\\n"; a last line without
    one is kept for the next chunk."""
    chunks = inp.chunks
    BytesIO = io.BytesIO

    def run() -> int:
        tail = b""
        n = 0
        for chunk in chunks:
            frames: list[Any] = []
            append = frames.append
            data, tail = tail + chunk, b""
            for line in BytesIO(data):
                if line.endswith(b"\n"):
                    append(line)
                else:
                    tail = line
            n += len(frames)
            if out is not None:
                out.extend(frames)
        return n

    return run


class LoopRun:
    """A zero-argument callable running a coroutine in one event loop kept for all runs."""

    def __init__(self, make_coro: Callable[[], Coroutine[Any, Any, int]]) -> None:
        self.loop = asyncio.new_event_loop()
        self.make_coro = make_coro

    def __call__(self) -> int:
        return self.loop.run_until_complete(self.make_coro())

    def close(self) -> None:
        self.loop.close()


def _asyncio_decode(w: Workload, inp: Input, out: list[Any] | None = None) -> LoopRun:
    chunks = inp.chunks
    family = w.family
    stream_limit = max(64 * KiB, 2 * w.frame_size + 64)
    width = digits(w.frame_size)
    IncompleteReadError = asyncio.IncompleteReadError

    async def consume(reader: asyncio.StreamReader) -> int:
        n = 0
        try:
            if family == "newline":
                readuntil = reader.readuntil
                while True:
                    frame = (await readuntil(b"\n"))[:-1]
                    n += 1
                    if out is not None:
                        out.append(frame)
            else:
                readexactly = reader.readexactly
                binary = family == "length-prefix"
                head = 4 if binary else width
                while True:
                    header = await readexactly(head)
                    frame = await readexactly(
                        int.from_bytes(header, "big") if binary else int(header)
                    )
                    n += 1
                    if out is not None:
                        out.append(frame)
        except IncompleteReadError as exc:
            if exc.partial:
                raise
        return n

    async def main() -> int:
        reader = asyncio.StreamReader(limit=stream_limit)
        task = asyncio.ensure_future(consume(reader))
        feed, sleep = reader.feed_data, asyncio.sleep
        for chunk in chunks:
            feed(chunk)  # what the transport's data_received does
            await sleep(0)  # one event-loop turn per chunk, as with a socket
        reader.feed_eof()
        return await task

    return LoopRun(main)


def _twisted_decode(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    # Twisted is an optional contender, typed as Any here (imported by name: whether it is
    # installed, and how typed, does not change what a type checker sees).
    StringTransport = importlib.import_module("twisted.internet.testing").StringTransport
    basic: Any = importlib.import_module("twisted.protocols.basic")
    chunks = inp.chunks
    base = {
        "length-prefix": basic.Int32StringReceiver,
        "netstring": basic.NetstringReceiver,
    }.get(w.family, basic.LineOnlyReceiver)
    collect = out.append if out is not None else None

    class Receiver(base):  # type: ignore[misc, valid-type]
        MAX_LENGTH = limit(w.frame_size)
        delimiter = b"\n"
        n = 0

        def stringReceived(self, string: bytes) -> None:
            self.n += 1
            if collect is not None:
                collect(string)

        lineReceived = stringReceived

    def run() -> int:
        protocol = Receiver()
        protocol.makeConnection(StringTransport())
        data_received = protocol.dataReceived
        for chunk in chunks:
            data_received(chunk)
        n: int = protocol.n
        return n

    return run


def _msgpack_decode(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    msgpack = importlib.import_module("msgpack")  # optional contender (untyped)
    chunks, _ = inp.alt["msgpack"]
    buffer_limit = max(100 * MiB, 4 * w.frame_size)

    def run() -> int:
        unpacker = msgpack.Unpacker(max_buffer_size=buffer_limit)
        feed = unpacker.feed
        n = 0
        for chunk in chunks:
            feed(chunk)
            frames = list(unpacker)
            n += len(frames)
            if out is not None:
                out.extend(frames)
        return n

    return run


def pyframe_rows(family: str, variants: bool = True) -> list[Contender]:
    """pyframe's rows of a decode workload: compiled, its variants, the pure twin."""
    rows = [Contender(SUBJECT, "pyframe compiled (Cython)", "subject", pyframe_decode("c"))]
    if variants and family == "newline":
        rows += [
            Contender(
                "pyframe-c LineFramer",
                "LineFramer() on the same stream (\\n or \\r\\n)",
                "variant",
                pyframe_decode("c", _line_framer),
            ),
            Contender(
                "pyframe-c 8 delimiters",
                "DelimiterFramer of b'\\n' and 7 delimiters absent from the stream",
                "variant",
                pyframe_decode("c", _eight_delimiters),
            ),
        ]
    rows.append(Contender(TWIN, "pyframe pure-Python twin", "twin", pyframe_decode("py")))
    return rows


def contenders(family: str, frame_size: int, *, large: bool = False) -> list[Contender]:
    """Every contender of a decode workload; ``large``: frames of several MiB (contenders
    that copy the pending bytes per chunk are left to the trap, where they are timed
    against the stream length)."""
    out = pyframe_rows(family)
    if family == "length-prefix":
        out += [
            Contender(
                "struct",
                "struct.unpack_from + offsets, one compaction per chunk",
                "alternative",
                _struct_loop,
            ),
        ]
        if not large:  # it copies the pending tail per chunk: quadratic in the frame size
            out.append(
                Contender(
                    "iter_unpack",
                    "struct.iter_unpack over whole fixed-size records",
                    "alternative",
                    _iter_unpack,
                )
            )
        out.append(
            Contender("asyncio", "asyncio StreamReader.readexactly", "alternative", _asyncio_decode)
        )
        if not large:  # it copies the pending bytes per chunk: quadratic in the frame size
            out.append(
                Contender(
                    "twisted",
                    "Twisted Int32StringReceiver",
                    "alternative",
                    _twisted_decode,
                    requires="twisted",
                )
            )
        out.append(
            Contender(
                "msgpack",
                "msgpack.Unpacker.feed (bin objects)",
                "alternative",
                _msgpack_decode,
                requires="msgpack",
                wire="msgpack",
                note="reads msgpack bin objects (1-5 byte header), not the 4-byte prefix",
            )
        )
    elif family == "newline":
        out += [
            Contender("split", "(tail + chunk).split(b'\\n')", "alternative", _split_idiom),
            Contender(
                "BytesIO.readlines",
                "io.BytesIO(tail + chunk).readlines()",
                "alternative",
                _bytesio_readlines,
                keeps_delimiter=True,
                note="lines keep their b'\\n'",
            ),
            Contender(
                "BytesIO iter",
                "for line in io.BytesIO(tail + chunk)",
                "alternative",
                _bytesio_iter,
                keeps_delimiter=True,
                note="lines keep their b'\\n'",
            ),
            Contender(
                "find+del",
                "buf.find + del buf[:n], one compaction per chunk",
                "alternative",
                _find_del,
            ),
            Contender("asyncio", "asyncio StreamReader.readuntil", "alternative", _asyncio_decode),
            Contender(
                "twisted",
                "Twisted LineOnlyReceiver",
                "alternative",
                _twisted_decode,
                requires="twisted",
            ),
        ]
    elif family == "netstring":
        out += [
            Contender(
                "find+int",
                "buf.find(b':') + int(digits) + offsets, one compaction per chunk",
                "alternative",
                _netstring_loop,
            ),
            Contender(
                "twisted",
                "Twisted NetstringReceiver",
                "alternative",
                _twisted_decode,
                requires="twisted",
            ),
        ]
    elif family == "varint":
        out += [
            Contender(
                "pyframe-c length-prefix",
                "LengthPrefixFramer(4) on the same payloads behind a 4-byte length prefix",
                "variant",
                pyframe_decode("c", FRAMINGS["length-prefix"].make, wire="length-prefix"),
                wire="length-prefix",
            ),
            Contender(
                "protobuf",
                "protobuf's _DecodeVarint + offsets",
                "alternative",
                _protobuf_varints,
                requires="google.protobuf",
            ),
        ]
    elif family == "markers":
        out += [
            Contender(
                "pyframe-c escaped",
                "MarkerFramer(escape=b'\\x10') on the same stream (nothing to unescape)",
                "variant",
                pyframe_decode("c", _escaped_markers),
            ),
            Contender(
                "find+slice",
                "buf.find(STX) + buf.find(ETX) + slice, one compaction per chunk",
                "alternative",
                _marker_find,
            ),
            Contender(
                "re.findall",
                "re.findall(rb'\\x02([^\\x02\\x03]*)\\x03', tail + chunk)",
                "alternative",
                _marker_regex,
            ),
        ]
    elif family == "cobs":
        out += [
            Contender(
                "cobs",
                "(tail + chunk).split(b'\\0') + cobs.cobs.decode per frame (C extension)",
                "alternative",
                _cobs_split,
                requires="cobs.cobs._cobs_ext",  # (not its pure-Python fallback)
            ),
        ]
    elif family == "slip":
        out += [
            Contender(
                "sliplib",
                "(tail + chunk).split(END) + sliplib.decode per frame",
                "alternative",
                _sliplib_split,
                requires="sliplib",
            ),
            Contender(
                "sliplib Driver",
                "sliplib.Driver: receive(chunk), then get() per frame",
                "alternative",
                _sliplib_driver,
                requires="sliplib",
            ),
        ]
    elif family == "decimal":
        out += [
            Contender(
                "int-loop",
                "int(buf[pos:pos+digits]) + offsets, one compaction",
                "alternative",
                _decimal_loop,
            ),
            Contender(
                "asyncio", "asyncio StreamReader.readexactly", "alternative", _asyncio_decode
            ),
        ]
    else:
        raise ValueError(family)
    return out + [floor.contender(FRAMINGS[family].transformed)]


def trap_contenders(family: str) -> list[Contender]:
    """The trap's rows: the decoders (no variants), then the two references."""
    rows = [c for c in contenders(family, 0) if c.role != "variant" and c.name != "floor"]
    rows = [c for c in rows if c.name != "iter_unpack"]  # one frame: no fixed-size records
    return rows + [
        floor.contender(),
        Contender(
            MEMORY,
            "bytearray += chunk, no framing: buffering the bytes at all",
            "reference",
            _memory,
            note="the reference the growth exponent is measured against",
        ),
    ]
