"""Settings: flags > RECURSECTL_* environment > recursectl.toml / [tool.recursectl] > defaults."""

from __future__ import annotations

import dataclasses
import json
import os
import re
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
    exclude: tuple[str, ...] = ()  # gitignore-style, on top of recursectl.build.sources' defaults
    include: tuple[str, ...] = ()  # wins over excludes; names secret-looking files to allow
    environment: Mapping[str, str] = field(default_factory=dict)
    architecture: str = DEFAULT_ARCHITECTURE
    layers: tuple[str, ...] = ()  # layer version ARNs
    iam_statements: tuple[Mapping[str, Any], ...] = ()  # added to the role's inline policy
    iam_policy_file: str | None = None  # a JSON policy document (or a list of statements)
    managed_policies: tuple[str, ...] = ()  # managed policy ARNs attached to the role
    # `node.install_scripts` in recursectl.toml: let `npm ci` run the dependencies' lifecycle
    # scripts at deploy (off: `npm ci --ignore-scripts`, nobody's code runs on this machine)
    node_install_scripts: bool = False
    # `python.build_sdists` in recursectl.toml: let pip build dependencies published only as
    # source distributions (off: `--only-binary=:all:`, no package's build code runs here)
    python_build_sdists: bool = False
    # self-invoke (issue 21) ------------------------------------------------------------------
    self_arn_env: tuple[str, ...] = ()  # variables the handler reads its own ARN from
    # long jobs (issue 24, docs/jobs.md): a `[job]` table makes the function a job function --
    job: bool = False  # the config has a [job] table
    job_bucket: str | None = None  # adopt this S3 bucket; None: deploy creates one
    job_max_hops: int = protocol.DEFAULT_JOB_MAX_HOPS
    job_max_seconds: int = protocol.DEFAULT_JOB_MAX_SECONDS
    job_max_cost: float | None = None  # USD per job; None: no cost bound
    job_margin_ms: int | None = None  # None: the helper's default (20 % of the timeout)
    job_state_ttl_days: int = protocol.JOB_STATE_TTL_DAYS
    config_path: Path | None = field(default=None, compare=False)
    # The folder the project is in (the config file's, else the current one), and where the
    # function's name came from when no setting gave it ("package.json name", ...).
    project_dir: Path | None = field(default=None, compare=False)
    name_origin: str | None = field(default=None, compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)  # what reading the config noticed

    @property
    def project_identity(self) -> str | None:
        """The `recursectl:project` tag value: `project`, else the config file's folder name.

        None without either (a deploy from flags alone): such a deploy creates resources
        without a project tag and cannot take over a function another project has tagged.
        """
        from recursectl.names import project_label

        if self.project is not None:
            return project_label(self.project)
        folder = self.config_path.parent if self.config_path else self.project_dir
        if folder is None:
            return None
        try:
            return project_label(folder.resolve().name)
        except UsageError:
            return None  # a folder name with no usable character: no project identity

    def with_overrides(self, **overrides: Any) -> Settings:
        """Apply flag values; `None` means "flag not given"."""
        given = {k: v for k, v in overrides.items() if v is not None}
        _validate(given, source="command line")
        if "name" in given:
            given["name_origin"] = None
        return dataclasses.replace(self, **given)


_INT_KEYS = {
    "memory",
    "timeout",
    "max_calls",
    "max_invocations",
    "concurrency",
    "log_retention_days",
    "local_port",
    "job_max_hops",
    "job_max_seconds",
    "job_margin_ms",
    "job_state_ttl_days",
}
_BOOL_KEYS = {"local", "node_install_scripts", "python_build_sdists", "job"}
_FLOAT_KEYS = {"max_cost", "job_max_cost"}
_LIST_KEYS = {"exclude", "include", "layers", "managed_policies", "self_arn_env"}
_TABLE_KEYS = {"environment"}
_STATEMENT_KEYS = {"iam_statements"}
# The [job] table has no environment form: RECURSECTL_JOB_BUCKET and RECURSECTL_JOB_BOUNDS
# are the deployed function's own variables (protocol.py), not settings.
_JOB_KEYS = {
    "job",
    "job_bucket",
    "job_max_hops",
    "job_max_seconds",
    "job_max_cost",
    "job_margin_ms",
    "job_state_ttl_days",
}
_NO_ENV_KEYS = _LIST_KEYS | _TABLE_KEYS | _STATEMENT_KEYS | _JOB_KEYS  # not set by RECURSECTL_*
_KEYS = {f.name for f in fields(Settings)} - {"config_path", "project_dir", "name_origin", "notes"}
# Keys a config file writes inside a table (`node.install_scripts = true`, or a `[node]`
# table): table -> {key in the table: the Settings field}.
_NESTED = {
    "node": {"install_scripts": "node_install_scripts"},
    "python": {"build_sdists": "python_build_sdists"},
    "job": {
        "bucket": "job_bucket",
        "max_hops": "job_max_hops",
        "max_seconds": "job_max_seconds",
        "max_cost": "job_max_cost",
        "margin_ms": "job_margin_ms",
        "state_ttl_days": "job_state_ttl_days",
    },
}
_DOTTED = {field: f"{t}.{k}" for t, keys in _NESTED.items() for k, field in keys.items()}
_FILE_KEYS = (_KEYS - {f for t in _NESTED.values() for f in t.values()}) | set(_NESTED)
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
    "job_max_hops": (1, 1_000_000),
    "job_max_seconds": (1, 366 * 24 * 3600),
    "job_margin_ms": (0, 900_000),
    "job_state_ttl_days": (1, 3650),
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
    _validate_job(values, source)
    for key, value in values.items():
        if key in _RANGES and value is not None:
            lo, hi = _RANGES[key]
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                shown = _DOTTED.get(key, key)
                raise UsageError(
                    f"{shown.replace('_', '-')} must be a whole number from {lo} to {hi} "
                    f"(got {value!r} from {source}).",
                    hint=f"Fix `{shown}` in {source}.",
                )


def _validate_job(values: Mapping[str, Any], source: str) -> None:
    """The [job] table's cost bound and bucket name (its whole numbers are in _RANGES)."""
    cost = values.get("job_max_cost")
    if cost is not None and (
        isinstance(cost, bool) or not isinstance(cost, (int, float)) or not cost > 0
    ):
        raise UsageError(
            f"job.max_cost must be a number of dollars above 0 (got {cost!r} from {source}).",
            hint="e.g. max_cost = 2.5 in [job]: the job stops once it has spent about $2.50",
        )
    bucket = values.get("job_bucket")
    if bucket is not None:
        from recursectl.names import bucket_name_problem

        problem = bucket_name_problem(str(bucket))
        if problem:
            raise UsageError(
                f"job.bucket {bucket!r} in {source} is not a valid S3 bucket name: {problem}.",
                hint="name an existing bucket of this account, or leave `bucket` out and "
                "deploy creates one",
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
    unknown = sorted(set(table) - _FILE_KEYS)
    if unknown:
        raise UsageError(
            f"Unknown key(s) in {path}: {', '.join(unknown)}.",
            hint=f"valid keys: {', '.join(sorted(_FILE_KEYS - set(_NESTED)) + _nested_names())}",
        )
    _flatten_tables(table, path)
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
            shown = _DOTTED.get(key, key)
            raise UsageError(
                f"`{shown}` in {path} has the wrong type ({type(value).__name__}).",
                hint=f"`{shown}` takes {_TYPE_WORDS.get(expected, 'a value')}",
            )
    for key in _FLOAT_KEYS & set(table):
        table[key] = float(table[key])  # `max_cost = 1` is a whole number in TOML
    _validate(table, source=str(path))
    return table


def _flatten_tables(table: dict[str, Any], path: Path) -> None:
    for name in _NESTED:
        if name in table:
            table.update(_flatten(name, table.pop(name), path))
            if name == "job":  # the table itself, even empty, makes a job function
                table["job"] = True


def _nested_names() -> list[str]:
    return sorted(_DOTTED.values())


def _flatten(name: str, value: Any, path: Path) -> dict[str, Any]:
    """`[node]` / `node.install_scripts = true` -> {"node_install_scripts": True}."""
    keys = _NESTED[name]
    if not isinstance(value, dict):
        example = (
            "a [job] table with bucket, max_hops, max_seconds, max_cost, margin_ms, state_ttl_days"
            if name == "job"
            else f"{name}.{next(iter(keys))} = true"
        )
        raise UsageError(f"`{name}` in {path} must be a table.", hint=f"write e.g. {example}")
    unknown = sorted(k for k in value if k.replace("-", "_") not in keys)
    if unknown:
        raise UsageError(
            f"Unknown key(s) in [{name}] of {path}: {', '.join(unknown)}.",
            hint=f"valid keys: {', '.join(f'{name}.{k}' for k in keys)}",
        )
    return {keys[k.replace("-", "_")]: v for k, v in value.items()}


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
    if path is None:  # a Serverless Framework project, read as it is
        from recursectl import serverless

        path = serverless.find(cwd)
    if path is not None and path.name in ("serverless.yml", "serverless.yaml"):
        values.update(_from_serverless(path, environ))
    elif path is not None:
        values.update(read_config(path))
    env_values = _from_env(environ)
    _validate(env_values, source="the environment")
    values.update(env_values)
    folder = path.parent if path is not None else cwd
    if "name" not in values:
        values["name"], values["name_origin"] = default_name(folder)
    return Settings(config_path=path, project_dir=folder, **values)


def _from_serverless(path: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    from recursectl import serverless
    from recursectl.aws.model import lambda_runtimes

    imported = serverless.load(path, known=lambda_runtimes(), environ=environ)
    _validate(imported.values, source=str(path))
    return {**imported.values, "notes": tuple(f"{path.name}: {n}" for n in imported.notes)}


_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def function_name_from(raw: str) -> str | None:
    """`raw` made fit for Lambda's function names (letters, digits, - and _; 64 at most)."""
    name = _NAME_BAD.sub("-", raw.rsplit("/", 1)[-1]).strip("-_")[:64].strip("-_")
    return name or None


def default_name(folder: Path) -> tuple[str, str]:
    """The function's name when none is set: the project's own name (package.json's `name`,
    pyproject.toml's [project] name), else the folder's; and where it came from."""
    for file, read in (("package.json", _package_json_name), ("pyproject.toml", _pyproject_name)):
        try:
            raw = read(folder / file)
        except (OSError, ValueError, tomllib.TOMLDecodeError):
            raw = None
        name = function_name_from(raw) if raw else None
        if name:
            return name, f"{file} name"
    name = function_name_from(folder.resolve().name)
    if name:
        return name, "folder name"
    return DEFAULT_NAME, "default"


def _package_json_name(path: Path) -> str | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def _pyproject_name(path: Path) -> str | None:
    if not path.is_file():
        return None
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    project = data.get("project")
    name = project.get("name") if isinstance(project, dict) else None
    return name if isinstance(name, str) else None
