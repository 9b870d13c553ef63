"""DynamoDB, by job: the chain counter's table (one per function; see protocol.COUNTER_TABLE_ENV).

One item per chain: `chain` (the key), `n` (children invoked so far), `spend` (USD recorded
under a cost cap), `expires` (TTL: DynamoDB deletes the item two days after its last write).
Pay-per-request, so an idle function costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from recursectl.aws.errors import translate
from recursectl.errors import NotFoundError

if TYPE_CHECKING:
    from recursectl.aws.session import Aws

TTL_ATTRIBUTE = "expires"


class CounterApi:
    def __init__(self, aws: Aws) -> None:
        self._aws = aws

    @property
    def _client(self) -> Any:
        return self._aws.client("dynamodb")

    def _do(self, action: str, resource: str, fn: Callable[[], Any]) -> Any:
        with translate(f"dynamodb:{action}", resource, self._aws.target):
            return fn()

    def table_tags(self, table: str) -> dict[str, str] | None:
        """The table's tags, or None when it does not exist."""
        try:
            got = self._do(
                "DescribeTable", table, lambda: self._client.describe_table(TableName=table)
            )
        except NotFoundError:
            return None
        arn = got["Table"]["TableArn"]
        listed = self._do(
            "ListTagsOfResource", arn, lambda: self._client.list_tags_of_resource(ResourceArn=arn)
        )
        return {t["Key"]: t["Value"] for t in listed.get("Tags", [])}

    def ensure_table(self, table: str, tags: dict[str, str]) -> bool:
        """Create the counter table (on-demand, TTL on `expires`) unless it exists; wait until
        it is ACTIVE. True when created now. Safe to repeat."""
        created = False
        if self.table_tags(table) is None:
            self._do(
                "CreateTable",
                table,
                lambda: self._client.create_table(
                    TableName=table,
                    BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": "chain", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "chain", "KeyType": "HASH"}],
                    Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                ),
            )
            created = True
        self._do(
            "DescribeTable (table_exists)",
            table,
            lambda: self._client.get_waiter("table_exists").wait(
                TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            ),
        )
        ttl = self._do(
            "DescribeTimeToLive", table, lambda: self._client.describe_time_to_live(TableName=table)
        )
        status = ttl.get("TimeToLiveDescription", {}).get("TimeToLiveStatus")
        if status not in ("ENABLED", "ENABLING"):
            self._do(
                "UpdateTimeToLive",
                table,
                lambda: self._client.update_time_to_live(
                    TableName=table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
                ),
            )
        return created

    def delete_table(self, table: str) -> bool:
        """True when deleted, False when it was already gone."""
        try:
            self._do("DeleteTable", table, lambda: self._client.delete_table(TableName=table))
        except NotFoundError:
            return False
        return True

    def chain(self, table: str, chain_id: str) -> dict[str, float] | None:
        """A chain's counter item ({"n", "spend"}), or None (no child counted yet, or expired)."""
        got = self._do(
            "GetItem",
            table,
            lambda: self._client.get_item(
                TableName=table, Key={"chain": {"S": chain_id}}, ConsistentRead=True
            ),
        )
        item = got.get("Item")
        if not item:
            return None
        return {k: float(item[k]["N"]) for k in ("n", "spend") if k in item}
