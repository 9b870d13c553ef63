"""The chain counter's UpdateItem answered by the front door (`frontdoor/counter.py`): real
boto3 clients over loopback, each sequence run twice, with the fast path and with every
request going to moto (`CounterPath.enabled = False`), and the answers compared."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from recursectl.local.frontdoor.server import FrontDoorServer, serve_in_thread, stop_server
from recursectl.local.store import Store
from tests.support.localcloud import NO_RETRY, SERVERS, control

TABLE = "fn-recursectl-chains"
TTL = str(int(time.time()) + 172800)


def _count(ddb: Any, chain: str, max_n: int, room: str | None = None, **extra: Any) -> Any:
    """The guard's request (templates/python/recursectl_chain.py, `_count`)."""
    values: dict[str, Any] = {":one": {"N": "1"}, ":max": {"N": str(max_n)}, ":ttl": {"N": TTL}}
    names = {"#n": "n", "#e": "expires"}
    condition = "(attribute_not_exists(#n) OR #n < :max)"
    if room is not None:
        values[":room"] = {"N": room}
        names["#s"] = "spend"
        condition += " AND (attribute_not_exists(#s) OR #s < :room)"
    args: dict[str, Any] = {
        "TableName": TABLE,
        "Key": {"chain": {"S": chain}},
        "UpdateExpression": "ADD #n :one SET #e = :ttl",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "UPDATED_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    args.update(extra)
    return ddb.update_item(**{k: v for k, v in args.items() if v is not None})


def _outcome(call: Callable[[], Any]) -> Any:
    """What a client sees of one call: its parsed answer or its error, without request ids."""
    try:
        got = call()
    except ClientError as exc:
        err = dict(exc.response)
        err.pop("ResponseMetadata")
        return ("error", exc.response["Error"]["Code"], err)
    if isinstance(got, dict):
        got.pop("ResponseMetadata")
    return ("ok", got)


@pytest.fixture
def ddb(endpoint: str) -> Any:
    client = boto3.client("dynamodb", endpoint_url=endpoint, config=NO_RETRY)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "chain", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "chain", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def _door(endpoint: str) -> Any:
    return SERVERS[endpoint].door


def _both(
    endpoint: str, ddb: Any, steps: Callable[[], list[Any]], served: bool = True
) -> list[Any]:
    """`steps` with the fast path, then again (moto reset, table made again) through moto;
    both lists of outcomes must be equal. Returns the fast path's. `served`: whether the
    fast path answers some of them (else all must go to moto)."""
    door = _door(endpoint)
    before = door.counter.served
    fast = steps()
    assert (door.counter.served > before) is served
    control(endpoint, "/moto-api/reset", method="POST")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "chain", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "chain", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    door.counter.enabled = False
    try:
        slow = steps()
    finally:
        door.counter.enabled = True
    assert fast == slow
    return fast


def test_counts_until_the_condition_fails_as_moto_answers(endpoint: str, ddb: Any) -> None:
    def steps() -> list[Any]:
        out = [_outcome(lambda: _count(ddb, "c1", 3)) for _ in range(4)]
        out.append(_outcome(lambda: ddb.get_item(TableName=TABLE, Key={"chain": {"S": "c1"}})))
        out.append(_outcome(lambda: ddb.scan(TableName=TABLE)))
        return out

    got = _both(endpoint, ddb, steps)
    # Conditions met: 1, 2, 3; the first answer has every attribute (moto: all are new).
    assert got[0][1]["Attributes"] == {"chain": {"S": "c1"}, "n": {"N": "1"}, "expires": {"N": TTL}}
    assert got[1][1]["Attributes"] == {"n": {"N": "2"}}
    assert got[2][1]["Attributes"] == {"n": {"N": "3"}}
    # Condition failed: the item as it was (ReturnValuesOnConditionCheckFailure=ALL_OLD).
    assert got[3][1] == "ConditionalCheckFailedException"
    assert got[3][2]["Item"] == {"chain": {"S": "c1"}, "n": {"N": "3"}, "expires": {"N": TTL}}
    # Visible to GetItem and Scan through moto.
    assert got[4][1]["Item"]["n"] == {"N": "3"}
    assert got[5][1]["Count"] == 1


@pytest.mark.parametrize("returns", ["NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"])
def test_return_values_as_moto(endpoint: str, ddb: Any, returns: str) -> None:
    def steps() -> list[Any]:
        return [
            _outcome(lambda: _count(ddb, "r", 10, ReturnValues=returns)) for _ in range(2)
        ] + [
            _outcome(
                lambda: _count(ddb, "r", 1, ReturnValues=returns,
                               ReturnValuesOnConditionCheckFailure=None)
            )
        ]  # fmt: skip

    got = _both(endpoint, ddb, steps)
    assert got[2][1] == "ConditionalCheckFailedException"
    assert "Item" not in got[2][2]  # not asked for


def test_the_cost_cap_condition_and_other_shapes_on_the_same_item(endpoint: str, ddb: Any) -> None:
    def steps() -> list[Any]:
        key = {"chain": {"S": "cost"}}
        spend = {
            "TableName": TABLE,
            "Key": key,
            "UpdateExpression": "ADD #s :c SET #e = :ttl",
            "ExpressionAttributeNames": {"#s": "spend", "#e": "expires"},
            "ExpressionAttributeValues": {":c": {"N": "0.000000123400"}, ":ttl": {"N": TTL}},
        }
        give_back = {
            "TableName": TABLE,
            "Key": key,
            "UpdateExpression": "ADD #n :minus",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {":minus": {"N": "-1"}},
        }
        return [
            _outcome(lambda: ddb.update_item(**spend)),  # the cost cap's write, no item yet
            _outcome(lambda: _count(ddb, "cost", 100, room="0.000001000000")),
            _outcome(lambda: ddb.update_item(**spend, ReturnValues="ALL_NEW")),
            _outcome(lambda: _count(ddb, "cost", 100, room="0.000001000000")),
            _outcome(lambda: ddb.update_item(**give_back, ReturnValues="UPDATED_NEW")),
            _outcome(lambda: _count(ddb, "cost", 100, room="0.000000100000")),  # spent
            _outcome(lambda: ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)),
            # Another writer replaces the item (a shape this path does not answer) ...
            _outcome(lambda: ddb.put_item(TableName=TABLE, Item={**key, "n": {"N": "41"}})),
            # ... and the next count starts from what moto holds.
            _outcome(lambda: _count(ddb, "cost", 100, room="0.000001000000")),
            _outcome(lambda: ddb.get_item(TableName=TABLE, Key=key)),
        ]

    got = _both(endpoint, ddb, steps)
    # moto's arithmetic: 0 + 0.000000123400 is written "1.23400E-7", then Decimal sums.
    assert got[2][1]["Attributes"]["spend"] == {"N": "2.46800E-7"}
    assert got[3][1]["Attributes"] == {"n": {"N": "2"}}
    assert got[4][1]["Attributes"] == {"n": {"N": "1"}}
    assert got[5][1] == "ConditionalCheckFailedException"
    assert got[6][1]["Item"] == {
        "chain": {"S": "cost"}, "n": {"N": "1"}, "spend": {"N": "2.46800E-7"},
        "expires": {"N": TTL},
    }  # fmt: skip
    assert got[8][1]["Attributes"]["n"] == {"N": "42"}
    assert got[9][1]["Item"]["n"] == {"N": "42"}


def test_job_records_beside_the_counter_keep_working_through_moto(endpoint: str, ddb: Any) -> None:
    def steps() -> list[Any]:
        job = {"chain": {"S": "job#1"}}
        return [
            _outcome(lambda: _count(ddb, "c", 10)),
            _outcome(lambda: ddb.put_item(TableName=TABLE, Item={**job, "state": {"S": "new"}})),
            _outcome(lambda: _count(ddb, "c", 10)),
            _outcome(
                lambda: ddb.update_item(
                    TableName=TABLE,
                    Key=job,
                    UpdateExpression="SET #st = :s",
                    ConditionExpression="#st = :old",
                    ExpressionAttributeNames={"#st": "state"},
                    ExpressionAttributeValues={":s": {"S": "done"}, ":old": {"S": "new"}},
                    ReturnValues="ALL_NEW",
                )
            ),
            _outcome(lambda: _count(ddb, "c", 10)),
            _outcome(lambda: sorted(ddb.scan(TableName=TABLE)["Items"], key=str)),
        ]

    got = _both(endpoint, ddb, steps)
    assert got[3][1]["Attributes"]["state"] == {"S": "done"}
    assert got[4][1]["Attributes"] == {"n": {"N": "3"}}
    assert [i["chain"]["S"] for i in got[5][1]] == ["c", "job#1"]


def test_refusals_are_moto_s(endpoint: str, ddb: Any) -> None:
    def steps() -> list[Any]:
        return [
            # no such table
            _outcome(lambda: _count(ddb, "x", 5, TableName="missing")),
            # an unused placeholder
            _outcome(
                lambda: _count(
                    ddb, "x", 5, ExpressionAttributeNames={"#n": "n", "#e": "expires", "#z": "z"}
                )
            ),
            # a count that is not a number
            _outcome(
                lambda: ddb.put_item(
                    TableName=TABLE, Item={"chain": {"S": "s"}, "n": {"S": "text"}}
                )
            ),
            _outcome(lambda: _count(ddb, "s", 5)),
        ]

    got = _both(endpoint, ddb, steps, served=False)
    assert got[0][1] == "ResourceNotFoundException"
    assert got[1][0] == "error"


def test_a_restart_replays_the_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a store, the counter's requests are journaled (durable before the answer) and a
    new front door on the same file has the item."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    path = tmp_path / "local.sqlite3"

    def start() -> tuple[str, FrontDoorServer]:
        return serve_in_thread(store=Store(path))

    url, server = start()
    try:
        ddb = boto3.client("dynamodb", endpoint_url=url, config=NO_RETRY)
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "chain", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "chain", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for _ in range(3):
            _count(ddb, "kept", 10)
        ddb.get_item(TableName=TABLE, Key={"chain": {"S": "kept"}})  # written back into moto
        assert server.door.store is not None
        targets = [e.headers.get("x-amz-target") for e in server.door.store.journal()]
        # each count journaled once (its write-back into moto is not)
        assert targets.count("DynamoDB_20120810.UpdateItem") == 3
        assert "DynamoDB_20120810.PutItem" not in targets
    finally:
        stop_server(server)
    url, server = start()
    try:
        ddb = boto3.client("dynamodb", endpoint_url=url, config=NO_RETRY)
        item = ddb.get_item(TableName=TABLE, Key={"chain": {"S": "kept"}})["Item"]
        assert item["n"] == {"N": "3"}
        assert _count(ddb, "kept", 10)["Attributes"] == {"n": {"N": "4"}}
    finally:
        stop_server(server)


def test_concurrent_counts_never_pass_the_budget(endpoint: str, ddb: Any) -> None:
    """Children counting at once (a fan-out): exactly `max` of them are let through."""
    import concurrent.futures

    def one(_: int) -> list[str]:
        client = boto3.client("dynamodb", endpoint_url=endpoint, config=NO_RETRY)
        return [_outcome(lambda: _count(client, "fan", 50))[1] for _ in range(10)]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = [o for got in pool.map(one, range(8)) for o in got]
    refused = outcomes.count("ConditionalCheckFailedException")
    assert refused == 30
    assert len(outcomes) - refused == 50
    item = ddb.get_item(TableName=TABLE, Key={"chain": {"S": "fan"}}, ConsistentRead=True)
    assert item["Item"]["n"] == {"N": "50"}
    assert _door(endpoint).counter.served >= 50
