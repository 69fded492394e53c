"""The catalogue: every workload of a profile, in report order, with its contenders.

Names are ``kind/framing/size[/pattern]``: ``decode/length-prefix/16B/64k``,
``network/newline/16B/tcp-uvloop``, ``send/length-prefix/batch/1K/tcp``, ... (``pyframe
bench --list`` prints them; ``--filter`` selects by substring or glob).
"""

from __future__ import annotations

import os
import socket
from typing import Any, Callable, Optional

from . import decode, encode, netanyio, netasync, netblocking, netdrive
from .core import (
    FRAMINGS,
    PATTERN_TITLES,
    PROFILES,
    RAW,
    SUBJECT,
    TWIN,
    Contender,
    Factory,
    Input,
    KiB,
    MiB,
    Profile,
    Workload,
    cut,
    frame_checksum,
    optional,
    payloads,
    short,
    size_label,
    stream,
)

PAIRS = {"smoke": 2_000, "quick": 50_000, "full": 200_000}  # get_buffer pairs per run


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
        if family == "decimal":  # the other length headers, against their users' tools
            for other in ("netstring", "varint", "cobs", "slip"):
                # (COBS and SLIP also with bigger frames: their byte loop, not the calls)
                more = (4 * KiB,) if FRAMINGS[other].transformed else ()
                for size in (profile.frame_sizes[0], 256, *more):
                    out.append(_decode(other, size, "64k", profile))
            for size in (profile.frame_sizes[0], 256, 4 * KiB):  # head and tail marks
                out.append(_decode("markers", size, "64k", profile))
        if family == "length-prefix":
            for size in profile.big_frame_sizes:
                out.append(_decode(family, size, "64k", profile, large=True))
        small = sizes[family][0]
        out.append(_decode(family, small, "trickle", profile))
        out.append(_decode(family, 256 if 256 in sizes[family] else small, "random", profile))
    out += _encode_workloads(profile)
    out += [_trap(family, profile) for family in ("length-prefix", "newline")]
    out += network_workloads(profile)
    out += send_workloads(profile)
    return out


# -- decode ------------------------------------------------------------------------------------


def _decode(
    family: str, size: int, pattern: str, profile: Profile, large: bool = False
) -> Workload:
    return Workload(
        name=f"decode/{family}/{short(size)}/{pattern}",
        kind="decode",
        family=family,
        frame_size=size,
        pattern=pattern,
        description=f"decode {size_label(size)} frames, {FRAMINGS[family].title}, "
        f"{PATTERN_TITLES[pattern]}",
        contenders=decode.contenders(family, size, large=large),
        build=_decode_input(family, size, pattern, profile),
    )


def _alt_wires(family: str, items: list[bytes]) -> dict[str, bytes]:
    """Other wire formats carrying the same payloads (msgpack bin objects)."""
    msgpack = optional("msgpack")
    if family == "length-prefix" and msgpack is not None:
        pack = msgpack.Packer(use_bin_type=True).pack
        return {"msgpack": b"".join([pack(p) for p in items])}
    if family == "varint":  # the same payloads behind a 4-byte length prefix
        return {"length-prefix": stream("length-prefix", len(items[0]), items)[0]}
    if FRAMINGS[family].transformed:  # the payloads end to end, for the floor
        return {"plain": b"".join(items)}
    return {}


def _decode_input(family: str, size: int, pattern: str, profile: Profile) -> Callable[[], Input]:
    def build() -> Input:
        fam = FRAMINGS[family]
        target = profile.trickle_bytes if pattern == "trickle" else profile.stream_bytes
        wire_size = fam.head(size) + size + fam.trailer  # (COBS, SLIP: about that)
        minimum = 2 if size >= 4 * MiB else profile.min_frames if pattern != "trickle" else 1
        count = max(minimum, target // wire_size)
        items = payloads(size, count, fam.text, seed=size)
        wire, spans = stream(family, size, items)
        alt = {
            key: (cut(data, pattern), len(data)) for key, data in _alt_wires(family, items).items()
        }
        return Input(
            chunks=cut(wire, pattern),
            n_frames=count,
            checksum=frame_checksum(items),
            stream_bytes=len(wire),
            alt=alt,
            spans=spans,
        )

    return build


def _trap(family: str, profile: Profile) -> Workload:
    cache: dict[str, bytes] = {}

    def build(length: int) -> Input:
        fam = FRAMINGS[family]
        if "block" not in cache or len(cache["block"]) < length:
            cache["block"] = payloads(length, 1, fam.text, seed=7)[0]
        payload = cache["block"][:length]
        wire, spans = stream(family, length, [payload])
        alt = {
            key: (cut(data, "4k"), len(data)) for key, data in _alt_wires(family, [payload]).items()
        }
        return Input(
            chunks=cut(wire, "4k"),
            n_frames=1,
            checksum=frame_checksum([payload]),
            stream_bytes=len(wire),
            alt=alt,
            spans=spans,
        )

    return Workload(
        name=f"trap/{family}",
        kind="trap",
        family=family,
        frame_size=profile.trap_sizes[-1],
        pattern="4k",
        description=f"one huge frame in 4 KiB pieces, {FRAMINGS[family].title}: "
        "time vs stream length",
        contenders=decode.trap_contenders(family),
        build=build,
        sizes=profile.trap_sizes,
    )


# -- encode ------------------------------------------------------------------------------------


def _encode_input(family: str, size: int, count: int, batch: int = 0) -> Callable[[], Input]:
    def build() -> Input:
        fam = FRAMINGS[family]
        items = payloads(size, count, fam.text, seed=size)
        wire, _ = stream(family, size, items)
        alt: dict[str, tuple[list[bytes], int]] = {
            key: ([], len(data)) for key, data in _alt_wires(family, items).items()
        }
        return Input(
            chunks=[],
            n_frames=len(items),
            checksum=frame_checksum(items),
            stream_bytes=len(wire),
            payloads=items,
            alt=alt,
            batch=batch,
        )

    return build


def _encode_workloads(profile: Profile) -> list[Workload]:
    out = []
    for family in ("length-prefix", "newline", "decimal"):
        if family == "decimal" and profile.name == "quick":
            continue
        for size in profile.encode_sizes:
            out.append(
                Workload(
                    name=f"encode/{family}/{short(size)}",
                    kind="encode",
                    family=family,
                    frame_size=size,
                    pattern="-",
                    description=f"encode {size_label(size)} payloads one by one, "
                    f"{FRAMINGS[family].title}",
                    contenders=encode.contenders(family),
                    build=_encode_input(family, size, profile.encode_frames),
                )
            )
    out.append(
        Workload(
            name="encode/length-prefix/header",
            kind="encode",
            family="length-prefix",
            frame_size=KiB,
            pattern="-",
            description="make the header of a 1 KiB payload (the payload is sent as it is)",
            contenders=encode.header_contenders(),
            build=_encode_input("length-prefix", KiB, profile.encode_frames),
            unit="header",
        )
    )
    for size, batch in ((KiB, 64), (MiB, 4)):
        count = max(batch, 2 * profile.stream_bytes // size)
        count -= count % batch
        out.append(
            Workload(
                name=f"encode/length-prefix/batch/{short(size)}",
                kind="encode",
                family="length-prefix",
                frame_size=size,
                pattern="-",
                description=f"encode batches of {batch} payloads of {size_label(size)} into "
                "one buffer each",
                contenders=encode.batch_contenders(),
                build=_encode_input("length-prefix", size, count, batch),
            )
        )
    pairs = PAIRS.get(profile.name, PAIRS["quick"])
    out.append(
        Workload(
            name="micro/get_buffer+buffer_updated",
            kind="micro",
            family="length-prefix",
            frame_size=0,
            pattern="-",
            description="one get_buffer() + buffer_updated() pair (what asyncio calls per receive)",
            contenders=encode.pair_contenders(),
            build=lambda: Input(chunks=[], n_frames=pairs, checksum=0, stream_bytes=0),
            unit="pair",
        )
    )
    return out


# -- network: receiving ------------------------------------------------------------------------


def _net(make: Callable[[Workload, Input], netdrive.Receiver]) -> Factory:
    def factory(w: Workload, inp: Input, out: Optional[list[Any]] = None) -> Callable[[], Any]:
        receive = make(w, inp)
        wire = inp.chunks[0]
        transport = w.pattern.split("-")[0]

        def run() -> tuple[int, float]:
            return netdrive.receive_run(wire, transport, receive, inp.n_frames, out)

        return run

    return factory


def _row(
    name: str,
    label: str,
    role: str,
    make: Callable[[Workload, Input], netdrive.Receiver],
    requires: Optional[str] = None,
    keeps_delimiter: bool = False,
) -> Contender:
    frameless = name == RAW
    return Contender(
        name,
        label,
        role,
        _net(make),
        requires=requires,
        self_timed=True,
        keeps_delimiter=keeps_delimiter,
        frameless=frameless,
        note="lines keep their b'\\n'" if keeps_delimiter else "",
    )


def _blocking(family: str) -> list[Contender]:
    def framed(impl: str, method: str) -> Callable[[Workload, Input], netdrive.Receiver]:
        return lambda w, inp: netblocking.framed(impl, method, w.family, w.frame_size)

    rows = [
        _row(
            SUBJECT,
            "FramedSocket.recv_many(), compiled framer",
            "subject",
            framed("c", "recv_many"),
        ),
        _row(
            "pyframe-c recv",
            "FramedSocket.recv() per frame, compiled framer",
            "variant",
            framed("c", "recv"),
        ),
        _row(
            "pyframe-c iter",
            "iterating a FramedSocket, compiled framer",
            "variant",
            framed("c", "iter"),
        ),
        _row(TWIN, "FramedSocket.recv_many(), pure twin", "twin", framed("py", "recv_many")),
    ]
    fixed = netblocking.RECEIVERS
    if family == "length-prefix":
        rows += [
            _row(
                "struct",
                "recv(64 KiB) + struct.unpack_from + one del per chunk",
                "alternative",
                lambda w, inp: fixed["struct"],
            ),
            _row(
                "makefile",
                "sock.makefile('rb'): read(4) + struct.unpack + read(n)",
                "alternative",
                lambda w, inp: fixed["makefile"],
            ),
            _row(
                "naive",
                "recv exactly 4 header bytes, then exactly the payload",
                "alternative",
                lambda w, inp: fixed["naive"],
            ),
        ]
    else:
        rows += [
            _row(
                "split",
                "(tail + sock.recv(256 KiB)).split(b'\\n')",
                "alternative",
                lambda w, inp: fixed["split"],
            ),
            _row(
                "makefile readline",
                "sock.makefile('rb').readline()",
                "alternative",
                lambda w, inp: fixed["makefile readline"],
                keeps_delimiter=True,
            ),
        ]
    return rows + [
        _row(
            RAW,
            "recv_into a fixed 64 KiB buffer, no framing (the ceiling)",
            "reference",
            lambda w, inp: netblocking.raw_recv_into(inp.stream_bytes),
        )
    ]


def _evented(family: str, loop: str) -> list[Contender]:
    need = "uvloop" if loop == "uvloop" else None

    def run(
        make: Callable[[Workload], netdrive.AsyncReceiver],
    ) -> Callable[[Workload, Input], netdrive.Receiver]:
        return lambda w, inp: netdrive.in_loop(loop, make(w))

    rows = [
        _row(
            SUBJECT,
            "pyframe.aio FrameReader.read_frames(), compiled framer",
            "subject",
            run(lambda w: netasync.reader("c", "read_frames", w.family, w.frame_size)),
            need,
        ),
        _row(
            "pyframe-c read_frame",
            "pyframe.aio FrameReader.read_frame() per frame, compiled framer",
            "variant",
            run(lambda w: netasync.reader("c", "read_frame", w.family, w.frame_size)),
            need,
        ),
        _row(
            "pyframe-c protocol",
            "a pyframe.aio.FrameProtocol subclass (callbacks), compiled framer",
            "variant",
            run(lambda w: netasync.frame_protocol("c", w.family, w.frame_size)),
            need,
        ),
        _row(
            TWIN,
            "pyframe.aio FrameReader.read_frames(), pure twin",
            "twin",
            run(lambda w: netasync.reader("py", "read_frames", w.family, w.frame_size)),
            need,
        ),
        _row(
            "Protocol+struct" if family == "length-prefix" else "Protocol+split",
            "a hand-written asyncio.Protocol: "
            + (
                "bytearray + struct.unpack_from loop"
                if family == "length-prefix"
                else "(tail + data).split(b'\\n')"
            ),
            "alternative",
            run(lambda w: netasync.hand_protocol(w.family)),
            need,
        ),
        _row(
            "StreamReader",
            "asyncio StreamReader: "
            + (
                "readexactly(4) + struct.unpack + readexactly(n)"
                if family == "length-prefix"
                else "readuntil(b'\\n')"
            ),
            "alternative",
            run(lambda w: netasync.stream_reader(w.family, w.frame_size)),
            need,
        ),
        _row(
            "anyio",
            "anyio BufferedByteReceiveStream: "
            + (
                "receive_exactly(4) + receive_exactly(n)"
                if family == "length-prefix"
                else "receive_until(b'\\n', limit)"
            ),
            "alternative",
            lambda w, inp: netdrive.in_anyio(loop, netasync.anyio_buffered(w.family, w.frame_size)),
            "anyio" + ("+uvloop" if need else ""),
        ),
        _row(
            RAW,
            "asyncio.BufferedProtocol into a fixed buffer, no framing (the ceiling)",
            "reference",
            lambda w, inp: netdrive.in_loop(loop, netasync.raw(inp.stream_bytes)),
            need,
        ),
    ]
    return rows


def _anyio(family: str, backend: str) -> list[Contender]:
    """pyframe.anyio's FramedStream against BufferedByteReceiveStream, on one anyio backend."""
    need = "anyio" + ("+trio" if backend == "trio" else "")

    def run(
        make: Callable[[Workload], netdrive.AsyncReceiver],
    ) -> Callable[[Workload, Input], netdrive.Receiver]:
        return lambda w, inp: netanyio.in_backend(backend, make(w))

    return [
        _row(
            SUBJECT,
            "pyframe.anyio FramedStream.receive_many(), compiled framer",
            "subject",
            run(lambda w: netanyio.framed("c", "receive_many", w.family, w.frame_size)),
            need,
        ),
        _row(
            "pyframe-c receive",
            "pyframe.anyio FramedStream.receive() per frame, compiled framer",
            "variant",
            run(lambda w: netanyio.framed("c", "receive", w.family, w.frame_size)),
            need,
        ),
        _row(
            TWIN,
            "pyframe.anyio FramedStream.receive_many(), pure twin",
            "twin",
            run(lambda w: netanyio.framed("py", "receive_many", w.family, w.frame_size)),
            need,
        ),
        _row(
            "anyio",
            "anyio BufferedByteReceiveStream: "
            + (
                "receive_exactly(4) + receive_exactly(n)"
                if family == "length-prefix"
                else "receive_until(b'\\n', limit)"
            ),
            "alternative",
            run(lambda w: netasync.anyio_buffered(w.family, w.frame_size)),
            need,
        ),
        _row(
            RAW,
            "anyio SocketStream.receive(64 KiB), no framing (the ceiling)",
            "reference",
            lambda w, inp: netanyio.in_backend(backend, netanyio.raw(inp.stream_bytes)),
            need,
        ),
    ]


def _net_input(family: str, size: int, total: int, minimum: int) -> Callable[[], Input]:
    def build() -> Input:
        fam = FRAMINGS[family]
        count = max(minimum, total // (fam.head(size) + size + fam.trailer))
        items = payloads(size, count, fam.text, seed=size)
        wire, _ = stream(family, size, items)
        return Input(
            chunks=[wire], n_frames=count, checksum=frame_checksum(items), stream_bytes=len(wire)
        )

    return build


def network_workloads(profile: Profile) -> list[Workload]:
    """Receiving over loopback TCP (and AF_UNIX in the full run): blocking, then asyncio and
    uvloop, then anyio on its asyncio and trio backends."""
    out: list[Workload] = []
    transports = ["tcp"] + (["unix"] if profile.unix and hasattr(socket, "AF_UNIX") else [])

    def add(family: str, size: int, pattern: str, contenders: list[Contender], mode: str) -> None:
        where = "loopback TCP" if pattern.startswith("tcp") else "AF_UNIX"
        out.append(
            Workload(
                name=f"network/{family}/{short(size)}/{pattern}",
                kind="network",
                family=family,
                frame_size=size,
                pattern=pattern,
                description=f"receive {size_label(size)} frames over {where} ({mode}), "
                f"{FRAMINGS[family].title}",
                contenders=contenders,
                build=_net_input(family, size, profile.net_bytes, 4 * profile.min_frames),
            )
        )

    for transport in transports:
        for size in profile.net_sizes:
            add("length-prefix", size, transport, _blocking("length-prefix"), "blocking")
        if transport == "tcp":
            for size in profile.net_sizes[:2]:
                add("newline", size, transport, _blocking("newline"), "blocking")
    small = profile.net_sizes[:1] if profile.name == "quick" else profile.net_sizes[:2]
    for loop in ("asyncio", "uvloop"):
        for family in ("length-prefix", "newline"):
            for size in small:
                add(family, size, f"tcp-{loop}", _evented(family, loop), loop)
    for backend in netanyio.BACKENDS:
        for family in ("length-prefix", "newline"):
            for size in small:
                rows = _anyio(family, backend)
                add(family, size, f"tcp-anyio-{backend}", rows, f"anyio, {backend} backend")
    return out


# -- network: sending --------------------------------------------------------------------------


def send_workloads(profile: Profile) -> list[Workload]:
    out = []
    # The drain is a thread of the sender's process (as in a program that sends and
    # receives on threads), and for the small sizes also another process: there the
    # sender's GIL is nobody else's, and the rows show what the system call costs alone.
    for size, pattern in (
        (16, "tcp"),
        (256, "tcp"),
        (KiB, "tcp"),
        *(((16, "tcp-process"), (KiB, "tcp-process")) if os.name == "posix" else ()),
    ):
        count = max(64, profile.send_bytes // size)
        out.append(
            Workload(
                name=f"send/length-prefix/{short(size)}/{pattern}",
                kind="send",
                family="length-prefix",
                frame_size=size,
                pattern=pattern,
                description=f"send {size_label(size)} frames one by one over "
                f"{PATTERN_TITLES[pattern]}",
                contenders=encode.send_contenders(many=False),
                build=_encode_input("length-prefix", size, count),
            )
        )
    for size in (16, KiB):
        batch = 128
        count = max(batch, profile.send_bytes // size)
        count -= count % batch
        out.append(
            Workload(
                name=f"send/length-prefix/batch/{short(size)}/tcp",
                kind="send",
                family="length-prefix",
                frame_size=size,
                pattern="tcp",
                description=f"send {size_label(size)} frames in batches of {batch} over "
                "loopback TCP",
                contenders=encode.send_contenders(many=True),
                build=_encode_input("length-prefix", size, count, batch),
            )
        )
    return out
