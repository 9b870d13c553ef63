"""The interpreter of a function's declared runtime, with a runtime folder it can import.

`python3.12` runs with a Python 3.12 when this machine has one: the path named in
`RECURSECTL_LOCAL_PYTHONS` (`python3.12=/usr/bin/python3.12,python3.13=...`, a setting for the
machine), else `python3.12` on PATH (pyenv shims included: the interpreter is asked for its
own `sys.executable`). Its runtime folder links the pure-Python SDK from this environment
(boto3, botocore, ...) and holds awslambdaric (a C extension: installed once for that
interpreter with its own pip, `--no-deps --target`, into the user's cache: wheels only, at the
versions this environment runs, so nothing is compiled and nothing unpinned is fetched).
Anything that fails leaves the local interpreter in charge, and the runtime note says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path

from recursectl.local.worker import sandbox

PURE_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
RIC_DISTS = ("awslambdaric", "snapshot-restore-py", "simplejson")
SETTING = "RECURSECTL_LOCAL_PYTHONS"

_lock = threading.Lock()
_found: dict[str, tuple[str, Path] | None] = {}


def local_runtime() -> str:
    return f"python{sys.version_info[0]}.{sys.version_info[1]}"


def _configured(runtime: str) -> str | None:
    for item in os.environ.get(SETTING, "").split(","):
        name, _, path = item.strip().partition("=")
        if name == runtime and path:
            return path
    return None


def _probe(candidate: str, runtime: str) -> str | None:
    """The real executable behind `candidate` if it is that runtime's Python."""
    try:
        proc = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[0], sys.version_info[1]);"
             "print(sys.executable)"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    lines = proc.stdout.split("\n")
    if proc.returncode != 0 or len(lines) < 2:
        return None
    return lines[1] if f"python{lines[0].replace(' ', '.')}" == runtime else None


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recursectl" / "runtimes"


def _stage(python: str, runtime: str) -> Path | None:
    """A runtime folder for `python`: pure SDK links + awslambdaric installed for it."""
    version = metadata.version("awslambdaric")
    site = _cache_root() / f"{runtime}-ric{version}"
    if (site / ".complete").exists():
        _link_sdk(site)
        return site
    work = site.with_name(site.name + f".tmp{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    try:
        proc = subprocess.run(
            pip_install(python, work),
            capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "PIP_NO_INPUT": "1"},
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    _link_sdk(work)
    (work / ".complete").touch()
    try:
        work.rename(site)
    except OSError:  # another process staged it first
        shutil.rmtree(work, ignore_errors=True)
    return site


def pip_install(python: str, target: Path) -> list[str]:
    """The command that installs the runtime interface client for `python` into `target`:
    the versions this environment runs (from the lock file), wheels only (awslambdaric's
    sdist compiles a C++ library: minutes, and a compiler this machine may not have)."""
    pins = [f"{dist}=={metadata.version(dist)}" for dist in RIC_DISTS]
    options = ["--quiet", "--disable-pip-version-check", "--no-input", "--no-deps"]
    return [python, "-m", "pip", "install", *options, "--only-binary=:all:", "--target",
            str(target), *pins]  # fmt: skip


def _link_sdk(site: Path) -> None:
    """Point the pure SDK's links at this environment's copies. The cache outlives the
    environment that staged it (a removed venv left every link dangling: boto3 was then not
    importable under that runtime), so each local cloud re-points them; os.replace is atomic
    for a concurrent reader."""
    for name in PURE_SDK:
        origin = sandbox.origin(name)
        if origin is None:
            continue
        link = site / origin.name
        if link.is_symlink() and os.readlink(link) == str(origin):
            continue
        if link.exists() and not link.is_symlink():
            continue  # installed there for real: leave it
        tmp = site / f".{origin.name}.link{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(origin, target_is_directory=origin.is_dir())
        os.replace(tmp, link)


def for_runtime(runtime: str) -> tuple[str, Path] | None:
    """(interpreter, runtime folder) for a declared Python runtime other than the local
    one; None when this machine has none (or it cannot be set up): the local one runs it."""
    if not runtime.startswith("python") or runtime == local_runtime():
        return None
    with _lock:
        if runtime in _found:
            return _found[runtime]
        candidate = _configured(runtime) or shutil.which(runtime)
        python = _probe(candidate, runtime) if candidate else None
        found = None
        if python is not None:
            site = _stage(python, runtime)
            found = (python, site) if site is not None else None
        _found[runtime] = found
        return found
