"""The deployment package of a Node.js handler: its folder, its production dependencies, the guard.

The zip holds the handler's folder (minus node_modules, hidden files, recursectl.toml), the
project's production dependencies (`npm ci --omit=dev --ignore-scripts` from package-lock.json,
in a staging folder cached by lockfile, runtime, architecture and the scripts setting) and both
Node guard files
(templates/node/*.cjs). The function's Handler is protocol.ENTRY_POINT and the user's handler,
in Lambda's form (`handler.recursiveExample`), goes into RECURSECTL_HANDLER, as for Python.

The AWS SDK v3 is provided by Lambda's Node.js runtimes: it is in the zip only when the
project's production dependencies install it (a pinned version). A handler file that carries
its own copy of the SDK's Lambda client (a bundle made with esbuild or webpack) sends its
Invokes past the guard: such a package has no entry point, so deploy keeps the user's handler
and AWS's loop detection (Terminate), and says so.

Deploy runs nobody's code: npm's lifecycle scripts (preinstall, install, postinstall, and a
native addon's implicit `node-gyp rebuild`) are skipped unless the project opts in with
`node.install_scripts = true`. The dependencies that have such scripts are named in a warning
(`scripts_warning`), since a native addon left unbuilt fails when the handler loads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from recursectl import nodejs, protocol
from recursectl.aws.model import lambda_runtimes
from recursectl.build import runtimes, selfarn, sources
from recursectl.build.package import (
    MAX_UNZIPPED_BYTES,
    MAX_ZIP_BYTES,
    Package,
    PackagedFile,
    build_zip,
    code_sha256,
    is_executable,
    templates_dir,
)
from recursectl.errors import UsageError

SUFFIXES = (".js", ".mjs", ".cjs")
DEFAULT_FILE = "handler.js"
DEFAULT_FUNCTION = "handler"
GUARD_FILES = protocol.NODE_HELPER_FILES  # the entry point, the guard, the job module
_NPM_TIMEOUT_S = 900
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
# What an esbuild/webpack bundle of @aws-sdk/client-lambda leaves in the file: the SDK's own
# serializer of InvokeCommand and its client class (a plain `require` of the SDK has neither).
_BUNDLED_SDK = re.compile(rb"\bse_InvokeCommand\b|\bclass LambdaClient\b")


@dataclass(frozen=True)
class NodeHandler:
    """Where a Node handler lives: the packaged folder, the file, the exported function."""

    root: Path
    file: Path
    function: str
    origin: str = ""  # how the user named it (for the output)

    @property
    def handler(self) -> str:
        """Lambda's Handler form: the file's path without its suffix, a dot, the export."""
        rel = self.file.relative_to(self.root)
        return f"{rel.with_suffix('').as_posix()}.{self.function}"


def _split(spec: str) -> tuple[str, str | None]:
    """`PATH[:FUNCTION]` or Lambda's `module.function` -> (path part, function or None)."""
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail and "/" not in tail and "\\" not in tail:
        return head, tail
    if sep and head and not tail:
        return head, None
    return spec, None


def _lambda_form(spec: str, cwd: Path) -> tuple[Path, str] | None:
    """`handler.recursiveExample` -> (handler.js, recursiveExample) when such a file exists."""
    module, dot, function = spec.rpartition(".")
    if not dot or not module or not _IDENT.fullmatch(function):
        return None
    for suffix in SUFFIXES:
        path = cwd / f"{module}{suffix}"
        if path.is_file():
            return path, function
    return None


def is_node_handler(spec: str | None, cwd: Path | None = None) -> bool:
    """Whether `spec` names a Node handler (a .js/.mjs/.cjs file, Lambda's form of one, or a
    folder holding handler.js and no handler.py)."""
    if not spec:
        return False
    base = cwd or Path.cwd()
    path_part, _ = _split(spec)
    if runtimes.language_of_file(path_part) == runtimes.NODE:
        return True
    path = Path(path_part) if Path(path_part).is_absolute() else base / path_part
    if path.is_dir():
        return (path / DEFAULT_FILE).is_file() and not (path / "handler.py").is_file()
    return not path.exists() and _lambda_form(spec, base) is not None


def parse_handler(spec: str, cwd: Path | None = None) -> NodeHandler:
    """`handler.js[:FUNCTION]`, `handler.FUNCTION` (Lambda's form) or a folder -> NodeHandler."""
    base = cwd or Path.cwd()
    path_part, function = _split(spec)
    path = Path(path_part) if Path(path_part).is_absolute() else base / path_part
    if not path.exists() and function is None:
        found = _lambda_form(spec, base)
        if found is not None:
            path, function = found
    if path.is_dir():
        path = path / DEFAULT_FILE
    function = function or DEFAULT_FUNCTION
    if not _IDENT.fullmatch(function):
        raise UsageError(
            f"{function!r} is not a valid JavaScript export name.",
            hint="use --handler FILE.js:EXPORT, e.g. --handler handler.js:recursiveExample",
        )
    if not path.is_file():
        raise UsageError(
            f"Handler file {path_part} does not exist.",
            hint="pass --handler FILE.js:EXPORT, or run `recursectl init --runtime nodejs22.x`",
        )
    if path.suffix not in SUFFIXES:
        raise UsageError(
            f"Handler file {path_part} is not a Node.js file (.js, .mjs, .cjs).",
            hint="--handler handler.js:recursiveExample",
        )
    if path.name in GUARD_FILES:
        raise UsageError(
            f"{path.name} is recursectl's chain guard, not a handler.",
            hint="point --handler at your own handler file",
        )
    path = path.resolve()
    return NodeHandler(root=path.parent, file=path, function=function, origin=spec)


def choose_runtime(runtime: str, explicit: bool) -> str:
    """The runtime for a Node handler: the given one (checked), or the newest Node runtime
    when only the Python default was there."""
    if not explicit and runtimes.language_of(runtime) == runtimes.PYTHON:
        return runtimes.supported(runtimes.NODE, known=lambda_runtimes())[0]
    return runtimes.check(runtime, runtimes.NODE, known=lambda_runtimes())


def validate(spec: NodeHandler) -> None:
    """The export is named in the file and the file parses (`node --check`, when node is here)."""
    try:
        source = spec.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read handler {spec.file}: {exc}.") from None
    if not re.search(rf"(?<![\w$]){re.escape(spec.function)}(?![\w$])", source):
        raise UsageError(
            f"Handler {spec.file.name} does not export {spec.function!r}.",
            hint=f"export it (`module.exports.{spec.function} = async (event, context) => ...`"
            f" or `export const {spec.function} = ...`), or name another: "
            f"--handler {spec.file.name}:NAME",
        )
    node = shutil.which("node")
    if node is None:
        return
    try:
        done = subprocess.run(
            [node, "--check", str(spec.file)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return
    if done.returncode != 0:
        detail = next((ln for ln in done.stderr.splitlines() if "Error" in ln), done.stderr.strip())
        raise UsageError(
            f"Handler {spec.file.name}: invalid JavaScript: {detail.strip()}.",
            hint="fix the syntax error and deploy again (nothing was created)",
        )


def bundles_sdk(files: dict[str, bytes]) -> list[str]:
    """The project's own files (not node_modules) that carry a bundled copy of the SDK."""
    return sorted(
        name
        for name, data in files.items()
        if name.endswith(SUFFIXES)
        and not name.startswith("node_modules/")
        and name not in GUARD_FILES
        and _BUNDLED_SDK.search(data)
    )


def collect(
    root: Path, exclude: Sequence[str] = (), include: Sequence[str] = ()
) -> dict[str, Path]:
    """The project's own files (the Python packager's rules: excludes, secrets, symlinks,
    limits, the `exclude`/`include` settings; node_modules is left out, the production
    dependencies come from `npm ci`)."""
    selected = sources.select(root, exclude=exclude, include=include, skip=set(GUARD_FILES))
    return {f.arcname: f.path for f in selected.files}


def build(
    spec: NodeHandler,
    runtime: str,
    architecture: str = "x86_64",
    *,
    install_scripts: bool = False,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
) -> Package:
    """Validate the handler and package its folder, dependencies and the guard.

    `install_scripts`: run the dependencies' lifecycle scripts in `npm ci` (the
    `node.install_scripts` setting); the package's `extra["scripts"]` names the dependencies
    that have such scripts, and `extra["scripts_ran"]` says whether they ran.
    """
    validate(spec)
    own_paths = collect(spec.root, exclude, include)
    contents = {
        name: path.read_bytes() for name, path in own_paths.items() if name not in GUARD_FILES
    }
    own = dict(contents)
    deps = production_dependencies(
        spec.root, runtime, architecture, install_scripts=install_scripts, own=own_paths
    )
    contents.update(deps.files)
    executable = {name for name, path in own_paths.items() if is_executable(path)}
    executable.update(deps.executable)
    bundled = bundles_sdk(contents)
    for name in GUARD_FILES:
        contents[name] = (templates_dir() / "node" / name).read_bytes()
    unzipped = sum(len(c) for c in contents.values())
    if unzipped > MAX_UNZIPPED_BYTES:
        raise UsageError(
            f"The folder {spec.root} holds {unzipped / 2**20:.0f} MB; Lambda allows 250 MB.",
            hint="put the handler in its own folder and point --handler at it",
        )
    data = build_zip(contents, executable)
    if len(data) > MAX_ZIP_BYTES:
        raise UsageError(
            f"The package is {len(data) / 2**20:.0f} MB zipped; direct upload allows 50 MB.",
            hint="move large dependencies to a layer, or trim the project",
        )
    return Package(
        zip_bytes=data,
        code_sha256=code_sha256(data),
        files=tuple(sorted(contents)),
        handler=spec.handler,
        entry_point=None if bundled else protocol.ENTRY_POINT,
        extra={"scripts": deps.scripts, "scripts_ran": install_scripts},
        listing=listing(contents, own),
        source_root=spec.root,
        origin=spec.origin or spec.file.name,
        self_arn_reads=selfarn.scan(own),
    )


def scripts_warning(package: Package) -> str | None:
    """What deploy says when dependencies' install scripts were skipped (None: none were)."""
    names: tuple[str, ...] = package.extra.get("scripts", ())
    if not names or package.extra.get("scripts_ran"):
        return None
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return (
        f"npm ran with --ignore-scripts: the install scripts of {shown} did not run. "
        "A native addon among them is not built and fails when the handler loads it. "
        "To run them at deploy, set node.install_scripts = true in recursectl.toml: their "
        "code then runs on this machine, with your permissions (see the README)"
    )


def listing(contents: dict[str, bytes], own: dict[str, bytes]) -> tuple[PackagedFile, ...]:
    """Every zip entry with its size and where it came from, as for a Python package."""

    def origin(name: str) -> str:
        if name in GUARD_FILES:
            return "recursectl"
        return "source" if name in own else "dependency"

    return tuple(PackagedFile(n, len(contents[n]), origin(n)) for n in sorted(contents))


def bundled_warning(package: Package) -> str | None:
    """What deploy says when the guard cannot see the handler's Invokes."""
    if package.entry_point is not None:
        return None
    return (
        "the handler bundles its own copy of the AWS SDK's Lambda client, so recursectl's "
        "guard cannot see its Invoke calls: the function keeps its own handler, no chain "
        "markers, and AWS's recursive loop detection stays on (Terminate)"
    )


# dependencies ---------------------------------------------------------------------------------
def _production_names(root: Path) -> dict[str, str]:
    try:
        manifest = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"Cannot read {root / 'package.json'}: {exc}.") from None
    deps = manifest.get("dependencies") if isinstance(manifest, dict) else None
    return {str(k): str(v) for k, v in (deps or {}).items()}


@dataclass(frozen=True)
class NodeDeps:
    """The production dependencies as they go into the zip."""

    files: dict[str, bytes]  # node_modules/... -> content
    executable: frozenset[str] = frozenset()  # those executable on disk (0755 in the zip)
    scripts: tuple[str, ...] = ()  # packages with install scripts (see with_install_scripts)


def production_dependencies(
    root: Path,
    runtime: str,
    architecture: str,
    *,
    install_scripts: bool = False,
    own: dict[str, Path] | None = None,
) -> NodeDeps:
    """The project's production dependencies (none without any), installed by `npm ci`.

    `own`: the project's files as `collect` chose them (collected here when not given)."""
    if not _production_names(root):
        return NodeDeps({})
    lock = root / "package-lock.json"
    if not lock.is_file():
        raise UsageError(
            f"{root / 'package.json'} has dependencies but no package-lock.json next to it.",
            hint="run `npm install` once to write package-lock.json (deploy runs `npm ci`)",
        )
    staged = _stage(root, runtime, architecture, install_scripts, own)
    out: dict[str, bytes] = {}
    executable: set[str] = set()
    modules = staged / "node_modules"
    inside = staged.resolve()
    # Links are followed only inside the staging folder (a `file:` dependency npm linked).
    for dirpath, dirnames, filenames in os.walk(modules, followlinks=True):
        here = Path(dirpath)
        if not here.resolve().is_relative_to(inside):
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if d != ".bin")
        for name in sorted(filenames):
            path = here / name
            if (
                not path.is_file()
                or not path.resolve().is_relative_to(inside)
                or path == modules / ".package-lock.json"
            ):
                continue
            arcname = path.relative_to(staged).as_posix()
            out[arcname] = path.read_bytes()
            if is_executable(path):
                executable.add(arcname)
    scripts = (*_own_scripts(root), *with_install_scripts(out))
    return NodeDeps(out, frozenset(executable), scripts)


def _own_scripts(root: Path) -> list[str]:
    """["package.json (this project)"] when the project's own manifest has scripts that
    `npm ci` runs for the root (install hooks and `prepare`), else []."""
    try:
        manifest = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    scripts = manifest.get("scripts") if isinstance(manifest, dict) else None
    if isinstance(scripts, dict) and any(scripts.get(h) for h in (*_SCRIPT_HOOKS, "prepare")):
        return ["package.json (this project)"]
    return []


_SCRIPT_HOOKS = ("preinstall", "install", "postinstall")
# A package folder's manifest: node_modules/NAME/package.json or node_modules/@SCOPE/NAME/...
_MANIFEST = re.compile(r"(?:^|/)node_modules/((?:@[^/]+/)?[^/@][^/]*)/package\.json$")


def with_install_scripts(files: dict[str, bytes]) -> list[str]:
    """The installed packages (names, sorted) that npm would run install scripts for.

    npm runs `preinstall`, `install` and `postinstall`, and for a package that ships a
    binding.gyp without an install or preinstall script, `node-gyp rebuild` (the same rule
    sets `hasInstallScript` in package-lock.json). Read from the installed tree, which holds
    only the production dependencies, so a dev-only native addon is not named.
    """
    names: set[str] = set()
    for path, data in files.items():
        found = _MANIFEST.search(path)
        if found is None:
            continue
        try:
            manifest = json.loads(data)
        except ValueError:
            continue
        scripts = manifest.get("scripts") if isinstance(manifest, dict) else None
        scripts = scripts if isinstance(scripts, dict) else {}
        folder = path[: -len("package.json")]
        gyp = f"{folder}binding.gyp" in files
        if any(scripts.get(h) for h in _SCRIPT_HOOKS) or gyp:
            names.add(found.group(1))
    return sorted(names)


def npm_ci_args(npm: str, install_scripts: bool) -> list[str]:
    """The npm command deploy runs (the README quotes it): production dependencies only, no
    lifecycle scripts unless opted in, and no audit, funding or update-check requests."""
    scripts = [] if install_scripts else ["--ignore-scripts"]
    return [npm, "ci", "--omit=dev", *scripts, "--no-audit", "--no-fund", "--no-update-notifier"]


def _stage(
    root: Path,
    runtime: str,
    architecture: str,
    install_scripts: bool,
    own: dict[str, Path] | None = None,
) -> Path:
    """`npm ci` in a cached staging folder keyed by lockfile, runtime, architecture and
    whether install scripts run (a tree built with them differs from one without)."""
    manifest = (root / "package.json").read_bytes()
    lock = (root / "package-lock.json").read_bytes()
    scripts = b"scripts" if install_scripts else b"ignore-scripts"
    key = hashlib.sha256(
        b"\0".join([lock, manifest, runtime.encode(), architecture.encode(), scripts])
    )
    dest = nodejs.cache_root() / "node-deps" / key.hexdigest()[:24]
    if (dest / "node_modules").is_dir() and (dest / ".recursectl-done").is_file():
        return dest
    try:
        tc = nodejs.toolchain()
    except nodejs.NodeError as exc:
        raise UsageError(
            f"{exc.message}; deploy installs the dependencies with npm.", exc.hint
        ) from None
    with nodejs._locked(dest.with_name(dest.name + ".lock")):
        if (dest / ".recursectl-done").is_file():
            return dest
        tmp = dest.with_name(f"{dest.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        # The project's files too: a `file:` dependency names a path relative to it.
        for name, path in (collect(root) if own is None else own).items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, tmp / name)
        args = npm_ci_args(tc.npm, install_scripts)
        env = nodejs._npm_env(tc)
        env["npm_config_arch"] = {"arm64": "arm64"}.get(architecture, "x64")
        env["npm_config_install_links"] = "true"  # `file:` dependencies copied, not linked
        try:
            done = subprocess.run(
                args, cwd=tmp, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                text=True, timeout=_NPM_TIMEOUT_S, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UsageError(f"npm ci failed: {exc}.") from None
        if done.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise UsageError(
                f"{' '.join(['npm', *args[1:]])} failed for {root}: {' / '.join(tail)}",
                hint="check package.json and package-lock.json (`npm ci` must pass there)",
            )
        (tmp / ".recursectl-done").write_text(platform.machine() + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    return dest
