"""What both implementations agree on: defaults, argument checks and encode-side checks.

Nothing here is on the decoding hot path; both twins call these so that settings are
validated (and refused) identically.
"""

from __future__ import annotations

import re
from typing import Literal, Optional, Union

from . import _errors
from ._types import Buffer

#: Default ``max_frame_size`` of every framer: 8 MiB (tokio-util's default).
DEFAULT_MAX_FRAME_SIZE = 8 * 1024 * 1024

UNLIMITED = _errors.UNLIMITED

LENGTH_SIZES = (1, 2, 3, 4, 5, 6, 7, 8)
BYTEORDERS = ("big", "little")

_Bytes = Union[bytes, bytearray, memoryview]


def limit(max_frame_size: Optional[int]) -> int:
    """The internal limit for a ``max_frame_size`` argument."""
    if max_frame_size is None:
        return UNLIMITED
    if isinstance(max_frame_size, bool) or not isinstance(max_frame_size, int):
        raise TypeError(f"max_frame_size must be an int or None, not {max_frame_size!r}")
    value = int.__index__(max_frame_size)  # a plain int: no comparison of a subclass's
    if not 0 <= value < UNLIMITED:
        raise ValueError(f"max_frame_size must be between 0 and 2**63-2 (or None), got {value}")
    return value


def public_limit(internal: int) -> Optional[int]:
    return None if internal == UNLIMITED else internal


def _int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    value = int.__index__(value)  # a plain int: no comparison of a subclass's
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def length_prefix(
    length_size: int, byteorder: str, offset: int, adjustment: int
) -> tuple[int, int, int, int]:
    """Checked settings of a LengthPrefixFramer: ``length_size``, ``offset`` and
    ``adjustment`` as plain ints, and the largest field value."""
    if isinstance(length_size, bool) or not isinstance(length_size, int):
        raise TypeError(f"length_size must be an int, not {length_size!r}")
    size = int.__index__(length_size)  # a plain int: no comparison of a subclass's
    if size not in LENGTH_SIZES:
        raise ValueError(f"length_size must be one of 1..8, got {size!r}")
    if byteorder not in BYTEORDERS:
        raise ValueError(f"byteorder must be 'big' or 'little', got {byteorder!r}")
    offset = _int("offset", offset, 0)
    if offset > 1 << 20:
        raise ValueError(f"offset must be at most 1 MiB, got {offset}")
    adjustment = _int("adjustment", adjustment, -(1 << 62))
    if adjustment > 1 << 62:
        raise ValueError(f"adjustment must be at most 2**62, got {adjustment}")
    return size, offset, adjustment, (1 << (8 * size)) - 1


def decimal_digits(digits: int) -> int:
    digits = _int("digits", digits, 1)
    if digits > 18:  # 10**18 - 1 still fits a signed 64-bit length
        raise ValueError(f"digits must be at most 18, got {digits}")
    return digits


#: ``on_error`` settings, by their internal number: fail-fast (the framer stays failed
#: until reset()), or a bad frame skipped with its fault raised once, or only counted.
ON_ERROR: tuple[Literal["fail"], Literal["raise"], Literal["skip"]] = ("fail", "raise", "skip")
RAISE, SKIP = 1, 2


def on_error(value: object) -> int:
    """The internal number of an ``on_error`` setting."""
    if type(value) is str and value in ON_ERROR:  # (exactly str: no __eq__ of the caller's)
        return ON_ERROR.index(value)
    raise ValueError(f"on_error must be 'fail', 'raise' or 'skip', got {value!r}")


def fixed_size(size: int, limit: int) -> int:
    """Checked size of a FixedLengthFramer's frames."""
    size = _int("size", size, 1)
    if size > limit:
        bound = "the largest size supported" if limit == UNLIMITED else f"max_frame_size={limit}"
        raise ValueError(f"size {size} exceeds {bound}")
    return size


def check_fixed(size: int, fixed: int) -> None:
    """Refuse a payload that is not exactly the framer's size (encode side)."""
    if size != fixed:
        raise ValueError(f"payload of {size} bytes: every frame must be exactly {fixed} bytes")


def delimiters(delimiter: object) -> tuple[bytes, ...]:
    """The delimiters as a tuple of non-empty bytes; the first is the one encode() appends."""
    items = delimiter if isinstance(delimiter, tuple) else (delimiter,)
    if not items:
        raise ValueError("at least one delimiter is required")
    result = []
    for item in items:
        if not isinstance(item, (bytes, bytearray, memoryview)):
            raise TypeError(f"a delimiter must be bytes, not {type(item).__name__}")
        item = bytes(item)
        if not item:
            raise ValueError("a delimiter must not be empty")
        if item not in result:
            result.append(item)
    return tuple(result)


def flag(name: str, value: object) -> bool:
    """A yes/no setting: exactly True or False (a typo such as ``"no"`` must not mean yes)."""
    if type(value) is not bool:
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def line_ending(ending: _Bytes) -> _Bytes:
    if ending not in (b"\n", b"\r\n"):
        raise ValueError(f"line_ending must be b'\\n' or b'\\r\\n', got {ending!r}")
    return ending


def byte_view(data: Buffer) -> memoryview:
    """A 1-D memoryview of the bytes of ``data``, refused as the compiled module refuses it."""
    try:
        view = memoryview(data)
    except TypeError as exc:
        if not str(exc).startswith("memoryview: a bytes-like object is required"):
            raise  # the exporter's own (a __buffer__ that returns no memoryview, say)
        raise TypeError(f"a bytes-like object is required, not '{type(data).__name__}'") from None
    if not view.c_contiguous:
        view.release()
        raise BufferError("memoryview: underlying buffer is not C-contiguous")
    if view.format == "B" and view.ndim == 1:
        return view
    with view:
        # (cast() refuses a shape with a zero in it: an empty array of rows, say)
        return view.cast("B") if view.nbytes else memoryview(b"")


def payload_size(payload: Buffer) -> int:
    """The size of a payload to encode: any C-contiguous bytes-like object."""
    with byte_view(payload) as view:
        return view.nbytes


def check_field(size: int, field: int, field_max: int, limit: int) -> None:
    """Refuse a payload whose length does not fit the header (encode side)."""
    if size > limit:
        raise _errors.too_large(size, limit, "payload")
    if field < 0:
        raise ValueError(f"payload of {size} bytes gives a negative length field ({field})")
    if field > field_max:
        raise _errors.FrameTooLargeError(
            f"payload of {size} bytes needs length field value {field}, "
            f"more than the header holds ({field_max})",
            size,
            limit,
        )


def check_delimited(payload: Buffer, delimiters: tuple[bytes, ...]) -> None:
    """Refuse ``payload`` unless, followed by ``delimiters[0]``, it decodes back to exactly
    itself, whatever bytes follow on the stream. The payload is searched, not copied."""
    used = delimiters[0]
    with byte_view(payload) as view:
        size = view.nbytes
        # the only payload bytes a delimiter can share with ``used``: its last few
        tail = bytes(view[max(0, size - max(map(len, delimiters)) + 1) :])
        window = tail + used  # the end of the wire: payload tail, then the delimiter
        for d in delimiters:
            # A whole delimiter that starts inside the payload ends the frame early.
            found = _search(payload, view, d)
            at = found if found >= 0 else window.find(d, 0, len(tail) + len(d) - 1)
            if found < 0 and at >= 0:
                at += size - len(tail)
            if at >= 0:
                raise ValueError(f"payload contains the delimiter {d!r} (at offset {at})")
            # A longer delimiter that may begin at or before the payload's end: the bytes
            # after this frame would decide where it ends.
            for start in range(max(0, len(window) - len(d) + 1), len(tail) + 1):
                if d.startswith(window[start:]):
                    raise ValueError(
                        f"payload end {window[start : len(tail)]!r} plus the delimiter "
                        f"{used!r} could begin the delimiter {d!r}"
                    )


def _search(payload: Buffer, view: memoryview, needle: bytes) -> int:
    """Offset of ``needle`` in the payload, or -1, without copying it."""
    if type(payload) is bytes:  # not a subclass: its find() could be the caller's code
        return payload.find(needle)
    match = re.search(re.escape(needle), view)
    return match.start() if match else -1


#: The longest start or end marker of a MarkerFramer (markers are short tokens; a bound
#: keeps every check of the bytes around a position cheap).
MAX_MARKER = 64


def _marker(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"the {name} marker must be bytes, not {type(value).__name__}")
    marker = bytes(value)
    if not marker:
        raise ValueError(f"the {name} marker must not be empty")
    if len(marker) > MAX_MARKER:
        raise ValueError(f"the {name} marker must be at most {MAX_MARKER} bytes, got {len(marker)}")
    return marker


def markers(start: object, end: object, escape: object) -> tuple[bytes, bytes, Optional[bytes]]:
    """Checked settings of a MarkerFramer: the start and end markers, and the escape byte
    (or None). Each marker must be told apart from the other wherever it occurs, and the
    escape byte from both."""
    head, tail = _marker("start", start), _marker("end", end)
    if head == tail:
        raise ValueError(f"the start and end markers must differ, both are {head!r}")
    if head in tail or tail in head:
        raise ValueError(f"neither marker may contain the other: start {head!r}, end {tail!r}")
    if escape is None:
        return head, tail, None
    if not isinstance(escape, (bytes, bytearray, memoryview)):
        raise TypeError(f"escape must be one byte (bytes) or None, not {type(escape).__name__}")
    esc = bytes(escape)
    if len(esc) != 1:
        raise ValueError(f"escape must be exactly one byte, got {esc!r}")
    if esc in head or esc in tail:
        raise ValueError(f"the escape byte {esc!r} must not occur in the markers")
    return head, tail, esc


def check_markers(payload: Buffer, start: bytes, end: bytes) -> None:
    """Refuse ``payload`` unless, sent between ``start`` and ``end`` with no escape, it
    decodes back to exactly itself whatever bytes follow: no marker may begin inside it,
    nor where its last bytes and the end marker meet. The payload is searched, not copied."""
    with byte_view(payload) as view:
        size = view.nbytes
        for name, marker in (("start", start), ("end", end)):
            at = _search(payload, view, marker)
            if at >= 0:
                raise ValueError(
                    f"payload contains the {name} marker {marker!r} (at offset {at}); "
                    "an escape byte (escape=) lets payloads hold the markers"
                )
        # The payload's last bytes and the end marker after them: a marker that begins
        # there would end the frame early. (None can be cut off by what follows: the
        # bytes from there on hold the whole end marker, which no other marker holds.)
        tail = bytes(view[max(0, size - max(len(start), len(end)) + 1) :])
        wire = tail + end
        for at in range(len(tail)):
            for name, marker in (("start", start), ("end", end)):
                if wire.startswith(marker, at):
                    raise ValueError(
                        f"payload end {tail[at:]!r} plus the end marker {end!r} makes the "
                        f"{name} marker {marker!r}"
                    )
