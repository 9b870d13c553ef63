"""Every log line format of ../shared/samples/README.md, written out literally."""

from __future__ import annotations

import json

import pytest

from recursectl.chain.parse import parse_event, parse_message
from recursectl.chain.records import (
    AppLine,
    End,
    Failure,
    InitReport,
    InitStart,
    Marker,
    Report,
    Start,
)

RID = "8f507cfc-4fe0-4697-b07a-ac58fc914c95"
TS = 1_714_564_800_123
STREAM = "2024/05/01/[$LATEST]3893a5b07fac4485b47bb75b671a283c"


def parse(message: str, *, lines: bool = True) -> object:
    return parse_message(message, TS, STREAM, "e1", lines=lines)


# Text format ---------------------------------------------------------------------------------


def test_init_start_marks_where_init_began() -> None:
    line = (
        "INIT_START Runtime Version: python:3.12.v27\t"
        "Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:0f5c3b2a\n"
    )
    rec = parse(line)
    assert isinstance(rec, InitStart)
    assert (rec.ts, rec.stream) == (TS, STREAM)


def test_start() -> None:
    rec = parse(f"START RequestId: {RID} Version: $LATEST\n")
    assert isinstance(rec, Start)
    assert (rec.request_id, rec.ts, rec.stream, rec.event_id) == (RID, TS, STREAM, "e1")


def test_end() -> None:
    rec = parse(f"END RequestId: {RID}\n")
    assert isinstance(rec, End)
    assert rec.request_id == RID


def test_report_cold_start() -> None:
    rec = parse(
        f"REPORT RequestId: {RID}\tDuration: 3.01 ms\tBilled Duration: 4 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n"
    )
    assert isinstance(rec, Report)
    assert rec.request_id == RID
    assert rec.duration_ms == 3.01
    assert rec.billed_ms == 4.0
    assert rec.memory_mb == 128.0
    assert rec.max_memory_mb == 36.0
    assert rec.init_ms == 110.10
    assert rec.status == "ok"
    assert rec.error_type is None


def test_report_warm_has_no_init_duration() -> None:
    rec = parse(
        f"REPORT RequestId: {RID}\tDuration: 1.50 ms\tBilled Duration: 2 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 36 MB\t\n"
    )
    assert isinstance(rec, Report)
    assert rec.init_ms is None
    assert rec.duration_ms == 1.5


def test_report_with_xray_line_after_newline() -> None:
    rec = parse(
        f"REPORT RequestId: {RID}\tDuration: 3.01 ms\tBilled Duration: 4 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n"
        "XRAY TraceId: 1-5e34a614-10bdc3e0f1fb44f07bc535a1\tSegmentId: 07f5a1b2c3d4e5f6\t"
        "Sampled: true\t\n"
    )
    assert isinstance(rec, Report)
    assert rec.init_ms == 110.10
    assert rec.status == "ok"


def test_report_timeout() -> None:
    rec = parse(
        f"REPORT RequestId: {RID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 64 MB\tStatus: timeout"
    )
    assert isinstance(rec, Report)
    assert rec.status == "timeout"
    assert rec.max_memory_mb == 64.0
    assert rec.duration_ms == 3000.0


def test_report_error_with_error_type() -> None:
    rec = parse(
        f"REPORT RequestId: {RID}\tDuration: 12.00 ms\tBilled Duration: 13 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: error\t"
        "Error Type: Runtime.ImportModuleError\n"
    )
    assert isinstance(rec, Report)
    assert rec.status == "error"
    assert rec.error_type == "Runtime.ImportModuleError"


def test_report_tolerates_unknown_fields_and_other_order() -> None:
    # Not the fast path: a field we do not know, and Init Duration before the memory fields.
    rec = parse(
        f"REPORT RequestId: {RID}\tDuration: 5.00 ms\tBilled Duration: 6 ms\t"
        "Init Duration: 99.50 ms\tRestore Duration: 7.00 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 50 MB\t\n"
    )
    assert isinstance(rec, Report)
    assert (rec.duration_ms, rec.billed_ms, rec.memory_mb, rec.max_memory_mb, rec.init_ms) == (
        5.0,
        6.0,
        256.0,
        50.0,
        99.5,
    )


def test_report_without_tabs_as_printed_by_sls_logs() -> None:
    rec = parse(
        "REPORT RequestId: 43a9d5b46c-11e6-b6bc-718f7ec807df Duration: 270.23 ms "
        "Billed Duration: 300 ms Memory Size: 1024 MB Max Memory Used: 32 MB"
    )
    assert isinstance(rec, Report)
    assert rec.request_id == "43a9d5b46c-11e6-b6bc-718f7ec807df"
    assert (rec.duration_ms, rec.billed_ms, rec.memory_mb, rec.max_memory_mb) == (
        270.23,
        300.0,
        1024.0,
        32.0,
    )


def test_init_report_error() -> None:
    rec = parse(
        "INIT_REPORT Init Duration: 87.28 ms\tPhase: invoke\tStatus: error\t"
        "Error Type: Runtime.ImportModuleError\n"
    )
    assert isinstance(rec, InitReport)
    assert rec.init_ms == 87.28
    assert rec.phase == "invoke"
    assert rec.status == "error"
    assert rec.error_type == "Runtime.ImportModuleError"


def test_a_parameter_validation_error_keeps_the_parameter_it_names() -> None:
    # botocore's message is two lines: the parameter is on the second (issue 21: an empty
    # FunctionName must be recognisable without --lines).
    rec = parse(
        "[ERROR] ParamValidationError: Parameter validation failed:\n"
        "Invalid length for parameter FunctionName, value: 0, valid min length: 1\n"
        'Traceback (most recent call last):\n  File "/var/task/app.py", line 3\n'
    )
    assert isinstance(rec, Failure)
    assert rec.message == (
        "Parameter validation failed: Invalid length for parameter FunctionName, value: 0, "
        "valid min length: 1"
    )
    one_line = parse("[ERROR] ValueError: boom\nTraceback (most recent call last):\n  x\n")
    assert isinstance(one_line, Failure)
    assert one_line.message == "boom"


def test_old_task_timed_out_line() -> None:
    rec = parse(f"2024-05-01T12:00:03.123Z {RID} Task timed out after 3.00 seconds\n")
    assert isinstance(rec, Failure)
    assert rec.request_id == RID
    assert rec.status == "timeout"
    assert rec.message == "Task timed out after 3.00 seconds"


def test_logging_record() -> None:
    rec = parse(f"[INFO]\t2024-05-01T12:00:00.123Z\t{RID}\tprocessing item 3\n")
    assert isinstance(rec, AppLine)
    assert (rec.request_id, rec.level, rec.text) == (RID, "INFO", "processing item 3")


def test_uncaught_exception() -> None:
    rec = parse(
        "[ERROR] CustomException: some error occurred\nTraceback (most recent call last):\n"
        '\u00a0\u00a0File "/var/task/handler.py", line 6, in handler\n'
        '\u00a0\u00a0\u00a0\u00a0raise CustomException("some error occurred")\n'
    )
    assert isinstance(rec, Failure)
    assert rec.request_id is None  # attributed through the log stream by the linker
    assert rec.status == "error"
    assert rec.error_type == "CustomException"
    assert rec.message == "some error occurred"


def test_print_line_is_plain_text() -> None:
    rec = parse("received {'numberOfCalls': 5}\n")
    assert isinstance(rec, AppLine)
    assert rec.request_id is None
    assert rec.text == "received {'numberOfCalls': 5}"


def test_lines_false_skips_plain_lines_but_not_errors_or_markers() -> None:
    assert parse("hello\n", lines=False) is None
    assert parse(f"[INFO]\t2024-05-01T12:00:00.123Z\t{RID}\thello\n", lines=False) is None
    assert isinstance(parse("[ERROR] ValueError: x\nTraceback\n", lines=False), Failure)
    marker = f'RECURSECTL_CHAIN {{"v":1,"ev":"capped","chain":"{RID}","req":"{RID}","depth":3}}'
    assert isinstance(parse(marker, lines=False), Marker)
    assert isinstance(
        parse(f"2024-05-01T12:00:03.123Z {RID} Task timed out after 3.00 seconds", lines=False),
        Failure,
    )


def test_seed_example_lines_with_sls_prefix_are_app_lines() -> None:
    # `sls logs` prints handler lines with its own timestamp prefix: they stay app lines.
    rec = parse(
        "2026 22:39:37.769 (-08:00) 43a9d5b46c-11e6-b6bc-718f7ec807df received { numberOfCalls: 5 }"
    )
    assert isinstance(rec, AppLine)


# JSON format ---------------------------------------------------------------------------------


def test_json_init_start() -> None:
    line = json.dumps(
        {
            "time": "2024-05-01T12:00:00.000Z",
            "type": "platform.initStart",
            "record": {
                "initializationType": "on-demand",
                "phase": "init",
                "runtimeVersion": "python:3.12.v27",
                "runtimeVersionArn": "arn:aws:lambda:us-east-1::runtime:0f5c",
                "functionName": "recursive",
                "functionVersion": "$LATEST",
            },
        },
        separators=(",", ":"),
    )
    rec = parse(line)
    assert isinstance(rec, InitStart)  # where the environment's init phase began
    assert rec.stream == STREAM


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_json_start(separators: tuple[str, str]) -> None:
    line = json.dumps(
        {
            "time": "2024-05-01T12:00:00.000Z",
            "type": "platform.start",
            "record": {"requestId": RID, "version": "$LATEST"},
        },
        separators=separators,
    )
    rec = parse(line)
    assert isinstance(rec, Start)
    assert rec.request_id == RID


def test_json_report() -> None:
    line = json.dumps(
        {
            "time": "2024-05-01T12:00:00.100Z",
            "type": "platform.report",
            "record": {
                "requestId": RID,
                "metrics": {
                    "durationMs": 3.01,
                    "billedDurationMs": 4,
                    "memorySizeMB": 128,
                    "maxMemoryUsedMB": 36,
                    "initDurationMs": 110.1,
                },
                "status": "success",
            },
        }
    )
    rec = parse(line)
    assert isinstance(rec, Report)
    assert (rec.duration_ms, rec.billed_ms, rec.memory_mb, rec.max_memory_mb, rec.init_ms) == (
        3.01,
        4.0,
        128.0,
        36.0,
        110.1,
    )
    assert isinstance(rec.billed_ms, float)
    assert rec.status == "ok"


@pytest.mark.parametrize(
    ("status", "expected"),
    [("failure", "error"), ("error", "error"), ("timeout", "timeout"), ("success", "ok")],
)
def test_json_report_status(status: str, expected: str) -> None:
    record: dict[str, object] = {
        "requestId": RID,
        "status": status,
        "metrics": {"durationMs": 1.0, "billedDurationMs": 1.0, "memorySizeMB": 128.0},
    }
    if status != "success":
        record["errorType"] = "Runtime.ExitError"
    rec = parse(json.dumps({"time": "t", "type": "platform.report", "record": record}))
    assert isinstance(rec, Report)
    assert rec.status == expected
    assert rec.error_type == (None if status == "success" else "Runtime.ExitError")
    assert rec.max_memory_mb is None


def test_json_runtime_done_is_ignored() -> None:
    line = (
        '{"time":"t","type":"platform.runtimeDone","record":{"requestId":"x","status":"success"}}'
    )
    assert parse(line) is None


def test_json_app_record() -> None:
    line = json.dumps(
        {
            "timestamp": "2024-05-01T12:00:00.123Z",
            "level": "INFO",
            "message": "processing item 3",
            "logger": "root",
            "requestId": RID,
            "extra_field": 1,
        }
    )
    rec = parse(line)
    assert isinstance(rec, AppLine)
    assert (rec.request_id, rec.level, rec.text) == (RID, "INFO", "processing item 3")
    assert parse(line, lines=False) is None


def test_json_uncaught_error_record() -> None:
    line = json.dumps(
        {
            "timestamp": "2024-05-01T12:00:00.123Z",
            "level": "ERROR",
            "message": "some error occurred",
            "logger": "root",
            "requestId": RID,
            "errorType": "CustomException",
            "errorMessage": "some error occurred",
            "stackTrace": ['  File "/var/task/handler.py", line 6, in handler\n'],
        }
    )
    rec = parse(line, lines=False)
    assert isinstance(rec, Failure)
    assert (rec.request_id, rec.error_type, rec.message) == (
        RID,
        "CustomException",
        "some error occurred",
    )


def test_print_in_json_mode_stays_plain_and_broken_json_is_a_line() -> None:
    assert isinstance(parse("{not json at all"), AppLine)
    assert isinstance(parse("[1, 2, 3]"), AppLine)


# Markers -------------------------------------------------------------------------------------


def marker(record: dict[str, object], separators: tuple[str, str] = (",", ":")) -> str:
    return "RECURSECTL_CHAIN " + json.dumps(record, separators=separators) + "\n"


HOP = {"v": 1, "ev": "hop", "chain": "c1", "req": "r2", "parent": "r1", "depth": 1, "max": 25}


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_hop_marker_fast_and_tolerant_paths(separators: tuple[str, str]) -> None:
    rec = parse(marker(HOP, separators))
    assert isinstance(rec, Marker)
    assert (rec.ev, rec.chain, rec.req, rec.parent, rec.depth, rec.max) == (
        "hop",
        "c1",
        "r2",
        "r1",
        1,
        25,
    )


def test_root_hop_marker_has_no_parent() -> None:
    rec = parse(marker({**HOP, "parent": None, "req": "c1", "depth": 0}))
    assert isinstance(rec, Marker)
    assert rec.parent is None
    assert rec.depth == 0


def test_child_marker() -> None:
    rec = parse(
        marker({"v": 1, "ev": "child", "chain": "c1", "req": "r1", "child": "r2", "depth": 1})
    )
    assert isinstance(rec, Marker)
    assert (rec.ev, rec.req, rec.child, rec.depth) == ("child", "r1", "r2", 1)


def test_capped_child_failed_dropped_markers() -> None:
    capped = parse(marker({"v": 1, "ev": "capped", "chain": "c", "req": "r", "depth": 5, "max": 5}))
    assert isinstance(capped, Marker)
    assert (capped.ev, capped.max) == ("capped", 5)
    failed = parse(
        marker(
            {
                "v": 1,
                "ev": "child_failed",
                "chain": "c",
                "req": "r",
                "depth": 2,
                "error": "TooManyRequestsException: Rate exceeded",
            }
        )
    )
    assert isinstance(failed, Marker)
    assert failed.error == "TooManyRequestsException: Rate exceeded"
    dropped = parse(
        marker(
            {
                "v": 1,
                "ev": "dropped",
                "req": "r9",
                "reason": "RecursiveInvocationException",
                "parent": "r8",
            }
        )
    )
    assert isinstance(dropped, Marker)
    assert (dropped.ev, dropped.req, dropped.reason, dropped.parent, dropped.chain) == (
        "dropped",
        "r9",
        "RecursiveInvocationException",
        "r8",
        None,
    )


def test_unknown_ev_and_fields_are_ignored() -> None:
    # An unknown event is no marker: the handler's own line when lines are shown.
    assert parse(marker({"v": 2, "ev": "teleport", "req": "r"}), lines=False) is None
    line = parse(marker({"v": 2, "ev": "teleport", "req": "r"}))
    assert isinstance(line, AppLine)
    assert line.text == 'RECURSECTL_CHAIN {"v":2,"ev":"teleport","req":"r"}'
    rec = parse(marker({**HOP, "v": 2, "new_field": [1, 2], "depth": 4}))
    assert isinstance(rec, Marker)
    assert rec.depth == 4
    # An unknown field in the middle defeats the fast path, not the parser.
    rec2 = parse(marker({"v": 1, "ev": "hop", "extra": True, "chain": "c", "req": "r", "depth": 0}))
    assert isinstance(rec2, Marker)
    assert rec2.req == "r"


def test_malformed_markers_are_handler_lines() -> None:
    for text in (
        "RECURSECTL_CHAIN {broken",
        'RECURSECTL_CHAIN ["hop"]',
        'RECURSECTL_CHAIN {"v":1,"ev":"hop"}',  # no req
        'RECURSECTL_CHAIN {"v":1,"ev":"hop","req":"r","depth":1e999}',  # was OverflowError
        'RECURSECTL_CHAIN {"v":1,"ev":"hop","req":{"a":1}}',
    ):
        assert parse(text, lines=False) is None, text
        rec = parse(text)
        assert isinstance(rec, AppLine), text
        assert rec.text == text


def test_marker_inside_a_logging_record() -> None:
    text = marker(HOP).rstrip("\n")
    rec = parse(f"[INFO]\t2024-05-01T12:00:00.123Z\t{RID}\t{text}\n", lines=False)
    assert isinstance(rec, Marker)
    assert rec.req == "r2"
    json_rec = parse(
        json.dumps({"timestamp": "t", "level": "INFO", "message": text, "requestId": RID}),
        lines=False,
    )
    assert isinstance(json_rec, Marker)
    assert json_rec.parent == "r1"


def test_parse_event_dict() -> None:
    rec = parse_event(
        {
            "message": f"START RequestId: {RID} Version: $LATEST\n",
            "timestamp": TS,
            "logStreamName": STREAM,
            "eventId": "3800",
            "ingestionTime": TS + 5,
        }
    )
    assert isinstance(rec, Start)
    assert (rec.ts, rec.stream, rec.event_id) == (TS, STREAM, "3800")
    assert parse_event({"message": ""}) is None
