"""Settings: flags > RECURSECTL_* environment > recursectl.toml / [tool.recursectl] > defaults."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from recursectl import protocol
from recursectl.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_FILE = "recursectl.toml"
DEFAULT_NAME = "recursectl-demo"
DEFAULT_RUNTIME = "python3.13"
DEFAULT_ARCHITECTURE = "x86_64"
ARCHITECTURES = ("x86_64", "arm64")
DEFAULT_LOCAL_PORT = 4599
LOCAL_REGION = "us-east-1"


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know, resolved once."""

    name: str = DEFAULT_NAME
    handler: str | None = None  # PATH[:FUNCTION]; None means the bundled template
    runtime: str = DEFAULT_RUNTIME
    memory: int = 128
    timeout: int = 30
    max_calls: int = protocol.DEFAULT_MAX_CALLS
    max_invocations: int = protocol.DEFAULT_MAX_INVOCATIONS  # one chain's total budget
    concurrency: int | None = None
    max_cost: float | None = None  # USD per chain (invoke --max-cost); None: no cost cap
    log_retention_days: int = 14
    log_format: str | None = None  # LoggingConfig.LogFormat, Text or JSON; None: leave it
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    local: bool = False
    local_port: int = DEFAULT_LOCAL_PORT
    function_arn: str | None = None  # written back by deploy; informational
    project: str | None = None  # default: the config file's folder name (see project_identity)
    # the project's code (issue 9) -------------------------------------------------------
    source: str | None = None  # the code root; None: the handler file's folder
    requirements: str | None = None  # None: requirements.txt in the source root, if any
    exclude: tuple[str, ...] = ()  # gitignore-style, on top of recursectl.sources' defaults
    include: tuple[str, ...] = ()  # wins over excludes; names secret-looking files to allow
    environment: Mapping[str, str] = field(default_factory=dict)
    architecture: str = DEFAULT_ARCHITECTURE
    layers: tuple[str, ...] = ()  # layer version ARNs
    iam_statements: tuple[Mapping[str, Any], ...] = ()  # added to the role's inline policy
    iam_policy_file: str | None = None  # a JSON policy document (or a list of statements)
    managed_policies: tuple[str, ...] = ()  # managed policy ARNs attached to the role
    config_path: Path | None = field(default=None, compare=False)

    @property
    def project_identity(self) -> str | None:
        """The `recursectl:project` tag value: `project`, else the config file's folder name.

        None without either (a deploy from flags alone): such a deploy creates resources
        without a project tag and cannot take over a function another project has tagged.
        """
        from recursectl.names import project_label

        if self.project is not None:
            return project_label(self.project)
        if self.config_path is None:
            return None
        try:
            return project_label(self.config_path.resolve().parent.name)
        except UsageError:
            return None  # a folder name with no usable character: no project identity

    def with_overrides(self, **overrides: Any) -> Settings:
        """Apply flag values; `None` means "flag not given"."""
        given = {k: v for k, v in overrides.items() if v is not None}
        _validate(given, source="command line")
        return dataclasses.replace(self, **given)


_INT_KEYS = {
    "memory",
    "timeout",
    "max_calls",
    "max_invocations",
    "concurrency",
    "log_retention_days",
    "local_port",
}
_BOOL_KEYS = {"local"}
_FLOAT_KEYS = {"max_cost"}
_LIST_KEYS = {"exclude", "include", "layers", "managed_policies"}
_TABLE_KEYS = {"environment"}
_STATEMENT_KEYS = {"iam_statements"}
_NO_ENV_KEYS = _LIST_KEYS | _TABLE_KEYS | _STATEMENT_KEYS  # not settable by RECURSECTL_*
_KEYS = {f.name for f in fields(Settings)} - {"config_path"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# The documented ranges; AWS enforces the same ones, but failing here is faster and clearer.
_RANGES = {
    "memory": (128, 10240),
    "timeout": (1, 900),
    "max_calls": (0, 100_000),
    "max_invocations": (1, 10_000_000),
    "concurrency": (0, 100_000),
    "log_retention_days": (1, 3653),
    "local_port": (1, 65535),
}


_TYPE_WORDS: dict[Any, str] = {int: "a whole number", bool: "true or false", str: "a string"}


def _validate(values: Mapping[str, Any], source: str) -> None:
    fmt = values.get("log_format")
    if fmt is not None and str(fmt).lower() not in ("text", "json"):
        raise UsageError(
            f"log-format must be Text or JSON (got {fmt!r} from {source}).",
            hint="Lambda writes its logs as plain text or as JSON (--log-format, `log_format`)",
        )
    arch = values.get("architecture")
    if arch is not None and arch not in ARCHITECTURES:
        raise UsageError(
            f"architecture must be x86_64 or arm64 (got {arch!r} from {source}).",
            hint="Lambda offers x86_64 and arm64 (--architecture, or `architecture`)",
        )
    cost = values.get("max_cost")
    if cost is not None and (
        isinstance(cost, bool) or not isinstance(cost, (int, float)) or not cost > 0
    ):
        raise UsageError(
            f"max-cost must be a number of dollars above 0 (got {cost!r} from {source}).",
            hint="--max-cost 0.05 stops a chain once it has spent about five cents",
        )
    for key, value in values.items():
        if key in _RANGES and value is not None:
            lo, hi = _RANGES[key]
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise UsageError(
                    f"{key.replace('_', '-')} must be a whole number from {lo} to {hi} "
                    f"(got {value!r} from {source}).",
                    hint=f"Fix `{key}` in {source}.",
                )


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _KEYS - _NO_ENV_KEYS:
        raw = environ.get(f"RECURSECTL_{key.upper()}")
        if raw is None:
            continue
        if key in _INT_KEYS:
            try:
                out[key] = int(raw)
            except ValueError:
                raise UsageError(
                    f"RECURSECTL_{key.upper()} must be a whole number (got {raw!r}).",
                    hint=f"unset RECURSECTL_{key.upper()} or give it a number",
                ) from None
        elif key in _FLOAT_KEYS:
            try:
                out[key] = float(raw)
            except ValueError:
                raise UsageError(
                    f"RECURSECTL_{key.upper()} must be a number (got {raw!r}).",
                    hint=f"unset RECURSECTL_{key.upper()} or give it a number of dollars",
                ) from None
        elif key in _BOOL_KEYS:
            if raw.lower() not in _TRUE | _FALSE:
                raise UsageError(
                    f"RECURSECTL_{key.upper()} must be 1 or 0 (got {raw!r}).",
                    hint=f"export RECURSECTL_{key.upper()}=1",
                )
            out[key] = raw.lower() in _TRUE
        else:
            out[key] = raw
    # AWS's own conventions, below our own variables.
    if "endpoint_url" not in out and environ.get("AWS_ENDPOINT_URL"):
        out["endpoint_url"] = environ["AWS_ENDPOINT_URL"]
    return out


def find_config(cwd: Path) -> Path | None:
    """recursectl.toml in the current directory, else a pyproject.toml with [tool.recursectl]."""
    candidate = cwd / CONFIG_FILE
    if candidate.is_file():
        return candidate
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            return None
        if isinstance(data.get("tool"), dict) and "recursectl" in data["tool"]:
            return pyproject
    return None


def read_config(path: Path) -> dict[str, Any]:
    """The settings table of a config file, validated (unknown keys are an error)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"Config file {path} does not exist.", hint="run `recursectl init` to create one"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"Config file {path} is not valid TOML: {exc}", hint="fix the file"
        ) from None
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        data = tool.get("recursectl", {}) if isinstance(tool, dict) else {}
        if not isinstance(data, dict):
            raise UsageError(
                f"[tool.recursectl] in {path} must be a table, not {type(data).__name__}.",
                hint='write it as a table: [tool.recursectl] with keys such as name = "my-fn"',
            )
    table: dict[str, Any] = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise UsageError(
            f"Unknown key(s) in {path}: {', '.join(unknown)}.",
            hint=f"valid keys: {', '.join(sorted(_KEYS))}",
        )
    for key, value in list(table.items()):
        if key in _LIST_KEYS | _TABLE_KEYS | _STATEMENT_KEYS:
            table[key] = _structured(key, value, path)
            continue
        expected: type | tuple[type, ...] = (
            int
            if key in _INT_KEYS
            else (int, float)
            if key in _FLOAT_KEYS
            else bool
            if key in _BOOL_KEYS
            else str
        )
        if not isinstance(value, expected) or (
            expected in (int, (int, float)) and isinstance(value, bool)
        ):
            raise UsageError(
                f"`{key}` in {path} has the wrong type ({type(value).__name__}).",
                hint=f"`{key}` takes {_TYPE_WORDS.get(expected, 'a value')}",
            )
    for key in _FLOAT_KEYS & set(table):
        table[key] = float(table[key])  # `max_cost = 1` is a whole number in TOML
    _validate(table, source=str(path))
    return table


def _structured(key: str, value: Any, path: Path) -> Any:
    """A list of strings, the environment table, or the list of IAM statements."""
    if key in _LIST_KEYS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(
                f"`{key}` in {path} must be a list of strings.", hint=f'e.g. {key} = ["..."]'
            )
        return tuple(value)
    if key in _TABLE_KEYS:
        if not isinstance(value, dict):
            raise UsageError(
                f"`[{key}]` in {path} must be a table of NAME = value.",
                hint=f'e.g. [{key}] then LOG_LEVEL = "debug" on its own line',
            )
        out: dict[str, str] = {}
        for name, v in value.items():
            if isinstance(v, bool):
                out[name] = "true" if v else "false"
            elif isinstance(v, (str, int, float)):
                out[name] = str(v)
            else:
                raise UsageError(
                    f"[{key}] {name} in {path} must be a string, number or boolean.",
                    hint="Lambda's environment variables are strings",
                )
        return out
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise UsageError(
            f"`{key}` in {path} must be a list of IAM policy statements.",
            hint=f"write each one as [[{key}]] with Effect, Action and Resource",
        )
    return tuple(value)


def load(
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Defaults < config file < environment. Flags are applied by the caller."""
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    path = config_path or find_config(cwd)
    values: dict[str, Any] = {}
    if path is not None:
        values.update(read_config(path))
    env_values = _from_env(environ)
    _validate(env_values, source="the environment")
    values.update(env_values)
    return Settings(config_path=path, **values)
