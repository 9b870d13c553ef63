"""Which wheels a Lambda function (or this machine) can load: the pip target of an install.

Lambda's Python runtimes run on Amazon Linux 2 (glibc 2.26, python3.9 to 3.11) or Amazon Linux
2023 (glibc 2.34, python3.12 on), on x86_64 or arm64 (aarch64 in wheel tags). A wheel fits when
its tag is cp3X (or abi3, or pure) and manylinux at or below that glibc, for that machine.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from dataclasses import dataclass
from typing import Any

from recursectl.build import runtimes
from recursectl.errors import UsageError

ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}  # Lambda's name -> the wheel tags' name


@dataclass(frozen=True)
class WheelTarget:
    """What the installed wheels must run on.

    `platforms` are pip's `--platform` values; empty means this interpreter (the local cloud).
    """

    python: tuple[int, int]
    machine: str  # x86_64 or aarch64
    platforms: tuple[str, ...] = ()

    @property
    def local(self) -> bool:
        return not self.platforms

    def describe(self) -> str:
        version = f"Python {self.python[0]}.{self.python[1]}"
        where = "this machine" if self.local else "Lambda, manylinux"
        return f"{version} on {where} {self.machine}"

    def key_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"python": self.python, "machine": self.machine}
        if self.local:  # the exact interpreter: wheels are built and picked for it
            data.update(version=sys.version, cache_tag=sys.implementation.cache_tag, libc=_glibc())
        else:
            data["platforms"] = self.platforms
        return data


def manylinux_platforms(glibc: tuple[int, int], machine: str) -> tuple[str, ...]:
    """pip `--platform` values for a glibc: pip does not expand `manylinux_2_X` downwards.

    Newest first, down to manylinux_2_17 (= manylinux2014), plus the legacy aliases.
    """
    major, minor = glibc
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, 16, -1)]
    tags.append(f"manylinux2014_{machine}")
    if machine == "x86_64":
        tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
    return tuple(tags)


def lambda_glibc(python: tuple[int, int]) -> tuple[int, int]:
    """glibc of the runtime's OS: Amazon Linux 2023 (2.34) from python3.12, else AL2 (2.26)."""
    return (2, 34) if python >= (3, 12) else (2, 26)


def lambda_target(runtime: str, architecture: str = "x86_64") -> WheelTarget:
    """The wheels a Lambda function of this runtime and architecture can load."""
    if architecture not in ARCHITECTURES:
        raise UsageError(
            f"Architecture {architecture!r} is not one Lambda offers.",
            hint="use x86_64 or arm64 (--architecture, or `architecture` in recursectl.toml)",
        )
    try:
        python = runtimes.python_version(runtime)
    except ValueError:
        raise UsageError(
            f"Runtime {runtime!r} is not a Python runtime; requirements.txt needs one.",
            hint="use a pythonX.Y runtime (--runtime, or `runtime` in recursectl.toml)",
        ) from None
    machine = ARCHITECTURES[architecture]
    return WheelTarget(python, machine, manylinux_platforms(lambda_glibc(python), machine))


def local_target() -> WheelTarget:
    """This interpreter: what the local cloud's workers run."""
    return WheelTarget(sys.version_info[:2], _machine())


def _machine() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def _glibc() -> tuple[int, int] | None:
    with contextlib.suppress(ValueError, OSError, AttributeError):
        name, _, version = (os.confstr("CS_GNU_LIBC_VERSION") or "").partition(" ")  # glibc 2.36
        if name == "glibc":
            major, minor = version.split(".")[:2]
            return int(major), int(minor)
    return None


def runs_here(target: WheelTarget) -> bool:
    """Whether wheels installed for `target` can be imported by this interpreter."""
    if target.local:
        return True
    glibc = _glibc()
    return (
        sys.implementation.name == "cpython"
        and sys.platform.startswith("linux")
        and sys.version_info[:2] == target.python
        and _machine() == target.machine
        and glibc is not None
        and glibc >= lambda_glibc(target.python)
    )


def target_for_local_cloud(runtime: str, architecture: str = "x86_64") -> WheelTarget:
    """The Lambda target when its wheels run here, else this interpreter's."""
    target = lambda_target(runtime, architecture)
    return target if runs_here(target) else local_target()
