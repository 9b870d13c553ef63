from __future__ import annotations

import json

import pytest

from recursectl.local.frontdoor.dynamodb_ops import action_of, is_checkpoint_write

TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/fn-recursectl-chains"


def _body(**doc: object) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "table", ["fn-recursectl-chains", TABLE_ARN]
)  # a name is this account's and region's table; an ARN is taken as it is
def test_a_one_table_call_is_checked_on_the_tables_arn(table: str) -> None:
    target = "DynamoDB_20120810.UpdateItem"
    found = action_of(target, _body(TableName=table), "us-east-1", "123456789012")
    assert found == ("dynamodb:UpdateItem", TABLE_ARN)


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("DynamoDB_20120810.ListTables", _body()),  # no table: moto's own check
        ("DynamoDB_20120810.BatchWriteItem", _body(RequestItems={})),  # several tables
        ("DynamoDB_20120810.UpdateItem", b"{not json"),
        ("DynamoDB_20120810.UpdateItem", _body(TableName="")),
        ("DynamoDB_20120810.UpdateItem", b"[]"),
        ("Logs_20140328.PutLogEvents", _body(TableName="x")),  # not DynamoDB
        (None, _body(TableName="x")),
    ],
)
def test_anything_else_is_left_to_moto(target: str | None, body: bytes) -> None:
    assert action_of(target, body, "us-east-1", "123456789012") is None


# the `crash` fault's trigger: a job's checkpoint write ------------------------------------------
def _update(key: str, names: dict[str, str]) -> bytes:
    return json.dumps(
        {"TableName": "f-recursectl-chains", "Key": {"chain": {"S": key}},
         "UpdateExpression": "SET #f0 = :v0", "ExpressionAttributeNames": names}
    ).encode()  # fmt: skip


def test_a_checkpoint_write_is_an_update_of_a_jobs_record_that_sets_checkpoint() -> None:
    update = "DynamoDB_20120810.UpdateItem"
    assert is_checkpoint_write(update, _update("job#abc", {"#f0": "checkpoint"}))
    assert not is_checkpoint_write(update, _update("job#abc", {"#f0": "status"}))
    assert not is_checkpoint_write(update, _update("job#abc#3", {"#f0": "checkpoint"}))  # claim
    assert not is_checkpoint_write(update, _update("abc", {"#f0": "checkpoint"}))  # a counter
    body = _update("job#abc", {"#f0": "checkpoint"})
    assert not is_checkpoint_write("DynamoDB_20120810.PutItem", body)
    assert not is_checkpoint_write(update, b"not json")
    assert not is_checkpoint_write(None, body)
