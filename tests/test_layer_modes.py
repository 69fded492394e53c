"""The layers (blocking sockets, asyncio, anyio) with framers that transform the payload,
switching framing mid-stream (read_exactly, switch_framer), and a skipped frame's fault
(on_error="raise") delivered at its place among the frames, on both twins."""

import base64
import socket
import threading

import pytest

from pyframe import FrameTooLargeError, IncompleteFrameError
from pyframe.sockets import FramedSocket, FrameTimeoutError


class Base64Lines:
    verbatim = False

    def __init__(self, impl, **kwargs):
        self.lines = impl.LineFramer(**kwargs)
        self.encoded = 0  # encode() and encode_many() calls

    # -- decoding: the LineFramer's, each frame decoded --------------------------------
    max_frame_size = property(lambda self: self.lines.max_frame_size)
    pending = property(lambda self: self.lines.pending)
    on_error = property(lambda self: self.lines.on_error)
    skipped = property(lambda self: self.lines.skipped)

    def feed(self, data):
        return [base64.b64decode(f) for f in self.lines.feed(data)]

    def get_buffer(self, sizehint=-1):
        return self.lines.get_buffer(sizehint)

    def buffer_updated(self, nbytes):
        self.lines.buffer_updated(nbytes)

    def next_frame(self):
        frame = self.lines.next_frame()
        return None if frame is None else base64.b64decode(frame)

    def pop_frames(self):
        return [base64.b64decode(f) for f in self.lines.pop_frames()]

    def eof(self):
        return [base64.b64decode(f) for f in self.lines.eof()]

    def reset(self):
        self.lines.reset()

    def detach(self):
        return self.lines.detach()

    # -- encoding ------------------------------------------------------------------------
    def encode(self, payload):
        self.encoded += 1
        return base64.b64encode(bytes(payload)) + b"\n"

    def encode_many(self, payloads):
        self.encoded += 1
        return b"".join(base64.b64encode(bytes(p)) + b"\n" for p in payloads)

    def encode_parts(self, payload):
        raise TypeError("Base64Lines transforms the payload: encode_parts() cannot split it")


LARGE = bytes(range(256)) * 800  # 200 KiB: above every layer's "send uncopied" size
SMALL = b"small payload"


def sock_pair():
    a, b = socket.socketpair()
    b.settimeout(10)
    return a, b


def sender(sock, *chunks, delay=0.05):
    """Send ``chunks`` from a thread, ``delay`` seconds apart."""

    def run():
        for chunk in chunks:
            sock.sendall(chunk)
            threading.Event().wait(delay)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# -- blocking sockets ----------------------------------------------------------------------


def test_socket_sends_with_a_transforming_framer(impl):
    a, b = sock_pair()
    framer = Base64Lines(impl)
    with FramedSocket(a, framer) as out, FramedSocket(b, Base64Lines(impl)) as into:
        done = threading.Thread(
            target=lambda: (
                out.send(SMALL),
                out.send(LARGE),
                out.send(memoryview(LARGE)),
                out.send_many([SMALL, LARGE, b""]),
                out.send_many([SMALL, SMALL]),
                out.shutdown(),
            )
        )
        done.start()
        got = list(into)
        done.join()
    assert got == [SMALL, LARGE, LARGE, SMALL, LARGE, b"", SMALL, SMALL]
    assert framer.encoded == 5


def test_socket_recv_cuts_one_frame_at_a_time(impl):
    a, b = sock_pair()
    with FramedSocket(b, impl.LineFramer()) as conn:
        a.sendall(b"one\ntwo\nthree\n")
        assert conn.recv() == b"one"
        assert conn.framer.pending == len(b"two\nthree\n")  # not cut ahead
        assert conn.recv() == b"two"
        a.close()
        assert conn.recv() == b"three"
        assert conn.recv() is None
        assert conn.at_eof


def test_socket_read_exactly_after_a_head(impl):
    a, b = sock_pair()
    body = b"B" * 300_000  # over READ_SIZE: partly held by the framer, the rest read raw
    with FramedSocket(b, impl.LineFramer()) as conn:
        thread = sender(a, b"HEAD\n300000\n" + body[:1000], body[1000:] + b"next\nlast")
        assert conn.recv() == b"HEAD"
        assert conn.recv() == b"300000"
        assert conn.read_exactly(300_000) == body
        assert conn.recv() == b"next"
        assert conn.read_exactly(0) == b""
        assert conn.read_exactly(2) == b"la"
        thread.join()
        a.close()
        with pytest.raises(IncompleteFrameError) as info:
            conn.read_exactly(5)
        assert info.value.partial == b"st"
        assert info.value.expected == 5
        assert conn.recv() is None
        with pytest.raises(ValueError):
            conn.read_exactly(-1)


def test_socket_small_reads_exactly_then_frames_again(impl):
    a, b = sock_pair()
    lp = impl.LengthPrefixFramer()
    with FramedSocket(b, impl.LineFramer()) as conn:
        a.sendall(b"raw\n" + b"".join(b"%04d" % i for i in range(1000)) + b"end\n")
        assert conn.recv() == b"raw"
        assert [conn.read_exactly(4) for _ in range(1000)] == [b"%04d" % i for i in range(1000)]
        assert conn.recv() == b"end"  # the raw bytes read ahead are framed again
        a.sendall(b"switch\n" + lp.encode(b"x" * 10) + lp.encode(b"y"))
        assert conn.recv() == b"switch"
        conn.switch_framer(lp)
        assert conn.framer is lp
        assert conn.recv() == b"x" * 10
        assert conn.recv() == b"y"
        conn.send(b"back")
    assert FramedSocket(a, impl.LengthPrefixFramer()).recv() == b"back"


def test_socket_switch_keeps_raw_bytes_and_a_partial_frame(impl):
    a, b = sock_pair()
    lp = impl.LengthPrefixFramer()
    wire = lp.encode(b"z" * 50)
    with FramedSocket(b, impl.LineFramer()) as conn:
        a.sendall(b"go\nRAW" + wire[:20])
        assert conn.recv() == b"go"
        assert conn.read_exactly(3) == b"RAW"
        conn.switch_framer(lp)
        assert lp.pending == 20
        a.sendall(wire[20:])
        assert conn.recv() == b"z" * 50


def test_socket_read_exactly_keeps_bytes_over_a_timeout(impl):
    a, b = sock_pair()
    with FramedSocket(b, impl.LineFramer()) as conn:
        a.sendall(b"h\n" + b"1234")
        assert conn.recv() == b"h"
        conn.settimeout(0.2)
        with pytest.raises(socket.timeout):
            conn.read_exactly(10)
        a.sendall(b"567890")
        assert conn.read_exactly(10) == b"1234567890"
        conn.frame_timeout = 0.2
        conn.settimeout(5)
        a.sendall(b"abc")
        with pytest.raises(FrameTimeoutError):
            conn.read_exactly(6)
        a.sendall(b"def!\n")
        assert conn.read_exactly(6) == b"abcdef"
        assert conn.recv() == b"!"
        conn.setblocking(False)
        with pytest.raises(BlockingIOError):
            conn.read_exactly(1)


def test_socket_raises_a_skipped_frames_fault_at_its_place(impl):
    a, b = sock_pair()
    with FramedSocket(b, impl.LineFramer(max_frame_size=3, on_error="raise")) as conn:
        a.sendall(b"ab\nTOO LONG\ncd\nef\n")
        a.close()
        assert conn.recv() == b"ab"
        with pytest.raises(FrameTooLargeError):
            conn.recv()
        assert conn.recv() == b"cd"
        assert conn.recv() == b"ef"
        assert conn.recv() is None


def test_socket_recv_many_raises_a_skipped_frames_fault_at_its_place(impl):
    a, b = sock_pair()
    with FramedSocket(b, impl.LineFramer(max_frame_size=3, on_error="raise")) as conn:
        a.sendall(b"ab\nTOO LONG\ncd\nef\nXXXXXXX\n")
        a.close()
        assert conn.recv_many() == [b"ab"]
        with pytest.raises(FrameTooLargeError):
            conn.recv_many()
        assert conn.recv_many() == [b"cd", b"ef"]
        with pytest.raises(FrameTooLargeError):
            conn.recv_many()
        assert conn.recv_many() == []
        assert conn.framer.skipped == 2
