"""`recursectl logs`: the chain of invocations as a tree, once or live."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from recursectl.app import App
from recursectl.cli.options import follow_timeout_option, json_option, name_option
from recursectl.errors import EXIT_INTERRUPTED, ChainFailedError, UsageError

if TYPE_CHECKING:
    from recursectl.chain.model import Chain, ChainCollector
    from recursectl.invoke import Deployed
    from recursectl.logs import Poller

ANCHOR_AFTER_MS = 30_000  # a window wider than this is worth one filtered call to narrow
GRACE_MS = 15_000
# Without markers nothing announces children: such a chain counts as complete once every
# invocation has reported and the log has been quiet this long.
QUIET_MS = 3_000  # an announced child that has not started this long after its parent: missing


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

    settings = app.configure(name=name)
    since = since or ("10m" if follow else "1h")
    since_ms = parse_since(since)
    deployed = inv.describe(app.aws(), settings.name)
    start_ms = int(time.time() * 1000) - since_ms
    if follow:
        follow_chain(
            app,
            deployed,
            chain_id=chain_id,
            start_ms=start_ms,
            timeout=timeout,
            as_json=as_json,
            show_lines=show_lines,
        )
        return
    chain, group_exists = read_chain(
        app, deployed, chain_id=chain_id, start_ms=start_ms, show_lines=show_lines
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
    _finish(app, chain, deployed, as_json=as_json, show_lines=show_lines, interrupted=False)


def follow_chain(
    app: App,
    deployed: Deployed,
    *,
    chain_id: str | None,
    start_ms: int,
    timeout: float,
    as_json: bool,
    show_lines: bool,
) -> None:
    """Poll until the chain is complete (or the timeout), rendering it live on a terminal."""
    from recursectl import render

    collector, poller = _reader(app, deployed, chain_id, start_ms, show_lines)
    state: dict[str, Any] = {"chain": None}
    live = None
    if app.ui.interactive and not as_json and not app.ui.quiet:
        from rich.live import Live

        live = Live(console=app.ui.err, refresh_per_second=4, transient=True)
        live.start()

    def done() -> bool:
        chain = state["chain"]
        return chain is not None and chain.complete()

    def expecting() -> bool:
        # More events are due while an invocation runs or an announced child has not started;
        # a fragment of an old chain (its root before --since) expects nothing.
        chain = state["chain"]
        if chain is None:
            return chain_id is not None  # just invoked: it will show up
        return bool(chain.summary().running > 0)

    interrupted = False
    try:
        for batch in poller.follow(done=done, expecting=expecting, deadline_s=timeout):
            collector.add_events(batch)
            state["chain"] = _pick(collector, chain_id)
            if live is not None and state["chain"] is not None:
                live.update(render.render_chain(state["chain"], lines=show_lines))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if live is not None:
            live.stop()
    chain = state["chain"]
    if chain is None:
        if interrupted:
            app.ui.info("interrupted before any invocation of the chain was seen")
            raise SystemExit(EXIT_INTERRUPTED)
        raise ChainFailedError(
            f"No invocation of {'chain ' + chain_id if chain_id else 'any chain'} appeared in "
            f"{deployed.log_group} within {timeout:g} s.",
            hint="check that the function was invoked (`recursectl info`), or raise --timeout",
        )
    _finish(app, chain, deployed, as_json=as_json, show_lines=show_lines, interrupted=interrupted)


def _finish(
    app: App,
    chain: Chain,
    deployed: Deployed,
    *,
    as_json: bool,
    show_lines: bool,
    interrupted: bool,
) -> None:
    from recursectl import render

    complete = chain.complete()
    if as_json:
        app.ui.emit_json(render.chain_json(chain))
    else:
        app.ui.data(render.render_chain(chain, lines=show_lines))
    if interrupted:
        raise SystemExit(EXIT_INTERRUPTED)
    failure = _failure_text(chain)
    if failure:
        raise ChainFailedError(
            f"Chain {chain.chain_id} failed: {failure}.",
            hint=_failure_hint(chain, deployed.name),
        )
    if not complete and chain.linked:
        # Without markers nobody announces children, so "not complete" only means "quiet
        # for less than the grace period": not a failure.
        raise ChainFailedError(
            f"Chain {chain.chain_id} is not complete yet.",
            hint="follow it with `recursectl logs --follow --chain "
            f"{chain.chain_id}`" + (f" --name {deployed.name}" if deployed.name else ""),
        )


def _failure_text(chain: Chain) -> str:
    """'2 errors, 1 timeout' for a chain that failed; '' for one that did not."""
    s = chain.summary()
    parts = [
        f"{n} {word}{'' if n == 1 else 's'}"
        for n, word in (
            (s.errors, "error"),
            (s.timeouts, "timeout"),
            (s.dropped, "dropped invocation"),
            (s.missing, "missing invocation"),
        )
        if n
    ]
    return ", ".join(parts)


def _failure_hint(chain: Chain, name: str) -> str:
    """What to do next, for the most telling failure in the chain."""
    invs = chain.invocations
    if any(i.dropped_reason == "RecursiveInvocationException" for i in invs):
        return (
            "AWS's recursive loop detection stopped the chain after 16 invocations: deploy "
            "with --max-calls 16 or more to allow longer chains (RecursiveLoop=Allow; "
            "recursectl's cap guards instead); `recursectl info` shows the current setting"
        )
    if any(i.status == "timeout" for i in invs):
        return (
            "an invocation hit the function's timeout: "
            f"`recursectl deploy --name {name} --timeout N` raises it"
        )
    if any(i.status == "missing" for i in invs):
        return (
            "an announced child never started: throttled (`recursectl info` shows a stopped "
            "function), dropped by loop detection, or still queued"
        )
    return (
        "the handler's own output says why: "
        f"recursectl logs --name {name} --chain {chain.chain_id[:8]} --lines"
    )


def read_chain(
    app: App, deployed: Deployed, *, chain_id: str | None, start_ms: int, show_lines: bool
) -> tuple[Chain | None, bool]:
    """One read of the log group: (the chain, or None; whether the log group exists)."""
    collector, poller = _reader(app, deployed, chain_id, start_ms, show_lines)
    collector.add_events(poller.poll())
    return _pick(collector, chain_id), poller.group_exists is not False


def _reader(
    app: App, deployed: Deployed, chain_id: str | None, start_ms: int, show_lines: bool
) -> tuple[ChainCollector, Poller]:
    from recursectl.chain.model import ChainCollector
    from recursectl.logs import make_poller

    poller = make_poller(app.aws(), deployed.log_group, start_ms)
    if chain_id and _now_ms() - start_ms > ANCHOR_AFTER_MS:
        poller.anchor(chain_id)  # a wide --since: start reading where the chain starts
    return ChainCollector(keep_lines=show_lines, grace_ms=GRACE_MS), poller


def _pick(collector: ChainCollector, chain_id: str | None) -> Chain | None:
    now = _now_ms()
    chain = collector.get(chain_id, now) if chain_id else collector.latest(now)
    if chain is not None and not chain.linked:
        chain.grace_ms = QUIET_MS  # the title, the JSON and --follow all judge it the same way
    return chain


def _now_ms() -> int:
    return int(time.time() * 1000)
