"""Operating a function's long jobs (docs/jobs.md): list, show, cancel, resume.

The records live on the function's counter table (aws/jobs.py reads and updates them); a
resume invokes the function with the job's context, after one conditional update that moves
the job from paused/failed to running (so two resumes never both run it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from recursectl import protocol
from recursectl.errors import EXIT_USAGE, ConflictError, NotFoundError, StoppedError, UsageError

if TYPE_CHECKING:
    from recursectl.aws import Aws, FunctionView
    from recursectl.aws.jobs import JobRecord

RESUMABLE = ("paused", "failed")
CANCELLABLE = ("running", "paused", "failed")


def job_table(fn: FunctionView) -> str:
    """The counter table holding the function's jobs; UsageError for a function without one."""
    table = fn.env.get(protocol.COUNTER_TABLE_ENV)
    if not table:
        raise UsageError(
            f"{fn.name} has no chain counter table, so it keeps no job records.",
            hint=f"redeploy it with a [job] table in recursectl.toml (`recursectl deploy "
            f"--name {fn.name}`)",
        )
    return table


def list_jobs(aws: Aws, fn: FunctionView) -> list[JobRecord]:
    """The function's jobs, the most recently started first."""
    records = aws.jobs_api.list_jobs(job_table(fn))
    return [r for r in records if r.function in (None, fn.name)]


def require_job(aws: Aws, fn: FunctionView, job_id: str) -> JobRecord:
    record = aws.jobs_api.get_job(job_table(fn), job_id)
    if record is None:
        raise NotFoundError(
            f"Job {job_id} does not exist on {fn.name}.",
            hint=f"list its jobs with `recursectl job list --name {fn.name}`",
        )
    return record


def cancel(aws: Aws, fn: FunctionView, job_id: str, now_ms: int) -> JobRecord:
    """Set the job `cancelled` (its next hop ends it); only a running, paused or failed job."""
    require_job(aws, fn, job_id)
    after = aws.jobs_api.set_status(job_table(fn), job_id, "cancelled", CANCELLABLE, now_ms)
    if after is None:
        now = require_job(aws, fn, job_id).status
        raise ConflictError(
            f"Job {job_id} is {now}: only a running, paused or failed job can be cancelled.",
            hint=f"see it with `recursectl job show {job_id} --name {fn.name}`",
            exit_code=EXIT_USAGE,
        )
    return after


@dataclass(frozen=True)
class Resumed:
    """A job continued by a resume: the hop it runs next and the invocation that runs it."""

    job: str
    seq: int
    attempt: int
    request_id: str
    from_checkpoint: int | None  # the checkpoint's seq; None: the job had no checkpoint yet
    was: str  # paused | failed

    def describe(self) -> str:
        """`resumed job J (was paused): hop 4, attempt 1, from the checkpoint of hop 3`."""
        where = (
            f"from the checkpoint of hop {self.from_checkpoint}"
            if self.from_checkpoint is not None
            else "with no checkpoint (its state as the job began)"
        )
        return (
            f"resumed job {self.job} (was {self.was}): hop {self.seq}, attempt {self.attempt}, "
            f"{where}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "seq": self.seq,
            "attempt": self.attempt,
            "request_id": self.request_id,
            "chain_id": self.request_id,  # a resume starts a new chain
            "from_checkpoint_seq": self.from_checkpoint,
            "was": self.was,
        }


def next_hop(aws: Aws, table: str, record: JobRecord) -> tuple[int, int]:
    """(seq, attempt) of the hop a resume runs: the record's seq again with the claim's attempt
    + 1 when that claim is not done (a failed hop, taken over), else the next seq, attempt 1."""
    claim = aws.jobs_api.get_claim(table, record.id, record.seq)
    if claim is not None and claim.status == "done":
        return record.seq + 1, 1
    return record.seq, (claim.attempt + 1 if claim is not None else 1)


def resume_event(record: JobRecord, seq: int, attempt: int) -> dict[str, Any]:
    """The event a resume sends: the job's root input, with the job's context (its checkpoint
    inline as `state`, or its spilled `ref`); no chain: the resumed hop starts a new one."""
    job: dict[str, Any] = {"id": record.id, "seq": seq, "attempt": attempt}
    if record.bounds is not None:
        job["bounds"] = record.bounds
    checkpoint = record.checkpoint or {}
    if "ref" in checkpoint:
        job["ref"] = checkpoint["ref"]
    elif "state" in checkpoint:
        job["state"] = checkpoint["state"]
    event = dict(record.input) if isinstance(record.input, dict) else {}
    event[protocol.CONTEXT_KEY] = {protocol.JOB_KEY: job}
    return event


def resume(aws: Aws, fn: FunctionView, job_id: str, now_ms: int) -> Resumed:
    """Continue a paused or failed job from its last checkpoint."""
    if fn.stopped:
        raise StoppedError(
            f"{fn.name} is stopped (reserved concurrency 0): the job cannot continue.",
            hint=f"`recursectl resume --name {fn.name}` lifts the kill switch and resumes "
            "every paused job",
        )
    table = job_table(fn)
    record = require_job(aws, fn, job_id)
    if record.status not in RESUMABLE:
        raise ConflictError(
            f"Job {job_id} is {record.status}: only a paused or failed job can be resumed.",
            hint=f"see it with `recursectl job show {job_id} --name {fn.name}`",
            exit_code=EXIT_USAGE,
        )
    return _resume_record(aws, fn, table, record, now_ms)


def _resume_record(
    aws: Aws, fn: FunctionView, table: str, record: JobRecord, now_ms: int
) -> Resumed:
    seq, attempt = next_hop(aws, table, record)
    event = resume_event(record, seq, attempt)
    from recursectl.invoke import encode

    body = encode(event, sync=False)  # before the status changes: a state too big stops here
    # The record's gen becomes the function's: a hop of this job held back by the stop then
    # runs instead of pausing it (docs/jobs.md, "Bounds, the cap, the budget, stop").
    taken = aws.jobs_api.set_status(
        table, record.id, "running", RESUMABLE, now_ms, gen=fn.generation
    )
    if taken is None:
        raise ConflictError(
            f"Job {record.id} is no longer paused or failed: another resume (or the job "
            "itself) changed it first.",
            hint=f"see it with `recursectl job show {record.id} --name {fn.name}`",
        )
    try:
        sent = aws.lambda_api.invoke(fn.name, body, sync=False)
    except Exception:
        # Nothing runs it: put the status back so that the job can be resumed again.
        aws.jobs_api.set_status(table, record.id, record.status, ("running",), now_ms)
        raise
    checkpoint = record.checkpoint or {}
    return Resumed(
        job=record.id,
        seq=seq,
        attempt=attempt,
        request_id=sent.request_id,
        from_checkpoint=checkpoint.get("seq") if isinstance(checkpoint.get("seq"), int) else None,
        was=record.status,
    )


@dataclass
class ResumeAll:
    """What `recursectl resume` did to the function's jobs."""

    resumed: list[Resumed] = field(default_factory=list)
    going_on: list[str] = field(default_factory=list)  # running jobs that took the generation
    skipped: dict[str, str] = field(default_factory=dict)  # job id -> why not

    def to_json(self) -> dict[str, Any]:
        return {
            "resumed": len(self.resumed),
            "jobs": [r.to_json() for r in self.resumed],
            "running_go_on": self.going_on,
            "skipped": [{"job": j, "reason": why} for j, why in self.skipped.items()],
        }


def _is_job_function(fn: FunctionView) -> bool:
    return fn.job_bounds is not None and bool(fn.env.get(protocol.COUNTER_TABLE_ENV))


def keep_running_jobs(aws: Aws, fn: FunctionView, now_ms: int, out: ResumeAll) -> None:
    """Before the kill switch is lifted: every running job of an older generation takes the
    current one, so the hop the stop held back runs on after resume instead of pausing its
    job (nothing of the function runs while it is stopped: no hop can pause one first)."""
    if not _is_job_function(fn):
        return
    table = job_table(fn)
    for record in list_jobs(aws, fn):
        if (
            record.status == "running"
            and record.gen < fn.generation
            and aws.jobs_api.adopt_generation(table, record.id, fn.generation, now_ms)
        ):
            out.going_on.append(record.id)


def resume_paused(aws: Aws, fn: FunctionView, now_ms: int, out: ResumeAll) -> None:
    """After the kill switch is lifted: continue every paused job from its checkpoint (failed
    jobs are left to `recursectl job resume JOB`)."""
    if not _is_job_function(fn):
        return
    table = job_table(fn)
    for record in list_jobs(aws, fn):
        if record.status != "paused":
            continue
        try:
            out.resumed.append(_resume_record(aws, fn, table, record, now_ms))
        except (ConflictError, UsageError) as exc:
            out.skipped[record.id] = exc.message


# showing ---------------------------------------------------------------------------------------
def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def progress_text(progress: dict[str, Any] | None) -> str:
    """`5,000/10,000 (50%)` for done/total numbers, else the progress as compact JSON."""
    if not progress:
        return "-"
    done: Any = progress.get("done")
    total: Any = progress.get("total")
    if _number(done) and _number(total) and total:
        return f"{done:,}/{total:,} ({100 * done / total:.0f}%)"
    return json.dumps(progress, separators=(",", ":"), sort_keys=True)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def checkpoint_summary(record: JobRecord) -> dict[str, Any] | None:
    """Where the last checkpoint is and how big: seq, inline or spilled, bytes, its keys."""
    cp = record.checkpoint
    if cp is None:
        return None
    out: dict[str, Any] = {"seq": cp.get("seq")}
    if isinstance(cp.get("ref"), dict):
        ref = cp["ref"]
        out |= {
            "where": "spilled",
            "bytes": ref.get("bytes"),
            "bucket": ref.get("bucket"),
            "key": ref.get("key"),
            "sha256": ref.get("sha256"),
        }
    else:
        state = cp.get("state")
        out |= {
            "where": "inline",
            "bytes": len(json.dumps(state, separators=(",", ":")).encode()),
            "keys": sorted(state)[:20] if isinstance(state, dict) else None,
        }
    return out


def record_json(record: JobRecord) -> dict[str, Any]:
    """One job as `job list --json` gives it."""
    return {
        "id": record.id,
        "status": record.status,
        "function": record.function,
        "hops": record.hops,
        "seq": record.seq,
        "progress": record.progress,
        "started_ms": record.started_ms,
        "updated_ms": record.updated_ms,
        "started": iso(record.started_ms),
        "updated": iso(record.updated_ms),
        "error": record.error,
    }


def show_json(record: JobRecord) -> dict[str, Any]:
    """One job as `job show --json` gives it: the record and its checkpoint's summary."""
    return {
        **record_json(record),
        "attempt": record.attempt,
        "bounds": record.bounds,
        "result": record.result,
        "gen": record.gen,
        "chains": record.chains,
        "checkpoint": checkpoint_summary(record),
        "resumable": record.status in RESUMABLE,
    }
