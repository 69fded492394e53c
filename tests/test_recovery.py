"""Recovery after a bad frame, on both twins: with ``on_error="raise"`` or ``"skip"`` a
frame too large is skipped (where the framing tells where it ends) and the next good frame
decodes; its fault is raised once, or only counted in ``skipped``. The default stays
fail-fast. (tests/test_differential.py holds every framing to a reference as well.)"""

import pytest

from pyframe import FrameTooLargeError, IncompleteFrameError, MalformedFrameError


def test_default_is_fail_fast(impl):
    framer = impl.LineFramer(max_frame_size=3)
    assert framer.on_error == "fail"
    with pytest.raises(FrameTooLargeError):
        framer.feed(b"toolong\nok\n")
    with pytest.raises(FrameTooLargeError):  # and again, until reset()
        framer.feed(b"ok\n")


def test_lines_raise_once_then_go_on(impl):
    framer = impl.LineFramer(max_frame_size=3, on_error="raise")
    assert framer.feed(b"ab\nTOO LONG\ncd\n") == [b"ab"]  # the frames before the bad one
    with pytest.raises(FrameTooLargeError, match="frame of 8 bytes"):
        framer.pop_frames()  # its fault, once
    assert framer.pop_frames() == [b"cd"]  # then the frames after it
    assert framer.skipped == 1 and framer.pending == 0


def test_a_feed_that_raises_keeps_its_bytes(impl):
    framer = impl.LengthPrefixFramer(1, max_frame_size=3, on_error="raise")
    assert framer.feed(b"\x01a\x09") == [b"a"]  # a header of 9 > 3: skipped
    with pytest.raises(FrameTooLargeError):
        framer.feed(b"123456789\x01b")  # raises the fault; its bytes are taken even so
    assert framer.pop_frames() == [b"b"]
    assert framer.skipped == 1


def test_the_receive_pair_never_raises_a_skipped_frames_fault(impl):
    """get_buffer() and buffer_updated() take bytes in; the fault comes with the frames
    (an event loop would end the connection of a protocol raising there)."""
    framer = impl.LineFramer(max_frame_size=3, on_error="raise")
    assert framer.feed(b"x\nlong line\n") == [b"x"]
    with framer.get_buffer(16) as view:
        view[:3] = b"y\nz"
    framer.buffer_updated(3)
    with pytest.raises(FrameTooLargeError):
        framer.pop_frames()
    assert framer.feed(b"\n") == [b"y", b"z"]


def test_skip_counts_and_never_raises(impl):
    framer = impl.DelimiterFramer(b";", max_frame_size=4, on_error="skip")
    wire = b"a;" + b"x" * 100 + b";b;" + b"y" * 6 + b";c;"
    frames = []
    for i in range(0, len(wire), 7):
        frames += framer.feed(wire[i : i + 7])
    assert frames == [b"a", b"b", b"c"]
    assert framer.skipped == 2


def test_a_long_line_is_dropped_as_it_comes(impl):
    """No delimiter within the limit: the line is dropped up to its end, byte by byte as it
    comes, without buffering it (memory stays bounded)."""
    framer = impl.LineFramer(max_frame_size=100, on_error="skip")
    assert framer.feed(b"ok\n" + b"x" * 1000) == [b"ok"]
    for _ in range(100):
        assert framer.feed(b"x" * 10000) == []
        assert framer.pending <= 1
    assert framer.feed(b"x\r\nnext\n") == [b"next"]
    assert framer.skipped == 1


def test_length_prefix_skips_a_frame_by_its_declared_length(impl):
    framer = impl.LengthPrefixFramer(4, max_frame_size=10, on_error="skip")
    big = b"\x00\x01\x00\x00" + b"z" * 65536
    wire = framer.encode(b"one") + big + framer.encode(b"two")
    got = []
    for i in range(0, len(wire), 4096):  # the big frame's bytes are dropped as they come
        got += framer.feed(wire[i : i + 4096])
        assert framer.pending <= 4096
    assert got == [b"one", b"two"] and framer.skipped == 1
    # at the end of the stream in the middle of a skipped frame: a clean end (it was
    # reported when it was skipped)
    framer.feed(big[:100])
    assert framer.eof() == [] and framer.skipped == 2


@pytest.mark.parametrize(
    "make, wire, error",
    [
        # a negative length, a non-digit header, a malformed varint or netstring: where the
        # frame ends is unknown, so the stream fails as by default
        ("LengthPrefixFramer(1, adjustment=-5, on_error='skip')", b"\x02ab", MalformedFrameError),
        ("DecimalLengthFramer(2, on_error='skip')", b"x1a", MalformedFrameError),
        ("VarintFramer(on_error='skip')", b"\xff" * 11, MalformedFrameError),
        ("NetstringFramer(max_frame_size=5, on_error='skip')", b"99:", FrameTooLargeError),
        ("NetstringFramer(on_error='skip')", b"3:abc;", MalformedFrameError),
        # a length that does not fit 63 bits cannot be skipped either
        ("LengthPrefixFramer(8, on_error='skip')", b"\xff" * 8, FrameTooLargeError),
    ],
)
def test_faults_that_cannot_be_skipped_fail(impl, make, wire, error):
    framer = eval(f"impl.{make}")
    with pytest.raises(error):
        framer.feed(wire)
    with pytest.raises(error):
        framer.pop_frames()
    assert framer.skipped == 0


def test_reset_and_detach_forget_the_skipping(impl):
    framer = impl.LengthPrefixFramer(1, max_frame_size=3, on_error="skip")
    assert framer.feed(b"\x09abc") == []
    assert framer.skipped == 1
    framer.reset()
    assert framer.skipped == 0
    assert framer.feed(b"\x01z") == [b"z"]  # no byte of the old frame dropped any more
    framer.feed(b"\x09ab")
    assert framer.detach() == b""
    assert framer.feed(b"\x01y") == [b"y"]


def test_eof_raises_a_skipped_frames_fault_once(impl):
    framer = impl.LineFramer(max_frame_size=3, on_error="raise")
    assert framer.feed(b"a\n") == [b"a"]
    with framer.get_buffer(32) as view:  # buffered, not cut yet
        view[:12] = b"b\nTOOLONG\nta"
    framer.buffer_updated(12)
    assert framer.eof() == [b"b"]
    with pytest.raises(FrameTooLargeError):
        framer.eof()
    with pytest.raises(IncompleteFrameError) as info:
        framer.eof()  # the rest: a tail with no line end
    assert info.value.partial == b"ta"


@pytest.mark.parametrize("bad", ["ignore", None, 1, b"skip", "SKIP"])
def test_bad_settings_are_refused(impls, bad):
    for module in impls.values():
        with pytest.raises(ValueError, match="on_error must be 'fail', 'raise' or 'skip'"):
            module.LineFramer(on_error=bad)


def test_a_skip_cut_off_by_the_end_of_the_stream_ends_with_it(impl):
    framer = impl.LengthPrefixFramer(4, max_frame_size=16, on_error="skip")
    framer.feed(b"\x00\x01\x00\x00" + b"z" * 100)  # a 65536-byte frame, skipped, cut off
    assert framer.eof() == []
    assert framer.feed(framer.encode(b"next stream")) == [b"next stream"]
    lines = impl.LineFramer(max_frame_size=3, on_error="skip")
    lines.feed(b"x" * 10)
    assert lines.eof(last_frame=True) == []
    assert lines.feed(b"hi\n") == [b"hi"]


def test_bytes_of_a_skipped_frame_are_never_pending_nor_detached(impl):
    framer = impl.VarintFramer(max_frame_size=3, on_error="raise")
    assert framer.feed(b"\x01a\x0axx") == [b"a"]  # 8 more bytes of a 10-byte frame to drop
    with pytest.raises(FrameTooLargeError):
        framer.feed(b"yyyyyy\x01b\x01c")  # the fault, raised once; the bytes are taken
    assert framer.pending == 2  # the skipped frame's last 8 bytes dropped: b"\x01c" is left
    assert framer.detach() == b"\x01c"


def test_settings_are_plain_ints(impls):
    class Liar(int):  # says yes to every comparison
        def __lt__(self, other):
            return False

        __gt__ = __le__ = __ge__ = __lt__

        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    for module in impls.values():
        with pytest.raises(ValueError):
            module.LengthPrefixFramer(Liar(0))
        with pytest.raises(ValueError):
            module.DecimalLengthFramer(Liar(19))
        with pytest.raises(ValueError):
            module.LengthPrefixFramer(1, adjustment=Liar(2**63))
        with pytest.raises(ValueError):
            module.VarintFramer(max_frame_size=Liar(2**70))


# -- COBS and SLIP: a bad frame is skipped to its delimiter (0x00, END) --------------------


@pytest.mark.parametrize(
    "make, wire, frames, fault",
    [
        # a code byte pointing past the 0x00; a payload too large; then the next frame
        ("COBSFramer", b"\x02a\x00\x05ab\x00\x02b\x00", [b"a", b"b"], MalformedFrameError),
        (
            "COBSFramer(max_frame_size=3)",
            b"\x02a\x00\x06abcde\x00\x02b\x00",
            [b"a", b"b"],
            FrameTooLargeError,
        ),
        # an escape that is not one (ESC END too: that END still ends the bad frame)
        ("SLIPFramer", b"a\xc0b\xdbxc\xc0d\xc0", [b"a", b"d"], MalformedFrameError),
        ("SLIPFramer", b"a\xc0b\xdb\xc0d\xc0", [b"a", b"d"], MalformedFrameError),
        ("SLIPFramer(max_frame_size=2)", b"a\xc0bcd\xc0e\xc0", [b"a", b"e"], FrameTooLargeError),
    ],
)
def test_cobs_and_slip_skip_to_the_next_delimiter(impl, make, wire, frames, fault):
    name, _, args = make.partition("(")
    args = args.rstrip(")")
    for how in ("raise", "skip"):
        framer = eval(f"impl.{name}({args + ', ' if args else ''}on_error={how!r})")
        got = []
        for i in range(len(wire)):  # one byte at a time: the skip goes on as bytes come
            try:
                got += framer.feed(wire[i : i + 1])
            except fault:
                assert how == "raise"
        assert got == frames
        assert framer.skipped == 1 and framer.pending == 0


def test_cobs_drops_a_frame_too_large_as_it_comes(impl):
    framer = impl.COBSFramer(max_frame_size=100, on_error="skip")
    assert framer.feed(b"\x02a\x00" + b"\xff" * 1000) == [b"a"]
    for _ in range(100):
        assert framer.feed(b"\xff" * 10000) == []
        assert framer.pending == 0
    assert framer.feed(b"\x00\x02z\x00") == [b"z"]
    assert framer.skipped == 1


# -- markers: garbage and broken frames ---------------------------------------------------


def test_markers_raise_each_fault_once_and_go_on(impl):
    framer = impl.MarkerFramer(b"{", b"}", max_frame_size=4, on_error="raise")
    wire = b"{a}junk{bb}{too long}{c{d}}{e}"
    events = []
    for i in range(0, len(wire), 3):  # split: each fault is still raised once
        try:
            events += framer.feed(wire[i : i + 3])
        except (MalformedFrameError, FrameTooLargeError) as exc:
            events.append(type(exc).__name__)
    while True:
        try:
            got = framer.pop_frames()
        except (MalformedFrameError, FrameTooLargeError) as exc:
            events.append(type(exc).__name__)
            continue
        if not got:
            break
        events += got
    frames = [e for e in events if type(e) is bytes]
    faults = [e for e in events if type(e) is str]
    assert frames == [b"a", b"bb", b"d", b"e"]
    # "junk", the frame too long, "{c" broken by "{d", the "}" after "{d}"
    assert faults == ["MalformedFrameError", "FrameTooLargeError", "MalformedFrameError"] + [
        "MalformedFrameError"
    ]
    assert framer.skipped == 4 and framer.garbage == len(b"junk}")


def test_markers_reset_and_detach_forget_the_garbage(impl):
    framer = impl.MarkerFramer(on_error="skip")
    assert framer.feed(b"xx\x02a\x03yy") == [b"a"]
    assert (framer.garbage, framer.skipped) == (4, 2)
    framer.reset()
    assert (framer.garbage, framer.skipped) == (0, 0)
    framer.feed(b"zz\x02par")
    assert framer.detach() == b"\x02par"  # the dropped garbage is not held
    assert framer.garbage == 0
    assert framer.feed(b"\x02b\x03") == [b"b"]


def test_markers_at_eof_in_a_dropped_frame_end_cleanly(impl):
    framer = impl.MarkerFramer(escape=b"\x10", max_frame_size=2, on_error="skip")
    framer.feed(b"\x02abcdef\x10")  # too long: dropped, an escape as the last byte
    assert framer.pending <= 1
    assert framer.eof() == [] and framer.skipped == 1
    assert framer.feed(b"\x02ok\x03") == [b"ok"]


def test_failed_tells_a_fault_the_framer_cannot_go_past(impl):
    lines = impl.LineFramer(max_frame_size=4, on_error="raise")
    assert lines.feed(b"ab\n" + b"x" * 10 + b"\ncd\n") == [b"ab"]
    assert not lines.failed  # a skipped frame's fault, raised once: decoding goes on
    with pytest.raises(FrameTooLargeError):
        lines.pop_frames()
    assert not lines.failed
    assert lines.pop_frames() == [b"cd"]

    fail = impl.LineFramer(max_frame_size=4)
    assert not fail.failed
    assert fail.feed(b"ab\n" + b"x" * 10 + b"\n") == [b"ab"]
    assert fail.failed  # already, behind the frame returned before it
    with pytest.raises(FrameTooLargeError):
        fail.pop_frames()
    assert fail.failed
    fail.reset()
    assert not fail.failed
    with pytest.raises(RuntimeError, match="not initialised"):
        _ = impl.LineFramer.__new__(impl.LineFramer).failed
