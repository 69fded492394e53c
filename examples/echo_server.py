"""A blocking framed echo server: one thread per client.

python examples/echo_server.py [HOST:PORT]     (default 127.0.0.1:8000; port 0 picks one)
"""

import sys

import pyframe


def echo(conn):
    for frame in conn:  # frames until the client closes cleanly
        conn.send(frame)


def main(address="127.0.0.1:8000"):
    host, port = address.rsplit(":", 1)
    with pyframe.serve((host, int(port)), pyframe.LengthPrefixFramer) as server:
        print("listening on {}:{}".format(*server.address[:2]), flush=True)
        try:
            server.serve_forever(echo)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    if len(sys.argv) > 2 or (sys.argv[1:] and ":" not in sys.argv[1]):
        sys.exit("usage:" + __doc__.split("\n\n", 1)[1].rstrip())
    main(*sys.argv[1:])
