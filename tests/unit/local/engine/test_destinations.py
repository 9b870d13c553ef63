"""The pure parts of async destinations and code locations: record shape, DLQ attributes,
the signed Code.Location URL (its expiry needs a clock the functional tests cannot move)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from recursectl.local.engine.destinations import Ending, dlq_attributes, invocation_record
from recursectl.local.frontdoor import codesource
from recursectl.local.worker.codestore import CodeStore


def _ending(**changes: object) -> Ending:
    fields: dict[str, object] = {
        "condition": "RetriesExhausted",
        "request_id": "req-1",
        "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
        "payload": b'{"a": 1}',
        "attempts": 3,
        "executed_version": "$LATEST",
        "function_error": "Unhandled",
        "response": json.dumps({"errorMessage": "\u00e9" * 600, "errorType": "E"}).encode(),
    }
    fields.update(changes)
    return Ending(**fields)  # type: ignore[arg-type]


def test_the_record_has_aws_fields_and_no_response_when_nothing_ran() -> None:
    ran = invocation_record(_ending(), timestamp="2026-01-01T00:00:00.000Z")
    assert list(ran) == [
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    ]
    assert ran["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    dropped = invocation_record(_ending(executed_version=None, attempts=0, response=b""))
    assert "responseContext" not in dropped
    assert "responsePayload" not in dropped
    assert dropped["requestContext"]["approximateInvokeCount"] == 0


def test_the_dlq_error_message_is_cut_at_1_kb_on_a_character_boundary() -> None:
    attributes = dlq_attributes(_ending())
    kind, text = attributes["ErrorMessage"]
    assert kind == "String"
    assert len(text.encode()) == 1024  # 512 two-byte characters
    assert attributes["ErrorCode"] == ("Number", "200")
    plain = dlq_attributes(_ending(response=b"", error_code=400, error_message="stopped"))
    assert plain["ErrorMessage"] == ("String", "stopped")
    assert plain["ErrorCode"] == ("Number", "400")


def test_a_code_location_expires_after_ten_minutes(tmp_path: Path) -> None:
    store = CodeStore(tmp_path)
    data = b"PK\x05\x06" + b"\x00" * 18  # an empty zip
    sha = store.add(data)
    assert sha == base64.b64encode(hashlib.sha256(data).digest()).decode()
    url = codesource.location("http://127.0.0.1:1", "token", sha, now=1_000_000.0)
    path, _, query = url[len("http://127.0.0.1:1") :].partition("?")
    ok = codesource.download(store, "token", path, query, now=1_000_000.0 + 599)
    assert ok == (200, {"Content-Type": "application/zip"}, data)
    assert codesource.download(store, "token", path, query, now=1_000_000.0 + 601)[0] == 403
    assert codesource.download(store, "other", path, query, now=1_000_000.0)[0] == 403
