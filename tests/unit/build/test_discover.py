"""Which handler a folder holds when no setting names one (recursectl.build.discover)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recursectl.build import discover
from recursectl.settings import default_name, function_name_from

SEED_JS = """'use strict';
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');
const lambda = new LambdaClient({});
module.exports.recursiveExample = async (event, context) => {
  if (event.numberOfCalls > 0) { event.numberOfCalls -= 1; }
  return 'finished';
};
"""


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (SEED_JS, ("recursiveExample",)),
        ("exports.main = async (e) => e;\nexports.other = 1;\n", ("main", "other")),
        ("module.exports = { handler, second: other };\n", ("handler", "second")),
        ("export const handler = async () => 1;\n", ("handler",)),
        ("export async function go(event) { return 1 }\n", ("go",)),
        ("const a = 1, b = 2;\nexport { a as run, b };\n", ("run", "b")),
        ("// module.exports.commented = 1\n/* exports.x = 2 */\nconst y = 3;\n", ()),
        ("if (exports.handler === undefined) {}\n", ()),
    ],
)
def test_node_exports(source: str, expected: tuple[str, ...]) -> None:
    assert discover.node_exports(source) == expected


def test_python_functions_take_event_and_context() -> None:
    source = (
        "import os\n"
        "def handler(event, context):\n    return 1\n"
        "async def other(event, context=None):\n    return 2\n"
        "def helper(x):\n    return x\n"
        "def _private(event, context):\n    return 3\n"
        "def three(a, b, c):\n    return 4\n"
    )
    assert discover.python_functions(source) == ("handler", "other")
    assert discover.python_functions("def broken(:\n") == ()


def test_the_seed_folder_finds_its_one_export(tmp_path: Path) -> None:
    (tmp_path / "handler.js").write_text(SEED_JS)
    (tmp_path / "event.json").write_text('{"numberOfCalls": 5}')
    found = discover.find(tmp_path)
    assert found.spec == "handler.js:recursiveExample"
    assert found.language == "node"


def test_one_python_file_with_any_name(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def main(event, context):\n    return 1\n")
    (tmp_path / "test_app.py").write_text("def test_x(a, b):\n    pass\n")
    (tmp_path / "conftest.py").write_text("def fixture(a, b):\n    pass\n")
    assert discover.find(tmp_path).spec == "app.py:main"


def test_several_exports_or_files_are_ambiguous(tmp_path: Path) -> None:
    (tmp_path / "handler.js").write_text("exports.a = async () => 1;\nexports.b = 2;\n")
    found = discover.find(tmp_path)
    assert found.spec is None
    assert found.ambiguous == ("handler.js:a", "handler.js:b")
    (tmp_path / "handler.js").write_text("exports.a = async () => 1;\n")
    (tmp_path / "worker.py").write_text("def run(event, context):\n    return 1\n")
    assert discover.find(tmp_path).ambiguous == ("handler.js:a", "worker.py:run")


def test_handler_py_with_handler_keeps_the_init_convention(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text(
        "def handler(event, context):\n    return 1\ndef add(a, b):\n    return a + b\n"
    )
    (tmp_path / "util.py").write_text("def merge(a, b):\n    return a\n")
    assert discover.find(tmp_path).spec == "handler.py:handler"


def test_nothing_found(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("hi")
    (tmp_path / "recursectl_chain.py").write_text("def handler(event, context):\n    pass\n")
    (tmp_path / "jest.config.js").write_text("module.exports.testEnvironment = 'node';\n")
    found = discover.find(tmp_path)
    assert (found.spec, found.ambiguous) == (None, ())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("my-app", "my-app"),
        ("@acme/recursive.worker", "recursive-worker"),
        ("Mon Projet été", "Mon-Projet-t"),
        ("x" * 80, "x" * 64),
        ("...", None),
    ],
)
def test_function_name_from(raw: str, expected: str | None) -> None:
    assert function_name_from(raw) == expected


def test_default_name_prefers_the_project_files(tmp_path: Path) -> None:
    folder = tmp_path / "my folder"
    folder.mkdir()
    assert default_name(folder) == ("my-folder", "folder name")
    (folder / "pyproject.toml").write_text('[project]\nname = "py.app"\n')
    assert default_name(folder) == ("py-app", "pyproject.toml name")
    (folder / "package.json").write_text('{"name": "@me/node-app"}')
    assert default_name(folder) == ("node-app", "package.json name")
    (folder / "package.json").write_text("{not json")
    assert default_name(folder) == ("py-app", "pyproject.toml name")


def test_parameters_named_event_and_context_win_over_a_helpers(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "def main(event, context):\n    return merge(event, {})\n"
        "def merge(a, b):\n    return {**a, **b}\n"
    )
    (tmp_path / "utils.py").write_text("def pair(a, b):\n    return a, b\n")
    assert discover.find(tmp_path).spec == "app.py:main"
    # Without names to go by, every two-parameter function is a candidate.
    (tmp_path / "app.py").write_text("def main(e, c):\n    return 1\n")
    assert discover.find(tmp_path).ambiguous == ("app.py:main", "utils.py:pair")
