from __future__ import annotations

from pathlib import Path

import pytest

from recursectl.errors import UsageError
from recursectl.invoke import (
    MAX_ASYNC_PAYLOAD,
    Deployed,
    build_event,
    check_calls,
    encode,
)

DEPLOYED = Deployed(
    name="f",
    arn="arn:aws:lambda:us-east-1:1:function:f",
    max_calls=25,
    memory_mb=128,
    log_group="/aws/lambda/f",
)


def test_template_event_defaults_to_five_calls() -> None:
    assert build_event(calls=None, fanout=None, path=None, data=None) == {"numberOfCalls": 5}


def test_calls_and_fanout_are_added_to_a_given_event() -> None:
    event = build_event(calls=3, fanout=2, path=None, data='{"x": 1}')
    assert event == {"x": 1, "numberOfCalls": 3, "fanout": 2}


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
    foreign = Deployed("g", "arn", max_calls=None, memory_mb=128, log_group="/aws/lambda/g")
    check_calls({"numberOfCalls": 10_000}, foreign)


def test_payload_limits() -> None:
    big = {"blob": "x" * MAX_ASYNC_PAYLOAD}
    with pytest.raises(UsageError, match="asynchronous"):
        encode(big, sync=False)
    assert len(encode(big, sync=True)) > MAX_ASYNC_PAYLOAD
