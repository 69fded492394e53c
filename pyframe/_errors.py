"""The error hierarchy, shared by the compiled framers and the pure-Python twin.

Both implementations build their exceptions with the helpers below, so the type and the
message of every error are the same whichever implementation is active.
"""

from __future__ import annotations

import sys
from typing import Optional, Union

#: Internal limit standing for ``max_frame_size=None`` (no limit, only when asked for).
UNLIMITED = sys.maxsize

__all__ = [
    "FrameError",
    "FrameTooLargeError",
    "IncompleteFrameError",
    "MalformedFrameError",
]


class FrameError(ValueError):
    """A byte stream that cannot be split into frames."""


class FrameTooLargeError(FrameError):
    """A frame (announced by a header, or scanned without a delimiter) exceeds the limit."""

    def __init__(
        self, message: str, size: Optional[int] = None, limit: Optional[int] = None
    ) -> None:
        super().__init__(message)
        self.size = size  # the announced size, or the bytes scanned so far
        self.limit = limit


class MalformedFrameError(FrameError):
    """A header that breaks the wire format (a non-digit, a negative length, ...)."""


class IncompleteFrameError(FrameError, EOFError):
    """The stream ended in the middle of a frame; ``partial`` holds the bytes received, and
    ``expected`` the size of the whole frame (header and trailer included) when its header
    told it, else None."""

    def __init__(self, message: str, partial: bytes = b"", expected: Optional[int] = None) -> None:
        super().__init__(message)
        self.partial = partial
        self.expected = expected


def too_large(size: int, limit: int, what: str = "frame") -> FrameTooLargeError:
    if limit == UNLIMITED:  # max_frame_size=None: only the 63-bit size bound is left
        bound = "the largest size supported (2**63-1 bytes)"
    else:
        bound = f"max_frame_size={limit}"
    return FrameTooLargeError(f"{what} of {size} bytes exceeds {bound}", size, limit)


def no_delimiter(scanned: int, limit: int) -> FrameTooLargeError:
    return FrameTooLargeError(
        f"no delimiter within max_frame_size={limit} bytes ({scanned} bytes scanned without one)",
        scanned,
        limit,
    )


def length_error(field: int, adjustment: int, limit: int) -> FrameError:
    """The error for a length field whose adjusted value is negative or over the limit."""
    length = field + adjustment
    if length < 0:
        return MalformedFrameError(
            f"length field {field} with adjustment {adjustment} gives a negative "
            f"length ({length}); expected at least {-adjustment}"
        )
    return too_large(length, limit)


def bad_decimal_header(header: Union[bytes, bytearray]) -> MalformedFrameError:
    return MalformedFrameError(
        f"expected {len(header)} ASCII digits as a length header, got {bytes(header)!r}"
    )


def varint_error(header: Union[bytes, bytearray], limit: int) -> FrameError:
    """The error for a varint length header that ends the stream's sync: ``header`` holds
    its bytes (at most 10, all of them if it never ends)."""
    value = 0
    for i, byte in enumerate(header):
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            if value >= 1 << 64:
                return MalformedFrameError(
                    f"varint length {bytes(header[: i + 1]).hex(' ')} overflows 64 bits"
                )
            return too_large(value, limit)
    return MalformedFrameError(
        f"varint length longer than 10 bytes: {bytes(header[:10]).hex(' ')} (every byte "
        "has its continuation bit set)"
    )


def netstring_error(header: Union[bytes, bytearray], limit: int) -> FrameError:
    """The error for the netstring header ``header``: its bytes up to the first one that
    is wrong (a non-digit, a leading zero, or a digit that makes the length too large)."""
    text = bytes(header)
    if not text[-1:].isdigit():
        return MalformedFrameError(
            f"expected the digits of a netstring length then ':', got {text!r}"
        )
    if text[:1] == b"0":
        return MalformedFrameError(
            f"netstring length with a leading zero: {text!r} (only 0:, may start with 0)"
        )
    # Digits only: the number they make so far is over the limit (more can only add).
    return FrameTooLargeError(
        f"netstring length of at least {int(text)} bytes exceeds "
        + (
            "the largest size supported (2**63-1 bytes)"
            if limit == UNLIMITED
            else f"max_frame_size={limit}"
        ),
        int(text),
        limit,
    )


def netstring_comma(length: int, got: Union[bytes, bytearray]) -> MalformedFrameError:
    return MalformedFrameError(
        f"expected ',' after the {length} bytes of a netstring, got {bytes(got)!r}"
    )


def incomplete(partial: Union[bytes, bytearray], expected: int = -1) -> IncompleteFrameError:
    """``expected``: the whole frame's size, or -1 if the framing cannot tell it."""
    of = f", of a frame of {expected} bytes" if expected >= 0 else ""
    return IncompleteFrameError(
        f"stream ended in the middle of a frame ({len(partial)} bytes pending{of})",
        bytes(partial),
        expected if expected >= 0 else None,
    )


def not_initialised(framer: object) -> RuntimeError:
    name = type(framer).__name__
    return RuntimeError(
        f"this {name} was not initialised: its __init__ did not run (made with __new__, "
        "or a subclass's __init__ did not call super().__init__())"
    )


def already_initialised(framer: object) -> RuntimeError:
    return RuntimeError(
        f"{type(framer).__name__}.__init__ called on a framer already initialised: its "
        "settings are fixed; make a new framer (or call reset() to start a new stream)"
    )


def busy(framer: object) -> RuntimeError:
    return RuntimeError(
        f"{type(framer).__name__} is in use by another call: a framer holds one stream's "
        "state and must not be used by two threads at once, nor re-entered from a callback"
    )


def no_room(size: int, live: int) -> MemoryError:
    return MemoryError(f"cannot make room for {size} more bytes beside {live} buffered")


def not_verbatim(framer: object) -> TypeError:
    return TypeError(
        f"{type(framer).__name__} changes the payload's bytes on the wire, so there is no "
        "header and trailer to send around it: use encode() (see the verbatim attribute)"
    )


def marker_garbage(got: Union[bytes, bytearray], start: bytes) -> MalformedFrameError:
    """Bytes outside a frame where a start marker was expected."""
    return MalformedFrameError(
        f"garbage outside a frame: expected the start marker {start!r}, got {bytes(got)!r}"
    )


def marker_inside(start: bytes, after: int) -> MalformedFrameError:
    """A start marker inside a frame whose end marker has not come: the frame is broken."""
    return MalformedFrameError(
        f"start marker {start!r} inside a frame, after {after} bytes of it (its end marker "
        "is missing)"
    )


def bad_escape(escape: bytes, got: int, allowed: bytes) -> MalformedFrameError:
    return MalformedFrameError(
        f"escape byte {escape!r} followed by {bytes([got])!r} in a frame: only one of "
        f"{allowed!r} may follow it"
    )


def no_end_marker(scanned: int, limit: int) -> FrameTooLargeError:
    return FrameTooLargeError(
        f"no end marker within max_frame_size={limit} bytes ({scanned} bytes of a frame "
        "scanned without one)",
        scanned,
        limit,
    )


# -- COBS and SLIP: framings that decode the payload from its wire bytes ------------------


def decoded_too_large(size: int, limit: int) -> FrameTooLargeError:
    """A frame whose payload, decoded so far, is already ``size`` bytes (more may follow)."""
    if limit == UNLIMITED:
        bound = "the largest size supported (2**63-1 bytes)"
    else:
        bound = f"max_frame_size={limit}"
    return FrameTooLargeError(
        f"frame decoding to at least {size} bytes exceeds {bound}", size, limit
    )


def cobs_code(code: int, offset: int, got: int) -> MalformedFrameError:
    """A COBS code byte that points past the frame's 0x00."""
    return MalformedFrameError(
        f"COBS code byte 0x{code:02x} at offset {offset} of a frame announces {code - 1} "
        f"data bytes, but the frame's 0x00 comes after {got}"
    )


def slip_escape(got: int, offset: int) -> MalformedFrameError:
    """A SLIP ESC followed by another byte than ESC_END or ESC_ESC (END included)."""
    what = "END (0xc0)" if got == 0xC0 else f"0x{got:02x}"
    return MalformedFrameError(
        f"SLIP ESC (0xdb) at offset {offset} of a frame is followed by {what}: only "
        "ESC_END (0xdc) and ESC_ESC (0xdd) may follow it"
    )


def empty_slip_payload() -> ValueError:
    return ValueError(
        "an empty payload cannot be sent with SLIP: END END is an empty frame, which "
        "receivers skip (RFC 1055)"
    )


def changed_under_scan() -> MalformedFrameError:
    """A frame whose wire bytes no longer decode as they were scanned: only a write
    through a stale view from get_buffer() can do that."""
    return MalformedFrameError(
        "a frame's bytes changed after they were scanned (written through a view from "
        "get_buffer() after buffer_updated()): it no longer decodes as checked"
    )
