"""LengthPrefixFramer: wire bytes -> frames, on both twins, through every feeding path."""

import pytest

from pyframe import FrameTooLargeError, MalformedFrameError

HW = b"HELLO, WORLD"  # Netty's LengthFieldBasedFrameDecoder examples use this 12-byte body


def field(value, size, order="big"):
    return value.to_bytes(size, order)


# (settings, wire, frames, after): ``after`` is the number of bytes left pending, or the
# error that must stop the stream.
CASES = [
    # The classic: two frames stuck together, then a split frame.
    ({}, b"\0\0\0\x03AAA\0\0\0\x04BBBB", [b"AAA", b"BBBB"], 0),
    ({}, b"\0\0\0\x03AAA\0\0\0\x04BB", [b"AAA"], 6),
    ({}, b"\0\0\0", [], 3),
    ({}, b"", [], 0),
    # Empty payloads are frames.
    ({}, b"\0\0\0\0" * 3, [b"", b"", b""], 0),
    ({}, b"\0\0\0\0\0\0\0\x01x\0\0\0\0", [b"", b"x", b""], 0),
    # Netty's documented examples (offset, adjustment, header kept or stripped).
    # 2-byte length, header kept (initialBytesToStrip = 0).
    (dict(length_size=2, include_header=True), b"\x00\x0c" + HW, [b"\x00\x0c" + HW], 0),
    # 2-byte length, header stripped.
    (dict(length_size=2), b"\x00\x0c" + HW, [HW], 0),
    # The length counts its own header (lengthAdjustment = -2).
    (
        dict(length_size=2, adjustment=-2, include_header=True),
        b"\x00\x0e" + HW,
        [b"\x00\x0e" + HW],
        0,
    ),
    (dict(length_size=2, adjustment=-2), b"\x00\x0e" + HW, [HW], 0),
    # A 2-byte header before a 3-byte length (lengthFieldOffset = 2).
    (
        dict(length_size=3, offset=2, include_header=True),
        b"\xca\xfe\x00\x00\x0c" + HW,
        [b"\xca\xfe\x00\x00\x0c" + HW],
        0,
    ),
    (dict(length_size=3, offset=2), b"\xca\xfe\x00\x00\x0c" + HW, [HW], 0),
    # A 3-byte length, then a 2-byte header it doesn't count (lengthAdjustment = 2).
    (
        dict(length_size=3, adjustment=2, include_header=True),
        b"\x00\x00\x0c\xca\xfe" + HW,
        [b"\x00\x00\x0c\xca\xfe" + HW],
        0,
    ),
    (dict(length_size=3, adjustment=2), b"\x00\x00\x0c\xca\xfe" + HW, [b"\xca\xfe" + HW], 0),
    # offset 1, 2-byte length, adjustment 1, strip 3: CA 00 0C FE HELLO, WORLD.
    (dict(length_size=2, offset=1, adjustment=1), b"\xca\x00\x0c\xfe" + HW, [b"\xfe" + HW], 0),
    # offset 1, 2-byte length counting the whole message (adjustment -3), strip 3.
    (dict(length_size=2, offset=1, adjustment=-3), b"\xca\x00\x10\xfe" + HW, [b"\xfe" + HW], 0),
    (
        dict(length_size=2, offset=1, adjustment=-3, include_header=True),
        b"\xca\x00\x10\xfe" + HW + b"\x01\x00\x04",
        [b"\xca\x00\x10\xfe" + HW],
        3,
    ),
    (
        dict(length_size=2, offset=1, adjustment=-3, include_header=True),
        b"\x01\x00\x03",
        [b"\x01\x00\x03"],
        0,
    ),
    # Offset bytes are part of the pending frame until it completes.
    (dict(length_size=1, offset=3), b"abc", [], 3),
    (dict(length_size=1, offset=3), b"abc\x02xyabc", [b"xy"], 3),
    # Little endian and odd sizes.
    (dict(length_size=3, byteorder="little"), b"\x03\x00\x00abc\x01\x00\x00d", [b"abc", b"d"], 0),
    (dict(length_size=2, byteorder="little"), b"\x01\x01" + b"z" * 257, [b"z" * 257], 0),
    (dict(length_size=2, byteorder="big"), b"\x02\x01" + b"z" * 257, [], 259),
    (dict(length_size=2, byteorder="little"), b"\x02\x01" + b"z" * 258, [b"z" * 258], 0),
    # Adjusted lengths that are negative are malformed; zero is an empty frame.
    (dict(length_size=1, adjustment=-1), b"\x01\x02", [b""], 1),
    (dict(length_size=1, adjustment=-1), b"\x01\x00", [b""], MalformedFrameError),
    (dict(length_size=1, adjustment=-2), b"\x03x\x01", [b"x"], MalformedFrameError),
    (dict(length_size=4, adjustment=-4), b"\0\0\0\x03", [], MalformedFrameError),
    # Limits apply to the bytes after the field (field + adjustment).
    (dict(length_size=1, max_frame_size=3), b"\x03abc\x03de", [b"abc"], 3),
    (dict(length_size=1, max_frame_size=3), b"\x03abc\x04", [b"abc"], FrameTooLargeError),
    (
        dict(length_size=1, max_frame_size=3, adjustment=-1),
        b"\x04abc\x05",
        [b"abc"],
        FrameTooLargeError,
    ),
    (
        dict(length_size=1, max_frame_size=3, adjustment=2),
        b"\x01abc\x02",
        [b"abc"],
        FrameTooLargeError,
    ),
    (dict(length_size=1, max_frame_size=0), b"\x00\x00\x01", [b"", b""], FrameTooLargeError),
    # 8-byte fields near 2**63 and 2**64: never wrapped into a small or negative length.
    (dict(length_size=8, max_frame_size=None), b"\xff" * 8 + b"abc", [], FrameTooLargeError),
    (
        dict(length_size=8, max_frame_size=None),
        b"\x80" + b"\0" * 7 + b"abc",
        [],
        FrameTooLargeError,
    ),
    (dict(length_size=8, max_frame_size=None), b"\x7f" + b"\xff" * 7 + b"abc", [], 11),
    (dict(length_size=8, max_frame_size=None, byteorder="little"), b"\xff" * 7 + b"\x7f", [], 8),
    (dict(length_size=8, byteorder="little"), b"\0" * 7 + b"\x80", [], FrameTooLargeError),
    (
        dict(length_size=8, max_frame_size=None, adjustment=-(2**62)),
        field(2**63 + 5, 8) + b"abc",
        [],
        11,
    ),
    (
        dict(length_size=8, max_frame_size=None, adjustment=-(2**62)),
        field(2**62 + 3, 8) + b"abcd",
        [b"abc"],
        1,
    ),
    (
        dict(length_size=8, max_frame_size=None, adjustment=-(2**62)),
        field(2**62 - 1, 8) + b"abcd",
        [],
        MalformedFrameError,
    ),
    (
        dict(length_size=8, max_frame_size=None, adjustment=2**62),
        field(2**63 - 1 - 2**62, 8),
        [],
        8,
    ),
    (
        dict(length_size=8, max_frame_size=None, adjustment=2**62),
        field(2**63 - 2**62, 8),
        [],
        FrameTooLargeError,
    ),
]


@pytest.mark.parametrize("settings, wire, frames, after", CASES)
def test_cases(impl, mode, check, settings, wire, frames, after):
    check(lambda: impl.LengthPrefixFramer(**settings), wire, frames, after, mode)


@pytest.mark.parametrize("size", range(1, 9))
@pytest.mark.parametrize("order", ["big", "little"])
def test_every_field_size_and_byteorder(impl, mode, check, size, order):
    top = (1 << (8 * size)) - 1
    payloads = [b"", b"x", bytes(range(256))[: min(255, top)], b"y" * min(top, 300)]
    wire = b"".join(field(len(p), size, order) + p for p in payloads)
    check(lambda: impl.LengthPrefixFramer(size, order), wire, payloads, 0, mode)
    # The largest value the field holds, against a limit just below and at it.
    if top <= 1 << 20:
        header = field(top, size, order)
        check(
            lambda: impl.LengthPrefixFramer(size, order, max_frame_size=top - 1),
            header,
            [],
            FrameTooLargeError,
            mode,
        )
        check(
            lambda: impl.LengthPrefixFramer(size, order, max_frame_size=top),
            header + b"z" * top,
            [b"z" * top],
            0,
            mode,
            seeds=1,
        )
    else:
        # Too big to wait for in a test: the decoder waits for it (no limit) ...
        big = min(top, 2**63 - 1)
        check(
            lambda: impl.LengthPrefixFramer(size, order, max_frame_size=None),
            field(big, size, order) + b"abc",
            [],
            size + 3,
            mode,
        )
        # ... or refuses it at once (default limit).
        check(
            lambda: impl.LengthPrefixFramer(size, order),
            field(big, size, order),
            [],
            FrameTooLargeError,
            mode,
        )


@pytest.mark.parametrize(
    "settings, payload, wire",
    [
        ({}, b"AAA", b"\0\0\0\x03AAA"),
        ({}, b"", b"\0\0\0\0"),
        (dict(length_size=2, byteorder="little"), b"ab", b"\x02\x00ab"),
        (dict(length_size=3), b"ab", b"\0\0\x02ab"),
        (dict(length_size=8), b"a", b"\0" * 7 + b"\x01a"),
        (dict(length_size=8, byteorder="little"), b"a", b"\x01" + b"\0" * 7 + b"a"),
        (dict(length_size=2, adjustment=-2), HW, b"\x00\x0e" + HW),
        (dict(length_size=3, offset=2), HW, b"\0\0\0\0\x0c" + HW),
        (dict(length_size=3, adjustment=2), b"\xca\xfe" + HW, b"\x00\x00\x0c\xca\xfe" + HW),
        (dict(length_size=2, offset=1, adjustment=-3), b"\xfe" + HW, b"\0\x00\x10\xfe" + HW),
        (dict(length_size=2, offset=1, adjustment=1), b"\xfe" + HW, b"\0\x00\x0c\xfe" + HW),
        (dict(length_size=1, max_frame_size=255), b"z" * 255, b"\xff" + b"z" * 255),
        (dict(length_size=1, adjustment=-1), b"z" * 254, b"\xff" + b"z" * 254),
    ],
)
def test_encode(impl, settings, payload, wire):
    framer = impl.LengthPrefixFramer(**settings)
    assert framer.encode(payload) == wire
    assert framer.encode(bytearray(payload)) == wire
    assert framer.encode(memoryview(payload)) == wire
    # Round trip: the decoder with the same settings gives the payload back (or the
    # whole message when the header is kept).
    assert impl.LengthPrefixFramer(**settings).feed(wire * 3) == [payload] * 3
    keep = impl.LengthPrefixFramer(**settings, include_header=True)
    assert keep.encode(payload) == wire
    assert keep.feed(wire * 2) == [wire] * 2


@pytest.mark.parametrize(
    "settings",
    [
        {},
        dict(length_size=1),
        dict(length_size=3, byteorder="little", offset=2, adjustment=-1),
        dict(length_size=8, adjustment=-5),
        dict(length_size=2, include_header=True, offset=1),
    ],
)
def test_encode_many_round_trip(impl, mode, check, settings):
    payloads = [b"", b"a", b"\0\0\0\x03", b"x" * 200, b"", bytes(range(256))[:250]]
    framer = impl.LengthPrefixFramer(**settings)
    wire = framer.encode_many(payloads)
    assert type(wire) is bytes
    assert wire == b"".join(framer.encode(p) for p in payloads)
    assert framer.encode_many(iter(payloads)) == wire
    assert framer.encode_many([]) == b""
    if settings.get("include_header"):
        expected = [framer.encode(p) for p in payloads]
    else:
        expected = payloads
    check(lambda: impl.LengthPrefixFramer(**settings), wire, expected, 0, mode)


@pytest.mark.parametrize(
    "settings, size, error",
    [
        (dict(length_size=1), 256, FrameTooLargeError),  # does not fit the field
        (dict(length_size=1, adjustment=-1), 255, FrameTooLargeError),  # 256 in the field
        (dict(length_size=2), 65536, FrameTooLargeError),
        (dict(length_size=4, max_frame_size=10), 11, FrameTooLargeError),  # over the limit
        (dict(length_size=1, max_frame_size=0), 1, FrameTooLargeError),
        (dict(length_size=1, adjustment=3), 2, ValueError),  # field would be negative
        (dict(length_size=1, adjustment=3), 0, ValueError),
    ],
)
def test_encode_refuses(impl, settings, size, error):
    framer = impl.LengthPrefixFramer(**settings)
    with pytest.raises(error) as info:
        framer.encode(b"p" * size)
    if error is ValueError:
        assert not isinstance(info.value, FrameTooLargeError)
    with pytest.raises(error):
        framer.encode_many([b"", b"p" * size])
    # A refusal leaves the encoder (and the decoder) usable.
    good = b"" if settings.get("max_frame_size") == 0 else b"p" * 3
    assert framer.feed(framer.encode(good)) == [good]


@pytest.mark.parametrize(
    "settings, ok",
    [
        (dict(length_size=1, adjustment=3), 3),
        (dict(length_size=1, max_frame_size=10), 10),
        (dict(length_size=1), 255),
        (dict(length_size=1, adjustment=-1), 254),
        (dict(length_size=1, adjustment=1), 256),
    ],
)
def test_encode_boundaries(impl, settings, ok):
    framer = impl.LengthPrefixFramer(**settings)
    wire = framer.encode(b"q" * ok)
    assert impl.LengthPrefixFramer(**settings).feed(wire) == [b"q" * ok]


def test_settings_are_exposed(impl):
    framer = impl.LengthPrefixFramer(
        3, "little", offset=2, adjustment=-1, include_header=True, max_frame_size=100
    )
    assert (framer.length_size, framer.byteorder, framer.offset, framer.adjustment) == (
        3,
        "little",
        2,
        -1,
    )
    assert framer.include_header is True
    assert framer.max_frame_size == 100
    assert impl.LengthPrefixFramer(max_frame_size=None).max_frame_size is None
    assert impl.LengthPrefixFramer().max_frame_size == 8 * 1024 * 1024
