"""The Python guard's chain counter against moto's DynamoDB (behind the local cloud's front
door), with Lambda's Invoke answered by the scripted fake: what is counted, refused, given back,
and what happens when the counter cannot be reached."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.functional.fake_lambda import FakeLambda, fake_lambda, load_helper, unload_helper
from tests.support.localcloud import counter_table

SELF_ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
TABLE = "f-recursectl-chains"


@pytest.fixture
def ddb(endpoint: str) -> Any:
    return counter_table(endpoint, TABLE)


@pytest.fixture
def helper(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModuleType, FakeLambda]]:
    with fake_lambda() as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL", fake.url)  # Lambda: the scripted fake
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)  # the counter: moto's
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "f")
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        monkeypatch.setenv("RECURSECTL_SELF_ARN", SELF_ARN)
        monkeypatch.setenv("RECURSECTL_MAX_INVOCATIONS", "4")
        monkeypatch.setenv("RECURSECTL_COUNTER_TABLE", TABLE)
        yield load_helper(), fake
        unload_helper()


def _ctx(request_id: str) -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=request_id, function_name="f")


def _invoke(fake: FakeLambda) -> Any:
    client = boto3.client("lambda", endpoint_url=fake.url)
    return client.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")


def _item(ddb: Any, chain: str) -> dict[str, Any]:
    got = ddb.get_item(TableName=TABLE, Key={"chain": {"S": chain}}, ConsistentRead=True)
    return dict(got.get("Item") or {})


def _markers(out: str) -> list[dict[str, Any]]:
    prefix = "RECURSECTL_CHAIN "
    return [json.loads(line[len(prefix) :]) for line in out.splitlines() if line.startswith(prefix)]


def test_every_child_is_counted_and_the_budget_is_exact(
    helper: tuple[ModuleType, FakeLambda], ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, fake = helper
    rc.begin({}, _ctx("root"))
    for _ in range(3):  # the root plus 3 children: the budget of 4
        _invoke(fake)
    with pytest.raises(rc.BudgetExhausted, match="budget of 4 invocations is spent"):
        _invoke(fake)
    assert len(fake.requests) == 3  # the refused child was never sent
    item = _item(ddb, "root")
    assert item["n"] == {"N": "3"}
    assert int(item["expires"]["N"]) > time.time() + 86400  # the TTL: two days on
    children = [m for m in _markers(capsys.readouterr().out) if m["ev"] in ("child", "capped")]
    assert [(m["ev"], m["budget"]) for m in children] == [
        ("child", 3), ("child", 2), ("child", 1), ("capped", 0)
    ]  # fmt: skip
    assert children[-1]["reason"] == "budget"
    # A child of the same chain in another environment counts on the same item.
    event = {"_recursectl": {"chain": "root", "parent": "x", "depth": 1, "gen": 0}}
    rc.begin(event, _ctx("elsewhere"))
    with pytest.raises(rc.BudgetExhausted):
        _invoke(fake)


def test_an_invoke_lambda_refused_gives_its_count_back(
    helper: tuple[ModuleType, FakeLambda], ddb: Any
) -> None:
    rc, fake = helper
    rc.begin({}, _ctx("root"))
    fake.script = [(429, "TooManyRequestsException")] * 4  # throttled: nothing started
    with pytest.raises(ClientError):
        _invoke(fake)
    assert _item(ddb, "root")["n"] == {"N": "0"}


def test_an_unreachable_counter_refuses_the_child(
    helper: tuple[ModuleType, FakeLambda], ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, fake = helper
    ddb.delete_table(TableName=TABLE)
    rc.begin({}, _ctx("root"))
    with pytest.raises(rc.CounterUnreachable, match="ResourceNotFoundException"):
        _invoke(fake)
    assert fake.requests == []  # fail safe: nothing was let through
    (capped,) = [m for m in _markers(capsys.readouterr().out) if m["ev"] == "capped"]
    assert capped["reason"] == "counter"


def test_the_cost_cap_refuses_once_the_spend_reaches_it(
    helper: tuple[ModuleType, FakeLambda], ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, fake = helper
    calls: list[str] = []

    def user(event: Any, context: Any) -> None:
        calls.append(context.aws_request_id)

    rc._user_handler = user
    # This environment's init phase took 0.5 s (the helper's import to the first invocation):
    # billed with the first invocation, so counted with it.
    rc._LOADED, rc._init_ms = time.monotonic() - 0.5, None
    root = {"_recursectl": {"max_cost": 0.0001}}
    rc.handler(root, _ctx("root"))  # runs, and adds its cost at its end
    assert calls == ["root"]
    spent = float(_item(ddb, "root")["spend"]["N"])
    half_second = 0.5 * 0.0000166667 + 0.20 / 1e6  # 0.5 s at 1 GB, and the request
    assert half_second <= spent < half_second + 0.2 * 0.0000166667  # + what the handler took
    ddb.update_item(
        TableName=TABLE,
        Key={"chain": {"S": "root"}},
        UpdateExpression="SET spend = :s",
        ExpressionAttributeValues={":s": {"N": "0.0001"}},
    )  # as if the chain's other invocations had spent the cap
    child = {"_recursectl": {"chain": "root", "parent": "root", "depth": 1, "max_cost": 0.0001}}
    rc.begin(child, _ctx("child"))
    with pytest.raises(rc.CostCapReached, match="cost cap"):
        _invoke(fake)
    reasons = [m.get("reason") for m in _markers(capsys.readouterr().out) if m["ev"] == "capped"]
    assert reasons == ["cost"]
