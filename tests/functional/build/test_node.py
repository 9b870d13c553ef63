"""Packaging a Node.js handler: the handler forms, the guard files, a deterministic zip, the
bundled-SDK case, and the language checks."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from recursectl import protocol
from recursectl.build import node, runtimes
from recursectl.errors import UsageError
from tests.support.projects import project_with_scripted_dependency

ROOT = Path(__file__).resolve().parents[3]
GUARD = {"recursectl_chain.cjs", "recursectl_chain.guard.cjs", "recursectl_chain.job.cjs"}


@pytest.fixture
def project(tmp_path: Path, seed_js: Path) -> Path:
    shutil.copy(seed_js, tmp_path / "handler.js")
    (tmp_path / "node_modules" / "junk").mkdir(parents=True)
    (tmp_path / "node_modules" / "junk" / "index.js").write_text("x")
    (tmp_path / "recursectl_chain.cjs").write_text("// a stale copy")
    return tmp_path


@pytest.mark.parametrize(
    "spec",
    ["handler.js:recursiveExample", "handler.recursiveExample", "./handler.js:recursiveExample"],
)
def test_every_handler_form_names_the_same_handler(project: Path, spec: str) -> None:
    assert node.is_node_handler(spec, project)
    parsed = node.parse_handler(spec, project)
    assert parsed.file == (project / "handler.js").resolve()
    assert parsed.handler == "handler.recursiveExample"


def test_python_handlers_are_not_node_ones(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    assert not node.is_node_handler("handler.py:handler", tmp_path)
    assert not node.is_node_handler("handler.handler", tmp_path)
    assert not node.is_node_handler(None, tmp_path)


def test_the_package_holds_the_handler_and_both_guard_files_deterministically(
    project: Path,
) -> None:
    spec = node.parse_handler("handler.js:recursiveExample", project)
    first = node.build(spec, "nodejs22.x")
    second = node.build(spec, "nodejs22.x")
    assert first.code_sha256 == second.code_sha256
    assert first.zip_bytes == second.zip_bytes
    assert set(first.files) == {"handler.js", *GUARD}
    assert first.handler == "handler.recursiveExample"
    assert first.entry_point == protocol.ENTRY_POINT
    with zipfile.ZipFile(io.BytesIO(first.zip_bytes)) as zf:
        guard = zf.read("recursectl_chain.cjs").decode()
    assert guard == (ROOT / "templates" / "node" / "recursectl_chain.cjs").read_text()


def test_the_handlers_own_executables_keep_their_mode(project: Path) -> None:
    (project / "bin").mkdir()
    (project / "bin" / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    (project / "bin" / "tool.sh").chmod(0o755)
    (project / "notes.txt").write_text("n")
    pkg = node.build(node.parse_handler("handler.js:recursiveExample", project), "nodejs22.x")
    with zipfile.ZipFile(io.BytesIO(pkg.zip_bytes)) as zf:
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    assert modes["bin/tool.sh"] == 0o100755
    assert modes["notes.txt"] == modes["handler.js"] == 0o100644


def test_a_handler_that_bundles_the_sdk_keeps_its_own_handler(tmp_path: Path) -> None:
    (tmp_path / "handler.js").write_text(
        "var se_InvokeCommand = async (input) => input;\n"
        "exports.main = async () => se_InvokeCommand({});\n"
    )
    pkg = node.build(node.parse_handler("handler.js:main", tmp_path), "nodejs22.x")
    assert pkg.entry_point is None
    warning = node.bundled_warning(pkg)
    assert warning is not None
    assert "Terminate" in warning


def test_a_missing_export_or_file_is_a_clear_error(project: Path) -> None:
    with pytest.raises(UsageError, match="does not export 'nope'"):
        node.build(node.parse_handler("handler.js:nope", project), "nodejs22.x")
    with pytest.raises(UsageError, match="does not exist"):
        node.parse_handler("other.js:main", project)
    with pytest.raises(UsageError, match="chain guard"):
        node.parse_handler("recursectl_chain.cjs:handler", project)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_a_syntax_error_is_caught_before_any_aws_call(tmp_path: Path) -> None:
    (tmp_path / "handler.js").write_text("exports.main = async () => {;\n")
    with pytest.raises(UsageError, match="invalid JavaScript"):
        node.build(node.parse_handler("handler.js:main", tmp_path), "nodejs22.x")


def test_the_language_follows_the_file_or_the_runtime() -> None:
    with pytest.raises(UsageError, match=r"handler\.js is Node\.js but runtime python3\.13"):
        runtimes.check_handler("python3.13", "handler.js")
    assert node.choose_runtime("python3.13", explicit=False).startswith("nodejs")
    with pytest.raises(UsageError, match=r"not supported for Node\.js handlers"):
        node.choose_runtime("python3.13", explicit=True)
    assert node.choose_runtime("nodejs22.x", explicit=True) == "nodejs22.x"


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not on PATH")
def test_production_dependencies_are_installed_and_dev_ones_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECURSECTL_NODE_CACHE", str(tmp_path / "cache"))
    app = tmp_path / "app"
    (app / "vendor" / "left").mkdir(parents=True)
    (app / "vendor" / "left" / "package.json").write_text('{"name":"left","version":"1.0.0"}')
    (app / "vendor" / "left" / "index.js").write_text("module.exports = (s) => '<' + s;\n")
    (app / "handler.js").write_text(
        "const left = require('left');\nexports.main = async () => left('x');\n"
    )
    (app / "package.json").write_text(
        json.dumps(
            {"name": "app", "version": "1.0.0", "dependencies": {"left": "file:./vendor/left"}}
        )
    )
    with pytest.raises(UsageError, match=r"no package-lock\.json"):
        node.build(node.parse_handler("handler.js:main", app), "nodejs22.x")
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--offline", "--no-audit", "--no-fund",
         "--install-links=true"],
        cwd=app, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    pkg = node.build(node.parse_handler("handler.js:main", app), "nodejs22.x")
    assert "node_modules/left/index.js" in pkg.files
    assert not any(name.startswith("node_modules/@aws-sdk/") for name in pkg.files)
    again = node.build(node.parse_handler("handler.js:main", app), "nodejs22.x")
    assert again.code_sha256 == pkg.code_sha256  # the staged install is cached and stable
    assert len(list((tmp_path / "cache" / "node-deps").iterdir())) == 2  # the folder and its lock


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not on PATH")
def test_install_scripts_do_not_run_unless_the_project_opts_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECURSECTL_NODE_CACHE", str(tmp_path / "cache"))
    proof = tmp_path / "proof.txt"
    monkeypatch.setenv("PROOF_FILE", str(proof))
    app = tmp_path / "app"
    project_with_scripted_dependency(app, proof)
    spec = node.parse_handler("handler.js:main", app)

    pkg = node.build(spec, "nodejs22.x")
    assert not proof.exists()
    assert "node_modules/noisy/index.js" in pkg.files
    with zipfile.ZipFile(io.BytesIO(pkg.zip_bytes)) as zf:
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    # A dependency's executable (npm makes a `bin` 0755) stays one; the rest are 0644.
    assert modes["node_modules/noisy/tool.sh"] == 0o100755
    assert modes["node_modules/noisy/index.js"] == modes["recursectl_chain.cjs"] == 0o100644
    assert pkg.extra["scripts"] == ("noisy",)
    warning = node.scripts_warning(pkg)
    assert warning is not None
    assert "--ignore-scripts" in warning
    assert "noisy" in warning
    assert "node.install_scripts = true" in warning

    opted_in = node.build(spec, "nodejs22.x", install_scripts=True)
    assert proof.read_text().split() == ["install", "postinstall"]
    assert node.scripts_warning(opted_in) is None
    # Two cache entries (and their locks): a tree built with scripts is not reused without.
    assert len(list((tmp_path / "cache" / "node-deps").iterdir())) == 4
    proof.unlink()
    node.build(spec, "nodejs22.x")
    assert not proof.exists()  # the cached tree without scripts, still nothing run


def test_install_scripts_are_found_in_the_installed_tree() -> None:
    files = {
        "node_modules/plain/package.json": b'{"name": "plain", "scripts": {"test": "x"}}',
        "node_modules/hooked/package.json": b'{"scripts": {"preinstall": "node x.js"}}',
        "node_modules/@scope/native/package.json": b'{"name": "@scope/native"}',
        "node_modules/@scope/native/binding.gyp": b"{}",
        "node_modules/a/node_modules/deep/package.json": b'{"scripts": {"install": "make"}}',
        "node_modules/a/package.json": b'{"name": "a"}',
        "node_modules/a/dist/package.json": b'{"scripts": {"install": "ignored: not a package"}}',
        "node_modules/broken/package.json": b"{not json",
    }
    assert node.with_install_scripts(files) == ["@scope/native", "deep", "hooked"]


def test_npm_runs_without_scripts_and_without_telemetry_by_default() -> None:
    args = node.npm_ci_args("npm", install_scripts=False)
    assert args == [
        "npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund",
        "--no-update-notifier",
    ]  # fmt: skip
    assert "--ignore-scripts" not in node.npm_ci_args("npm", install_scripts=True)


def test_npm_env_turns_off_update_checks_whatever_the_user_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recursectl import nodejs

    monkeypatch.setenv("NPM_CONFIG_UPDATE_NOTIFIER", "true")
    monkeypatch.setenv("Npm_Config_Audit", "true")
    tc = nodejs.Toolchain("node", "npm", "20.0.0", "115", tmp_path, ())
    env = nodejs._npm_env(tc)
    notifier = {k: v for k, v in env.items() if k.lower() == "npm_config_update_notifier"}
    assert set(notifier.values()) == {"false"}
    assert "NPM_CONFIG_UPDATE_NOTIFIER" in notifier
    assert {v for k, v in env.items() if k.lower() == "npm_config_audit"} == {"false"}
    assert env["npm_config_fund"] == "false"


def test_a_node_project_gets_the_secret_scan_and_the_include_and_exclude_settings(
    project: Path,
) -> None:
    (project / "deploy.vars").write_text(
        "AWS_ACCESS_KEY_ID=AKIA2E0A8F3B244C9986\n"
        "AWS_SECRET_ACCESS_KEY=q7Vt0Kd1Rb9Zx3Lm5Np2Wc8Ye4Hj6Gs/Uf+Ta1Qo\n"
    )
    spec = node.parse_handler("handler.js:recursiveExample", project)
    with pytest.raises(UsageError, match=r"Refusing to package deploy\.vars") as caught:
        node.build(spec, "nodejs22.x")
    assert caught.value.exit_code == 2
    included = node.build(spec, "nodejs22.x", include=["deploy.vars"])
    assert "deploy.vars" in included.files
    excluded = node.build(spec, "nodejs22.x", exclude=["*.vars"])
    assert "deploy.vars" not in excluded.files
