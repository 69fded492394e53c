"""A blocking framed echo client: sends each argument as a frame, prints the replies.

python examples/echo_client.py HOST:PORT hello world
"""

import sys

import pyframe


def main(address, *words):
    host, port = address.rsplit(":", 1)
    with pyframe.connect((host, int(port)), pyframe.LengthPrefixFramer(), timeout=10) as conn:
        conn.send_many(word.encode() for word in words)
        for _ in words:
            print(conn.recv().decode())


if __name__ == "__main__":
    if len(sys.argv) < 2 or ":" not in sys.argv[1]:
        sys.exit("usage:" + __doc__.split("\n\n", 1)[1].rstrip())
    main(*sys.argv[1:])
