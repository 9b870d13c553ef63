"""A project's requirements installed for the Lambda platform (or this machine), cached.

`install(requirements, target)` returns a folder whose contents go at the root of the zip.
For Lambda the wheels are chosen for the function's runtime and architecture, not for this
machine: `pip install --target --platform manylinux... --implementation cp --python-version
3.X --only-binary=:all:`. A dependency that only ships an sdist is built locally with
`pip wheel --no-deps`: if that gives a pure-Python wheel (`-none-any`) it works anywhere and is
used; otherwise it is an error that names the package.

Installs are cached under `$RECURSECTL_CACHE_DIR` (else `$XDG_CACHE_HOME/recursectl`, else
`~/.cache/recursectl`) by a key of (requirements content, target, pip options), so an unchanged
redeploy runs no pip at all. An unpinned requirement is therefore resolved once per key: pin
versions, or pass `refresh=True`. A per-key lock makes concurrent installs build once; the
entry appears by one atomic rename, so a killed install never leaves a half entry behind.

pip reaches PyPI only: no configuration file is read (`PIP_CONFIG_FILE=os.devnull`), `PIP_*`
variables other than TLS, proxy and timeout ones are dropped, and requirements files may not
name other indexes, URLs or local paths. boto3/botocore are not special: the runtime provides
them, but a requirements file that names them gets them vendored, pinned, as pip resolves.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from recursectl.errors import RecursectlError, UsageError
from recursectl.pyreqs import Requirements
from recursectl.pytarget import (
    ARCHITECTURES,
    Target,
    lambda_target,
    local_target,
    runs_here,
    target_for_local_cloud,
)

__all__ = [
    "ARCHITECTURES",
    "Deps",
    "Requirements",
    "Target",
    "cache_root",
    "distributions_in",
    "install",
    "lambda_target",
    "local_target",
    "runs_here",
    "target_for_local_cloud",
]

if sys.platform != "win32":
    import fcntl

CACHE_ENV = "RECURSECTL_CACHE_DIR"
_KEY_VERSION = 1  # bump when the layout or the pip options change
_META = "recursectl-deps.json"
_PIP_TIMEOUT_S = 900
_MAX_ROUNDS = 10  # pip runs per install: one, plus one per sdist-only pure-Python package
# PIP_* variables that do not change what is installed or where it comes from.
_PIP_KEEP = {"PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_DEFAULT_TIMEOUT", "PIP_TIMEOUT"}
_PIP_KEEP |= {"PIP_RETRIES", "PIP_CACHE_DIR", "PIP_NO_CACHE_DIR"}
_NETWORK = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Network is unreachable|ConnectTimeoutError|ProxyError|SSLError|"
    r"Max retries exceeded|ReadTimeoutError"
)
_MISSING = re.compile(r"No matching distribution found for (\S+)")

PipRunner = Callable[[Sequence[str], Mapping[str, str]], "subprocess.CompletedProcess[str]"]


def cache_root() -> Path:
    """recursectl's cache folder: $RECURSECTL_CACHE_DIR, $XDG_CACHE_HOME/recursectl, ~/.cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recursectl"


@dataclass(frozen=True)
class Deps:
    """An installed (or cached) dependency tree."""

    key: str
    site: Path  # its contents go at the root of the zip
    target: Target
    distributions: tuple[str, ...]  # "name==version", sorted
    installed: bool  # True: pip ran for this call; False: served from the cache

    def files(self) -> dict[str, Path]:
        """Archive name -> file, sorted; no bytecode (pip ran with --no-compile anyway)."""
        out: dict[str, Path] = {}
        for dirpath, dirnames, filenames in os.walk(self.site):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            here = Path(dirpath)
            for name in sorted(filenames):
                if not name.endswith((".pyc", ".pyo")):
                    out[(here / name).relative_to(self.site).as_posix()] = here / name
        return dict(sorted(out.items()))

    @property
    def total_size(self) -> int:
        return sum(p.stat().st_size for p in self.files().values())


def cache_key(requirements: Requirements, target: Target, find_links: Path | None = None) -> str:
    data = {
        "v": _KEY_VERSION,
        "requirements": requirements.text,
        "constraints": requirements.constraints,
        "target": target.key_data(),
        "find_links": str(find_links) if find_links else None,
    }
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def install(
    requirements: Requirements | Path,
    target: Target,
    *,
    cache_dir: Path | None = None,
    find_links: Path | None = None,
    refresh: bool = False,
    runner: PipRunner | None = None,
    on_install: Callable[[Target], None] | None = None,
) -> Deps:
    """Install `requirements` for `target`, or return the cached install.

    `find_links` (tests, air-gapped use): install from that folder only (`--no-index`).
    `on_install` is called before pip runs (a cache miss), e.g. to show a spinner.
    """
    reqs = (
        requirements if isinstance(requirements, Requirements) else Requirements.read(requirements)
    )
    key = cache_key(reqs, target, find_links)
    base = (cache_dir or cache_root()) / "pydeps"
    entry = base / key
    if not refresh and (entry / _META).is_file():
        return _load(entry, key, target, installed=False)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecursectlError(
            f"Cannot create the dependency cache {base}: {exc.strerror or exc}.",
            hint=f"set {CACHE_ENV} to a writable folder",
        ) from None
    with _locked(base / f"{key}.lock"):
        if not refresh and (entry / _META).is_file():  # built by a concurrent install
            return _load(entry, key, target, installed=False)
        for stale in base.glob(f".tmp-{key}-*"):  # left by a killed install of this key
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=base))
        try:
            if on_install:
                on_install(target)
            _build(reqs, target, tmp, find_links, runner or _run_pip)
            if entry.exists():  # refresh: move the old entry aside first, then swap
                old = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-old-", dir=base))
                os.rename(entry, old / "entry")
            os.rename(tmp, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            for old_entry in base.glob(f".tmp-{key}-old-*"):
                shutil.rmtree(old_entry, ignore_errors=True)
    return _load(entry, key, target, installed=True)


def _load(entry: Path, key: str, target: Target, installed: bool) -> Deps:
    meta = json.loads((entry / _META).read_text())
    return Deps(key, entry / "site", target, tuple(meta["distributions"]), installed)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        if sys.platform != "win32":  # no lock on Windows: concurrent installs both build
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _build(
    reqs: Requirements, target: Target, tmp: Path, find_links: Path | None, run: PipRunner
) -> None:
    site, wheelhouse = tmp / "site", tmp / "wheelhouse"
    req_file, cons_file = tmp / "requirements.txt", tmp / "constraints.txt"
    req_file.write_text(reqs.text)
    cons_file.write_text(reqs.constraints)
    built: set[str] = set()
    site.mkdir()
    for _ in range(0 if reqs.empty else _MAX_ROUNDS):  # nothing to install: an empty tree
        index = _index_args(find_links, wheelhouse if built else None)
        args = ["install", "--target", str(site), *_target_args(target), *index]
        result = run([*args, "-r", str(req_file), "-c", str(cons_file)], _pip_env())
        if result.returncode == 0:
            break
        missing = _MISSING.search(result.stderr)
        if missing is None or target.local or _NETWORK.search(result.stderr):
            raise _pip_error(result.stderr, reqs, target)
        name = _dist_name(missing.group(1))
        if name in built:  # built locally, still not installable (e.g. its Requires-Python)
            raise _pip_error(result.stderr, reqs, target)
        wheel = _build_wheel(missing.group(1), wheelhouse, _index_args(find_links, None), run)
        if not _is_pure(wheel):
            raise UsageError(
                f"{name} has no wheel for {target.describe()} and is not pure Python "
                f"(its sdist builds {wheel}).",
                hint="pin a version that publishes manylinux wheels, or build it on Amazon Linux "
                "for this runtime (e.g. in the SAM build image) and ship it in a layer",
            )
        built.add(name)
    else:
        if not reqs.empty:  # pragma: no cover - more sdist-only packages than rounds
            raise UsageError(f"Too many sdist-only packages in {reqs.source}.")
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: local shebangs, unusable
    meta = {"distributions": distributions_in(site), "target": target.key_data()}
    (tmp / _META).write_text(json.dumps(meta, indent=1, sort_keys=True))
    shutil.rmtree(wheelhouse, ignore_errors=True)
    req_file.unlink()
    cons_file.unlink()


def _target_args(target: Target) -> list[str]:
    common = ["--no-compile", "--no-warn-script-location", "--progress-bar", "off"]
    if target.local:
        return common
    major, minor = target.python
    platforms = [f"--platform={p}" for p in target.platforms]
    return [*common, "--implementation", "cp", "--python-version", f"{major}.{minor}",
            "--only-binary=:all:", *platforms]  # fmt: skip


def _index_args(find_links: Path | None, wheelhouse: Path | None) -> list[str]:
    """PyPI (pip's default index), or only `find_links`; plus locally built wheels."""
    args = ["--no-index", f"--find-links={find_links}"] if find_links else []
    return [*args, f"--find-links={wheelhouse}"] if wheelhouse else args


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in _PIP_KEEP}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _run_pip(args: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    try:
        return subprocess.run(
            command,
            check=False,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=_PIP_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise RecursectlError(
            f"pip did not finish within {_PIP_TIMEOUT_S} s.",
            hint="check the network, then deploy again",
        ) from None


def _build_wheel(requirement: str, wheelhouse: Path, index: Sequence[str], run: PipRunner) -> str:
    """Build `requirement` (no deps) for this interpreter; the wheel's file name."""
    wheelhouse.mkdir(exist_ok=True)
    before = set(wheelhouse.glob("*.whl"))
    args = ["wheel", "--no-deps", "--wheel-dir", str(wheelhouse), *index, requirement]
    result = run(args, _pip_env())
    if result.returncode != 0:
        raise UsageError(
            f"{requirement} has no wheel for Lambda, and building it from source failed: "
            f"{_last_error(result.stderr)}",
            hint="pin a version that publishes manylinux wheels",
        )
    new = sorted(set(wheelhouse.glob("*.whl")) - before) or sorted(wheelhouse.glob("*.whl"))
    return new[-1].name


def _is_pure(wheel: str) -> bool:
    """`six-1.17.0-py2.py3-none-any.whl` -> True: no ABI, any platform."""
    parts = wheel[: -len(".whl")].split("-")
    return len(parts) >= 5 and parts[-2] == "none" and parts[-1] == "any"


def _dist_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(@]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _last_error(stderr: str) -> str:
    errors = [line.removeprefix("ERROR: ") for line in stderr.splitlines() if "ERROR" in line]
    lines = errors or [line for line in stderr.splitlines() if line.strip()] or ["(no output)"]
    return lines[-1].strip()


def _pip_error(stderr: str, reqs: Requirements, target: Target) -> RecursectlError:
    if "No module named pip" in stderr:
        return RecursectlError(
            f"pip is not installed in recursectl's Python ({sys.executable}).",
            hint=f"install it: {sys.executable} -m ensurepip",
        )
    if _NETWORK.search(stderr):
        return RecursectlError(
            "pip could not reach the package index (PyPI) to install the dependencies.",
            hint="check the network or HTTPS_PROXY, then deploy again",
        )
    missing = _MISSING.search(stderr)
    if missing:
        return UsageError(
            f"No version of {missing.group(1)} (from {reqs.source.name}) has a wheel for "
            f"{target.describe()}.",
            hint="check the name and version, or pin a version that publishes such wheels",
        )
    return UsageError(
        f"pip could not install {reqs.source.name} for {target.describe()}: {_last_error(stderr)}",
        hint=f"fix {reqs.source.name} (`pip install -r {reqs.source.name}` shows pip's output)",
    )


def distributions_in(folder: Path) -> list[str]:
    """`name==version` of every distribution installed in `folder` (its *.dist-info), sorted.

    Also works on an unpacked deployment zip: the local cloud can re-install exactly these
    pins for its own interpreter.
    """
    found = []
    for metadata in sorted(folder.glob("*.dist-info/METADATA")):
        fields = dict(
            line.split(": ", 1)
            for line in metadata.read_text(errors="replace").splitlines()
            if line.startswith(("Name: ", "Version: "))
        )
        if "Name" in fields and "Version" in fields:
            found.append(f"{fields['Name']}=={fields['Version']}")
    return sorted(found, key=str.lower)
