"""A project's requirements installed for the Lambda platform (or this machine), cached.

`install(requirements, target)` returns a folder whose contents go at the root of the zip.
For Lambda the wheels are chosen for the function's runtime and architecture, not for this
machine: `pip install --target --platform manylinux... --implementation cp --python-version
3.X --only-binary=:all:`; for this interpreter (the local cloud, when Lambda's wheels cannot
run here) `--only-binary=:all:` too. Installing wheels runs no package's code.

A dependency published only as a source distribution (sdist) is refused by default: building
it runs its own setup.py or build backend on this machine. The error names every such
requirement that pip reaches (found without building anything: `pip index versions` lists
the versions the index has for the target; see `_has_sdist`). With `build_sdists=True` (the
`python.build_sdists` setting) it is built as before: for Lambda with `pip wheel --no-deps`,
used if that gives a pure-Python wheel (`-none-any`), else an error that names the package;
for this interpreter, pip builds what it needs.

Installs are cached under `$RECURSECTL_CACHE_DIR` (else `$XDG_CACHE_HOME/recursectl`, else
`~/.cache/recursectl`) by a key of (requirements content, target, pip options, `build_sdists`),
so an unchanged redeploy runs no pip at all. An unpinned requirement is therefore resolved once
per key: pin versions, or pass `refresh=True`. A per-key lock makes concurrent installs build
once; the entry appears by one atomic rename, so a killed install never leaves a half entry
behind.

pip reaches PyPI only: no configuration file is read (`PIP_CONFIG_FILE=os.devnull`), `PIP_*`
variables other than TLS, proxy and timeout ones are dropped, and requirements files may not
name other indexes, URLs or local paths. boto3/botocore are not special: the runtime provides
them, but a requirements file that names them gets them vendored, pinned, as pip resolves.
"""

from __future__ import annotations

import contextlib
import dataclasses
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

from recursectl.build.requirements import Requirements
from recursectl.build.wheel_target import (
    ARCHITECTURES,
    WheelTarget,
    lambda_target,
    local_target,
    runs_here,
    target_for_local_cloud,
)
from recursectl.errors import RecursectlError, UsageError

__all__ = [
    "ARCHITECTURES",
    "Deps",
    "Requirements",
    "WheelTarget",
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
_KEY_VERSION = 2  # bump when the layout or the pip options change (2: binary-only)
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
_VERSIONS = re.compile(r"^Available versions: (.*)$", re.MULTILINE)
_PINNED = re.compile(r"^[^\s\[<>=!~;(@]+(?:\[[^\]]*\])?===?\s*([^\s,;]+)$")

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
    target: WheelTarget
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


def cache_key(
    requirements: Requirements,
    target: WheelTarget,
    find_links: Path | None = None,
    build_sdists: bool = False,
) -> str:
    data = {
        "v": _KEY_VERSION,
        "build_sdists": build_sdists,
        "requirements": requirements.text,
        "constraints": requirements.constraints,
        "target": target.key_data(),
        "find_links": str(find_links) if find_links else None,
    }
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def install(
    requirements: Requirements | Path,
    target: WheelTarget,
    *,
    cache_dir: Path | None = None,
    find_links: Path | None = None,
    build_sdists: bool = False,
    refresh: bool = False,
    runner: PipRunner | None = None,
    on_install: Callable[[WheelTarget], None] | None = None,
) -> Deps:
    """Install `requirements` for `target`, or return the cached install.

    `find_links` (tests, air-gapped use): install from that folder only (`--no-index`).
    `build_sdists`: build dependencies that have no wheel from their sdists (their build code
    runs here); off, such a dependency is a UsageError that names it.
    `on_install` is called before pip runs (a cache miss), e.g. to show a spinner.
    """
    reqs = (
        requirements if isinstance(requirements, Requirements) else Requirements.read(requirements)
    )
    key = cache_key(reqs, target, find_links, build_sdists)
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
            _build(reqs, target, tmp, _Pip(runner or _run_pip, find_links, build_sdists))
            if entry.exists():  # refresh: move the old entry aside first, then swap
                old = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-old-", dir=base))
                os.rename(entry, old / "entry")
            os.rename(tmp, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            for old_entry in base.glob(f".tmp-{key}-old-*"):
                shutil.rmtree(old_entry, ignore_errors=True)
    return _load(entry, key, target, installed=True)


def _load(entry: Path, key: str, target: WheelTarget, installed: bool) -> Deps:
    meta = json.loads((entry / _META).read_text())
    return Deps(key, entry / "site", target, tuple(meta["distributions"]), installed)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        if sys.platform != "win32":  # no lock on Windows: concurrent installs both build
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield  # closing the file releases the lock


@dataclass(frozen=True)
class _Pip:
    """How pip runs for one install: the runner, the index, whether sdists may be built."""

    run: PipRunner
    find_links: Path | None
    build_sdists: bool

    def install(
        self,
        target: WheelTarget,
        site: Path,
        reqs: Path,
        cons: Path,
        wheelhouse: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        index = _index_args(self.find_links, wheelhouse)
        args = ["install", "--target", str(site), *_target_args(target, self.build_sdists)]
        return self.run([*args, *index, "-r", str(reqs), "-c", str(cons)], _pip_env())


def _build(reqs: Requirements, target: WheelTarget, tmp: Path, pip: _Pip) -> None:
    site, wheelhouse = tmp / "site", tmp / "wheelhouse"
    req_file, cons_file = tmp / "requirements.txt", tmp / "constraints.txt"
    req_file.write_text(reqs.text)
    cons_file.write_text(reqs.constraints)
    built: set[str] = set()
    site.mkdir()
    for _ in range(0 if reqs.empty else _MAX_ROUNDS):  # nothing to install: an empty tree
        result = pip.install(target, site, req_file, cons_file, wheelhouse if built else None)
        if result.returncode == 0:
            break
        missing = _MISSING.search(result.stderr)
        if missing is None or _NETWORK.search(result.stderr):
            raise _pip_error(result.stderr, reqs, target)
        if not pip.build_sdists:
            raise _refuse_sdists(missing.group(1), result.stderr, reqs, target, tmp, pip)
        name = _dist_name(missing.group(1))
        if target.local or name in built:  # pip built what it could / built here, still not
            raise _pip_error(result.stderr, reqs, target)  # installable (e.g. Requires-Python)
        index = _index_args(pip.find_links, None)
        wheel = _build_wheel(missing.group(1), wheelhouse, index, pip.run)
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


def _target_args(target: WheelTarget, build_sdists: bool = False) -> list[str]:
    """Wheels only (no package's code runs), except for this interpreter with the opt-in
    (pip then builds the sdists it needs). For Lambda, pip needs `--only-binary=:all:` with
    `--platform` anyway: an sdist is built separately (`_build_wheel`), with the opt-in."""
    common = ["--no-compile", "--no-warn-script-location", "--progress-bar", "off"]
    binary = [] if target.local and build_sdists else ["--only-binary=:all:"]
    return [*common, *_python_args(target), *binary]


def _python_args(target: WheelTarget) -> list[str]:
    """pip's target-Python options: none for this interpreter."""
    if target.local:
        return []
    major, minor = target.python
    platforms = [f"--platform={p}" for p in target.platforms]
    return ["--implementation", "cp", "--python-version", f"{major}.{minor}", *platforms]


def _refuse_sdists(
    requirement: str, stderr: str, reqs: Requirements, target: WheelTarget, tmp: Path, pip: _Pip
) -> RecursectlError:
    """The error when `requirement` has no wheel: a refusal that names it and every other
    sdist-only requirement pip reaches, or pip's own error when it has no sdist either.

    Nothing is built to find out: `pip index versions --no-binary=:all:` lists the versions
    published as sdists, and each sdist-only line of the requirements is dropped in turn and
    the rest installed again (wheels only) into a scratch folder, which names the next one.
    One that only a dependency needs ends the search: pip cannot resolve past it.
    """
    found: list[str] = []
    current: Requirements | None = reqs
    missing: str | None = requirement
    while missing and current and len(found) < _MAX_ROUNDS and _has_sdist(missing, target, pip):
        found.append(missing)
        current = _without(current, missing)
        missing = _next_missing(current, target, tmp, pip) if current else None
    if not found:
        return _pip_error(stderr, reqs, target)
    names = ", ".join(found)
    one = len(found) == 1
    return UsageError(
        f"{names} {'has' if one else 'have'} no wheel for {target.describe()}, only a source "
        "distribution (sdist), and deploy builds none by default: building one runs the "
        "package's own setup.py or build backend on this machine.",
        hint=f"pin {'a version that publishes' if one else 'versions that publish'} wheels; or, "
        f"if you trust {'it' if one else 'them'}, set python.build_sdists = true in "
        "recursectl.toml (or "
        f"RECURSECTL_PYTHON_BUILD_SDISTS=1): {'its' if one else 'their'} build code then runs "
        "at every uncached deploy, with your permissions, files and credentials in reach",
    )


def _has_sdist(requirement: str, target: WheelTarget, pip: _Pip) -> bool:
    """Whether the index has a source distribution of `requirement` for `target`'s Python
    (of its pinned version, for `name==version`), read from the index: nothing is built.

    Called after a wheels-only install found no wheel for it. `pip index versions` lists the
    versions that have an sdist or a wheel for the target (pip 23.2 accepts `--no-binary`
    there but ignores it; it is passed for a pip that honours it). None of those wheels
    matched, or the install would not have failed, so a listed version it could use has an
    sdist. Pre-releases are listed too: pip installs one when nothing else fits.
    """
    pinned = _PINNED.match(requirement)
    exact = pinned is not None and "*" not in pinned.group(1)
    args = ["index", "versions", _dist_name(requirement), "--pre", "--no-binary=:all:"]
    result = pip.run([*args, *_python_args(target), *_index_args(pip.find_links, None)], _pip_env())
    listed = _VERSIONS.search(result.stdout) if result.returncode == 0 else None
    if listed is None:  # none; or a pip without `pip index` (before 21.2): pip's own error
        return False
    if pinned is None or not exact:  # a range: some listed version may fit it
        return True
    return _release(pinned.group(1)) in {_release(v) for v in listed.group(1).split(",")}


def _release(version: str) -> str:
    """`1.0.0` and `1.0` are one version (PEP 440 pads releases with zeros)."""
    return re.sub(r"(\.0)+$", "", version.strip().lower()) or "0"


def _without(reqs: Requirements, requirement: str) -> Requirements | None:
    """`reqs` without the lines naming `requirement`'s project; None when no line does (a
    dependency's dependency) or nothing else is left to install."""
    name = _canonical(_dist_name(requirement))
    lines = reqs.text.splitlines()
    kept = [line for line in lines if line.startswith("-") or _canonical(_dist_name(line)) != name]
    rest = dataclasses.replace(reqs, text="".join(f"{line}\n" for line in kept))
    return None if len(kept) == len(lines) or rest.empty else rest


def _next_missing(reqs: Requirements, target: WheelTarget, tmp: Path, pip: _Pip) -> str | None:
    """The next requirement without a wheel, from a wheels-only install of `reqs` into a
    scratch folder (removed with the install's temporary folder)."""
    probe = Path(tempfile.mkdtemp(prefix="probe-", dir=tmp))
    (probe / "requirements.txt").write_text(reqs.text)
    (probe / "constraints.txt").write_text(reqs.constraints)
    site = probe / "site"
    result = pip.install(target, site, probe / "requirements.txt", probe / "constraints.txt")
    missing = _MISSING.search(result.stderr) if result.returncode else None
    return missing.group(1) if missing and not _NETWORK.search(result.stderr) else None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _index_args(find_links: Path | None, wheelhouse: Path | None) -> list[str]:
    """PyPI (pip's default index), or only `find_links`; plus locally built wheels."""
    args = ["--no-index", f"--find-links={find_links}"] if find_links else []
    return [*args, f"--find-links={wheelhouse}"] if wheelhouse else args


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in _PIP_KEEP}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def pip_command(args: Sequence[str]) -> list[str]:
    """The command line of a pip run: recursectl's interpreter, no version check, no prompt."""
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]


def _run_pip(args: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            pip_command(args),
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


def _pip_error(stderr: str, reqs: Requirements, target: WheelTarget) -> RecursectlError:
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
