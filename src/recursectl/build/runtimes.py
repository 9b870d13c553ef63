"""Lambda runtimes: which ones exist, which are still supported, and what they run.

The list of runtimes comes from the SDK's bundled Lambda service model (the `Runtime` enum),
which still lists every runtime Lambda ever had (`python2.7`, `nodejs4.3`, ...). What is supported
*today* is that list minus AWS's deprecation table below. A runtime the model lists that the
table does not know is new, hence supported: an SDK upgrade brings new runtimes in
without a change here.

Pure: the list is an argument (`known`); `recursectl.aws.model.lambda_runtimes()` reads it
from the SDK's model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from pathlib import Path

from recursectl.errors import UsageError

PYTHON = "python"
NODE = "node"
LANGUAGES = (PYTHON, NODE)

# The date each runtime's deprecation starts (AWS "deprecation date", phase 1: no more security
# patches; creating functions is blocked about a month later, updating them a month after that).
# From AWS's "Lambda runtimes" page (docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html,
# its "Supported runtimes" and "Deprecated runtimes" tables), as read on 2026-12-01.
# Only the languages recursectl packages; a runtime missing here counts as supported.
DEPRECATION_DATES: dict[str, date] = {
    "python2.7": date(2021, 7, 15),
    "python3.6": date(2022, 7, 18),
    "python3.7": date(2023, 12, 4),
    "python3.8": date(2024, 10, 14),
    "python3.9": date(2025, 12, 15),
    "python3.10": date(2026, 6, 30),
    "python3.11": date(2026, 6, 30),
    "python3.12": date(2028, 10, 31),
    "python3.13": date(2029, 6, 30),
    "python3.14": date(2029, 6, 30),
    "nodejs": date(2016, 10, 31),
    "nodejs4.3": date(2020, 3, 5),
    "nodejs4.3-edge": date(2020, 3, 5),
    "nodejs6.10": date(2019, 8, 12),
    "nodejs8.10": date(2020, 3, 6),
    "nodejs10.x": date(2021, 7, 30),
    "nodejs12.x": date(2023, 3, 31),
    "nodejs14.x": date(2023, 12, 4),
    "nodejs16.x": date(2024, 6, 12),
    "nodejs18.x": date(2025, 9, 1),
    "nodejs20.x": date(2026, 4, 30),
    "nodejs22.x": date(2027, 4, 30),
    "nodejs24.x": date(2028, 4, 30),
}

_RUNTIME_PREFIX = {PYTHON: "python", NODE: "nodejs"}
_FILE_LANGUAGE = {".py": PYTHON, ".js": NODE, ".mjs": NODE, ".cjs": NODE}
_LANGUAGE_NAME = {PYTHON: "Python", NODE: "Node.js"}
_PYTHON_RUNTIME = re.compile(r"python(\d+)\.(\d+)")


def _today() -> date:
    return datetime.now(timezone.utc).date()


def language_of(runtime: str) -> str | None:
    """`python3.12` -> "python", `nodejs20.x` -> "node", anything else -> None."""
    if _PYTHON_RUNTIME.fullmatch(runtime):
        return PYTHON
    if runtime.startswith("nodejs"):
        return NODE
    return None


def language_of_file(path: str | Path) -> str | None:
    """The language of a handler file by its suffix (.py; .js/.mjs/.cjs), else None."""
    return _FILE_LANGUAGE.get(Path(path).suffix.lower())


def python_version(runtime: str) -> tuple[int, int]:
    """`python3.12` -> (3, 12); a ValueError for anything that is not `pythonX.Y`."""
    match = _PYTHON_RUNTIME.fullmatch(runtime)
    if not match:
        raise ValueError(f"{runtime!r} is not a Python runtime")
    return int(match.group(1)), int(match.group(2))


def deprecated_on(runtime: str, today: date | None = None) -> date | None:
    """The date the runtime was deprecated, if that date has passed; else None."""
    when = DEPRECATION_DATES.get(runtime)
    if when is not None and when <= (today or _today()):
        return when
    return None


def _version_key(runtime: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", runtime))


def supported(language: str, *, known: Iterable[str], today: date | None = None) -> tuple[str, ...]:
    """The runtimes Lambda supports today for `language`, newest first (of `known`)."""
    names = tuple(known)
    day = today or _today()
    found = {r for r in names if language_of(r) == language and deprecated_on(r, day) is None}
    return tuple(sorted(found, key=_version_key, reverse=True))


def check(
    runtime: str,
    language: str = PYTHON,
    *,
    known: Iterable[str],
    today: date | None = None,
) -> str:
    """`runtime` if Lambda supports it today for `language`; else a UsageError listing those."""
    names = tuple(known)
    day = today or _today()
    choices = supported(language, known=names, today=day)
    if runtime in choices:
        return runtime
    label = _LANGUAGE_NAME.get(language, language)
    when = deprecated_on(runtime, day) if runtime in names else None
    if when is not None:
        reason = f"AWS deprecated it on {when.isoformat()}"
    elif runtime in names:
        reason = f"it is not a {label} runtime"
    else:
        reason = "Lambda has no such runtime"
    raise UsageError(
        f"Runtime {runtime!r} is not supported for {label} handlers: {reason}.",
        hint=f"use one of: {', '.join(choices)} (--runtime, or `runtime` in recursectl.toml)",
    )


def check_handler(runtime: str, handler_file: str | Path) -> None:
    """A UsageError when the handler file's language is not the runtime's (app.js on python3.12)."""
    file_language = language_of_file(handler_file)
    runtime_language = language_of(runtime)
    if file_language is None or runtime_language is None or file_language == runtime_language:
        return
    name = Path(handler_file).name
    raise UsageError(
        f"Handler {name} is {_LANGUAGE_NAME[file_language]} but runtime {runtime} runs "
        f"{_LANGUAGE_NAME[runtime_language]}.",
        hint=f"use a {_RUNTIME_PREFIX[file_language]} runtime, or a "
        f"{_LANGUAGE_NAME[runtime_language]} handler file",
    )


def nearest(runtime: str, *, known: Iterable[str], today: date | None = None) -> str | None:
    """A supported runtime of `runtime`'s language: itself, else the oldest supported one at or
    above its version, else the newest; None for a language recursectl does not package."""
    language = language_of(runtime)
    if language is None:
        return None
    choices = supported(language, known=known, today=today)
    if not choices or runtime in choices:
        return runtime if runtime in choices else None
    above = [r for r in choices if _version_key(r) >= _version_key(runtime)]
    return above[-1] if above else choices[0]
