"""The helper packaged into every zip: context, markers, the cap and the stop generation.

It runs inside Lambda, so it is tested as Lambda runs it: imported from templates/, with
Lambda's environment variables; only its boto3 client is replaced (the one seam that would
otherwise need a cloud; the real Invoke path is covered by the functional and e2e tests).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

HELPER = Path(__file__).parents[2] / "templates" / "python" / "recursectl_chain.py"


@pytest.fixture
def helper(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("recursectl_chain_under_test", HELPER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("RECURSECTL_SELF_ARN", "arn:aws:lambda:us-east-1:1:function:f")
    monkeypatch.setenv("RECURSECTL_MAX_CALLS", "3")
    return module


class _Lambda:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"ResponseMetadata": {"RequestId": f"child-{len(self.calls)}"}}


def _markers(out: str) -> list[dict[str, Any]]:
    return [
        json.loads(line.split(" ", 1)[1])
        for line in out.splitlines()
        if line.startswith("RECURSECTL_CHAIN ")
    ]


def _ctx(request_id: str) -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=request_id)


def test_root_starts_a_chain_and_children_carry_the_context(
    helper: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    client = _Lambda()
    helper._client = client
    chain = helper.begin({"numberOfCalls": 2}, _ctx("root"))
    assert chain.invoke_self({"numberOfCalls": 1}) == "child-1"
    sent = json.loads(client.calls[0]["Payload"])
    assert sent["_recursectl"] == {"chain": "root", "parent": "root", "depth": 1, "gen": 0}
    assert client.calls[0]["InvocationType"] == "Event"
    assert client.calls[0]["FunctionName"].endswith(":function:f")
    hop, child = _markers(capsys.readouterr().out)
    assert (hop["ev"], hop["chain"], hop["parent"], hop["depth"]) == ("hop", "root", None, 0)
    assert (child["ev"], child["req"], child["child"], child["depth"]) == (
        "child",
        "root",
        "child-1",
        1,
    )


def test_the_cap_refuses_to_go_deeper(
    helper: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    helper._client = _Lambda()
    event = {"_recursectl": {"chain": "c", "parent": "p", "depth": 3, "gen": 0}}
    chain = helper.begin(event, _ctx("r"))
    assert chain.invoke_self({}) is None
    assert helper._client.calls == []
    assert [m["ev"] for m in _markers(capsys.readouterr().out)] == ["hop", "capped"]


def test_a_chain_from_before_stop_never_continues(
    helper: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    helper._client = _Lambda()
    monkeypatch.setenv("RECURSECTL_GENERATION", "1")  # `recursectl stop` ran once
    old = helper.begin({"_recursectl": {"chain": "c", "parent": "p", "depth": 1}}, _ctx("r"))
    assert old.invoke_self({}) is None
    assert helper._client.calls == []
    stopped = _markers(capsys.readouterr().out)[-1]
    assert (stopped["ev"], stopped["req"], stopped["gen"]) == ("stopped", "r", 0)

    new = helper.begin({}, _ctx("fresh"))  # a chain started after resume runs normally
    assert new.invoke_self({}) == "child-1"
    assert json.loads(helper._client.calls[0]["Payload"])["_recursectl"]["gen"] == 1


class _Throttled(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class _Flaky(_Lambda):
    """Fails the first calls with the given errors, then accepts."""

    def __init__(self, *errors: Exception) -> None:
        super().__init__()
        self.errors = list(errors)
        self.attempts = 0

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return super().invoke(**kwargs)


def test_throttling_is_retried_by_hand(helper: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helper.time, "sleep", lambda s: None)
    helper._client = _Flaky(
        _Throttled("TooManyRequestsException"), _Throttled("ThrottlingException")
    )
    chain = helper.begin({}, _ctx("root"))
    assert chain.invoke_self({}) == "child-1"
    assert helper._client.attempts == 3


def test_an_ambiguous_failure_is_never_retried(
    helper: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    # A read timeout may come after Lambda accepted the event: retrying would fork the chain.
    helper._client = _Flaky(TimeoutError("read timed out"))
    chain = helper.begin({}, _ctx("root"))
    with pytest.raises(TimeoutError):
        chain.invoke_self({})
    assert helper._client.attempts == 1
    assert _markers(capsys.readouterr().out)[-1]["ev"] == "child_failed"


def test_the_real_client_makes_one_attempt_per_call(
    helper: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = helper._lambda_client()
    assert client.meta.config.retries["total_max_attempts"] == 1
