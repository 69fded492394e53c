"""VarintFramer: protobuf's delimited streams (a base-128 varint length, then the message),
on both twins, through every feeding path; and against protobuf's own encoding of real
messages, both directions."""

import pytest

from pyframe import FrameTooLargeError, MalformedFrameError


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


CASES = [
    ({}, b"\x03abc\x00\x01x", [b"abc", b"", b"x"], 0),
    ({}, b"\x03ab", [], 3),
    ({}, b"\x80", [], 1),  # a varint not whole yet
    ({}, b"", [], 0),
    ({}, varint(127) + b"y" * 127, [b"y" * 127], 0),
    ({}, varint(128) + b"y" * 128, [b"y" * 128], 0),
    ({}, b"\xac\x02" + b"z" * 300, [b"z" * 300], 0),  # 300, protobuf's own example
    ({}, b"\xac\x02" + b"z" * 299, [], 301),
    # Non-minimal varints are valid (as protobuf's parsers read them): 0x83 0x00 is 3.
    ({}, b"\x83\x00abc", [b"abc"], 0),
    ({}, b"\x80" * 9 + b"\x00", [b""], 0),  # 10 bytes, value 0
    # Longer than 10 bytes, or over 64 bits: malformed, as soon as that is certain.
    ({}, b"\x80" * 10, [], MalformedFrameError),
    ({}, b"\x80" * 9, [], 9),
    ({}, b"\x01a" + b"\xff" * 10 + b"\x01", [b"a"], MalformedFrameError),
    ({}, b"\xff" * 9 + b"\x02", [], MalformedFrameError),  # 2**64 + ...: over 64 bits
    ({}, b"\x80" * 9 + b"\x7f", [], MalformedFrameError),
    (dict(max_frame_size=None), b"\x80" * 9 + b"\x02", [], MalformedFrameError),  # 2**64
    (dict(max_frame_size=None), b"\xff" * 9 + b"\x02", [], MalformedFrameError),
    (dict(max_frame_size=None), b"\xff" * 9 + b"\x01", [], FrameTooLargeError),  # 2**64-1
    (dict(max_frame_size=None), varint(2**63 - 1), [], 9),  # the largest size supported
    (dict(max_frame_size=None), varint(2**63), [], FrameTooLargeError),
    # Limits: the exact size accepted; one more refused once the varint is whole.
    (dict(max_frame_size=300), b"\xac\x02" + b"z" * 300, [b"z" * 300], 0),
    (dict(max_frame_size=299), b"\xac\x02", [], FrameTooLargeError),
    (dict(max_frame_size=299), b"\xac", [], 1),
    (dict(max_frame_size=0), b"\x00\x00", [b"", b""], 0),
    (dict(max_frame_size=0), b"\x00\x01", [b""], FrameTooLargeError),
    ({}, varint(8 << 20) + b"q", [], 5),
    ({}, varint((8 << 20) + 1), [], FrameTooLargeError),
]


@pytest.mark.parametrize("settings, wire, frames, after", CASES)
def test_cases(impl, mode, check, settings, wire, frames, after):
    check(lambda: impl.VarintFramer(**settings), wire, frames, after, mode)


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 16383, 16384, 2**21, 2**21 + 5])
def test_encode(impl, size):
    framer = impl.VarintFramer(max_frame_size=None)
    payload = bytes([size % 251]) * size
    wire = varint(size) + payload
    for kind in (bytes, bytearray, memoryview):
        assert framer.encode(kind(payload)) == wire
    head, trailer = framer.encode_parts(payload)
    assert (head, trailer) == (varint(size), b"")
    assert framer.encode_many([payload, b""]) == wire + b"\x00"
    assert framer.feed(wire + wire) == [payload, payload]


def test_encode_refuses_over_the_limit(impl):
    framer = impl.VarintFramer(max_frame_size=10)
    with pytest.raises(FrameTooLargeError):
        framer.encode(b"p" * 11)
    assert framer.feed(framer.encode(b"p" * 10)) == [b"p" * 10]


def test_error_messages(impl):
    with pytest.raises(MalformedFrameError, match="longer than 10 bytes"):
        impl.VarintFramer().feed(b"\xff" * 11)
    with pytest.raises(MalformedFrameError, match="overflows 64 bits"):
        impl.VarintFramer().feed(b"\xff" * 9 + b"\x7f")
    with pytest.raises(FrameTooLargeError, match="frame of 300 bytes exceeds") as info:
        impl.VarintFramer(max_frame_size=299).feed(b"\xac\x02")
    assert (info.value.size, info.value.limit) == (300, 299)


def test_round_trip_every_path(impl, mode, check):
    framer = impl.VarintFramer()
    payloads = [b"abc", b"", b"\x80\xff", b"x" * 5000, bytes(range(256)) * 40]
    wire = framer.encode_many(payloads)
    check(lambda: impl.VarintFramer(), wire, payloads, 0, mode)


# -- against protobuf: its delimited encoding of real messages, both directions ------------


def _messages():
    from google.protobuf import descriptor_pb2, timestamp_pb2

    messages = [timestamp_pb2.Timestamp(seconds=s, nanos=s % 1000) for s in (0, 1, 1700000999)]
    # A big one: this very descriptor set, its size well over one varint byte
    files = descriptor_pb2.FileDescriptorSet()
    for _ in range(2):
        descriptor_pb2.DESCRIPTOR.CopyToProto(files.file.add())
        timestamp_pb2.DESCRIPTOR.CopyToProto(files.file.add())
    return [*messages, files, timestamp_pb2.Timestamp()]


def test_decodes_protobuf_delimited_messages(impl, mode, check):
    """protobuf's own varint writer (what writeDelimitedTo writes) -> VarintFramer."""
    from google.protobuf.internal.encoder import _VarintBytes

    messages = _messages()
    raw = [m.SerializeToString() for m in messages]
    assert len(raw[3]) > 16384 and raw[-1] == b""  # 3-byte varint; an empty message
    wire = b"".join(_VarintBytes(len(r)) + r for r in raw)
    check(lambda: impl.VarintFramer(), wire, raw, 0, mode)
    frames = impl.VarintFramer().feed(wire)
    for message, frame in zip(messages, frames):
        assert type(message).FromString(frame) == message


def test_protobuf_reads_what_varint_framer_writes(impl):
    """VarintFramer -> protobuf's own varint reader (what parseDelimitedFrom reads)."""
    from google.protobuf.internal.decoder import _DecodeVarint

    messages = _messages()
    wire = impl.VarintFramer().encode_many(m.SerializeToString() for m in messages)
    pos = 0
    for message in messages:
        size, pos = _DecodeVarint(wire, pos)
        assert type(message).FromString(wire[pos : pos + size]) == message
        pos += size
    assert pos == len(wire)
