"""A small HTTP/1.1 server and client: switching framing mid-stream.

python examples/http11.py serve [HOST:]PORT     (port 0 picks one; prints the address)
python examples/http11.py get URL [URL ...]     (one keep-alive connection for them all)
python examples/http11.py post URL DATA

An HTTP/1.1 message is two framings in a row: a head of lines ended by a blank line,
then a body of exactly ``Content-Length`` raw bytes, then (on a keep-alive connection)
the next message's head. A ``pyframe.FramedSocket`` with a ``LineFramer`` returns the head
one line at a time (``recv()`` cuts no line ahead), then ``read_exactly(length)`` returns the
body: the bytes the framer holds past the blank line first, then the rest from the socket;
bytes past the body (a pipelined request) stay for the next ``recv()``.

The server answers ``GET /hello`` and ``POST /echo`` (the body sent back) with 200, another
method on those paths with 405, any other path with 404; a malformed request line, header
or ``Content-Length`` (not digits, several different values) or a request without ``Host``
with 400; a request line over ``MAX_LINE`` bytes with 414, a header line over it or a head
over ``MAX_HEAD`` with 431; a ``Content-Length`` over ``MAX_BODY`` with 413 (before any
body byte is read); ``Transfer-Encoding`` (chunked bodies are not implemented here) with
501. After a 400, 413, 414, 431 or 501 it closes the connection: what follows cannot be
framed safely. Connections are kept alive (HTTP/1.1's default) unless the request says
``Connection: close`` or is HTTP/1.0; ``Expect: 100-continue`` gets its interim answer
once the body is let in. The client sends ``Content-Length`` bodies only and reads
responses framed by ``Content-Length`` or by the end of the connection (not chunked ones).
"""

import re
import socket
import socketserver
import sys
from typing import Optional, Union
from urllib.parse import urlsplit

import pyframe

Body = Union[bytes, bytearray]

MAX_LINE = 8192  # a request line or header line, CRLF excluded
MAX_HEAD = 65536  # the whole head
MAX_BODY = 1 << 20  # a request body (the server) or a response body (the client)
RECV_SIZE = 65536
TIMEOUT = 30  # seconds a connection may stay silent (a slow client holds a thread)
LINGER = 16 << 20  # bytes read and dropped at most after a refused request

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
}

TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a method or header name (RFC 9110)
VERSION = re.compile(rb"HTTP/1\.[01]")
STATUS_LINE = re.compile(rb"(HTTP/1\.[01]) ([0-9]{3})(?: (.*))?")


class HTTPError(Exception):
    """A request the server refuses with ``status``; the connection is closed after it."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


class Stream:
    """The bytes a peer sends on one connection: head lines, then bodies read raw, over a
    FramedSocket. Nothing received is lost between the two."""

    def __init__(self, sock: socket.socket, max_line: int = MAX_LINE) -> None:
        self.sock = sock
        self.conn = pyframe.FramedSocket(sock, pyframe.LineFramer(max_frame_size=max_line))

    def read_head(self, max_head: int = MAX_HEAD) -> Optional[list[bytes]]:
        """The next head's lines (the blank line ending it not included), or None if the
        peer closed the connection cleanly before one began. Raises HTTPError: 414 for a
        first line over the framer's limit, 431 for a later one or a head over
        ``max_head`` bytes, 400 if the connection ends inside the head."""
        head: list[bytes] = []
        size = 0
        while True:
            try:
                line = self.conn.recv()
            except pyframe.FrameTooLargeError:
                if head:
                    raise HTTPError(431, "a header line is too long") from None
                raise HTTPError(414, "the request line is too long") from None
            except pyframe.IncompleteFrameError:
                raise HTTPError(400, "the connection ended inside the head") from None
            if line is None:
                if head:
                    raise HTTPError(400, "the connection ended inside the head")
                return None
            if line == b"":
                if head:
                    return head
                continue  # blank lines before a message are ignored (RFC 9112, 2.2)
            size += len(line) + 2
            if size > max_head:
                raise HTTPError(431, "the head is too large")
            head.append(line)

    def read_body(self, size: int) -> Body:
        """Exactly ``size`` bytes of body (``size`` already checked against a limit)."""
        try:
            return self.conn.read_exactly(size)
        except pyframe.IncompleteFrameError as exc:
            raise ConnectionError(
                f"the connection ended {size - len(exc.partial)} bytes short"
            ) from None

    def read_to_end(self, limit: int) -> bytes:
        """Every byte until the peer closes (a response with no ``Content-Length``)."""
        try:
            self.conn.read_exactly(limit + 1)
        except pyframe.IncompleteFrameError as exc:  # the end came first: all of it
            return exc.partial
        raise ValueError(f"the body is over {limit} bytes")


def parse_headers(lines: list[bytes]) -> dict[str, list[str]]:
    """``name: value`` lines as lower-case name -> values. Raises HTTPError(400) on a line
    without a colon, a name that is not a token (whitespace before the colon, a folded
    line) or a value with control characters."""
    headers: dict[str, list[str]] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.fullmatch(name):
            raise HTTPError(400, f"malformed header line {line[:80]!r}")
        value = value.strip(b" \t")
        if re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", value):
            raise HTTPError(400, f"control character in header {name.decode()}")
        headers.setdefault(name.decode().lower(), []).append(value.decode("latin-1"))
    return headers


def content_length(headers: dict[str, list[str]]) -> Optional[int]:
    """The ``Content-Length``, or None if absent. Several fields or a comma-separated list
    are accepted when every value is the same (RFC 9110, 8.6); anything else is a 400:
    a length the framing cannot trust would desynchronise the connection."""
    values = {v.strip() for field in headers.get("content-length", []) for v in field.split(",")}
    if not values:
        return None
    if len(values) > 1:
        raise HTTPError(400, "different Content-Length values")
    value = values.pop()
    if not re.fullmatch(r"[0-9]+", value):  # no sign, no space, ASCII digits only
        raise HTTPError(400, f"Content-Length {value[:40]!r} is not a number")
    digits = value.lstrip("0")
    if len(digits) > 18:  # too large anyway; int() would refuse thousands of digits
        return 1 << 62
    return int(digits or "0")


def tokens(headers: dict[str, list[str]], name: str) -> set[str]:
    """The lower-case tokens of a comma-separated header (``Connection: close, Upgrade``)."""
    return {token.strip().lower() for field in headers.get(name, []) for token in field.split(",")}


def wants_close(version: bytes, headers: dict[str, list[str]]) -> bool:
    """Whether the connection ends after this message: HTTP/1.1 keeps it unless told
    ``Connection: close``; HTTP/1.0 ends it (this example does not do its keep-alive)."""
    return "close" in tokens(headers, "connection") or version != b"HTTP/1.1"


# -- the server ---------------------------------------------------------------------------


ROUTES = {b"/hello": b"GET", b"/echo": b"POST"}  # path -> the one method it answers


def route(method: bytes, target: bytes, body: Body) -> tuple[int, Body, list[str]]:
    """The application: the status, body and extra headers for a request that framed
    correctly."""
    path = target.split(b"?", 1)[0]
    if path not in ROUTES:
        return 404, b"not found: " + path + b"\n", []
    if method != ROUTES[path]:
        return 405, ROUTES[path] + b" only\n", [f"Allow: {ROUTES[path].decode()}"]
    return 200, body if path == b"/echo" else b"hello from pyframe\n", []


def parse_request(head: list[bytes]) -> tuple[bytes, bytes, bytes, dict[str, list[str]]]:
    """The request line's method, target and version, and the headers; HTTPError(400) if
    malformed, HTTPError(501) for Transfer-Encoding."""
    parts = head[0].split(b" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise HTTPError(400, f"malformed request line {head[0][:80]!r}")
    method, target, version = parts
    if not VERSION.fullmatch(version):
        raise HTTPError(400, f"unsupported version {version[:20]!r}")
    headers = parse_headers(head[1:])
    if version == b"HTTP/1.1" and len(headers.get("host", [])) != 1:
        raise HTTPError(400, "an HTTP/1.1 request needs exactly one Host header")
    if "transfer-encoding" in headers:  # not framed by Content-Length: not done here
        raise HTTPError(501, "Transfer-Encoding is not supported")
    return method, target, version, headers


def respond(status: int, body: Body, close: bool, extra: Optional[list[str]] = None) -> bytes:
    """A whole response: status line, headers, blank line, body (one send, so Nagle's
    algorithm never holds the body back waiting for the head's ACK)."""
    head = [
        f"HTTP/1.1 {status} {REASONS[status]}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
    ]
    head += extra or []
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def serve_connection(sock: socket.socket) -> None:
    """Answer requests on one connection until it closes, one at a time."""
    sock.settimeout(TIMEOUT)
    stream = Stream(sock)
    while True:
        try:
            head = stream.read_head()
            if head is None:
                return  # the client closed between requests
            method, target, version, headers = parse_request(head)
            length = content_length(headers)
            if length is not None and length > MAX_BODY:
                raise HTTPError(413, f"the body is over {MAX_BODY} bytes")
            if length and "100-continue" in tokens(headers, "expect"):
                # The client waits for this before it sends the body (curl does for big
                # ones): a body refused above is never sent.
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = stream.read_body(length or 0)
        except HTTPError as exc:
            sock.sendall(respond(exc.status, f"{exc}\n".encode(), close=True))
            linger_close(sock)
            return
        close = wants_close(version, headers)
        status, reply, extra = route(method, target, body)
        sock.sendall(respond(status, reply, close, extra))
        if close:
            linger_close(sock)
            return


def linger_close(sock: socket.socket) -> None:
    """Close after the last response without losing it. Closing a socket with unread
    bytes (a refused body) makes the kernel send a reset, and a reset can discard the
    response before the client reads it: so end our side first, then read and drop what
    the client still sends, until it closes too, goes quiet for 2 s or sent LINGER bytes."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(2)
        dropped = 0
        while dropped < LINGER:
            n = len(sock.recv(RECV_SIZE))
            if n == 0:
                break
            dropped += n
    except OSError:
        pass  # the client is gone or too slow: close anyway
    finally:
        sock.close()


class Server(socketserver.ThreadingTCPServer):
    """One thread per connection (the threads end with the process)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, Handler)


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            serve_connection(self.request)
        except OSError:
            pass  # a timeout or a reset ends this connection only


def serve(address: str) -> None:
    host, _, port = address.rpartition(":")
    with Server((host or "127.0.0.1", int(port))) as server:
        print("listening on {}:{}".format(*server.server_address[:2]), flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


# -- the client ---------------------------------------------------------------------------


class Response:
    def __init__(
        self, version: bytes, status: int, reason: str, headers: dict[str, list[str]], body: Body
    ) -> None:
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body = headers, body


class Client:
    """Requests to one host over one keep-alive connection, opened again when the server
    closes it."""

    def __init__(self, host: str, port: int, timeout: float = 10) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.stream: Optional[Stream] = None

    def request(self, method: str, target: str, body: Optional[bytes] = None) -> Response:
        if self.stream is None:
            sock = socket.create_connection((self.host, self.port), self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.stream = Stream(sock)
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        head = [f"{method} {target} HTTP/1.1", f"Host: {host}:{self.port}"]
        if body is not None:
            head.append(f"Content-Length: {len(body)}")
        message = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")
        self.stream.sock.sendall(message)
        response = self._read_response(method)
        if wants_close(response.version, response.headers):
            self.close()  # the server ends the connection: the next request opens another
        return response

    def _read_response(self, method: str) -> Response:
        assert self.stream is not None
        try:
            lines = self.stream.read_head()
        except HTTPError as exc:
            raise ValueError(f"bad response: {exc}") from None
        if lines is None:
            raise ConnectionError("the server closed the connection without a response")
        match = STATUS_LINE.fullmatch(lines[0])
        if match is None:
            raise ValueError(f"bad status line {lines[0][:80]!r}")
        version, status = match.group(1), int(match.group(2))
        reason = (match.group(3) or b"").decode("latin-1")
        try:
            headers = parse_headers(lines[1:])
            length = content_length(headers)
        except HTTPError as exc:
            raise ValueError(f"bad response: {exc}") from None
        body: Body
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""  # these responses never have a body, whatever the headers say
        elif "transfer-encoding" in headers:
            raise ValueError("Transfer-Encoding (chunked responses) is not supported")
        elif length is None:  # the body ends with the connection
            body = self.stream.read_to_end(MAX_BODY)
            self.close()  # (the connection ended: request() needs no Connection: close)
        elif length > MAX_BODY:
            raise ValueError(f"the response body is over {MAX_BODY} bytes")
        else:
            body = self.stream.read_body(length)
        return Response(version, status, reason, headers, body)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.sock.close()
            self.stream = None


def fetch(method: str, urls: list[str], body: Optional[bytes] = None) -> int:
    """Send the request to each URL (one server) and print each response: status line and
    headers (names in lower case) to stderr, body to stdout. Exit status 0 if every status
    was under 400."""
    parts = [urlsplit(url) for url in urls]
    first = parts[0]
    if first.scheme != "http" or any(p.netloc != first.netloc for p in parts):
        raise SystemExit("http:// URLs of one server only")
    client = Client(first.hostname or "localhost", first.port or 80)
    failed = False
    try:
        for part in parts:
            target = (part.path or "/") + (f"?{part.query}" if part.query else "")
            response = client.request(method, target, body)
            status_line = f"{response.version.decode()} {response.status} {response.reason}"
            print(status_line, file=sys.stderr)
            for name, values in response.headers.items():
                for value in values:
                    print(f"{name}: {value}", file=sys.stderr)
            sys.stdout.buffer.write(response.body)
            sys.stdout.flush()
            failed = failed or response.status >= 400
    finally:
        client.close()
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    command, *args = argv or [""]
    if command == "serve" and len(args) == 1:
        serve(args[0])
        return 0
    if command == "get" and args:
        return fetch("GET", args)
    if command == "post" and len(args) == 2:
        return fetch("POST", args[:1], args[1].encode())
    raise SystemExit("usage:\n" + __doc__.split("\n\n", 2)[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
