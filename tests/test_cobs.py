"""COBSFramer: Consistent Overhead Byte Stuffing, frames ended by 0x00, on both twins,
through every feeding path; hostile input; and against the ``cobs`` package (its C
extension), both directions."""

import random

import pytest

from pyframe import FrameTooLargeError, IncompleteFrameError, MalformedFrameError

# Wikipedia's examples (after Cheshire and Baker's paper): payload, wire (0x00 included).
RUN_1_254 = bytes(range(1, 255))
VECTORS = [
    (b"", b"\x01\x00"),
    (b"\x00", b"\x01\x01\x00"),
    (b"\x00\x00", b"\x01\x01\x01\x00"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01\x00"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33\x00"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44\x00"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01\x00"),
    (RUN_1_254, b"\xff" + RUN_1_254 + b"\x00"),
    (b"\x00" + RUN_1_254, b"\x01\xff" + RUN_1_254 + b"\x00"),
    (RUN_1_254 + b"\xff", b"\xff" + RUN_1_254 + b"\x02\xff\x00"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01\x00"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01\x00"),
]


@pytest.mark.parametrize("payload, wire", VECTORS)
def test_known_vectors(impl, mode, check, payload, wire):
    framer = impl.COBSFramer()
    assert framer.encode(payload) == wire
    for kind in (bytearray, memoryview):
        assert framer.encode(kind(payload)) == wire
    check(lambda: impl.COBSFramer(), wire + wire, [payload, payload], 0, mode)


CASES = [
    # Empty frames (0x00 after 0x00) are skipped: senders flush line noise with one.
    ({}, b"\x00\x00\x03ab\x00\x00\x01\x00", [b"ab", b""], 0),
    ({}, b"\x03ab", [], 3),  # no 0x00 yet
    ({}, b"\x05ab", [], 3),  # its group is not whole yet
    ({}, b"", [], 0),
    # An encoder may end a payload of 254 non-zero bytes with a code 0x01 (no zero after
    # the last group): the same payload.
    ({}, b"\xff" + RUN_1_254 + b"\x01\x00", [RUN_1_254], 0),
    # A code byte that points past the frame's 0x00: malformed.
    ({}, b"\x03ab\x00\x05ab\x00\x02c\x00", [b"ab"], MalformedFrameError),
    ({}, b"\x02\x00", [], MalformedFrameError),  # one data byte wanted, the 0x00 first
    ({}, b"\x01\x02\x00", [], MalformedFrameError),  # the last code, not the first
    # Limits apply to the decoded payload, as soon as a code byte makes it too large.
    (dict(max_frame_size=3), b"\x04abc\x00", [b"abc"], 0),
    (dict(max_frame_size=3), b"\x05ab", [], FrameTooLargeError),
    (dict(max_frame_size=3), b"\x02a\x02b\x00", [b"a\x00b"], 0),
    (dict(max_frame_size=2), b"\x02a\x02b\x00", [], FrameTooLargeError),
    (dict(max_frame_size=0), b"\x01\x00\x00", [b""], 0),
    (dict(max_frame_size=0), b"\x01\x01\x00", [], FrameTooLargeError),  # b"\x00"
    (dict(max_frame_size=254), b"\xff" + RUN_1_254 + b"\x01\x00", [RUN_1_254], 0),
    (dict(max_frame_size=253), b"\xff", [], FrameTooLargeError),
    # Bytes with no 0x00: refused once the codes read make the payload too large.
    # (codes 0xff at offsets 0, 255, 510 and 765: the 4th makes it 1016 bytes)
    (dict(max_frame_size=1000), b"\xff" * 765, [], 765),
    (dict(max_frame_size=1000), b"\xff" * 766, [], FrameTooLargeError),
    (dict(max_frame_size=1016), b"\xff" * 1000, [], 1000),
    (dict(max_frame_size=None), b"\x01" * 500, [], 500),
]


@pytest.mark.parametrize("settings, wire, frames, after", CASES)
def test_cases(impl, mode, check, settings, wire, frames, after):
    check(lambda: impl.COBSFramer(**settings), wire, frames, after, mode)


def test_round_trip_every_path(impl, mode, check):
    rng = random.Random(10)
    payloads = [b"", b"\x00", b"\x00" * 600, bytes(range(256)) * 20, b"x" * 5000]
    payloads += [bytes(rng.choice(b"\x00\x01\xff\xfea") for _ in range(700)) for _ in range(3)]
    wire = impl.COBSFramer().encode_many(payloads)
    check(lambda: impl.COBSFramer(), wire, payloads, 0, mode)


def test_a_frame_a_byte_at_a_time(impl):
    """A big frame arriving one byte at a time (its codes read as they come)."""
    payload = bytes(random.Random(3).randbytes(20000))
    wire = impl.COBSFramer().encode(payload)
    framer = impl.COBSFramer()
    for i in range(len(wire) - 1):
        assert framer.feed(wire[i : i + 1]) == []
    assert framer.pending == len(wire) - 1
    assert framer.feed(wire[-1:]) == [payload]


def test_error_messages(impl):
    with pytest.raises(MalformedFrameError) as info:
        impl.COBSFramer().feed(b"\x02a\x05bc\x00")
    assert str(info.value) == (
        "COBS code byte 0x05 at offset 2 of a frame announces 4 data bytes, but the "
        "frame's 0x00 comes after 2"
    )
    with pytest.raises(FrameTooLargeError) as info:
        impl.COBSFramer(max_frame_size=300).feed(b"\xff" + b"a" * 254 + b"\x40")
    assert str(info.value) == "frame decoding to at least 317 bytes exceeds max_frame_size=300"
    assert (info.value.size, info.value.limit) == (317, 300)


def test_huge_runs_without_a_zero_are_refused_before_they_are_buffered(impl):
    framer = impl.COBSFramer(max_frame_size=10000)
    with pytest.raises(FrameTooLargeError):
        for _ in range(1000):
            framer.feed(b"\xff" * 100)
            assert framer.pending <= 10000 * 255 // 254 + 255
    assert framer.pending <= 10100


def test_encode(impl):
    framer = impl.COBSFramer(max_frame_size=10)
    assert framer.verbatim is False
    with pytest.raises(TypeError, match="use encode"):
        framer.encode_parts(b"abc")
    with pytest.raises(FrameTooLargeError, match="payload of 11 bytes"):
        framer.encode(b"p" * 11)
    assert framer.encode_many([b"a", b"", bytearray(b"\x00")]) == b"\x02a\x00\x01\x00\x01\x01\x00"
    # The overhead: a code byte per group of up to 254 non-zero bytes, and the 0x00.
    big = impl.COBSFramer(max_frame_size=None)
    for size in (0, 1, 253, 254, 255, 508, 10000):
        groups = max(1, -(-size // 254))
        assert len(big.encode(b"a" * size)) == size + groups + 1


def test_eof_keeps_the_wire_bytes(impl):
    framer = impl.COBSFramer()
    assert framer.feed(b"\x02a\x00\x04ab") == [b"a"]
    with pytest.raises(IncompleteFrameError) as info:
        framer.eof(last_frame=True)  # a partial COBS frame is never a frame
    assert info.value.partial == b"\x04ab" and info.value.expected is None


def test_detach_gives_the_wire_bytes(impl):
    framer = impl.COBSFramer()
    assert framer.feed(b"\x02a\x00\x04ab") == [b"a"]
    assert framer.detach() == b"\x04ab"
    assert framer.feed(b"\x02z\x00") == [b"z"]


def test_limit_lowered_within_a_frame(impl):
    framer = impl.COBSFramer()
    assert framer.feed(b"\x05abcd") == []
    framer.max_frame_size = 3
    with pytest.raises(FrameTooLargeError):
        framer.feed(b"\x00")


def test_stale_view_cannot_make_a_frame_of_the_wrong_size(impls):
    """A write through a view after buffer_updated() changes bytes already scanned: the
    frame is refused (as malformed, skipped with recovery), in both twins alike."""
    results = []
    for module in impls.values():
        framer = module.COBSFramer(on_error="raise")
        view = framer.get_buffer(16)
        view[:4] = b"\x05abc"
        framer.buffer_updated(4)
        assert framer.pop_frames() == []
        view[0] = 0x02  # the code byte, already read as 5
        view[1] = 0xFF  # and where a new code would be
        with pytest.raises(MalformedFrameError, match="changed after they were scanned"):
            framer.feed(b"d\x00\x02e\x00")
        results.append((framer.pop_frames(), framer.skipped))
    assert results == [([b"e"], 1)] * len(results)


# -- against the cobs package (its C extension), both directions --------------------------


def _payloads(seed, count=300):
    rng = random.Random(seed)
    out = [b"", b"\x00", bytes(254), b"\xff" * 254, b"\xff" * 255, RUN_1_254]
    for _ in range(count):
        size = rng.choice((rng.randrange(0, 20), rng.randrange(0, 600), rng.randrange(0, 3000)))
        zeros = rng.random()
        out.append(
            bytes(0 if rng.random() < zeros * 0.3 else rng.randrange(256) for _ in range(size))
        )
    return out


def test_decodes_what_the_cobs_package_encodes(impl, mode, check):
    from cobs import cobs

    payloads = _payloads(1)
    wire = b"".join(cobs.encode(p) + b"\x00" for p in payloads)
    check(lambda: impl.COBSFramer(), wire, payloads, 0, mode)


def test_the_cobs_package_decodes_what_cobs_framer_encodes(impl):
    from cobs import cobs

    payloads = _payloads(2)
    framer = impl.COBSFramer()
    for payload in payloads:
        wire = framer.encode(payload)
        assert wire[-1:] == b"\x00" and b"\x00" not in wire[:-1]
        assert cobs.decode(wire[:-1]) == payload
        assert wire == cobs.encode(payload) + b"\x00"  # byte for byte the same encoding
    stream = framer.encode_many(payloads)
    assert [cobs.decode(w) for w in stream.split(b"\x00")[:-1]] == payloads


def test_malformed_for_us_is_malformed_for_the_cobs_package(impls):
    from cobs import cobs

    for wire in (b"\x05ab", b"\x03a", b"\x02"):
        with pytest.raises(cobs.DecodeError):
            cobs.decode(wire)
        for module in impls.values():
            with pytest.raises(MalformedFrameError):
                module.COBSFramer().feed(wire + b"\x00")


def test_a_code_byte_zeroed_during_the_scan_is_a_fault_not_a_spin(impls):
    """Another thread may write through a stale view while the twin scans (it can be
    preempted between finding the 0x00 and reading the code bytes before it): a code byte
    turned 0x00 there is a changed frame, not a group of -1 bytes read for ever. The race
    is made deterministic: the array's find() writes the 0x00 right after it scans, and
    its reads are counted (a spinning loop would read the same byte over and over)."""
    module = impls["python"]  # (the compiled loop runs between two Python calls)

    class Raced(bytearray):
        reads = 0

        def find(self, *args):
            at = super().find(*args)
            self[255] = 0  # the second code byte of the frame (after a full group)
            return at

        def __getitem__(self, index):
            Raced.reads += 1
            assert Raced.reads < 10_000, "the scan reads the same code byte for ever"
            return super().__getitem__(index)

    framer = module.COBSFramer(on_error="skip")
    wire = framer.encode(b"a" * 600)
    view = framer.get_buffer(len(wire))
    view[: len(wire) - 1] = wire[:-1]  # all but the frame's 0x00
    framer.buffer_updated(len(wire) - 1)
    framer._buf = Raced(framer._buf)
    assert framer.pop_frames() == []
    assert framer.skipped == 1  # refused as changed, and skipped
    assert framer.feed(b"\x00\x02z\x00") == [b"z"]
