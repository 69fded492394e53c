"""Switching framing mid-stream, on both twins: detach() hands the bytes a framer holds to
the next reader; max_frame_size may change between frames; eof(last_frame=True) returns a
delimited stream's unended tail; IncompleteFrameError tells the frame's expected size."""

import pytest

from pyframe import FrameTooLargeError, IncompleteFrameError, MalformedFrameError

HTTP = (
    b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
    b"GET / HTTP/1.1\r\n\r\n"
)


def buffered(framer, data):
    """Append ``data`` without cutting frames (the receive path: get_buffer)."""
    with framer.get_buffer(len(data)) as view:
        view[: len(data)] = data
    framer.buffer_updated(len(data))


def test_http_head_then_body(impl):
    lines = impl.LineFramer(max_frame_size=8192)
    buffered(lines, HTTP[:40])
    head = []
    while (line := lines.next_frame()) != b"":
        if line is None:  # the head is not whole yet: read more
            buffered(lines, HTTP[40:])
            continue
        head.append(line)
    assert head == [b"POST /upload HTTP/1.1", b"Host: x", b"Content-Length: 10"]
    rest = lines.detach()  # the body and what follows, every byte, once
    assert rest == HTTP[HTTP.index(b"\r\n\r\n") + 4 :]
    assert lines.pending == 0
    body, rest = rest[:10], rest[10:]
    assert body == b"0123456789"
    # The same framer goes on with the next request.
    assert lines.feed(rest) == [b"GET / HTTP/1.1", b""]


def test_detach_takes_a_partial_frame_filled_in_place(impl):
    framer = impl.LengthPrefixFramer()
    wire = framer.encode(b"x" * 10000) + framer.encode(b"next")
    assert framer.feed(wire[:6000]) == []  # a big frame filled in place
    assert framer.pending == 6000
    assert framer.detach() == wire[:6000]
    assert framer.pending == 0
    assert framer.feed(wire[10004:]) == [b"next"]


def test_detach_forgets_a_fault_and_ends_a_lent_view(impl):
    framer = impl.DecimalLengthFramer(2)
    assert framer.feed(b"02ab0x") == [b"ab"]
    with pytest.raises(MalformedFrameError):
        framer.pop_frames()
    assert framer.detach() == b"0x"
    assert framer.feed(b"01z") == [b"z"]
    framer.get_buffer(10)
    assert framer.detach() == b""
    with pytest.raises(RuntimeError, match="without a buffer"):
        framer.buffer_updated(1)


def test_max_frame_size_between_frames(impl):
    framer = impl.LengthPrefixFramer(max_frame_size=16)
    hello = framer.encode(b"hello")
    framer.max_frame_size = 100
    big = framer.encode(b"b" * 50)
    framer.max_frame_size = 16
    assert framer.feed(hello + big[:2]) == [b"hello"]
    framer.max_frame_size = 100  # before the big frame's header is whole: it is let in
    assert framer.max_frame_size == 100
    assert framer.feed(big[2:]) == [b"b" * 50]
    framer.max_frame_size = 16
    with pytest.raises(FrameTooLargeError):  # a header over the limit in force is refused
        framer.feed(big[:10])
    framer.reset()
    framer.max_frame_size = None
    assert framer.max_frame_size is None
    for bad, error in ((-1, ValueError), ("x", TypeError), (2**63, ValueError)):
        with pytest.raises(error):
            framer.max_frame_size = bad
    assert framer.max_frame_size is None


def test_lower_limit_refuses_a_frame_filled_in_place(impl):
    framer = impl.LengthPrefixFramer()
    wire = framer.encode(b"x" * 10000)
    assert framer.feed(wire[:5000]) == []  # filled in place under 8 MiB
    framer.max_frame_size = 9999
    with pytest.raises(FrameTooLargeError, match="frame of 10000 bytes exceeds"):
        framer.feed(wire[5000:])
    # raised again, as any fault: the stream cannot be trusted past it
    with pytest.raises(FrameTooLargeError):
        framer.pop_frames()


def test_lower_limit_with_delimiters(impl):
    framer = impl.LineFramer()
    assert framer.feed(b"ok\n" + b"x" * 50) == [b"ok"]
    framer.max_frame_size = 20
    with pytest.raises(FrameTooLargeError):
        framer.feed(b"x")


@pytest.mark.parametrize(
    "make, wire, expected",
    [
        ("LengthPrefixFramer()", b"\x00\x00\x00\x05ab", 9),
        ("LengthPrefixFramer()", b"\x00\x00", None),
        ("LengthPrefixFramer(2, include_header=True)", b"\x00\x05ab", 7),
        ("LengthPrefixFramer(2, adjustment=-2)", b"\x00\x07ab", 7),
        ("LengthPrefixFramer()", b"\x00\x00\x27\x10" + b"x" * 6000, 10004),  # in place
        ("DecimalLengthFramer(3)", b"005ab", 8),
        ("NetstringFramer()", b"5:ab", 8),
        ("NetstringFramer()", b"5", None),
        ("VarintFramer()", b"\xac\x02ab", 302),
        ("VarintFramer()", b"\xac", None),
        ("FixedLengthFramer(4)", b"abc", 4),
        ("LineFramer()", b"abc", None),
        ("DelimiterFramer(b'END')", b"abcEN", None),
        ("COBSFramer()", b"\x05ab", None),  # the wire bytes held
        ("SLIPFramer()", b"a\xdb", None),
        ("MarkerFramer(b'<m>', b'</m>', escape=b'\\x10')", b"<m>ab\x10", None),
    ],
)
def test_incomplete_frame_tells_its_expected_size(impl, make, wire, expected):
    framer = eval(f"impl.{make}")
    framer.feed(wire)
    with pytest.raises(IncompleteFrameError) as info:
        framer.eof()
    assert info.value.partial == wire
    assert info.value.expected == expected
    if expected is not None:
        assert f"of a frame of {expected} bytes" in str(info.value)


def test_eof_last_frame_of_lines_and_delimiters(impl):
    lines = impl.LineFramer()
    assert lines.feed(b"one\r\ntwo") == [b"one"]
    assert lines.eof(last_frame=True) == [b"two"]
    assert lines.pending == 0
    assert lines.eof() == []  # and the stream ended cleanly
    framer = impl.DelimiterFramer((b"\r\n", b"\r\nX"), keep_delimiter=True)
    assert framer.feed(b"a\r\nXb\r") == [b"a\r\nX"]
    assert framer.eof(last_frame=True) == [b"b\r"]  # b"\r" might have begun a delimiter
    empty = impl.LineFramer()
    assert empty.eof(last_frame=True) == []


def test_eof_last_frame_keeps_sized_frames_incomplete(impl):
    framer = impl.LengthPrefixFramer()
    framer.feed(b"\x00\x00\x00\x05ab")
    with pytest.raises(IncompleteFrameError):
        framer.eof(last_frame=True)
