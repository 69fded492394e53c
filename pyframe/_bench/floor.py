"""The floor of decoding, as a contender: :mod:`pyframe._bench._floor` run on a plan.

The plan says, chunk by chunk, where each frame's payload lies (worked out here, before any
timing, from where the workload put the payloads); the compiled loop then makes one
``bytes`` object per frame and one list per chunk and copies each payload byte once,
without looking at a single header or delimiter. Every decode row reports pyframe's speed
as a percentage of this loop's.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any, Callable

from .core import Contender, Input, Workload, load_floor

_WHOLE, _OPENS, _CLOSES = 3, 1, 2


def plan(chunks: Sequence[bytes], spans: Sequence[tuple[int, int]]) -> array[int]:
    """The floor's plan for ``chunks``: for each chunk, its number of pieces, then per piece
    (kind, start in the chunk, length, frame size); ``spans`` are the payloads' places in
    the joined stream, in order."""
    ends = []
    at = 0
    for chunk in chunks:
        at += len(chunk)
        ends.append(at)
    starts = [e - len(c) for e, c in zip(ends, chunks)]
    pieces: list[list[tuple[int, int, int, int]]] = [[] for _ in chunks]
    c = 0
    for start, end in spans:
        size = end - start
        if size == 0:  # an empty frame: whole in the chunk where it lies
            while ends[c] < start or (ends[c] == start and c + 1 < len(chunks)):
                c += 1
            pieces[c].append((_WHOLE, start - starts[c], 0, 0))
            continue
        while ends[c] <= start:
            c += 1
        pos = start
        while pos < end:
            stop = min(end, ends[c])
            kind = (_OPENS if pos == start else 0) | (_CLOSES if stop == end else 0)
            pieces[c].append((kind, pos - starts[c], stop - pos, size))
            pos = stop
            if pos < end:
                c += 1
    out = array("q")
    for chunk_pieces in pieces:
        out.append(len(chunk_pieces))
        for piece in chunk_pieces:
            out.extend(piece)
    return out


def floor_decode(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    decode = load_floor().decode
    chunks = inp.chunks
    steps = plan(chunks, inp.spans)

    def run() -> int:
        n: int = decode(chunks, steps, out)
        return n

    return run


def contender() -> Contender:
    return Contender(
        "floor",
        "the floor: one bytes object per frame and one list per chunk, "
        "frame boundaries known beforehand (compiled)",
        "reference",
        floor_decode,
        note="not a decoder: the least work any decoder must do",
    )
