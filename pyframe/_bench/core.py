"""The bench's vocabulary: profiles, inputs, contenders, workloads, framings, verification.

A :class:`Workload` is one job measured side by side (decode a stream, encode payloads,
receive over a socket, ...); :meth:`Workload.build` makes its :class:`Input` once; each
:class:`Contender` turns that input into a zero-argument callable that does the whole job
and returns the number of frames. Called with a list ``out``, a contender's factory builds
the collecting variant: :func:`verify` checks what it collected (frame count and checksum)
before anything is timed. The catalogue of workloads is :mod:`.catalogue`; the contenders
live in one module per family (:mod:`.decode`, :mod:`.encode`, :mod:`.netblocking`,
:mod:`.netasync`).
"""

from __future__ import annotations

import fnmatch
import importlib
import random
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Optional

from .. import _pyframers

KiB = 1024
MiB = 1024 * KiB

SUBJECT = "pyframe-c"  # the row every comparison is made for
TWIN = "pyframe-py"
FLOOR = "floor"  # the compiled floor of decoding (pyframe._bench._floor)
MEMORY = "bytearray +="  # trap reference: buffering the bytes, nothing else
RAW = "raw"  # network ceiling: receiving the bytes, no framing

# Roles, in the order a table shows them: pyframe's own rows, then the contenders, then the
# references (a floor or a ceiling, which are not ways of framing).
ROLES = ("subject", "variant", "twin", "alternative", "reference")


# -- profiles: how big and how long --------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Sizes and timing settings of one run mode (``smoke``, ``quick``, ``full``)."""

    name: str
    frame_sizes: tuple[int, ...]  # decode frame sizes over 64 KiB chunks
    big_frame_sizes: tuple[int, ...]  # length-prefix only: frames of several MiB
    extra_frame_sizes: tuple[int, ...]  # sizes for the secondary family (decimal)
    stream_bytes: int  # target wire bytes of one decode run
    min_frames: int  # at least this many frames per stream
    trickle_bytes: int  # stream length of the 1-byte trickle
    encode_sizes: tuple[int, ...]
    encode_frames: int
    trap_sizes: tuple[int, ...]  # stream lengths of the huge-frame trap (one frame each)
    net_sizes: tuple[int, ...]  # receive frame sizes, length prefix, blocking TCP
    net_bytes: int  # target wire bytes of one receive run
    send_bytes: int  # target payload bytes of one send run
    rounds: int  # timed rounds per contender (median and spread over these)
    min_time: float  # each round runs the workload enough times to last this long
    trap_rounds: int
    trap_budget: float  # stop a contender on the trap once one run would exceed this (s)
    unix: bool  # AF_UNIX rows beside loopback TCP
    judge: bool  # goals decide the exit status (see goals.py)


PROFILES = {
    "smoke": Profile(
        name="smoke",
        frame_sizes=(16, 256),
        big_frame_sizes=(),
        extra_frame_sizes=(16,),
        stream_bytes=32 * KiB,
        min_frames=4,
        trickle_bytes=512,
        encode_sizes=(16,),
        encode_frames=512,
        trap_sizes=(64 * KiB, 128 * KiB),
        net_sizes=(16, 256),
        net_bytes=32 * KiB,
        send_bytes=16 * KiB,
        rounds=3,
        min_time=0.002,
        trap_rounds=2,
        trap_budget=0.05,
        unix=True,
        judge=False,
    ),
    "quick": Profile(
        name="quick",
        frame_sizes=(16, 64, 256, 4 * KiB, 64 * KiB, 1 * MiB),
        big_frame_sizes=(16 * MiB,),
        extra_frame_sizes=(16,),
        stream_bytes=512 * KiB,
        min_frames=6,
        trickle_bytes=4 * KiB,
        encode_sizes=(16, 256),
        encode_frames=8192,
        trap_sizes=(1 * MiB, 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB),
        net_sizes=(16, 256),
        net_bytes=512 * KiB,
        send_bytes=128 * KiB,
        rounds=5,
        min_time=0.015,
        trap_rounds=3,
        trap_budget=0.2,
        unix=False,
        judge=False,
    ),
    "full": Profile(
        name="full",
        frame_sizes=(16, 64, 256, 4 * KiB, 64 * KiB, 1 * MiB),
        big_frame_sizes=(16 * MiB,),
        extra_frame_sizes=(16, 64, 256, 4 * KiB, 64 * KiB, 1 * MiB),
        stream_bytes=4 * MiB,
        min_frames=32,
        trickle_bytes=32 * KiB,
        encode_sizes=(16, 256, 4 * KiB),
        encode_frames=65536,
        trap_sizes=tuple(256 * KiB << i for i in range(9)),  # 256 KiB .. 64 MiB
        net_sizes=(16, 256, 4 * KiB, 64 * KiB),
        net_bytes=2 * MiB,
        send_bytes=1 * MiB,
        rounds=11,
        min_time=0.05,
        trap_rounds=5,
        trap_budget=3.0,
        unix=True,
        judge=True,
    ),
}


# -- optional packages and the compiled modules -----------------------------------------------


def optional(name: str) -> ModuleType | None:
    """The module ``name``, or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class CompiledMissing(RuntimeError):
    """The compiled framers (or the compiled floor) cannot be imported: benchmarking the
    twin against itself would be meaningless, so the bench refuses to run."""


def _missing_message(module: str, exc: ImportError) -> str:
    import pyframe

    return (
        f"the compiled module {module} cannot be imported ({exc}).\n"
        f"pyframe was imported from {pyframe.__file__}.\n"
        "The bench compares the compiled framers with the pure-Python twin and with the "
        "compiled floor, and will not benchmark the twin twice. Fix: install pyframe with "
        "its extensions (`pip install .` in the source tree, which needs a C compiler) and "
        "run the bench from a directory outside the source tree (so the uncompiled "
        "checkout is not imported instead), or build in place with "
        "`python setup.py build_ext --inplace`."
    )


def load_module(which: str) -> ModuleType:
    """``pyframe._cframers`` ("c") or ``pyframe._pyframers`` ("py"), imported directly
    (whatever PYFRAME_NO_EXTENSIONS says); CompiledMissing with a fix if "c" is absent."""
    if which == "py":
        return importlib.import_module("pyframe._pyframers")
    try:
        return importlib.import_module("pyframe._cframers")
    except ImportError as exc:
        raise CompiledMissing(_missing_message("pyframe._cframers", exc)) from exc


def load_floor() -> ModuleType:
    """``pyframe._bench._floor``, built with the compiled framers; CompiledMissing if not."""
    try:
        return importlib.import_module("pyframe._bench._floor")
    except ImportError as exc:
        raise CompiledMissing(_missing_message("pyframe._bench._floor", exc)) from exc


def load_compiled() -> None:
    """Raise CompiledMissing unless both compiled modules import."""
    load_module("c")
    load_floor()


# -- framings ----------------------------------------------------------------------------------


def digits(frame_size: int) -> int:
    """Digits of the decimal length header for frames of ``frame_size``."""
    return 4 if frame_size <= 9999 else 8


def limit(frame_size: int) -> int:
    """``max_frame_size`` the framers get: the default, or room for the frames."""
    return max(8 * MiB, 2 * frame_size)


_BE32 = struct.Struct(">I").pack


@dataclass(frozen=True)
class Framing:
    """A wire format: how to encode a payload by hand, which pyframe framer reads it."""

    name: str
    title: str
    text: bool  # payloads must avoid b"\n" / b"\r"
    header: int  # bytes before the payload (for a frame of a given size: see head())
    trailer: int  # bytes after it
    make: Callable[[ModuleType, int], Any]  # (framer module, frame_size) -> a fresh framer
    # the payload's bytes change on the wire (COBS, SLIP): stream() gives the spans of the
    # payloads laid end to end (the "plain" stream the floor reads), not of the wire
    transformed: bool = False

    def encoder(self, frame_size: int) -> Callable[[bytes], bytes]:
        """Encode one payload, written by hand (the reference for every decoder)."""
        if self.name == "length-prefix":
            return lambda p: _BE32(len(p)) + p
        if self.name == "decimal":
            d = digits(frame_size)
            return lambda p: b"%0*d" % (d, len(p)) + p
        if self.name == "netstring":
            return lambda p: b"%d:" % len(p) + p + b","
        if self.name == "varint":
            return lambda p: varint(len(p)) + p
        if self.name == "cobs":  # (its byte loop is the twin's: tests hold it to `cobs`)
            return _pyframers.COBSFramer(max_frame_size=None).encode
        if self.name == "slip":
            return lambda p: p.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"
        if self.name == "markers":
            return lambda p: b"\x02" + p + b"\x03"
        return lambda p: p + b"\n"

    def head(self, frame_size: int) -> int:
        if self.name == "decimal":
            return digits(frame_size)
        if self.name == "netstring":
            return len(b"%d:" % frame_size)
        if self.name == "varint":
            return len(varint(frame_size))
        return self.header


def varint(n: int) -> bytes:
    """``n`` as a protobuf varint (7 bits a byte, least significant first)."""
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


FRAMINGS = {
    "length-prefix": Framing(
        "length-prefix",
        "4-byte big-endian length prefix",
        False,
        4,
        0,
        lambda mod, size: mod.LengthPrefixFramer(4, "big", max_frame_size=limit(size)),
    ),
    "newline": Framing(
        "newline",
        "newline-delimited",
        True,
        0,
        1,
        lambda mod, size: mod.DelimiterFramer(b"\n", max_frame_size=limit(size)),
    ),
    "decimal": Framing(
        "decimal",
        "zero-padded ASCII decimal length",
        True,
        4,
        0,
        lambda mod, size: mod.DecimalLengthFramer(digits(size), max_frame_size=limit(size)),
    ),
    "netstring": Framing(
        "netstring",
        "netstrings (len:data,)",
        False,
        0,  # (the header's size depends on the frame's: see head())
        1,
        lambda mod, size: mod.NetstringFramer(max_frame_size=limit(size)),
    ),
    "varint": Framing(
        "varint",
        "protobuf varint length (delimited messages)",
        False,
        0,  # (see head())
        0,
        lambda mod, size: mod.VarintFramer(max_frame_size=limit(size)),
    ),
    "cobs": Framing(
        "cobs",
        "COBS, 0x00-terminated",
        False,
        0,
        1,
        lambda mod, size: mod.COBSFramer(max_frame_size=limit(size)),
        transformed=True,
    ),
    "slip": Framing(
        "slip",
        "SLIP (RFC 1055), END-terminated",
        False,
        0,
        1,
        lambda mod, size: mod.SLIPFramer(max_frame_size=limit(size)),
        transformed=True,
    ),
    "markers": Framing(
        "markers",
        "STX/ETX start and end markers",
        True,  # (text payloads never hold b"\x02" or b"\x03")
        1,
        1,
        lambda mod, size: mod.MarkerFramer(b"\x02", b"\x03", max_frame_size=limit(size)),
    ),
}


# -- inputs ------------------------------------------------------------------------------------


@dataclass
class Input:
    """What one run consumes, built once per workload."""

    chunks: list[bytes]  # the wire stream, cut as the feed pattern delivers it
    n_frames: int  # frames in the stream (payloads to encode or send)
    checksum: int  # frame_checksum() of the expected frames
    stream_bytes: int  # wire bytes of the stream
    payloads: list[bytes] | None = None  # encode and send workloads: the payloads
    # other wire formats: name -> (chunks, bytes)
    alt: dict[str, tuple[list[bytes], int]] = field(default_factory=dict)
    # where each payload lies in the joined stream: [(start, end)] (for the floor's plan)
    spans: list[tuple[int, int]] = field(default_factory=list)
    batch: int = 0  # send workloads: payloads per send_many() / encode_many() call


#: ``factory(workload, input, out)`` -> the zero-argument callable a contender times.
Factory = Callable[["Workload", Input, Optional[list[Any]]], Callable[[], Any]]


def frame_checksum(frames: Iterable[bytes]) -> int:
    """CRC-32 over every frame's length and bytes, in order."""
    crc = 0
    for frame in frames:
        crc = zlib.crc32(len(frame).to_bytes(8, "little"), crc)
        crc = zlib.crc32(frame, crc)
    return crc


_TEXT = bytes(33 + (i % 94) for i in range(256))  # printable, never b"\n" or b"\r"


def payloads(size: int, count: int, text: bool, seed: int) -> list[bytes]:
    """``count`` payloads of ``size`` bytes cycling through a few distinct ones."""
    rng = random.Random(seed)
    distinct = max(1, min(count, 64 if size <= 4 * KiB else 4))
    block = rng.randbytes(size * distinct)
    if text:
        block = block.translate(_TEXT)
    pool = [block[i * size : (i + 1) * size] for i in range(distinct)]
    return [pool[i % distinct] for i in range(count)]


def cut(wire: bytes, pattern: str, seed: int = 1) -> list[bytes]:
    """The chunks a reader would see for ``pattern``."""
    if pattern == "64k":
        step = 64 * KiB
    elif pattern == "4k":
        step = 4 * KiB
    elif pattern == "trickle":
        step = 1
    elif pattern == "random":
        rng = random.Random(seed)
        chunks: list[bytes] = []
        at = 0
        while at < len(wire):
            size = max(1, int(2 ** rng.uniform(0, 16)))  # 1 B .. 64 KiB, log-uniform
            chunks.append(wire[at : at + size])
            at += size
        return chunks
    else:
        raise ValueError(f"unknown feed pattern {pattern!r}")
    return [wire[i : i + step] for i in range(0, len(wire), step)]


def stream(
    framing: str, frame_size: int, items: list[bytes]
) -> tuple[bytes, list[tuple[int, int]]]:
    """The wire stream of ``items`` and where each payload lies in it (for a transformed
    framing: in the payloads laid end to end, see Framing.transformed)."""
    fam = FRAMINGS[framing]
    encode = fam.encoder(frame_size)
    head, tail = fam.head(frame_size), fam.trailer
    if fam.transformed:
        head = tail = 0
    spans = []
    at = 0
    for p in items:
        start = at + head
        spans.append((start, start + len(p)))
        at = start + len(p) + tail
    return b"".join([encode(p) for p in items]), spans


# -- contenders and workloads --------------------------------------------------------------------


@dataclass
class Contender:
    """One way of doing a workload. ``factory(workload, input, out)`` returns a zero-argument
    callable doing the whole job and returning the frame count; with a list ``out`` it also
    collects the frames (decode) or wire pieces (encode) for verification."""

    name: str
    label: str
    role: str  # one of ROLES
    factory: Factory
    requires: str | None = None  # optional module that must import
    wire: str | None = None  # key in Input.alt when it reads another wire format
    note: str = ""
    self_timed: bool = False  # the callable returns (count, seconds) it measured itself
    keeps_delimiter: bool = False  # its frames end in b"\n", as its users get them
    frameless: bool = False  # makes no frames (a ceiling, a call pair): checks its own count

    def available(self) -> bool:
        return self.requires is None or all(
            optional(name) is not None for name in self.requires.split("+")
        )


@dataclass
class Workload:
    name: str
    kind: str  # "decode", "encode", "micro", "trap", "network" or "send"
    family: str  # a FRAMINGS key
    frame_size: int
    pattern: str  # a PATTERN_TITLES key
    description: str
    contenders: list[Contender]
    build: Callable[..., Input]  # build() -> Input; traps: build(stream_length)
    sizes: tuple[int, ...] = ()  # trap: stream lengths, ascending
    unit: str = "frame"  # what n_frames counts (micro workloads: "pair", "header", ...)

    def contender(self, name: str) -> Contender:
        for contender in self.contenders:
            if contender.name == name:
                return contender
        raise KeyError(name)


def size_label(size: int) -> str:
    for unit, scale in (("MiB", MiB), ("KiB", KiB)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


def short(size: int) -> str:
    return size_label(size).replace(" ", "").replace("iB", "")


PATTERN_TITLES = {
    "64k": "64 KiB chunks",
    "trickle": "1-byte feeds",
    "random": "random chunk sizes (1 B - 64 KiB)",
    "4k": "one frame in 4 KiB pieces",
    "tcp": "loopback TCP, blocking",
    "tcp-process": "loopback TCP, blocking, drained by another process",
    "unix": "AF_UNIX socketpair, blocking",
    "tcp-asyncio": "loopback TCP, asyncio",
    "tcp-uvloop": "loopback TCP, uvloop",
    "tcp-anyio-asyncio": "loopback TCP, anyio (asyncio backend)",
    "tcp-anyio-trio": "loopback TCP, anyio (trio backend)",
    "unix-asyncio": "AF_UNIX socketpair, asyncio",
    "-": "",
}


# -- verification ------------------------------------------------------------------------------


class VerificationError(AssertionError):
    pass


def _decode_wire(w: Workload, contender: Contender, wire: bytes) -> list[Any]:
    """Decode an encoder's output with the reference decoder of its wire format."""
    if contender.wire == "msgpack":
        msgpack = importlib.import_module("msgpack")  # optional contender (untyped)

        unpacker = msgpack.Unpacker(max_buffer_size=max(100 * MiB, 2 * len(wire)))
        unpacker.feed(wire)
        return list(unpacker)
    framer = FRAMINGS[w.family].make(load_module("py"), w.frame_size)
    frames: list[bytes] = framer.feed(wire) + framer.eof()
    return frames


def strip_delimiters(frames: list[Any], name: str) -> list[Any]:
    """Lines as its users get them, less their b"\\n" (for the checksum)."""
    if any(not line.endswith(b"\n") for line in frames):
        raise VerificationError(f"{name}: a line does not end in b'\\n'")
    return [line[:-1] for line in frames]


def verify(w: Workload, contender: Contender, inp: Input) -> None:
    """Run ``contender`` once in collecting mode; VerificationError unless it produced the
    expected frames (count and checksum): decoders and receivers their frames, encoders
    and senders a wire that the reference decoder reads back into the payloads."""
    out: list[Any] = []
    run = contender.factory(w, inp, out)
    try:
        result = run()
    finally:
        close = getattr(run, "close", None)
        if close is not None:
            close()
    count = result[0] if contender.self_timed else result
    if w.kind in ("encode", "send"):
        frames = _decode_wire(w, contender, b"".join(out))
    elif contender.frameless:  # checked the bytes or calls itself; here the count
        if count != inp.n_frames:
            raise VerificationError(f"{contender.name} on {w.name}: counted {count}")
        return
    else:
        frames = out
    if contender.keeps_delimiter:
        frames = strip_delimiters(frames, contender.name)
    if count != inp.n_frames or len(frames) != inp.n_frames:
        raise VerificationError(
            f"{contender.name} on {w.name}: expected {inp.n_frames} frames, "
            f"returned {count}, collected {len(frames)}"
        )
    if frame_checksum(frames) != inp.checksum:
        raise VerificationError(f"{contender.name} on {w.name}: frame checksum differs")


def stream_bytes(contender: Contender, inp: Input) -> int:
    """Wire bytes this contender consumes or produces per run."""
    if contender.wire and contender.wire in inp.alt:
        return inp.alt[contender.wire][1]
    return inp.stream_bytes


def select(workloads: Iterable[Workload], patterns: Sequence[str]) -> list[Workload]:
    """Workloads whose name contains any of ``patterns`` (or matches it as a glob)."""
    if not patterns:
        return list(workloads)
    return [
        w for w in workloads if any(p in w.name or fnmatch.fnmatchcase(w.name, p) for p in patterns)
    ]
