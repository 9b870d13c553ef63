"""The local cloud's HTTP/1.1 code: the pure parser over buffers (the socket loop:
tests/functional/local/frontdoor/test_http11_loop.py)."""

from __future__ import annotations

import pytest

from recursectl.local.frontdoor.http11 import (
    ProtocolError,
    Request,
    RequestParser,
    encode_reply,
)


def _parse_all(raw: bytes, step: int | None = None, limit: int = 1 << 20) -> list[Request]:
    """Every request in `raw`, fed whole or `step` bytes at a time."""
    parser = RequestParser(body_limit=limit)
    out: list[Request] = []
    pieces = [raw] if step is None else [raw[i : i + step] for i in range(0, len(raw), step)]
    for piece in pieces:
        parser.feed(piece)
        while (request := parser.next()) is not None:
            out.append(request)
    assert not parser.pending
    return out


PIPELINED = (
    b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    b"\r\nGET /b HTTP/1.1\r\nHost: h\r\nX-Amz-Target: T\r\nX-Two: 1\r\nx-two: 2\r\n\r\n"
)


@pytest.mark.parametrize("step", [None, 1, 7])
def test_pipelined_requests_parse_the_same_however_the_bytes_arrive(step: int | None) -> None:
    first, second = _parse_all(PIPELINED, step)
    assert (first.method, first.target, first.body) == ("POST", "/a?x=1", b"hello")
    assert first.headers == {"host": "h", "content-length": "5"}  # names lowercased once
    assert (second.method, second.target, second.body) == ("GET", "/b", b"")
    assert second.headers["x-amz-target"] == "T"
    assert second.headers["x-two"] == "1, 2"  # repeated fields are joined
    assert first.keep_alive
    assert second.keep_alive


CHUNKED = (
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
    b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
)


@pytest.mark.parametrize("step", [None, 1, 3])
def test_chunked_bodies_are_decoded_and_the_next_request_follows(step: int | None) -> None:
    chunked, after = _parse_all(CHUNKED, step)
    assert chunked.body == b"hello 0123456789"
    assert after.target == "/next"


def test_http10_closes_unless_keep_alive_and_connection_close_is_read() -> None:
    old, kept, closed = _parse_all(
        b"GET / HTTP/1.0\r\n\r\n"
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    assert (old.keep_alive, kept.keep_alive, closed.keep_alive) == (False, True, False)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nName : x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n", 413),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 70000, 431),
    ],
)  # fmt: skip
def test_ambiguous_or_oversized_requests_are_refused(raw: bytes, status: int) -> None:
    parser = RequestParser(body_limit=1 << 20)
    parser.feed(raw)
    with pytest.raises(ProtocolError) as caught:
        parser.next()
    assert caught.value.status == status


def test_the_body_limit_can_depend_on_the_request() -> None:
    parser = RequestParser(body_limit=lambda method, target: 10 if target == "/small" else 100)
    parser.feed(b"PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\n" + b"x" * 50)
    request = parser.next()
    assert request is not None
    assert len(request.body) == 50
    parser.feed(b"PUT /small HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\n")
    with pytest.raises(ProtocolError):
        parser.next()


def test_expect_100_continue_is_asked_for_once() -> None:
    parser = RequestParser()
    parser.feed(b"PUT /o HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    assert parser.next() is None
    assert parser.wants_continue()
    assert not parser.wants_continue()
    parser.feed(b"abc")
    request = parser.next()
    assert request is not None
    assert request.body == b"abc"


def test_encode_reply_frames_the_body() -> None:
    raw = encode_reply(404, {"X-A": "b"}, b"gone", close=True)
    assert raw == (
        b"HTTP/1.1 404 Not Found\r\nX-A: b\r\nContent-Length: 4\r\nConnection: close\r\n\r\ngone"
    )
