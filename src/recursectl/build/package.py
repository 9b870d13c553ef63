"""The deployment package: a deterministic zip of the source root, its dependencies and the
chain helper.

- The source root is the `source` setting, else the handler file's folder; the handler is
  named relative to it (`app/handler.py:main` or `app.handler.main`), so package imports work.
  Which files of it go in is `recursectl.build.sources`' job (excludes, secrets, symlinks, limits).
- A `requirements.txt` in the source root (or the `requirements` setting) is installed by
  `recursectl.build.dependencies` for the function's runtime and architecture (cached) and goes at
  the root of the zip, as Lambda expects; the source root's own files win over a dependency's.
- Deterministic (fixed timestamps, sorted entries, two permissions): the same inputs always
  give the same CodeSha256, which is how `deploy` knows the code is unchanged. A file that is
  executable on disk (any x bit) is 0755 in the zip, every other file 0644: Lambda keeps the
  zip's modes, so a bundled `bin/tool.sh` or binary stays runnable there.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import sys
import zipfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recursectl import protocol
from recursectl.build import selfarn, sources
from recursectl.errors import UsageError

if TYPE_CHECKING:  # pip machinery is imported only when there is something to install
    from recursectl.build.dependencies import Deps
    from recursectl.build.requirements import Requirements
    from recursectl.build.wheel_target import WheelTarget

HELPER = protocol.PYTHON_HELPER_FILE
HELPER_FILES = protocol.PYTHON_HELPER_FILES  # the helper and its job module, shipped together
DEFAULT_FUNCTION = "handler"
DEFAULT_FILE = "handler.py"
REQUIREMENTS_FILE = "requirements.txt"
BUNDLED = "the bundled template"
MAX_ZIP_BYTES = sources.MAX_ZIP_BYTES
MAX_UNZIPPED_BYTES = sources.MAX_UNZIPPED_BYTES

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
_FILE_MODE = 0o100644  # regular file, rw-r--r--: Lambda needs world-readable files
_EXEC_MODE = 0o100755  # regular file, rwxr-xr-x: an executable stays one on Lambda


@dataclass(frozen=True)
class HandlerSpec:
    """Where the handler lives: the source root that is packaged, the file, the function."""

    root: Path
    file: Path
    function: str
    origin: str = ""  # how the user named it (a path, or BUNDLED): for the output

    @property
    def module(self) -> str:
        rel = self.file.relative_to(self.root).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        return ".".join(parts)

    @property
    def handler(self) -> str:
        """The user's handler as Lambda names it, e.g. `app.handler.main`."""
        return f"{self.module}.{self.function}"

    @property
    def bundled(self) -> bool:
        return self.origin == BUNDLED


@dataclass(frozen=True)
class PackagedFile:
    """One entry of the zip, for listings: its name, size, and where it came from."""

    path: str
    size: int
    origin: str  # "source", "dependency", or "recursectl" (the chain helper)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "from": self.origin}


@dataclass(frozen=True)
class Package:
    zip_bytes: bytes
    code_sha256: str
    files: tuple[str, ...]
    handler: str  # the user's handler, `module.function`
    # The packaged helper's entry point (protocol.ENTRY_POINT), None when the helper in this
    # installation has none: deploy then keeps the user's handler and AWS's loop detection.
    entry_point: str | None = protocol.ENTRY_POINT
    listing: tuple[PackagedFile, ...] = ()
    dependencies: tuple[str, ...] = ()  # "name==version" of what was installed into the zip
    installed: bool = False  # pip ran for this build (False: nothing to install, or cached)
    deps_target: str | None = None  # what the dependency wheels were chosen for
    source_root: Path | None = None
    origin: str = ""  # how the handler was named (HandlerSpec.origin)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    # Variables the project's code reads its own function name or ARN from: {name: file}
    self_arn_reads: dict[str, str] = field(default_factory=dict, compare=False)
    requirements_file: Path | None = None  # the requirements installed, when there were any

    @property
    def size(self) -> int:
        return len(self.zip_bytes)

    @property
    def unzipped_size(self) -> int:
        return sum(f.size for f in self.listing)

    def largest_first(self) -> list[PackagedFile]:
        return sorted(self.listing, key=lambda f: (-f.size, f.path))


def templates_dir() -> Path:
    """The bundled templates: inside the wheel, or the repository's `templates/` (editable)."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "templates", here.parent.parent / "templates"):
        if (candidate / "python" / DEFAULT_FILE).is_file():
            return candidate
    raise UsageError(  # pragma: no cover - a broken installation
        "recursectl's bundled templates are missing.", hint="reinstall recursectl"
    )


def helper_dir() -> Path:
    """The folder holding the Python chain helper (init's conftest puts it on sys.path)."""
    return templates_dir() / "python"


_HINT = "pass --handler PATH[:FUNCTION] or MODULE.FUNCTION, or run `recursectl init`"


def parse_handler(
    spec: str | None,
    cwd: Path | None = None,
    *,
    source: str | Path | None = None,
    discover: bool = False,
) -> HandlerSpec:
    """The handler: `PATH[:FUNCTION]` (a .py file, or a folder holding handler.py) or
    `MODULE.FUNCTION` (`app.handler.main`), relative to the source root when `source` is given.

    Without `source`, a PATH is relative to `cwd` and its folder is the source root, and a
    MODULE.FUNCTION is relative to `cwd`. No spec: `source`/handler.py, else (`discover`) a
    handler.py in `cwd`, else the bundled template.
    """
    base = (cwd or Path.cwd()).resolve()
    root = _source_root(source, base) if source is not None else None
    if not spec:
        if root is not None:
            return _from_path(DEFAULT_FILE, DEFAULT_FUNCTION, root, root, DEFAULT_FILE)
        if discover and (base / DEFAULT_FILE).is_file():
            return _from_path(DEFAULT_FILE, DEFAULT_FUNCTION, base, None, DEFAULT_FILE)
        here = helper_dir()
        return HandlerSpec(here, here / DEFAULT_FILE, DEFAULT_FUNCTION, BUNDLED)
    if _is_dotted(spec) and not (root or base).joinpath(spec).exists():
        module, _, function = spec.rpartition(".")
        top = root or base
        rel = Path(*module.split("."))
        candidates = [top / rel.with_suffix(".py"), top / rel / "__init__.py"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise UsageError(
                f"Handler module {module} not found (looked for {candidates[0]}).", hint=_HINT
            )
        _check_function_name(function)
        return _checked(HandlerSpec(top, found.resolve(), function, spec))
    path_part, function = spec, DEFAULT_FUNCTION
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail and "/" not in tail and "\\" not in tail:
        path_part, function = head, tail
    elif sep and head and not tail:
        path_part = head
    _check_function_name(function)
    return _from_path(path_part, function, root or base, root, spec)


def _is_dotted(spec: str) -> bool:
    """`app.handler.main`: dots, no path separator, no `:`, not a .py file name."""
    if any(c in spec for c in "/\\:") or "." not in spec:
        return False
    if Path(spec).suffix in {".py", ".js", ".mjs", ".cjs", ".ts"}:
        return False
    return all(part.isidentifier() for part in spec.split("."))


def _check_function_name(function: str) -> None:
    if not function.isidentifier():
        raise UsageError(
            f"{function!r} is not a valid Python function name.",
            hint="use --handler PATH[:FUNCTION], e.g. --handler app.py:main",
        )


def _source_root(source: str | Path, base: Path) -> Path:
    root = Path(source)
    root = (root if root.is_absolute() else base / root).resolve()
    if not root.is_dir():
        raise UsageError(
            f"Source folder {source} does not exist (looked for {root}).",
            hint="fix --source (or `source` in recursectl.toml): the folder that holds your code",
        )
    return root


def _from_path(
    path_part: str, function: str, base: Path, root: Path | None, origin: str
) -> HandlerSpec:
    path = Path(path_part)
    if not path.is_absolute():
        path = base / path
    if path.is_dir():
        path = path / DEFAULT_FILE
    if not path.is_file():
        shown = f" (looked for {path})" if str(path) != path_part else ""
        raise UsageError(f"Handler file {path_part} does not exist{shown}.", hint=_HINT)
    if path.suffix != ".py":
        raise UsageError(
            f"Handler file {path_part} is not a Python file (.py).",
            hint="recursectl packages Python handlers: --handler app.py[:function]",
        )
    if path.name in HELPER_FILES:
        raise UsageError(
            f"{path.name} is recursectl's chain helper, not a handler.",
            hint="point --handler at your own handler file",
        )
    path = path.resolve()
    return _checked(HandlerSpec(root or path.parent, path, function, origin))


def _checked(spec: HandlerSpec) -> HandlerSpec:
    """The file is inside the source root and its module path is importable."""
    if spec.root not in spec.file.parents:
        raise UsageError(
            f"Handler {spec.file} is outside the source root {spec.root}.",
            hint="name the handler relative to the source root (--source)",
        )
    rel = spec.file.relative_to(spec.root).with_suffix("")
    if not all(part.isidentifier() for part in rel.parts):
        raise UsageError(
            f"Handler {rel.as_posix()}.py cannot be imported as a module "
            f"({'.'.join(rel.parts)!r} is not a Python module name).",
            hint="use folder and file names made of letters, digits and underscores, "
            "or set --source to the folder that holds the handler's top package",
        )
    return spec


def validate(spec: HandlerSpec) -> None:
    """The file is valid Python and defines `function` at top level; else a UsageError."""
    try:
        source = spec.file.read_bytes()
        tree = ast.parse(source, filename=str(spec.file))
    except SyntaxError as exc:
        where = f"{spec.file.name}:{exc.lineno or 0}:{exc.offset or 0}"
        raise UsageError(
            f"Handler {where}: invalid Python: {exc.msg}.",
            hint="fix the syntax error and deploy again (nothing was created)",
        ) from None
    except (OSError, ValueError) as exc:  # ValueError: null bytes in the source
        raise UsageError(f"Cannot read handler {spec.file}: {exc}.") from None
    names = top_level_names(tree)
    if spec.function not in names:
        functions = sorted(
            n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        )
        found = f" (top-level functions: {', '.join(functions)})" if functions else ""
        hint = (
            f"use --handler {spec.file.name}:{functions[0]}"
            if len(functions) == 1
            else f"define `def {spec.function}(event, context):` at top level, "
            f"or name the function: --handler {spec.file.name}:NAME"
        )
        raise UsageError(
            f"Handler {spec.file.name} has no top-level function {spec.function!r}{found}.",
            hint=hint,
        )


def top_level_names(tree: ast.Module) -> set[str]:
    """Names a module binds at top level: functions, assignments, imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def build_zip(files: dict[str, bytes], executable: Collection[str] = ()) -> bytes:
    """A zip whose bytes depend only on the names and contents of `files` and on which of
    them are `executable` (0755; the others 0644)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=_FIXED_DATE)
            info.create_system = 3  # Unix, so external_attr carries the permissions
            mode = _EXEC_MODE if arcname in executable else _FILE_MODE
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[arcname], compresslevel=9)
    return buf.getvalue()


def is_executable(path: Path) -> bool:
    """Whether a file on disk has an execute bit (the zip then gives it 0755)."""
    return bool(path.stat().st_mode & 0o111)


def code_sha256(data: bytes) -> str:
    """base64(sha256(zip)): the CodeSha256 Lambda reports for a function."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@dataclass(frozen=True)
class Options:
    """What else shapes the package besides the handler: the settings, resolved."""

    exclude: Sequence[str] = ()
    include: Sequence[str] = ()
    requirements: Path | None = None  # None: requirements.txt in the source root, if any
    runtime: str = "python3.13"
    architecture: str = "x86_64"
    local: bool = False  # for the local cloud: wheels for this interpreter if Lambda's cannot run
    cache_dir: Path | None = None
    find_links: Path | None = None  # tests: install from this folder only
    build_sdists: bool = False  # python.build_sdists: build deps that only ship an sdist
    project_dir: Path | None = None  # where the nearest requirements are looked for, at most
    on_install: Callable[[str], None] | None = None  # called before pip runs (a cache miss)


def requirements_file(spec: HandlerSpec, options: Options) -> Path | None:
    """The `requirements` setting; else requirements.txt in the source root; else, when the
    source root is a folder of the project (`--source src`), the nearest requirements.txt or
    pyproject.toml with [project] dependencies between it and the project's folder."""
    if options.requirements is not None:
        return options.requirements
    if spec.bundled:
        return None
    for folder in _up_to_project(spec.root, options.project_dir):
        candidate = folder / REQUIREMENTS_FILE
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if folder != spec.root and pyproject.is_file() and pyproject_dependencies(pyproject):
            return pyproject
    return None


def _up_to_project(root: Path, project: Path | None) -> list[Path]:
    """root, its parents up to and including the project's folder (root alone outside it)."""
    root = root.resolve()
    top = project.resolve() if project is not None else None
    if top is None or (top != root and top not in root.parents):
        return [root]
    out = [root]
    while out[-1] != top:
        out.append(out[-1].parent)
    return out


def pyproject_dependencies(path: Path) -> list[str]:
    """pyproject.toml's [project] dependencies (PEP 621); a UsageError for a direct reference
    (pip would fetch it from somewhere other than the index)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"Cannot read {path}: {exc}.", hint="fix the file") from None
    project = data.get("project")
    deps = project.get("dependencies") if isinstance(project, dict) else None
    if not isinstance(deps, list):
        return []
    out = [str(d).strip() for d in deps if str(d).strip()]
    for dep in out:
        if " @ " in dep or "://" in dep:
            raise UsageError(
                f"{path}: dependency {dep!r} is a direct reference (a URL or a path).",
                hint="name packages from the index, or point --requirements at a file",
            )
    return out


def read_requirements(path: Path) -> Requirements:
    """A requirements file, or pyproject.toml's dependencies as requirement lines."""
    from recursectl.build.requirements import Requirements

    if path.name == "pyproject.toml":
        return Requirements(source=path, text="\n".join(pyproject_dependencies(path)) + "\n")
    return Requirements.read(path)


def deps_target(options: Options) -> WheelTarget:
    from recursectl.build import wheel_target

    if options.local:
        return wheel_target.target_for_local_cloud(options.runtime, options.architecture)
    return wheel_target.lambda_target(options.runtime, options.architecture)


def install_deps(spec: HandlerSpec, options: Options) -> Deps | None:
    """The installed (or cached) dependencies, None when there is no requirements file."""
    req = requirements_file(spec, options)
    if req is None:
        return None
    from recursectl.build import dependencies as pydeps

    target = deps_target(options)
    on_install = options.on_install
    return pydeps.install(
        read_requirements(req),
        target,
        cache_dir=options.cache_dir,
        find_links=options.find_links,
        build_sdists=options.build_sdists,
        on_install=(lambda t: on_install(t.describe())) if on_install else None,
    )


def build(spec: HandlerSpec, options: Options | None = None) -> Package:
    """Validate the handler, install its dependencies and package the source root."""
    options = options or Options()
    validate(spec)
    deps = install_deps(spec, options)
    dep_files = deps.files() if deps else {}
    helpers = {name: (helper_dir() / name).read_bytes() for name in HELPER_FILES}
    dep_sizes = {name: path.stat().st_size for name, path in dep_files.items()}
    selected = sources.select(
        spec.root,
        exclude=options.exclude,
        include=options.include,
        skip=set(HELPER_FILES),
        extra_bytes=sum(dep_sizes.values()) + sum(map(len, helpers.values())),
    )
    if spec.bundled:  # the template's folder also holds the helper: only the handler goes in
        selected = sources.Sources(
            selected.root, tuple(f for f in selected.files if f.arcname == DEFAULT_FILE)
        )
    listing = {n: PackagedFile(n, size, "dependency") for n, size in dep_sizes.items()}
    contents = {n: path.read_bytes() for n, path in dep_files.items() if n not in helpers}
    executable = {n for n, path in dep_files.items() if n not in helpers and is_executable(path)}
    for f in selected.files:  # the project's own files win over a dependency's
        listing[f.arcname] = PackagedFile(f.arcname, f.size, "source")
        if f.executable:
            executable.add(f.arcname)
        else:
            executable.discard(f.arcname)
    own = selected.read()
    contents.update(own)
    for name, helper in helpers.items():
        contents[name] = helper
        listing[name] = PackagedFile(name, len(helper), "recursectl")
    data = build_zip(contents, executable)
    if len(data) > MAX_ZIP_BYTES:
        raise UsageError(
            f"The package is {sources.format_size(len(data))} zipped; a direct upload allows "
            f"{sources.format_size(MAX_ZIP_BYTES)}.",
            hint='exclude what the function does not need (exclude = ["..."]), '
            "or move large dependencies into a layer (layers = [...])",
        )
    return Package(
        zip_bytes=data,
        code_sha256=code_sha256(data),
        files=tuple(sorted(contents)),
        handler=spec.handler,
        entry_point=protocol.ENTRY_POINT,
        listing=tuple(listing[n] for n in sorted(listing)),
        dependencies=deps.distributions if deps else (),
        installed=deps.installed if deps else False,
        deps_target=deps.target.describe() if deps else None,
        source_root=spec.root,
        origin=spec.origin,
        self_arn_reads={} if spec.bundled else selfarn.scan(own),
        requirements_file=requirements_file(spec, options) if deps else None,
    )
