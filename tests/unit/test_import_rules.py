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
