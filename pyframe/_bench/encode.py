"""Encode and send contenders: payloads into a wire, and frames onto a socket.

Encoding: pyframe's ``encode()`` per payload, ``encode_many()``, ``encode_parts()`` against
``struct.pack(">I", len(p)) + p``, ``b"".join`` of header and payload pieces, the newline
and decimal equivalents and msgpack's ``Packer``. Sending (loopback TCP, a drain thread on
the far side): ``FramedSocket.send()`` / ``send_many()`` against
``sock.sendall(framer.encode(p))`` / ``sock.sendall(framer.encode_many(batch))``. Also the
``get_buffer()`` + ``buffer_updated()`` pair, the cost asyncio pays per receive.

Called with a list ``out``, an encoder collects the wire pieces it made and a sender the
bytes the far side received: :func:`~.core.verify` decodes them with the reference decoder.
"""

from __future__ import annotations

import importlib
import socket
import struct
from typing import Any, Callable, cast

from . import netdrive
from .core import (
    FRAMINGS,
    SUBJECT,
    TWIN,
    Contender,
    Factory,
    Input,
    Workload,
    load_module,
)

_pack = struct.Struct(">I").pack


def _payloads(inp: Input) -> list[bytes]:
    return cast("list[bytes]", inp.payloads)  # an encode or send workload's


def _batches(inp: Input) -> list[list[bytes]]:
    items = _payloads(inp)
    size = inp.batch or len(items)
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- encoding ----------------------------------------------------------------------------------


def pyframe_encode(which: str, method: str = "encode") -> Factory:
    """pyframe's ``encode()`` per payload, ``encode_many()`` per batch, or ``encode_parts()``
    per payload (header and trailer; the payload itself is not copied)."""

    def factory(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
        framer = FRAMINGS[w.family].make(load_module(which), w.frame_size)
        items = _payloads(inp)
        if method == "encode_many":
            batches = _batches(inp)
            encode_many = framer.encode_many

            def run() -> int:
                wires = [encode_many(batch) for batch in batches]
                if out is not None:
                    out.extend(wires)
                return len(items)

        elif method == "encode_parts":
            encode_parts = framer.encode_parts

            def run() -> int:
                parts = [encode_parts(p) for p in items]
                if out is not None:
                    for (header, trailer), p in zip(parts, items):
                        out.extend((header, p, trailer))
                return len(parts)

        else:
            encode = framer.encode

            def run() -> int:
                wires = [encode(p) for p in items]
                if out is not None:
                    out.extend(wires)
                return len(wires)

        return run

    return factory


def _per_payload(make: Callable[[Workload], Callable[[bytes], bytes]]) -> Factory:
    def factory(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
        items = _payloads(inp)
        encode = make(w)

        def run() -> int:
            wires = [encode(p) for p in items]
            if out is not None:
                out.extend(wires)
            return len(wires)

        return run

    return factory


def _struct_header(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """``struct.pack(">I", len(p))`` per payload: a header, as encode_parts() makes one."""
    items = _payloads(inp)
    pack = struct.pack

    def run() -> int:
        headers = [pack(">I", len(p)) for p in items]
        if out is not None:
            for header, p in zip(headers, items):
                out.extend((header, p))
        return len(headers)

    return run


def _join(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """``b"".join(parts)``: a header and the payload per item, one join per batch."""
    batches = _batches(inp)
    count = len(_payloads(inp))

    def run() -> int:
        wires = []
        for batch in batches:
            parts: list[bytes] = []
            append = parts.append
            for p in batch:
                append(_pack(len(p)))
                append(p)
            wires.append(b"".join(parts))
        if out is not None:
            out.extend(wires)
        return count

    return run


def _msgpack_encoder(w: Workload) -> Callable[[bytes], bytes]:
    msgpack = importlib.import_module("msgpack")  # optional contender (untyped)
    pack: Callable[[bytes], bytes] = msgpack.Packer(use_bin_type=True).pack
    return pack


def contenders(family: str) -> list[Contender]:
    """encode() per payload: pyframe's rows, then the hand-written encoders."""
    rows = [
        Contender(
            SUBJECT, "pyframe compiled: encode() per payload", "subject", pyframe_encode("c")
        ),
        Contender(TWIN, "pyframe pure twin: encode() per payload", "twin", pyframe_encode("py")),
    ]
    if family == "length-prefix":
        return rows + [
            Contender(
                "struct",
                "struct.pack('>I', len(p)) + p",
                "alternative",
                _per_payload(lambda w: FRAMINGS["length-prefix"].encoder(w.frame_size)),
            ),
            Contender(
                "msgpack",
                "msgpack.Packer().pack(p) (bin object)",
                "alternative",
                _per_payload(_msgpack_encoder),
                requires="msgpack",
                wire="msgpack",
            ),
        ]
    if family == "newline":
        return rows + [
            Contender(
                "concat",
                "p + b'\\n' (no check that p holds no newline)",
                "alternative",
                _per_payload(lambda w: FRAMINGS["newline"].encoder(w.frame_size)),
            )
        ]
    return rows + [
        Contender(
            "%-format",
            "b'%04d' % len(p) + p",
            "alternative",
            _per_payload(lambda w: FRAMINGS["decimal"].encoder(w.frame_size)),
        )
    ]


def header_contenders() -> list[Contender]:
    """encode_parts() against struct.pack: the header alone, the payload left uncopied."""
    return [
        Contender(
            SUBJECT,
            "pyframe compiled: encode_parts(p) -> (header, trailer)",
            "subject",
            pyframe_encode("c", "encode_parts"),
        ),
        Contender(
            TWIN, "pyframe pure twin: encode_parts(p)", "twin", pyframe_encode("py", "encode_parts")
        ),
        Contender("struct.pack", "struct.pack('>I', len(p))", "alternative", _struct_header),
    ]


def batch_contenders() -> list[Contender]:
    """encode_many() against b"".join of headers and payloads."""
    return [
        Contender(
            SUBJECT,
            "pyframe compiled: encode_many(batch)",
            "subject",
            pyframe_encode("c", "encode_many"),
        ),
        Contender(
            TWIN,
            "pyframe pure twin: encode_many(batch)",
            "twin",
            pyframe_encode("py", "encode_many"),
        ),
        Contender(
            "join",
            "b''.join(parts): struct.pack('>I', len(p)) and p per payload",
            "alternative",
            _join,
        ),
    ]


# -- the get_buffer() + buffer_updated() pair ------------------------------------------------


def _pair(which: str) -> Factory:
    def factory(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
        framer = FRAMINGS[w.family].make(load_module(which), w.frame_size)
        get_buffer, buffer_updated = framer.get_buffer, framer.buffer_updated
        rounds = range(inp.n_frames)

        def run() -> int:
            for _ in rounds:
                get_buffer(65536)
                buffer_updated(0)
            return inp.n_frames

        return run

    return factory


def pair_contenders() -> list[Contender]:
    return [
        Contender(
            SUBJECT,
            "pyframe compiled: get_buffer(65536) then buffer_updated(0)",
            "subject",
            _pair("c"),
            frameless=True,
        ),
        Contender(TWIN, "pyframe pure twin: the same pair", "twin", _pair("py"), frameless=True),
    ]


# -- sending -----------------------------------------------------------------------------------


def _sender(make_send: Callable[[Workload, Input], Callable[[socket.socket], None]]) -> Factory:
    def factory(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], Any]:
        send = make_send(w, inp)
        count = inp.n_frames

        def run() -> tuple[int, float]:
            return count, netdrive.send_run(w.pattern, send, inp.stream_bytes, out)

        return run

    return factory


def _framed_send(many: bool) -> Callable[[Workload, Input], Callable[[socket.socket], None]]:
    from ..sockets import FramedSocket

    def make(w: Workload, inp: Input) -> Callable[[socket.socket], None]:
        mod = load_module("c")
        items, batches = _payloads(inp), _batches(inp)

        def send(sock: socket.socket) -> None:
            conn = FramedSocket(sock, FRAMINGS[w.family].make(mod, w.frame_size))
            if many:
                send_many = conn.send_many
                for batch in batches:
                    send_many(batch)
            else:
                send_one = conn.send
                for p in items:
                    send_one(p)

        return send

    return make


def _sendall(many: bool) -> Callable[[Workload, Input], Callable[[socket.socket], None]]:
    def make(w: Workload, inp: Input) -> Callable[[socket.socket], None]:
        framer = FRAMINGS[w.family].make(load_module("c"), w.frame_size)
        items, batches = _payloads(inp), _batches(inp)

        def send(sock: socket.socket) -> None:
            sendall = sock.sendall
            if many:
                encode_many = framer.encode_many
                for batch in batches:
                    sendall(encode_many(batch))
            else:
                encode = framer.encode
                for p in items:
                    sendall(encode(p))

        return send

    return make


def send_contenders(many: bool) -> list[Contender]:
    """FramedSocket.send()/send_many() against sendall() of what the framer encodes."""
    if many:
        return [
            Contender(
                SUBJECT,
                "FramedSocket.send_many(batch), compiled framer",
                "subject",
                _sender(_framed_send(True)),
                self_timed=True,
            ),
            Contender(
                "sendall(encode_many)",
                "sock.sendall(framer.encode_many(batch))",
                "alternative",
                _sender(_sendall(True)),
                self_timed=True,
            ),
        ]
    return [
        Contender(
            SUBJECT,
            "FramedSocket.send(p) per payload, compiled framer",
            "subject",
            _sender(_framed_send(False)),
            self_timed=True,
        ),
        Contender(
            "sendall(encode)",
            "sock.sendall(framer.encode(p)) per payload",
            "alternative",
            _sender(_sendall(False)),
            self_timed=True,
        ),
    ]
