"""`recursectl logs`: the chain of invocations as a tree, once or live."""

from __future__ import annotations

import click

from recursectl.app import App
from recursectl.cli.options import follow_timeout_option, json_option, name_option
from recursectl.errors import UsageError


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
@click.option("--follow", "-f", is_flag=True, help="Keep polling until the chain completes.")
@follow_timeout_option
@click.option("--lines", "show_lines", is_flag=True, help="Show each invocation's own log lines.")
@json_option
@click.pass_obj
def logs(
    app: App,
    name: str | None,
    chain_id: str | None,
    since: str | None,
    follow: bool,
    timeout: float,
    show_lines: bool,
    as_json: bool,
) -> None:
    """Show a chain of invocations as a tree (default: the most recent chain).

    \b
    Examples:
      recursectl logs                     # the last chain
      recursectl logs --follow            # live until it completes
      recursectl logs --chain 3f2a --json # one chain, for scripts
    """
    from recursectl import invoke as inv
    from recursectl import watch
    from recursectl.cli.show import follow_and_show, show

    settings = app.configure(name=name)
    since = since or ("10m" if follow else "1h")
    since_ms = parse_since(since)
    aws = app.aws()
    deployed = inv.describe(aws, settings.name)
    start_ms = watch.now_ms() - since_ms
    if follow:
        reader = watch.open_reader(
            aws, deployed.log_group, chain_id=chain_id, start_ms=start_ms, lines=show_lines
        )
        follow_and_show(
            app,
            reader,
            name=deployed.name,
            log_group=deployed.log_group,
            timeout=timeout,
            as_json=as_json,
            show_lines=show_lines,
        )
        return
    chain, group_exists = watch.read(
        aws, deployed.log_group, chain_id=chain_id, start_ms=start_ms, lines=show_lines
    )
    if not group_exists:
        raise UsageError(
            f"{deployed.name} has no logs yet (log group {deployed.log_group} does not exist).",
            hint="invoke it first: `recursectl invoke`",
        )
    if chain is None:
        raise UsageError(
            f"No chain {'matching ' + repr(chain_id) + ' ' if chain_id else ''}"
            f"in the last {since} of {deployed.log_group}.",
            hint="widen --since, or start one with `recursectl invoke`",
        )
    show(app, chain, name=deployed.name, as_json=as_json, show_lines=show_lines, interrupted=False)
