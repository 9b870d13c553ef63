"""build(settings) -> Built: the deployment package from the settings, before any AWS call.

Picks the language (a Node.js handler file or runtime, else Python), settles the handler
(discovered when no setting names one) and the runtime, checks both, reads the extra IAM
statements (`iam_statements` and `iam_policy_file`), and runs the Python or Node packager.
What a person should see is passed in as `info` / `warn` callbacks, so the CLI keeps the
terminal and this stays testable without click."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recursectl import nodejs
from recursectl.build import discover, node, runtimes
from recursectl.build.sources import format_size
from recursectl.errors import UsageError
from recursectl.names import check_function_name, check_statements

if TYPE_CHECKING:
    from recursectl.build.package import HandlerSpec, Options, Package
    from recursectl.settings import Settings

Say = Callable[[str], None]


def _silent(_: str) -> None:
    return None


@dataclass(frozen=True)
class Built:
    """What build() settled and made: the settings (with the handler and runtime it chose),
    the package, the role's extra statements, and what the caller reports."""

    settings: Settings
    package: Package
    statements: tuple[dict[str, Any], ...]
    node: bool  # a Node.js package (the local cloud needs its runtime client)
    note: str | None = None  # how the handler was found, when no setting named it


def build(
    settings: Settings,
    *,
    handler_from_flag: bool = False,
    runtime_from_flag: bool = False,
    quiet: bool = False,
    info: Say = _silent,
    warn: Say = _silent,
) -> Built:
    """The handler checked and its package built. `handler_from_flag`: the handler is
    relative to the current folder (else to the config file's); `runtime_from_flag`: the
    runtime was chosen, not defaulted; `quiet` (--json) leaves out the progress lines."""
    statements = extra_statements(settings)
    base = settings.config_path.parent if not handler_from_flag and settings.config_path else None
    note = None
    if settings.handler is None:
        settings, note = _discover(settings, base or Path.cwd(), warn)
    if _is_node(settings.handler, settings.runtime, base):
        settings, pkg = _build_node(
            settings, explicit_runtime=runtime_from_flag, cwd=base, quiet=quiet, info=info,
            warn=warn,
        )  # fmt: skip
        return Built(settings, pkg, statements, node=True, note=note)
    spec = _handler_spec(settings, handler_from_flag)
    _check_runtime(settings, spec)
    pkg = _build_python(settings, spec, quiet, info)
    return Built(settings, pkg, statements, node=False, note=note)


def _discover(settings: Settings, base: Path, warn: Say) -> tuple[Settings, str | None]:
    """No handler named anywhere: the folder's one handler file, an error naming the
    candidates when there are several, or (only where there is none) the bundled template."""
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
        return settings.with_overrides(handler=spec), note
    if found.ambiguous:
        raise UsageError(
            f"{_shown(folder)} holds several handlers: {', '.join(found.ambiguous)}.",
            hint=f"name one: --handler {found.ambiguous[0]} (or `handler` in recursectl.toml)",
        )
    if settings.source:
        return settings, None  # a code root without a handler: the packager says so
    warn(
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
    return node.is_node_handler(handler, cwd) or (runtimes.language_of(runtime) == runtimes.NODE)


def _base(settings: Settings) -> Path:
    """Paths from the config file are relative to it; from flags, to the current folder."""
    return settings.config_path.parent if settings.config_path else Path.cwd()


def _path(settings: Settings, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    return path if path.is_absolute() else _base(settings) / path


def extra_statements(settings: Settings) -> tuple[dict[str, Any], ...]:
    """The extra IAM statements: `iam_statements` plus the `iam_policy_file`'s."""
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


# Python ------------------------------------------------------------------------------------
def _handler_spec(settings: Settings, from_flag: bool) -> HandlerSpec:
    from recursectl.build import package

    cwd = Path.cwd() if from_flag else _base(settings)
    source = settings.source
    return package.parse_handler(settings.handler, cwd=cwd, source=source, discover=True)


def _check_runtime(settings: Settings, spec: HandlerSpec) -> None:
    from recursectl.aws.model import lambda_runtimes

    language = runtimes.language_of_file(spec.file) or runtimes.PYTHON
    runtimes.check(settings.runtime, language, known=lambda_runtimes())
    runtimes.check_handler(settings.runtime, spec.file)


def _options(settings: Settings, quiet: bool, info: Say) -> Options:
    from recursectl.build.package import Options

    def on_install(target: str) -> None:
        if not quiet:
            info(f"installing dependencies for {target} (cached afterwards)...")

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


def _build_python(settings: Settings, spec: HandlerSpec, quiet: bool, info: Say) -> Package:
    from recursectl.build import package

    pkg = package.build(spec, _options(settings, quiet, info))
    if quiet:
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
    info(
        f"Packaged handler {pkg.handler} (from {origin}): {len(pkg.listing)} files, "
        f"{format_size(pkg.unzipped_size)} unzipped, {format_size(pkg.size)} zipped{deps}"
    )
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if settings.local and settings.runtime != here:
        info(
            f"note: the local cloud runs handlers with this interpreter ({here}), "
            f"not {settings.runtime}"
        )
    if settings.local and pkg.deps_target and "this machine" in pkg.deps_target:
        info(
            f"note: the local cloud cannot load Lambda's wheels here, so the dependencies are "
            f"installed for {pkg.deps_target}; on AWS the zip differs only in the wheels' platform"
        )
    return pkg


# Node.js -----------------------------------------------------------------------------------
def _build_node(
    settings: Settings,
    *,
    explicit_runtime: bool,
    cwd: Path | None,
    quiet: bool,
    info: Say,
    warn: Say,
) -> tuple[Settings, Package]:
    """Check the runtime and the handler, then package it."""
    defaulted = not explicit_runtime and runtimes.language_of(settings.runtime) == runtimes.PYTHON
    if defaulted:
        runtime, why = default_node_runtime()
        info(f"runtime {runtime}: {why} (--runtime sets another)")
    else:
        runtime = node.choose_runtime(settings.runtime, explicit_runtime)
    if runtime != settings.runtime:
        settings = settings.with_overrides(runtime=runtime)
    check_function_name(settings.name)
    if not settings.handler:
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
        deps = sum(1 for f in pkg.listing if f.origin == "dependency")
        info(
            f"Packaged handler {pkg.handler} (from {pkg.origin}): {len(pkg.listing)} files"
            + (f" ({deps} from node_modules)" if deps else "")
            + f", {format_size(pkg.unzipped_size)} unzipped, {format_size(pkg.size)} zipped"
        )
    for warning in (node.bundled_warning(pkg), node.scripts_warning(pkg)):
        if warning:
            warn(warning)
    if settings.local and not defaulted:  # the runtime's line said which Node.js runs it
        _local_note(runtime, info, warn)
    return settings, pkg


def default_node_runtime() -> tuple[str, str]:
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


def _local_note(runtime: str, info: Say, warn: Say) -> None:
    """As for Python: a note when the local node is not the declared runtime's major."""
    try:
        local = nodejs.toolchain().version
    except nodejs.NodeError as exc:
        warn(f"{exc.message} ({exc.hint})")
        return
    if str(nodejs.runtime_major(runtime)) != local.split(".", 1)[0]:
        info(f"note: the local cloud runs handlers with Node.js {local}, not {runtime}")
