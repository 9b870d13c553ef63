"""The local cloud's platform records (local/worker/platform_log.py) in both LogFormats, read back
by recursectl's chain parser: the hot loop (chain/fold.py) and the tolerant path must take every
JSON record the local cloud writes and give the tree the Text lines give."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from recursectl.chain import ChainCollector
from recursectl.chain.fold import FAST, JREPORT, JSTART, SKIP_PLATFORM
from recursectl.chain.parse import parse_message
from recursectl.chain.records import Failure, InitReport, InitStart, Report, Start
from recursectl.local.engine.attempt import FunctionSpec
from recursectl.local.worker.platform_log import PlatformLog

SPEC = FunctionSpec(
    name="fn",
    arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
    handler="handler.handler",
    runtime="python3.12",
    memory=128,
    timeout=30,
    variables=(),
    code_sha="sha",
    version="$LATEST",
    log_group="/aws/lambda/fn",
    region="us-east-1",
    endpoint="http://127.0.0.1:1",
)
JSON_SPEC = dataclasses.replace(SPEC, log_format="JSON")
ROOT = "11111111-1111-4111-a111-111111111111"
CHILD = "22222222-2222-4222-a222-222222222222"


def _hop(req: str, parent: str | None, depth: int) -> str:
    record = {"v": 1, "ev": "hop", "chain": ROOT, "req": req, "parent": parent}
    record |= {"depth": depth, "max": 25}
    return "RECURSECTL_CHAIN " + json.dumps(record, separators=(",", ":"))


def _child(req: str, child: str, depth: int) -> str:
    record = {"v": 1, "ev": "child", "chain": ROOT, "req": req, "child": child, "depth": depth}
    return "RECURSECTL_CHAIN " + json.dumps(record, separators=(",", ":"))


def _chain_events(log: PlatformLog) -> list[dict[str, Any]]:
    """A two-hop chain: a cold root that invokes a child in a second (cold) environment; the
    child fails with a crash (Runtime.ExitError)."""
    streams: list[tuple[str, list[str | None]]] = [
        (
            "s1",
            [
                log.init_start("python:3.12.local"),
                log.start(ROOT),
                _hop(ROOT, None, 0),
                '{"timestamp":"t","level":"INFO","message":"hello","logger":"root",'
                f'"requestId":"{ROOT}"}}',
                _child(ROOT, CHILD, 0),
                log.end(ROOT, "success", 5.5),
                log.report(ROOT, 5.5, 40, init_ms=120.25),
            ],
        ),
        (
            "s2",
            [
                log.init_start("python:3.12.local"),
                log.start(CHILD),
                _hop(CHILD, ROOT, 1),
                log.end(CHILD, "failure", 2.0),
                log.report(
                    CHILD, 2.0, 41, init_ms=99.5, status="error", error_type="Runtime.ExitError"
                ),
            ],
        ),
    ]
    events = []
    ts = 1_777_636_800_000
    for stream, messages in streams:
        for message in messages:
            if message is None:
                continue
            ts += 1
            events.append(
                {"message": message, "timestamp": ts, "logStreamName": stream, "eventId": str(ts)}
            )
    return events


def _tree(log: PlatformLog) -> list[dict[str, Any]]:
    collector = ChainCollector()
    events = _chain_events(log)
    collector.add_events(events)
    chain = collector.latest(now_ms=events[-1]["timestamp"] + 60_000)
    assert chain is not None
    keep = ("request_id", "parent_id", "depth", "status", "duration_ms", "billed_ms")
    keep += ("memory_mb", "max_memory_mb", "init_ms")
    docs = chain.to_dict()["invocations"]
    return [{k: inv[k] for k in keep} | {"error": inv["error"]} for inv in docs]


def test_a_json_chain_gives_the_tree_a_text_chain_gives() -> None:
    text, as_json = _tree(PlatformLog(SPEC)), _tree(PlatformLog(JSON_SPEC))
    assert as_json == text
    root, child = text
    assert (root["depth"], root["status"], root["init_ms"]) == (0, "ok", 120.25)
    assert root["billed_ms"] == 126.0  # 5.5 + 120.25, rounded up to 1 ms
    assert (child["parent_id"], child["status"]) == (ROOT, "error")
    assert child["error"]["type"] == "Runtime.ExitError"


def test_the_hot_loop_takes_every_json_record_the_local_cloud_writes() -> None:
    log = PlatformLog(dataclasses.replace(JSON_SPEC, system_log_level="DEBUG"))
    kinds = {
        log.init_start("python:3.12.local"): SKIP_PLATFORM,
        log.start(ROOT): JSTART,
        log.end(ROOT, "success", 1.25): SKIP_PLATFORM,  # runtimeDone: nothing a chain needs
        log.report(ROOT, 1.25, 40): JREPORT,
        log.report(ROOT, 3.0, 128, 50.0, "timeout"): JREPORT,
        log.report(ROOT, 3.0, 128, None, "error", "Runtime.OutOfMemory"): JREPORT,
    }
    for message, kind in kinds.items():
        assert message is not None
        match = FAST.match(message)
        assert match is not None, message
        assert match.lastindex == kind, message
    timed_out = parse_message(str(log.report(ROOT, 3.0, 128, 50.0, "timeout")), 1)
    assert isinstance(timed_out, Report)
    assert (timed_out.status, timed_out.init_ms, timed_out.billed_ms) == ("timeout", 50.0, 53.0)


def test_the_tolerant_path_reads_them_too() -> None:
    log = PlatformLog(JSON_SPEC)
    assert isinstance(parse_message(str(log.init_start("python:3.12.local")), 1), InitStart)
    start = parse_message(str(log.start(ROOT)), 1)
    assert isinstance(start, Start)
    assert start.request_id == ROOT
    init = parse_message(str(log.init_report(87.5, "invoke", "error", "Runtime.X")), 1)
    assert isinstance(init, InitReport)
    assert (init.init_ms, init.phase, init.status, init.error_type) == (
        87.5,
        "invoke",
        "error",
        "Runtime.X",
    )


def test_system_log_level_filters_platform_records() -> None:
    warn = PlatformLog(dataclasses.replace(JSON_SPEC, system_log_level="WARN"))
    assert warn.init_start("v") is None
    assert warn.start(ROOT) is None
    assert warn.report(ROOT, 1.0, 40) is None
    assert warn.init_report(1.0, "init", "timeout", None) is None
    info = PlatformLog(JSON_SPEC)
    assert info.end(ROOT, "success", 1.0) is None  # runtimeDone is DEBUG
    assert info.timed_out(ROOT, 3.0) is None  # JSON says it with status timeout
    debug = PlatformLog(dataclasses.replace(JSON_SPEC, system_log_level="DEBUG"))
    done = json.loads(str(debug.end(ROOT, "timeout", 3000.0)))
    assert done["type"] == "platform.runtimeDone"
    assert done["record"] == {
        "requestId": ROOT,
        "status": "timeout",
        "metrics": {"durationMs": 3000.0, "producedBytes": 0},
    }


def test_text_format_lines_are_unchanged() -> None:
    text = PlatformLog(SPEC)
    assert text.start(ROOT) == f"START RequestId: {ROOT} Version: $LATEST"
    assert text.end(ROOT, "success", 1.0) == f"END RequestId: {ROOT}"
    assert text.init_report(10.0, "init", "timeout", None) == (
        "INIT_REPORT Init Duration: 10.00 ms\tPhase: init\tStatus: timeout"
    )
    assert text.app_env() == {}
    assert text.app_line_kept('{"level": "DEBUG"}')  # no filtering without JSON


@pytest.mark.parametrize(
    ("level", "line", "kept"),
    [
        ("INFO", '{"level": "DEBUG", "message": "m"}', False),
        ("INFO", '{"level": "debug", "msg": "m"}', False),  # AWS's own example, lower case
        ("INFO", '{"level": "WARNING", "message": "m"}', True),
        ("WARN", '{"level": "INFO", "message": "m"}', False),
        ("WARN", '{"message": "no level: INFO"}', False),
        ("WARN", '{"level": 3, "message": "not a level: INFO"}', False),
        ("WARN", '{"log_level": "ERROR", "errorType": "ValueError"}', True),
        ("ERROR", "a plain print", True),
        ("ERROR", "{not json", True),
        ("ERROR", "[1, 2]", True),
        ("FATAL", '{"level": "CRITICAL"}', True),
        ("TRACE", '{"level": "TRACE"}', True),
    ],
)
def test_application_log_level_on_printed_json(level: str, line: str, kept: bool) -> None:
    log = PlatformLog(dataclasses.replace(JSON_SPEC, app_log_level=level))
    assert log.app_line_kept(line) is kept
    assert log.app_env() == {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": level}


def test_a_node_json_error_record_is_a_failure() -> None:
    # aws-lambda-ric in JSON: console.error(err) puts the error object in "message".
    line = json.dumps(
        {
            "timestamp": "2026-05-01T12:00:00.000Z",
            "level": "ERROR",
            "requestId": ROOT,
            "message": {
                "errorType": "TypeError",
                "errorMessage": "node boom",
                "stackTrace": ["TypeError: node boom", "    at handler (/var/task/index.js:5)"],
            },
        },
        separators=(",", ":"),
    )
    for lines in (True, False):
        rec = parse_message(line, 1, "s", None, lines=lines)
        assert isinstance(rec, Failure)
        assert (rec.request_id, rec.error_type, rec.message) == (ROOT, "TypeError", "node boom")
