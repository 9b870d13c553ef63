"""HTTP/1.1 requests from a byte buffer, and replies as bytes: no sockets here (sans-IO).

`RequestParser` is fed whatever the socket gave and hands back whole requests, as h11 does,
but hand-written for the few shapes the local cloud's clients send (botocore, awslambdaric,
urllib): keep-alive, pipelining, `Content-Length` and `Transfer-Encoding: chunked` bodies,
`Expect: 100-continue`. Header names are lowercased once, here. Framing that could be read
two ways (request smuggling) is refused, as RFC 9112 section 6 asks: duplicate or malformed
`Content-Length`, both `Content-Length` and `Transfer-Encoding` (400), a transfer coding
other than `chunked` (501). A body larger than the limit is refused (413) before it is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Streamed:
    """A reply whose body is sent as it is produced (`Transfer-Encoding: chunked`), one chunk
    per item of `chunks`; the connection is closed after it (an event stream, StartLiveTail)."""

    code: int
    headers: dict[str, str]
    chunks: Iterator[bytes]


MAX_HEAD = 64 * 1024  # bytes of request line + headers
# Lambda takes 6 MB (RequestResponse payload); a little above it the engine still answers
# AWS's own RequestEntityTooLargeException with its message.
MAX_BODY = 6 * 1024 * 1024 + 256 * 1024
_MAX_CHUNK_LINE = 1024  # a chunk-size line (hex size and extensions)
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")

BodyLimit = Callable[[str, str], int]  # (method, target) -> the largest body accepted


class ProtocolError(Exception):
    """The request cannot be read: answer `status` and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Request:
    method: str
    target: str
    headers: dict[str, str]  # lowercase names; repeated fields joined with ", "
    body: bytes
    keep_alive: bool


@dataclass(slots=True)
class _Head:
    method: str
    target: str
    headers: dict[str, str]
    length: int  # -1: chunked
    keep_alive: bool
    expect_continue: bool


def reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def encode_reply(code: int, headers: dict[str, str], body: bytes, close: bool = False) -> bytes:
    """One buffer (head and body together, so one send: no Nagle / delayed-ACK stall)."""
    head = [f"HTTP/1.1 {code} {reason(code)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {len(body)}")
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def encode_stream_head(code: int, headers: dict[str, str]) -> bytes:
    """The head of a chunked reply that ends the connection."""
    head = [f"HTTP/1.1 {code} {reason(code)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head += ["Transfer-Encoding: chunked", "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")


def encode_chunk(data: bytes) -> bytes:
    """One chunk; b"" is the last chunk (the end of the body)."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n" + (b"\r\n" if not data else b"")


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _fixed_limit(limit: int) -> BodyLimit:
    return lambda method, target: limit


class RequestParser:
    """Bytes in (`feed`), requests out (`next`). Raises ProtocolError on a bad request."""

    def __init__(self, max_head: int = MAX_HEAD, body_limit: BodyLimit | int = MAX_BODY) -> None:
        self.max_head = max_head
        self._limit = _fixed_limit(body_limit) if isinstance(body_limit, int) else body_limit
        self._buf = bytearray()
        self._head: _Head | None = None
        self._continued = False
        # chunked body state: chunks so far, where the next chunk-size line starts, size
        self._chunks: list[bytes] = []
        self._pos = 0
        self._size = 0
        self._total = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def pending(self) -> bool:
        """Part of a request is buffered (the request's deadline applies)."""
        return bool(self._buf) or self._head is not None

    def wants_continue(self) -> bool:
        """The client waits for `100 Continue` before sending the body: send CONTINUE once."""
        head = self._head
        if head is None or not head.expect_continue or self._continued:
            return False
        self._continued = True
        return True

    def next(self) -> Request | None:
        """The next whole request, or None until more bytes are fed."""
        head = self._head
        if head is None:
            head = self._read_head()
            if head is None:
                return None
        if head.length >= 0:
            buf, start = self._buf, self._pos
            stop = start + head.length
            if len(buf) < stop:
                return None
            body = bytes(buf[start:stop])
            if stop == len(buf):
                buf.clear()  # the common case: one request per read
            else:
                del buf[:stop]
            self._pos = 0
        else:
            chunked = self._read_chunks(head)
            if chunked is None:
                return None
            body = chunked
        self._head = None
        self._continued = False
        return Request(head.method, head.target, head.headers, body, head.keep_alive)

    def _read_head(self) -> _Head | None:
        buf = self._buf
        while buf.startswith(b"\r\n"):  # RFC 9112 2.2: ignore empty lines before a request
            del buf[:2]
        end = buf.find(b"\r\n\r\n")
        if end < 0 or end > self.max_head:
            if len(buf) > self.max_head:
                raise ProtocolError(431, "request header block too large")
            return None
        head = parse_head(buf[:end].decode("latin-1"))
        self._pos = end + 4  # the body (or the first chunk-size line) starts here
        limit = self._limit(head.method, head.target)
        if head.length > limit:
            raise ProtocolError(413, f"request body larger than {limit} bytes")
        self._head = head
        return head

    def _read_chunks(self, head: _Head) -> bytes | None:
        buf, limit = self._buf, self._limit(head.method, head.target)
        while True:
            pos = self._pos
            line_end = buf.find(b"\r\n", pos, pos + _MAX_CHUNK_LINE)
            if line_end < 0:
                if len(buf) - pos >= _MAX_CHUNK_LINE:
                    raise ProtocolError(400, "chunk size line too long")
                return None
            if self._size == 0:  # a chunk-size line, or the last-chunk and its trailers
                size_text = bytes(buf[pos:line_end]).split(b";", 1)[0].strip(b" \t")
                if not _HEX.fullmatch(size_text):
                    raise ProtocolError(400, "bad chunk size")
                size = int(size_text, 16)
                if size == 0:
                    return self._end_chunks(line_end + 2)
                if self._total + size > limit:
                    raise ProtocolError(413, f"request body larger than {limit} bytes")
                self._size, self._pos = size, line_end + 2
                continue
            start, size = pos, self._size
            if len(buf) < start + size + 2:
                return None
            if buf[start + size : start + size + 2] != b"\r\n":
                raise ProtocolError(400, "chunk not followed by CRLF")
            self._chunks.append(bytes(buf[start : start + size]))
            self._total += size
            self._pos, self._size = start + size + 2, 0

    def _end_chunks(self, trailers: int) -> bytes | None:
        """After the last chunk: trailer fields (ignored) up to an empty line."""
        end = self._buf.find(b"\r\n", trailers)
        while end > trailers:  # a trailer field line
            if end - trailers > self.max_head:
                raise ProtocolError(431, "trailer too large")
            trailers = end + 2
            end = self._buf.find(b"\r\n", trailers)
        if end < 0:
            if len(self._buf) - trailers > self.max_head:
                raise ProtocolError(431, "trailer too large")
            return None
        del self._buf[: end + 2]
        body = b"".join(self._chunks)
        self._chunks, self._pos, self._size, self._total = [], 0, 0, 0
        return body


def parse_head(head: str) -> _Head:
    """The request line and header fields (no body framing read yet)."""
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[1]:
        raise ProtocolError(400, "bad request line")
    method, target, version = parts
    if version not in {"HTTP/1.1", "HTTP/1.0"}:
        raise ProtocolError(505 if version.startswith("HTTP/") else 400, "bad HTTP version")
    headers: dict[str, str] = {}
    del lines[0]
    for line in lines:
        name, sep, value = line.partition(":")
        # A space or tab in a name is "Name :" or obs-fold (a line starting with a space):
        # both are ways to smuggle a second reading of the request, so both are refused.
        if not sep or not name or " " in name or "\t" in name:
            raise ProtocolError(400, "bad header field")
        headers[name.lower()] = value.strip(" \t")
    if len(headers) != len(lines):  # a name came twice (rare): read them again, joined
        headers = _joined(lines)
    conn = headers.get("connection")
    if version == "HTTP/1.1":
        keep_alive = conn is None or "close" not in conn.lower()
        if "host" not in headers:
            raise ProtocolError(400, "no Host header")
    else:
        keep_alive = conn is not None and "keep-alive" in conn.lower()
    expect = headers.get("expect")
    if "transfer-encoding" in headers or "content-length" in headers:
        length = _body_length(headers)
    else:
        length = 0
    return _Head(
        method,
        target,
        headers,
        length,
        keep_alive,
        expect is not None and expect.lower() == "100-continue",
    )


def _joined(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        name, value = name.lower(), value.strip(" \t")
        if name in headers:
            if name in {"content-length", "host"}:
                raise ProtocolError(400, f"more than one {name}")
            headers[name] += ", " + value
        else:
            headers[name] = value
    return headers


def _body_length(headers: dict[str, str]) -> int:
    coding = headers.get("transfer-encoding")
    length = headers.get("content-length")
    if coding is not None:
        if length is not None:
            raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
        if coding.lower() != "chunked":
            raise ProtocolError(501, f"transfer coding not supported: {coding}")
        return -1
    if length is None:
        return 0
    if not (length.isascii() and length.isdigit()) or len(length) > 18:
        # 19+ digits: far beyond any limit, and int() of it is not worth the time
        if length.isascii() and length.isdigit():
            raise ProtocolError(413, "request body too large")
        raise ProtocolError(400, "bad Content-Length")
    return int(length)
