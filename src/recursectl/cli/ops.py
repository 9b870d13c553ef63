"""`recursectl stop | resume | info | destroy`: operating a deployed function."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from recursectl import protocol
from recursectl.app import App
from recursectl.cli.options import json_option, name_option

if TYPE_CHECKING:
    from rich.text import Text

    from recursectl.deploy.ops import FunctionInfo


def _concurrency(value: int | None) -> str:
    return "none reserved" if value is None else str(value)


def _was(before: int | None, after: int | None) -> str:
    """'reserved concurrency 0 (was: none reserved)': a value, never 'none reserved -> 0'."""
    now = "none reserved" if after is None else f"reserved concurrency {after}"
    was = "none reserved" if before is None else str(before)
    return f"{now} (was: {was})"


def _change_json(change: Any) -> dict[str, Any]:
    return {
        "function_name": change.name,
        "reserved_concurrency_before": change.before,
        "reserved_concurrency": change.after,
        "stopped": change.after == 0,
        "generation": change.generation,
        "guarded": change.guarded,
        "source": change.source or None,
        "waited_for_update_s": round(change.waited_s, 1),
        "job_function": change.job_function,
    }


def _waited(app: App, change: Any) -> None:
    if change.waited_s:
        app.ui.info(
            f"waited {change.waited_s:.0f}s for an update of {change.name} in progress "
            "(its writes were refused with ResourceConflictException until it ended)"
        )


@click.command("stop")
@name_option
@json_option
@click.pass_obj
def stop_command(app: App, name: str | None, as_json: bool) -> None:
    """Kill switch: reserved concurrency 0, and every running chain ends for good.

    No new invocation starts while stopped. Invocations already running finish their hop;
    AWS keeps throttled async events (up to the maximum event age) and runs them after
    `resume`, but recursectl's guard then refuses to invoke further: chains started before
    `stop` never continue. Chains started after `resume` run normally. The reserved
    concurrency in effect before is remembered (a tag) and restored by `resume`.
    """
    from recursectl.deploy import ops

    settings = app.configure(name=name)
    change = ops.stop(app.aws(), settings.name, on_wait=app.ui.info)
    if as_json:
        app.ui.emit_json(_change_json(change))
        return
    _waited(app, change)
    if change.before == 0:
        app.ui.success(f"{change.name} was already stopped (reserved concurrency 0)")
    else:
        app.ui.success(f"stopped {change.name}: {_was(change.before, 0)}")
    if change.generation is not None and change.guarded:
        app.ui.info(
            "chains started before now will not go deeper, even after resume "
            f"(generation {change.generation})"
        )
        if change.job_function:
            app.ui.info(
                "running jobs pause at their next hop, their state kept: `recursectl resume` "
                "continues them from their checkpoints"
            )
    elif change.generation is not None:
        app.ui.warn(
            f"{change.name} has no guard (deployed by an older recursectl): only handlers that "
            "call recursectl_chain.invoke_self end their old chains; other queued hops run "
            f"again after resume. Redeploy to put the guard in place (generation "
            f"{change.generation})."
        )
    else:
        app.ui.warn(
            f"{change.name} was not deployed by recursectl: its queued async events will run "
            "again after resume"
        )
    app.ui.info(f"resume with: recursectl resume --name {change.name}")


@click.command("resume")
@name_option
@click.option(
    "--concurrency",
    type=int,
    help="Reserved concurrency to set (default: what was in effect before `stop`).",
)
@json_option
@click.pass_obj
def resume_command(app: App, name: str | None, concurrency: int | None, as_json: bool) -> None:
    """Lift the kill switch: restore the reserved concurrency in effect before `stop`.

    For a job function, the jobs `stop` held back go on, and paused jobs continue from their
    checkpoints (`recursectl job list` shows them).
    """
    import time

    from recursectl.deploy import jobops, ops

    settings = app.configure(name=name, concurrency=concurrency)
    aws = app.aws()

    def now() -> int:
        return int(time.time() * 1000)

    jobs = jobops.ResumeAll()
    fn = aws.lambda_api.require_function(settings.name)
    if fn.stopped:  # while nothing runs: the jobs a stop held back go on, not pause
        jobops.keep_running_jobs(aws, fn, now(), jobs)
    change = ops.resume(
        aws, settings.name, concurrency, configured=settings.concurrency, on_wait=app.ui.info
    )
    jobops.resume_paused(aws, fn, now(), jobs)
    if as_json:
        doc = _change_json(change)
        if fn.job_bounds is not None:
            doc["jobs"] = jobs.to_json()
        app.ui.emit_json(doc)
        return
    _waited(app, change)
    if change.before == change.after:
        app.ui.success(
            f"{change.name} is running (reserved concurrency {_concurrency(change.after)})"
        )
    else:
        app.ui.success(f"resumed {change.name}: {_was(change.before, change.after)}")
    if fn.job_bounds is not None:
        _report_jobs(app, jobs)


def _report_jobs(app: App, jobs: Any) -> None:
    count = len(jobs.resumed)
    app.ui.info(f"resumed {count} paused job{'' if count == 1 else 's'}")
    if jobs.going_on:
        n = len(jobs.going_on)
        app.ui.info(
            f"{n} running job{' goes' if n == 1 else 's go'} on: the hop the stop held back "
            "runs now"
        )
    for r in jobs.resumed:
        app.ui.info(f"  {escape(r.describe())}")
    for job_id, why in jobs.skipped.items():
        app.ui.warn(f"job {escape(job_id)} not resumed: {escape(why)}")


@click.command("info")
@name_option
@json_option
@click.pass_obj
def info_command(app: App, name: str | None, as_json: bool) -> None:
    """Show the function's state, ARN, cap, recursion config, concurrency and settings."""
    import dataclasses

    from recursectl.deploy import ops
    from recursectl.watch import follow

    settings = app.configure(name=name)
    aws = app.aws()
    result = ops.info(aws, settings.name)  # the function first: its errors come first
    f = result.function
    summary = follow.last_chain_summary(aws, f.log_group, f.architecture)
    result = dataclasses.replace(result, last_chain=summary)
    if as_json:
        app.ui.emit_json(result.to_json())
        return
    app.ui.data(_info_table(app, _info_rows(result)))
    for note in result.notes:
        app.ui.warn(note)


def _budget(f: Any) -> str:
    if not f.max_invocations:
        return "none"
    table = f.env.get(protocol.COUNTER_TABLE_ENV)
    how = (
        f"exact, counted on DynamoDB table {escape(table)}"
        if table
        else "split rule, no counter: redeploy for the exact budget"
    )
    return f"max_invocations {f.max_invocations} ({how})"


KEY_WIDTH = 12


def _info_table(app: App, rows: list[tuple[str, str]]) -> Text:
    """Keys and values; a value that wraps continues under itself, never under the keys (at
    80 columns an ARN or the last chain's line is longer than the value column)."""
    from rich.text import Text

    width = max(20, app.ui.out.width - KEY_WIDTH)
    out = Text()
    for key, value in rows:
        lines = Text.from_markup(value).wrap(app.ui.out, width, overflow="fold")
        for i, line in enumerate(lines):
            line.rstrip()
            out.append(f"{key:<{KEY_WIDTH}}" if i == 0 else " " * KEY_WIDTH)
            out.append_text(line)
            out.append("\n")
    out.rstrip()
    return out


def _info_rows(result: FunctionInfo) -> list[tuple[str, str]]:
    """`info`'s table: (key, value with markup), AWS's text made visible and escaped."""
    from recursectl.watch.render import visible

    f = result.function
    state = f.state or "unknown"
    if f.stopped:
        state += (
            "  [bold red]STOPPED[/bold red] (reserved concurrency 0; "
            f"`recursectl resume --name {escape(f.name)}`)"
        )
    rows = [
        ("function", escape(visible(f.arn))),
        ("state", state),
        ("managed", _managed(f.managed, f.project)),
        ("handler", escape(visible(f.handler))),
        ("guard", _guard(result)),
        ("cap", f"max_calls {f.max_calls}" if f.max_calls is not None else "none"),
        ("budget", _budget(f)),
        *_job_rows(f),
        ("recursion", _recursion(result.recursion)),
        ("concurrency", _concurrency(f.concurrency)),
        (
            "retries",
            "async retries 0"
            if result.retries == 0
            else f"async retries {2 if result.retries is None else result.retries}",
        ),
        ("runtime", f"{f.runtime}, Handler {escape(visible(f.lambda_handler))}"),
        ("memory", f"{f.memory_mb} MB, timeout {f.timeout} s"),
        ("code", f"{f.code_size} bytes, sha256 {f.code_sha256}"),
        ("modified", str(f.last_modified)),
        ("role", escape(visible(f.role or "?"))),
        ("log group", escape(visible(f.log_group))),
    ]
    if result.last_chain is not None:
        rows.append(("last chain", _last_chain_row(result.last_chain)))
    return rows


def _job_rows(f: Any) -> list[tuple[str, str]]:
    """A job function's bounds and bucket (`recursectl job list` lists its jobs)."""
    if f.job_bounds is None:
        return []
    bounds = ", ".join(f"{k} {v}" for k, v in f.job_bounds.items() if v is not None)
    where = f"state spilled to s3://{escape(f.job_bucket or '?')}/{protocol.JOB_STATE_PREFIX}"
    return [("job", f"job function: {escape(bounds)}; {where}{escape(f.name)}/")]


def _last_chain_row(c: dict[str, Any]) -> str:
    from recursectl.watch.render import visible

    wall = "-" if c["wall_ms"] is None else f"{c['wall_ms']:.0f} ms"
    return (
        f"{visible(c['chain_id'])} ({'complete' if c['complete'] else 'in progress'}"
        f"{', failed' if c['failed'] else ''}): "
        f"{c['count']} invocations, {c['errors'] + c['timeouts']} failed, "
        f"{c['dropped'] + c['missing']} dropped/missing, {c['cold_starts']} cold, "
        f"wall {wall}, ≈ ${c['estimated_cost_usd']:.7f}"
    )


def _recursion(recursion: str | None) -> str:
    if recursion is None:
        return "unknown (this endpoint cannot tell: loop detection at its default)"
    if recursion == "Allow":
        return f"{recursion} (AWS loop detection off: the guard stops a loop)"
    return f"{recursion} (AWS stops a loop after about 16 invocations)"


def _managed(managed: bool, project: str | None) -> str:
    if not managed:
        return "[yellow]not by recursectl[/yellow]"
    return f"recursectl, project {escape(project)}" if project else "recursectl"


def _guard(result: FunctionInfo) -> str:
    if result.guard:
        return f"{result.guard} wraps {escape(result.function.handler)} (every invocation)"
    return "[yellow]none[/yellow] (only explicit recursectl_chain.invoke_self calls are capped)"


@click.command("destroy")
@name_option
@click.option("--keep-logs", is_flag=True, help="Keep the log group.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_obj
def destroy_command(app: App, name: str | None, keep_logs: bool, yes: bool, as_json: bool) -> None:
    """Delete the function, its role and (unless --keep-logs) its log group: only ours."""
    from recursectl.deploy import ops
    from recursectl.errors import RecursectlError, UsageError

    settings = app.configure(name=name)
    what = "function, role" + (", job bucket" if settings.job else "")
    what += "" if keep_logs else " and log group"
    if not yes:
        try:  # click.confirm aborts when stdin is closed: say why instead
            confirmed = click.confirm(f"Delete {settings.name}'s {what}?", default=False, err=True)
        except click.exceptions.Abort:
            raise UsageError(
                "No confirmation given; nothing was deleted.",
                hint="pass --yes to destroy without asking",
            ) from None
        if not confirmed:
            app.ui.info("nothing deleted")
            return

    try:
        removals = ops.destroy(
            app.aws(),
            settings.name,
            keep_logs=keep_logs,
            job_bucket=settings.job_bucket,
            is_job=settings.job,
            confirm_bucket=_bucket_confirmer(yes, as_json),
        )
    except RecursectlError as exc:
        if exc.progress and not as_json:
            _destroyed_so_far(app, exc.progress, settings.name, keep_logs=keep_logs)
        raise
    cleaned = _forget_function_arn(app)
    if cleaned is not None:
        app.ui.info(f"removed function_arn from {cleaned}")
    if as_json:
        app.ui.emit_json(
            {"function_name": settings.name, "removed": [r.to_json() for r in removals]}
        )
        return
    for r in removals:
        reason = f" ({r.reason})" if r.reason else ""
        line = f"{r.outcome:<7} {r.resource} {escape(r.name)}{reason}"
        if r.outcome in ("deleted", "detached"):
            app.ui.success(line)
        else:
            app.ui.info(f"  {line}")
    if all(r.outcome in ("absent", "kept") for r in removals):
        app.ui.info(f"nothing to destroy for {settings.name}")


def _bucket_confirmer(yes: bool, as_json: bool) -> Callable[[str, int], bool]:
    """Whether to delete a job bucket recursectl created that still holds objects: asked
    (--yes: yes; --json never prompts: without --yes the bucket is kept)."""

    def confirm(bucket: str, count: int) -> bool:
        if yes or as_json:
            return yes
        try:
            return click.confirm(
                f"S3 bucket {bucket} holds {count} object(s) (job state: paused or failed jobs "
                "cannot resume without it). Delete them and the bucket?",
                default=False,
                err=True,
            )
        except click.exceptions.Abort:
            return False

    return confirm


def _forget_function_arn(app: App) -> Path | None:
    """Drop the (now stale) `function_arn` of this function from recursectl.toml."""
    from recursectl.deploy.apply import remove_function_arn

    cfg = app.settings.config_path
    if cfg is None or cfg.name != "recursectl.toml" or not cfg.is_file():
        return None
    return cfg if remove_function_arn(cfg, app.settings.name) else None


def _destroyed_so_far(app: App, done: list[Any], name: str, *, keep_logs: bool) -> None:
    """A destroy that stopped half-way: what is already gone, and what is left."""
    from recursectl.names import log_group_for, role_name_for

    for r in done:
        app.ui.info(f"{r.outcome:<7} {r.resource} {escape(r.name)}")
    handled = {r.resource for r in done}
    left = [
        f"{resource} {escape(rname)}"
        for resource, rname in (
            ("function", name),
            ("role", role_name_for(name)),
            ("log group", log_group_for(name)),
        )
        if resource not in handled and not (keep_logs and resource == "log group")
    ]
    if left:
        app.ui.info(f"left: {', '.join(left)} (run `recursectl destroy --name {name}` again)")
