"""The deployment package: a deterministic zip of the handler's folder plus the chain helper.

Deterministic (fixed timestamps, sorted entries, fixed permissions) so that the same source
always gives the same CodeSha256, which is how `deploy` knows the code is unchanged.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from recursectl import protocol
from recursectl.errors import UsageError

HELPER = protocol.PYTHON_HELPER_FILE
DEFAULT_FUNCTION = "handler"
DEFAULT_FILE = "handler.py"
# Lambda's limit for a zip uploaded directly (ZipFile) is 50 MB; 250 MB unzipped.
MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
_FILE_MODE = 0o100644  # regular file, rw-r--r--: Lambda needs world-readable files
_SKIP_DIRS = {"__pycache__", "node_modules"}
_SKIP_FILES = {"recursectl.toml"}  # deploy writes function_arn into it: it must not change the code


@dataclass(frozen=True)
class HandlerSpec:
    """Where the handler lives: the folder that is packaged, the file, the function."""

    root: Path
    file: Path
    function: str

    @property
    def module(self) -> str:
        rel = self.file.relative_to(self.root).with_suffix("")
        return ".".join(rel.parts)

    @property
    def handler(self) -> str:
        """The value of Lambda's Handler setting, e.g. `handler.handler`."""
        return f"{self.module}.{self.function}"


@dataclass(frozen=True)
class Package:
    zip_bytes: bytes
    code_sha256: str
    files: tuple[str, ...]
    handler: str  # the user's handler, `module.function`
    # The packaged helper's entry point (protocol.ENTRY_POINT), None when the helper in this
    # installation has none: deploy then keeps the user's handler and AWS's loop detection.
    entry_point: str | None = protocol.ENTRY_POINT

    @property
    def size(self) -> int:
        return len(self.zip_bytes)


def templates_dir() -> Path:
    """The bundled templates: inside the wheel, or the repository's `templates/` (editable)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent.parent / "templates"):
        if (candidate / "python" / DEFAULT_FILE).is_file():
            return candidate
    raise UsageError(  # pragma: no cover - a broken installation
        "recursectl's bundled templates are missing.", hint="reinstall recursectl"
    )


def parse_handler(spec: str | None, cwd: Path | None = None) -> HandlerSpec:
    """`PATH[:FUNCTION]` -> HandlerSpec. PATH is a .py file or a folder holding handler.py.

    The file's folder is what gets packaged (so a handler can import its sibling modules).
    """
    if not spec:
        root = templates_dir() / "python"
        return HandlerSpec(root=root, file=root / DEFAULT_FILE, function=DEFAULT_FUNCTION)
    path_part, function = spec, DEFAULT_FUNCTION
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail and "/" not in tail and "\\" not in tail:
        path_part, function = head, tail
    elif sep and head and not tail:
        path_part = head
    if not function.isidentifier():
        raise UsageError(
            f"{function!r} is not a valid Python function name.",
            hint="use --handler PATH[:FUNCTION], e.g. --handler app.py:main",
        )
    path = Path(path_part)
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    if path.is_dir():
        path = path / DEFAULT_FILE
    if not path.is_file():
        raise UsageError(
            f"Handler file {path_part} does not exist"
            + (f" (looked for {path})" if str(path) != path_part else "")
            + ".",
            hint="pass --handler PATH[:FUNCTION], or run `recursectl init` to create handler.py",
        )
    if path.suffix != ".py":
        raise UsageError(
            f"Handler file {path_part} is not a Python file (.py).",
            hint="recursectl packages Python handlers: --handler app.py[:function]",
        )
    if path.name == HELPER:
        raise UsageError(
            f"{HELPER} is recursectl's chain helper, not a handler.",
            hint="point --handler at your own handler file",
        )
    path = path.resolve()
    return HandlerSpec(root=path.parent, file=path, function=function)


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


def collect(root: Path) -> dict[str, Path]:
    """The files under `root` that go into the zip (archive name -> path).

    Skipped: hidden files and folders (.git, .venv, ...), virtual environments, __pycache__,
    compiled files, recursectl.toml, and a stale copy of the chain helper (ours replaces it).
    """
    out: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in _SKIP_DIRS
            and not (here / d / "pyvenv.cfg").exists()
        )
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith((".pyc", ".pyo")) or name in _SKIP_FILES:
                continue
            path = here / name
            arcname = path.relative_to(root).as_posix()
            if arcname == HELPER or not path.is_file():
                continue
            out[arcname] = path
    return out


def build_zip(files: dict[str, bytes]) -> bytes:
    """A zip whose bytes depend only on the names and contents of `files`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=_FIXED_DATE)
            info.create_system = 3  # Unix, so external_attr carries the permissions
            info.external_attr = _FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[arcname], compresslevel=9)
    return buf.getvalue()


def code_sha256(data: bytes) -> str:
    """base64(sha256(zip)): the CodeSha256 Lambda reports for a function."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def build(spec: HandlerSpec) -> Package:
    """Validate the handler and package its folder with the chain helper."""
    validate(spec)
    paths = collect(spec.root)
    contents = {name: path.read_bytes() for name, path in paths.items()}
    contents[HELPER] = (templates_dir() / "python" / HELPER).read_bytes()
    unzipped = sum(len(c) for c in contents.values())
    if unzipped > MAX_UNZIPPED_BYTES:
        raise UsageError(
            f"The folder {spec.root} holds {unzipped / 2**20:.0f} MB; Lambda allows 250 MB.",
            hint="put the handler in its own folder and point --handler at it",
        )
    data = build_zip(contents)
    if len(data) > MAX_ZIP_BYTES:
        raise UsageError(
            f"The package is {len(data) / 2**20:.0f} MB zipped; direct upload allows 50 MB.",
            hint="put the handler in its own folder and point --handler at it",
        )
    return Package(
        zip_bytes=data,
        code_sha256=code_sha256(data),
        files=tuple(sorted(contents)),
        handler=spec.handler,
        entry_point=protocol.ENTRY_POINT,
    )
