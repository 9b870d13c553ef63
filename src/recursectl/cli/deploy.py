"""`recursectl deploy`: role, least-privilege policy, log group, function, safety settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from recursectl.app import App
from recursectl.cli.options import json_option

if TYPE_CHECKING:
    from recursectl.deploy import DeployResult
    from recursectl.package import Package
    from recursectl.settings import Settings


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 2**20 else f"{n / 2**20:.1f} MiB"


@click.command("deploy")
@click.option("--name", help="Function name (config key `name`).")
@click.option(
    "--handler",
    metavar="PATH[:FUNCTION]",
    help="Handler file (its folder is packaged) or folder holding handler.py; "
    "FUNCTION defaults to `handler`. Default: the bundled template.",
)
@click.option("--runtime", help="Lambda runtime, e.g. python3.13.")
@click.option("--memory", type=int, help="Memory in MB (128-10240).")
@click.option("--timeout", type=int, help="Timeout in seconds (1-900).")
@click.option("--max-calls", type=int, help="Recursion cap: the deepest hop allowed (default 25).")
@click.option(
    "--max-invocations",
    type=int,
    help="Budget: invocations one chain may make in total, across any fan-out (default 1000).",
)
@click.option("--concurrency", type=int, help="Reserved concurrency (default: none reserved).")
@click.option("--log-retention-days", type=int, help="Log retention in days (default 14).")
@click.option(
    "--project",
    help="Project identity tagged on every resource (default: the config file's folder name).",
)
@click.option(
    "--adopt",
    is_flag=True,
    help="Take over a function or role not created by us (or by another project).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@json_option
@click.pass_obj
def deploy_command(
    app: App,
    name: str | None,
    handler: str | None,
    runtime: str | None,
    memory: int | None,
    timeout: int | None,
    max_calls: int | None,
    max_invocations: int | None,
    concurrency: int | None,
    log_retention_days: int | None,
    project: str | None,
    adopt: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Deploy a recursive function in one step (re-running converges).

    \b
    Creates or updates: an IAM role whose only permissions are writing the
    function's own log group and invoking the function itself; the log group
    with retention; the function, whose Handler is recursectl's guard
    (recursectl_chain.handler, which wraps your handler and caps every chain);
    async retries 0; and the recursion config.
    """
    from recursectl import deploy as deploy_mod

    settings = app.configure(
        name=name,
        handler=handler,
        runtime=runtime,
        memory=memory,
        timeout=timeout,
        max_calls=max_calls,
        max_invocations=max_invocations,
        concurrency=concurrency,
        log_retention_days=log_retention_days,
        project=project,
    )
    ui = app.ui
    base = settings.config_path.parent if handler is None and settings.config_path else None
    if _is_node(settings.handler, settings.runtime, base):
        from recursectl.cli.deploy_node import prepare_node

        settings, pkg = prepare_node(app, settings, explicit_runtime=runtime is not None, cwd=base)
    else:
        settings, pkg = _prepare_python(app, settings, handler)
    aws = app.aws()
    if not as_json:
        ui.info(
            f"{'Planning' if dry_run else 'Deploying'} {settings.name} "
            f"({pkg.handler}, {len(pkg.files)} files, {_size(pkg.size)}) to {aws.region}"
        )
    result = deploy_mod.deploy(
        aws,
        settings,
        pkg,
        adopt=adopt,
        dry_run=dry_run,
        progress=(lambda _: None) if as_json else (lambda m: ui.info(f"  {m}")),
    )
    for warning in result.warnings:
        ui.warn(warning)
    if as_json:
        ui.emit_json(result.to_json())
        return
    _report(app, result)


def _is_node(handler: str | None, runtime: str, cwd: Path | None) -> bool:
    """A Node.js handler file (or Lambda's form of one), or a nodejs* runtime."""
    from recursectl import package_node, runtimes

    return package_node.is_node_handler(handler, cwd) or (
        runtimes.language_of(runtime) == runtimes.NODE
    )


def _prepare_python(app: App, settings: Settings, handler: str | None) -> tuple[Settings, Package]:
    from recursectl import package
    from recursectl.errors import UsageError
    from recursectl.names import check_function_name

    ui = app.ui
    if not settings.runtime.startswith("python"):
        raise UsageError(
            f"Runtime {settings.runtime!r} is not a Python runtime.",
            hint="recursectl packages Python handlers: use e.g. --runtime python3.13",
        )
    check_function_name(settings.name)
    # Everything about the handler is checked before any AWS call.
    # A handler path from the config file is relative to that file, not to the cwd.
    base = settings.config_path.parent if handler is None and settings.config_path else None
    spec = package.parse_handler(settings.handler, cwd=base)
    pkg = package.build(spec)
    if settings.local:
        here = f"python{sys.version_info.major}.{sys.version_info.minor}"
        if settings.runtime != here:
            ui.info(
                f"note: the local cloud runs handlers with this interpreter ({here}), "
                f"not {settings.runtime}"
            )
    return settings, pkg


def _report(app: App, result: DeployResult) -> None:
    """The human-readable outcome: the plan or what changed, then what is deployed."""
    ui = app.ui
    dry_run = result.dry_run
    if dry_run:
        if result.unchanged:
            ui.data("plan: nothing to change (unchanged)")
        else:
            ui.data("plan (nothing was changed, --dry-run):")
            for step in result.steps:
                ui.data(f"  {'+' if step.action == 'create' else '~'} {step.describe()}")
    elif result.unchanged:
        ui.success(f"{result.function_name} is unchanged")
    else:
        created = sum(1 for s in result.steps if s.action == "create")
        updated = len(result.steps) - created
        ui.success(f"deployed {result.function_name}: {created} created, {updated} updated")
    ui.data(f"function   {result.function_arn}")
    ui.data(f"handler    {result.handler}")
    if result.guard:
        ui.data(
            f"guard      {result.guard} wraps it: cap {result.max_calls}, "
            f"budget {result.max_invocations} per chain, recursive loop {result.recursion}"
        )
    else:
        ui.data(f"guard      none (recursive loop {result.recursion}: AWS's loop detection)")
    if result.project:
        ui.data(f"project    {result.project}")
    ui.data(f"role       {result.role_arn}")
    ui.data(f"log group  {result.log_group}")
    ui.data(f"code       {_size(result.code_size)}, sha256 {result.code_sha256}")
    if result.config_written:
        ui.info(f"wrote function_arn into {result.config_written}")
    if not dry_run:
        ui.info(f"next: recursectl invoke --name {result.function_name} --calls 5 --follow")
