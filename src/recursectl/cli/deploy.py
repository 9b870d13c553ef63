"""`recursectl deploy`: role, least-privilege policy, log group, function, safety settings."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from recursectl import protocol
from recursectl.app import App
from recursectl.cli.options import json_option
from recursectl.errors import NotOursError

if TYPE_CHECKING:
    from recursectl.build.entry import Built
    from recursectl.deploy.result import DeployResult
    from recursectl.settings import Settings

DRY_RUN_FILES = 15  # the largest files --dry-run lists (--json lists all)


def _size(n: int) -> str:
    from recursectl.build.sources import format_size

    return format_size(n)


@click.command("deploy")
@click.option("--name", help="Function name (config key `name`).")
@click.option(
    "--handler",
    metavar="PATH[:FUNCTION]|MODULE.FUNCTION",
    help="The handler, relative to the source root (app/handler.py:main or app.handler.main); "
    "FUNCTION defaults to `handler`. Default: handler.py in the source root or here, "
    "else the bundled template.",
)
@click.option(
    "--source",
    metavar="DIR",
    help="The folder that becomes the code root (default: the handler file's folder).",
)
@click.option(
    "--requirements",
    metavar="FILE",
    help="Requirements to install into the package (default: requirements.txt in the source).",
)
@click.option("--runtime", help="Lambda runtime, e.g. python3.13.")
@click.option(
    "--architecture",
    type=click.Choice(["x86_64", "arm64"]),
    help="Instruction set (default x86_64); dependency wheels follow it.",
)
@click.option(
    "--env",
    "env_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="An environment variable for the function (repeatable; over [environment]).",
)
@click.option(
    "--prune-env",
    is_flag=True,
    help="Remove environment variables set on the function outside recursectl (kept otherwise).",
)
@click.option("--layer", "layers", multiple=True, metavar="ARN", help="A layer (repeatable).")
@click.option("--exclude", multiple=True, metavar="PATTERN", help="Leave files out (repeatable).")
@click.option("--include", multiple=True, metavar="PATTERN", help="Put files in (repeatable).")
@click.option(
    "--iam-policy-file",
    metavar="FILE",
    help="JSON policy (or list of statements) added to the role for the handler's own calls.",
)
@click.option(
    "--managed-policy",
    "managed_policies",
    multiple=True,
    metavar="ARN",
    help="A managed policy attached to the role (repeatable).",
)
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
    "--log-format",
    type=click.Choice(["Text", "JSON"], case_sensitive=False),
    help="Lambda's log format (LoggingConfig.LogFormat; default: as the function has it, Text).",
)
@click.option(
    "--project",
    help="Project identity tagged on every resource (default: the config file's folder name).",
)
@click.option(
    "--adopt",
    is_flag=True,
    help="Take over a function or role not created by us (or by another project).",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan and the package's files; change nothing."
)
@json_option
@click.pass_obj
def deploy_command(
    app: App,
    /,
    env_pairs: tuple[str, ...],
    prune_env: bool,
    adopt: bool,
    dry_run: bool,
    as_json: bool,
    **flags: Any,
) -> None:
    """Deploy a recursive function in one step (re-running converges).

    \b
    Creates or updates: an IAM role whose only permissions are writing the
    function's own log group and invoking the function itself (plus what
    iam_statements / managed_policies add); the log group with retention; the
    function, whose Handler is recursectl's guard (recursectl_chain.handler,
    which wraps your handler and caps every chain); async retries 0; and the
    recursion config. requirements.txt is installed for the function's runtime
    and architecture (cached).
    """
    from recursectl.deploy import apply as deploy_mod

    settings = _settings(app, flags, env_pairs)
    if not as_json:
        for note in settings.notes:  # what reading serverless.yml noticed
            app.ui.info(f"note: {note}")
    built = _build(app, settings, flags, as_json, dry_run)
    settings, pkg, statements = built.settings, built.package, built.statements
    ui = app.ui
    aws = app.aws()
    if not as_json:
        origin = f" (name from the {settings.name_origin}; --name sets another)"
        ui.info(
            f"{'Planning' if dry_run else 'Deploying'} {settings.name} to {aws.region}"
            + (origin if settings.name_origin else "")
        )

    def run(adopt: bool) -> DeployResult:
        return deploy_mod.deploy(
            aws,
            settings,
            pkg,
            adopt=adopt,
            dry_run=dry_run,
            prune_env=prune_env,
            extra_statements=statements,
            progress=(lambda _: None) if as_json else (lambda m: ui.info(f"  {m}")),
        )

    try:
        result = run(adopt)
    except NotOursError as exc:
        if adopt or as_json or not _interactive():
            raise
        ui.warn(exc.message)
        if not click.confirm("Take it over, as --adopt would?", default=False, err=True):
            raise
        result = run(True)
    for warning in result.warnings:
        ui.warn(warning)
    if as_json:
        ui.emit_json(result.to_json())
        return
    _report(app, result)


def _interactive() -> bool:
    """A person at a terminal who can answer a question."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _settings(app: App, flags: dict[str, Any], env_pairs: tuple[str, ...]) -> Settings:
    """The flags over the config file; --env on top of its environment; names checked."""
    from recursectl import envvars
    from recursectl.names import check_function_name

    multi = {k: tuple(v) or None for k, v in flags.items() if isinstance(v, tuple)}
    single = {k: v for k, v in flags.items() if not isinstance(v, tuple)}
    settings = app.configure(**single, **multi)
    if env_pairs:
        env = {**settings.environment, **envvars.parse_assignments(env_pairs)}
        settings = app.configure(environment=env)
    check_function_name(settings.name)
    envvars.check(settings.environment)
    return settings


def _build(
    app: App, settings: Settings, flags: dict[str, Any], as_json: bool, dry_run: bool
) -> Built:
    """The package built before any AWS call (build/ decides; the terminal stays here). A
    Node.js handler can settle the runtime: the app's settings take what build() chose."""
    from recursectl.build.entry import build
    from recursectl.cli.node_runtime import build_runtime_client

    ui = app.ui
    built = build(
        settings,
        handler_from_flag=flags.get("handler") is not None,
        runtime_from_flag=flags.get("runtime") is not None,
        quiet=as_json,
        info=ui.info,
        warn=ui.warn,
    )
    if built.settings is not settings:
        app.reset(built.settings)
    # not for --dry-run, which changes nothing (and takes no minutes)
    if built.node and built.settings.local and not dry_run:
        build_runtime_client(app)
    if built.note and not as_json:
        ui.info(built.note)
    return built


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
        _report_package(app, result)
    elif result.unchanged:
        ui.success(f"{result.function_name} is unchanged")
    else:
        # Resources, not API steps: configuring what this deploy just created is part of
        # creating it (a first deploy is "created role, policy, log group, function").
        created = list(dict.fromkeys(s.resource for s in result.steps if s.action == "create"))
        updated = list(dict.fromkeys(s.resource for s in result.steps if s.resource not in created))
        done = [f"created {', '.join(created)}"] if created else []
        done += [f"updated {', '.join(updated)}"] if updated else []
        ui.success(f"deployed {result.function_name}: {'; '.join(done)}")
    ui.data(f"function   {result.function_arn}")
    ui.data(f"handler    {result.handler} (from {result.package.origin or 'the bundled template'})")
    loop = result.recursion if result.recursion_applied else "left at the endpoint's default"
    if result.guard:
        ui.data(
            f"guard      {result.guard} wraps it: cap {result.max_calls}, "
            f"budget {result.max_invocations} per chain, recursive loop {loop}"
        )
        ui.data(
            f"budget     exact: every child is counted on the chain counter, DynamoDB table "
            f"{result.desired.counter_table} (one conditional write per hop; unreachable: "
            "children refused)"
        )
    else:
        ui.data(f"guard      none (recursive loop {loop}: AWS's loop detection)")
    job = result.desired.job
    if job is not None:
        bounds = ", ".join(f"{k} {v}" for k, v in job.bounds.items())
        how = "adopted" if job.adopted else "created by recursectl"
        ui.data(
            f"job        bounds {bounds}; state over the payload limit in S3 bucket "
            f"{job.bucket} ({how}), {protocol.JOB_STATE_PREFIX}{result.function_name}/, "
            f"expiring after {job.state_ttl_days} days; a failed hop is retried from its "
            "checkpoint (async retries 0, on-failure destination: the function itself)"
        )
    held = ", ".join(f"{n} ({why})" for n, why in sorted(result.self_arn_env.items()))
    ui.data(f"self ARN   in {protocol.SELF_ARN_ENV}" + (f", {held}" if held else ""))
    if result.project:
        ui.data(f"project    {result.project}")
    ui.data(f"role       {result.role_arn}")
    ui.data(f"log group  {result.log_group}")
    ui.data(
        f"code       {len(result.package.listing)} files, {_size(result.code_size)} zipped, "
        f"{result.desired.architecture}, sha256 {result.code_sha256}"
    )
    if result.config_written:
        ui.info(f"wrote function_arn into {result.config_written}")
    if not dry_run:
        ui.info(f"next: recursectl invoke --name {result.function_name} {_next_event(result)}")


def _next_event(result: DeployResult) -> str:
    """The event of the suggested first invoke: the project's event.json, `--calls 5` for a
    handler that reads numberOfCalls (what --calls sets), else none."""
    pkg = result.package
    root = pkg.source_root
    if (Path.cwd() / "event.json").is_file():
        return "-p event.json --follow"
    if root is not None:
        for f in pkg.listing:
            if f.origin != "source" or not f.path.endswith((".py", ".js", ".mjs", ".cjs")):
                continue
            try:
                if b"numberOfCalls" in (root / f.path).read_bytes():
                    return "--calls 5 --follow"
            except OSError:
                continue
    return "--follow"


def _report_package(app: App, result: DeployResult) -> None:
    """--dry-run: the files (largest first), the dependencies, the environment, IAM additions."""
    ui, pkg, d = app.ui, result.package, result.desired
    files = pkg.largest_first()
    ui.data(f"files ({len(files)}, {_size(pkg.unzipped_size)} unzipped, largest first):")
    for f in files[:DRY_RUN_FILES]:
        ui.data(
            f"  {_size(f.size):>10}  {f.path}" + ("" if f.origin == "source" else f"  ({f.origin})")
        )
    if len(files) > DRY_RUN_FILES:
        ui.data(f"  ... {len(files) - DRY_RUN_FILES} more (--json lists all)")
    if pkg.deps_target:
        ui.data(f"dependencies ({len(pkg.dependencies)}, for {pkg.deps_target}):")
        for dist in pkg.dependencies:
            ui.data(f"  {dist}")
    if d.environment or d.kept_env or d.pruned_env:
        ui.data(f"environment: {', '.join(sorted(d.environment)) or 'none'} set by recursectl")
        if d.kept_env:
            ui.data(f"  kept (set outside recursectl): {', '.join(sorted(d.kept_env))}")
        if d.pruned_env:
            ui.data(f"  removed (--prune-env): {', '.join(d.pruned_env)}")
    if d.extra_statements or d.managed_policies:
        ui.data("IAM additions to the role:")
        for st in d.extra_statements:
            ui.data(f"  statement {json.dumps(st, sort_keys=True)}")
        for arn in d.managed_policies:
            ui.data(f"  managed policy {arn}")
