"""DecimalLengthFramer: wire bytes -> frames, on both twins, through every feeding path."""

import pytest

from pyframe import FrameTooLargeError, MalformedFrameError

CASES = [
    # The classic example.
    ({}, b"0003AAA0004BBBB", [b"AAA", b"BBBB"], 0),
    ({}, b"0003AAA0004BB", [b"AAA"], 6),
    ({}, b"000", [], 3),
    ({}, b"", [], 0),
    ({}, b"0000" * 3, [b"", b"", b""], 0),
    ({}, b"0010" + b"0123456789" + b"0001\n", [b"0123456789", b"\n"], 0),
    (dict(digits=1), b"3abc0", [b"abc", b""], 0),
    (dict(digits=1), b"9abc", [], 4),
    (dict(digits=2), b"00", [b""], 0),
    (dict(digits=18), b"0" * 17 + b"2hi", [b"hi"], 0),
    (dict(digits=18, max_frame_size=None), b"9" * 18 + b"x", [], 19),
    (dict(digits=18), b"9" * 18, [], FrameTooLargeError),
    # Anything but ASCII digits in the header is malformed, found as soon as the header
    # is whole (not before).
    ({}, b"00a1xyz", [], MalformedFrameError),
    ({}, b"0001x0a", [b"x"], 2),
    ({}, b"0001x0a01", [b"x"], MalformedFrameError),
    ({}, b"+001x", [], MalformedFrameError),
    ({}, b"-001x", [], MalformedFrameError),
    ({}, b" 001x", [], MalformedFrameError),
    ({}, b"001 x", [], MalformedFrameError),
    ({}, b"0x01", [], MalformedFrameError),
    ({}, b"00\xb2\xb3", [], MalformedFrameError),  # superscript digits in Latin-1
    ({}, "00١٢".encode(), [], MalformedFrameError),  # noqa: RUF001 (Arabic-Indic digits)
    (dict(digits=2), b"1_0", [], MalformedFrameError),
    # Limits: exact size accepted, one more refused as soon as the header is read.
    (dict(max_frame_size=10), b"0010" + b"x" * 10, [b"x" * 10], 0),
    (dict(max_frame_size=10), b"0011", [], FrameTooLargeError),
    (dict(max_frame_size=10), b"0001a0011", [b"a"], FrameTooLargeError),
    (dict(max_frame_size=0), b"00000000", [b"", b""], 0),
    (dict(max_frame_size=0), b"00000001", [b""], FrameTooLargeError),
]


@pytest.mark.parametrize("settings, wire, frames, after", CASES)
def test_cases(impl, mode, check, settings, wire, frames, after):
    check(lambda: impl.DecimalLengthFramer(**settings), wire, frames, after, mode)


@pytest.mark.parametrize(
    "digits, payload, wire",
    [
        (4, b"AAA", b"0003AAA"),
        (4, b"", b"0000"),
        (1, b"123456789", b"9123456789"),
        (2, b"x" * 99, b"99" + b"x" * 99),
        (6, b"0003", b"0000040003"),
    ],
)
def test_encode(impl, digits, payload, wire):
    framer = impl.DecimalLengthFramer(digits)
    assert framer.encode(payload) == wire
    assert framer.encode(bytearray(payload)) == wire
    assert framer.encode(memoryview(payload)) == wire
    assert framer.feed(wire * 2) == [payload] * 2


def test_encode_many_round_trip(impl, mode, check):
    framer = impl.DecimalLengthFramer()
    payloads = [b"AAA", b"BBBB", b"", b"0004", b"x" * 1000]
    wire = framer.encode_many(payloads)
    assert wire.startswith(b"0003AAA0004BBBB00000004000410")
    assert wire == b"".join(framer.encode(p) for p in payloads)
    assert framer.encode_many([]) == b""
    check(lambda: impl.DecimalLengthFramer(), wire, payloads, 0, mode)


@pytest.mark.parametrize(
    "settings, size",
    [
        (dict(digits=1), 10),
        (dict(digits=2), 100),
        (dict(digits=4, max_frame_size=10), 11),
        (dict(digits=3, max_frame_size=0), 1),
    ],
)
def test_encode_refuses(impl, settings, size):
    framer = impl.DecimalLengthFramer(**settings)
    with pytest.raises(FrameTooLargeError):
        framer.encode(b"p" * size)
    with pytest.raises(FrameTooLargeError):
        framer.encode_many([b"", b"p" * size])
    # One byte less is accepted and decodes back.
    wire = framer.encode(b"p" * (size - 1))
    assert framer.feed(wire) == [b"p" * (size - 1)]


def test_settings_are_exposed(impl):
    framer = impl.DecimalLengthFramer(6, max_frame_size=1000)
    assert framer.digits == 6
    assert framer.max_frame_size == 1000
    assert impl.DecimalLengthFramer().digits == 4
    assert impl.DecimalLengthFramer(max_frame_size=None).max_frame_size is None
