"""The framer objects themselves, on both twins: read-only settings, no pickling, the
same refusals of bad input, and encode_parts() that checks without copying."""

import datetime
import pickle
import tracemalloc

import numpy
import pytest

from pyframe import FrameTooLargeError

FRAMERS = [
    (
        "LengthPrefixFramer",
        {},
        ["length_size", "byteorder", "offset", "adjustment", "include_header"],
    ),
    ("DecimalLengthFramer", {}, ["digits"]),
    ("NetstringFramer", {}, []),
    ("VarintFramer", {}, []),
    ("FixedLengthFramer", {"size": 3}, ["size"]),
    ("DelimiterFramer", {}, ["delimiters", "keep_delimiter"]),
    ("LineFramer", {}, ["delimiters", "keep_delimiter"]),
    ("COBSFramer", {}, []),
    ("SLIPFramer", {}, ["leading_end"]),
    ("MarkerFramer", {}, ["start", "end", "escape", "garbage"]),
]


@pytest.mark.parametrize("name, kw, settings", FRAMERS)
def test_settings_are_read_only(impl, name, kw, settings):
    framer = getattr(impl, name)(**kw)
    for setting in settings + ["pending", "on_error", "skipped"]:
        value = getattr(framer, setting)
        with pytest.raises(AttributeError):
            setattr(framer, setting, value)


@pytest.mark.parametrize("name, kw, settings", FRAMERS)
def test_framers_refuse_pickling(impl, name, kw, settings):
    framer = getattr(impl, name)(**kw)
    framer.feed(framer.encode(b"abc")[:2])
    with pytest.raises(TypeError, match="holds a stream's state"):
        pickle.dumps(framer)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        ("text", TypeError, "a bytes-like object is required, not 'str'"),
        # the type's name, not CPython's tp_name ('datetime.date') nor cut after 100 bytes
        (datetime.date(2000, 1, 1), TypeError, "a bytes-like object is required, not 'date'$"),
        (type("X" * 150, (), {})(), TypeError, f"required, not '{'X' * 150}'$"),
        (memoryview(b"abcdef")[::2], BufferError, "not C-contiguous"),
        # numpy refuses a simple buffer request with its own ValueError; memoryview() takes
        # the array, and the twin then refuses it as BufferError: both must say the same
        (numpy.arange(6, dtype=numpy.uint8)[::2], BufferError, "not C-contiguous"),
        (numpy.zeros((2, 4), dtype=numpy.uint8)[:, 1:], BufferError, "not C-contiguous"),
        (numpy.arange(3.0)[::2], BufferError, "not C-contiguous"),
        # numpy serves a simple request for an array of datetimes but will not describe it
        # (memoryview()'s request): both must refuse it as memoryview() does
        (numpy.zeros(2, dtype="M8[s]"), ValueError, "cannot include dtype 'M' in a buffer"),
    ],
)
@pytest.mark.parametrize("name, kw, settings", FRAMERS)
def test_bad_input_same_error_everywhere(impls, name, kw, settings, bad, error, message):
    for module in impls.values():
        framer = getattr(module, name)(**kw)
        calls = [framer.feed, framer.encode, lambda bad: framer.encode_many([b"abc", bad])]
        if framer.verbatim:  # (else encode_parts() refuses every payload: tests/test_cobs.py)
            calls.append(framer.encode_parts)
        for call in calls:
            with pytest.raises(error, match=message):
                call(bad)


@pytest.mark.parametrize(
    "name, kw",
    [
        ("LengthPrefixFramer", {}),
        ("DecimalLengthFramer", {"digits": 9}),
        ("NetstringFramer", {}),
        ("VarintFramer", {}),
        ("DelimiterFramer", {}),
        ("LineFramer", {}),
        ("MarkerFramer", {}),
    ],
)
def test_encode_parts_does_not_copy_the_payload(impl, name, kw):
    framer = getattr(impl, name)(max_frame_size=None, **kw)
    payload = b"x" * (16 << 20)
    for view in (payload, memoryview(payload), bytearray(b"y" * (1 << 20))):
        tracemalloc.start()
        header, trailer = framer.encode_parts(view)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 64 * 1024, (name, type(view), peak)
        assert header + bytes(view) + trailer == framer.encode(view)


@pytest.mark.parametrize(
    "delimiters, payload, refused",
    [
        ((b"\r\n", b"\n", b"END"), b"x" * 100000 + b"\n" + b"x" * 100000, True),  # deep inside
        ((b"\r\n", b"\n", b"END"), b"x" * 100000 + b"END", True),  # at the very end
        ((b"\r\n", b"\n", b"END"), b"x" * 100000 + b"\r", False),  # \r + \r\n decodes back
        ((b"\r\n", b"\n", b"END"), b"EN" + b"x" * 100000 + b"EN", False),
        ((b"\n", b"Z\nQ"), b"x" * 100000 + b"Z", True),  # Z + \n could begin Z\nQ
        ((b"\n", b"Z\nQ"), b"Z" + b"x" * 100000, False),
    ],
)
def test_delimiter_checks_see_the_whole_payload(impl, delimiters, payload, refused):
    framer = impl.DelimiterFramer(delimiters)
    if refused:
        with pytest.raises(ValueError):
            framer.encode_parts(memoryview(payload))
        with pytest.raises(ValueError):
            framer.encode(payload)
        return
    assert framer.encode_parts(memoryview(payload)) == (b"", delimiters[0])
    decoder = impl.DelimiterFramer(delimiters)
    assert decoder.feed(framer.encode(payload) + b"next" + delimiters[0]) == [payload, b"next"]


def test_encode_many_takes_each_payload_as_it_comes(impl):
    """Payloads are encoded in order as the iterable yields them: a generator that reuses
    one buffer gets each value, and an error stops the iteration where it is found."""

    def records():
        buf = bytearray()
        for word in (b"alpha", b"beta", b"gamma"):
            buf[:] = word
            yield buf

    assert impl.LineFramer().encode_many(records()) == b"alpha\nbeta\ngamma\n"
    pulled = []

    def items():
        for i in range(5):
            pulled.append(i)
            yield b"x" * 300 if i == 1 else b"a"

    with pytest.raises(FrameTooLargeError):
        impl.LengthPrefixFramer(1).encode_many(items())
    assert pulled == [0, 1]


def test_encoded_payloads_are_the_bytes_checked(impl):
    """What an encoder checks is what it writes: a check that runs the caller's code (a
    payload type's own find()) cannot change a payload already taken, nor itself."""
    first = bytearray(b"abcd")

    class Sneaky(bytearray):
        def find(self, *args):
            first[1:3] = b"\r\n"
            self[:] = b"\r\n"
            return super().find(*args)

    framer = impl.DelimiterFramer(b"\r\n")
    wire = framer.encode_many([first, Sneaky(b"xy")])
    assert impl.DelimiterFramer(b"\r\n").feed(wire) == [b"abcd", b"xy"]
