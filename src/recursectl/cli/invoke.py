"""`recursectl invoke`: start a chain."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from recursectl.app import App
from recursectl.cli.options import follow_timeout_option, json_option, name_option
from recursectl.errors import ChainFailedError

if TYPE_CHECKING:
    from recursectl.aws import Aws
    from recursectl.aws.view import FunctionView
    from recursectl.invoke import InvokeResult


@click.command()
@name_option
@click.option(
    "--calls",
    type=click.IntRange(min=0),
    help="How many more times the function calls itself (default 5 for the template's event).",
)
@click.option(
    "--fanout",
    type=click.IntRange(min=1),
    help="Children per call: each invocation invokes K more (the tree must fit the budget).",
)
@click.option(
    "-p",
    "--path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Event JSON file (an object).",
)
@click.option("--data", help="Event as inline JSON (an object).")
@click.option(
    "--max-cost",
    type=float,
    help="Cost cap for this chain in USD (config `max_cost`): children are refused once its "
    "recorded spend reaches it.",
)
@click.option(
    "--max-hops",
    type=click.IntRange(min=1),
    help="A job function: at most this many hops for this job (below its [job] max_hops).",
)
@click.option(
    "--max-seconds",
    type=click.IntRange(min=1),
    help="A job function: at most this long for this job (below its [job] max_seconds).",
)
@click.option("--sync", is_flag=True, help="RequestResponse instead of Event; prints the result.")
@click.option("--follow", is_flag=True, help="Then follow the chain's logs until it completes.")
@follow_timeout_option
@click.option(
    "--lines", "show_lines", is_flag=True, help="With --follow: each invocation's own log lines."
)
@json_option
@click.pass_obj
def invoke(
    app: App,
    name: str | None,
    calls: int | None,
    fanout: int | None,
    path: Path | None,
    data: str | None,
    max_cost: float | None,
    max_hops: int | None,
    max_seconds: int | None,
    sync: bool,
    follow: bool,
    timeout: float,
    show_lines: bool,
    as_json: bool,
) -> None:
    """Start a chain: invoke the function once; it calls itself --calls more times.

    \b
    Examples:
      recursectl invoke --calls 5            # 6 invocations, one after another
      recursectl invoke --calls 3 --fanout 2 # a tree of 15
      recursectl invoke --data '{"numberOfCalls": 2}' --sync
      recursectl invoke --calls 5 --follow   # and watch it as a tree
      recursectl invoke --max-cost 0.01      # children refused once it has spent a cent
      recursectl invoke --max-hops 50        # a job function: this job stops by hop 50
    """
    import time

    from recursectl import invoke as inv

    settings = app.configure(name=name, max_cost=max_cost)
    event = inv.build_event(calls=calls, fanout=fanout, path=path, data=data)
    aws = app.aws()
    deployed = aws.lambda_api.require_function(settings.name)
    inv.check_running(deployed)  # before --follow: a stopped function never starts the chain
    inv.check_calls(event, deployed)
    inv.set_cost_cap(event, settings.max_cost, deployed)
    bounds, narrowed = inv.job_bounds(
        deployed, max_hops=max_hops, max_seconds=max_seconds, max_cost=max_cost
    )
    if bounds is not None:
        if calls is None and data is None and path is None:
            event.pop("numberOfCalls", None)  # a job's input is its own: no template event
        if narrowed:
            inv.set_job_bounds(event, bounds)
    for line in inv.caps_lines(deployed, settings.max_cost):
        app.ui.info(line)
    if bounds is not None:
        from rich.markup import escape

        app.ui.info(escape(inv.bounds_line(bounds, narrowed)))
    started_ms = int(time.time() * 1000)
    result = inv.invoke(aws, deployed, event, sync=sync)

    if follow:
        _follow(
            app, aws, deployed, result, started_ms, timeout, show_lines, as_json, settings.max_cost
        )
    else:
        _report(app, deployed.name, result, sync=sync, as_json=as_json)


def _follow(
    app: App,
    aws: Aws,
    deployed: FunctionView,
    result: InvokeResult,
    started_ms: int,
    timeout: float,
    show_lines: bool,
    as_json: bool,
    cost_cap: float | None = None,
) -> None:
    """Follow the chain just started until it completes (or --timeout)."""
    from rich.markup import escape

    from recursectl.cli.show import Output, follow_and_show
    from recursectl.watch import follow as watch
    from recursectl.watch.render import visible

    if not as_json:
        shown = escape(visible(result.request_id))  # AWS's text: no markup, no escapes
        app.ui.info(f"Invoked {deployed.name}: chain [bold]{shown}[/bold]")
    reader = watch.open_reader(
        aws, deployed.log_group, chain_id=result.request_id, start_ms=started_ms - 1000,
        lines=show_lines, architecture=deployed.architecture,
    )  # fmt: skip
    out = Output(name=deployed.name, as_json=as_json, show_lines=show_lines, cost_cap=cost_cap)
    follow_and_show(app, reader, out=out, log_group=deployed.log_group, timeout=timeout)


def _report(app: App, name: str, result: InvokeResult, *, sync: bool, as_json: bool) -> None:
    """What an invoke without --follow prints; a --sync call that failed exits 1."""
    if as_json:
        app.ui.emit_json(result.to_json())
    elif sync:
        # stdout is exactly the function's payload (`| jq` works); the rest goes to stderr.
        from rich.markup import escape

        status = f"error ({result.function_error})" if result.function_error else "ok"
        app.ui.info(f"{escape(name)} returned {status} (request {result.request_id})")
        app.ui.write(result.raw_payload)
    else:
        app.ui.data(result.request_id)
        app.ui.info(
            f"Chain {result.request_id} started. Follow it with:\n"
            f"  recursectl logs --follow --chain {result.request_id} --name {name}"
        )
    if sync and result.function_error:
        raise ChainFailedError(
            f"{name} failed: {result.function_error}.",
            hint=f"see the logs: `recursectl logs --chain {result.request_id} --name "
            f"{name} --lines`",
        )
