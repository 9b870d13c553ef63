"""A worker's output, as log events: pure decoders over the bytes its pipes deliver.

Two pipes per worker: stdout (every printed line is one event) and awslambdaric's telemetry
file descriptor (`_LAMBDA_TELEMETRY_LOG_FD`: one frame per logging record, so a multi-line
record stays one event). Both decoders are linear in their input: a 40 MB line is kept as a
list of pieces until its newline arrives (joining `partial + chunk` on every read was
quadratic: 9.6 s for one 40 MB line).

Events longer than CloudWatch Logs takes are cut into several: PutLogEvents accepts events of
at most 256 KB (262,144 bytes, counted as the UTF-8 message plus 26 bytes of overhead;
CloudWatch Logs API reference, PutLogEvents). Each piece carries up to 262,118 bytes of the
line, cut on a UTF-8 character boundary, in order; nothing is dropped.
"""

from __future__ import annotations

MAX_EVENT_BYTES = 256 * 1024 - 26  # CloudWatch Logs: 256 KB per event, including 26 bytes
FRAME_HEADER = 16  # type (4) + length (4) + timestamp in microseconds (8), big-endian


def split_event(data: bytes, limit: int = MAX_EVENT_BYTES) -> list[str]:
    """`data` (one line, UTF-8) as the event texts CloudWatch Logs can take."""
    if len(data) <= limit:
        return [data.decode("utf-8", "replace")]
    out = []
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        if end < len(data):
            # Back up to a character boundary (continuation bytes are 0b10xxxxxx), at most 3.
            back = end
            while back > start and end - back < 4 and (data[back] & 0xC0) == 0x80:
                back -= 1
            end = back if back > start else end
        out.append(data[start:end].decode("utf-8", "replace"))
        start = end
    return out


class LineDecoder:
    """stdout bytes in, complete lines out (without their newline)."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\n" not in chunk:
            if chunk:
                self._pieces.append(chunk)
            return []
        lines = chunk.split(b"\n")
        if self._pieces:
            self._pieces.append(lines[0])
            lines[0] = b"".join(self._pieces)
            self._pieces = []
        last = lines.pop()
        if last:
            self._pieces.append(last)
        return lines

    def flush(self) -> bytes | None:
        """The unterminated last line, if any (at end of output)."""
        if not self._pieces:
            return None
        rest = b"".join(self._pieces)
        self._pieces = []
        return rest


class FrameDecoder:
    """Telemetry bytes in, (message, timestamp in ms) out: one per frame."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, chunk: bytes) -> list[tuple[bytes, int]]:
        self._buf += chunk
        buf, pos, out = self._buf, self._pos, []
        while len(buf) - pos >= FRAME_HEADER:
            length = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            if len(buf) - pos < FRAME_HEADER + length:
                break
            ts_us = int.from_bytes(buf[pos + 8 : pos + 16], "big")
            message = bytes(buf[pos + FRAME_HEADER : pos + FRAME_HEADER + length])
            out.append((message.removesuffix(b"\n"), ts_us // 1000))
            pos += FRAME_HEADER + length
        if pos:
            del buf[:pos]  # once per read, not per frame
        self._pos = 0
        return out


def frame(message: bytes, ts_us: int, kind: int = 0xA55A0003) -> bytes:
    """One telemetry frame as awslambdaric writes it (for tests)."""
    header = kind.to_bytes(4, "big") + len(message).to_bytes(4, "big") + ts_us.to_bytes(8, "big")
    return header + message
