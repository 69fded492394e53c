"""DelimiterFramer and LineFramer: wire bytes -> frames, on both twins, every feeding path."""

import pytest

from pyframe import FrameTooLargeError

NL = dict(delimiter=b"\n")

CASES = [
    (NL, b"a\nb\n", [b"a", b"b"], 0),
    (NL, b"a\nbc", [b"a"], 2),
    (NL, b"", [], 0),
    (NL, b"\n\n\n", [b"", b"", b""], 0),
    (dict(delimiter=b"\n", keep_delimiter=True), b"a\n\nb", [b"a\n", b"\n"], 1),
    (dict(delimiter=b"\0"), b"\x01\x02\0\0\xff", [b"\x01\x02", b""], 1),
    # Multi-byte delimiters, found when split across feeds.
    (dict(delimiter=b"\r\n"), b"ab\r\ncd\r\n\r\n", [b"ab", b"cd", b""], 0),
    (dict(delimiter=b"\r\n"), b"a\rb\nc\r", [], 6),
    (dict(delimiter=b"\r\n", keep_delimiter=True), b"ab\r\n\r", [b"ab\r\n"], 1),
    (dict(delimiter=b"\xff\xfe\xfd"), b"x\xff\xfe\xff\xfe\xfdy\xff\xfe", [b"x\xff\xfe"], 3),
    # Self-overlapping delimiters: the first whole match ends the frame.
    (dict(delimiter=b"aa"), b"aaa", [b""], 1),
    (dict(delimiter=b"aa"), b"aaaa", [b"", b""], 0),
    (dict(delimiter=b"abab"), b"xabababy", [b"x"], 3),
    (dict(delimiter=b"abab", keep_delimiter=True), b"xabababyabab", [b"xabab", b"abyabab"], 0),
    # Several delimiters: the earliest match wins ...
    (dict(delimiter=(b"\r\n", b"\n")), b"a\r\nb\nc", [b"a", b"b"], 1),
    (dict(delimiter=(b"XYZ", b"Z")), b"aXYZb", [b"a"], 1),
    (dict(delimiter=(b"Z", b"XYZ")), b"aXYZb", [b"a"], 1),
    (dict(delimiter=(b";", b"--")), b"a--b;c-;-d--", [b"a", b"b", b"c-", b"-d"], 0),
    (dict(delimiter=(b";", b"--"), keep_delimiter=True), b"a--b;c-;", [b"a--", b"b;", b"c-;"], 0),
    # ... on a tie, the longest ...
    (dict(delimiter=(b"ab", b"abc")), b"xabcy", [b"x"], 1),
    (dict(delimiter=(b"abc", b"ab")), b"xabcy", [b"x"], 1),
    (dict(delimiter=(b"ab", b"abc")), b"xabdy", [b"x"], 2),
    (dict(delimiter=(b"ab", b"abc"), keep_delimiter=True), b"xabcyabd", [b"xabc", b"yab"], 1),
    (dict(delimiter=(b"\n", b"\n\n")), b"a\n\nb\nc", [b"a", b"b"], 1),
    # ... and a longer delimiter that may still begin earlier makes the decoder wait, so
    # the frames never depend on how the stream was split.
    (dict(delimiter=(b"ab", b"abc")), b"xab", [], 3),
    (dict(delimiter=(b"\n", b"\n\n")), b"a\n", [], 2),
    (dict(delimiter=(b"YZ", b"XYZW")), b"aXYZ", [], 4),
    (dict(delimiter=(b"YZ", b"XYZW")), b"aXYZb", [b"aX"], 1),
    (dict(delimiter=(b"YZ", b"XYZW")), b"aXYZWb", [b"a"], 1),
    (dict(delimiter=(b"YZ", b"XYZW"), keep_delimiter=True), b"aXYZWbYZ", [b"aXYZW", b"bYZ"], 0),
    # Duplicates are harmless.
    (dict(delimiter=(b"\n", b"\n")), b"a\nb", [b"a"], 1),
    # Limits count the frame without its delimiter.
    (dict(delimiter=b"\n", max_frame_size=3), b"abc\n", [b"abc"], 0),
    (dict(delimiter=b"\n", max_frame_size=3), b"abc", [], 3),
    (dict(delimiter=b"\n", max_frame_size=3), b"abcd\n", [], FrameTooLargeError),
    (dict(delimiter=b"\n", max_frame_size=3), b"abcd", [], FrameTooLargeError),
    (dict(delimiter=b"\n", max_frame_size=3), b"ab\nabcd", [b"ab"], FrameTooLargeError),
    (dict(delimiter=b"\r\n", max_frame_size=3), b"abc\r", [], 4),
    (dict(delimiter=b"\r\n", max_frame_size=3), b"abc\r\n", [b"abc"], 0),
    (dict(delimiter=b"\r\n", max_frame_size=3), b"abc\r\r", [], FrameTooLargeError),
    (dict(delimiter=b"\r\n", max_frame_size=3, keep_delimiter=True), b"abc\r\n", [b"abc\r\n"], 0),
    (dict(delimiter=(b"\n", b"XYZ"), max_frame_size=3), b"abcXY", [], 5),
    (dict(delimiter=(b"\n", b"XYZ"), max_frame_size=3), b"abcXYZ", [b"abc"], 0),
    (dict(delimiter=(b"\n", b"XYZ"), max_frame_size=3), b"abcXYz", [], FrameTooLargeError),
    (dict(delimiter=b"\n", max_frame_size=0), b"\n\n", [b"", b""], 0),
    (dict(delimiter=b"\n", max_frame_size=0), b"\nx", [b""], FrameTooLargeError),
]


@pytest.mark.parametrize("settings, wire, frames, after", CASES)
def test_cases(impl, mode, check, settings, wire, frames, after):
    check(lambda: impl.DelimiterFramer(**settings), wire, frames, after, mode)


LINE_CASES = [
    ({}, b"a\nb\r\nc\r\n", [b"a", b"b", b"c"], 0),
    ({}, b"\r\n\n\r\n", [b"", b"", b""], 0),
    ({}, b"a\r\r\nb\rc\n", [b"a\r", b"b\rc"], 0),
    ({}, b"a\r", [], 2),
    ({}, b"a\n\r", [b"a"], 1),
    ({}, b"\n\r\n\r", [b"", b""], 1),
    (dict(line_ending=b"\r\n"), b"a\nb\r\nc\r\n", [b"a", b"b", b"c"], 0),
    (dict(max_frame_size=3), b"abc\r\nabc\n", [b"abc", b"abc"], 0),
    (dict(max_frame_size=3), b"abc\r", [], 4),
    (dict(max_frame_size=3), b"abcd", [], FrameTooLargeError),
    (dict(max_frame_size=3), b"abc\rd\n", [], FrameTooLargeError),
]


@pytest.mark.parametrize("settings, wire, frames, after", LINE_CASES)
def test_line_cases(impl, mode, check, settings, wire, frames, after):
    check(lambda: impl.LineFramer(**settings), wire, frames, after, mode)


@pytest.mark.parametrize(
    "settings, payload, wire",
    [
        (NL, b"abc", b"abc\n"),
        (NL, b"", b"\n"),
        (dict(delimiter=b"\r\n"), b"a\rb", b"a\rb\r\n"),
        (dict(delimiter=b"\r\n"), b"a\nb", b"a\nb\r\n"),
        (dict(delimiter=b"\r\n"), b"a\r", b"a\r\r\n"),  # decodes back: the match starts at 2
        (dict(delimiter=(b"\0", b"\n")), b"ab", b"ab\0"),  # the first delimiter is appended
        (dict(delimiter=(b"\n\n", b"\n")), b"ab", b"ab\n\n"),
        (dict(delimiter=b"aa"), b"b", b"baa"),
        (dict(delimiter=b"abab"), b"ba", b"baabab"),
        (dict(delimiter=(b"YZ", b"XYZW")), b"ab", b"abYZ"),
    ],
)
def test_encode(impl, settings, payload, wire):
    framer = impl.DelimiterFramer(**settings)
    assert framer.encode(payload) == wire
    assert framer.encode(bytearray(payload)) == wire
    assert framer.encode(memoryview(payload)) == wire
    # It decodes back, and decodes back whatever follows it on the stream.
    for after in (b"", *framer.delimiters, b"x"):
        decoder = impl.DelimiterFramer(**settings)
        assert decoder.feed(wire + after)[:1] == [payload]
    keep = impl.DelimiterFramer(**settings, keep_delimiter=True)
    assert keep.encode(payload) == wire
    assert keep.feed(wire * 2) == [wire] * 2


@pytest.mark.parametrize(
    "settings, payload",
    [
        (NL, b"a\nb"),
        (NL, b"\n"),
        (NL, b"ab\n"),
        (dict(delimiter=b"\r\n"), b"a\r\nb"),
        (dict(delimiter=b"\r\n"), b"\r\n"),
        (dict(delimiter=(b"\n", b";")), b"a;b"),  # any delimiter, not only the first
        (dict(delimiter=(b"\n", b"\r\n")), b"a\r"),  # "a\r" + "\n" decodes as "a"
        (dict(delimiter=b"aa"), b"a"),  # "a" + "aa": the delimiter matches one byte early
        (dict(delimiter=b"abab"), b"ab"),
        (dict(delimiter=(b"ab", b"abc")), b"x"),  # "xab" waits for a possible "abc"
        (dict(delimiter=(b"\n", b"\n\n")), b"x"),
        (dict(delimiter=(b"YZ", b"XYZW")), b"aXYZ"),
        (dict(delimiter=(b"YZ", b"XYZW")), b"aX"),  # "aXYZ" + "W" decodes as "a"
    ],
)
def test_encode_refuses_what_would_not_decode_back(impl, settings, payload):
    framer = impl.DelimiterFramer(**settings)
    with pytest.raises(ValueError) as info:
        framer.encode(payload)
    assert not isinstance(info.value, FrameTooLargeError)
    with pytest.raises(ValueError):
        framer.encode_many([b"ok", payload])


def test_encode_refuses_over_the_limit(impl):
    framer = impl.DelimiterFramer(b"\r\n", max_frame_size=3)
    assert framer.encode(b"abc") == b"abc\r\n"
    with pytest.raises(FrameTooLargeError):
        framer.encode(b"abcd")
    line = impl.LineFramer(max_frame_size=0)
    assert line.encode(b"") == b"\n"
    with pytest.raises(FrameTooLargeError):
        line.encode(b"a")


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_line_encode(impl, ending):
    framer = impl.LineFramer(line_ending=ending)
    assert framer.encode(b"abc") == b"abc" + ending
    assert framer.encode_many([b"a", b"", b"b\rc"]) == b"a" + ending + ending + b"b\rc" + ending
    for bad in (b"a\nb", b"\n", b"a\r\nb"):
        with pytest.raises(ValueError):
            framer.encode(bad)
    # With "\n" appended a trailing "\r" would turn into "\r\n" and vanish: refused.
    if ending == b"\n":
        with pytest.raises(ValueError):
            framer.encode(b"a\r")
    else:
        assert framer.feed(framer.encode(b"a\r")) == [b"a\r"]


@pytest.mark.parametrize(
    "settings",
    [
        NL,
        dict(delimiter=b"\r\n"),
        dict(delimiter=(b"\0", b"\xff\xff")),
        dict(delimiter=b"--", keep_delimiter=True),
        dict(delimiter=(b"\n\n", b"\n")),
    ],
)
def test_encode_many_round_trip(impl, mode, check, settings):
    framer = impl.DelimiterFramer(**settings)
    payloads = [b"", b"a", b"hello world", b"", b"x" * 300]
    wire = framer.encode_many(payloads)
    assert wire == b"".join(framer.encode(p) for p in payloads)
    assert framer.encode_many([]) == b""
    expected = [framer.encode(p) for p in payloads] if framer.keep_delimiter else payloads
    check(lambda: impl.DelimiterFramer(**settings), wire, expected, 0, mode)


def test_line_encode_many_round_trip(impl, mode, check):
    payloads = [b"", b"GET / HTTP/1.0", b"a\rb", b""]
    wire = impl.LineFramer(line_ending=b"\r\n").encode_many(payloads)
    check(lambda: impl.LineFramer(), wire, payloads, 0, mode)


def test_settings_are_exposed(impl):
    framer = impl.DelimiterFramer(
        (b"\r\n", bytearray(b"\n"), b"\r\n"), keep_delimiter=True, max_frame_size=5
    )
    assert framer.delimiters == (b"\r\n", b"\n")
    assert all(type(d) is bytes for d in framer.delimiters)
    assert framer.keep_delimiter is True
    assert framer.max_frame_size == 5
    assert impl.DelimiterFramer().delimiters == (b"\n",)
    assert impl.DelimiterFramer().keep_delimiter is False
    assert impl.LineFramer().max_frame_size == 8 * 1024 * 1024
    assert impl.LineFramer(max_frame_size=None).max_frame_size is None
    assert isinstance(impl.LineFramer(), impl.DelimiterFramer)


def test_delimiter_found_then_cut_off_by_the_chunk_end(impl):
    """With many delimiters (more first bytes than one pass looks for), a delimiter matched
    earlier in a chunk and begun again at its very end is found when the chunk after ends
    it."""
    many = (b"ab", b"c", b"d", b"e", b"f", b"g", b"h", b"0", b"\xff", b"\n")
    framer = impl.DelimiterFramer(many)
    assert framer.feed(b"xaby1a") == [b"x"]
    assert framer.feed(b"bz") == [b"y1"]
    assert framer.pending == 1
