"""Buffer behaviour on both twins: big frames in small pieces, bounded memory, shrinking
after a big frame, and views from get_buffer() that stay valid."""

import tracemalloc
import weakref

import pytest

from pyframe import IncompleteFrameError

MiB = 1 << 20
BIG = 8 * MiB
PIECE = 4096


def big_wire(impl, kind):
    body = bytes(range(256)) * (BIG // 256)
    if kind == "length":
        return impl.LengthPrefixFramer(4), impl.LengthPrefixFramer(4).encode(body), body
    framer = impl.DelimiterFramer(b"\r\n")
    body = body.replace(b"\r\n", b"..")
    return framer, framer.encode(body), body


def traced(fn):
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, current - base, peak - base


@pytest.mark.parametrize("kind", ["length", "delimiter"])
def test_big_frame_in_small_feeds(impl, kind):
    framer, wire, body = big_wire(impl, kind)
    view = memoryview(wire)

    def run():
        frames = []
        for at in range(0, len(wire), PIECE):
            frames += framer.feed(view[at : at + PIECE])
        return frames

    frames, _current, peak = traced(run)
    assert len(frames) == 1 and frames[0] == body
    # The frame (8 MiB) and the buffer (16 MiB after its last doubling); a temporary copy
    # of the live bytes on growth would show as 4x.
    assert peak < 3.25 * BIG, peak / MiB
    del frames
    assert framer.pending == 0


@pytest.mark.parametrize("kind", ["length", "delimiter"])
def test_big_frame_through_get_buffer(impl, kind):
    framer, wire, body = big_wire(impl, kind)

    def run():
        frames = []
        at = 0
        while at < len(wire):
            view = framer.get_buffer(PIECE)
            n = min(PIECE // 2 + 1, len(wire) - at)  # partial writes
            view[:n] = wire[at : at + n]
            view.release()
            framer.buffer_updated(n)
            at += n
            frames += framer.pop_frames()
        return frames

    frames, _current, peak = traced(run)
    assert frames == [body]
    assert peak < 3.25 * BIG, peak / MiB


@pytest.mark.parametrize("kind", ["length", "delimiter"])
def test_buffer_shrinks_after_a_big_frame(impl, kind):
    framer, wire, body = big_wire(impl, kind)

    def run():
        got = framer.feed(wire)
        assert got == [body]
        del got
        small = framer.encode(b"small")
        return [framer.feed(small) for _ in range(100)]

    # Whatever the decoder still holds after the big frame is given back.
    result, current, peak = traced(run)
    assert result == [[b"small"]] * 100
    assert current < 1 * MiB, current / MiB
    assert peak >= BIG  # the big frame did go through this decoder


def test_get_buffer_room_stays_bounded(impl):
    framer = impl.LineFramer()
    framer.feed(b"partial line")

    def run():
        for _ in range(1000):
            framer.get_buffer(1000)
            framer.buffer_updated(0)
        for _ in range(1000):
            view = framer.get_buffer()
            view[:1] = b"x"
            view.release()
            framer.buffer_updated(1)
        return framer.pending

    pending, _current, peak = traced(run)
    assert pending == len(b"partial line") + 1000
    assert peak < 1 * MiB
    assert framer.feed(b"\n") == [b"partial line" + b"x" * 1000]


def test_views_kept_by_the_caller_do_not_block_the_buffer(impl):
    """A caller that keeps every view (never releases it) must not make the decoder fail
    with BufferError when it moves or grows its buffer."""
    framer = impl.LengthPrefixFramer(2)
    kept = []
    payloads = [bytes([i % 256]) * (i * 37 % 3000) for i in range(200)]
    wire = framer.encode_many(payloads)
    frames = []
    at = 0
    while at < len(wire):
        view = framer.get_buffer(64)
        n = min(len(view), 100, len(wire) - at)
        view[:n] = wire[at : at + n]
        kept.append(view)  # never released
        framer.buffer_updated(n)
        at += n
        frames += framer.pop_frames()
    assert frames == payloads
    # More data forces the buffer to grow while all those views are alive.
    big = framer.encode(b"z" * 60000)
    assert framer.feed(big) == [b"z" * 60000]
    assert all(len(v) >= 1 for v in kept)  # still usable objects


@pytest.mark.parametrize("between", ["pop_frames", "next_frame", "eof"])
def test_view_stays_valid_until_buffer_updated(impl, between):
    """Frames taken out between get_buffer() and buffer_updated() do not move the room the
    view points at: the bytes written into it are the ones committed."""
    framer = impl.LineFramer()
    view = framer.get_buffer()
    view[:4] = b"abc\n"
    framer.buffer_updated(4)
    view = framer.get_buffer()  # the room after the buffered "abc\n"
    taken = getattr(framer, between)()
    assert taken in ([b"abc"], b"abc")
    view[:8] = b"xyz\nuvw\n"
    framer.buffer_updated(8)
    assert framer.pop_frames() == [b"xyz", b"uvw"]
    assert framer.pending == 0


def test_view_keeps_earlier_bytes_when_room_is_made(impl):
    """get_buffer() may move pending bytes to make room; the frame must come out intact."""
    framer = impl.LengthPrefixFramer(4)
    payload = bytes(range(256)) * 40
    wire = framer.encode(payload) + framer.encode(b"tail")
    at = 0
    frames = []
    for hint in [1, 5000, 3, 70000, 2, 100, 1, 9]:
        view = framer.get_buffer(hint)
        n = min(hint, len(wire) - at)
        view[:n] = wire[at : at + n]
        framer.buffer_updated(n)
        at += n
        frames += framer.pop_frames()
    frames += framer.feed(wire[at:])
    assert frames == [payload, b"tail"]


@pytest.mark.parametrize("via", ["feed", "get_buffer"])
@pytest.mark.parametrize("kind", ["length", "decimal"])
def test_big_frame_with_known_length_is_filled_in_place(impl, kind, via):
    """A frame whose length the header gives is copied once, into the bytes object that
    is returned, as its pieces arrive: the buffer stays small (it does not grow to hold
    the frame, nor get copied out of it)."""
    body = bytes(range(256)) * (BIG // 256)
    framer = impl.LengthPrefixFramer(4) if kind == "length" else impl.DecimalLengthFramer(7)
    wire = framer.encode(body)

    def run():
        frames, view = [], memoryview(wire)
        for at in range(0, len(wire), PIECE):
            piece = view[at : at + PIECE]
            if via == "feed":
                frames += framer.feed(piece)
            else:
                with framer.get_buffer(len(piece)) as room:
                    room[: len(piece)] = piece
                framer.buffer_updated(len(piece))
                frames += framer.pop_frames()
            assert framer.pending == (0 if frames else at + len(piece))  # nothing lost
        return frames

    frames, _current, peak = traced(run)
    assert frames == [body]
    # The frame, and a buffer that held at most 1/16 of it (its array: twice that); the
    # twin fills a bytearray, and copies it into the frame at the end.
    assert peak < (2.2 if impl.__name__.endswith("_pyframers") else 1.2) * BIG, peak / MiB


def test_a_header_alone_does_not_allocate_the_frame(impl):
    """A peer that announces a big frame and sends little of it costs memory for what it
    sent (times a bounded factor), not for what it announced."""
    framer = impl.LengthPrefixFramer(4, max_frame_size=None)
    wire = framer.encode(bytes(64 * MiB))
    _, _current, peak = traced(lambda: framer.feed(wire[: 64 * 1024]))
    assert framer.pending == 64 * 1024
    assert peak < 1 * MiB, peak / MiB
    with pytest.raises(IncompleteFrameError) as info:
        framer.eof()
    assert info.value.partial == wire[: 64 * 1024]


def test_frame_filled_in_place_cut_off_by_eof(impl):
    framer = impl.LengthPrefixFramer(2, include_header=False)
    wire = framer.encode(bytes(range(256)) * 200)
    assert framer.feed(wire[:30000]) == []
    assert framer.feed(wire[30000:40000]) == []
    assert framer.pending == 40000
    with pytest.raises(IncompleteFrameError) as info:
        framer.eof()
    assert info.value.partial == wire[:40000]
    assert framer.pending == 40000
    framer.reset()
    assert framer.pending == 0
    assert framer.feed(wire + wire[:5]) == [wire[2:]]
    assert framer.pending == 5


def test_a_view_is_lent_again_only_when_nobody_holds_it(impl):
    """get_buffer() may lend the same view again when the room is the same and nobody
    holds the last view, a slice of it or a buffer from it; never one still in use, and
    never a released one."""
    framer = impl.LengthPrefixFramer()
    first = framer.get_buffer(16)
    again = framer.get_buffer(16)
    assert again is not first  # the caller still holds the first one
    seen = weakref.ref(again)
    part = again[:4]
    del first, again
    third = framer.get_buffer(16)
    assert third is not seen()  # a slice of it is alive
    part.release()
    with third:
        pass
    del third
    fourth = framer.get_buffer(16)  # not the released one
    fourth[:4] = b"\x00\x00\x00\x01"
    framer.buffer_updated(4)
    assert framer.feed(b"Z") == [b"Z"]


def _stale_crlf(module):
    framer = module.LineFramer()
    view = framer.get_buffer(8)
    view[:6] = b"a\nbc\nd"
    framer.buffer_updated(6)
    out = [framer.next_frame()]  # b"\r\n" was looked for past offset 4 ...
    view[3:4] = b"\r"  # ... so this one, at 3, is not seen
    return [*out, framer.pop_frames(), framer.pending]


def _stale_several(module):
    framer = module.DelimiterFramer((b"\n", b"\n\n\n"))
    out = [framer.feed(b"xx")]
    view = framer.get_buffer(3)
    view[:1] = b"\n"
    framer.buffer_updated(1)
    out.append(framer.next_frame())  # None: b"\n\n\n" may still begin at 2
    view[:1] = b"Z"
    return [*out, framer.feed(b"x\nx"), framer.pending]


@pytest.mark.parametrize("case", [_stale_crlf, _stale_several])
def test_a_stale_write_changes_frames_the_same_in_both_twins(impls, case):
    """Writing through a view after it ended is the caller's bug (README): the twins must
    still agree, on scan positions kept from before the write."""
    results = [case(module) for module in impls.values()]
    assert all(r == results[0] for r in results), results
