"""FixedLengthFramer: frames of exactly ``size`` bytes, on both twins, through every feeding
path (Netty's FixedLengthFrameDecoder cases among them)."""

import pytest

CASES = [
    # Netty's FixedLengthFrameDecoder example: A | BC | DEFG | HI -> ABC | DEF | GHI
    (dict(size=3), b"ABCDEFGHI", [b"ABC", b"DEF", b"GHI"], 0),
    (dict(size=3), b"ABCDEFGH", [b"ABC", b"DEF"], 2),
    (dict(size=1), b"xyz", [b"x", b"y", b"z"], 0),
    (dict(size=4), b"", [], 0),
    (dict(size=5000), b"r" * 12000, [b"r" * 5000] * 2, 2000),
    (dict(size=5000), b"r" * 4999, [], 4999),
    (dict(size=10, max_frame_size=10), b"0123456789" * 2, [b"0123456789"] * 2, 0),
]


@pytest.mark.parametrize("settings, wire, frames, after", CASES)
def test_cases(impl, mode, check, settings, wire, frames, after):
    check(lambda: impl.FixedLengthFramer(**settings), wire, frames, after, mode)


def test_encode(impl):
    framer = impl.FixedLengthFramer(4)
    assert framer.encode(b"abcd") == b"abcd"
    assert framer.encode(memoryview(b"abcd")) == b"abcd"
    assert framer.encode_parts(b"wxyz") == (b"", b"")
    assert framer.encode_many([b"abcd", bytearray(b"efgh")]) == b"abcdefgh"
    for wrong in (b"", b"abc", b"abcde"):
        with pytest.raises(ValueError, match=f"payload of {len(wrong)} bytes: every frame"):
            framer.encode(wrong)
        with pytest.raises(ValueError):
            framer.encode_many([b"abcd", wrong])
        with pytest.raises(ValueError):
            framer.encode_parts(wrong)


@pytest.mark.parametrize(
    "size, kw, error",
    [
        (0, {}, ValueError),
        (-1, {}, ValueError),
        (11, dict(max_frame_size=10), ValueError),
        (1.0, {}, TypeError),
        (True, {}, TypeError),
        ("3", {}, TypeError),
    ],
)
def test_bad_sizes(impls, size, kw, error):
    for module in impls.values():
        with pytest.raises(error):
            module.FixedLengthFramer(size, **kw)


def test_settings(impl):
    framer = impl.FixedLengthFramer(7, max_frame_size=None)
    assert framer.size == 7 and framer.max_frame_size is None
    with pytest.raises(AttributeError):
        framer.size = 8


def test_eof_mid_record(impl):
    from pyframe import IncompleteFrameError

    framer = impl.FixedLengthFramer(6000)
    assert framer.feed(b"a" * 7000) == [b"a" * 6000]
    with pytest.raises(IncompleteFrameError) as info:
        framer.eof()
    assert info.value.partial == b"a" * 1000
