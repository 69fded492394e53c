"""The raw bytes a layer keeps for ``read_exactly()``: bytes of the stream read past the
frames taken and not framed yet, ``raw[at:]``. The blocking, asyncio and anyio layers keep
them alike: a piece given back to the framer (uncut, through get_buffer() and
buffer_updated()) only moves ``at`` on, and when the framer's held bytes are that piece,
taking them back only moves ``at`` back: no copy of the rest of a large tail.
"""

from __future__ import annotations

from typing import Optional, cast

from ._types import Framer

#: A frame asked for after read_exactly(): raw bytes given back to the framer first (doubled
#: until a frame is whole), so that small frames between small reads copy little of a tail.
GIVE_FIRST = 1024


def detach(framer: Framer) -> bytes:
    """``framer.detach()``: every byte it holds (TypeError for a framer without it)."""
    take = getattr(framer, "detach", None)
    if take is None:
        raise TypeError(
            f"{type(framer).__name__} has no detach(): its held bytes cannot be taken out"
        )
    return cast(bytes, take())


def take_held(framer: Framer, raw: bytes, at: int, lent: bool) -> tuple[bytes, int]:
    """``(raw, at)`` with the bytes the framer holds moved in (one copy of them: detach()):
    back in front of ``raw[at:]`` if they were ``lent`` from it (the last piece given back),
    else after it (bytes the framer received since)."""
    if not framer.pending:
        return raw, at
    held = detach(framer)
    if at == len(raw):
        return held, 0
    if not lent:
        return raw[at:] + held, 0
    if len(held) <= at and raw.startswith(held, at - len(held)):
        return raw, at - len(held)  # the piece lent, as it was: no copy of the rest
    return held + raw[at:], 0  # (a framer of one's own that changed what it holds)


def give_back(framer: Framer, raw: bytes, at: int, most: Optional[int] = None) -> tuple[bytes, int]:
    """Put ``raw[at:]`` (at most ``most`` bytes of it) into the framer, uncut; return the
    raw bytes left, ``(b"", 0)`` once none is."""
    size = len(raw) - at
    if most is not None:
        size = min(size, most)
    if not size:
        return raw, at
    with framer.get_buffer(size) as room:
        room[:size] = memoryview(raw)[at : at + size]
    framer.buffer_updated(size)
    at += size
    return (b"", 0) if at == len(raw) else (raw, at)
