"""Worker output decoding (pure): lines, telemetry frames, events cut at 256 KB."""

from __future__ import annotations

import time

import pytest

from recursectl.local.worker.frames import (
    MAX_EVENT_BYTES,
    FrameDecoder,
    LineDecoder,
    frame,
    split_event,
)


def test_lines_are_cut_at_newlines_whatever_the_chunks() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"one\ntw") == [b"one"]
    assert decoder.feed(b"o") == []
    assert decoder.feed(b"\n\nthree\nfou") == [b"two", b"", b"three"]
    assert decoder.flush() == b"fou"
    assert decoder.flush() is None


def test_a_long_line_costs_linear_time() -> None:
    # 8 MB in 64 KB reads: joined once at its newline (the old `partial + chunk` was O(n^2)).
    decoder = LineDecoder()
    chunk = b"x" * 65536
    started = time.process_time()
    for _ in range(128):
        assert decoder.feed(chunk) == []
    (line,) = decoder.feed(b"\n")
    assert len(line) == 128 * 65536
    # Not a timing assertion on speed: only that it is not seconds (quadratic was ~0.4 s/10 MB
    # and grows with the square; linear is milliseconds).
    assert time.process_time() - started < 5


def test_events_over_256_kb_are_split_in_order_on_character_boundaries() -> None:
    assert split_event(b"short") == ["short"]
    text = ("a" * (MAX_EVENT_BYTES - 1) + "é" + "b" * 10).encode()  # é straddles the cut
    parts = split_event(text)
    assert len(parts) == 2
    assert "".join(parts) == text.decode()
    assert all(len(p.encode()) <= MAX_EVENT_BYTES for p in parts)
    big = b"z" * (3 * MAX_EVENT_BYTES + 5)
    assert [len(p) for p in split_event(big)] == [MAX_EVENT_BYTES] * 3 + [5]


@pytest.mark.parametrize("step", [1, 5, 1000])
def test_telemetry_frames_decode_however_the_bytes_arrive(step: int) -> None:
    raw = frame(b"first\nline\n", 1_700_000_000_123_456) + frame(b"second", 2_000)
    decoder = FrameDecoder()
    out: list[tuple[bytes, int]] = []
    for i in range(0, len(raw), step):
        out += decoder.feed(raw[i : i + step])
    assert out == [(b"first\nline", 1_700_000_000_123), (b"second", 2)]
