"""`recursectl deploy` for a Node.js handler: its runtime, its package, what deploy says."""

from __future__ import annotations

from pathlib import Path

from recursectl import nodejs
from recursectl.app import App
from recursectl.build import node, runtimes
from recursectl.build.package import Package
from recursectl.cli.node_runtime import build_runtime_client
from recursectl.names import check_function_name
from recursectl.settings import Settings


def prepare_node(
    app: App,
    settings: Settings,
    *,
    explicit_runtime: bool,
    cwd: Path | None,
    quiet: bool = False,
    build: bool = True,
) -> tuple[Settings, Package]:
    """Check the runtime and the handler, then package it (before any AWS call)."""
    defaulted = not explicit_runtime and runtimes.language_of(settings.runtime) == runtimes.PYTHON
    if defaulted:
        runtime, why = default_runtime()
        app.ui.info(f"runtime {runtime}: {why} (--runtime sets another)")
    else:
        runtime = node.choose_runtime(settings.runtime, explicit_runtime)
    if runtime != settings.runtime:
        settings = app.configure(runtime=runtime)
    check_function_name(settings.name)
    if not settings.handler:
        from recursectl.errors import UsageError

        raise UsageError(
            f"Runtime {runtime} needs a Node.js handler.",
            hint="--handler handler.js:EXPORT, or `recursectl init --runtime nodejs22.x`",
        )
    spec = node.parse_handler(settings.handler, cwd=cwd)
    runtimes.check_handler(runtime, spec.file)
    pkg = node.build(
        spec,
        runtime,
        settings.architecture,
        install_scripts=settings.node_install_scripts,
        exclude=settings.exclude,
        include=settings.include,
    )
    if not quiet:
        from recursectl.build.sources import format_size

        deps = sum(1 for f in pkg.listing if f.origin == "dependency")
        app.ui.info(
            f"Packaged handler {pkg.handler} (from {pkg.origin}): {len(pkg.listing)} files"
            + (f" ({deps} from node_modules)" if deps else "")
            + f", {format_size(pkg.unzipped_size)} unzipped, {format_size(pkg.size)} zipped"
        )
    for warning in (node.bundled_warning(pkg), node.scripts_warning(pkg)):
        if warning:
            app.ui.warn(warning)
    if settings.local:
        if not defaulted:  # the runtime's line said which Node.js runs it
            _local_note(app, runtime)
        if build:  # not for --dry-run, which changes nothing (and takes no minutes)
            build_runtime_client(app)
    return settings, pkg


def default_runtime() -> tuple[str, str]:
    """The runtime of a Node handler deployed without one, and why: this machine's Node.js
    major (what the local cloud runs), else the nearest one Lambda supports."""
    from recursectl.aws.model import lambda_runtimes

    known = lambda_runtimes()
    newest = runtimes.supported(runtimes.NODE, known=known)[0]
    try:
        version = nodejs.toolchain().version
    except nodejs.NodeError:
        return newest, "the newest Node.js runtime (no usable node on this machine)"
    major = version.split(".", 1)[0]
    mine = f"nodejs{major}.x"
    nearest = runtimes.nearest(mine, known=known) or newest
    if nearest == mine:
        return mine, f"this machine's Node.js {major}, which the local cloud runs"
    return nearest, (
        f"the nearest runtime Lambda supports to this machine's Node.js {version} "
        f"({mine} is not supported); the local cloud runs it with Node.js {version}"
    )


def _local_note(app: App, runtime: str) -> None:
    """As for Python: a note when the local node is not the declared runtime's major."""
    try:
        local = nodejs.toolchain().version
    except nodejs.NodeError as exc:
        app.ui.warn(f"{exc.message} ({exc.hint})")
        return
    if str(nodejs.runtime_major(runtime)) != local.split(".", 1)[0]:
        app.ui.info(f"note: the local cloud runs handlers with Node.js {local}, not {runtime}")
