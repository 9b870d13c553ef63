"""AWS event-stream framing (`application/vnd.amazon.eventstream`), the encoding side only.

A message is a prelude (total length, headers length, CRC32 of those 8 bytes), headers (name
length u8, name, value type u8 - 7 is a string - value length u16, value), the payload and a
CRC32 of everything before it; integers are big-endian. botocore decodes exactly this
(botocore.eventstream), and for the JSON protocol expects an `initial-response` event first.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

_STRING = 7
CONTENT_TYPE = "application/vnd.amazon.eventstream"


def _headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack("!B", len(raw_name)) + raw_name
        out += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """One framed message."""
    head = _headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event(event_type: str, doc: dict[str, Any]) -> bytes:
    """An event of the stream (`sessionStart`, `sessionUpdate`, `initial-response`)."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return message(headers, json.dumps(doc, separators=(",", ":")).encode())


def exception(kind: str, text: str) -> bytes:
    """A modeled exception of the stream (`SessionTimeoutException`, ...): ends the stream."""
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return message(headers, json.dumps({"message": text}).encode())
