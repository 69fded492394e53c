"""asyncio framed echo: ``server`` or ``client`` (works under uvloop too).

python examples/aio_echo.py server [HOST:PORT]
python examples/aio_echo.py client HOST:PORT hello world
"""

import asyncio
import sys

import pyframe
from pyframe import aio


async def handle(reader, writer):
    async for frame in reader:  # frames until the client closes cleanly
        writer.write_frame(frame)
        await writer.drain()
    writer.close()


async def server(address="127.0.0.1:8000"):
    host, port = address.rsplit(":", 1)
    srv = await aio.start_server(handle, host, int(port), framer_factory=pyframe.LengthPrefixFramer)
    host, port = srv.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    async with srv:
        await srv.serve_forever()


async def client(address, *words):
    host, port = address.rsplit(":", 1)
    reader, writer = await aio.open_connection(host, int(port), framer=pyframe.LengthPrefixFramer())
    for word in words:
        writer.write_frame(word.encode())
    await writer.drain()
    for _ in words:
        print((await reader.read_frame()).decode())
    writer.close()
    await writer.wait_closed()


if __name__ == "__main__":
    role, *args = sys.argv[1:] or [None]
    if role not in ("server", "client") or (role == "client" and not args):
        sys.exit("usage:" + __doc__.split("\n\n", 1)[1].rstrip())
    try:
        asyncio.run(server(*args) if role == "server" else client(*args))
    except KeyboardInterrupt:
        pass
