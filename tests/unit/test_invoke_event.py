from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from recursectl import protocol
from recursectl.aws import FunctionView
from recursectl.errors import EXIT_STOPPED, StoppedError, UsageError
from recursectl.invoke import (
    MAX_ASYNC_PAYLOAD,
    build_event,
    caps_lines,
    check_calls,
    check_running,
    encode,
    set_cost_cap,
    worst_case_usd,
)


def view(name: str = "f", concurrency: int | None = None, **env: str) -> FunctionView:
    cfg = {
        "FunctionName": name,
        "FunctionArn": f"arn:aws:lambda:us-east-1:1:function:{name}",
        "Environment": {"Variables": env},
    }
    return FunctionView.from_configuration(cfg, concurrency=concurrency)


DEPLOYED = view(RECURSECTL_MAX_CALLS="25")


def test_template_event_defaults_to_five_calls() -> None:
    assert build_event(calls=None, fanout=None, path=None, data=None) == {"numberOfCalls": 5}


def test_calls_and_fanout_are_added_to_a_given_event() -> None:
    event = build_event(calls=3, fanout=2, path=None, data='{"x": 1}')
    # --fanout also tells the guard how to share the budget (protocol: split at the root)
    assert event == {"x": 1, "numberOfCalls": 3, "fanout": 2, "_recursectl": {"split": 2}}


def test_no_context_without_fanout() -> None:
    assert protocol.CONTEXT_KEY not in build_event(calls=3, fanout=None, path=None, data=None)


def test_a_given_event_is_not_given_a_default_call_count() -> None:
    assert build_event(calls=None, fanout=None, path=None, data='{"x": 1}') == {"x": 1}


def test_event_file(tmp_path: Path) -> None:
    f = tmp_path / "event.json"
    f.write_text('{"numberOfCalls": 2}')
    assert build_event(calls=None, fanout=None, path=f, data=None) == {"numberOfCalls": 2}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"data": "{nope"}, "not valid JSON"),
        ({"data": "[1, 2]"}, "must be a JSON object"),
        ({"data": '{"_recursectl": {}}'}, "reserved"),
        ({"data": "{}", "path": Path("x.json")}, "not both"),
        ({"path": Path("/nonexistent/event.json")}, "does not exist"),
        ({"fanout": 0}, "--fanout"),
    ],
)
def test_bad_events_are_usage_errors(kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {"calls": None, "fanout": None, "path": None, "data": None}
    args.update(kwargs)
    with pytest.raises(UsageError, match=fragment):
        build_event(**args)  # type: ignore[arg-type]


def test_malformed_event_file_names_the_position(tmp_path: Path) -> None:
    f = tmp_path / "event.json"
    f.write_text('{\n  "numberOfCalls": 5,\n}')
    with pytest.raises(UsageError, match=r"line 3"):
        build_event(calls=None, fanout=None, path=f, data=None)


@pytest.mark.parametrize("calls", [-1, 26, 1.5, "5", True])
def test_calls_must_be_within_the_deployed_cap(calls: object) -> None:
    with pytest.raises(UsageError):
        check_calls({"numberOfCalls": calls}, DEPLOYED)


def test_calls_at_the_cap_and_unknown_caps_pass() -> None:
    check_calls({"numberOfCalls": 25}, DEPLOYED)
    foreign = view("g")
    check_calls({"numberOfCalls": 10_000, "fanout": 3}, foreign)


def test_a_tree_larger_than_the_budget_is_refused_with_its_size() -> None:
    fn = view(RECURSECTL_MAX_CALLS="25", RECURSECTL_MAX_INVOCATIONS="1000")
    check_calls({"numberOfCalls": 8, "fanout": 2}, fn)  # 511 invocations
    with pytest.raises(UsageError, match="1,023 invocations") as info:
        check_calls({"numberOfCalls": 9, "fanout": 2}, fn)
    assert "allows 1,000" in info.value.message
    with pytest.raises(UsageError, match="1,270,932,914,164 invocations"):
        check_calls({"numberOfCalls": 25, "fanout": 3}, fn)


def test_the_default_budget_applies_to_older_recursectl_functions() -> None:
    assert DEPLOYED.max_invocations == protocol.DEFAULT_MAX_INVOCATIONS
    with pytest.raises(UsageError, match="allows 1,000"):
        check_calls({"numberOfCalls": 10, "fanout": 2}, DEPLOYED)


def test_a_stopped_function_is_refused_with_the_resume_hint() -> None:
    check_running(view(concurrency=None))
    check_running(view(concurrency=5))
    with pytest.raises(StoppedError) as info:
        check_running(view(concurrency=0))
    assert info.value.exit_code == EXIT_STOPPED == 6
    assert "recursectl resume" in (info.value.hint or "")


def test_payload_limits() -> None:
    big = {"blob": "x" * MAX_ASYNC_PAYLOAD}
    with pytest.raises(UsageError, match="asynchronous"):
        encode(big, sync=False)
    assert len(encode(big, sync=True)) > MAX_ASYNC_PAYLOAD


def _write(folder: Path, text: str) -> Path:
    return _write_bytes(folder, text.encode())


def _write_bytes(folder: Path, data: bytes) -> Path:
    path = folder / "event.json"
    path.write_bytes(data)
    return path


def _fifo(folder: Path) -> Path:
    path = folder / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: _write(d, "[" * 100_000 + "]" * 100_000), "nested too deeply"),
        (lambda d: _write(d, '{"a": NaN}'), "NaN is not valid JSON"),
        (lambda d: _write(d, '{"a": Infinity}'), "Infinity is not valid JSON"),
        (_fifo, "not a regular file"),
        (lambda d: Path("/dev/zero"), "not a regular file"),
        (lambda d: d, "not a regular file"),  # a folder
        (lambda d: _write(d, " " * (6 * 1024 * 1024 + 1)), "Lambda accepts at most"),
        (lambda d: _write_bytes(d, b'{"a": "\xff"}'), "not UTF-8"),
    ],
)
def test_bad_event_files_are_usage_errors_never_a_hang_or_a_crash(
    tmp_path: Path, make: Any, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        build_event(calls=None, fanout=None, path=make(tmp_path), data=None)


def test_nan_in_data_is_refused_as_lambda_accepts_strict_json_only() -> None:
    with pytest.raises(UsageError, match="NaN"):
        build_event(calls=None, fanout=None, path=None, data='{"x": NaN}')


def _sized(**env: str) -> FunctionView:
    cfg = {
        "FunctionName": "f",
        "FunctionArn": "arn:aws:lambda:us-east-1:1:function:f",
        "MemorySize": 1024,
        "Timeout": 30,
        "Environment": {"Variables": env},
    }
    return FunctionView.from_configuration(cfg)


def test_the_caps_lines_name_every_limit_and_the_worst_case_within_80_columns() -> None:
    fn = _sized(
        RECURSECTL_MAX_CALLS="25",
        RECURSECTL_MAX_INVOCATIONS="1000",
        RECURSECTL_COUNTER_TABLE="f-recursectl-chains",
    )
    # 1,000 invocations x 30 s x 1 GB at $0.0000166667 per GB-s, plus 1,000 requests
    assert worst_case_usd(fn) == pytest.approx(30_000 * 0.0000166667 + 1000 * 0.2e-6)
    assert caps_lines(fn, 0.0001) == [
        "caps: depth 25, 1,000 invocations (exact), cost $0.0001",
        "worst case $0.5002 (1,000 x 30 s x 1024 MB, list price)",
    ]
    assert "no cost cap" in caps_lines(fn, None)[0]
    assert all(len(line) <= 80 for line in caps_lines(fn, None))


def test_a_cost_cap_travels_in_the_roots_context_and_needs_the_counter() -> None:
    event = build_event(calls=3, fanout=2, path=None, data=None)
    set_cost_cap(event, 0.5, _sized(RECURSECTL_COUNTER_TABLE="t"))
    assert event[protocol.CONTEXT_KEY] == {"split": 2, "max_cost": 0.5}
    with pytest.raises(UsageError, match="no chain counter"):
        set_cost_cap({}, 0.5, _sized())
    untouched: dict[str, Any] = {}
    set_cost_cap(untouched, None, _sized())
    assert untouched == {}
