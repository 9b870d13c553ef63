"""The import rules of docs/architecture.md that a reader cannot see at a glance, read from
the source with ast: commands call library code, not other commands, and what builds a
package does not reach up into the CLI or the terminal."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "recursectl"
CLI = SRC / "cli"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _command_modules() -> set[str]:
    """cli/ modules that define a click command (the list and the group excepted)."""
    found = set()
    for path in CLI.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.stem not in ("__init__", "commands") and (
            "@click.command" in text or "@click.group" in text
        ):
            found.add(f"recursectl.cli.{path.stem}")
    return found


def test_the_rule_sees_the_commands() -> None:
    commands = _command_modules()
    assert {"recursectl.cli.deploy", "recursectl.cli.logs", "recursectl.cli.ops"} <= commands
    assert "recursectl.cli.show" not in commands  # a shared helper


def test_no_command_module_imports_another() -> None:
    commands = _command_modules()
    offenders = sorted(
        f"{module} imports {other}"
        for module in commands
        for other in _imports(CLI / f"{module.rsplit('.', 1)[1]}.py") & commands
        if other != module
    )
    assert offenders == []


def test_only_the_cli_and_main_import_the_cli() -> None:
    offenders = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] not in ("cli", "__main__.py")
        and any(m == "recursectl.cli" or m.startswith("recursectl.cli.") for m in _imports(path))
    )
    assert offenders == []


def test_building_a_package_needs_no_terminal() -> None:
    """build/ decides and packages; the CLI shows what it says (callbacks)."""
    up = ("recursectl.cli", "recursectl.ui", "recursectl.app", "click", "rich")
    offenders = sorted(
        f"{path.relative_to(SRC)} imports {m}"
        for path in (SRC / "build").glob("*.py")
        for m in _imports(path)
        if any(m == u or m.startswith(f"{u}.") for u in up)
    )
    assert offenders == []


def _names(path: Path) -> set[str]:
    """What a file binds by importing: `import a.b` -> a.b, `from a import b` -> a.b."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_build_decision_lives_outside_the_cli() -> None:
    """The CLI calls build.entry.build(); the packagers, the handler discovery and the
    packager's options are build/'s (the CLI may still read build/'s data: sizes, templates)."""
    decided = {
        "recursectl.build.package",
        "recursectl.build.package.build",
        "recursectl.build.package.Options",
        "recursectl.build.package.parse_handler",
        "recursectl.build.node",
        "recursectl.build.discover",
        "recursectl.build.dependencies",
    }
    offenders = sorted(
        f"{path.relative_to(SRC)} imports {name}"
        for path in CLI.glob("*.py")
        for name in _names(path) & decided
    )
    assert offenders == []


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, known: set[str]) -> set[str]:
    """The recursectl modules a file imports when it runs: at any depth, but not inside an
    `if TYPE_CHECKING:` block (names for mypy only make no circle)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found & known


def _import_graph() -> dict[str, set[str]]:
    files = {_module_of(path): path for path in SRC.rglob("*.py")}
    known = set(files)
    return {m: _runtime_imports(p, known) - {m} for m, p in files.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_between_files_at_run_time() -> None:
    assert _circles(_import_graph()) == []


def test_no_two_packages_import_each_other() -> None:
    """deploy uses build, audit uses aws, ...: never both ways (a package's files may)."""
    packages: dict[str, set[str]] = {}
    for module, imported in _import_graph().items():
        parts = module.split(".")
        if len(parts) < 3:
            continue  # a top-level module: shared by all
        for other in imported:
            other_parts = other.split(".")
            is_package = len(other_parts) > 2 or (SRC / other_parts[-1]).is_dir()
            if is_package and other_parts[1] != parts[1]:
                packages.setdefault(parts[1], set()).add(other_parts[1])
    both_ways = sorted(
        f"{a} <-> {b}"
        for a, used in packages.items()
        for b in used
        if a < b and a in packages.get(b, ())
    )
    assert both_ways == []


def test_tests_share_helpers_through_tests_support_only() -> None:
    """No test file imports a conftest or another test module: what tiers share lives in
    tests/support (fixtures through the root conftest's plugin)."""
    tests = SRC.parents[1] / "tests"
    offenders = sorted(
        f"{path.relative_to(tests)} imports {m}"
        for path in tests.rglob("*.py")
        for m in _imports(path)
        if m.startswith("tests.")
        and any(part == "conftest" or part.startswith("test_") for part in m.split(".")[1:])
    )
    assert offenders == []
