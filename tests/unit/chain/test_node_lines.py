"""The Node.js runtimes' Text lines: the request id is the second field, and the runtime's
`Invoke Error` line is the handler's failure."""

from __future__ import annotations

from recursectl.chain.parse import parse_message
from recursectl.chain.records import AppLine, Failure

RID = "8f5a1c2e-0000-4000-8000-000000000001"


def test_a_console_line_belongs_to_its_request_with_its_level() -> None:
    line = f"2026-12-01T23:11:03.935Z\t{RID}\tINFO\treceived {{ numberOfCalls: 5 }}"
    record = parse_message(line, 1)
    assert isinstance(record, AppLine)
    assert (record.request_id, record.level, record.text) == (
        RID,
        "INFO",
        "received { numberOfCalls: 5 }",
    )
    assert parse_message(line, 1, lines=False) is None


def test_the_runtimes_invoke_error_line_is_a_failure_with_the_error_type() -> None:
    line = (
        f"2026-12-01T23:11:03.935Z\t{RID}\tERROR\tInvoke Error \t"
        '{"errorType":"TypeError","errorMessage":"boom at 2","stack":["TypeError: boom at 2"]}'
    )
    record = parse_message(line, 1, lines=False)
    assert isinstance(record, Failure)
    assert (record.request_id, record.error_type, record.message) == (RID, "TypeError", "boom at 2")


def test_lines_that_only_look_alike_stay_plain_lines() -> None:
    for line in ("2026 was a year\tof\tINFO\tthings", "42\tanswers", f"2026-12-01\t{RID}\tNOTE\tx"):
        record = parse_message(line, 1)
        assert isinstance(record, AppLine)
        assert record.request_id is None
