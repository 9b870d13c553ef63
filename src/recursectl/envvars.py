"""The function's environment variables: the user's, recursectl's own, and those set elsewhere.

Pure. Lambda refuses to set its reserved names (AWS's "Defined runtime environment variables",
docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-runtime.html: `_HANDLER`,
`_X_AMZN_TRACE_ID`, `AWS_REGION`, `AWS_DEFAULT_REGION`, `AWS_EXECUTION_ENV`, `AWS_LAMBDA_*`,
the execution role's keys, `LAMBDA_TASK_ROOT`, `LAMBDA_RUNTIME_DIR`, `TZ`); recursectl refuses
them before any call, with its own names (`RECURSECTL_*`).

Which variables recursectl set is remembered in the function itself: `RECURSECTL_ENV_NAMES`
lists the user's names (comma-separated, sorted). A variable on the function that is neither
recursectl's nor listed there was set outside recursectl: deploy keeps it and says so, and
removes it only with `--prune-env`. A function deployed before the list existed has none, so
all of its unknown variables are kept: the safe direction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from recursectl import protocol
from recursectl.errors import UsageError

NAMES_ENV = "RECURSECTL_ENV_NAMES"
OWN_PREFIX = "RECURSECTL_"
RESERVED = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "TZ",
    }
)
RESERVED_PREFIX = "AWS_LAMBDA_"  # AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_RUNTIME_API, ...
# Lambda's EnvironmentVariableName pattern (botocore's model): two characters at least.
_NAME = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")


def valid_name(name: str) -> bool:
    """A variable name Lambda accepts."""
    return _NAME.fullmatch(name) is not None


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """`--env KEY=VALUE` values -> {KEY: VALUE}; a UsageError for one without `=`."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--env {pair!r} is not KEY=VALUE.", hint="e.g. --env LOG_LEVEL=debug")
        out[name] = value
    return out


def check(env: Mapping[str, str]) -> None:
    """A UsageError for a name Lambda reserves, one of recursectl's own, or an invalid one."""
    for name in sorted(env):
        if name in RESERVED or name.startswith(RESERVED_PREFIX):
            raise UsageError(
                f"Environment variable {name} is reserved by Lambda; it cannot be set.",
                hint="rename it (Lambda sets the reserved ones itself: "
                "docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-runtime.html)",
            )
        if name.startswith(OWN_PREFIX) or name in protocol.OWN_ENV:
            raise UsageError(
                f"Environment variable {name} is recursectl's own; it cannot be set.",
                hint="use the settings instead (max_calls, max_invocations, handler) "
                "or another name",
            )
        if not valid_name(name):
            raise UsageError(
                f"Environment variable name {name!r} is not valid on Lambda.",
                hint="Lambda takes [a-zA-Z]([a-zA-Z0-9_])+: a letter, then one or more "
                "letters, digits or underscores",
            )


def set_by_us(current: Mapping[str, str]) -> set[str]:
    """The user variables recursectl set on this function (from NAMES_ENV)."""
    return {n for n in current.get(NAMES_ENV, "").split(",") if n}


def foreign(current: Mapping[str, str], user: Mapping[str, str]) -> dict[str, str]:
    """Variables on the function that recursectl did not set and the user does not set now."""
    ours = set_by_us(current)
    return {
        k: v
        for k, v in current.items()
        if k not in ours and k not in user and not k.startswith(OWN_PREFIX)
    }


def names_value(user: Mapping[str, str]) -> str:
    return ",".join(sorted(user))
