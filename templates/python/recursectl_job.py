"""recursectl's long jobs (docs/jobs.md): the job API of the chain helper, packaged next to it
(recursectl_chain.py) by `recursectl deploy` and loaded by it only when a hop of a job runs or
a handler calls `recursectl_chain.job()`, so that a plain guarded function never compiles it
(Lambda's task root is read-only: no .pyc is ever kept, each cold start compiles the source).

Not imported by your code: use `recursectl_chain.job(event, context)`. The helper hands this
module itself as `_c` before running it (a copy loaded under another name in tests too).
"""

from __future__ import annotations

import json
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_c: Any = globals().get("_c")  # the helper, handed over by its loader
if _c is None:  # imported by name
    import recursectl_chain as _c

# The helper's names (constants: read once).
Chain = _c.Chain
ChainRefused = _c.ChainRefused
ChainStopped = _c.ChainStopped
JobStop = _c.JobStop
JobFenced = _c.JobFenced
CONTEXT_KEY = _c.CONTEXT_KEY
COUNTER_TABLE_ENV = _c.COUNTER_TABLE_ENV
ENTRY_POINT = _c.ENTRY_POINT
EV_CHECKPOINT = _c.EV_CHECKPOINT
EV_CHILD = _c.EV_CHILD
EV_DUPLICATE = _c.EV_DUPLICATE
EV_JOB = _c.EV_JOB
JOB_BOUNDS_ENV = _c.JOB_BOUNDS_ENV
JOB_BUCKET_ENV = _c.JOB_BUCKET_ENV
JOB_INLINE_CHECKPOINT = _c.JOB_INLINE_CHECKPOINT
JOB_INLINE_PAYLOAD = _c.JOB_INLINE_PAYLOAD
JOB_KEY = _c.JOB_KEY
JOB_MARGIN_ENV = _c.JOB_MARGIN_ENV
JOB_MAX_ATTEMPTS = _c.JOB_MAX_ATTEMPTS
JOB_RECORD_PREFIX = _c.JOB_RECORD_PREFIX
JOB_STATE_PREFIX = _c.JOB_STATE_PREFIX
JOB_STATE_TTL_DAYS = _c.JOB_STATE_TTL_DAYS
DEFAULT_JOB_MAX_HOPS = _c.DEFAULT_JOB_MAX_HOPS
DEFAULT_JOB_MAX_SECONDS = _c.DEFAULT_JOB_MAX_SECONDS
VERSION = _c.VERSION
_COUNTER_TABLE = _c._COUNTER_TABLE
_GENERATION = _c._GENERATION
_SELF_ARN = _c._SELF_ARN
_compact = _c._compact
_cost = _c._cost
_emit = _c._emit
_env_int = _c._env_int
_error_status = _c._error_status
_int = _c._int
_own_failure_record = _c._own_failure_record
_counter_client = _c._counter_client
_lambda_client = _c._lambda_client
_patch_now = _c._patch_now
_hook_retries = _c._hook_retries
_send_counted = _c._send_counted
_JOB_BUCKET = os.environ.get(JOB_BUCKET_ENV, "")
_FUNCTION = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or _SELF_ARN.rsplit(":", 1)[-1]
_s3: Any = None  # the job bucket's S3 client: created on first use


class _StateLost(Exception):
    """The hop's state cannot be had (changed, gone): the job fails, no retry can help."""


def _s3_client() -> Any:
    global _s3
    if _s3 is None:
        import boto3
        from botocore.config import Config

        _s3 = boto3.client(
            "s3", config=Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard"})
        )
    return _s3


def _canonical(state: Any) -> str:
    """The state's canonical JSON (its SHA-256 names a spilled object); TypeError/ValueError."""
    return json.dumps(state, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _now_ms() -> int:
    return int(time.time() * 1000)  # display only: never compared across hops


def _s(text: str) -> dict[str, str]:
    return {"S": text}


def _n(value: float) -> dict[str, str]:
    return {"N": str(value)}


def _attr_json(item: dict[str, Any], name: str) -> Any:
    raw = (item.get(name) or {}).get("S")
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _attr_int(item: dict[str, Any], name: str, default: int = 0) -> int:
    return _int((item.get(name) or {}).get("N"), default)


def _bounds(declared: Any) -> dict[str, Any]:
    """The function's bounds (RECURSECTL_JOB_BOUNDS), lowered (never raised) by `declared`."""
    try:
        env = json.loads(os.environ.get(JOB_BOUNDS_ENV) or "{}")
    except ValueError:
        env = {}
    env = env if isinstance(env, dict) else {}
    bounds: dict[str, Any] = {
        "max_hops": max(1, _int(env.get("max_hops"), DEFAULT_JOB_MAX_HOPS)),
        "max_seconds": max(1, _int(env.get("max_seconds"), DEFAULT_JOB_MAX_SECONDS)),
        "max_cost": _cost(env.get("max_cost")),
    }
    if isinstance(declared, dict):
        for name in ("max_hops", "max_seconds"):
            value = _int(declared.get(name), 0)
            if value >= 1:
                bounds[name] = min(bounds[name], value)
        cost = _cost(declared.get("max_cost"))
        if cost is not None:
            bounds["max_cost"] = (
                cost if bounds["max_cost"] is None else min(bounds["max_cost"], cost)
            )
    return bounds


def _ddb_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _table_error(action: str, exc: BaseException) -> RuntimeError:
    return RuntimeError(
        f"recursectl: the job's table ({COUNTER_TABLE_ENV}={_COUNTER_TABLE}) refused "
        f"dynamodb:{action}: {_ddb_error(exc)}"
    )


def _condition_failed(exc: BaseException) -> dict[str, Any] | None:
    """The item's old value when `exc` is a failed condition (else None: a real error)."""
    if _error_status(exc)[0] != "ConditionalCheckFailedException":
        return None
    return dict((getattr(exc, "response", None) or {}).get("Item") or {})


def _update(
    key: str,
    expression: str,
    condition: str | None,
    names: Any,
    values: Any,
    returns: str = "ALL_NEW",
) -> Any:
    params: dict[str, Any] = {
        "TableName": _COUNTER_TABLE,
        "Key": {"chain": _s(key)},
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ReturnValues": returns,
    }
    if values:
        params["ExpressionAttributeValues"] = values
    if condition:
        params["ConditionExpression"] = condition
        params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return _counter_client().update_item(**params).get("Attributes") or {}


def _s3_error(action: str, bucket: str, key: str, exc: BaseException) -> RuntimeError:
    code, status = _error_status(exc)
    resource = f"arn:aws:s3:::{bucket}/{key}"
    if code == "NoSuchBucket":
        why = (
            f"the job bucket {bucket} does not exist ({action} on {resource}; "
            f"{JOB_BUCKET_ENV}: redeploy to create it)"
        )
    elif code in ("AccessDenied", "Forbidden") or status == 403:
        why = f"{action} on {resource} was denied: the function's role needs {action} on it"
    else:
        why = f"{action} on {resource} failed: {_ddb_error(exc)}"
    return RuntimeError(f"recursectl: {why}; no hop runs without its state")


def _spill(text: str) -> dict[str, Any]:
    """Put the state in the job bucket (content-addressed, gzip, SSE); its `ref`."""
    import gzip
    import hashlib

    raw = text.encode()
    if not _JOB_BUCKET:
        raise RuntimeError(
            f"recursectl: a state of {len(raw)} bytes is too big to carry and {JOB_BUCKET_ENV} "
            "is not set: declare [job] in recursectl.toml and deploy (it creates the bucket)"
        )
    sha = hashlib.sha256(raw).hexdigest()
    key = f"{JOB_STATE_PREFIX}{_FUNCTION}/state/{sha}.json.gz"
    try:
        _s3_client().put_object(
            Bucket=_JOB_BUCKET,
            Key=key,
            Body=gzip.compress(raw, compresslevel=6, mtime=0),
            ContentType="application/json",
            ServerSideEncryption="AES256",
        )
    except Exception as exc:
        raise _s3_error("s3:PutObject", _JOB_BUCKET, key, exc) from None
    return {"bucket": _JOB_BUCKET, "key": key, "sha256": sha, "bytes": len(raw)}


def _load_ref(ref: Any) -> Any:
    """The spilled state `ref` names, its SHA-256 checked; _StateLost or RuntimeError."""
    import gzip
    import hashlib

    if not isinstance(ref, dict) or not all(
        isinstance(ref.get(k), str) for k in ("bucket", "key", "sha256")
    ):
        raise _StateLost(f"the state reference {ref!r} is malformed")
    bucket, key, sha = ref["bucket"], ref["key"], ref["sha256"]
    if not key.startswith(f"{JOB_STATE_PREFIX}{_FUNCTION}/"):
        raise _StateLost(f"the state object s3://{bucket}/{key} is not this function's")
    try:
        body = _s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if _error_status(exc)[0] == "NoSuchKey":
            raise _StateLost(
                f"the state object s3://{bucket}/{key} is gone (expired or deleted)"
            ) from None
        raise _s3_error("s3:GetObject", bucket, key, exc) from None
    try:
        raw = gzip.decompress(body)
    except (OSError, EOFError):
        raw = body
    got = hashlib.sha256(raw).hexdigest()
    if got != sha:
        raise _StateLost(
            f"state object changed: s3://{bucket}/{key} has SHA-256 {got}, the job wrote {sha}; "
            "refused"
        )
    return json.loads(raw)


class Job:
    """One hop of a long job (docs/jobs.md): its state, and the calls that carry it on."""

    def __init__(
        self,
        chain: Chain,
        context: Any,
        job_id: str,
        seq: int,
        attempt: int,
        state: Any,
        input_: Any,
        bounds: dict[str, Any],
        run_ms: int = 0,
    ) -> None:
        self._chain = chain
        self._context = context
        self.id = job_id
        self.seq = seq
        self.attempt = attempt
        self.state = state
        self.input = input_
        self.bounds = bounds
        self._run_ms = run_ms  # the job's hops so far, each by its own monotonic clock
        self._started = time.monotonic()
        self._ended = False
        self._status = "running"
        # The last state this hop spilled, and its ref: a checkpoint and then continue_with of
        # the same state put the object once (content-addressed: same bytes, same key). Only
        # this hop's own puts count: a re-put of a state loaded from S3 renews its expiry.
        self._spilled: tuple[str, dict[str, Any]] | None = None
        margin = _env_int(JOB_MARGIN_ENV, 0)
        if margin <= 0:  # 20 % of the hop's time, within [0.5 s, 30 s]
            margin = min(30_000, max(500, self.remaining_ms() // 5))
        self.margin_ms = margin
        chain.count_key = JOB_RECORD_PREFIX + job_id  # the job's budget lives on its record
        chain.count_ttl = False
        chain.max_invocations = max(chain.max_invocations, bounds["max_hops"] + 1)
        if bounds.get("max_cost") is not None:
            cap = bounds["max_cost"]
            chain.max_cost = cap if chain.max_cost is None else min(chain.max_cost, cap)

    def _mark(self, ev: str, **fields: Any) -> None:
        self._chain._mark(ev, job=self.id, seq=self.seq, **fields)

    def remaining_ms(self) -> int:
        """What is left of this hop's time (context.get_remaining_time_in_millis())."""
        get = getattr(self._context, "get_remaining_time_in_millis", None)
        return int(get()) if callable(get) else 900_000

    def should_continue(self) -> bool:
        """True while the hop has more than its margin left and the job may go on."""
        return (
            not self._ended
            and self._status == "running"
            and self._chain.generation >= _GENERATION
            and self.remaining_ms() > self.margin_ms
        )

    def _hop_ms(self) -> int:
        return int((time.monotonic() - self._started) * 1000)

    def _serialize(self, state: Any) -> str:
        try:
            return _canonical(state)
        except (TypeError, ValueError) as exc:
            self._fail(f"the state cannot be serialized to JSON: {exc}")
            raise JobStop(
                f"job {self.id} failed at hop {self.seq}: the state cannot be serialized to JSON "
                f"({exc}); its last good checkpoint is kept"
            ) from None

    def _write(self, sets: dict[str, Any], add_run: bool = False, count: bool = False) -> int:
        """One fenced update of the job's record (this attempt must still hold the job).

        Conditional on `running`; a job cancelled or paused meanwhile is written once more
        under that status (the hop's progress is kept), which `should_continue` then sees.
        `count`: the same write counts the next hop on the job's budget (the record holds the
        job's counter: docs/jobs.md), returning its share; a budget or cost cap that refuses
        it raises ChainRefused and writes nothing. Else 0. Nothing else is read back (a
        checkpoint holds up to 64 KB).
        """
        names = {"#seq": "seq", "#att": "attempt", "#st": "status"}
        values: dict[str, Any] = {":seq": _n(self.seq), ":att": _n(self.attempt)}
        parts = []
        for i, (name, value) in enumerate(sets.items()):
            names[f"#f{i}"] = name
            values[f":v{i}"] = value
            parts.append(f"#f{i} = :v{i}")
        expression = "SET " + ", ".join(parts)
        adds = []
        if add_run:
            names["#run"] = "run_ms"
            values[":run"] = _n(self._hop_ms())
            adds.append("#run :run")
        fence = "#seq = :seq AND #att = :att AND #st = :st"
        status = "running"
        old: dict[str, Any] = {}
        for _ in range(2):
            values[":st"] = _s(status)
            update, condition, more_names, more_values = expression, fence, {}, {}
            counting = count and status == "running"  # a cancelled job's hop has no next
            if counting:
                budget, more_names, more_values = self._chain._budget()
                condition += " AND " + budget
            if adds or counting:
                update += " ADD " + ", ".join(adds + (["#n :one"] if counting else []))
            try:
                got = _update(
                    JOB_RECORD_PREFIX + self.id,
                    update,
                    condition,
                    {**names, **more_names},
                    {**values, **more_values},
                    returns="UPDATED_NEW" if counting else "NONE",
                )
                self._status = status
                return self._chain._share(got) if counting else 0
            except Exception as exc:
                found = _condition_failed(exc)
                if found is None:  # the hop fails: its retry writes again
                    raise _table_error("UpdateItem", exc) from None
                old = found
            now = (old.get("status") or {}).get("S")
            ours = (_attr_int(old, "seq"), _attr_int(old, "attempt")) == (self.seq, self.attempt)
            if counting and ours and now == "running":
                raise self._chain._refused(old)  # the fence held: the budget refused
            if not (ours and now in ("cancelled", "paused") and now != status):
                break
            status = str(now)
        seq, attempt = _attr_int(old, "seq"), _attr_int(old, "attempt")
        self._ended = True
        raise JobFenced(
            f"job {self.id}: hop {self.seq} attempt {self.attempt} no longer holds the job "
            f"(now hop {seq} attempt {attempt}, {(old.get('status') or {}).get('S')}): its "
            "writes are refused"
        )

    def _spill(self, text: str) -> dict[str, Any]:
        if self._spilled is None or self._spilled[0] != text:
            self._spilled = (text, _spill(text))
        return self._spilled[1]

    def _checkpoint_value(self, text: str, ref: dict[str, Any] | None) -> tuple[str, bool]:
        """The record's `checkpoint` (compact JSON) and whether the state is spilled."""
        if len(text) <= JOB_INLINE_CHECKPOINT:
            return f'{{"seq":{self.seq},"state":{text}}}', False
        ref = ref or self._spill(text)
        return _compact({"seq": self.seq, "ref": ref}), True

    def checkpoint(self, state: Any, progress: Any = None) -> None:
        """Save `state` as the job's latest checkpoint (what a retry starts from)."""
        if self._ended:
            raise JobStop(f"job {self.id}: hop {self.seq} has ended; no more checkpoints")
        text = self._serialize(state)
        value, spilled = self._checkpoint_value(text, None)
        sets: dict[str, Any] = {"checkpoint": _s(value), "updated_ms": _n(_now_ms())}
        if progress is not None:
            try:
                sets["progress"] = _s(_compact(progress))
            except (TypeError, ValueError):
                progress = None
        self._write(sets)
        self.state = state
        self._mark(EV_CHECKPOINT, progress=progress, bytes=len(text), spilled=spilled)

    def _claim_done(self) -> None:
        try:
            _update(
                f"{JOB_RECORD_PREFIX}{self.id}#{self.seq}",
                "SET #st = :done",
                "#owner = :owner AND #att = :att",
                {"#st": "status", "#owner": "owner", "#att": "attempt"},
                {
                    ":done": _s("done"),
                    ":owner": _s(self._chain.request_id),
                    ":att": _n(self.attempt),
                },
                returns="NONE",
            )
        except Exception as exc:
            print(f"recursectl: job {self.id}: hop {self.seq}'s claim was not marked done: {exc}")

    def _end(self, status: str, error: str | None = None) -> None:
        self._ended = True
        fields = {"status": status}
        if error:
            fields["error"] = error[:1000]
        self._mark(EV_JOB, **fields)

    def _fail(self, error: str, sets: dict[str, Any] | None = None) -> None:
        """The job is `failed` (its checkpoint kept, or `sets`' written with it); its hop's
        claim stays for a resume."""
        print(f"recursectl: job {self.id} failed at hop {self.seq}: {error}")
        failed = {"status": _s("failed"), "error": _s(error[:1000]), "updated_ms": _n(_now_ms())}
        try:
            self._write({**(sets or {}), **failed}, add_run=not self._ended)
        except JobFenced:
            return
        self._end("failed", error)

    def continue_with(self, state: Any) -> dict[str, Any]:
        """Checkpoint `state`, then invoke the next hop (seq + 1) with it."""
        if self._ended:
            raise JobStop(f"job {self.id}: hop {self.seq} has already ended")
        text = self._serialize(state)
        nxt = self.seq + 1
        run_ms = self._run_ms + self._hop_ms()
        refused = None
        if nxt >= self.bounds["max_hops"]:
            refused = f"max_hops reached: the job may run {self.bounds['max_hops']} hops"
        elif run_ms > self.bounds["max_seconds"] * 1000:
            refused = f"max_seconds reached: the job's hops ran {run_ms / 1000:.0f} s"
        if refused:
            self._fail(f"not continuing: {refused} (RECURSECTL_JOB_BOUNDS / invoke --max-hops)")
            return {"job": self.id, "seq": self.seq, "continued": False, "status": "failed"}
        event = dict(self.input) if isinstance(self.input, dict) else {}
        job_ctx: dict[str, Any] = {
            "id": self.id,
            "seq": nxt,
            "attempt": 1,
            "bounds": self.bounds,
        }
        ref = None
        size = len(_compact(event)) + len(text) + 1024  # the context's other fields: < 1 KB
        if size > JOB_INLINE_PAYLOAD:
            ref = self._spill(text)
            job_ctx["ref"] = ref
        value, spilled = self._checkpoint_value(text, ref)
        # `next`: the hand-over is in this write; a retry of this hop finds it and sends the
        # next hop again instead of running the handler on the handed state (exactly once).
        sets = {"checkpoint": _s(value), "next": _n(nxt), "updated_ms": _n(_now_ms())}
        chain = self._chain
        # One write: the checkpoint, fenced, and the next hop counted on the job's budget (a
        # stale chain is not counted: _continue refuses it as before).
        count = chain.counted and chain.generation >= _GENERATION
        try:
            share = self._write(sets, add_run=True, count=count)
        except ChainRefused as exc:  # nothing written: the checkpoint goes with the failure
            self._mark(EV_CHECKPOINT, progress=None, bytes=len(text), spilled=spilled)
            self._fail(f"the next hop was refused: {exc}", sets)
            return {"job": self.id, "seq": self.seq, "continued": False, "status": "failed"}
        self.state = state
        self._mark(EV_CHECKPOINT, progress=None, bytes=len(text), spilled=spilled)
        if self._status == "cancelled":
            self._end("cancelled")
            self._claim_done()
            return {"job": self.id, "seq": self.seq, "continued": False, "status": "cancelled"}
        if ref is None:
            job_ctx["state"] = json.loads(text)
        try:
            _continue(chain, event, job_ctx, share or None)
        except ChainRefused as exc:
            self._fail(f"the next hop was refused: {exc}")
            return {"job": self.id, "seq": self.seq, "continued": False, "status": "failed"}
        self._ended = True
        self._claim_done()
        return {"job": self.id, "seq": nxt, "continued": True}

    def done(self, result: Any = None) -> Any:
        """The job is `done`; returns `result` (kept in the record when small)."""
        if self._ended:
            raise JobStop(f"job {self.id}: hop {self.seq} has already ended")
        sets: dict[str, Any] = {"status": _s("done"), "updated_ms": _n(_now_ms())}
        try:
            text = _compact(result)
            if len(text) <= JOB_INLINE_CHECKPOINT:
                sets["result"] = _s(text)
        except (TypeError, ValueError):
            pass
        self._write(sets, add_run=True)
        self._end("done")
        self._claim_done()
        return result


def _job_ids(job_ctx: dict[str, Any]) -> tuple[str, int, int]:
    return (
        str(job_ctx["id"]),
        max(0, _int(job_ctx.get("seq"), 0)),
        max(1, _int(job_ctx.get("attempt"), 1)),
    )


def _claim(chain: Chain, job_id: str, seq: int, attempt: int) -> bool:
    """Claim hop `seq` for this delivery (a retry takes an older attempt's claim over).

    False, with a `duplicate` marker, when another delivery holds it or it is done.
    """
    try:
        _update(
            f"{JOB_RECORD_PREFIX}{job_id}#{seq}",
            "SET #owner = :owner, #att = :att, #st = :claimed, #e = :ttl",
            "attribute_not_exists(#owner) OR (#att < :att AND #st <> :done)",
            {"#owner": "owner", "#att": "attempt", "#st": "status", "#e": "expires"},
            {
                ":owner": _s(chain.request_id),
                ":att": _n(attempt),
                ":claimed": _s("claimed"),
                ":done": _s("done"),
                ":ttl": _n(int(time.time()) + JOB_STATE_TTL_DAYS * 24 * 3600),
            },
            returns="NONE",
        )
        return True
    except Exception as exc:
        old = _condition_failed(exc)
        if old is None:
            raise _table_error("UpdateItem", exc) from None
    owner = (old.get("owner") or {}).get("S")
    chain._mark(EV_DUPLICATE, job=job_id, seq=seq, owner=owner)
    print(
        f"recursectl: job {job_id} hop {seq} attempt {attempt} is a duplicate delivery "
        f"(claimed by {owner}): not run"
    )
    return False


def _record_state(item: dict[str, Any], fallback: Any) -> Any:
    """The state in the record's checkpoint (inline or spilled), else `fallback`."""
    checkpoint = _attr_json(item, "checkpoint")
    if not isinstance(checkpoint, dict):
        return fallback
    if "ref" in checkpoint:
        return _load_ref(checkpoint["ref"])
    return checkpoint.get("state")


def _set_status(chain: Any, job_id: str, seq: int, status: str, error: str | None) -> None:
    """Set a running job's status from outside a hop (paused, failed by retries)."""
    sets = "SET #st = :to, #u = :now" + (", #err = :err" if error else "")
    names = {"#st": "status", "#u": "updated_ms", **({"#err": "error"} if error else {})}
    values = {":to": _s(status), ":now": _n(_now_ms()), ":running": _s("running")}
    if error:
        values[":err"] = _s(error[:1000])
    try:
        _update(JOB_RECORD_PREFIX + job_id, sets, "#st = :running", names, values, "NONE")
    except Exception as exc:
        if _condition_failed(exc) is None:
            raise _table_error("UpdateItem", exc) from None
        return  # not running (done, cancelled, already paused or failed): left as it is
    fields = {"status": status, **({"error": error[:1000]} if error else {})}
    chain._mark(EV_JOB, job=job_id, seq=seq, **fields)


class _Marks:
    """Markers of an invocation that has no Chain yet (a failure record being read)."""

    def __init__(self, chain_id: str, request_id: str) -> None:
        self.chain_id, self.request_id = chain_id, request_id

    def _mark(self, ev: str, **fields: Any) -> None:
        _emit({"v": VERSION, "ev": ev, "chain": self.chain_id, "req": self.request_id, **fields})


def _pause(chain: Chain, job_ctx: dict[str, Any]) -> bool:
    """A stopped job's next hop: the job is `paused` (state kept) and the hop does not run
    (True). False: the job was resumed since the stop (its record's `gen` is the function's
    current one), so the hop, held back by the stop's concurrency 0 until now, goes on."""
    job_id, seq, _ = _job_ids(job_ctx)
    try:
        _update(
            JOB_RECORD_PREFIX + job_id,
            "SET #st = :paused, #u = :now",
            "#st = :running AND (attribute_not_exists(#gen) OR #gen < :current)",
            {"#st": "status", "#u": "updated_ms", "#gen": "gen"},
            {
                ":paused": _s("paused"),
                ":now": _n(_now_ms()),
                ":running": _s("running"),
                ":current": _n(_GENERATION),
            },
            "NONE",
        )
    except Exception as exc:
        old = _condition_failed(exc)
        if old is None:
            raise _table_error("UpdateItem", exc) from None
        status = (old.get("status") or {}).get("S")
        return not (status == "running" and _attr_int(old, "gen") >= _GENERATION)
    chain._mark(EV_JOB, job=job_id, seq=seq, status="paused")
    print(f"recursectl: job {job_id} paused before hop {seq} (`recursectl resume` continues it)")
    return True


def _prepare_hop(chain: Chain, event: dict[str, Any], context: Any) -> Job | None:
    """Claim a job's hop and load its state before the handler runs; None: do not run it."""
    job_ctx = chain.job_ctx or {}
    job_id, seq, attempt = _job_ids(job_ctx)
    if not _COUNTER_TABLE:
        raise RuntimeError(f"recursectl: a job's hop needs {COUNTER_TABLE_ENV}: redeploy")
    if not _claim(chain, job_id, seq, attempt):
        return None
    names = {"#seq": "seq", "#att": "attempt", "#st": "status", "#u": "updated_ms"}
    names.update({"#hops": "hops", "#chains": "chains"})
    try:
        item = _update(
            JOB_RECORD_PREFIX + job_id,
            "SET #seq = :seq, #att = :att, #u = :now ADD #hops :one, #chains :chain",
            # (seq, attempt) only grows: a retry of a hop the job has moved past is stale
            "#st = :running AND (attribute_not_exists(#seq) OR #seq < :seq"
            " OR (#seq = :seq AND #att < :att))",
            names,
            {
                ":seq": _n(seq),
                ":att": _n(attempt),
                ":now": _n(_now_ms()),
                ":one": _n(1),
                ":chain": {"SS": [chain.chain_id]},
                ":running": _s("running"),
            },
        )
    except Exception as exc:
        old = _condition_failed(exc)
        if old is None:
            raise _table_error("UpdateItem", exc) from None
        status = (old.get("status") or {}).get("S", "missing")
        if status == "cancelled":
            chain._mark(EV_JOB, job=job_id, seq=seq, status="cancelled")
        if status == "running":
            now = (_attr_int(old, "seq"), _attr_int(old, "attempt"))
            print(
                f"recursectl: job {job_id} hop {seq} attempt {attempt} is stale (the job is at "
                f"hop {now[0]} attempt {now[1]}): not run"
            )
        else:
            print(f"recursectl: job {job_id} is {status}: hop {seq} not run")
        return None
    bounds = _bounds(_attr_json(item, "bounds") or job_ctx.get("bounds"))
    input_ = {k: v for k, v in event.items() if k != CONTEXT_KEY}
    if attempt > 1 and not input_:
        input_ = _attr_json(item, "input") or {}
    if attempt > 1 and _attr_int(item, "next", -1) == seq + 1:
        _hand_over_again(chain, job_id, seq, attempt, item, input_, bounds)
        return None
    try:
        if attempt > 1:  # a retry (or a resume of a failed hop): from the job's checkpoint
            state = _record_state(item, job_ctx.get("state"))
        elif "ref" in job_ctx:
            state = _load_ref(job_ctx["ref"])
        else:
            state = job_ctx.get("state")
    except _StateLost as lost:
        job = Job(chain, context, job_id, seq, attempt, None, None, bounds)
        job._fail(str(lost))
        return None
    job = Job(
        chain, context, job_id, seq, attempt, state, input_, bounds, _attr_int(item, "run_ms")
    )
    _c._current_job = job
    return job


def _hand_over_again(
    chain: Chain,
    job_id: str,
    seq: int,
    attempt: int,
    item: dict[str, Any],
    input_: Any,
    bounds: dict[str, Any],
) -> None:
    """A retry of a hop that had handed over (its continuation's checkpoint, with `next`, was
    written) and died before its claim was marked done: its work is in the checkpoint, so
    the handler does not run again; the next hop is sent again instead, as its Invoke may
    not have happened (a copy it already has finds its claim taken and is dropped)."""
    checkpoint = _attr_json(item, "checkpoint")
    if not isinstance(checkpoint, dict):
        checkpoint = {}
    job_ctx: dict[str, Any] = {"id": job_id, "seq": seq + 1, "attempt": 1, "bounds": bounds}
    if "ref" in checkpoint:
        job_ctx["ref"] = checkpoint["ref"]
    else:
        job_ctx["state"] = checkpoint.get("state")
    print(
        f"recursectl: job {job_id} hop {seq} had handed over to hop {seq + 1} before it "
        f"failed: not run again; hop {seq + 1} is sent again"
    )
    share = chain._share(item) if "n" in item else 1  # counted with the hand-over already
    event = dict(input_) if isinstance(input_, dict) else {}
    _continue(chain, event, job_ctx, share)
    _update(
        f"{JOB_RECORD_PREFIX}{job_id}#{seq}",
        "SET #st = :done",
        "#owner = :owner AND #att = :att",
        {"#st": "status", "#owner": "owner", "#att": "attempt"},
        {":done": _s("done"), ":owner": _s(chain.request_id), ":att": _n(attempt)},
        returns="NONE",
    )


def _root_job(chain: Chain, event: Any, context: Any) -> Job:
    """The first hop of a new job: write the job's record, then claim seq 0.

    The record first: should the claim (or the hop) fail, the failure record's retry finds
    the job by it; a duplicate delivery finds both and stops at the claim.
    """
    job_ctx = chain.job_ctx or {}
    bounds = _bounds(job_ctx.get("bounds"))
    job_id = chain.request_id
    input_ = {k: v for k, v in event.items() if k != CONTEXT_KEY} if isinstance(event, dict) else {}
    now = _n(_now_ms())
    item: dict[str, Any] = {
        "chain": _s(JOB_RECORD_PREFIX + job_id),
        "status": _s("running"),
        "function": _s(_FUNCTION),
        "seq": _n(0),
        "attempt": _n(1),
        "hops": _n(1),
        "run_ms": _n(0),
        "started_ms": now,
        "updated_ms": now,
        "bounds": _s(_compact(bounds)),
        "gen": _n(chain.generation),
        "chains": {"SS": [chain.chain_id]},
    }
    try:
        text = _compact(input_)
        if len(text) <= JOB_INLINE_CHECKPOINT:
            item["input"] = _s(text)  # what a resume hands the hops it starts
    except (TypeError, ValueError):
        pass
    try:
        _counter_client().put_item(
            TableName=_COUNTER_TABLE,
            Item=item,
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": "chain"},
        )
    except Exception as exc:
        if _condition_failed(exc) is None:
            raise _table_error("PutItem", exc) from None
    if not _claim(chain, job_id, 0, 1):
        raise JobStop(f"job {job_id}: a duplicate delivery of its first hop: not run")
    job = Job(chain, context, job_id, 0, 1, job_ctx.get("state"), input_, bounds)
    _c._current_job = job
    return job


def job(event: Any, context: Any) -> Job:
    """This hop of the job (a root event starts one): see docs/jobs.md."""
    current = _c._current_job
    if current is not None and current._chain.request_id == getattr(
        context, "aws_request_id", None
    ):
        return current
    if not _COUNTER_TABLE:
        raise RuntimeError(
            f"recursectl: job() needs the job's table ({COUNTER_TABLE_ENV} is not set): "
            "deploy with recursectl, with a [job] table in recursectl.toml"
        )
    if _own_failure_record(event):
        raise RuntimeError(
            "recursectl: job() was handed an on-failure record: a job function's Handler must "
            f"be recursectl's entry point ({ENTRY_POINT}), which turns it into the retry"
        )
    chain = _c.begin(event, context)
    if chain.job_ctx and chain.job_ctx.get("id"):
        prepared = _prepare_hop(chain, event, context)  # called without the entry point
        if prepared is None:
            raise JobStop(f"job {chain.job_ctx['id']}: this hop is not run (see above)")
        return prepared
    return _root_job(chain, event, context)


def _failure_text(record: dict[str, Any]) -> str:
    request = record.get("requestContext") or {}
    response = record.get("responsePayload")
    if isinstance(response, dict) and response.get("errorMessage"):
        kind = response.get("errorType") or "Error"
        return f"{kind}: {response['errorMessage']}"[:500]
    return str(request.get("condition") or "failed")


def _unwrap(record: dict[str, Any]) -> tuple[Any, str, int]:
    """(the hop's own event, the first delivery's request id, how many attempts failed).

    A retry hop's event is the failure record it was started by, so the record of a failed
    retry holds that record as its payload: each level is one more failed attempt.
    """
    payload: Any = record["requestPayload"]
    request_id = str((record.get("requestContext") or {}).get("requestId") or "")
    failed = 1
    while _own_failure_record(payload) and failed <= JOB_MAX_ATTEMPTS:
        failed += 1
        request_id = str((payload.get("requestContext") or {}).get("requestId") or request_id)
        payload = payload["requestPayload"]
    return payload, request_id, failed


def _job_function() -> bool:
    return bool(_COUNTER_TABLE and (_JOB_BUCKET or os.environ.get(JOB_BOUNDS_ENV)))


def _retry_event(record: dict[str, Any], context: Any) -> Any:
    """The retry hop a failure record stands for (None: nothing to run). A record that is no
    job's goes to the handler unchanged, but in a job function (deploy's `[job]`), whose
    on-failure destination is itself, it is dropped: run, it could fail again, for ever."""
    payload, request_id, failed = _unwrap(record)
    raw_ctx = payload.get(CONTEXT_KEY) if isinstance(payload, dict) else None
    ctx: dict[str, Any] = raw_ctx if isinstance(raw_ctx, dict) else {}
    raw_job = ctx.get(JOB_KEY)
    job_ctx: dict[str, Any] = raw_job if isinstance(raw_job, dict) else {}
    if not job_ctx.get("id") and isinstance(payload, dict) and _COUNTER_TABLE and request_id:
        # The first hop (no id yet): a job's when the job's record exists.
        try:
            found = _counter_client().get_item(
                TableName=_COUNTER_TABLE,
                Key={"chain": _s(JOB_RECORD_PREFIX + request_id)},
                ConsistentRead=True,
            )
        except Exception as exc:
            raise _table_error("GetItem", exc) from None
        if "Item" in found:
            job_ctx = {**job_ctx, "id": request_id, "seq": 0, "attempt": 1}
    if not job_ctx.get("id"):
        if not _job_function():
            return record  # not a job function: its handler gets the record, as before
        print(
            f"recursectl: an on-failure record of request {request_id or 'unknown'}, no job's: "
            "dropped (a job function's failures come back to it; this one is not retried)"
        )
        return None
    job_id, seq, base = _job_ids(job_ctx)
    attempt = base + failed - 1  # the attempt that failed last
    error = _failure_text(record)
    chain_id = str(ctx.get("chain") or job_id)
    req = str(getattr(context, "aws_request_id", "") or "unknown")
    marker = _Marks(chain_id, req)
    if attempt + 1 > JOB_MAX_ATTEMPTS:
        why = f"hop {seq} failed {attempt} times (JOB_MAX_ATTEMPTS); the last: {error}"
        print(f"recursectl: job {job_id} failed: {why}; its checkpoint is kept")
        _set_status(marker, job_id, seq, "failed", why)
        return None
    marker._mark(EV_JOB, job=job_id, seq=seq, status="retry", error=error)
    print(f"recursectl: job {job_id} hop {seq} failed ({error}): attempt {attempt + 1}")
    retry_ctx = {k: v for k, v in ctx.items() if k != JOB_KEY}
    retry_ctx["chain"] = chain_id
    retry_ctx[JOB_KEY] = {
        "id": job_id,
        "seq": seq,
        "attempt": attempt + 1,
        **({"bounds": job_ctx["bounds"]} if "bounds" in job_ctx else {}),
    }
    return {**{k: v for k, v in payload.items() if k != CONTEXT_KEY}, CONTEXT_KEY: retry_ctx}


def _continue(
    chain: Chain, event: dict[str, Any], job_ctx: dict[str, Any], share: int | None = None
) -> str:
    """Invoke a job's next hop: a sequence step (depth 0 again), counted on the job (`share`:
    counted already, with the checkpoint)."""
    stale = chain._stale()
    if stale:
        raise ChainStopped(f"recursectl: not continuing the job: {stale}")
    if share is None:
        share = chain._count()
    event[CONTEXT_KEY] = {
        "chain": chain.chain_id,
        "parent": chain.request_id,
        "depth": 0,
        "gen": chain.generation,
        "budget": share,
        **({"split": chain.split} if chain.split is not None else {}),
        **({"max_cost": chain.max_cost} if chain.max_cost is not None else {}),
        JOB_KEY: job_ctx,
    }
    client = _lambda_client()
    _patch_now()
    _hook_retries(client)
    params = {
        "FunctionName": chain.self_arn,
        "InvocationType": "Event",
        "Payload": _compact(event).encode(),
    }
    response = _send_counted(chain, client, "Invoke", params, share)
    child = str(response["ResponseMetadata"]["RequestId"])
    body = response.get("Payload")
    if body is not None:
        body.read()
    with chain._lock:
        chain.children.append(child)
    chain._mark(
        EV_CHILD,
        child=child,
        depth=0,
        budget=share,
        job=job_ctx["id"],
        seq=job_ctx["seq"],
        attempt=1,
    )
    return child
