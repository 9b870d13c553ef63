"""The job API's pure parts in the packaged Python helper: bounds a context may only lower,
which events are its own function's failure records, the canonical JSON a spilled state is
named by."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.support.helper_copy import helper_copy

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"


@pytest.fixture
def helper(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("RECURSECTL_SELF_ARN", ARN)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "f")
    monkeypatch.setenv("RECURSECTL_JOB_BOUNDS", '{"max_hops":50,"max_seconds":600}')
    with helper_copy("recursectl_chain_jobs") as module:
        yield module


def test_a_context_may_lower_the_functions_bounds_and_never_raise_them(
    helper: ModuleType,
) -> None:
    assert helper._jobs()._bounds(None) == {"max_hops": 50, "max_seconds": 600, "max_cost": None}
    lowered = helper._jobs()._bounds({"max_hops": 10, "max_seconds": 9999, "max_cost": 0.5})
    assert lowered == {"max_hops": 10, "max_seconds": 600, "max_cost": 0.5}
    assert helper._jobs()._bounds({"max_hops": -1, "max_seconds": "x"})["max_hops"] == 50


def test_the_defaults_apply_without_declared_bounds(
    helper: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECURSECTL_JOB_BOUNDS", "not json")
    assert helper._jobs()._bounds({}) == {"max_hops": 1000, "max_seconds": 21600, "max_cost": None}


def _record(arn: str, condition: str = "RetriesExhausted") -> dict[str, object]:
    return {
        "version": "1.0",
        "requestContext": {"requestId": "r", "functionArn": arn, "condition": condition},
        "requestPayload": {"_recursectl": {"job": {"id": "j", "seq": 3, "attempt": 1}}},
    }


def test_only_a_failure_record_of_this_very_function_is_a_retry(helper: ModuleType) -> None:
    assert helper._own_failure_record(_record(f"{ARN}:$LATEST"))
    assert helper._own_failure_record(_record(ARN))
    assert not helper._own_failure_record(_record(f"{ARN}x:$LATEST"))  # another function
    assert not helper._own_failure_record(_record(f"{ARN}:$LATEST", "Success"))
    assert not helper._own_failure_record({"requestContext": {}, "requestPayload": "text"})
    assert not helper._own_failure_record({"next": 3})


def test_the_canonical_json_names_a_state_whatever_its_key_order(helper: ModuleType) -> None:
    one, two = (
        helper._jobs()._canonical({"b": [1, {"y": 2, "x": 1}], "a": "é"}),
        helper._jobs()._canonical({"a": "é", "b": [1, {"x": 1, "y": 2}]}),
    )
    assert one == two == '{"a":"\\u00e9","b":[1,{"x":1,"y":2}]}'
    assert hashlib.sha256(one.encode()).hexdigest() == hashlib.sha256(two.encode()).hexdigest()
    with pytest.raises(ValueError, match="JSON compliant"):
        helper._jobs()._canonical({"n": float("nan")})
    with pytest.raises(TypeError):
        helper._jobs()._canonical({"o": object()})
