"""Every benchmark workload, defined once.

A :class:`Workload` names a framer family (length prefix, newline, decimal length), a frame
size and a feed pattern; ``build()`` makes its input once (the wire stream already cut into
the chunks a socket would deliver); each :class:`Contender` turns that input into a
zero-argument function that decodes the whole stream (or encodes every payload) and returns
the number of frames. The same definitions drive ``python -m pyframe bench`` (``cli``) and the
pytest-benchmark suite in ``bench/``.

Contenders are pyframe compiled (``pyframe._cframers``), its pure-Python twin
(``pyframe._pyframers``) and the alternatives users write today, each as fast as its idiom
goes: a ``struct.unpack_from`` loop, ``buf.find`` + ``del buf[:n]``, the
``(tail + chunk).split(b"\\n")`` idiom, asyncio ``StreamReader`` (``readexactly`` /
``readuntil``), Twisted's ``Int32StringReceiver`` / ``LineOnlyReceiver`` and
``msgpack.Unpacker``. Optional packages that are missing make a contender "absent".

Every hand-written decoder is written in the shape of pyframe's ``feed()``: it returns (here:
builds) the list of frames cut from each chunk, so every contender pays for one frame object
per frame and one list per chunk. Called with a list ``out``, a factory builds the verifying
variant that collects the frames; :func:`verify` checks their count and checksum before any
timing.

Network workloads (loopback TCP / AF_UNIX) come from ``pyframe.netbench`` when that module
exists: see :func:`network_workloads`.
"""

from __future__ import annotations

import asyncio
import importlib
import random
import socket
import struct
import zlib
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Optional, cast

KiB = 1024
MiB = 1024 * KiB

SUBJECT = "pyframe-c"  # the contender every speedup is measured for
TWIN = "pyframe-py"
FLOOR = "floor"  # trap reference: buffering only, to tell cache effects from rescans


# -- profiles: how big and how long --------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Sizes and timing settings of one run mode (``quick``, ``full``, ``smoke``)."""

    name: str
    frame_sizes: tuple[int, ...]  # decode frame sizes over 64 KiB chunks
    extra_frame_sizes: tuple[int, ...]  # sizes for the secondary families (decimal)
    stream_bytes: int  # target wire bytes of one decode run
    min_frames: int  # at least this many frames per stream
    trickle_bytes: int  # stream length of the 1-byte trickle
    encode_sizes: tuple[int, ...]
    encode_frames: int
    trap_sizes: tuple[int, ...]  # stream lengths of the huge-frame trap (one frame each)
    rounds: int  # timed rounds per contender (median and spread over these)
    min_time: float  # each round runs the workload enough times to last this long
    trap_rounds: int
    trap_budget: float  # stop a contender on the trap once one run would exceed this (s)
    full_only_contenders: bool = False  # include contenders marked full_only


PROFILES = {
    "smoke": Profile(
        name="smoke",
        frame_sizes=(16, 256),
        extra_frame_sizes=(16,),
        stream_bytes=32 * KiB,
        min_frames=4,
        trickle_bytes=512,
        encode_sizes=(16,),
        encode_frames=512,
        trap_sizes=(64 * KiB, 128 * KiB),
        rounds=3,
        min_time=0.002,
        trap_rounds=2,
        trap_budget=0.05,
    ),
    "quick": Profile(
        name="quick",
        frame_sizes=(16, 64, 256, 4 * KiB, 64 * KiB, 1 * MiB),
        extra_frame_sizes=(16, 256, 4 * KiB),
        stream_bytes=512 * KiB,
        min_frames=6,
        trickle_bytes=4 * KiB,
        encode_sizes=(16, 256),
        encode_frames=8192,
        trap_sizes=(1 * MiB, 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB),
        rounds=5,
        min_time=0.015,
        trap_rounds=3,
        trap_budget=0.3,
    ),
    "full": Profile(
        name="full",
        frame_sizes=(16, 64, 256, 4 * KiB, 64 * KiB, 1 * MiB),
        extra_frame_sizes=(16, 64, 256, 4 * KiB, 64 * KiB, 1 * MiB),
        stream_bytes=4 * MiB,
        min_frames=32,
        trickle_bytes=32 * KiB,
        encode_sizes=(16, 256, 4 * KiB),
        encode_frames=65536,
        trap_sizes=tuple(256 * KiB << i for i in range(9)),  # 256 KiB .. 64 MiB
        rounds=9,
        min_time=0.05,
        trap_rounds=5,
        trap_budget=3.0,
        full_only_contenders=True,
    ),
}


# -- optional packages -----------------------------------------------------------------------


def optional(name: str) -> ModuleType | None:
    """The module ``name``, or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class CompiledMissing(RuntimeError):
    """The compiled framers cannot be imported: benchmarking the twin against itself
    would be meaningless, so the bench refuses to run."""


def _missing_message(exc: ImportError) -> str:
    import pyframe

    return (
        f"the compiled module pyframe._cframers cannot be imported ({exc}).\n"
        f"pyframe was imported from {pyframe.__file__}.\n"
        "The bench compares the compiled framers with the pure-Python twin and will not "
        "benchmark the twin twice. Fix: install pyframe with its extension "
        "(`pip install .` in the source tree, which needs a C compiler) and run the bench "
        "from a directory outside the source tree (so the uncompiled checkout is not "
        "imported instead), or build in place with `python setup.py build_ext --inplace`."
    )


def load_module(which: str) -> ModuleType:
    """``pyframe._cframers`` ("c") or ``pyframe._pyframers`` ("py"), imported directly
    (whatever PYFRAME_NO_EXTENSIONS says); CompiledMissing with a fix if "c" is absent."""
    if which == "py":
        return importlib.import_module("pyframe._pyframers")
    try:
        return importlib.import_module("pyframe._cframers")
    except ImportError as exc:
        raise CompiledMissing(_missing_message(exc)) from exc


def load_twins() -> tuple[ModuleType, ModuleType]:
    """``(compiled, pure)`` framer modules; CompiledMissing with a fix if the first is absent."""
    return load_module("c"), load_module("py")


# -- inputs ----------------------------------------------------------------------------------


@dataclass
class Input:
    """What one run consumes, built once per workload."""

    chunks: list[bytes]  # the wire stream, cut as the feed pattern delivers it
    n_frames: int  # frames in the stream (payloads to encode, for encode workloads)
    checksum: int  # frame_checksum() of the expected frames
    stream_bytes: int  # wire bytes of the stream
    payloads: list[bytes] | None = None  # encode workloads: the payloads
    # other wire formats: name -> (chunks, bytes)
    alt: dict[str, tuple[list[bytes], int]] = field(default_factory=dict)


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


def _payloads(size: int, count: int, text: bool, seed: int) -> list[bytes]:
    """``count`` payloads of ``size`` bytes cycling through a few distinct ones."""
    rng = random.Random(seed)
    distinct = max(1, min(count, 64 if size <= 4 * KiB else 4))
    block = rng.randbytes(size * distinct)
    if text:
        block = block.translate(_TEXT)
    pool = [block[i * size : (i + 1) * size] for i in range(distinct)]
    return [pool[i % distinct] for i in range(count)]


def _cut(wire: bytes, pattern: str, seed: int = 1) -> list[bytes]:
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


# -- framer families -------------------------------------------------------------------------


def _digits(frame_size: int) -> int:
    return 4 if frame_size <= 9999 else 8


def _limit(frame_size: int) -> int:
    return max(8 * MiB, 2 * frame_size)


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    text: bool  # payloads must avoid b"\n" / b"\r"
    header: Callable[[int], Callable[[bytes], bytes]]  # frame_size -> encode one payload
    framer: Callable[[Any, int], Any]  # (framer module, frame_size) -> a fresh framer


FAMILIES = {
    "length-prefix": Family(
        "length-prefix",
        "4-byte big-endian length prefix",
        False,
        lambda size: (
            # the default binds one packer per encoder made (B008 on purpose)
            lambda p, pack=struct.Struct(">I").pack: pack(len(p)) + p  # type: ignore[misc]  # noqa: B008
        ),
        lambda mod, size: mod.LengthPrefixFramer(4, "big", max_frame_size=_limit(size)),
    ),
    "newline": Family(
        "newline",
        "newline-delimited",
        True,
        lambda size: lambda p: p + b"\n",
        lambda mod, size: mod.DelimiterFramer(b"\n", max_frame_size=_limit(size)),
    ),
    "decimal": Family(
        "decimal",
        "zero-padded ASCII decimal length",
        True,
        lambda size: lambda p, d=_digits(size): b"%0*d" % (d, len(p)) + p,  # type: ignore[misc]  # noqa: B008
        lambda mod, size: mod.DecimalLengthFramer(_digits(size), max_frame_size=_limit(size)),
    ),
}


def _alt_wires(family: str, payloads: list[bytes]) -> dict[str, bytes]:
    """Other wire formats carrying the same payloads (msgpack bin objects)."""
    msgpack = optional("msgpack")
    if family == "length-prefix" and msgpack is not None:
        pack = msgpack.Packer(use_bin_type=True).pack
        return {"msgpack": b"".join([pack(p) for p in payloads])}
    return {}


# -- workloads -------------------------------------------------------------------------------


@dataclass
class Contender:
    """One way of doing a workload. ``factory(workload, input, out)`` returns a zero-argument
    callable doing the whole job and returning the frame count; with a list ``out`` it also
    collects the frames (decode) or wire pieces (encode) for verification."""

    name: str
    label: str
    role: str  # "subject" (pyframe compiled), "twin" or "alternative"
    factory: Factory
    requires: str | None = None  # optional module that must import
    wire: str | None = None  # key in Input.alt when it reads another wire format
    full_only: bool = False
    note: str = ""
    self_timed: bool = False  # the callable returns (count, seconds) it measured itself

    def available(self) -> bool:
        return self.requires is None or optional(self.requires) is not None


@dataclass
class Workload:
    name: str
    kind: str  # "decode", "encode", "trap" (time vs stream length) or "network"
    family: str
    frame_size: int
    pattern: str
    description: str
    contenders: list[Contender]
    build: Callable[..., Input]  # build() -> Input; traps: build(stream_length)
    sizes: tuple[int, ...] = ()  # trap: stream lengths, ascending
    params: dict[str, Any] = field(default_factory=dict)

    def framer(self, mod: ModuleType) -> Any:
        return FAMILIES[self.family].framer(mod, self.frame_size)

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


def _short(size: int) -> str:
    return size_label(size).replace(" ", "").replace("iB", "")


PATTERN_TITLES = {
    "64k": "64 KiB chunks",
    "trickle": "1-byte feeds",
    "random": "random chunk sizes (1 B - 64 KiB)",
    "4k": "one frame in 4 KiB pieces",
    "tcp": "loopback TCP, blocking (sender thread, receiver timed)",
    "unix": "AF_UNIX socketpair, blocking (sender thread, receiver timed)",
    "tcp-asyncio": "loopback TCP, asyncio receiver (sender thread, receiver timed)",
    "unix-asyncio": "AF_UNIX socketpair, asyncio receiver (sender thread, receiver timed)",
    "-": "",
}


def _decode_input(
    family: str, frame_size: int, pattern: str, profile: Profile
) -> Callable[[], Input]:
    def build() -> Input:
        fam = FAMILIES[family]
        target = profile.trickle_bytes if pattern == "trickle" else profile.stream_bytes
        encode_one = fam.header(frame_size)
        wire_size = len(encode_one(b"x" * frame_size))
        count = max(profile.min_frames if pattern != "trickle" else 1, target // wire_size)
        payloads = _payloads(frame_size, count, fam.text, seed=frame_size)
        wire = b"".join([encode_one(p) for p in payloads])
        alt = {
            key: (_cut(data, pattern), len(data))
            for key, data in _alt_wires(family, payloads).items()
        }
        return Input(
            chunks=_cut(wire, pattern),
            n_frames=count,
            checksum=frame_checksum(payloads),
            stream_bytes=len(wire),
            alt=alt,
        )

    return build


def _trap_input(family: str) -> Callable[[int], Input]:
    cache: dict[str, bytes] = {}

    def build(length: int) -> Input:
        fam = FAMILIES[family]
        if "block" not in cache or len(cache["block"]) < length:
            cache["block"] = _payloads(length, 1, fam.text, seed=7)[0]
        payload = cache["block"][:length]
        wire = fam.header(length)(payload)
        alt = {
            key: (_cut(data, "4k"), len(data))
            for key, data in _alt_wires(family, [payload]).items()
        }
        return Input(
            chunks=_cut(wire, "4k"),
            n_frames=1,
            checksum=frame_checksum([payload]),
            stream_bytes=len(wire),
            alt=alt,
        )

    return build


def _encode_input(family: str, frame_size: int, profile: Profile) -> Callable[[], Input]:
    def build() -> Input:
        fam = FAMILIES[family]
        payloads = _payloads(frame_size, profile.encode_frames, fam.text, seed=frame_size)
        encode_one = fam.header(frame_size)
        return Input(
            chunks=[],
            n_frames=len(payloads),
            checksum=frame_checksum(payloads),
            stream_bytes=sum(len(encode_one(p)) for p in payloads),
            payloads=payloads,
        )

    return build


def build_workloads(profile: Profile | str = "quick") -> list[Workload]:
    """Every workload of ``profile`` (a Profile or its name), in report order."""
    if isinstance(profile, str):
        profile = PROFILES[profile]
    out: list[Workload] = []
    sizes = {
        "length-prefix": profile.frame_sizes,
        "newline": profile.frame_sizes,
        "decimal": profile.extra_frame_sizes,
    }
    for family in ("length-prefix", "newline", "decimal"):
        for size in sizes[family]:
            out.append(_decode(family, size, "64k", profile))
        small = sizes[family][0]
        out.append(_decode(family, small, "trickle", profile))
        out.append(_decode(family, 256 if 256 in sizes[family] else small, "random", profile))
    for family in ("length-prefix", "newline", "decimal"):
        if family == "decimal" and profile.name == "quick":
            continue
        for size in profile.encode_sizes:
            out.append(
                Workload(
                    name=f"encode/{family}/{_short(size)}",
                    kind="encode",
                    family=family,
                    frame_size=size,
                    pattern="-",
                    description=f"encode {size_label(size)} payloads, {FAMILIES[family].title}",
                    contenders=_encode_contenders(family),
                    build=_encode_input(family, size, profile),
                )
            )
    for family in ("length-prefix", "newline"):
        out.append(
            Workload(
                name=f"trap/{family}",
                kind="trap",
                family=family,
                frame_size=profile.trap_sizes[-1],
                pattern="4k",
                description=(
                    f"one huge frame in 4 KiB pieces, {FAMILIES[family].title}: "
                    "time vs stream length"
                ),
                contenders=_decode_contenders(family)
                + [
                    Contender(
                        FLOOR,
                        "memory floor: bytearray += chunk, no framing",
                        "reference",
                        _memory_floor,
                        note="not a framer: the cost of buffering the bytes at all",
                    ),
                ],
                build=_trap_input(family),
                sizes=profile.trap_sizes,
            )
        )
    out.extend(network_workloads(profile))
    if not profile.full_only_contenders:
        for workload in out:
            workload.contenders = [c for c in workload.contenders if not c.full_only]
    return out


def _decode(family: str, size: int, pattern: str, profile: Profile) -> Workload:
    return Workload(
        name=f"decode/{family}/{_short(size)}/{pattern}",
        kind="decode",
        family=family,
        frame_size=size,
        pattern=pattern,
        description=f"decode {size_label(size)} frames, {FAMILIES[family].title}, "
        f"{PATTERN_TITLES[pattern]}",
        contenders=_decode_contenders(family),
        build=_decode_input(family, size, pattern, profile),
    )


def network_workloads(profile: Profile) -> list[Workload]:
    """Loopback network workloads, from ``pyframe.netbench`` when that module exists.

    If it defines ``bench_workloads(profile)`` returning Workload objects (kind "network"),
    those are used as they are; otherwise its timing functions are wrapped here: the blocking
    receivers (``framed_recv``, ``python_struct_loop``, ``python_naive_loop``,
    ``raw_recv_into``) and, when present, the asyncio ones (``aio_read``, ``aio_protocol``,
    ``asyncio_readexactly``, ``asyncio_raw``), each over every transport in its ``FAMILIES``
    (loopback TCP, AF_UNIX): workloads ``network/length-prefix/<size>/<tcp|unix>[-asyncio]``.
    Each function times its own receiver (from the sender's start, connection set up, to
    the last frame) and raises unless every frame arrived with the right size. Absent
    module: no network section.
    """
    netbench = optional("pyframe.netbench")
    if netbench is None:
        return []
    hook = getattr(netbench, "bench_workloads", None)
    if hook is not None:
        return list(hook(profile))
    return _netbench_adapters(netbench, profile)


def _net(function_name: str, *args: Any, **kwargs: Any) -> Factory:
    def factory(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], Any]:
        import pyframe.netbench as netbench

        function = getattr(netbench, function_name)
        size, count = w.frame_size, inp.n_frames

        def run() -> tuple[int, float]:
            return count, function(size, count, *args, **kwargs)

        return run

    return factory


def _net_input(size: int, profile: Profile) -> Callable[[], Input]:
    def build() -> Input:
        wire = 4 + size
        # twice a decode stream: the section runs 4 transports (TCP, AF_UNIX; blocking,
        # asyncio), whose slowest per-frame receivers take ~3 us a frame at 16 B
        count = max(4 * profile.min_frames, 2 * profile.stream_bytes // wire)
        return Input(chunks=[], n_frames=count, checksum=0, stream_bytes=wire * count)

    return build


NET_NEEDED = ("framed_recv", "python_struct_loop", "python_naive_loop", "raw_recv_into")
NET_ASYNC = ("aio_read", "aio_protocol", "asyncio_readexactly", "asyncio_raw")


def _net_blocking(family: str, note: str) -> list[Contender]:
    kw = {"family": family}
    return [
        Contender(
            SUBJECT,
            "FramedSocket.recv() per frame, compiled framer",
            "subject",
            _net("framed_recv", "cython", **kw),
            self_timed=True,
            note=note,
        ),
        Contender(
            "pyframe-c iter",
            "iterating a FramedSocket, compiled framer",
            "variant",
            _net("framed_recv", "cython", "iter", **kw),
            self_timed=True,
            note=note,
        ),
        Contender(
            "pyframe-c batch",
            "FramedSocket.recv_many(), compiled framer",
            "variant",
            _net("framed_recv", "cython", "recv_many", **kw),
            self_timed=True,
            note=note,
        ),
        Contender(
            TWIN,
            "FramedSocket.recv() per frame, pure twin",
            "twin",
            _net("framed_recv", "python", **kw),
            self_timed=True,
            note=note,
        ),
        Contender(
            "struct",
            "recv(64 KiB) + struct.unpack_from + one del per chunk",
            "alternative",
            _net("python_struct_loop", **kw),
            self_timed=True,
            note=note,
        ),
        Contender(
            "naive",
            "recv exactly 4 header bytes, then exactly the payload",
            "alternative",
            _net("python_naive_loop", **kw),
            self_timed=True,
            note=note,
        ),
        Contender(
            "raw",
            "recv_into a fixed buffer, no framing (the ceiling)",
            "reference",
            _net("raw_recv_into", **kw),
            self_timed=True,
            note=note,
        ),
    ]


def _net_asyncio(family: str, note: str) -> list[Contender]:
    kw = {"family": family}
    return [
        Contender(
            SUBJECT,
            "pyframe.aio FrameReader.read_frame() per frame, compiled framer",
            "subject",
            _net("aio_read", "cython", **kw),
            self_timed=True,
            note=note,
        ),
        Contender(
            "pyframe-c batch",
            "pyframe.aio FrameReader.read_frames(), compiled framer",
            "variant",
            _net("aio_read", "cython", method="read_frames", **kw),
            self_timed=True,
            note=note,
        ),
        Contender(
            "pyframe-c protocol",
            "pyframe.aio FrameProtocol.frame_received callback, compiled framer",
            "variant",
            _net("aio_protocol", "cython", **kw),
            self_timed=True,
            note=note,
        ),
        Contender(
            TWIN,
            "pyframe.aio FrameReader.read_frame() per frame, pure twin",
            "twin",
            _net("aio_read", "python", **kw),
            self_timed=True,
            note=note,
        ),
        Contender(
            "asyncio",
            "asyncio StreamReader: readexactly(4) + struct.unpack + readexactly(n)",
            "alternative",
            _net("asyncio_readexactly", **kw),
            self_timed=True,
            note=note,
        ),
        Contender(
            "raw",
            "asyncio BufferedProtocol into a fixed buffer, no framing (the ceiling)",
            "reference",
            _net("asyncio_raw", **kw),
            self_timed=True,
            note=note,
        ),
    ]


def _netbench_adapters(netbench: ModuleType, profile: Profile) -> list[Workload]:
    if not all(hasattr(netbench, name) for name in NET_NEEDED):
        return []
    has_async = all(hasattr(netbench, name) for name in NET_ASYNC)
    families = getattr(netbench, "FAMILIES", ("tcp",))
    sizes = (16, 256) if profile.name in ("smoke", "quick") else (16, 256, 4 * KiB, 64 * KiB)
    note = "verified by pyframe.netbench (frame count and size)"
    where = {"tcp": "loopback TCP", "unix": "AF_UNIX"}
    out: list[Workload] = []
    for mode in ("blocking", "asyncio"):
        if mode == "asyncio" and not has_async:
            continue
        for family in families:
            if family == "unix" and not hasattr(socket, "AF_UNIX"):
                continue
            pattern = family if mode == "blocking" else f"{family}-asyncio"
            for size in sizes:
                contenders = (_net_blocking if mode == "blocking" else _net_asyncio)(family, note)
                out.append(
                    Workload(
                        name=f"network/length-prefix/{_short(size)}/{pattern}",
                        kind="network",
                        family="length-prefix",
                        frame_size=size,
                        pattern=pattern,
                        description=f"receive {size_label(size)} frames over {where[family]} "
                        f"({mode}), {FAMILIES['length-prefix'].title}",
                        contenders=contenders,
                        build=_net_input(size, profile),
                    )
                )
    return out


def network_status() -> str:
    """One line for the report header about the network section."""
    if optional("pyframe.netbench") is None:
        return "network workloads: pyframe.netbench absent (section skipped)"
    return "network workloads: from pyframe.netbench"


# -- decode contenders -----------------------------------------------------------------------


def _pyframe_decode(which: str) -> Factory:
    def factory(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
        mod = load_module(which)
        chunks = inp.chunks
        framer = FAMILIES[w.family].framer
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


def _decimal_loop(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    chunks = inp.chunks
    digits = _digits(w.frame_size)

    def run() -> int:
        buf = bytearray()
        n = 0
        for chunk in chunks:
            buf += chunk
            frames: list[Any] = []
            append = frames.append
            pos, end = 0, len(buf)
            while end - pos >= digits:
                body = pos + digits
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


def _memory_floor(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """Trap reference: append every chunk to a bytearray, nothing else. Its growth with
    the stream length is the memory system's (caches, page faults), not an algorithm's."""
    chunks = inp.chunks
    header = 4 if w.family == "length-prefix" else 0
    trailer = 1 if w.family == "newline" else 0

    def run() -> int:
        buf = bytearray()
        for chunk in chunks:
            buf += chunk
        if out is not None:
            out.append(bytes(buf[header : len(buf) - trailer]))
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


class _LoopRun:
    """A zero-argument callable running a coroutine in one event loop kept for all runs."""

    def __init__(self, make_coro: Callable[[], Coroutine[Any, Any, int]]) -> None:
        self.loop = asyncio.new_event_loop()
        self.make_coro = make_coro

    def __call__(self) -> int:
        return self.loop.run_until_complete(self.make_coro())

    def close(self) -> None:
        self.loop.close()


def _asyncio_decode(w: Workload, inp: Input, out: list[Any] | None = None) -> _LoopRun:
    chunks = inp.chunks
    family = w.family
    limit = max(64 * KiB, 2 * w.frame_size + 64)
    digits = _digits(w.frame_size)
    IncompleteReadError = asyncio.IncompleteReadError

    async def consume(reader: asyncio.StreamReader) -> int:
        n = 0
        try:
            if family == "length-prefix":
                readexactly = reader.readexactly
                while True:
                    header = await readexactly(4)
                    frame = await readexactly(int.from_bytes(header, "big"))
                    n += 1
                    if out is not None:
                        out.append(frame)
            elif family == "decimal":
                readexactly = reader.readexactly
                while True:
                    header = await readexactly(digits)
                    frame = await readexactly(int(header))
                    n += 1
                    if out is not None:
                        out.append(frame)
            else:
                readuntil = reader.readuntil
                while True:
                    frame = (await readuntil(b"\n"))[:-1]
                    n += 1
                    if out is not None:
                        out.append(frame)
        except IncompleteReadError as exc:
            if exc.partial:
                raise
        return n

    async def main() -> int:
        reader = asyncio.StreamReader(limit=limit)
        task = asyncio.ensure_future(consume(reader))
        feed, sleep = reader.feed_data, asyncio.sleep
        for chunk in chunks:
            feed(chunk)  # what the transport's data_received does
            await sleep(0)  # one event-loop turn per chunk, as with a socket
        reader.feed_eof()
        return await task

    return _LoopRun(main)


def _twisted_decode(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    # Twisted is an optional contender, typed as Any here (imported by name: whether it is
    # installed, and how typed, does not change what a type checker sees).
    StringTransport = importlib.import_module("twisted.internet.testing").StringTransport
    basic: Any = importlib.import_module("twisted.protocols.basic")

    chunks = inp.chunks
    limit = _limit(w.frame_size)

    if w.family == "length-prefix":
        if out is None:

            class Receiver(basic.Int32StringReceiver):  # type: ignore[misc]
                MAX_LENGTH = limit
                n = 0

                def stringReceived(self, string: bytes) -> None:
                    self.n += 1
        else:

            class Receiver(basic.Int32StringReceiver):  # type: ignore[misc, no-redef]
                MAX_LENGTH = limit
                n = 0

                def stringReceived(self, string: bytes) -> None:
                    self.n += 1
                    out.append(string)  # type: ignore[union-attr]  # (not None here)
    else:
        if out is None:

            class Receiver(basic.LineOnlyReceiver):  # type: ignore[misc, no-redef]
                MAX_LENGTH = limit
                delimiter = b"\n"
                n = 0

                def lineReceived(self, line: bytes) -> None:
                    self.n += 1
        else:

            class Receiver(basic.LineOnlyReceiver):  # type: ignore[misc, no-redef]
                MAX_LENGTH = limit
                delimiter = b"\n"
                n = 0

                def lineReceived(self, line: bytes) -> None:
                    self.n += 1
                    out.append(line)  # type: ignore[union-attr]  # (not None here)

    def run() -> int:
        protocol = Receiver()
        protocol.makeConnection(StringTransport())
        data_received = protocol.dataReceived
        for chunk in chunks:
            data_received(chunk)
        return protocol.n

    return run


def _msgpack_decode(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    msgpack = importlib.import_module("msgpack")  # optional contender (untyped)

    chunks, _ = inp.alt["msgpack"]
    limit = max(100 * MiB, 4 * w.frame_size)

    def run() -> int:
        unpacker = msgpack.Unpacker(max_buffer_size=limit)
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


def _decode_contenders(family: str) -> list[Contender]:
    subject = [
        Contender(SUBJECT, "pyframe compiled (Cython)", "subject", _pyframe_decode("c")),
        Contender(TWIN, "pyframe pure-Python twin", "twin", _pyframe_decode("py")),
    ]
    if family == "length-prefix":
        return subject + [
            Contender(
                "struct",
                "struct.unpack_from + offsets, one compaction per chunk",
                "alternative",
                _struct_loop,
            ),
            Contender(
                "asyncio", "asyncio StreamReader.readexactly", "alternative", _asyncio_decode
            ),
            Contender(
                "twisted",
                "Twisted Int32StringReceiver",
                "alternative",
                _twisted_decode,
                requires="twisted",
            ),
            Contender(
                "msgpack",
                "msgpack.Unpacker.feed (bin objects)",
                "alternative",
                _msgpack_decode,
                requires="msgpack",
                wire="msgpack",
                note="reads msgpack bin objects (1-5 byte header), not the 4-byte prefix",
            ),
        ]
    if family == "newline":
        return subject + [
            Contender("split", "(tail + chunk).split(b'\\n')", "alternative", _split_idiom),
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
    if family == "decimal":
        return subject + [
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
    raise ValueError(family)


# -- encode contenders -----------------------------------------------------------------------


def _pyframe_encode(which: str, many: bool = False) -> Factory:
    def factory(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
        mod = load_module(which)
        payloads = cast("list[bytes]", inp.payloads)  # an encode workload's
        framer = FAMILIES[w.family].framer
        size = w.frame_size
        if many:

            def run() -> int:
                wire = framer(mod, size).encode_many(payloads)
                if out is not None:
                    out.append(wire)
                return len(payloads)
        else:

            def run() -> int:
                encode = framer(mod, size).encode
                wires = [encode(p) for p in payloads]
                if out is not None:
                    out.extend(wires)
                return len(wires)

        return run

    return factory


def _encode_with(make_encode: Callable[[Workload], Callable[[bytes], bytes]]) -> Factory:
    def factory(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
        payloads = cast("list[bytes]", inp.payloads)  # an encode workload's
        encode = make_encode(w)

        def run() -> int:
            wires = [encode(p) for p in payloads]
            if out is not None:
                out.extend(wires)
            return len(wires)

        return run

    return factory


def _msgpack_encoder(w: Workload | None) -> Callable[[bytes], bytes]:
    msgpack = importlib.import_module("msgpack")  # optional contender (untyped)

    pack: Callable[[bytes], bytes] = msgpack.Packer(use_bin_type=True).pack
    return pack


def _encode_contenders(family: str) -> list[Contender]:
    contenders = [
        Contender(
            SUBJECT, "pyframe compiled: encode() per payload", "subject", _pyframe_encode("c")
        ),
        Contender(
            "pyframe-c many",
            "pyframe compiled: encode_many(payloads)",
            "variant",
            _pyframe_encode("c", many=True),
        ),
        Contender(TWIN, "pyframe pure twin: encode() per payload", "twin", _pyframe_encode("py")),
    ]
    if family == "length-prefix":
        contenders += [
            Contender(
                "struct",
                "struct.pack('>I', len(p)) + p",
                "alternative",
                _encode_with(lambda w: FAMILIES["length-prefix"].header(w.frame_size)),
            ),
            Contender(
                "msgpack",
                "msgpack.Packer().pack(p) (bin object)",
                "alternative",
                _encode_with(_msgpack_encoder),
                requires="msgpack",
                wire="msgpack",
            ),
        ]
    elif family == "newline":
        contenders += [
            Contender(
                "concat",
                "p + b'\\n' (no check that p holds no newline)",
                "alternative",
                _encode_with(lambda w: lambda p: p + b"\n"),
            ),
        ]
    elif family == "decimal":
        contenders += [
            Contender(
                "%-format",
                "b'%04d' % len(p) + p",
                "alternative",
                _encode_with(lambda w: FAMILIES["decimal"].header(w.frame_size)),
            ),
        ]
    return contenders


# -- verification ----------------------------------------------------------------------------


class VerificationError(AssertionError):
    pass


def _decode_wire(w: Workload, contender: Contender, wire: bytes) -> list[Any]:
    """Decode an encoder's output with the reference decoder of its wire format."""
    if contender.wire == "msgpack":
        msgpack = importlib.import_module("msgpack")  # optional contender (untyped)

        unpacker = msgpack.Unpacker(max_buffer_size=max(100 * MiB, 2 * len(wire)))
        unpacker.feed(wire)
        return list(unpacker)
    framer = FAMILIES[w.family].framer(load_module("py"), w.frame_size)
    frames: list[bytes] = framer.feed(wire) + framer.eof()
    return frames


def verify(w: Workload, contender: Contender, inp: Input) -> None:
    """Run ``contender`` once in collecting mode; VerificationError unless it produced the
    expected frames (count and checksum). Self-timed (network) contenders check their
    frames themselves and raise on a mismatch; here their count is checked."""
    if contender.self_timed:
        count, _ = contender.factory(w, inp, None)()
        if count != inp.n_frames:
            raise VerificationError(
                f"{contender.name} on {w.name}: expected {inp.n_frames} frames, got {count}"
            )
        return
    out: list[Any] = []
    run = contender.factory(w, inp, out)
    try:
        count = run()
    finally:
        close = getattr(run, "close", None)
        if close is not None:
            close()
    frames = _decode_wire(w, contender, b"".join(out)) if w.kind == "encode" else out
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
    if contender.wire == "msgpack" and inp.payloads is not None:
        pack = _msgpack_encoder(None)
        return sum(len(pack(p)) for p in inp.payloads)
    return inp.stream_bytes


def select(workloads: Iterable[Workload], patterns: Sequence[str]) -> list[Workload]:
    """Workloads whose name contains any of ``patterns`` (or matches it as a glob)."""
    import fnmatch

    if not patterns:
        return list(workloads)
    return [
        w for w in workloads if any(p in w.name or fnmatch.fnmatchcase(w.name, p) for p in patterns)
    ]
