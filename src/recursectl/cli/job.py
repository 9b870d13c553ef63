"""`recursectl job list | show | cancel | resume`: a function's long jobs (docs/jobs.md)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from recursectl.app import App
from recursectl.cli.options import json_option, name_option

if TYPE_CHECKING:
    from recursectl.aws import FunctionView
    from recursectl.aws.jobs import JobRecord


def _now_ms() -> int:
    return int(time.time() * 1000)


def _function(app: App, name: str | None) -> FunctionView:
    settings = app.configure(name=name)
    return app.aws().lambda_api.require_function(settings.name)


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


@click.group("job")
def job() -> None:
    """A job function's long jobs: list them, show one, cancel or resume it.

    \b
    Examples:
      recursectl job list                 # every job of the function, newest first
      recursectl job show JOB             # its record and last checkpoint
      recursectl job cancel JOB           # its next hop ends it
      recursectl job resume JOB           # a paused or failed job, from its checkpoint
    """


@job.command("list")
@name_option
@click.option(
    "--status",
    type=click.Choice(["running", "paused", "done", "failed", "cancelled"]),
    help="Only jobs with this status.",
)
@json_option
@click.pass_obj
def list_command(app: App, name: str | None, status: str | None, as_json: bool) -> None:
    """The function's jobs: id, status, hops, progress, started, updated, error."""
    from recursectl.deploy import jobops

    fn = _function(app, name)
    records = [r for r in jobops.list_jobs(app.aws(), fn) if status in (None, r.status)]
    if as_json:
        app.ui.emit_json(
            {"function_name": fn.name, "jobs": [jobops.record_json(r) for r in records]}
        )
        return
    if not records:
        app.ui.info(f"{fn.name} has no {status + ' ' if status else ''}jobs")
        return
    app.ui.data(_table(records))


def _table(records: list[JobRecord]) -> Any:
    from rich.table import Table

    from recursectl.deploy import jobops

    table = Table(show_edge=False)
    table.add_column("job", no_wrap=True)
    for column in ("status", "hops", "progress", "started", "updated", "error"):
        table.add_column(column)
    for r in records:
        table.add_row(
            escape(r.id),
            _status(r.status),
            str(r.hops),
            escape(jobops.progress_text(r.progress)),
            (jobops.iso(r.started_ms) or "-").replace("+00:00", "Z"),
            (jobops.iso(r.updated_ms) or "-").replace("+00:00", "Z"),
            escape(_short(r.error, 40)) if r.error else "",
        )
    return table


_COLORS = {"running": "cyan", "paused": "yellow", "done": "green", "failed": "red"}


def _status(status: str) -> str:
    color = _COLORS.get(status)
    return f"[{color}]{escape(status)}[/{color}]" if color else escape(status)


@job.command("show")
@click.argument("job_id", metavar="JOB")
@name_option
@json_option
@click.pass_obj
def show_command(app: App, job_id: str, name: str | None, as_json: bool) -> None:
    """One job: its record and a summary of its last checkpoint."""
    from recursectl.deploy import jobops

    fn = _function(app, name)
    record = jobops.require_job(app.aws(), fn, job_id)
    doc = jobops.show_json(record)
    if as_json:
        app.ui.emit_json({"function_name": fn.name, **doc})
        return
    rows = [
        ("job", escape(record.id)),
        ("status", _status(record.status)),
        ("hops", f"{record.hops} (last hop seq {record.seq}, attempt {record.attempt})"),
        ("progress", escape(jobops.progress_text(record.progress))),
        ("started", jobops.iso(record.started_ms) or "-"),
        ("updated", (jobops.iso(record.updated_ms) or "-") + " (the hop's clock)"),
        ("bounds", escape(_short(record.bounds or {}, 70))),
        ("checkpoint", escape(_checkpoint_line(doc["checkpoint"]))),
    ]
    if record.result is not None:
        rows.append(("result", escape(_short(record.result, 70))))
    if record.error:
        rows.append(("error", escape(_short(record.error, 200))))
    if record.chains:
        rows.append(("chains", escape(", ".join(record.chains[-5:]))))
    for key, value in rows:
        app.ui.data(f"{key:<11} {value}")
    if record.status in jobops.RESUMABLE:
        app.ui.info(f"resume it with: recursectl job resume {job_id} --name {fn.name}")


def _checkpoint_line(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "none yet (a resume starts the job's first hop again)"
    if summary["where"] == "spilled":
        return (
            f"seq {summary['seq']}, spilled: {summary.get('bytes')} bytes in "
            f"s3://{summary.get('bucket')}/{summary.get('key')}"
        )
    keys = summary.get("keys")
    return f"seq {summary['seq']}, inline: {summary['bytes']} bytes" + (
        f", keys {', '.join(keys)}" if keys else ""
    )


@job.command("cancel")
@click.argument("job_id", metavar="JOB")
@name_option
@json_option
@click.pass_obj
def cancel_command(app: App, job_id: str, name: str | None, as_json: bool) -> None:
    """End a job: it is `cancelled` and its next hop stops it (its checkpoint is kept)."""
    from recursectl.deploy import jobops

    fn = _function(app, name)
    record = jobops.cancel(app.aws(), fn, job_id, _now_ms())
    if as_json:
        app.ui.emit_json({"function_name": fn.name, **jobops.record_json(record)})
        return
    app.ui.success(f"cancelled job {escape(job_id)} of {fn.name}: its next hop ends it")


@job.command("resume")
@click.argument("job_id", metavar="JOB")
@name_option
@json_option
@click.pass_obj
def resume_command(app: App, job_id: str, name: str | None, as_json: bool) -> None:
    """Continue a paused or failed job from its last checkpoint (a new chain)."""
    from recursectl.deploy import jobops

    fn = _function(app, name)
    resumed = jobops.resume(app.aws(), fn, job_id, _now_ms())
    if as_json:
        app.ui.emit_json({"function_name": fn.name, **resumed.to_json()})
        return
    app.ui.success(escape(resumed.describe()))
    app.ui.info(
        f"follow it with: recursectl logs --follow --chain {resumed.request_id} --name {fn.name}"
    )
