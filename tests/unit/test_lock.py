"""requirements-lock.txt follows pyproject.toml: every requirement pinned, inside its range."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", re.MULTILINE)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, list[Version]]:
    text = (REPO / "requirements-lock.txt").read_text(encoding="utf-8")
    pins: dict[str, list[Version]] = {}
    for name, version in PIN.findall(text):
        pins.setdefault(_norm(name), []).append(Version(version))
    return pins


def test_every_requirement_of_pyproject_is_pinned_within_its_range() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pins = _pins()
    for line in wanted:
        req = Requirement(line)
        versions = pins.get(_norm(req.name))
        assert versions, f"{req.name} is not in requirements-lock.txt: run make lock"
        # A universal lock may pin one version per Python range; each must satisfy the range.
        for version in versions:
            assert req.specifier.contains(version, prereleases=True), (
                f"{req.name}=={version} is outside {req.specifier}: run make lock"
            )


def test_every_pin_carries_hashes() -> None:
    text = (REPO / "requirements-lock.txt").read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    pinned = [b for b in blocks if PIN.match(b)]
    assert pinned
    for block in pinned:
        assert "--hash=sha256:" in block, block.splitlines()[0]
