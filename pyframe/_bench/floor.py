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


def plan(chunks: Sequence[bytes], spans: Sequence[tuple[int, int]]) -> array[int]:
    """The floor's plan for ``chunks`` (its layout: ``_floor.decode``); ``spans`` are where
    the payloads lie in the joined stream, in order."""
    starts, at = [], 0
    for chunk in chunks:
        starts.append(at)
        at += len(chunk)
    ends = starts[1:] + [at]
    heads = [(0, 0)] * len(chunks)  # (bytes continuing the frame under way, closes it)
    whole: list[list[int]] = [[] for _ in chunks]  # (start, length) of the whole frames
    tails = [(-1, 0)] * len(chunks)  # (start, size) of a frame going on to the next chunk
    c = 0
    for start, end in spans:
        # the chunk holding the frame's first byte (an empty frame: where it lies)
        while ends[c] < start or (ends[c] == start and end > start):
            c += 1
        if end <= ends[c]:
            whole[c] += (start - starts[c], end - start)
            continue
        tails[c] = (start - starts[c], end - start)
        c += 1
        while ends[c] < end:
            heads[c] = (ends[c] - starts[c], 0)
            c += 1
        heads[c] = (end - starts[c], 1)
    out = array("q")
    for head, frames, tail in zip(heads, whole, tails):
        out.extend(head)
        out.append(len(frames) // 2)
        out.extend(frames)
        out.extend(tail)
    return out


def floor_decode(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    return _floor(inp.chunks, inp.spans, out)


def _floor(
    chunks: Sequence[bytes], spans: Sequence[tuple[int, int]], out: list[Any] | None
) -> Callable[[], int]:
    decode = load_floor().decode
    steps = plan(chunks, spans)

    def run() -> int:
        n: int = decode(chunks, steps, out)
        return n

    return run


def plain_floor_decode(w: Workload, inp: Input, out: list[Any] | None = None) -> Callable[[], int]:
    """The floor of a transformed framing (COBS, SLIP), whose wire holds no payload as it
    is: the same copy of each payload byte once, from the payloads laid end to end."""
    return _floor(inp.alt["plain"][0], inp.spans, out)


def contender(transformed: bool = False) -> Contender:
    if transformed:
        return Contender(
            "floor",
            "the floor: one bytes object per frame and one list per chunk, each payload "
            "byte copied once from the payloads laid end to end (compiled)",
            "reference",
            plain_floor_decode,
            wire="plain",
            note="not a decoder: the least work any decoder must do (no unstuffing)",
        )
    return Contender(
        "floor",
        "the floor: one bytes object per frame and one list per chunk, "
        "frame boundaries known beforehand (compiled)",
        "reference",
        floor_decode,
        note="not a decoder: the least work any decoder must do",
    )
