"""The chain counter's UpdateItems, answered by the front door instead of moto.

Every guarded child makes one conditional UpdateItem on its chain's item (`ADD #n :one SET
#e = :ttl`, condition `(attribute_not_exists(#n) OR #n < :max)`, with a cost cap `AND
(attribute_not_exists(#s) OR #s < :room)`); under a cost cap each invocation adds its cost at
its end (`ADD #s :c SET #e = :ttl`), and a refused child gives its count back (`ADD #n
:minus`). Through moto the count cost a hop 4-5 ms here: moto's expression parsers under
moto's one lock, queued behind the log writer (bench metric 13). This module answers exactly
those shapes itself, from a copy of the item, with moto's results (its ADD arithmetic, its
`update_item` rules for ReturnValues, its ConsumedCapacity, its headers), and writes the item
back into moto before anyone else's DynamoDB request runs, so GetItem, Scan and every other
shape still see one table in moto.

What keeps it exact:
- Only those shapes, with plain numbers (digits, an optional point), on a table whose key is
  one string attribute; anything else (other expressions, ReturnConsumedCapacity, an attribute
  of another type, a table moto refuses the key of) goes to moto as before.
- A failed condition goes to moto too (after the write-back): moto builds the
  ConditionalCheckFailedException and its ReturnValuesOnConditionCheckFailure item.
- Any other DynamoDB request first writes the pending items back into moto and, when it may
  write, forgets the copies of its table (the next count reads the item from moto again).
  One lock orders all of it, so moto's table is the same as if every request had gone there.
- Persistence: the original request is journaled (replayed through moto at start, as
  before), durable before the answer; the write-back into moto is not journaled.
"""

from __future__ import annotations

import json
import random
import re
import string
import threading
import time
import zlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from recursectl.local.motowire import Moto, Response

TARGET_PREFIX = "DynamoDB_20120810."
_UPDATE = TARGET_PREFIX + "UpdateItem"
_ALLOWED = frozenset(
    {
        "TableName",
        "Key",
        "UpdateExpression",
        "ConditionExpression",
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
        "ReturnValues",
        "ReturnValuesOnConditionCheckFailure",
    }
)
_RETURN_VALUES = frozenset({"NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"})
_EXPRESSION = re.compile(r"ADD (#\w+) (:\w+)(?: SET (#\w+) = (:\w+))?", re.ASCII)
_CONDITION = re.compile(
    r"\(attribute_not_exists\((#\w+)\) OR \1 < (:\w+)\)"
    r"(?: AND \(attribute_not_exists\((#\w+)\) OR \3 < (:\w+)\))?",
    re.ASCII,
)
_NUMBER = re.compile(r"-?[0-9]{1,38}(?:\.[0-9]{1,38})?")
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/dynamodb/aws4_request")
_TABLE = re.compile(r"[a-zA-Z0-9_.-]{3,255}")
_MAX_ITEMS = 10_000  # copies kept; past it they are written back and forgotten

Item = dict[str, dict[str, str]]
Journal = Callable[[float, str, str, str, dict[str, str], bytes], Callable[[], None]]


class _Shape:
    """A counter request, read and checked: what `serve` needs to answer it."""

    __slots__ = ("add", "add_by", "bounds", "key", "returns", "set", "set_to", "table")

    def __init__(self, doc: dict[str, Any], update: re.Match[str], bounds: list[str]) -> None:
        self.table: str = doc["TableName"]
        ((key_name, key_value),) = doc["Key"].items()
        self.key: tuple[str, str] = (key_name, key_value["S"])
        names: dict[str, str] = doc.get("ExpressionAttributeNames", {})
        values: dict[str, dict[str, str]] = doc.get("ExpressionAttributeValues", {})
        add_n, add_v, set_n, set_v = update.groups()
        self.add, self.add_by = names[add_n], values[add_v]["N"]
        self.set: str | None = names[set_n] if set_n else None
        self.set_to: dict[str, str] = values[set_v] if set_v else {}
        pairs = zip(bounds[::2], bounds[1::2], strict=True)
        self.bounds = [(names[n], Decimal(values[v]["N"])) for n, v in pairs]
        self.returns: str = doc.get("ReturnValues", "NONE")


def shape_of(headers: dict[str, str], body: bytes) -> _Shape | None:
    """The counter's requests (the guards' count, spend and give-back: `ADD #a :x [SET #b =
    :y]`, optionally with the count's condition) in exactly the shape this module answers;
    else None."""
    if headers.get("x-amz-target") != _UPDATE:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not _ALLOWED.issuperset(doc):
        return None
    update = _EXPRESSION.fullmatch(str(doc.get("UpdateExpression")))
    bounds: list[str] = []
    if "ConditionExpression" in doc:
        cond = _CONDITION.fullmatch(str(doc["ConditionExpression"]))
        if cond is None:
            return None
        bounds = [g for g in cond.groups() if g]
    if update is None or not _well_formed(doc, update, bounds):
        return None
    return _Shape(doc, update, bounds)


def _well_formed(doc: dict[str, Any], update: re.Match[str], bounds: list[str]) -> bool:
    """Every part of the shape, as moto would accept it without a validation error."""
    table, key = doc.get("TableName"), doc.get("Key")
    names, values = doc.get("ExpressionAttributeNames"), doc.get("ExpressionAttributeValues")
    if not (
        isinstance(table, str)
        and _TABLE.fullmatch(table)
        and isinstance(key, dict)
        and len(key) == 1
        and _typed(next(iter(key.values())), "S")
        and isinstance(names, dict)
        and isinstance(values, dict)
        and doc.get("ReturnValues", "NONE") in _RETURN_VALUES
        and doc.get("ReturnValuesOnConditionCheckFailure", "NONE") in ("NONE", "ALL_OLD")
    ):
        return False
    used_names = {n for n in (update[1], update[3], *bounds[::2]) if n}
    used_values = {v for v in (update[2], update[4], *bounds[1::2]) if v}
    if set(names) != used_names or set(values) != used_values:
        return False  # moto refuses unused (or missing) placeholders: let it say so
    attrs = [names[n] for n in used_names]
    if not all(isinstance(a, str) and a for a in attrs) or len(set(attrs)) != len(attrs):
        return False
    if next(iter(key)) in attrs:
        return False
    return all(_typed(values[v], "N") and _NUMBER.fullmatch(values[v]["N"]) for v in used_values)


def _typed(value: Any, kind: str) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(value.get(kind), str)
        and bool(value[kind])
    )


class CounterPath:
    """The counter's UpdateItem answered here; every other DynamoDB request ordered with it."""

    def __init__(self, moto: Moto) -> None:
        self.moto = moto
        self.enabled = True
        self.served = 0  # requests answered here (not by moto)
        # Set by persistence: journal one request; returns the wait for its durability.
        self.journal: Journal | None = None
        self._lock = threading.Lock()
        # (region, table, key value) -> (key attribute, the item as moto holds it or None)
        self._items: dict[tuple[str, str, str], tuple[str, Item | None]] = {}
        self._pending: dict[tuple[str, str, str], Item] = {}  # not yet written into moto
        self._waits: list[Callable[[], None]] = []  # durability of what is pending

    def serve(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        to_moto: Callable[[], Response],
    ) -> Response:
        """A DynamoDB request: the counter's shape answered here, anything else by moto."""
        shape = shape_of(headers, body) if self.enabled and method == "POST" else None
        region = _region(headers)
        if shape is None or region is None:
            with self._lock:
                self._write_back()
                try:
                    return to_moto()
                finally:
                    self._forget(headers, body)
        wait: Callable[[], None] | None = None
        with self._lock:
            at = time.time()
            answer = self._update(region, shape)
            if answer is None:  # not ours to answer (a failed condition, an odd item)
                self._write_back()
                return to_moto()
            self.served += 1
            if self.journal is not None:
                wait = self.journal(at, method, path, query, headers, body)
                self._waits.append(wait)
            if len(self._items) > _MAX_ITEMS:
                self._write_back()
                self._items.clear()
        if wait is not None:
            wait()  # durable before the answer, as moto's journaled requests are
        return answer

    def reset(self) -> None:
        """moto was reset: forget every copy and pending write."""
        with self._lock:
            self._items.clear()
            self._pending.clear()
            self._waits.clear()

    def write_back(self) -> None:
        """Write the pending items into moto now."""
        with self._lock:
            self._write_back()

    # under the lock ---------------------------------------------------------------------
    def _update(self, region: str, shape: _Shape) -> Response | None:
        ident = (region, shape.table, shape.key[1])
        known = self._items.get(ident)
        if known is None:
            read = self._read(region, shape)
            if read is None:
                return None
            known = self._items[ident] = (shape.key[0], read[0])
        key_name, old = known
        if key_name != shape.key[0]:
            return None
        new = _apply(shape, old)
        if new is None:
            return None
        self._items[ident] = (key_name, new)
        self._pending[ident] = new
        return _answer(shape, old or {}, new)

    def _read(self, region: str, shape: _Shape) -> tuple[Item | None] | None:
        """(the item in moto, None if there is none), or None when moto refuses the key."""
        doc = {"TableName": shape.table, "Key": {shape.key[0]: {"S": shape.key[1]}}}
        code, _, payload = self.moto.call(
            "POST", "/", "", _headers(region, "GetItem"), json.dumps(doc).encode()
        )
        if code != 200:
            return None
        item = json.loads(payload).get("Item")
        return (item if isinstance(item, dict) and item else None,)

    def _write_back(self) -> None:
        if not self._pending:
            return
        for wait in self._waits:
            wait()  # moto never shows a count that a crash could take back
        self._waits.clear()
        pending, self._pending = self._pending, {}
        for (region, table, _), item in pending.items():
            body = json.dumps({"TableName": table, "Item": item}).encode()
            code, _, _ = self.moto.call(
                "POST", "/", "", _headers(region, "PutItem"), body, journal=False
            )
            if code != 200:  # the table went away meanwhile: moto decides from here on
                self._items.clear()

    def _forget(self, headers: dict[str, str], body: bytes) -> None:
        """After another request that may write: forget the copies of its table(s)."""
        target = headers.get("x-amz-target", "")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        if not self._items or operation.startswith(("Get", "Describe", "List", "Query", "Scan")):
            return
        operation = operation or "?"
        table = None
        try:
            doc = json.loads(body or b"{}")
            table = doc.get("TableName") if isinstance(doc, dict) else None
        except ValueError:
            pass
        if isinstance(table, str) and operation != "BatchGetItem":
            name = table.rpartition("/")[2]
            for ident in [i for i in self._items if i[1] == name]:
                del self._items[ident]
        else:
            self._items.clear()


def _apply(shape: _Shape, old: Item | None) -> Item | None:
    """The item after the update, or None when the condition fails or the item's attributes
    are not what this path computes exactly (moto decides those)."""
    item = dict(old) if old else {shape.key[0]: {"S": shape.key[1]}}
    for name, bound in shape.bounds:
        have = item.get(name)
        if have is None:
            continue
        if not _typed(have, "N"):
            return None
        try:
            if not Decimal(have["N"]) < bound:
                return None
        except ArithmeticError:  # InvalidOperation: not a number moto would compare
            return None
    have = item.get(shape.add)
    if have is not None and not _typed(have, "N"):
        return None
    try:
        total = _moto_add(have["N"] if have else "0", shape.add_by)
    except (ValueError, ArithmeticError):
        return None
    item[shape.add] = {"N": total}
    if shape.set is not None:
        item[shape.set] = dict(shape.set_to)
    return item


def _moto_add(a: str, b: str) -> str:
    """moto's ADD of two numbers (`DynamoType.__add__`): integers unless either has a point,
    then Decimal, written back with `str` (0 + 0.000000123400 is "1.23400E-7")."""
    x: Decimal | int = Decimal(a) if "." in a else int(a)
    y: Decimal | int = Decimal(b) if "." in b else int(b)
    return f"{x + y}"


def _answer(shape: _Shape, old: Item, new: Item) -> Response:
    """moto's UpdateItem answer (responses.update_item: its ReturnValues rules, its constant
    ConsumedCapacity, its headers)."""
    doc: dict[str, Any] = {"Attributes": new}
    changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    if shape.returns == "NONE":
        doc.pop("Attributes")
    elif shape.returns == "ALL_OLD":
        if old:
            doc["Attributes"] = old
        else:
            doc.pop("Attributes")
    elif shape.returns == "UPDATED_OLD":
        updated = {k: v for k, v in old.items() if k in changed}
        if updated:
            doc["Attributes"] = updated
        else:
            doc.pop("Attributes")
    elif shape.returns == "UPDATED_NEW":
        doc["Attributes"] = {k: v for k, v in new.items() if k not in old or v != old[k]}
    doc["ConsumedCapacity"] = {"TableName": shape.table, "CapacityUnits": 0.5}
    payload = json.dumps(doc).encode()
    headers = {
        "server": "amazon.com",
        "content-type": "application/x-amz-json-1.0",
        "status": "200",
        "x-amzn-requestid": "".join(random.choices(_ID_CHARS, k=52)),
        "x-amz-crc32": str(zlib.crc32(payload) & 0xFFFFFFFF),
        "access-control-allow-origin": "*",
    }
    return 200, headers, payload


_ID_CHARS = string.ascii_letters + string.digits


def _region(headers: dict[str, str]) -> str | None:
    found = _SCOPE.search(headers.get("authorization", ""))
    return found.group(1) if found else None


def _headers(region: str, operation: str) -> dict[str, str]:
    return {
        "Host": f"dynamodb.{region}.amazonaws.com",
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential=test/20240101/{region}/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0"
        ),
        "X-Amz-Target": TARGET_PREFIX + operation,
        "Content-Type": "application/x-amz-json-1.0",
    }
