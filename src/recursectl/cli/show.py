"""Showing a chain at the end of a command (`logs`, `invoke --follow`): not a command module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from recursectl.errors import EXIT_INTERRUPTED, ChainFailedError, UsageError

if TYPE_CHECKING:
    from rich.live import Live

    from recursectl.app import App
    from recursectl.chain import Chain
    from recursectl.watch.follow import Reader


@dataclass(frozen=True)
class Output:
    """How a chain is shown: the tree (with or without lines), JSON, or a timeline page."""

    name: str
    as_json: bool = False
    show_lines: bool = False
    html: Path | None = None
    cost_cap: float | None = None  # invoke --max-cost: the live view shows spend against it


@contextmanager
def live_view(app: App, out: Output) -> Iterator[Live | None]:
    """A Live display on a terminal (none for JSON, --quiet or a pipe), gone when done."""
    if not app.ui.interactive or out.as_json or out.html or app.ui.quiet:
        yield None
        return
    live = app.ui.live()
    live.start()
    try:
        yield live
    finally:
        live.stop()


def follow_and_show(
    app: App, reader: Reader, *, out: Output, log_group: str, timeout: float, wait: bool = False
) -> None:
    """Follow until the chain completes (live on a terminal), then show it and its verdict.

    `wait`: no chain was asked for; follow the running one, else wait for the next to start.
    """
    from recursectl.watch import follow, render
    from recursectl.watch.live_view import LiveView

    if wait and reader.wait_for_next() is None:
        app.ui.info(f"waiting for the next chain of {out.name}; Ctrl-C to stop")
    with live_view(app, out) as live:

        def update(chain: Chain) -> None:
            if live is not None:
                live.update(LiveView(chain, lines=out.show_lines, cost_cap=out.cost_cap))

        followed = follow.follow(reader, timeout=timeout, on_update=update)
    chain = followed.chain
    if chain is None:
        if followed.interrupted:
            app.ui.info("interrupted before any invocation of the chain was seen")
            raise SystemExit(EXIT_INTERRUPTED)
        cid = render.visible(reader.chain_id) if reader.chain_id else None
        what = f"chain {cid}" if cid else ("a new chain" if wait else "any chain")
        raise ChainFailedError(
            f"No invocation of {what} appeared in {log_group} within {timeout:g} s.",
            hint=f"check that the function was invoked (`recursectl info --name {out.name}`), "
            "or raise --timeout",
        )
    show(app, chain, out, interrupted=followed.interrupted)


def tail_and_show(app: App, reader: Reader, *, out: Output, timeout: float | None) -> None:
    """Every new chain, shown as it completes, until Ctrl-C (or --timeout when given)."""
    from recursectl.watch import follow
    from recursectl.watch.live_view import LiveView

    app.ui.info(f"following every new chain of {out.name}; Ctrl-C to stop")
    with live_view(app, out) as live:

        def update(chain: Chain | None) -> None:
            if live is not None:
                live.update(LiveView(chain, lines=out.show_lines) if chain else "")

        def complete(chain: Chain) -> None:
            _print(app, chain, out)

        followed = follow.tail(reader, timeout=timeout, on_update=update, on_complete=complete)
    if followed.interrupted:
        if followed.chain is not None:
            show(app, followed.chain, out, interrupted=True)
        raise SystemExit(EXIT_INTERRUPTED)


def _print(app: App, chain: Chain, out: Output) -> None:
    from recursectl.watch import render

    if out.as_json:
        app.ui.emit_json(render.chain_json(chain))
    elif out.html is not None:
        write_html(app, chain, out.html)
    else:
        app.ui.data(render.render_chain(chain, lines=out.show_lines))


def write_html(app: App, chain: Chain, path: Path) -> None:
    """The timeline page of `chain` (see `recursectl.watch.timeline`), written to `path`."""
    from recursectl.watch import render
    from recursectl.watch.timeline import timeline_html

    page = timeline_html(render.chain_json(chain))
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"Cannot write {path}: {exc.strerror or exc}.", hint="pass a writable --html path"
        ) from None
    shown = render.visible(chain.chain_id)
    app.ui.success(
        f"wrote the timeline of chain {shown} ({len(chain.invocations)} invocations) to {path}"
    )


def show(app: App, chain: Chain, out: Output, *, interrupted: bool) -> None:
    """Print the chain (tree, JSON or page); exit 130 if interrupted, 1 if it failed."""
    from recursectl.watch import follow, render

    _print(app, chain, out)
    if interrupted:
        if not chain.complete():
            from rich.markup import escape

            shown = escape(render.visible(chain.chain_id[:8]))
            app.ui.info(
                f"interrupted: chain {shown} may still be running; "
                f"`recursectl stop --name {out.name}` stops it "
                f"(`recursectl logs --follow --chain {shown} --name {out.name}` follows it again)"
            )
        raise SystemExit(EXIT_INTERRUPTED)
    error = follow.failure(chain, out.name)
    if error is not None:
        raise error
