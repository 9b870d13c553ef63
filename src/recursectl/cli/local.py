"""`recursectl local start|stop|status|serve`: the embedded local cloud."""

from __future__ import annotations

from typing import Any

import click

from recursectl.app import App

_PORT = click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port on 127.0.0.1 (default 4599; also RECURSECTL_LOCAL_PORT or `local_port`).",
)


def _port(app: App, port: int | None) -> int:
    return app.configure(local_port=port).local_port


@click.group("local")
def local() -> None:
    """The embedded local cloud: Lambda, IAM, CloudWatch Logs and more on 127.0.0.1.

    No AWS account and no Docker: handlers run in local Python workers under the official
    runtime client. Its state (functions, roles, logs, queued events) is kept in recursectl's
    state folder and survives `local stop` and a crash; `local reset` empties it
    (RECURSECTL_LOCAL_PERSIST=0: state in memory only).
    """


_YES = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


def _confirm_reset(app: App, port: int, yes: bool) -> bool:
    """Ask before deleting the state of `port` (a closed stdin is a usage error)."""
    from recursectl.errors import UsageError
    from recursectl.local import daemon

    if yes or not daemon.store_file(port).exists():
        return True
    try:  # click.confirm aborts when stdin is closed: say why instead
        return click.confirm(
            f"Delete the local cloud's state on port {port} (functions, roles, logs, queued "
            "events)?",
            default=False,
            err=True,
        )
    except click.exceptions.Abort:
        raise UsageError(
            "No confirmation given; nothing was deleted.", hint="pass --yes to reset without asking"
        ) from None


@local.command()
@_PORT
@click.option(
    "--node",
    is_flag=True,
    help="Also build the Node.js runtime client now (once per machine; minutes with npm).",
)
@click.option("--fresh", is_flag=True, help="Start empty: delete the kept state first (asks).")
@_YES
@click.pass_obj
def start(app: App, port: int | None, fresh: bool, yes: bool, node: bool = False) -> None:
    """Start the local cloud in the background (or reuse the running one); prints its endpoint."""
    from recursectl.local import daemon

    if node:
        from recursectl.cli.node_runtime import build_runtime_client

        build_runtime_client(app, required=True)
    port = _port(app, port)
    if fresh:
        if not _confirm_reset(app, port, yes):
            app.ui.info("nothing deleted; nothing started or stopped")
            return
        if daemon.probe(port) is not None:
            daemon.stop(port)
            app.ui.info(f"Stopped the local cloud on port {port} to start it fresh.")
        daemon.reset_store(port)
    with app.ui.status(f"Starting the local cloud on port {port}..."):
        endpoint, started, pid = daemon.start(port)
    if started:
        app.ui.success(f"Local cloud running at {endpoint} (pid {pid}).")
    else:
        app.ui.info(f"The local cloud is already running at {endpoint} (pid {pid}); reusing it.")
    app.ui.info(daemon.state_note(port) + " `recursectl local stop` stops it and every worker.")
    app.ui.info(f"Use it with --local, or AWS_ENDPOINT_URL={endpoint} for any AWS client.")
    app.ui.info(
        "For `aws logs start-live-tail` (and boto3's start_live_tail) also set "
        "AWS_DISABLE_HOST_PREFIX_INJECTION=true; the JavaScript SDK takes "
        "`disableHostPrefix: true` (docs/fidelity.md)."
    )
    app.ui.write(endpoint)


@local.command()
@_PORT
@click.pass_obj
def stop(app: App, port: int | None) -> None:
    """Stop the local cloud and every worker it runs (its state is kept for the next start)."""
    from recursectl.local import daemon

    port = _port(app, port)
    pid = daemon.stop(port)
    if pid is None:
        app.ui.info(f"No local cloud is running on port {port}.")
    else:
        app.ui.success(f"Stopped the local cloud on port {port} (pid {pid}).")
        if daemon.persistent():
            app.ui.info(daemon.state_note(port))


@local.command()
@_PORT
@_YES
@click.pass_obj
def reset(app: App, port: int | None, yes: bool) -> None:
    """Delete the local cloud's kept state (asks first); the next start is empty."""
    from recursectl.local import daemon

    port = _port(app, port)
    if daemon.probe(port) is not None:
        from recursectl.errors import UsageError

        raise UsageError(
            f"The local cloud on port {port} is running.",
            hint="`recursectl local stop` first, or `recursectl local start --fresh`",
        )
    if not daemon.store_file(port).exists():
        app.ui.info(f"No kept state for port {port}; nothing to delete.")
        return
    if not _confirm_reset(app, port, yes):
        app.ui.info("nothing deleted")
        return
    removed = daemon.reset_store(port)
    app.ui.success(f"Deleted the local cloud's state on port {port} ({removed[0]}).")


@local.command()
@_PORT
@click.option("--json", "as_json", is_flag=True, help="Print the status document as JSON.")
@click.pass_obj
def status(app: App, port: int | None, as_json: bool) -> None:
    """Endpoint, functions, environments, queues, invocations, throttles and loop drops."""
    from recursectl.local import daemon

    port = _port(app, port)
    doc = daemon.status(port)
    if as_json:
        app.ui.emit_json({"running": True, **doc} if doc else {"running": False, "port": port})
        return
    if doc is None:
        app.ui.info(
            f"No local cloud is running on port {port}. `recursectl local start` starts it."
        )
        return
    _render(app, doc)


def _render(app: App, doc: dict[str, Any]) -> None:
    from rich.table import Table

    limits = doc.get("limits", {})
    totals = doc.get("totals", {})
    app.ui.data(
        f"Local cloud at [bold]{doc.get('endpoint')}[/bold] (pid {doc.get('pid')}, "
        f"up {doc.get('uptime_s')} s, handlers run with {doc.get('interpreter')})"
    )
    app.ui.data(
        f"Concurrency: account {limits.get('account_concurrency')} "
        f"({limits.get('unreserved_concurrency')} unreserved); this machine holds "
        f"{limits.get('total_concurrency')} workers (over that, invocations wait; "
        f"{limits.get('waiting_for_worker', 0)} waiting); idle environments reaped after "
        f"{limits.get('idle_timeout_s')} s"
    )
    app.ui.data(
        f"Invocations {totals.get('invocations', 0)} · errors {totals.get('errors', 0)} · "
        f"timeouts {totals.get('timeouts', 0)} · throttles {totals.get('throttles', 0)} · "
        f"loop/age drops {totals.get('drops', 0)} · queued {totals.get('queued', 0)}"
    )
    isolation = doc.get("isolation") or {}
    if isolation:
        app.ui.data(
            f"Isolation: handlers run as {isolation.get('user')}; task root "
            f"{isolation.get('task_root')}; {isolation.get('tmp')}"
        )
    for note in doc.get("isolation_notes") or []:
        app.ui.warn(note)
    functions = doc.get("functions") or []
    if not functions:
        app.ui.data("No function has been invoked yet.")
        return
    table = Table(show_edge=False)
    # Names never wrap or shrink to `slow-...`: the counts give way first (their headers wrap).
    longest = max(len(str(f["name"])) for f in functions)
    table.add_column("function", no_wrap=True, min_width=min(longest, 64))
    for column in (
        "envs (busy)",
        "queued",
        "invocations",
        "errors",
        "timeouts",
        "throttles",
        "drops",
        "loop",
    ):
        table.add_column(column)
    for f in functions:
        drops = ", ".join(f"{k} {v}" for k, v in (f.get("drops") or {}).items()) or "0"
        table.add_row(
            str(f["name"]),
            f"{f['environments']} ({f['busy']})",
            str(f["queued"]),
            str(f["invocations"]),
            str(f["errors"]),
            str(f["timeouts"]),
            str(f["throttles"]),
            drops,
            str(f.get("recursive_loop")),
        )
    app.ui.data(table)
    for f in functions:
        if f.get("runtime_note"):
            app.ui.warn(f"{f['name']}: {f['runtime_note']}")


@local.command()
@_PORT
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    help="A per-function cap AWS does not have (default: none).",
)
@click.option("--total-concurrency", type=click.IntRange(1, 1000), help="Cap on all workers.")
@click.option("--idle-timeout", type=click.FloatRange(1, 86400), help="Seconds before reaping.")
@click.pass_obj
def serve(
    app: App,
    port: int | None,
    concurrency: int | None,
    total_concurrency: int | None,
    idle_timeout: float | None,
) -> None:
    """Run the local cloud in the foreground (Ctrl-C stops it and every worker)."""
    from recursectl.local import daemon

    port = _port(app, port)

    def ready(endpoint: str) -> None:
        app.ui.success(f"Local cloud listening on {endpoint}. {daemon.state_note(port)}")
        app.ui.info("Press Ctrl-C to stop.")

    daemon.configure_logging()
    daemon.serve(
        port,
        function_concurrency=concurrency,
        total_concurrency=total_concurrency,
        idle_timeout=idle_timeout,
        on_ready=ready,
    )
