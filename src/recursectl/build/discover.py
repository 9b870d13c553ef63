"""Which handler a folder holds, when no setting names one.

A folder's top-level Python and Node.js files are read (not run): a Python file offers its
public top-level functions that take two positional parameters (Lambda's `event, context`),
a Node.js file its named exports (`module.exports.X =`, `exports.X =`, `module.exports = {X}`,
`export const X`, `export function X`, `export { X }`). One candidate: that one. Several: a
`handler.py` defining `handler` (recursectl's own convention, `recursectl init`) wins, else the
caller says which ones there are and how to pick (`--handler`). None: the bundled template.

Pure apart from reading the files.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from recursectl import protocol

PY_SUFFIX = ".py"
NODE_SUFFIXES = (".js", ".mjs", ".cjs")
_MAX_BYTES = 2 * 2**20  # a larger file is a bundle or data, not a handler someone wrote
# Files that are tooling, tests or recursectl's own, never a function's handler.
_SKIP_NAMES = {
    *protocol.PYTHON_HELPER_FILES,
    *protocol.NODE_HELPER_FILES,
    "conftest.py",
    "setup.py",
    "noxfile.py",
    "fabfile.py",
    "manage.py",
}
_SKIP_PATTERN = re.compile(
    r"^(test_.*\.py|.*_test\.py|.*\.(test|spec)\.[cm]?js|.*\.config\.[cm]?js|\..*|gulpfile\.[cm]?js|Gruntfile\.[cm]?js)$"
)
_ID = r"[A-Za-z_$][\w$]*"
_NODE_EXPORT = re.compile(
    rf"(?:^|[;\s}})])(?:module\.)?exports\.({_ID})\s*=(?!=)"
    rf"|(?:^|[;\s}})])(?:module\.)?exports\[\s*['\"]({_ID})['\"]\s*\]\s*=(?!=)"
    rf"|^\s*export\s+(?:async\s+)?function\s*\*?\s*({_ID})"
    rf"|^\s*export\s+(?:const|let|var)\s+({_ID})",
    re.MULTILINE,
)
_NODE_EXPORT_OBJECT = re.compile(r"module\.exports\s*=\s*\{([^}]*)\}", re.DOTALL)
_NODE_EXPORT_LIST = re.compile(r"^\s*export\s*\{([^}]*)\}", re.MULTILINE)
_LINE_COMMENT = re.compile(r"(?m)^\s*//.*$")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


@dataclass(frozen=True)
class Candidate:
    """One file that looks like a handler, with the functions it offers."""

    file: Path
    functions: tuple[str, ...]
    named: bool = False  # Python: the parameters are named event/context (a helper's are not)

    @property
    def language(self) -> str:
        return "python" if self.file.suffix == PY_SUFFIX else "node"

    def spec(self, function: str | None = None) -> str:
        """The `--handler` value that names it: `handler.js:recursiveExample`."""
        return f"{self.file.name}:{function or self.functions[0]}"


_EVENT_NAMES = {"event", "evt", "_event", "lambda_event"}
_CONTEXT_NAMES = {"context", "ctx", "_context", "_ctx", "lambda_context"}


def python_functions(source: str, *, named_only: bool = False) -> tuple[str, ...]:
    """Public top-level functions taking two positional parameters (event, context);
    `named_only`: those whose parameters are named so (`event`, `context`, `ctx`, ...)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ()
    out = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if node.name.startswith("_"):
            continue
        positional = [*node.args.posonlyargs, *node.args.args]
        required = len(positional) - len(node.args.defaults)
        if not ((len(positional) >= 2 or node.args.vararg) and required <= 2):
            continue
        names = [a.arg for a in positional[:2]]
        named = (names[:1] and names[0] in _EVENT_NAMES) or (
            names[1:] and names[1] in _CONTEXT_NAMES
        )
        if named_only and not named:
            continue
        out.append(node.name)
    return tuple(out)


def node_exports(source: str) -> tuple[str, ...]:
    """The named exports of a CommonJS or ES module, in the order they appear."""
    text = _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", source))
    found: list[tuple[int, str]] = []
    for m in _NODE_EXPORT.finditer(text):
        name = next(g for g in m.groups() if g)
        found.append((m.start(), name))
    for pattern in (_NODE_EXPORT_OBJECT, _NODE_EXPORT_LIST):
        for m in pattern.finditer(text):
            for part in m.group(1).split(","):
                item = part.strip()
                if not item or item.startswith("..."):
                    continue
                # `a: b` (object) or `b as a` (export list): the exported name is `a`
                name = item.split(":")[0].strip() if ":" in item else item.split()[-1]
                if re.fullmatch(_ID, name) and name != "default":
                    found.append((m.start(), name))
    names = [n for _, n in sorted(found, key=lambda item: item[0]) if n != "default"]
    return tuple(dict.fromkeys(names))


def candidates(folder: Path) -> list[Candidate]:
    """The top-level files of `folder` that offer at least one handler function."""
    out = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    for path in entries:
        if not path.is_file() or path.name in _SKIP_NAMES or _SKIP_PATTERN.match(path.name):
            continue
        if path.suffix not in (PY_SUFFIX, *NODE_SUFFIXES):
            continue
        try:
            if path.stat().st_size > _MAX_BYTES:
                continue
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if path.suffix != PY_SUFFIX:
            exports = node_exports(source)
            if exports:
                out.append(Candidate(path, exports))
            continue
        named = python_functions(source, named_only=True)
        functions = named or python_functions(source)
        if functions:
            out.append(Candidate(path, functions, named=bool(named)))
    if any(c.named for c in out):  # `def main(event, context)` over a helper's `merge(a, b)`
        out = [c for c in out if c.named or c.language == "node"]
    return out


@dataclass(frozen=True)
class Found:
    """What discovery decided: a handler spec, or why it could not (`ambiguous`)."""

    spec: str | None  # `file:function`, None when there is no handler or it is ambiguous
    file: Path | None = None
    ambiguous: tuple[str, ...] = ()  # the `--handler` values to choose from

    @property
    def language(self) -> str | None:
        if self.file is None:
            return None
        return "python" if self.file.suffix == PY_SUFFIX else "node"


def find(folder: Path) -> Found:
    """The folder's one handler, the candidates when there are several, or nothing."""
    found = candidates(folder)
    if len(found) == 1 and len(found[0].functions) == 1:
        return Found(found[0].spec(), found[0].file)
    conventional = [c for c in found if c.file.name == "handler.py" and "handler" in c.functions]
    if conventional:
        return Found(conventional[0].spec("handler"), conventional[0].file)
    if len(found) == 1:
        preferred = [f for f in found[0].functions if f in ("handler", "lambda_handler")]
        if len(preferred) == 1 and found[0].language == "python":
            return Found(found[0].spec(preferred[0]), found[0].file)
    return Found(None, ambiguous=tuple(c.spec(f) for c in found for f in c.functions))
