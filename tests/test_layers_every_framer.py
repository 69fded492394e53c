"""The socket and asyncio layers take every framer class unchanged: each framing pyframe
offers, over a blocking socket pair and over asyncio loopback TCP, on both twins. A new
framer class that this file does not know fails here, until it is given settings below."""

import asyncio
import socket
import threading

import pytest

import pyframe
from pyframe import aio
from pyframe.sockets import FramedSocket

TIMEOUT = 30

#: Settings and payloads for each framer class (payloads valid for the framing).
SAMPLES = {
    "LengthPrefixFramer": ({}, [b"", b"a", b"x" * 70000]),
    "DecimalLengthFramer": ({"digits": 6}, [b"", b"a", b"x" * 70000]),
    "NetstringFramer": ({}, [b"", b"1:a,", b"x" * 70000]),
    "VarintFramer": ({}, [b"", b"\x80", b"x" * 70000]),
    "FixedLengthFramer": ({"size": 5000}, [b"a" * 5000, b"b" * 5000]),
    "DelimiterFramer": ({"delimiter": (b"\r\n", b"\0")}, [b"", b"a", b"x" * 70000]),
    "LineFramer": ({}, [b"", b"a", b"x" * 70000]),
    "COBSFramer": ({}, [b"", b"\0", b"\0" * 300 + bytes(range(256)) * 300]),
    "SLIPFramer": ({"leading_end": True}, [b"\xc0", b"\xdb\xdc", b"\xc0\xdb" * 40000]),
    # Escaped: not verbatim, so the layers must send it with encode().
    "MarkerFramer": ({"escape": b"\x10"}, [b"", b"\x02a\x03\x10", b"x\x03" * 35000]),
}

CLASSES = sorted(n for n in pyframe.__all__ if n.endswith("Framer") and n != "Framer")


def test_every_framer_class_has_a_sample():
    assert sorted(SAMPLES) == CLASSES


@pytest.mark.parametrize("name", CLASSES)
def test_blocking_sockets(impl, name):
    kw, payloads = SAMPLES[name]
    a, b = socket.socketpair()
    a.settimeout(TIMEOUT)
    b.settimeout(TIMEOUT)
    got = []
    with FramedSocket(a, getattr(impl, name)(**kw)) as left:
        with FramedSocket(b, getattr(impl, name)(**kw)) as right:
            reader = threading.Thread(target=lambda: got.extend(right))
            reader.start()
            for p in payloads:
                left.send(p)
            left.send_many(payloads)
            left.shutdown()
            reader.join(TIMEOUT)
    assert got == payloads * 2


@pytest.mark.parametrize("name", CLASSES)
def test_asyncio(impl, name):
    kw, payloads = SAMPLES[name]

    async def echo(reader, writer):
        async for frame in reader:
            writer.write_frame(frame)
        writer.close()

    async def main():
        def factory():
            return getattr(impl, name)(**kw)

        server = await aio.start_server(echo, "127.0.0.1", 0, framer_factory=factory)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await aio.open_connection("127.0.0.1", port, framer=factory())
        writer.write_frames(payloads)
        for p in payloads:
            writer.write_frame(p)
        writer.write_eof()
        got = [frame async for frame in reader]
        writer.close()
        server.close()
        await server.wait_closed()
        return got

    assert asyncio.run(asyncio.wait_for(main(), TIMEOUT)) == payloads * 2
