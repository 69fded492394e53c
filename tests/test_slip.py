"""SLIPFramer: RFC 1055 (END 0xC0, ESC 0xDB, ESC_END 0xDC, ESC_ESC 0xDD), on both twins,
through every feeding path; hostile input; and against ``sliplib``, both directions."""

import random

import pytest

from pyframe import FrameTooLargeError, IncompleteFrameError, MalformedFrameError

END, ESC, ESC_END, ESC_ESC = b"\xc0", b"\xdb", b"\xdc", b"\xdd"

# RFC 1055's rules: END in the payload as ESC ESC_END, ESC as ESC ESC_ESC, END after it.
VECTORS = [
    (b"abc", b"abc\xc0"),
    (END, ESC + ESC_END + END),
    (ESC, ESC + ESC_ESC + END),
    (ESC_END + ESC_ESC, ESC_END + ESC_ESC + END),  # alone, not escapes
    (END + ESC + END, b"\xdb\xdc\xdb\xdd\xdb\xdc\xc0"),
    (ESC + ESC_END, b"\xdb\xdd\xdc\xc0"),  # an ESC before ESC_END stays two bytes
    (b"\x00\xff" * 100, b"\x00\xff" * 100 + END),
]


@pytest.mark.parametrize("payload, wire", VECTORS)
def test_known_vectors(impl, mode, check, payload, wire):
    framer = impl.SLIPFramer()
    assert framer.encode(payload) == wire
    for kind in (bytearray, memoryview):
        assert framer.encode(kind(payload)) == wire
    assert impl.SLIPFramer(leading_end=True).encode(payload) == END + wire
    check(lambda: impl.SLIPFramer(), wire + wire, [payload, payload], 0, mode)
    check(lambda: impl.SLIPFramer(), END + wire + END + wire, [payload, payload], 0, mode)


CASES = [
    # Empty frames between ENDs are skipped (a leading END flushes line noise).
    ({}, b"\xc0\xc0ab\xc0\xc0\xc0cd\xc0", [b"ab", b"cd"], 0),
    ({}, b"ab", [], 2),
    ({}, b"ab\xdb", [], 3),  # an ESC waiting for its next byte
    ({}, b"ab\xdb\xdc", [], 4),
    ({}, b"", [], 0),
    # An ESC followed by anything but ESC_END or ESC_ESC (END included): malformed.
    ({}, b"ok\xc0a\xdbxb\xc0", [b"ok"], MalformedFrameError),
    ({}, b"a\xdb\xc0b\xc0", [], MalformedFrameError),
    ({}, b"a\xdb\xdb\xdd\xc0", [], MalformedFrameError),
    # Limits: the decoded payload, counted as the bytes come.
    (dict(max_frame_size=3), b"\xdb\xdc\xdb\xdd\xdb\xdc\xc0", [b"\xc0\xdb\xc0"], 0),
    (dict(max_frame_size=2), b"\xdb\xdc\xdb\xdd\xdb", [], 5),
    (dict(max_frame_size=2), b"\xdb\xdc\xdb\xdd\xdb\xdc", [], FrameTooLargeError),
    (dict(max_frame_size=3), b"abcd", [], FrameTooLargeError),
    (dict(max_frame_size=3), b"abc", [], 3),
    (dict(max_frame_size=0), b"\xc0\xc0", [], 0),
    (dict(max_frame_size=0), b"a", [], FrameTooLargeError),
    (dict(max_frame_size=None), b"x" * 5000, [], 5000),
]


@pytest.mark.parametrize("settings, wire, frames, after", CASES)
def test_cases(impl, mode, check, settings, wire, frames, after):
    check(lambda: impl.SLIPFramer(**settings), wire, frames, after, mode)


def test_round_trip_every_path(impl, mode, check):
    rng = random.Random(11)
    payloads = [END, ESC, END * 600, bytes(range(256)) * 20, b"x" * 5000]
    payloads += [bytes(rng.choice(b"\xc0\xdb\xdc\xdda") for _ in range(700)) for _ in range(3)]
    for leading in (False, True):
        wire = impl.SLIPFramer(leading_end=leading).encode_many(payloads)
        check(lambda: impl.SLIPFramer(), wire, payloads, 0, mode)


def test_a_frame_a_byte_at_a_time(impl):
    payload = random.Random(4).randbytes(20000)
    wire = impl.SLIPFramer().encode(payload)
    framer = impl.SLIPFramer()
    for i in range(len(wire) - 1):
        assert framer.feed(wire[i : i + 1]) == []
    assert framer.pending == len(wire) - 1
    assert framer.feed(END) == [payload]


def test_error_messages(impl):
    with pytest.raises(MalformedFrameError) as info:
        impl.SLIPFramer().feed(b"ab\xdbx\xc0")
    assert str(info.value) == (
        "SLIP ESC (0xdb) at offset 2 of a frame is followed by 0x78: only ESC_END (0xdc) "
        "and ESC_ESC (0xdd) may follow it"
    )
    with pytest.raises(MalformedFrameError, match=r"followed by END \(0xc0\)"):
        impl.SLIPFramer().feed(b"ab\xdb\xc0")
    with pytest.raises(FrameTooLargeError) as info:
        impl.SLIPFramer(max_frame_size=3).feed(b"abcdefgh\xc0")
    assert str(info.value) == "frame decoding to at least 4 bytes exceeds max_frame_size=3"
    assert (info.value.size, info.value.limit) == (4, 3)


def test_bytes_without_end_are_refused_before_they_are_buffered(impl):
    framer = impl.SLIPFramer(max_frame_size=10000)
    with pytest.raises(FrameTooLargeError):
        for _ in range(1000):
            framer.feed(b"\xdb\xdc" * 50)
            assert framer.pending <= 20000
    assert framer.pending <= 20100


def test_encode(impl):
    framer = impl.SLIPFramer(max_frame_size=10)
    assert framer.verbatim is False and framer.leading_end is False
    assert impl.SLIPFramer(leading_end=True).leading_end is True
    with pytest.raises(TypeError, match="use encode"):
        framer.encode_parts(b"abc")
    with pytest.raises(FrameTooLargeError, match="payload of 11 bytes"):
        framer.encode(b"p" * 11)
    assert framer.encode(END * 10) == (ESC + ESC_END) * 10 + END  # the limit: decoded size
    # An empty payload would make an empty frame, which receivers skip: refused.
    with pytest.raises(ValueError, match="empty payload cannot be sent with SLIP"):
        framer.encode(b"")
    with pytest.raises(ValueError, match="empty payload"):
        framer.encode_many([b"a", b""])
    assert framer.encode_many([b"a", bytearray(END)]) == b"a\xc0\xdb\xdc\xc0"


@pytest.mark.parametrize("bad", [None, 0, 1, "yes", b""])
def test_leading_end_must_be_a_bool(impls, bad):
    for module in impls.values():
        with pytest.raises(TypeError, match="leading_end must be True or False"):
            module.SLIPFramer(leading_end=bad)


def test_eof_keeps_the_wire_bytes(impl):
    framer = impl.SLIPFramer()
    assert framer.feed(b"a\xc0b\xdb") == [b"a"]
    with pytest.raises(IncompleteFrameError) as info:
        framer.eof(last_frame=True)  # a partial SLIP frame is never a frame
    assert info.value.partial == b"b\xdb" and info.value.expected is None


def test_stale_view_cannot_make_a_frame_of_the_wrong_size(impls):
    results = []
    for module in impls.values():
        framer = module.SLIPFramer(on_error="skip")
        view = framer.get_buffer(16)
        view[:4] = b"a\xdb\xdcb"
        framer.buffer_updated(4)
        assert framer.pop_frames() == []
        view[2] = 0x41  # the escape, already read as ESC ESC_END, is no longer one
        assert framer.feed(b"c\xc0d\xc0") == [b"d"]
        results.append(framer.skipped)
    assert results == [1] * len(results)


# -- against sliplib, both directions ------------------------------------------------------


def _payloads(seed, count=300):
    rng = random.Random(seed)
    out = [END, ESC, ESC + ESC_END, END * 300]
    for _ in range(count):
        size = rng.choice((rng.randrange(1, 20), rng.randrange(1, 600), rng.randrange(1, 3000)))
        special = rng.random() * 0.3
        out.append(
            bytes(
                rng.choice(b"\xc0\xdb\xdc\xdd") if rng.random() < special else rng.randrange(256)
                for _ in range(size)
            )
        )
    return out


def test_decodes_what_sliplib_encodes(impl, mode, check):
    import sliplib

    payloads = _payloads(1)
    driver = sliplib.Driver()
    wire = b"".join(driver.send(p) for p in payloads)  # END-terminated (leading END if set)
    check(lambda: impl.SLIPFramer(), wire, payloads, 0, mode)
    wire = b"".join(END + sliplib.encode(p) + END for p in payloads)
    check(lambda: impl.SLIPFramer(), wire, payloads, 0, mode)


def test_sliplib_decodes_what_slip_framer_encodes(impl):
    import sliplib

    payloads = _payloads(2)
    for leading in (False, True):
        framer = impl.SLIPFramer(leading_end=leading)
        for payload in payloads:
            wire = framer.encode(payload)
            assert wire == (END if leading else b"") + sliplib.encode(payload) + END
        driver = sliplib.Driver()
        driver.receive(framer.encode_many(payloads))
        assert [driver.get(block=False) for _ in payloads] == payloads
        assert driver.get(block=False) is None


def test_malformed_for_us_is_malformed_for_sliplib(impls):
    import sliplib

    for packet in (b"a\xdbx", b"\xdb", b"\xdb\xdb\xdd"):
        with pytest.raises(sliplib.ProtocolError):
            sliplib.decode(packet)
        for module in impls.values():
            with pytest.raises(MalformedFrameError):
                module.SLIPFramer().feed(packet + END)
