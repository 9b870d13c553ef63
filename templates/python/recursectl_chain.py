"""recursectl's chain helper and guard, packaged next to your handler by `recursectl deploy`.

No dependency on recursectl: only the standard library and botocore (every Lambda Python
runtime has it). The protocol it follows is `recursectl/protocol.py`'s; the values below repeat
it and `tests/unit/test_protocol.py` checks that they do.

As the entry point (Handler `recursectl_chain.handler`, your handler in RECURSECTL_HANDLER) it
imports your module during init, then, per invocation: reads or starts the chain context, logs
one `hop` marker, refuses to run a chain started before the last `recursectl stop`, and calls
your handler with the event minus its `_recursectl` key. Every Lambda Invoke your code makes of
this same function through botocore (boto3) carries the chain context, is logged as a `child`,
and is refused with a ChainRefused exception past the depth cap or the chain's budget. Your
code needs no change. The explicit API works too, with or without the entry point:

    import recursectl_chain

    def handler(event, context):
        chain = recursectl_chain.begin(event, context)  # the same chain the entry point began
        if more_work:
            chain.invoke_self({"work": ...})            # None when the cap or budget refuses

Markers are stdout lines `RECURSECTL_CHAIN {"v":1,"ev":"hop",...}`, what `recursectl logs`
builds the tree from. Long jobs (`recursectl_chain.job(event, context)`, docs/jobs.md) live in
recursectl_job.py, packaged next to this file and loaded only when a job runs.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
import traceback

# Annotations only (postponed by the __future__ import): importing typing would cost every
# cold start more than the rest of this module's imports together (awslambdaric has the others).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

VERSION = 1
MARKER = "RECURSECTL_CHAIN"
CONTEXT_KEY = "_recursectl"
EV_HOP = "hop"
EV_CHILD = "child"
EV_CAPPED = "capped"
EV_STOPPED = "stopped"
EV_CHILD_FAILED = "child_failed"
EV_CHECKPOINT = "checkpoint"
EV_JOB = "job"
EV_DUPLICATE = "duplicate"
REASON_DEPTH = "depth"
REASON_BUDGET = "budget"
REASON_COST = "cost"
REASON_COUNTER = "counter"
SELF_ARN_ENV = "RECURSECTL_SELF_ARN"
MAX_CALLS_ENV = "RECURSECTL_MAX_CALLS"
MAX_INVOCATIONS_ENV = "RECURSECTL_MAX_INVOCATIONS"
# `recursectl stop` raises it: chains started before never run another hop, even after resume.
GENERATION_ENV = "RECURSECTL_GENERATION"
HANDLER_ENV = "RECURSECTL_HANDLER"
# The chain counter's DynamoDB table (deploy creates it): set = exact budget, else the split rule.
COUNTER_TABLE_ENV = "RECURSECTL_COUNTER_TABLE"
COUNTER_TTL_S = 2 * 24 * 3600  # a chain's item expires two days after its last child
GB_SECOND_USD = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
REQUEST_USD = 0.20 / 1e6
HELPER_MODULE = "recursectl_chain"
ENTRY_POINT = f"{HELPER_MODULE}.handler"
JOB_MODULE = "recursectl_job"  # the job API, next to this file (loaded only by a job)
DYNAMO_MODULE = "recursectl_dynamo"  # the helper's DynamoDB client (loaded on first use)
DEFAULT_MAX_CALLS = 25
DEFAULT_MAX_INVOCATIONS = 1000
# Long jobs (docs/jobs.md): the job's context is the chain context's JOB_KEY.
JOB_KEY = "job"
JOB_BUCKET_ENV = "RECURSECTL_JOB_BUCKET"
JOB_BOUNDS_ENV = "RECURSECTL_JOB_BOUNDS"
JOB_MARGIN_ENV = "RECURSECTL_JOB_MARGIN_MS"
DEFAULT_JOB_MAX_HOPS = 1000
DEFAULT_JOB_MAX_SECONDS = 6 * 3600
JOB_RECORD_PREFIX = "job#"
JOB_INLINE_PAYLOAD = 256 * 1024
JOB_INLINE_CHECKPOINT = 64 * 1024
JOB_MAX_ATTEMPTS = 3
JOB_STATE_PREFIX = "recursectl/"
JOB_STATE_TTL_DAYS = 14  # the bucket's lifecycle rule; a hop's claim expires with it

# The Lambda operations that start an invocation, and the parameter that carries the event.
_INVOKE_OPS = {
    "Invoke": "Payload",
    "InvokeWithResponseStream": "Payload",
    "InvokeAsync": "InvokeArgs",
}
_THROTTLED = frozenset({"TooManyRequestsException", "ThrottlingException"})
_THROTTLE_BACKOFF_S = (0.1, 0.3, 0.9)

_client: Any = None  # invoke_self's client: created on first use, reused while warm
# The init phase, as this module sees it: from its import (the runtime imports it first, and it
# imports your module) to the first invocation. AWS bills it with that invocation (on-demand,
# since August 2025), so the cost cap counts it there; a pre-warmed environment's idle wait
# would count too, which only makes the cap stricter.
_LOADED = time.monotonic()
_init_ms: float | None = None  # taken by the first chain of this environment
_original: Any = None  # botocore's BaseClient._make_api_call, once patched
_active: Chain | None = None  # the chain of the invocation in progress
_user_handler: Callable[[Any, Any], Any] | None = None
_local = threading.local()  # .self_invoke: inside a guarded self-invoke (for the retry veto)


def child_share(pool: int, left: int, split: int | None, max_calls: int, child_depth: int) -> int:
    """The budget handed to the next child; 0 means refuse (a copy of protocol.child_share)."""
    if left <= 0 or child_depth > max_calls:
        return 0
    if split is not None and split >= 1:
        return min(left, max(1, pool // split))
    linear = max_calls - child_depth + 1
    return min(left, max(-(-pool // 2), linear))


class ChainRefused(RuntimeError):
    """A self-invoke was refused; the message names the limit and the setting that raises it."""


class DepthCapReached(ChainRefused):
    """The child would be deeper than RECURSECTL_MAX_CALLS."""


class BudgetExhausted(ChainRefused):
    """The chain has used its RECURSECTL_MAX_INVOCATIONS invocations (across all branches)."""


class ChainStopped(ChainRefused):
    """The chain started before the last `recursectl stop`."""


class CostCapReached(ChainRefused):
    """The chain's recorded spend has reached its cost cap (`recursectl invoke --max-cost`)."""


class CounterUnreachable(ChainRefused):
    """The chain counter could not be reached: the child is refused (fail safe)."""


class PayloadNotObject(ChainRefused):
    """The payload is not a JSON object, so the chain context cannot be carried."""


# json.dumps with non-default separators builds a new encoder on every call: build it once.
_compact = json.JSONEncoder(separators=(",", ":")).encode


def _emit(record: dict[str, Any]) -> None:
    # One write per marker: one CloudWatch Logs event, whatever the log format.
    sys.stdout.write(f"{MARKER} {_compact(record)}\n")
    sys.stdout.flush()


def _int(value: Any, default: int) -> int:
    if type(value) is int:
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _env_int(name: str, default: int) -> int:
    return _int(os.environ.get(name), default)


# The function's environment never changes while an execution environment lives: read once.
_MAX_CALLS = _env_int(MAX_CALLS_ENV, DEFAULT_MAX_CALLS)
_MAX_INVOCATIONS = _env_int(MAX_INVOCATIONS_ENV, DEFAULT_MAX_INVOCATIONS)
_GENERATION = _env_int(GENERATION_ENV, 0)
_SELF_ARN = os.environ.get(SELF_ARN_ENV) or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
_COUNTER_TABLE = os.environ.get(COUNTER_TABLE_ENV, "")
_counter: Any = None  # the counter's DynamoDB client: created on first use


def _counter_client() -> Any:
    global _counter
    if _counter is None:
        _counter = _dynamo()._Dynamo()
    return _counter


def _take_init_ms(now: float) -> float:
    """The init phase's milliseconds for the first invocation of this environment, else 0."""
    global _init_ms
    if _init_ms is None:
        _init_ms = (now - _LOADED) * 1000
        return _init_ms
    return 0.0


def _usd(ms: float) -> float:
    """What an invocation of `ms` milliseconds costs at list price (billed per started ms)."""
    import math
    import platform

    memory_gb = _env_int("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 128) / 1024
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    return math.ceil(ms) / 1000 * memory_gb * GB_SECOND_USD[arch] + REQUEST_USD


def _error_status(exc: BaseException) -> tuple[Any, Any]:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, None
    meta = response.get("ResponseMetadata") or {}
    return (response.get("Error") or {}).get("Code"), meta.get("HTTPStatusCode")


class Chain:
    """The chain context of one invocation, and the budget it hands to its children."""

    def __init__(
        self,
        chain_id: str,
        request_id: str,
        parent: str | None,
        depth: int,
        generation: int | None = None,
        budget: int | None = None,
        split: int | None = None,
        max_cost: float | None = None,
    ):
        self.chain_id = chain_id
        self.request_id = request_id
        self.parent = parent
        self.depth = depth
        self.generation = _GENERATION if generation is None else generation
        self.max_calls = _MAX_CALLS
        self.max_invocations = _MAX_INVOCATIONS
        self.budget = self.max_invocations if budget is None else budget
        self.split = split
        self.left = self.budget - 1  # what the pool for this subtree still holds
        self.self_arn = _SELF_ARN
        self.children: list[str] = []
        self._lock = threading.Lock()  # children may be invoked from several threads
        self.max_cost = max_cost  # USD for the whole chain (None: no cost cap)
        self.started = time.monotonic()
        self.init_ms = _take_init_ms(self.started)
        self.counted = bool(_COUNTER_TABLE)  # exact budget: the chain's counter item
        # The counter item's key: the chain's id, or on a job's hops the job's record
        # (`job#<id>`: every invocation of the job counts there, whatever chain a resume
        # started, and a continuation is counted in the same write as its checkpoint).
        self.count_key = chain_id
        self.count_ttl = True  # a chain's item expires; a job's record is kept
        self.job_ctx: dict[str, Any] | None = None  # the context's `job`, kept for job()

    @property
    def remaining(self) -> int:
        """How many more levels the depth cap allows below this invocation."""
        return max(0, self.max_calls - self.depth)

    def _mark(self, ev: str, **fields: Any) -> None:
        _emit({"v": VERSION, "ev": ev, "chain": self.chain_id, "req": self.request_id, **fields})

    def _stale(self) -> str | None:
        current = _GENERATION
        if self.generation >= current:
            return None
        self._mark(EV_STOPPED, depth=self.depth, gen=self.generation)
        return (
            f"this chain started before the last `recursectl stop` (its generation "
            f"{self.generation} < {GENERATION_ENV}={current}): start a new chain"
        )

    def _reserve(self) -> int:
        """The next child's budget, or ChainRefused (with its marker) when it may not run."""
        stale = self._stale()
        if stale:
            raise ChainStopped(f"recursectl: not invoking a child: {stale}")
        depth = self.depth + 1
        if self.counted and depth <= self.max_calls:
            return self._count()
        with self._lock:
            share = child_share(self.budget - 1, self.left, self.split, self.max_calls, depth)
            self.left -= share
        if share > 0:
            return share
        if depth > self.max_calls:
            self._mark(
                EV_CAPPED,
                depth=self.depth,
                max=self.max_calls,
                reason=REASON_DEPTH,
                budget=self.left,
            )
            raise DepthCapReached(
                f"recursectl: not invoking a child at depth {depth}: the depth cap is "
                f"{self.max_calls} ({MAX_CALLS_ENV}; deploy with --max-calls to raise it)"
            )
        self._mark(
            EV_CAPPED, depth=self.depth, max=self.max_calls, reason=REASON_BUDGET, budget=self.left
        )
        raise BudgetExhausted(
            f"recursectl: not invoking a child at depth {depth}: this chain's budget of "
            f"{self.max_invocations} invocations is spent ({MAX_INVOCATIONS_ENV}; deploy with "
            f"--max-invocations to raise it)"
        )

    def cost_so_far(self) -> float:
        """This invocation's cost at list price so far, its environment's init included."""
        return _usd((time.monotonic() - self.started) * 1000 + self.init_ms)

    def _budget(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The counter's condition, names and values: the chain's children so far (`n`, the
        root not counted) below MAX_INVOCATIONS - 1, and with a cost cap its recorded spend
        plus this invocation's own so far below the cap (used alone, or in a job's write)."""
        values: dict[str, Any] = {
            ":one": {"N": "1"},
            ":max": {"N": str(self.max_invocations - 1)},
        }
        names = {"#n": "n"}
        condition = "(attribute_not_exists(#n) OR #n < :max)"
        if self.max_cost is not None:
            room = self.max_cost - self.cost_so_far()
            values[":room"] = {"N": f"{room:.12f}"}
            names["#s"] = "spend"
            condition += " AND (attribute_not_exists(#s) OR #s < :room)"
        return condition, names, values

    def _refused(self, old: dict[str, Any]) -> ChainRefused:
        """The refusal a failed budget condition stands for (`old`: the item), its marker out."""
        used = _int((old.get("n") or {}).get("N"), 0)
        if used < self.max_invocations - 1 and self.max_cost is not None:
            spent = (old.get("spend") or {}).get("N", "0")
            self._mark(EV_CAPPED, depth=self.depth, max=self.max_calls, reason=REASON_COST)
            return CostCapReached(
                f"recursectl: not invoking a child: this chain has spent ${float(spent):.6f}"
                f" of its cost cap ${self.max_cost:g} (invoke --max-cost raises it)"
            )
        self._mark(EV_CAPPED, depth=self.depth, max=self.max_calls, reason=REASON_BUDGET, budget=0)
        return BudgetExhausted(
            f"recursectl: not invoking a child at depth {self.depth + 1}: this chain's "
            f"budget of {self.max_invocations} invocations is spent ({MAX_INVOCATIONS_ENV}; "
            f"deploy with --max-invocations to raise it)"
        )

    def _unreachable(self, exc: BaseException) -> ChainRefused:
        why = f"{type(exc).__name__}: {exc}"[:300]
        self._mark(EV_CAPPED, depth=self.depth, max=self.max_calls, reason=REASON_COUNTER)
        return CounterUnreachable(
            f"recursectl: not invoking a child: the chain counter ({COUNTER_TABLE_ENV}="
            f"{_COUNTER_TABLE}) could not be reached, so the budget cannot be checked: {why}"
        )

    def _ttl(self, names: dict[str, str], values: dict[str, Any]) -> str:
        """` SET #e = :ttl` for a chain's item (it expires), '' for a job's record."""
        if not self.count_ttl:
            return ""
        names["#e"] = "expires"
        values[":ttl"] = {"N": str(int(time.time()) + COUNTER_TTL_S)}
        return " SET #e = :ttl"

    def _count(self) -> int:
        """Count the next child on the chain's counter item; what the chain may still make.

        One conditional UpdateItem (see _budget). Refused: BudgetExhausted; unreachable:
        refused too (fail safe), never let through.
        """
        condition, names, values = self._budget()
        try:
            got = _counter_client().update_item(
                TableName=_COUNTER_TABLE,
                Key={"chain": {"S": self.count_key}},
                UpdateExpression="ADD #n :one" + self._ttl(names, values),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            code, _ = _error_status(exc)
            if code != "ConditionalCheckFailedException":
                raise self._unreachable(exc) from None
            raise self._refused((getattr(exc, "response", None) or {}).get("Item") or {}) from None
        return self._share(got["Attributes"])

    def _share(self, attributes: dict[str, Any]) -> int:
        used = _int(attributes["n"]["N"], 0)
        return max(1, self.max_invocations - used)  # what the chain may still make

    def _uncount(self) -> None:
        """Give a refused child's count back (best effort: a miss makes the budget stricter)."""
        try:
            _counter_client().update_item(
                TableName=_COUNTER_TABLE,
                Key={"chain": {"S": self.count_key}},
                UpdateExpression="ADD #n :minus",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={":minus": {"N": "-1"}},
            )
        except Exception as exc:
            print(f"recursectl: a refused child's count was not given back: {exc}")

    def spend(self) -> None:
        """Add this invocation's cost to the chain's spend (only under a cost cap)."""
        if not self.counted or self.max_cost is None:
            return
        cost = self.cost_so_far()
        names = {"#s": "spend"}
        values: dict[str, Any] = {":c": {"N": f"{cost:.12f}"}}
        try:
            _counter_client().update_item(
                TableName=_COUNTER_TABLE,
                Key={"chain": {"S": self.count_key}},
                UpdateExpression="ADD #s :c" + self._ttl(names, values),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            # Not recorded: the chain's later children are checked against less than it spent.
            print(f"recursectl: this invocation's cost was not added to the chain's spend: {exc}")

    def _invoke(self, client: Any, operation: str, key: str, params: dict[str, Any]) -> Any:
        """One guarded self-invoke through botocore: context in, marker out."""
        event = _event_of(params.get(key))
        share = self._reserve()
        event[CONTEXT_KEY] = {
            "chain": self.chain_id,
            "parent": self.request_id,
            "depth": self.depth + 1,
            "gen": self.generation,
            "budget": share,
            **({"split": self.split} if self.split is not None else {}),
            **({"max_cost": self.max_cost} if self.max_cost is not None else {}),
        }
        params = {**params, key: _compact(event).encode()}
        response = _send_counted(self, client, operation, params, share)
        child = str(response["ResponseMetadata"]["RequestId"])
        with self._lock:
            self.children.append(child)
        self._mark(EV_CHILD, child=child, depth=self.depth + 1, budget=share)
        return response

    def _failed(self, share: int, exc: BaseException) -> None:
        self._mark(
            EV_CHILD_FAILED, depth=self.depth + 1, error=f"{type(exc).__name__}: {exc}"[:500]
        )
        _, status = _error_status(exc)
        if isinstance(status, int) and 400 <= status < 500:
            # Refused by Lambda (throttled, denied, not found, too large): no child started.
            if self.counted:
                self._uncount()
                return
            with self._lock:
                self.left += share

    def invoke_self(self, payload: dict[str, Any], *, sync: bool = False) -> str | None:
        """Invoke this function again with `payload`; returns the child's request id.

        Returns None (the refusal is logged) when the depth cap, the budget or `recursectl
        stop` forbids it. For an Event invoke the request id is the one the child will log.
        """
        client = _lambda_client()
        _patch_now()
        params = {
            "FunctionName": self.self_arn,
            "InvocationType": "RequestResponse" if sync else "Event",
            "Payload": json.dumps(payload),
        }
        try:
            response = self._invoke(client, "Invoke", "Payload", params)
        except ChainRefused as refused:
            print(refused)  # the why, next to the marker, for whoever reads the log
            return None
        # Read the (empty) body: botocore hands the connection back to its pool only then.
        body = response.get("Payload")
        if body is not None:
            body.read()
        return str(response["ResponseMetadata"]["RequestId"])


def _event_of(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}  # no payload: Lambda hands the function {}
    if hasattr(raw, "read"):
        raw = raw.read()
    if isinstance(raw, (bytes, bytearray, str)) and not raw.strip():
        return {}
    try:
        event = json.loads(raw)
    except (TypeError, ValueError):
        event = None
    if not isinstance(event, dict):
        raise PayloadNotObject(
            "recursectl: not invoking this function with a payload that is not a JSON object: "
            f"the chain context ({CONTEXT_KEY}) cannot be carried; send a JSON object"
        )
    return event


def _lambda_client() -> Any:
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        # One attempt: botocore would also retry an Invoke whose first attempt did reach
        # Lambda (a read timeout, a dropped connection), starting a second child: a forked
        # chain. Throttles are retried by hand in _send: a 429 means nothing was accepted.
        _client = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}))
    return _client


def _send_counted(
    chain: Chain, client: Any, operation: str, params: dict[str, Any], share: int
) -> Any:
    """A guarded self-invoke whose child `share` is counted already: a failure hands the
    count back (`Chain._failed`), a veto raises its own error."""
    _local.self_invoke = True
    try:
        return _send(client, operation, params)
    except _Veto as veto:
        chain._failed(share, veto.error)
        raise veto.error from None
    except Exception as exc:
        chain._failed(share, exc)
        raise
    finally:
        _local.self_invoke = False


def _send(client: Any, operation: str, params: dict[str, Any]) -> Any:
    call = _original if _original is not None else type(client)._make_api_call
    if client is not _client:
        return call(client, operation, params)
    for delay in (*_THROTTLE_BACKOFF_S, None):
        try:
            return call(client, operation, params)
        except Exception as exc:
            if _error_status(exc)[0] not in _THROTTLED or delay is None:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


# the chain context --------------------------------------------------------------------------
def _cost(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        return None
    return float(value)


def _start(event: Any, context: Any) -> Chain:
    """Continue the event's chain (or start one), log the hop marker, make it the active one."""
    global _active
    request_id = str(getattr(context, "aws_request_id", "") or "unknown")
    ctx = event.get(CONTEXT_KEY) if isinstance(event, dict) else None
    if not isinstance(ctx, dict):
        ctx = {}
    max_invocations = _MAX_INVOCATIONS
    # A crafted context cannot raise the limits: depth >= 0, budget <= the function's own.
    budget = max(1, min(_int(ctx.get("budget"), max_invocations), max_invocations))
    split = _int(ctx.get("split"), 0) or None
    max_cost = _cost(ctx.get("max_cost"))
    if ctx.get("chain"):
        parent = ctx.get("parent")
        chain = Chain(
            str(ctx["chain"]),
            request_id,
            str(parent) if parent else None,
            max(0, _int(ctx.get("depth"), 0)),
            _int(ctx.get("gen"), 0),
            budget,
            split,
            max_cost,
        )
    else:  # a root: `gen` may be given by `recursectl invoke`, else the chain starts now
        chain = Chain(
            request_id,
            request_id,
            None,
            0,
            _int(ctx.get("gen"), _GENERATION),
            budget,
            split,
            max_cost,
        )
    job_ctx = ctx.get(JOB_KEY)
    fields: dict[str, Any] = {}
    if isinstance(job_ctx, dict):
        chain.job_ctx = job_ctx
        if job_ctx.get("id"):  # a job's hop: which one, which delivery
            fields = {
                "job": str(job_ctx["id"]),
                "seq": max(0, _int(job_ctx.get("seq"), 0)),
                "attempt": max(1, _int(job_ctx.get("attempt"), 1)),
            }
    chain._mark(
        EV_HOP,
        parent=chain.parent,
        depth=chain.depth,
        max=chain.max_calls,
        budget=chain.budget,
        **fields,
    )
    _active = chain
    return chain


def begin(event: Any, context: Any) -> Chain:
    """This invocation's chain: the one the entry point began, else read from the event."""
    chain = _active
    if chain is not None and chain.request_id == getattr(context, "aws_request_id", None):
        return chain
    _install()
    return _start(event, context)


def strip(event: Any) -> Any:
    """The event without recursectl's reserved key (for handlers that echo their event)."""
    if isinstance(event, dict) and CONTEXT_KEY in event:
        return {k: v for k, v in event.items() if k != CONTEXT_KEY}
    return event


def handler(event: Any, context: Any) -> Any:
    """The function's entry point: guard, then the user's handler, its result unchanged."""
    if _own_failure_record(event):  # a job's hop failed: this is its retry (docs/jobs.md)
        event = _jobs()._retry_event(event, context)
        if event is None:
            return None
    chain = _start(event, context)
    job_hop = bool(chain.job_ctx and chain.job_ctx.get("id"))
    jobs = _jobs() if job_hop else None  # a plain invocation never loads the job module
    if jobs and chain.generation < _GENERATION and not jobs._pause(chain, chain.job_ctx or {}):
        chain.generation = _GENERATION  # resumed since the stop: this hop goes on
    stale = chain._stale()
    if stale:
        print(f"recursectl: not running the handler: {stale}")
        return None
    if _user_handler is None:
        raise RuntimeError(f"recursectl: {HANDLER_ENV} is not set: redeploy with recursectl")
    if jobs and jobs._prepare_hop(chain, event, context) is None:
        return None  # a duplicate, a cancelled or paused job, a state refused: not run
    if isinstance(event, dict):
        event.pop(CONTEXT_KEY, None)  # the runtime's own fresh copy: no one else holds it
    try:
        result = _user_handler(event, context)
    except JobStop as stop:
        print(f"recursectl: {stop}")  # the hop ends here, on purpose: not a failure
        return None
    finally:
        chain.spend()
    current = _current_job
    if current is not None and current._chain is chain and not current._ended:
        current._fail(
            f"hop {current.seq} returned without job.continue_with(state) or job.done(result)"
        )
    return result


# long jobs (docs/jobs.md): the API lives in recursectl_job.py, loaded on first use --------------
_current_job: Any = None  # the job hop in progress (a recursectl_job.Job)
_job_module: Any = None
_dynamo_module: Any = None  # recursectl_dynamo.py, loaded on first use


class JobStop(Exception):
    """The hop ends here on purpose (the entry point ends it quietly: not a failure)."""


class JobFenced(JobStop):
    """This attempt lost its claim to a newer one: its checkpoints and continuations are refused."""


def _jobs() -> Any:
    """The job module (recursectl_job.py, next to this file), loaded the first time a job's
    hop runs: a plain guarded function never compiles it (half the source: ~6 ms a cold start).
    Loaded by path and handed this very module, so a copy of the helper gets its own."""
    global _job_module
    if _job_module is None:
        _job_module = _sibling(JOB_MODULE, "job")
    return _job_module


def _dynamo() -> Any:
    """The helper's own DynamoDB client (recursectl_dynamo.py, next to this file), loaded on
    the first count or job write: its ~11 KB would cost every cold start ~1.4 ms to compile
    (Lambda's read-only task root keeps no .pyc), a function without a counter nothing."""
    global _dynamo_module
    if _dynamo_module is None:
        _dynamo_module = _sibling(DYNAMO_MODULE, "dynamo")
    return _dynamo_module


def _sibling(module_name: str, suffix: str) -> Any:
    """A module packaged next to this file, loaded by path and handed this very module (`_c`),
    so a copy of the helper loaded under another name gets its own."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{module_name}.py")
    name = module_name if __name__ == HELPER_MODULE else f"{__name__}__{suffix}"
    loaded = sys.modules.get(name)  # imported by the user's code first
    if loaded is not None and getattr(loaded, "_c", None) is sys.modules[__name__]:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"recursectl: {path} is missing: redeploy with recursectl")
    module = importlib.util.module_from_spec(spec)
    module._c = sys.modules[__name__]  # this module, as the runtime imported it
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def job(event: Any, context: Any) -> Any:
    """This hop of the job (a root event starts one): see docs/jobs.md."""
    return _jobs().job(event, context)


def _own_failure_record(event: Any) -> bool:
    """Whether `event` is an on-failure destination record of this very function."""
    if not isinstance(event, dict) or not isinstance(event.get("requestPayload"), dict):
        return False
    request = event.get("requestContext")
    if not isinstance(request, dict) or request.get("condition") == "Success":
        return False
    parts = str(request.get("functionArn") or "").split(":")
    return len(parts) >= 7 and parts[5] == "function" and parts[6] == _IDENTITY[0]


# interception -------------------------------------------------------------------------------
def _guarded_make_api_call(client: Any, operation: str, params: Any) -> Any:
    """BaseClient._make_api_call, with this function's self-invokes guarded."""
    key = _INVOKE_OPS.get(operation)
    chain = _active
    if (
        key is None
        or chain is None
        or params.get("InvocationType") == "DryRun"  # validates only: no child
        or client.meta.service_model.service_name != "lambda"
        or not _targets_self(client, params.get("FunctionName"))
    ):
        return _original(client, operation, params)
    _hook_retries(client)
    return chain._invoke(client, operation, key, params)


def _read_identity() -> tuple[str, str, str]:
    """(name, region, account) of this function; account '' when unknown."""
    parts = os.environ.get(SELF_ARN_ENV, "").split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[5] == "function":
        return parts[6], parts[3], parts[4]
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""), os.environ.get("AWS_REGION", ""), ""


def _targets_self(client: Any, function: Any) -> bool:
    """Whether FunctionName names this function, in any of the forms Lambda accepts."""
    name, region, account = _IDENTITY
    if not name or not isinstance(function, str):
        return False
    parts = function.split(":")
    if parts[0] == "arn":  # arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
        return (
            len(parts) in (7, 8)
            and parts[5] == "function"
            and parts[6] == name
            and parts[3] == region
            and parts[4] == (account or parts[4])
        )
    # The other forms name a function in the client's own region.
    if region and (client.meta.region_name or region) != region:
        return False
    if len(parts) in (3, 4) and parts[1] == "function":  # ACCOUNT:function:NAME[:QUALIFIER]
        return parts[2] == name and parts[0] == (account or parts[0])
    return len(parts) in (1, 2) and parts[0] == name  # NAME[:QUALIFIER]


_IDENTITY = _read_identity()


class _Veto(Exception):
    """Raised from needs-retry to stop botocore retrying an ambiguous self-invoke."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


def _no_ambiguous_retry(
    response: Any = None, caught_exception: Any = None, operation: Any = None, **_: Any
) -> None:
    """needs-retry hook: a self-invoke that may have reached Lambda is never re-sent.

    botocore's default retries (legacy mode: 5 attempts; standard: 3) re-send an Invoke after
    a read timeout, a dropped connection or a 5xx, any of which may follow an accepted Event
    invoke: the retry would start a second child with the same context, a forked chain.
    Throttles and connections that never opened are safe to retry and left to botocore.
    """
    if not getattr(_local, "self_invoke", False):
        return
    from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

    if caught_exception is not None:
        if not isinstance(caught_exception, (EndpointConnectionError, ConnectTimeoutError)):
            raise _Veto(caught_exception)
        return
    if response is None:
        return
    http, parsed = response
    code = (parsed.get("Error") or {}).get("Code")
    if http.status_code >= 500 and code not in _THROTTLED:
        raise _Veto(ClientError(parsed, operation.name))


def _hook_retries(client: Any) -> None:
    events = client.meta.events
    if getattr(events, "_recursectl_hooked", False):
        return
    # register_first: before botocore's own retry handler, which would decide to retry.
    events.register_first("needs-retry.lambda", _no_ambiguous_retry, unique_id="recursectl-veto")
    events._recursectl_hooked = True


def _patch(module: Any) -> None:
    """Put the guard on module.BaseClient (botocore.client), once; a newer copy replaces ours."""
    global _original
    base = module.BaseClient
    current = base.__dict__["_make_api_call"]
    while hasattr(current, "_recursectl_original"):  # another copy of this helper's guard
        current = current._recursectl_original
    _original = current
    _guarded_make_api_call._recursectl_original = current  # type: ignore[attr-defined]
    base._make_api_call = _guarded_make_api_call


def _patch_now() -> None:
    import botocore.client

    if botocore.client.BaseClient.__dict__["_make_api_call"] is not _guarded_make_api_call:
        _patch(botocore.client)


class _PatchOnImport:
    """A meta-path finder that patches botocore.client as soon as something imports it.

    Importing botocore ourselves would cost a handler that never uses it ~100 ms of cold
    start; patching after the user's import would miss a handler that imports boto3 lazily.
    """

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "botocore.client":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = None if finder is self or find is None else find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = getattr(spec.loader, "exec_module", None)
        if exec_module is not None:

            def exec_and_patch(module: Any) -> None:
                exec_module(module)
                _patch(module)

            spec.loader.exec_module = exec_and_patch  # this module's own loader instance
        return spec


def _install() -> None:
    """Guard every botocore client: now if botocore is loaded, else the moment it is."""
    client_module = sys.modules.get("botocore.client")
    if client_module is not None:
        if client_module.BaseClient.__dict__["_make_api_call"] is not _guarded_make_api_call:
            _patch(client_module)
    elif not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


# the user's handler, loaded during init -----------------------------------------------------
def _fault_class() -> Any:
    """awslambdaric's FaultException (the runtime that imports us), or None."""
    for name in ("awslambdaric.lambda_runtime_exception", "lambda_runtime_exception"):
        module = sys.modules.get(name)
        if module is None and name.startswith("awslambdaric"):
            try:
                module = importlib.import_module(name)
            except ImportError:
                module = None
        if module is not None and hasattr(module, "FaultException"):
            return module.FaultException
    return None


def _fault(error_type: str, message: str, trace: list[str] | None = None) -> Exception:
    """The runtime's own init error.

    A FaultException raised while the runtime imports this module reaches its init-error path
    unchanged (it is neither ImportError nor SyntaxError), so errorType, errorMessage and
    stackTrace are exactly what the runtime reports for the user's module itself. Without
    awslambdaric, a runtime reports an unknown init exception by its class name and message.
    """
    fault_class = _fault_class()
    if fault_class is not None:
        fault: Exception = fault_class(error_type, message, trace)
        return fault
    fallback: type[Exception] = type(error_type, (Exception,), {})
    return fallback(message)


def _load(spec: str) -> Callable[[Any, Any], Any]:
    """Resolve `module.function` as awslambdaric's bootstrap does, with its errors."""
    try:
        modname, fname = spec.rsplit(".", 1)
    except ValueError as e:
        raise _fault("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {e}") from None
    if modname.split(".")[0] in sys.builtin_module_names:
        raise _fault(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {modname} as a handler module",
        )
    if modname.replace("/", ".") == HELPER_MODULE:
        raise _fault(
            "Runtime.HandlerNotFound", f"{HANDLER_ENV}={spec} names recursectl's own entry point"
        )
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise _fault(
            "Runtime.ImportModuleError", f"Unable to import module '{modname}': {e}"
        ) from None
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise _fault(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {e}", trace
        ) from None
    except Exception as e:
        # As the runtime reports any other import-time exception: its type, message, and the
        # traceback from importlib on (our own frame dropped).
        if _fault_class() is None:
            raise
        # 4-tuples, as the runtime formats them (FrameSummary objects would add ^^^ lines).
        tb = traceback.extract_tb(e.__traceback__)
        frames = [(f.filename, f.lineno or 0, f.name, f.line) for f in tb]
        raise _fault(type(e).__name__, str(e), traceback.format_list(frames[1:])) from None
    try:
        function: Callable[[Any, Any], Any] = getattr(module, fname)
    except AttributeError:
        raise _fault(
            "Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'"
        ) from None
    return function


_install()
if os.environ.get("_HANDLER", ENTRY_POINT) == ENTRY_POINT:  # we are the function's Handler
    if os.environ.get(HANDLER_ENV):
        _user_handler = _load(os.environ[HANDLER_ENV])
    elif "_HANDLER" in os.environ:
        raise _fault(
            "Runtime.HandlerNotFound",
            f"The Handler is {ENTRY_POINT} but {HANDLER_ENV} (the handler it runs) is not set: "
            "redeploy with recursectl deploy",
        )
