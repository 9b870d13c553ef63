"""Showing a chain at the end of a command (`logs`, `invoke --follow`): not a command module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recursectl.errors import EXIT_INTERRUPTED, ChainFailedError

if TYPE_CHECKING:
    from recursectl.app import App
    from recursectl.chain import Chain
    from recursectl.watch import Reader


def follow_and_show(
    app: App, reader: Reader, *, name: str, log_group: str, timeout: float, as_json: bool,
    show_lines: bool,
) -> None:  # fmt: skip
    """Follow until the chain completes (live on a terminal), then show it and its verdict."""
    from recursectl import render, watch

    live = None
    if app.ui.interactive and not as_json and not app.ui.quiet:
        from rich.live import Live

        live = Live(console=app.ui.err, refresh_per_second=4, transient=True)
        live.start()

    def update(chain: Chain) -> None:
        if live is not None:
            live.update(render.render_chain(chain, lines=show_lines))

    try:
        followed = watch.follow(reader, timeout=timeout, on_update=update)
    finally:
        if live is not None:
            live.stop()
    chain = followed.chain
    if chain is None:
        if followed.interrupted:
            app.ui.info("interrupted before any invocation of the chain was seen")
            raise SystemExit(EXIT_INTERRUPTED)
        cid = render.visible(reader.chain_id) if reader.chain_id else None
        raise ChainFailedError(
            f"No invocation of {'chain ' + cid if cid else 'any chain'} appeared in "
            f"{log_group} within {timeout:g} s.",
            hint="check that the function was invoked (`recursectl info`), or raise --timeout",
        )
    show(app, chain, name=name, as_json=as_json, show_lines=show_lines,
         interrupted=followed.interrupted)  # fmt: skip


def show(
    app: App, chain: Chain, *, name: str, as_json: bool, show_lines: bool, interrupted: bool
) -> None:
    """Print the chain (tree or JSON); exit 130 if interrupted, 1 if it failed."""
    from recursectl import render, watch

    if as_json:
        app.ui.emit_json(render.chain_json(chain))
    else:
        app.ui.data(render.render_chain(chain, lines=show_lines))
    if interrupted:
        raise SystemExit(EXIT_INTERRUPTED)
    error = watch.failure(chain, name)
    if error is not None:
        raise error
