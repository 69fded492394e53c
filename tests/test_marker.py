"""MarkerFramer: frames between a start and an end marker, on both twins, every feeding
path: garbage outside frames, resynchronisation at a start marker inside a frame, the
escape byte, limits and hostile input. (tests/test_differential.py holds it to a
decode-by-definition reference too.)"""

import gc

import pytest

from pyframe import FrameTooLargeError, IncompleteFrameError, MalformedFrameError

STX = dict(start=b"\x02", end=b"\x03")
BRACES = dict(start=b"{", end=b"}")
TAGS = dict(start=b"<msg>", end=b"</msg>")
DLE = dict(start=b"\x02", end=b"\x03", escape=b"\x10")

CASES = [
    # The classic example: marks at the head and the tail, the message between them.
    (BRACES, b"{2H:AAA:}{2H:BBB:}", [b"2H:AAA:", b"2H:BBB:"], 0),
    (BRACES, b"{2H:AAA:}{2H:B", [b"2H:AAA:"], 5),
    (BRACES, b"{}{}", [b"", b""], 0),
    ({}, b"\x02hello\x03\x02\x03", [b"hello", b""], 0),
    ({}, b"\x02hel", [], 4),
    (STX, b"", [], 0),
    # Multi-byte markers, found when split across feeds; bytes that only begin one.
    (TAGS, b"<msg>a</msg><msg>b</msg>", [b"a", b"b"], 0),
    (TAGS, b"<msg>a<b</m</ms</msg>", [b"a<b</m</ms"], 0),
    (TAGS, b"<msg>a</ms", [], 10),
    (TAGS, b"<ms", [], 3),
    (TAGS, b"<msg>a</msg><m", [b"a"], 2),
    # Garbage: bytes outside a frame fail the stream by default (on_error="fail").
    (BRACES, b"x{a}", [], MalformedFrameError),
    (BRACES, b"{a}\n{b}", [b"a"], MalformedFrameError),
    (BRACES, b"{a}}", [b"a"], MalformedFrameError),  # an end marker outside a frame
    (TAGS, b"<msX<msg>a</msg>", [], MalformedFrameError),
    # A start marker inside a frame: it is broken.
    (BRACES, b"{a{b}", [], MalformedFrameError),
    (TAGS, b"<msg>a<msg>b</msg>", [], MalformedFrameError),
    # Markers sharing a first byte, and one that begins with the other's last byte.
    (dict(start=b"ab", end=b"ac"), b"abxyacabac", [b"xy", b""], 0),
    (dict(start=b"ab", end=b"bc"), b"abxbcab", [b"x"], 2),
    # The escape byte: escaped markers' first bytes and escapes are payload bytes.
    (DLE, b"\x02a\x10\x02b\x10\x03c\x10\x10d\x03", [b"a\x02b\x03c\x10d"], 0),
    (DLE, b"\x02\x10\x03\x03\x02\x10", [b"\x03"], 2),  # an escape as the last byte waits
    (DLE, b"\x02a\x10x\x03", [], MalformedFrameError),  # escape + any other byte
    (DLE, b"\x02a\x02b\x03", [], MalformedFrameError),  # an unescaped start marker
    (dict(TAGS, escape=b"\\"), b"<msg>\\<\\\\/msg></msg>", [b"<\\/msg>"], 0),
    # Limits count the payload (decoded), markers and escapes apart.
    (dict(BRACES, max_frame_size=3), b"{abc}", [b"abc"], 0),
    (dict(BRACES, max_frame_size=3), b"{abc", [], 4),
    (dict(BRACES, max_frame_size=3), b"{abcd}", [], FrameTooLargeError),
    (dict(BRACES, max_frame_size=3), b"{abcd", [], FrameTooLargeError),
    (dict(BRACES, max_frame_size=3), b"{ab}{abcd{x}", [b"ab"], FrameTooLargeError),
    (dict(DLE, max_frame_size=2), b"\x02\x10\x02\x10\x03\x03", [b"\x02\x03"], 0),
    (dict(DLE, max_frame_size=1), b"\x02\x10\x02\x10\x03\x03", [], FrameTooLargeError),
    (dict(TAGS, max_frame_size=0), b"<msg></msg><msg></m", [b""], 8),
    (dict(TAGS, max_frame_size=0), b"<msg></msg><msg><x", [b""], FrameTooLargeError),
]


@pytest.mark.parametrize("settings, wire, frames, after", CASES)
def test_cases(impl, mode, check, settings, wire, frames, after):
    check(lambda: impl.MarkerFramer(**settings), wire, frames, after, mode)


def test_defaults(impl):
    framer = impl.MarkerFramer()
    assert (framer.start, framer.end, framer.escape) == (b"\x02", b"\x03", None)
    assert framer.on_error == "fail" and framer.verbatim
    assert framer.encode(b"abc") == b"\x02abc\x03"
    assert framer.encode_parts(b"abc") == (b"\x02", b"\x03")
    assert framer.garbage == framer.skipped == 0


@pytest.mark.parametrize("settings", [STX, BRACES, TAGS, DLE, dict(TAGS, escape=b"\xff")])
def test_round_trip_every_way(impl, mode, check, settings):
    framer = impl.MarkerFramer(**settings)
    payloads = [b"", b"2H:AAA:", b"x" * 5000, bytes(range(256)) if framer.escape else b"ab"]
    wire = b"".join(framer.encode(p) for p in payloads)
    assert framer.encode_many(payloads) == wire
    check(lambda: impl.MarkerFramer(**settings), wire, payloads, 0, mode)


def test_escaped_payloads_hold_every_special_byte(impl):
    framer = impl.MarkerFramer(b"\x02", b"\x03", escape=b"\x10")
    assert not framer.verbatim
    payload = b"\x10\x02\x03\x10\x10\x03\x02" + bytes(range(256))
    wire = framer.encode(payload)
    assert wire.startswith(b"\x02\x10\x10\x10\x02\x10\x03") and wire.endswith(b"\x03")
    assert len(wire) == 1 + len(payload) + 10 + 1  # each of the 10 special bytes escaped
    assert framer.encode(memoryview(payload)) == framer.encode(bytearray(payload)) == wire
    assert framer.feed(wire) == [payload]
    with pytest.raises(TypeError, match="use encode"):
        framer.encode_parts(payload)


def test_without_escape_a_payload_that_would_not_decode_back_is_refused(impl):
    tags = impl.MarkerFramer(b"<msg>", b"</msg>")
    with pytest.raises(ValueError, match=r"contains the end marker b'</msg>' \(at offset 1\)"):
        tags.encode(b"a</msg>b")
    with pytest.raises(ValueError, match="contains the start marker"):
        tags.encode(bytearray(b"<msg>"))
    assert tags.encode(b"a</ms") == b"<msg>a</ms</msg>"  # decodes back
    assert tags.feed(tags.encode(b"a</ms") + tags.encode(b"</m>")) == [b"a</ms", b"</m>"]
    # The boundary: the payload's end and the end marker make a start marker.
    ab = impl.MarkerFramer(b"ab", b"bc")
    with pytest.raises(ValueError, match=r"payload end b'a' plus the end marker b'bc' makes"):
        ab.encode(b"a")
    with pytest.raises(ValueError, match="makes the start marker"):
        ab.encode_parts(memoryview(b"xa"))
    assert ab.feed(ab.encode(b"b") + ab.encode(b"xb")) == [b"b", b"xb"]
    braces = impl.MarkerFramer(b"{", b"}}")
    with pytest.raises(ValueError, match=r"payload end b'}' plus the end marker b'}}' makes"):
        braces.encode(b"x}")  # "x}}}": the frame would end one byte early
    # With an escape, anything goes.
    assert impl.MarkerFramer(b"ab", b"bc", escape=b"\\").encode(b"a") == b"ab\\abc"
    with pytest.raises(FrameTooLargeError, match="payload of 4 bytes"):
        impl.MarkerFramer(max_frame_size=3).encode(b"abcd")


@pytest.mark.parametrize(
    "kw, error, message",
    [
        (dict(start=b""), ValueError, "start marker must not be empty"),
        (dict(end=b""), ValueError, "end marker must not be empty"),
        (dict(start="{"), TypeError, "start marker must be bytes"),
        (dict(start=b"<" * 65), ValueError, "at most 64 bytes"),
        (dict(start=b"x", end=b"x"), ValueError, "must differ"),
        (dict(start=b"<msg>", end=b"msg"), ValueError, "neither marker may contain"),
        (dict(start=b"a", end=b"ba"), ValueError, "neither marker may contain"),
        (dict(escape=b""), ValueError, "exactly one byte"),
        (dict(escape=b"\x10\x10"), ValueError, "exactly one byte"),
        (dict(escape=16), TypeError, "escape must be one byte"),
        (dict(escape=b"\x03"), ValueError, "must not occur in the markers"),
        (dict(start=b"<m>", end=b"</m>", escape=b"m"), ValueError, "must not occur"),
        (dict(on_error="ignore"), ValueError, "on_error"),
    ],
)
def test_settings_are_checked(impls, kw, error, message):
    for module in impls.values():
        with pytest.raises(error, match=message):
            module.MarkerFramer(**kw)


def test_settings_accept_bytes_likes(impl):
    framer = impl.MarkerFramer(bytearray(b"<"), memoryview(b">"), escape=bytearray(b"\\"))
    assert (framer.start, framer.end, framer.escape) == (b"<", b">", b"\\")
    assert all(type(x) is bytes for x in (framer.start, framer.end, framer.escape))


# -- garbage and resynchronisation -------------------------------------------------------


def test_garbage_fails_the_stream_by_default(impl):
    framer = impl.MarkerFramer(b"{", b"}")
    assert framer.feed(b"{a}") == [b"a"]
    with pytest.raises(MalformedFrameError, match=r"garbage outside a frame: .* got b'\\n'"):
        framer.feed(b"\n{b}")
    with pytest.raises(MalformedFrameError):  # and again, until reset()
        framer.feed(b"{c}")
    assert framer.garbage == 0  # nothing dropped
    framer.reset()
    assert framer.feed(b"{c}") == [b"c"]


def test_garbage_is_raised_once_then_dropped(impl):
    framer = impl.MarkerFramer(b"<msg>", b"</msg>", on_error="raise")
    assert framer.feed(b"<msg>a</msg>noise <ms") == [b"a"]
    with pytest.raises(MalformedFrameError, match="got b'noise'"):
        framer.pop_frames()
    # The run goes on (no second fault) until a start marker, across feeds.
    assert framer.feed(b"x more noise</msg>") == []
    assert framer.pending <= 4
    assert framer.feed(b"<msg>b</msg>") == [b"b"]
    assert framer.skipped == 1
    assert framer.garbage == len(b"noise <msx more noise</msg>")


def test_garbage_skipped_silently_is_counted(impl, mode, run):
    framer = impl.MarkerFramer(b"\x02", b"\x03", on_error="skip")
    wire = b"\r\n\x02a\x03\x03\x03\x02b\x03 \x02c\x03xyz"
    frames, error = run(framer, wire, mode)
    assert (frames, error) == ([b"a", b"b", b"c"], None)
    assert framer.skipped == 4  # four garbage runs
    assert framer.garbage == 2 + 2 + 1 + 3
    assert framer.pending == 0


def test_garbage_at_eof(impl):
    framer = impl.MarkerFramer(b"<msg>", b"</msg>")
    assert framer.feed(b"<msg>a</msg><ms") == [b"a"]
    assert framer.pending == 3  # may still begin a start marker
    with pytest.raises(MalformedFrameError, match="got b'<ms'"):
        framer.eof()  # it cannot any more: garbage
    quiet = impl.MarkerFramer(b"<msg>", b"</msg>", on_error="skip")
    assert quiet.feed(b"<msg>a</msg><ms") == [b"a"]
    assert quiet.eof() == [] and quiet.garbage == 3 and quiet.skipped == 1


def test_one_corrupted_byte_loses_one_frame(impl):
    """A frame whose end marker was corrupted is broken by the next start marker: that
    frame is lost, the stream is not."""
    framer = impl.MarkerFramer(b"\x02", b"\x03", on_error="skip")
    frames = [b"frame %d" % i for i in range(10)]
    wire = bytearray(framer.encode_many(frames))
    wire[wire.index(b"frame 4") + 7] = ord("!")  # its ETX
    assert framer.feed(wire) == frames[:4] + frames[5:]
    assert framer.skipped == 1 and framer.garbage == 0
    # A corrupted start marker: the frame's bytes are garbage up to the next one.
    framer = impl.MarkerFramer(b"\x02", b"\x03", on_error="skip")
    wire = bytearray(framer.encode_many(frames))
    wire[wire.index(b"frame 4") - 1] = ord("?")
    assert framer.feed(wire) == frames[:4] + frames[5:]
    assert framer.skipped == 1 and framer.garbage == len(b"?frame 4\x03")


def test_start_marker_inside_a_frame_raises_once_and_begins_the_next(impl):
    framer = impl.MarkerFramer(b"<msg>", b"</msg>", on_error="raise")
    assert framer.feed(b"<msg>a</msg><msg>bro") == [b"a"]
    with pytest.raises(MalformedFrameError, match=r"start marker b'<msg>' inside a frame"):
        framer.feed(b"ken<msg>c</msg>")
    assert framer.pop_frames() == [b"c"]
    assert framer.skipped == 1 and framer.garbage == 0


def test_fail_keeps_the_bytes_and_the_fault(impl):
    framer = impl.MarkerFramer(b"{", b"}")
    with pytest.raises(MalformedFrameError, match="inside a frame, after 2 bytes"):
        framer.feed(b"{ab{c}")
    assert framer.pending == 6
    with pytest.raises(MalformedFrameError):
        framer.next_frame()
    assert framer.detach() == b"{ab{c}"  # the bytes, for whoever takes over
    assert framer.feed(b"{d}") == [b"d"]


def test_bad_escape_skips_to_the_next_marker(impl):
    framer = impl.MarkerFramer(b"\x02", b"\x03", escape=b"\x10", on_error="raise")
    with pytest.raises(MalformedFrameError, match=r"escape byte b'\\x10' followed by b'x'"):
        framer.feed(b"\x02a\x10xb\x10\x03c\x03\x02ok\x03")
    # The broken frame is dropped to its end marker; escaped bytes in it do not end it.
    assert framer.pop_frames() == [b"ok"]
    assert framer.skipped == 1 and framer.garbage == 0


# -- limits and hostile input ------------------------------------------------------------


def test_no_end_marker_is_refused_before_buffering_more(impl):
    framer = impl.MarkerFramer(max_frame_size=1000)
    framer.feed(b"\x02" + b"x" * 999)
    with pytest.raises(FrameTooLargeError, match="no end marker within max_frame_size=1000"):
        framer.feed(b"x" * 100_000)
    assert framer.pending <= 1000 + 100_001


def test_too_large_frames_are_dropped_as_they_come(impl):
    framer = impl.MarkerFramer(max_frame_size=100, on_error="skip")
    assert framer.feed(b"\x02ok\x03\x02" + b"x" * 1000) == [b"ok"]
    for _ in range(100):
        assert framer.feed(b"x" * 10_000) == []
        assert framer.pending == 0  # nothing kept: memory stays bounded
    assert framer.feed(b"x\x03\x02next\x03") == [b"next"]
    assert framer.skipped == 1 and framer.garbage == 0
    # A start marker ends the dropping as well: it begins the next frame.
    assert framer.feed(b"\x02" + b"y" * 500 + b"\x02again\x03") == [b"again"]
    assert framer.skipped == 2


def test_long_garbage_is_dropped_in_linear_time(impl):
    framer = impl.MarkerFramer(b"<msg>", b"</msg>", on_error="skip")
    noise = b"<ms<m<" * 200_000  # every byte may begin a start marker for a while
    for i in range(0, len(noise), 65536):
        assert framer.feed(noise[i : i + 65536]) == []
        assert framer.pending < 5
    assert framer.feed(b"g><msg>x</msg>") == [b"x"]
    assert framer.garbage == len(noise) + 2 and framer.skipped == 1


def test_a_frame_one_byte_at_a_time(impl):
    """Byte by byte, a frame is scanned once in all (kept scan position): many thousands
    of feeds of one byte each stay fast, and the frame comes out whole."""
    framer = impl.MarkerFramer(b"<msg>", b"</msg>", escape=b"\\")
    payload = b"<\\/" * 20_000
    wire = framer.encode(payload)
    got = []
    for i in range(len(wire)):
        got += framer.feed(wire[i : i + 1])
    assert got == [payload]


def test_incomplete_frame_at_eof_holds_the_wire_bytes(impl):
    framer = impl.MarkerFramer(b"\x02", b"\x03", escape=b"\x10")
    framer.feed(b"\x02ab\x10")
    with pytest.raises(IncompleteFrameError) as info:
        framer.eof()
    assert info.value.partial == b"\x02ab\x10" and info.value.expected is None
    framer = impl.MarkerFramer()
    framer.feed(b"\x02tail")
    with pytest.raises(IncompleteFrameError):
        framer.eof(last_frame=True)  # a marker frame without its end is no frame


def test_stale_views_cannot_change_frames(impl):
    framer = impl.MarkerFramer(b"\x02", b"\x03", escape=b"\x10")
    view = framer.get_buffer(64)
    view[:4] = b"\x02ab\x10"
    framer.buffer_updated(4)
    kept = framer.get_buffer(64)  # kept past its validity
    assert framer.feed(b"\x03c\x03") == [b"ab\x03c"]
    kept[:8] = b"\x02zzzz\x03\x02\x03"  # a stale view: frames already cut stay as they were
    view[:4] = b"\x02\x02\x02\x02"
    assert framer.feed(b"\x02d\x03") == [b"d"]
    del view, kept
    gc.collect()


def test_max_frame_size_between_frames(impl):
    framer = impl.MarkerFramer(max_frame_size=10)
    assert framer.feed(b"\x02abcdef") == []
    framer.max_frame_size = 3  # applies to the frame not returned yet
    with pytest.raises(FrameTooLargeError):
        framer.feed(b"\x03")
    framer = impl.MarkerFramer(max_frame_size=2)
    framer.feed(b"\x02ab")
    framer.max_frame_size = None
    assert framer.feed(b"cd\x03") == [b"abcd"]


@pytest.mark.parametrize(
    "change, frame",
    [
        (b"wxyz", b"awx"),  # more bytes than counted: cut to the size counted
        (b"\x10\x10\x10\x10", b"a\x10\x10"),
        (b"q\x10\x10\x10", b"aq\x10"),  # (the last escape escapes nothing: dropped)
        (b"\x10\x02q\x10", b"a\x02q"),
    ],
)
def test_a_stale_view_rewriting_scanned_escapes(impls, change, frame):
    """Bytes written through a view kept past buffer_updated() (asyncio's contract broken)
    after the decoder scanned them: both twins trust what they counted then, and return
    the same frame of that size, never memory they did not write."""
    for module in impls.values():
        framer = module.MarkerFramer(escape=b"\x10")
        first = framer.get_buffer(64)
        first[:6] = b"\x02a\x10\x02\x10\x03"
        framer.buffer_updated(6)
        assert framer.pop_frames() == []  # scanned: 3 payload bytes so far
        first[2:6] = change  # a stale view: the bytes are still in its room
        second = framer.get_buffer(64)
        second[:1] = b"\x03"
        framer.buffer_updated(1)
        assert framer.pop_frames() == [frame], module.__name__
        del first, second
