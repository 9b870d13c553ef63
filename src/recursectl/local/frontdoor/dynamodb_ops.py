"""A DynamoDB request's IAM action and table resource (pure), for the front door's role check.

moto's access control checks every DynamoDB action against the resource `*`, so a policy that
grants an action on one table's ARN (least privilege, as deploy writes for the chain counter)
is refused by moto and allowed by AWS. The front door checks what names one table itself.
"""

from __future__ import annotations

import json
from typing import Any

from recursectl.protocol import JOB_RECORD_PREFIX

TARGET_PREFIX = "DynamoDB_20120810."
# The item and table operations that name one table in `TableName` (the counter uses UpdateItem).
_ONE_TABLE = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "DescribeTable",
        "DescribeTimeToLive",
        "UpdateTimeToLive",
        "UpdateTable",
        "DeleteTable",
        "CreateTable",
    }
)


def action_of(target: str | None, body: bytes, region: str, account: str) -> tuple[str, str] | None:
    """(`dynamodb:Operation`, table ARN) for a one-table operation; None for anything else
    (left to moto's own check)."""
    if not target or not target.startswith(TARGET_PREFIX):
        return None
    operation = target[len(TARGET_PREFIX) :]
    if operation not in _ONE_TABLE:
        return None
    try:
        doc: Any = json.loads(body or b"{}")
    except ValueError:
        return None
    table = doc.get("TableName") if isinstance(doc, dict) else None
    if not isinstance(table, str) or not table:
        return None
    if not table.startswith("arn:"):
        table = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    return f"dynamodb:{operation}", table


def is_checkpoint_write(target: str | None, body: bytes) -> bool:
    """Whether a DynamoDB request writes a long job's checkpoint (docs/jobs.md): an UpdateItem
    of a job's record (`job#<id>`, not a hop's claim `job#<id>#<seq>`) that sets `checkpoint`.
    The local cloud's `crash` fault kills the worker that made it (engine/faults.py)."""
    if target != f"{TARGET_PREFIX}UpdateItem":
        return False
    try:
        doc: Any = json.loads(body or b"{}")
    except ValueError:
        return False
    if not isinstance(doc, dict):
        return False
    key = ((doc.get("Key") or {}).get("chain") or {}).get("S")
    names = doc.get("ExpressionAttributeNames") or {}
    return (
        isinstance(key, str)
        and key.startswith(JOB_RECORD_PREFIX)
        and "#" not in key[len(JOB_RECORD_PREFIX) :]
        and isinstance(names, dict)
        and "checkpoint" in names.values()
    )
