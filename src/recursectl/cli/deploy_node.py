"""`recursectl deploy` for a Node.js handler: its runtime, its package, what deploy says."""

from __future__ import annotations

from pathlib import Path

from recursectl import nodejs, package_node, runtimes
from recursectl.app import App
from recursectl.names import check_function_name
from recursectl.package import Package
from recursectl.settings import Settings


def prepare_node(
    app: App, settings: Settings, *, explicit_runtime: bool, cwd: Path | None
) -> tuple[Settings, Package]:
    """Check the runtime and the handler, then package it (before any AWS call)."""
    runtime = package_node.choose_runtime(settings.runtime, explicit_runtime)
    if runtime != settings.runtime:
        settings = app.configure(runtime=runtime)
    check_function_name(settings.name)
    if not settings.handler:
        from recursectl.errors import UsageError

        raise UsageError(
            f"Runtime {runtime} needs a Node.js handler.",
            hint="--handler handler.js:EXPORT, or `recursectl init --runtime nodejs22.x`",
        )
    spec = package_node.parse_handler(settings.handler, cwd=cwd)
    runtimes.check_handler(runtime, spec.file)
    pkg = package_node.build(
        spec,
        runtime,
        settings.architecture,
        install_scripts=settings.node_install_scripts,
        exclude=settings.exclude,
        include=settings.include,
    )
    for warning in (package_node.bundled_warning(pkg), package_node.scripts_warning(pkg)):
        if warning:
            app.ui.warn(warning)
    if settings.local:
        _local_note(app, runtime)
    return settings, pkg


def _local_note(app: App, runtime: str) -> None:
    """As for Python: a note when the local node is not the declared runtime's major."""
    try:
        local = nodejs.toolchain().version
    except nodejs.NodeError as exc:
        app.ui.warn(f"{exc.message} ({exc.hint})")
        return
    if str(nodejs.runtime_major(runtime)) != local.split(".", 1)[0]:
        app.ui.info(f"note: the local cloud runs handlers with Node.js {local}, not {runtime}")
