"""Which environment variables a handler reads its own function name or ARN from.

A recursive handler often addresses itself through a variable its own configuration sets
(the seed's Serverless example passes `custom.functionARN`). Deploy sets those variables to
the function's ARN, so the first self-invoke does not go out with an empty FunctionName
(botocore: "Invalid length for parameter FunctionName"; the SDK v3: "No value provided for
input HTTP label: FunctionName").

The handler's source is read, not run. A variable counts when
- its read is the value of a `FunctionName` (directly, or through a name assigned from it):
  Python `os.environ["X"]`, `os.environ.get("X")`, `os.getenv("X")`; Node `process.env.X`,
  `process.env["X"]`, `const { X } = process.env`;
- or the file invokes a Lambda function and the variable is named like the function's own
  name or ARN (`SELF_ARN`, `FUNCTION_ARN`, `MY_FUNCTION_NAME`, `LAMBDA_ARN`; not `TABLE_ARN`).
Names Lambda reserves (`AWS_LAMBDA_FUNCTION_NAME` is set by Lambda itself) and recursectl's own
are never chosen. `self_arn_env` in recursectl.toml names them explicitly.

Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from recursectl import envvars

_PY_READ = re.compile(
    r"""(?:os\.)?(?:environ\s*\[\s*|environ\.get\s*\(\s*|getenv\s*\(\s*)['"]([A-Za-z_]\w*)['"]"""
)
_NODE_READ = re.compile(
    r"""process\.env(?:\.([A-Za-z_$][\w$]*)|\s*\[\s*['"`]([A-Za-z_$][\w$]*)['"`]\s*\])"""
)
_NODE_DESTRUCTURE = re.compile(r"\{([^{}]*)\}\s*=\s*process\.env\b")
_ASSIGN = re.compile(r"(?:\b(?:const|let|var)\s+)?\b([A-Za-z_$][\w$]*)\s*=(?!=)\s*([^\n;]*)")
_FUNCTION_NAME_ARG = re.compile(r"\bFunctionName\s*[=:]\s*([^,\n})]*)")
_INVOKES = re.compile(r"\.invoke(?:_async)?\s*\(|\bInvoke(?:Async|WithResponseStream)?Command\b")
_SELF_WORD = re.compile(r"(?i)self|function|lambda|\bfn|_fn")
_ID_WORD = re.compile(r"(?i)arn|name")
_SELF_ONLY = re.compile(r"(?i)^(?:my|own|this)?_?self(?:_?(?:arn|name|function))*$")


def reads(source: str, language: str) -> list[str]:
    """Every environment variable the source reads, in order of first read."""
    names: list[str] = []
    if language == "python":
        names = [m.group(1) for m in _PY_READ.finditer(source)]
    else:
        names = [m.group(1) or m.group(2) for m in _NODE_READ.finditer(source)]
        for m in _NODE_DESTRUCTURE.finditer(source):
            names += [p.split(":")[0].split("=")[0].strip() for p in m.group(1).split(",")]
    return list(dict.fromkeys(n for n in names if n))


def _names_in(expr: str, language: str, aliases: Mapping[str, str]) -> set[str]:
    found = set(reads(expr, language))
    for word in re.findall(r"[A-Za-z_$][\w$]*", expr):
        if word in aliases:
            found.add(aliases[word])
    return found


def _aliases(source: str, language: str, read: Iterable[str]) -> dict[str, str]:
    """Local names bound to an environment read: `const arn = process.env.SELF_ARN`."""
    out: dict[str, str] = {}
    known = set(read)
    for m in _ASSIGN.finditer(source):
        target, value = m.group(1), m.group(2)
        names = reads(value, language)
        if names:
            out[target] = names[0]
    if language == "node":  # `const { SELF_ARN } = process.env` binds the name itself
        for m in _NODE_DESTRUCTURE.finditer(source):
            for part in m.group(1).split(","):
                key, _, local = part.partition(":")
                key = key.split("=")[0].strip()
                if key in known:
                    out[(local or key).split("=")[0].strip()] = key
    return out


def looks_like_self(name: str) -> bool:
    """Named like the function's own name or ARN (SELF_ARN, FUNCTION_ARN, LAMBDA_NAME)."""
    return bool(_SELF_ONLY.match(name)) or (
        bool(_SELF_WORD.search(name)) and bool(_ID_WORD.search(name))
    )


def settable(name: str) -> bool:
    """Deploy may set it: a key Lambda accepts, not reserved by Lambda, not one of
    recursectl's own."""
    return envvars.valid_name(name) and not (
        name in envvars.RESERVED
        or name.startswith(envvars.RESERVED_PREFIX)
        or name.startswith(envvars.OWN_PREFIX)
    )


def find(source: str, language: str) -> list[str]:
    """The variables this source uses as its own function name or ARN (see the module doc)."""
    read = reads(source, language)
    if not read:
        return []
    aliases = _aliases(source, language, read)
    chosen: list[str] = []
    for m in _FUNCTION_NAME_ARG.finditer(source):
        chosen += sorted(_names_in(m.group(1), language, aliases))
    if _INVOKES.search(source):
        chosen += [n for n in read if looks_like_self(n)]
    return [n for n in dict.fromkeys(chosen) if settable(n)]


def language_of(filename: str) -> str | None:
    if filename.endswith(".py"):
        return "python"
    if filename.endswith((".js", ".mjs", ".cjs")):
        return "node"
    return None


def scan(files: Mapping[str, bytes]) -> dict[str, str]:
    """{variable: file} over a project's own source files (the first file that names it)."""
    out: dict[str, str] = {}
    for name in sorted(files):
        language = language_of(name)
        if language is None or name.startswith("node_modules/"):
            continue
        try:
            text = files[name].decode("utf-8")
        except UnicodeDecodeError:
            continue
        for var in find(text, language):
            out.setdefault(var, name)
    return out
