"""Errors and limits: refused headers, limits at the byte, EOF mid-frame, the failed state,
reset(), deferred errors, argument checks -- on both twins."""

import array
import inspect
import sys
import tracemalloc

import numpy
import pytest

from pyframe import (
    FrameError,
    FrameTooLargeError,
    IncompleteFrameError,
    MalformedFrameError,
)

MiB = 1 << 20


def peak_during(fn):
    """(result or exception, peak bytes allocated while ``fn()`` ran)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        try:
            result = fn()
        except Exception as exc:
            result = exc
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return result, peak


# -- refused before anything is allocated -------------------------------------------------


@pytest.mark.parametrize(
    "make, header",
    [
        (lambda m: m.LengthPrefixFramer(4, max_frame_size=MiB), (4 << 30) - 1),
        (lambda m: m.LengthPrefixFramer(8, max_frame_size=MiB), 4 << 30),
        (lambda m: m.LengthPrefixFramer(8, "little", max_frame_size=None), 2**64 - 1),
        (lambda m: m.LengthPrefixFramer(4, adjustment=1 << 30, max_frame_size=MiB), 0),
        (lambda m: m.DecimalLengthFramer(10, max_frame_size=MiB), 4 << 30),
    ],
)
def test_oversize_header_allocates_nothing(impl, make, header):
    framer = make(impl)
    if isinstance(framer, impl.DecimalLengthFramer):
        wire = b"%010d" % header
    else:
        wire = header.to_bytes(framer.length_size, framer.byteorder)
    result, peak = peak_during(lambda: framer.feed(wire + b"x" * 100))
    assert isinstance(result, FrameTooLargeError), result
    assert peak < 64 * 1024, peak
    assert result.limit == framer.max_frame_size or framer.max_frame_size is None
    assert "exceeds max_frame_size" in str(result) or "largest size supported" in str(result)
    assert str(header if header else 1 << 30) in str(result)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.LengthPrefixFramer(8, max_frame_size=None),
        lambda m: m.DecimalLengthFramer(12, max_frame_size=None),
    ],
)
def test_huge_header_without_limit_waits_without_allocating(impl, make):
    framer = make(impl)
    claim = 4 << 30  # 4 GiB announced, never preallocated
    wire = (
        b"%012d" % claim
        if isinstance(framer, impl.DecimalLengthFramer)
        else claim.to_bytes(8, "big")
    )
    result, peak = peak_during(
        lambda: [framer.feed(wire)] + [framer.feed(b"y" * 1000) for _ in range(10)]
    )
    assert result == [[]] * 11
    assert peak < 256 * 1024, peak
    assert framer.pending == len(wire) + 10_000


def test_no_delimiter_within_the_limit_stops_early(impl):
    framer = impl.DelimiterFramer(b"\r\n", max_frame_size=64 * 1024)
    chunk = b"z" * 4096

    def flood():
        for _ in range(10_000):  # 40 MB offered; refused after 64 KiB
            framer.feed(chunk)
        return "not refused"

    result, peak = peak_during(flood)
    assert isinstance(result, FrameTooLargeError), result
    assert "no delimiter within max_frame_size=65536" in str(result)
    assert result.limit == 64 * 1024 and result.size > 64 * 1024
    assert peak < 1 * MiB, peak


# -- limits at the byte, for every framer ------------------------------------------------


def _length_wire(framer, size):
    field = size - framer.adjustment
    return bytes(framer.offset) + field.to_bytes(framer.length_size, framer.byteorder)


LIMITED = {
    "length4": lambda m, limit: m.LengthPrefixFramer(4, max_frame_size=limit),
    "length2-adjusted": lambda m, limit: m.LengthPrefixFramer(
        2, "little", offset=1, adjustment=-3, max_frame_size=limit
    ),
    "length1-positive-adjustment": lambda m, limit: m.LengthPrefixFramer(
        1, adjustment=2, max_frame_size=limit
    ),
    "decimal": lambda m, limit: m.DecimalLengthFramer(4, max_frame_size=limit),
    "delimiter": lambda m, limit: m.DelimiterFramer(b"\n", max_frame_size=limit),
    "delimiter-multi": lambda m, limit: m.DelimiterFramer((b"\n", b"<END>"), max_frame_size=limit),
    "delimiter-keep": lambda m, limit: m.DelimiterFramer(
        b"\r\n", keep_delimiter=True, max_frame_size=limit
    ),
    "line": lambda m, limit: m.LineFramer(max_frame_size=limit),
    "line-crlf": lambda m, limit: m.LineFramer(line_ending=b"\r\n", max_frame_size=limit),
}


@pytest.mark.parametrize("name", sorted(LIMITED))
@pytest.mark.parametrize("limit", [2, 3, 200])
def test_limit_boundary(impl, mode, run, name, limit):
    make = lambda: LIMITED[name](impl, limit)  # noqa: E731
    framer = make()
    at_limit = bytes(range(97, 97 + 26)) * 8
    at_limit = at_limit[:limit]
    over = at_limit + b"q"
    # Encoders: exactly the limit is accepted, one byte more refused.
    wire = framer.encode(at_limit)
    with pytest.raises(FrameTooLargeError):
        framer.encode(over)
    # Decoders: a frame of exactly the limit is accepted ...
    expected = wire if getattr(framer, "keep_delimiter", False) else at_limit
    frames, err = run(make(), wire + wire, mode, 1)
    assert err is None and frames == [expected, expected]
    # ... one byte more is refused, as soon as it is certain.
    if isinstance(framer, impl.DelimiterFramer):
        ending = framer.delimiters[0]
        over_wire = over + ending
        certain = over  # no delimiter within the limit: refused before one arrives
        waits = at_limit + ending[:-1]  # a frame of exactly the limit may still end here
        frames, err = run(make(), waits, mode, 2)
        assert err is None and frames == [] and len(waits) >= limit
    elif isinstance(framer, impl.DecimalLengthFramer):
        over_wire = b"%04d" % (limit + 1) + over
        certain = over_wire[:4]
    else:
        over_wire = _length_wire(framer, limit + 1) + over
        certain = over_wire[: framer.offset + framer.length_size]
    for data in (over_wire, certain, wire + over_wire):
        decoder = make()
        frames, err = run(decoder, data, mode, 3)
        assert isinstance(err, FrameTooLargeError), (data, err)
        assert frames == ([expected] if data == wire + over_wire else [])
        assert err.limit == limit
        assert f"max_frame_size={limit}" in str(err)


# -- malformed headers -------------------------------------------------------------------


def test_negative_adjusted_length_message(impl):
    framer = impl.LengthPrefixFramer(2, adjustment=-2)
    with pytest.raises(MalformedFrameError) as info:
        framer.feed(b"\x00\x01x")
    message = str(info.value)
    assert "length field 1" in message and "adjustment -2" in message
    assert "negative" in message and "at least 2" in message
    assert isinstance(info.value, FrameError) and isinstance(info.value, ValueError)


def test_decimal_header_message(impl):
    framer = impl.DecimalLengthFramer(4)
    with pytest.raises(MalformedFrameError) as info:
        framer.feed(b"00x1abc")
    assert "4 ASCII digits" in str(info.value) and "b'00x1'" in str(info.value)


# -- EOF ---------------------------------------------------------------------------------


def make_all(impl):
    return [
        (impl.LengthPrefixFramer(2), b"\x00\x03abc", b"\x00\x05ab"),
        (impl.DecimalLengthFramer(3), b"003abc", b"00"),
        (impl.DelimiterFramer(b"\r\n"), b"abc\r\n", b"ab\r"),
        (impl.LineFramer(), b"abc\n", b"partial"),
    ]


def test_eof(impl):
    for framer, good, partial in make_all(impl):
        assert framer.eof() == []  # nothing buffered: a clean end
        assert len(framer.feed(good)) == 1
        assert framer.eof() == []
        framer.feed(partial)
        with pytest.raises(IncompleteFrameError) as info:
            framer.eof()
        err = info.value
        assert isinstance(err, EOFError) and isinstance(err, FrameError)
        assert isinstance(err, ValueError)
        assert err.partial == partial and type(err.partial) is bytes
        assert f"{len(partial)} bytes pending" in str(err)
        # The decoder is now failed, like after any other fault.
        for call in (lambda: framer.feed(b""), framer.pop_frames, framer.next_frame, framer.eof):
            with pytest.raises(IncompleteFrameError):
                call()
        framer.reset()
        assert framer.eof() == []


def test_eof_returns_buffered_frames_then_raises(impl):
    for framer, good, partial in make_all(impl):
        expected = framer.feed(good)
        view = framer.get_buffer()
        data = good + good + partial
        view[: len(data)] = data
        view.release()
        framer.buffer_updated(len(data))  # buffered, not yet cut
        assert framer.eof() == expected * 2
        with pytest.raises(IncompleteFrameError) as info:
            framer.pop_frames()
        assert info.value.partial == partial


def test_eof_keeps_a_deferred_fault(impl):
    """A fault found by eof() after good frames is the one raised next (not masked by an
    IncompleteFrameError about the faulty bytes)."""
    framer = impl.DecimalLengthFramer(2)
    view = framer.get_buffer()
    view[:5] = b"01b0x"
    view.release()
    framer.buffer_updated(5)
    assert framer.eof() == [b"b"]
    with pytest.raises(MalformedFrameError):
        framer.eof()


# -- the failed state, reset() and deferred errors ---------------------------------------

FAULTS = {
    "too-large": (
        lambda m: m.LengthPrefixFramer(1, max_frame_size=3),
        b"\x01a",
        b"\x04abcd",
        FrameTooLargeError,
    ),
    "negative": (
        lambda m: m.LengthPrefixFramer(1, adjustment=-1),
        b"\x02a",
        b"\x00",
        MalformedFrameError,
    ),
    "decimal": (lambda m: m.DecimalLengthFramer(2), b"01a", b"1x", MalformedFrameError),
    "no-delimiter": (
        lambda m: m.DelimiterFramer(b";", max_frame_size=3),
        b"a;",
        b"abcd",
        FrameTooLargeError,
    ),
    "line-too-long": (
        lambda m: m.LineFramer(max_frame_size=3),
        b"a\r\n",
        b"abcd\n",
        FrameTooLargeError,
    ),
}


def _calls(framer):
    def buffer_updated():
        framer.buffer_updated(0)

    return {
        "feed": lambda: framer.feed(b"more"),
        "feed-empty": lambda: framer.feed(b""),
        "pop_frames": framer.pop_frames,
        "next_frame": framer.next_frame,
        "get_buffer": framer.get_buffer,
        "buffer_updated": buffer_updated,
        "eof": framer.eof,
    }


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_failed_state_is_sticky_and_reset_recovers(impl, fault):
    make, good, bad, error = FAULTS[fault]
    framer = make(impl)
    expected = make(impl).feed(good)
    assert len(expected) == 1
    with pytest.raises(error) as first:
        framer.feed(bad)
    pending = framer.pending
    for name, call in _calls(framer).items():
        with pytest.raises(error) as info:
            call()
        assert str(info.value) == str(first.value), name
        assert framer.pending == pending, name  # nothing dropped, nothing added
    framer.reset()
    assert framer.pending == 0
    assert framer.feed(good) == expected
    assert framer.eof() == []


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_failed_state_after_get_buffer(impl, fault):
    make, _good, bad, error = FAULTS[fault]
    framer = make(impl)
    view = framer.get_buffer(len(bad))
    view[: len(bad)] = bad
    view.release()
    framer.buffer_updated(len(bad))
    with pytest.raises(error):
        framer.next_frame()
    with pytest.raises(error):
        framer.buffer_updated(0)  # checked before the missing-buffer RuntimeError
    with pytest.raises(error):
        framer.get_buffer(10)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_error_after_good_frames_is_deferred(impl, fault):
    make, good, bad, error = FAULTS[fault]
    expected = make(impl).feed(good)
    framer = make(impl)
    assert framer.feed(good + good + bad) == expected * 2  # nothing lost ...
    assert framer.pending >= len(bad) - 1
    with pytest.raises(error):
        framer.feed(b"")  # ... and the next call raises
    with pytest.raises(error):
        framer.pop_frames()
    # next_frame: the good frames one by one, then the error.
    framer = make(impl)
    view = framer.get_buffer()
    data = good + good + bad
    view[: len(data)] = data
    view.release()
    framer.buffer_updated(len(data))
    assert framer.next_frame() == expected[0]
    assert framer.next_frame() == expected[0]
    with pytest.raises(error):
        framer.next_frame()
    with pytest.raises(error):
        framer.next_frame()
    # pop_frames: the good frames, then the error.
    framer = make(impl)
    view = framer.get_buffer()
    view[: len(data)] = data
    view.release()
    framer.buffer_updated(len(data))
    assert framer.pop_frames() == expected * 2
    with pytest.raises(error):
        framer.pop_frames()


def test_reset_discards_a_partial_frame_and_a_lent_buffer(impl):
    framer = impl.LengthPrefixFramer(2)
    framer.feed(b"\x00\x05ab")
    view = framer.get_buffer(10)
    framer.reset()
    assert framer.pending == 0
    with pytest.raises(RuntimeError):
        framer.buffer_updated(1)
    assert framer.feed(b"\x00\x01z") == [b"z"]
    del view


# -- argument checks ---------------------------------------------------------------------

BAD_SETTINGS = [
    (lambda m: m.LengthPrefixFramer(0), ValueError),
    (lambda m: m.LengthPrefixFramer(9), ValueError),
    (lambda m: m.LengthPrefixFramer(True), TypeError),
    (lambda m: m.LengthPrefixFramer("4"), TypeError),
    (lambda m: m.LengthPrefixFramer(4.0), TypeError),
    (lambda m: m.LengthPrefixFramer(4, "native"), ValueError),
    (lambda m: m.LengthPrefixFramer(4, "BIG"), ValueError),
    (lambda m: m.LengthPrefixFramer(4, "big", 0), TypeError),  # keyword-only settings
    (lambda m: m.LengthPrefixFramer(offset=-1), ValueError),
    (lambda m: m.LengthPrefixFramer(offset=(1 << 20) + 1), ValueError),
    (lambda m: m.LengthPrefixFramer(offset="1"), TypeError),
    (lambda m: m.LengthPrefixFramer(offset=1.0), TypeError),
    (lambda m: m.LengthPrefixFramer(adjustment=2**62 + 1), ValueError),
    (lambda m: m.LengthPrefixFramer(adjustment=-(2**62) - 1), ValueError),
    (lambda m: m.LengthPrefixFramer(adjustment=None), TypeError),
    (lambda m: m.LengthPrefixFramer(max_frame_size=-1), ValueError),
    (lambda m: m.LengthPrefixFramer(max_frame_size=1.5), TypeError),
    (lambda m: m.LengthPrefixFramer(max_frame_size=True), TypeError),
    (lambda m: m.LengthPrefixFramer(max_frame_size="10"), TypeError),
    (lambda m: m.LengthPrefixFramer(unknown=1), TypeError),
    (lambda m: m.DecimalLengthFramer(0), ValueError),
    (lambda m: m.DecimalLengthFramer(19), ValueError),
    (lambda m: m.DecimalLengthFramer(4.0), TypeError),
    (lambda m: m.DecimalLengthFramer(4, 100), TypeError),
    (lambda m: m.DecimalLengthFramer(max_frame_size=-5), ValueError),
    (lambda m: m.DelimiterFramer(b""), ValueError),
    (lambda m: m.DelimiterFramer(()), ValueError),
    (lambda m: m.DelimiterFramer((b"\n", b"")), ValueError),
    (lambda m: m.DelimiterFramer("\n"), TypeError),
    (lambda m: m.DelimiterFramer([b"\n"]), TypeError),
    (lambda m: m.DelimiterFramer((b"\n", "x")), TypeError),
    (lambda m: m.DelimiterFramer(10), TypeError),
    (lambda m: m.DelimiterFramer(b"\n", True), TypeError),
    (lambda m: m.DelimiterFramer(max_frame_size=-1), ValueError),
    (lambda m: m.LineFramer(line_ending=b"\r"), ValueError),
    (lambda m: m.LineFramer(line_ending="\n"), ValueError),
    (lambda m: m.LineFramer(line_ending=b"\n\r"), ValueError),
    (lambda m: m.LineFramer(b"\n"), TypeError),
    (lambda m: m.LineFramer(delimiter=b";"), TypeError),
    (lambda m: m.LineFramer(max_frame_size=-1), ValueError),
]


@pytest.mark.parametrize("index", range(len(BAD_SETTINGS)))
def test_bad_settings(impls, index):
    make, error = BAD_SETTINGS[index]
    messages = {}
    for name, module in impls.items():
        with pytest.raises(error) as info:
            make(module)
        assert not isinstance(info.value, FrameError)
        messages[name] = (type(info.value), str(info.value))
    if error is ValueError:  # the shared checks: the same message from both twins
        assert len(set(messages.values())) == 1, messages


def test_limit_beyond_63_bits_is_refused(impl):
    with pytest.raises(ValueError, match="max_frame_size must be between 0 and 2\\*\\*63-2"):
        impl.LengthPrefixFramer(max_frame_size=2**70)


def test_length_size_must_be_an_int(impl):
    with pytest.raises(TypeError, match="length_size must be an int"):
        impl.LengthPrefixFramer(4.0)


def test_unlimited_too_large_message(impl):
    framer = impl.LengthPrefixFramer(8, max_frame_size=None)
    with pytest.raises(FrameTooLargeError, match=r"largest size supported \(2\*\*63-1"):
        framer.feed(b"\xff" * 8)


def test_good_settings_edges(impl):
    impl.LengthPrefixFramer(offset=1 << 20, adjustment=-(2**62), max_frame_size=0)
    impl.LengthPrefixFramer(adjustment=2**62, max_frame_size=2**63 - 2)
    impl.DecimalLengthFramer(1)
    impl.DecimalLengthFramer(18)
    impl.DelimiterFramer(bytearray(b"x"))
    impl.DelimiterFramer((memoryview(b"ab"), b"c"))
    impl.LineFramer(line_ending=b"\r\n", max_frame_size=None)


def test_buffer_updated_contract(impl):
    framer = impl.LineFramer()
    with pytest.raises(RuntimeError):
        framer.buffer_updated(0)  # no get_buffer() first
    view = framer.get_buffer(16)
    size = len(view)
    assert size >= 16
    for bad in (-1, size + 1, 2**64):
        with pytest.raises(ValueError) as info:
            framer.buffer_updated(bad)
        assert f"between 0 and {size}" in str(info.value)
    for bad in (1.0, "1", None):
        with pytest.raises(TypeError):
            framer.buffer_updated(bad)
    view[:3] = b"ab\n"  # the view is still lent after refused calls
    framer.buffer_updated(3)
    with pytest.raises(RuntimeError):
        framer.buffer_updated(0)  # the view was committed already
    assert framer.pop_frames() == [b"ab"]
    framer.get_buffer()
    assert framer.feed(b"cd\n") == [b"cd"]  # feed() takes the lent room back ...
    with pytest.raises(RuntimeError):
        framer.buffer_updated(1)  # ... so the view can no longer be committed
    for bad in (1.5, "x", None):
        with pytest.raises(TypeError):
            framer.get_buffer(bad)
    assert len(framer.get_buffer(True)) >= 1
    assert framer.pending == 0


@pytest.mark.parametrize("data", ["text", 12, None, [1, 2], object()])
def test_feed_refuses_non_bytes(impl, data):
    framer = impl.LineFramer()
    with pytest.raises(TypeError):
        framer.feed(data)
    assert framer.feed(b"ok\n") == [b"ok"]  # not a stream fault: the decoder still works


@pytest.mark.parametrize(
    "data",
    [
        array.array("H", [0x0A61, 0x0A62]),  # b"a\nb\n" in little-endian memory
        memoryview(b"a\nb\n").cast("B", (2, 2)),
        bytearray(b"a\nb\n"),
        memoryview(b"xxa\nb\nxx")[2:-2],
        numpy.frombuffer(b"a\nb\n", dtype=numpy.uint16),  # items of two bytes, contiguous
    ],
)
def test_feed_takes_any_contiguous_bytes_like(impls, data):
    results = {}
    for name, module in impls.items():
        framer = module.LineFramer()
        results[name] = framer.feed(data), framer.pending
    assert len(set(map(repr, results.values()))) == 1, results
    if isinstance(data, (array.array, numpy.ndarray)) and data.tobytes() != b"a\nb\n":
        return  # big-endian machine
    assert results["python"] == ([b"a", b"b"], 0)


@pytest.mark.parametrize(
    "empty",
    [
        numpy.zeros((0, 3)),  # zero rows: memoryview.cast() refuses a zero in the shape
        numpy.zeros((3, 0), dtype=numpy.uint8),
        memoryview(numpy.zeros((2, 0))),
        numpy.zeros(0)[::2],  # numpy calls an empty array contiguous whatever its strides
    ],
)
def test_empty_buffers_of_any_shape(impls, empty):
    for module in impls.values():
        framer = module.LineFramer()
        assert framer.feed(empty) == []
        assert framer.encode(empty) == b"\n"
        assert framer.encode_parts(empty) == (b"", b"\n")
        assert framer.encode_many([empty, b"a"]) == b"\na\n"
        assert framer.feed(b"ok\n") == [b"ok"]


def test_feed_refuses_non_contiguous_views(impls):
    for module in impls.values():
        framer = module.LineFramer()
        with pytest.raises(BufferError):  # not a bytes-like object: not C-contiguous
            framer.feed(memoryview(b"a\nb\nc\n")[::2])
        with pytest.raises(BufferError):  # empty, but memoryview calls it not contiguous
            framer.feed(memoryview(b"")[::2])
        assert framer.pending == 0
        assert framer.feed(b"ok\n") == [b"ok"]


def _payload_calls(framer):
    """Every call that takes one bytes-like object (``feed()`` and the encoders)."""
    return [
        framer.feed,
        framer.encode,
        framer.encode_parts,
        lambda data: framer.encode_many([data]),
        lambda data: framer._encode_many_below([data], 100),
    ]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ in Python: 3.12+")
@pytest.mark.parametrize("refuse", [False, True])
def test_one_buffer_request_as_memoryview_makes(impls, refuse):
    """The exporter is asked once, with memoryview()'s flags, as the twin's memoryview()
    asks it: a second request (after a refusal) may be answered otherwise."""

    class Exporter:
        def __init__(self):
            self.requests = []

        def __buffer__(self, flags):
            self.requests.append(flags)
            if refuse:
                raise ValueError("refused")
            return memoryview(b"abc")

    for module in impls.values():
        for call in _payload_calls(module.LengthPrefixFramer()):
            exporter = Exporter()
            if refuse:
                with pytest.raises(ValueError, match=r"^refused$"):
                    call(exporter)
            else:
                call(exporter)
            assert exporter.requests == [inspect.BufferFlags.FULL_RO], (module, call)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ in Python: 3.12+")
def test_exporters_own_type_error(impls):
    """A TypeError of the exporter's own is raised as it is, not taken for an object
    without buffers."""

    class Raising:
        def __buffer__(self, flags):
            raise TypeError("not now")

    class NoView:
        def __buffer__(self, flags):
            return b"abc"  # not a memoryview: CPython refuses it

    for module in impls.values():
        for call in _payload_calls(module.LengthPrefixFramer()):
            with pytest.raises(TypeError, match=r"^not now$"):
                call(Raising())
            with pytest.raises(TypeError, match=r"^__buffer__ returned non-memoryview object$"):
                call(NoView())


def test_buffers_memoryview_refuses(impls):
    """Exporters memoryview() refuses, whatever a simple request would get: one that gives
    no format nor shape, one of more dimensions than a memoryview has."""
    testbuffer = pytest.importorskip("_testbuffer")
    base = testbuffer.ndarray([1, 2], shape=[2], format="B")
    simple = testbuffer.ndarray(base, getbuf=testbuffer.PyBUF_SIMPLE)  # a simple view of it
    deep = testbuffer.ndarray([1], shape=[1] * 70, format="B")
    for module in impls.values():
        for call in _payload_calls(module.LengthPrefixFramer()):
            with pytest.raises(BufferError, match="does not provide format, shape or strides"):
                call(simple)
            with pytest.raises(ValueError, match="dimensions must not exceed 64"):
                call(deep)
