"""NetstringFramer: D. J. Bernstein's netstrings, on both twins, through every feeding path;
and against Twisted's NetstringReceiver over loopback TCP."""

import socket
import subprocess
import sys
import textwrap

import pytest

from pyframe import FrameTooLargeError, MalformedFrameError

CASES = [
    # The spec's examples: "hello world!" is 12:hello world!, and the empty string 0:,
    ({}, b"12:hello world!,", [b"hello world!"], 0),
    ({}, b"0:,", [b""], 0),
    ({}, b"3:abc,0:,1:x,", [b"abc", b"", b"x"], 0),
    ({}, b"3:abc,4:ab", [b"abc"], 4),
    ({}, b"3:abc", [], 5),  # the comma has not come yet
    ({}, b"12", [], 2),
    ({}, b"", [], 0),
    ({}, b"5:a,b:c,", [b"a,b:c"], 0),  # commas and colons inside are data
    ({}, b"10:" + bytes(range(10)) + b",", [bytes(range(10))], 0),
    # Malformed: a leading zero, a non-digit, an empty length, a missing comma.
    ({}, b"01:a,", [], MalformedFrameError),
    ({}, b"00:,", [], MalformedFrameError),
    ({}, b"0:,01:a,", [b""], MalformedFrameError),
    ({}, b"x:", [], MalformedFrameError),
    ({}, b":,", [], MalformedFrameError),
    ({}, b" 3:abc,", [], MalformedFrameError),
    ({}, b"3 :abc,", [], MalformedFrameError),
    ({}, b"+3:abc,", [], MalformedFrameError),
    ({}, b"-1:", [], MalformedFrameError),
    ({}, "١:a,".encode(), [], MalformedFrameError),  # noqa: RUF001 (an Arabic-Indic digit)
    ({}, b"3:abc;", [], MalformedFrameError),
    ({}, b"3:abcd,", [], MalformedFrameError),
    ({}, b"3:ab,", [], 5),  # "ab," is only 3 bytes of data: the comma is still to come
    ({}, b"3:ab,\n", [], MalformedFrameError),
    ({}, b"1:a,2:bc\n", [b"a"], MalformedFrameError),
    # Limits: the exact size accepted; over it refused as soon as the digits say so, before
    # the colon and before any data (a length of 10**30 is never parsed whole).
    (dict(max_frame_size=10), b"10:" + b"x" * 10 + b",", [b"x" * 10], 0),
    (dict(max_frame_size=10), b"11", [], FrameTooLargeError),
    (dict(max_frame_size=10), b"2", [], 1),
    (dict(max_frame_size=10), b"20", [], FrameTooLargeError),
    (dict(max_frame_size=9), b"10", [], FrameTooLargeError),
    (dict(max_frame_size=0), b"0:,0:,", [b"", b""], 0),
    (dict(max_frame_size=0), b"1", [], FrameTooLargeError),
    ({}, b"1" + b"0" * 30, [], FrameTooLargeError),
    (dict(max_frame_size=None), b"9223372036854775807", [], 19),
    (dict(max_frame_size=None), b"9223372036854775808", [], FrameTooLargeError),
    (dict(max_frame_size=None), b"99999999999999999999", [], FrameTooLargeError),
]


@pytest.mark.parametrize("settings, wire, frames, after", CASES)
def test_cases(impl, mode, check, settings, wire, frames, after):
    check(lambda: impl.NetstringFramer(**settings), wire, frames, after, mode)


@pytest.mark.parametrize(
    "payload, wire",
    [
        (b"hello world!", b"12:hello world!,"),
        (b"", b"0:,"),
        (b"x" * 9, b"9:" + b"x" * 9 + b","),
        (b"x" * 10, b"10:" + b"x" * 10 + b","),
        (b"x" * 100000, b"100000:" + b"x" * 100000 + b","),
        (b"1:a,", b"4:1:a,,"),
    ],
)
def test_encode(impl, payload, wire):
    framer = impl.NetstringFramer()
    for kind in (bytes, bytearray, memoryview):
        assert framer.encode(kind(payload)) == wire
    head, trailer = framer.encode_parts(payload)
    assert head + payload + trailer == wire
    assert framer.encode_many([payload, b"", payload]) == wire + b"0:," + wire
    assert framer.feed(wire * 2) == [payload] * 2


def test_encode_refuses_over_the_limit(impl):
    framer = impl.NetstringFramer(max_frame_size=10)
    with pytest.raises(FrameTooLargeError):
        framer.encode(b"p" * 11)
    with pytest.raises(FrameTooLargeError):
        framer.encode_many([b"", b"p" * 11])
    assert framer.feed(framer.encode(b"p" * 10)) == [b"p" * 10]


def test_error_messages(impl):
    def error(wire, **kw):
        with pytest.raises((MalformedFrameError, FrameTooLargeError)) as info:
            impl.NetstringFramer(**kw).feed(wire)
        return info.value

    assert "leading zero" in str(error(b"012:"))
    assert "got b'3x'" in str(error(b"3x"))
    assert "expected ',' after the 3 bytes" in str(error(b"3:abc!"))
    too_large = error(b"123456", max_frame_size=1000)
    assert too_large.size == 1234 and too_large.limit == 1000
    assert "at least 1234 bytes exceeds max_frame_size=1000" in str(too_large)


def test_round_trip_every_path(impl, mode, check):
    framer = impl.NetstringFramer()
    payloads = [b"abc", b"", b",", b":", b"0:,", b"x" * 5000, bytes(range(256)) * 40]
    wire = framer.encode_many(payloads)
    assert wire == b"".join(framer.encode(p) for p in payloads)
    check(lambda: impl.NetstringFramer(), wire, payloads, 0, mode)


# -- against Twisted's NetstringReceiver over loopback TCP ---------------------------------

TWISTED_NETSTRINGS = textwrap.dedent(
    """
    from twisted.internet import protocol, reactor
    from twisted.protocols.basic import NetstringReceiver

    class Echo(NetstringReceiver):
        MAX_LENGTH = 1 << 20
        def stringReceived(self, data):
            self.sendString(data[::-1])
            if data == b"quit":
                self.transport.loseConnection()

    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Echo), interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()
    """
)


def test_against_twisted_netstring_receiver(impl):
    """Twisted decodes what pyframe encodes and pyframe decodes what Twisted encodes:
    Twisted echoes each netstring reversed, sent whole and in pieces."""
    proc = subprocess.Popen(
        [sys.executable, "-c", TWISTED_NETSTRINGS], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(proc.stdout.readline())
        framer = impl.NetstringFramer()
        payloads = [b"hello", b"", b"1:a,", b"x" * 70000, bytes(range(256)), b"quit"]
        wire = framer.encode_many(payloads)
        got = []
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            for i in range(0, len(wire), 7919):  # in pieces, as TCP may deliver them
                sock.sendall(wire[i : i + 7919])
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += framer.feed(chunk)
        got += framer.eof()
        assert got == [p[::-1] for p in payloads]
    finally:
        proc.terminate()
        proc.wait(30)
