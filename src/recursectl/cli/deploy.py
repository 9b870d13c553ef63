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
    from recursectl.build.package import HandlerSpec, Options, Package
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
    statements = _statements(settings)
    settings, pkg = _package(app, settings, flags, as_json, dry_run)
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
    from recursectl.deploy import envvars
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


def _package(
    app: App, settings: Settings, flags: dict[str, Any], as_json: bool, dry_run: bool = False
) -> tuple[Settings, Package]:
    """The handler checked and its package built, before any AWS call (a Node.js handler
    can settle the runtime: the settings come back with it)."""
    from_flag = flags.get("handler") is not None
    base = settings.config_path.parent if not from_flag and settings.config_path else None
    note = None
    if settings.handler is None:
        settings, note = _discover(app, settings, base or Path.cwd())
    if _is_node(settings.handler, settings.runtime, base):
        from recursectl.cli.deploy_node import prepare_node

        explicit_runtime = flags.get("runtime") is not None
        settings, pkg = prepare_node(
            app, settings, explicit_runtime=explicit_runtime, cwd=base, quiet=as_json,
            build=not dry_run,
        )  # fmt: skip
    else:
        spec = _handler_spec(settings, from_flag)
        _check_runtime(settings, spec)
        pkg = _build(app, settings, spec, as_json)
    if note and not as_json:
        app.ui.info(note)
    return settings, pkg


def _discover(app: App, settings: Settings, base: Path) -> tuple[Settings, str | None]:
    """No handler named anywhere: the folder's one handler file, an error naming the
    candidates when there are several, or (only where there is none) the bundled template."""
    from recursectl.build import discover
    from recursectl.errors import UsageError

    folder = _path(settings, settings.source) or base
    if not folder.is_dir():
        return settings, None  # the packager says what is wrong with --source
    found = discover.find(folder)
    if found.spec is not None and found.file is not None:
        function = found.spec.rpartition(":")[2]
        # `handler.py`, as a user would write it, when the function has the default name
        spec = found.file.name if function == "handler" else found.spec
        if folder != base and not (settings.source and found.language == "python"):
            spec = f"{found.file}:{function}"  # --source is the Python packager's only
        note = f"handler {found.spec}: found in {_shown(folder)} (--handler names another)"
        return app.configure(handler=spec), note
    if found.ambiguous:
        raise UsageError(
            f"{_shown(folder)} holds several handlers: {', '.join(found.ambiguous)}.",
            hint=f"name one: --handler {found.ambiguous[0]} (or `handler` in recursectl.toml)",
        )
    if settings.source:
        return settings, None  # a code root without a handler: the packager says so
    app.ui.warn(
        f"no handler file in {_shown(folder)} (no .py function taking (event, context), no "
        "exported .js function): deploying recursectl's BUNDLED EXAMPLE handler, not your "
        "code. Pass --handler FILE[:FUNCTION], or run `recursectl init` to start a project."
    )
    return settings, None


def _shown(folder: Path) -> str:
    """A folder as the user would write it: relative to here when inside it."""
    try:
        rel = folder.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(folder)
    return "this folder" if rel == Path(".") else f"{rel.as_posix()}/"


def _shown_file(path: Path) -> str:
    """A file as the user would name it: relative to here when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _is_node(handler: str | None, runtime: str, cwd: Path | None) -> bool:
    """A Node.js handler file (or Lambda's form of one), or a nodejs* runtime."""
    from recursectl.build import node, runtimes

    return node.is_node_handler(handler, cwd) or (runtimes.language_of(runtime) == runtimes.NODE)


def _base(settings: Settings) -> Path:
    """Paths from the config file are relative to it; from flags, to the current folder."""
    return settings.config_path.parent if settings.config_path else Path.cwd()


def _path(settings: Settings, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    return path if path.is_absolute() else _base(settings) / path


def _handler_spec(settings: Settings, from_flag: bool) -> HandlerSpec:
    from recursectl.build import package

    cwd = Path.cwd() if from_flag else _base(settings)
    source = settings.source
    return package.parse_handler(settings.handler, cwd=cwd, source=source, discover=True)


def _check_runtime(settings: Settings, spec: HandlerSpec) -> None:
    from recursectl.aws.model import lambda_runtimes
    from recursectl.build import runtimes

    language = runtimes.language_of_file(spec.file) or runtimes.PYTHON
    runtimes.check(settings.runtime, language, known=lambda_runtimes())
    runtimes.check_handler(settings.runtime, spec.file)


def _statements(settings: Settings) -> tuple[dict[str, Any], ...]:
    """The extra IAM statements: `iam_statements` plus the `iam_policy_file`'s."""
    from recursectl.errors import UsageError
    from recursectl.names import check_statements

    out = check_statements(list(settings.iam_statements), "iam_statements")
    path = _path(settings, settings.iam_policy_file)
    if path is not None:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(
                f"IAM policy file {settings.iam_policy_file} does not exist.",
                hint="fix --iam-policy-file (or `iam_policy_file` in recursectl.toml)",
            ) from None
        except (ValueError, OSError) as exc:
            raise UsageError(
                f"IAM policy file {settings.iam_policy_file} is not valid JSON: {exc}.",
                hint="write a policy document or a list of statements",
            ) from None
        out += check_statements(doc, str(settings.iam_policy_file))
    return out


def _options(app: App, settings: Settings, as_json: bool) -> Options:
    from recursectl.build.package import Options

    def on_install(target: str) -> None:
        if not as_json:
            app.ui.info(f"installing dependencies for {target} (cached afterwards)...")

    return Options(
        exclude=settings.exclude,
        include=settings.include,
        requirements=_path(settings, settings.requirements),
        runtime=settings.runtime,
        architecture=settings.architecture,
        local=settings.local,
        build_sdists=settings.python_build_sdists,
        on_install=on_install,
        # With --source, the project's requirements may sit above the code root (src/ layout).
        project_dir=settings.project_dir if settings.source else None,
    )


def _build(app: App, settings: Settings, spec: HandlerSpec, as_json: bool) -> Package:
    from recursectl.build import package

    pkg = package.build(spec, _options(app, settings, as_json))
    if as_json:
        return pkg
    origin = "the bundled template" if spec.bundled else spec.origin
    n = len(pkg.dependencies)
    req = pkg.requirements_file
    deps = (
        f", {n} {'dependency' if n == 1 else 'dependencies'} "
        f"({'installed' if pkg.installed else 'cached'}) from {_shown_file(req)}"
        if pkg.deps_target and req is not None
        else ""
    )
    app.ui.info(
        f"Packaged handler {pkg.handler} (from {origin}): {len(pkg.listing)} files, "
        f"{_size(pkg.unzipped_size)} unzipped, {_size(pkg.size)} zipped{deps}"
    )
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if settings.local and settings.runtime != here:
        app.ui.info(
            f"note: the local cloud runs handlers with this interpreter ({here}), "
            f"not {settings.runtime}"
        )
    if settings.local and pkg.deps_target and "this machine" in pkg.deps_target:
        app.ui.info(
            f"note: the local cloud cannot load Lambda's wheels here, so the dependencies are "
            f"installed for {pkg.deps_target}; on AWS the zip differs only in the wheels' platform"
        )
    return pkg


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
