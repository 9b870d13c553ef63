"""Lines logged before START (an init failure) belong to the invocation that waited for them.

Layouts as AWS writes them (../shared/samples/README.md) and as the local cloud writes them
(src/recursectl/local/worker/logsink.py, awslambdaric's own error output before START).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from recursectl.chain import ChainCollector

RID = "8f507cfc-4fe0-4697-b07a-ac58fc914c95"
RID2 = "5b1f0a3e-2c44-4d7e-9a51-3c0f2b8e7d11"
STREAM = "2024/05/01/[$LATEST]3893a5b07fac4485b47bb75b671a283c"
OTHER = "2024/05/01/[$LATEST]aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
T0 = 1_714_564_800_000
MISSING = "Unable to import module 'handler': No module named 'requests'"
ERROR_TEXT = f"[ERROR] Runtime.ImportModuleError: {MISSING}\nTraceback (most recent call last):\n"
INIT_START = (
    "INIT_START Runtime Version: python:3.12.v27\t"
    "Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:0f5c\n"
)
INIT_REPORT_INIT = (
    "INIT_REPORT Init Duration: 87.28 ms\tPhase: init\tStatus: error\t"
    "Error Type: Runtime.ImportModuleError\n"
)
INIT_REPORT_INVOKE = INIT_REPORT_INIT.replace("Phase: init", "Phase: invoke")
REPORT_ERROR = (
    f"REPORT RequestId: {RID}\tDuration: 95.10 ms\tBilled Duration: 96 ms\tMemory Size: 128 MB"
    "\tMax Memory Used: 36 MB\tStatus: error\tError Type: Runtime.ImportModuleError\n"
)


def _events(messages: list[str], stream: str = STREAM, t0: int = T0) -> list[dict[str, Any]]:
    return [
        {"message": m, "timestamp": t0 + k, "logStreamName": stream, "eventId": f"{t0}-{k}"}
        for k, m in enumerate(messages)
    ]


def _aws_text() -> list[str]:
    """AWS, Text format: init fails, is retried in the invoke phase, and fails again."""
    return [
        INIT_START,
        ERROR_TEXT,
        INIT_REPORT_INIT,
        INIT_START,
        f"START RequestId: {RID} Version: $LATEST\n",
        ERROR_TEXT,
        INIT_REPORT_INVOKE,
        f"END RequestId: {RID}\n",
        REPORT_ERROR,
    ]


def _local_text() -> list[str]:
    """The local cloud: awslambdaric's error output before START, then INIT_REPORT, REPORT."""
    return [
        INIT_START.rstrip("\n"),
        ERROR_TEXT,
        f"START RequestId: {RID} Version: $LATEST",
        INIT_REPORT_INVOKE.rstrip("\n"),
        REPORT_ERROR.rstrip("\n"),
    ]


def _aws_json() -> list[str]:
    """AWS, JSON format: platform records and awslambdaric's JSON error record."""

    def platform(kind: str, record: dict[str, Any]) -> str:
        doc = {"time": "2024-05-01T12:00:00.000Z", "type": kind, "record": record}
        return json.dumps(doc, separators=(",", ":"))

    error = json.dumps(
        {
            "timestamp": "2024-05-01T12:00:00Z",
            "level": "ERROR",
            "errorMessage": MISSING,
            "errorType": "Runtime.ImportModuleError",
            "requestId": "",
            "stackTrace": [],
        }
    )
    init_start = platform(
        "platform.initStart",
        {"initializationType": "on-demand", "phase": "init", "runtimeVersion": "python:3.12"},
    )
    return [
        init_start,
        error,
        platform(
            "platform.initReport",
            {
                "initializationType": "on-demand",
                "phase": "init",
                "status": "error",
                "errorType": "Runtime.ImportModuleError",
                "metrics": {"durationMs": 87.28},
            },
        ),
        platform("platform.start", {"requestId": RID, "version": "$LATEST"}),
        platform(
            "platform.report",
            {
                "requestId": RID,
                "status": "error",
                "errorType": "Runtime.ImportModuleError",
                "metrics": {
                    "durationMs": 95.1,
                    "billedDurationMs": 96.0,
                    "memorySizeMB": 128.0,
                    "maxMemoryUsedMB": 36.0,
                },
            },
        ),
    ]


LAYOUTS = {"aws-text": _aws_text, "local-text": _local_text, "aws-json": _aws_json}


def _collect(events: list[dict[str, Any]], *, fast: bool) -> ChainCollector:
    c = ChainCollector(keep_lines=True)
    if fast:
        c.add_events(events)
    else:
        for event in events:
            c.add_event(event)
    return c


@pytest.mark.parametrize("fast", [True, False], ids=["hot-loop", "tolerant"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_import_error_names_the_missing_module(layout: str, fast: bool) -> None:
    c = _collect(_events(LAYOUTS[layout]()), fast=fast)
    chain = c.latest(now_ms=T0 + 60_000)
    assert chain is not None
    inv = chain.get(RID)
    assert inv is not None
    assert inv.status == "error"
    assert inv.error is not None
    assert inv.error.type == "Runtime.ImportModuleError"
    assert inv.error.message == MISSING
    texts = [line.text for line in inv.lines]
    assert any(MISSING in t for t in texts), texts  # --lines shows the error line
    assert any(t.startswith("INIT_REPORT") or "platform.initReport" in t for t in texts), texts
    assert json.loads(json.dumps(chain.to_dict()))["invocations"][0]["error"]["message"] == MISSING


def test_init_lines_go_to_the_next_start_of_their_own_stream() -> None:
    # Two environments: the failing one's lines must not land on the other's request.
    ok = _events(
        [
            INIT_START,
            f"START RequestId: {RID2} Version: $LATEST\n",
            f"REPORT RequestId: {RID2}\tDuration: 1.00 ms\tBilled Duration: 1 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 36 MB\t\n",
        ],
        stream=OTHER,
        t0=T0 - 5,
    )
    c = _collect(ok + _events(_local_text()), fast=True)
    chain = c.latest(now_ms=T0 + 60_000)
    assert chain is not None
    healthy = chain.get(RID2)
    assert healthy is not None
    assert healthy.status == "ok"
    assert healthy.error is None
    assert not any(MISSING in line.text for line in healthy.lines)
    failed = chain.get(RID)
    assert failed is not None
    assert failed.error is not None
    assert failed.error.message == MISSING


def test_init_lines_arriving_before_their_start_are_kept() -> None:
    # FilterLogEvents may deliver the init lines in one page and START in the next.
    events = _events(_local_text())
    c = ChainCollector(keep_lines=True)
    c.add_events(events[:2])
    c.add_events(events[2:])
    inv = c.latest(now_ms=T0 + 60_000).get(RID)  # type: ignore[union-attr]
    assert inv is not None
    assert any(MISSING in line.text for line in inv.lines)


def test_without_init_start_a_line_before_the_first_start_is_not_guessed() -> None:
    # The window began mid-environment: a print before the first START seen may be the tail
    # of a request that started before the window, so it is given to nobody.
    events = _events(
        [
            "tail of an earlier request\n",
            f"START RequestId: {RID} Version: $LATEST\n",
            f"REPORT RequestId: {RID}\tDuration: 1.00 ms\tBilled Duration: 1 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 36 MB\t\n",
        ]
    )
    c = _collect(events, fast=True)
    inv = c.latest(now_ms=T0 + 60_000).get(RID)  # type: ignore[union-attr]
    assert inv is not None
    assert [line.text for line in inv.lines] == []


def test_a_retry_does_not_inherit_the_first_attempts_init_error() -> None:
    # An init error before the first START; the async retry (a new START in a new
    # environment) succeeds: the invocation is ok, its first attempt's error is history.
    first = _events(_local_text())
    retry = _events(
        [
            INIT_START,
            f"START RequestId: {RID} Version: $LATEST\n",
            f"REPORT RequestId: {RID}\tDuration: 1.00 ms\tBilled Duration: 1 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 36 MB\t\n",
        ],
        stream=OTHER,
        t0=T0 + 60_000,
    )
    c = _collect(first + retry, fast=True)
    inv = c.latest(now_ms=T0 + 120_000).get(RID)  # type: ignore[union-attr]
    assert inv is not None
    assert inv.attempts == 2
    assert inv.status == "ok"
    assert inv.error is None
