"""Reading a requirements.txt: nested files folded in, anything that leaves PyPI refused.

The folded text is what pip installs and what the dependency cache is keyed on, so a change
in a file included with `-r` is a change of the key, and moving the project is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from recursectl.errors import UsageError

# Global options that change neither where packages come from nor what gets built.
_ALLOWED_OPTIONS = {"--pre", "--prefer-binary", "--require-hashes"}
_INCLUDE = re.compile(r"(-r|--requirement|-c|--constraint)(?:\s*=?\s*)(\S+)$")
_LOCAL_OR_URL = re.compile(r"^(\.|/|~|file:)|://| @ ")


@dataclass(frozen=True)
class Requirements:
    """Requirement lines (and constraint lines) ready for pip, from `source`."""

    source: Path
    text: str
    constraints: str = ""

    @classmethod
    def read(cls, path: Path) -> Requirements:
        """Read `path` and the files it includes; a UsageError for a missing file or bad line."""
        if not path.is_file():
            raise UsageError(
                f"Requirements file {path} does not exist.",
                hint="create it, or point the `requirements` setting at the right file",
            )
        reqs: list[str] = []
        cons: list[str] = []
        _fold(path, reqs, cons, seen=set())
        return cls(source=path, text=_join(reqs), constraints=_join(cons))

    @property
    def empty(self) -> bool:
        """True when there is nothing to install (only comments and blank lines)."""
        return not any(line and not line.startswith("-") for line in self.text.splitlines())


def _join(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _logical_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) with comments stripped and `\\` continuations joined."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = " ".join((pending + line).split())  # runs of spaces do not change the key
        pending = ""
        if line:
            out.append((start, line))
    if pending.strip():
        out.append((start, pending.strip()))
    return out


def _fold(path: Path, reqs: list[str], cons: list[str], seen: set[Path]) -> None:
    real = path.resolve()
    if real in seen:
        return  # pip itself would loop; including a file twice adds nothing
    seen.add(real)
    for number, line in _logical_lines(path):
        where = f"{path.name}:{number}"
        include = _INCLUDE.match(line)
        if include:
            nested = (path.parent / include.group(2)).resolve()
            if not nested.is_file():
                raise UsageError(
                    f"{where}: the included file {include.group(2)} does not exist.",
                    hint=f"fix the -r/-c line in {path.name}",
                )
            target = cons if include.group(1) in ("-c", "--constraint") else reqs
            _fold(nested, target, cons, seen)
            continue
        _check_line(line, where)
        reqs.append(line)


def _check_line(line: str, where: str) -> None:
    if line.startswith("-"):
        option = re.split(r"[\s=]", line, maxsplit=1)[0]
        if option in _ALLOWED_OPTIONS:
            return
        if option in ("-e", "--editable"):
            hint = "editable installs cannot be packaged: name the package and its version"
        elif option in ("-i", "--index-url", "--extra-index-url", "-f", "--find-links"):
            hint = "recursectl installs from PyPI only: remove the line"
        else:
            hint = "remove the option; recursectl chooses pip's options for Lambda itself"
        raise UsageError(f"{where}: option {option} is not supported here.", hint=hint)
    if _LOCAL_OR_URL.search(line):
        raise UsageError(
            f"{where}: {line.split(maxsplit=1)[0]} is a local path or URL (PyPI only here).",
            hint="name a published package, or put the code in the source root",
        )
