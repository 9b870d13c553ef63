"""recursectl.nodejs: finding node, npm and the headers; the once-per-machine install and its
lock; the launch line. npm is replaced by a small script where the real one would need the
network or minutes of compiling (the real install is covered by the Node guard tests)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

from recursectl import nodejs, protocol

FAKE_NPM = """#!/bin/sh
# Records each run, takes a while (so parallel callers overlap), installs a stand-in package.
echo run >> "$COUNT"
sleep 0.5
prefix=""
while [ $# -gt 0 ]; do [ "$1" = "--prefix" ] && prefix="$2"; shift; done
[ -n "$FAIL" ] && { echo "gyp ERR! build error" >&2; exit 1; }
mkdir -p "$prefix/node_modules/aws-lambda-ric"
touch "$prefix/node_modules/aws-lambda-ric/rapid-client.node"
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _toolchain(tmp: Path) -> nodejs.Toolchain:
    npm = _script(tmp / "npm", FAKE_NPM)
    return nodejs.Toolchain("node", str(npm), "20.0.0", "115", Path("/usr"), ())


def test_missing_node_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(nodejs.NodeError) as info:
        nodejs.toolchain()
    assert "node is not on PATH" in info.value.message
    assert info.value.hint is not None
    assert "Node.js" in info.value.hint


def test_missing_npm_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = shutil.which("node") or "/usr/bin/node"
    (tmp_path / "node").symlink_to(node)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(nodejs.NodeError, match="npm is not on PATH"):
        nodejs.toolchain()


def test_missing_headers_are_named_before_any_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A node whose prefix has no include/node/node.h: node-gyp would go and download them.
    bin_dir = tmp_path / "prefix" / "bin"
    bin_dir.mkdir(parents=True)
    info = {"exec": str(bin_dir / "node"), "version": "20.1.0", "abi": "115", "flags": [],
            "hooks": True}  # fmt: skip
    _script(bin_dir / "node", f"#!/bin/sh\necho '{json.dumps(info)}'\n")
    _script(bin_dir / "npm", "#!/bin/sh\nexit 0\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(nodejs.NodeError, match=r"include/node/node\.h"):
        nodejs.toolchain()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_the_real_toolchain_has_headers_and_lambdas_flags() -> None:
    tc = nodejs.toolchain()
    assert (tc.nodedir / "include" / "node" / "node.h").is_file()
    assert tc.major >= 18
    assert set(tc.flags) <= set(nodejs.LAMBDA_NODE_FLAGS)


def test_cache_root_follows_the_environment(tmp_path: Path) -> None:
    assert nodejs.cache_root({nodejs.CACHE_ENV: str(tmp_path)}) == tmp_path
    assert nodejs.cache_root({"XDG_CACHE_HOME": "/x"}) == Path("/x/recursectl")
    assert nodejs.cache_root({}) == Path.home() / ".cache" / "recursectl"


def test_parallel_first_uses_build_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    count = tmp_path / "count"
    monkeypatch.setenv("COUNT", str(count))
    tc = _toolchain(tmp_path)
    cache = tmp_path / "cache"
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(nodejs.ensure_ric(tc, cache)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert count.read_text().splitlines() == ["run"]
    assert len(set(results)) == 1
    assert (results[0] / "rapid-client.node").is_file()
    record = json.loads((nodejs.ric_dir(tc, cache) / "recursectl-install.json").read_text())
    assert record["specs"] == [f"aws-lambda-ric@{nodejs.RIC_VERSION}"]
    # Installed: later uses do not run npm at all.
    nodejs.ensure_ric(tc, cache)
    assert count.read_text().splitlines() == ["run"]


def test_a_failed_build_says_where_the_log_is_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNT", str(tmp_path / "count"))
    monkeypatch.setenv("FAIL", "1")
    tc = _toolchain(tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(nodejs.NodeError) as info:
        nodejs.ensure_ric(tc, cache)
    assert "npm exited 1" in info.value.message
    log = nodejs.ric_dir(tc, cache).with_name(nodejs.ric_dir(tc, cache).name + ".log")
    assert str(log) in (info.value.hint or "")
    assert "gyp ERR!" in log.read_text()
    leftovers = [
        p.name for p in (cache / "node-ric").iterdir() if not p.name.endswith((".log", ".lock"))
    ]
    assert leftovers == []


def test_npm_runs_without_notifier_audit_or_header_download(tmp_path: Path) -> None:
    env = nodejs._npm_env(_toolchain(tmp_path))
    assert env["npm_config_nodedir"] == "/usr"
    assert env["npm_config_update_notifier"] == "false"
    assert env["npm_config_audit"] == "false"
    assert env["npm_config_fund"] == "false"


def test_runtime_major() -> None:
    assert nodejs.runtime_major("nodejs22.x") == 22
    assert nodejs.runtime_major("nodejs20.x") == 20
    assert nodejs.runtime_major("python3.12") is None
    assert nodejs.runtime_major(None) is None


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not on PATH")
def test_launch_names_the_ric_the_handler_and_the_runtime_sdk(tmp_path: Path) -> None:
    spec = nodejs.launch(tmp_path, runtime="nodejs22.x")
    node, *flags, entry, handler = spec.args
    assert Path(node).name == "node"
    hook = flags.index("--import")
    assert flags[hook + 1].endswith("/esm/register.mjs")
    del flags[hook : hook + 2]
    assert set(flags) <= set(nodejs.LAMBDA_NODE_FLAGS)
    assert entry.endswith("aws-lambda-ric/index.mjs")
    assert Path(entry).is_file()
    assert handler == protocol.ENTRY_POINT
    assert spec.env["_HANDLER"] == protocol.ENTRY_POINT
    assert spec.env["LAMBDA_TASK_ROOT"] == str(tmp_path)
    assert spec.env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs22.x"
    sdk, task = spec.env["NODE_PATH"].split(os.pathsep)
    assert (Path(sdk) / "@aws-sdk" / "client-lambda" / "package.json").is_file()
    assert task == str(tmp_path)
