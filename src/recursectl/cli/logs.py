"""`recursectl logs`: the chain of invocations as a tree, once or live."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from recursectl.app import App
from recursectl.cli.options import follow_timeout_option, json_option, name_option
from recursectl.errors import UsageError

if TYPE_CHECKING:
    from recursectl.aws import Aws
    from recursectl.chain import Chain


def parse_since(text: str) -> int:
    """'10m', '2h', '30s', '1d' -> milliseconds."""
    units = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
    text = text.strip().lower()
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit():
        raise UsageError(
            f"--since {text!r} is not a duration.", hint="use a number and a unit: 30s, 10m, 2h, 1d"
        )
    return int(number) * units[unit]


@click.command()
@name_option
@click.option("--chain", "chain_id", help="Chain id (the root request id, or a unique prefix).")
@click.option(
    "--since", help="How far back to look: 30s, 10m, 2h, 1d.  [default: 1h; 10m with --follow]"
)
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Live until the chain completes; with no --chain: the running chain, else the next.",
)
@click.option(
    "--tail",
    "-t",
    "tail",
    is_flag=True,
    help="Every new chain, each shown as it completes, until Ctrl-C.",
)
@follow_timeout_option
@click.option("--lines", "show_lines", is_flag=True, help="Show each invocation's own log lines.")
@click.option(
    "--log-group", help="Read this log group (default: the function's, else /aws/lambda/NAME)."
)
@click.option(
    "--html",
    "html",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the chain as a self-contained timeline page to this file.",
)
@json_option
@click.pass_context
def logs(
    ctx: click.Context,
    name: str | None,
    chain_id: str | None,
    since: str | None,
    follow: bool,
    tail: bool,
    timeout: float,
    show_lines: bool,
    log_group: str | None,
    html: Path | None,
    as_json: bool,
) -> None:
    """Show a chain of invocations as a tree (default: the most recent chain).

    \b
    Examples:
      recursectl logs                     # the last chain
      recursectl logs --follow            # the running chain, or the next one, live
      recursectl logs --tail              # every new chain until Ctrl-C
      recursectl logs --chain 3f2a --json # one chain, for scripts
      recursectl logs --html chain.html   # the last chain as a timeline page
    """
    from recursectl.cli.show import Output, follow_and_show, show, tail_and_show
    from recursectl.watch import follow as watch
    from recursectl.watch.group import resolve_group

    app: App = ctx.obj
    if tail and chain_id:
        raise UsageError("--tail follows every new chain: it takes no --chain.",
                         hint="use --follow --chain ID for one chain")  # fmt: skip
    if html is not None and as_json:
        raise UsageError("--html and --json are two outputs: pick one.")
    settings = app.configure(name=name)
    since = since or ("10m" if follow or tail else "1h")
    since_ms = parse_since(since)
    aws = app.aws()
    fn_name, group, architecture = resolve_group(aws, settings.name, log_group)
    out = Output(name=fn_name, as_json=as_json, show_lines=show_lines, html=html)
    start_ms = watch.now_ms() - since_ms
    if follow or tail:
        reader = watch.open_reader(
            aws, group, chain_id=chain_id, start_ms=start_ms, lines=show_lines,
            architecture=architecture,
        )  # fmt: skip
        if tail:
            given = ctx.get_parameter_source("timeout") is not ParameterSource.DEFAULT
            tail_and_show(app, reader, out=out, timeout=timeout if given else None)
        else:
            follow_and_show(
                app, reader, out=out, log_group=group, timeout=timeout, wait=chain_id is None
            )
        return
    chain = _read_one(aws, group, fn_name, chain_id, start_ms, since, show_lines, architecture)
    show(app, chain, out, interrupted=False)


def _read_one(
    aws: Aws,
    group: str,
    fn_name: str,
    chain_id: str | None,
    start_ms: int,
    since: str,
    show_lines: bool,
    architecture: str | None,
) -> Chain:
    """The chain (the most recent, or `chain_id`) read once; no logs or no chain is an error."""
    from recursectl.watch import follow as watch

    chain, group_exists = watch.read(
        aws, group, chain_id=chain_id, start_ms=start_ms, lines=show_lines,
        architecture=architecture,
    )  # fmt: skip
    if not group_exists:
        raise UsageError(
            f"{fn_name} has no logs yet (log group {group} does not exist).",
            hint=f"invoke it first: `recursectl invoke --name {fn_name}`",
        )
    if chain is None:
        raise UsageError(
            f"No chain {'matching ' + repr(chain_id) + ' ' if chain_id else ''}"
            f"in the last {since} of {group}.",
            hint=f"widen --since, or start one with `recursectl invoke --name {fn_name}`",
        )
    return chain
