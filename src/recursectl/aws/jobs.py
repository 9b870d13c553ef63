"""DynamoDB, by job: the long jobs' records and hop claims on a function's counter table
(docs/jobs.md, "Where a job lives"): `job#<id>` is a job's record, `job#<id>#<seq>` the claim
of one hop. The helpers write them; `recursectl job ...` reads them, and cancel and resume
change a record's status with one conditional update each.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from recursectl import protocol
from recursectl.aws.errors import translate
from recursectl.errors import AwsError

if TYPE_CHECKING:
    from recursectl.aws.session import Aws

# Written as JSON text or as DynamoDB maps: either is read (the helpers choose).
_JSON_FIELDS = ("checkpoint", "progress", "bounds", "result", "error", "input", "chains")


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals as int or float, sets as sorted lists, all the way down."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value


def _decoded(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _int(value: Any, default: int = 0) -> int:
    return (
        int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
    )


@dataclass(frozen=True)
class JobRecord:
    """A job's record (`job#<id>`), as the helpers write it; unknown fields are kept in `raw`."""

    id: str
    status: str
    function: str | None = None
    seq: int = 0
    attempt: int = 1
    hops: int = 0
    checkpoint: dict[str, Any] | None = None  # {"seq", "state"} or {"seq", "ref"}
    progress: dict[str, Any] | None = None
    started_ms: int | None = None
    updated_ms: int | None = None
    result: Any = None
    error: Any = None
    bounds: dict[str, Any] | None = None
    gen: int = 0
    chains: list[str] = field(default_factory=list)
    input: Any = None
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> JobRecord:
        """From a deserialized item (plain Python values)."""
        doc = {k: _plain(v) for k, v in item.items()}
        for key in _JSON_FIELDS:
            if key in doc:
                doc[key] = _decoded(doc[key])
        job_id = str(doc.get("chain", ""))[len(protocol.JOB_RECORD_PREFIX) :]
        chains = doc.get("chains")
        return cls(
            id=job_id,
            status=str(doc.get("status", "unknown")),
            function=doc.get("function"),
            seq=_int(doc.get("seq")),
            attempt=_int(doc.get("attempt"), 1),
            hops=_int(doc.get("hops")),
            checkpoint=doc.get("checkpoint") if isinstance(doc.get("checkpoint"), dict) else None,
            progress=doc.get("progress") if isinstance(doc.get("progress"), dict) else None,
            started_ms=_int(doc["started_ms"]) if "started_ms" in doc else None,
            updated_ms=_int(doc["updated_ms"]) if "updated_ms" in doc else None,
            result=doc.get("result"),
            error=doc.get("error"),
            bounds=doc.get("bounds") if isinstance(doc.get("bounds"), dict) else None,
            gen=_int(doc.get("gen")),
            chains=[str(c) for c in chains] if isinstance(chains, list) else [],
            input=doc.get("input"),
            raw=doc,
        )


@dataclass(frozen=True)
class HopClaim:
    """The claim of one hop (`job#<id>#<seq>`)."""

    seq: int
    owner: str | None
    attempt: int
    status: str  # claimed | done


class JobsApi:
    def __init__(self, aws: Aws) -> None:
        self._aws = aws

    @property
    def _client(self) -> Any:
        return self._aws.client("dynamodb")

    def _do(self, action: str, resource: str, fn: Callable[[], Any]) -> Any:
        with translate(f"dynamodb:{action}", resource, self._aws.target):
            return fn()

    @staticmethod
    def _item(raw: dict[str, Any]) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeDeserializer

        des = TypeDeserializer()
        return {k: des.deserialize(v) for k, v in raw.items()}

    def list_jobs(self, table: str) -> list[JobRecord]:
        """Every job record on the table (a Scan of the `job#` items, all pages), the most
        recently started first."""
        records: list[JobRecord] = []
        request: dict[str, Any] = {
            "TableName": table,
            "FilterExpression": "begins_with(#c, :p)",
            "ExpressionAttributeNames": {"#c": "chain"},
            "ExpressionAttributeValues": {":p": {"S": protocol.JOB_RECORD_PREFIX}},
            "ConsistentRead": True,
        }
        while True:
            page = self._do("Scan", table, lambda: self._client.scan(**request))
            for raw in page.get("Items", []):
                item = self._item(raw)
                key = str(item.get("chain", ""))
                if "#" not in key[len(protocol.JOB_RECORD_PREFIX) :]:  # not a hop's claim
                    records.append(JobRecord.from_item(item))
            last = page.get("LastEvaluatedKey")
            if not last:
                break
            request["ExclusiveStartKey"] = last
        return sorted(records, key=lambda r: (r.started_ms or 0, r.id), reverse=True)

    def get_job(self, table: str, job_id: str) -> JobRecord | None:
        item = self._get(table, f"{protocol.JOB_RECORD_PREFIX}{job_id}")
        return JobRecord.from_item(item) if item is not None else None

    def get_claim(self, table: str, job_id: str, seq: int) -> HopClaim | None:
        item = self._get(table, f"{protocol.JOB_RECORD_PREFIX}{job_id}#{seq}")
        if item is None:
            return None
        doc = {k: _plain(v) for k, v in item.items()}
        return HopClaim(
            seq=seq,
            owner=doc.get("owner"),
            attempt=_int(doc.get("attempt"), 1),
            status=str(doc.get("status", "claimed")),
        )

    def _get(self, table: str, key: str) -> dict[str, Any] | None:
        got = self._do(
            "GetItem",
            table,
            lambda: self._client.get_item(
                TableName=table, Key={"chain": {"S": key}}, ConsistentRead=True
            ),
        )
        raw = got.get("Item")
        return self._item(raw) if raw else None

    def set_status(
        self,
        table: str,
        job_id: str,
        status: str,
        allowed: tuple[str, ...],
        now_ms: int,
        gen: int | None = None,
    ) -> JobRecord | None:
        """Set the job's status (and with `gen`, its generation) when it is one of `allowed`
        (one conditional UpdateItem); the record as it is now, or None when the condition
        failed (another status, or no job)."""
        values = {":s": {"S": status}, ":now": {"N": str(now_ms)}}
        values |= {f":a{i}": {"S": a} for i, a in enumerate(allowed)}
        allowed_list = ", ".join(f":a{i}" for i in range(len(allowed)))
        update = "SET #s = :s, updated_ms = :now"
        if gen is not None:
            update += ", gen = :g"
            values[":g"] = {"N": str(gen)}
        return self._update(
            table,
            job_id,
            update,
            f"attribute_exists(#c) AND #s IN ({allowed_list})",
            {"#s": "status", "#c": "chain"},
            values,
        )

    def adopt_generation(self, table: str, job_id: str, gen: int, now_ms: int) -> bool:
        """A running job of an older generation takes `gen` (docs/jobs.md: its hop held back
        by a stop then goes on after resume instead of pausing); False when it is not running
        any more or has it already."""
        got = self._update(
            table,
            job_id,
            "SET gen = :g, updated_ms = :now",
            "#s = :running AND (attribute_not_exists(gen) OR gen < :g)",
            {"#s": "status"},
            {":g": {"N": str(gen)}, ":running": {"S": "running"}, ":now": {"N": str(now_ms)}},
        )
        return got is not None

    def _update(
        self,
        table: str,
        job_id: str,
        update: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> JobRecord | None:
        try:
            got = self._do(
                "UpdateItem",
                table,
                lambda: self._client.update_item(
                    TableName=table,
                    Key={"chain": {"S": f"{protocol.JOB_RECORD_PREFIX}{job_id}"}},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                ),
            )
        except AwsError as exc:
            if exc.code == "ConditionalCheckFailedException":
                return None
            raise
        return JobRecord.from_item(self._item(got["Attributes"]))
