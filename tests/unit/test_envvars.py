"""The function's environment: reserved names refused, variables set outside kept."""

from __future__ import annotations

import pytest

from recursectl import envvars
from recursectl.errors import UsageError


@pytest.mark.parametrize(
    "name", ["_HANDLER", "AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_ANYTHING", "TZ"]
)
def test_lambda_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="reserved by Lambda"):
        envvars.check({name: "x"})


@pytest.mark.parametrize("name", ["RECURSECTL_MAX_CALLS", "RECURSECTL_ENV_NAMES", "RECURSECTL_X"])
def test_recursectl_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="recursectl's own"):
        envvars.check({name: "x"})


@pytest.mark.parametrize("name", ["1ABC", "A", "MY-VAR", "_X", "x y"])
def test_invalid_names_are_refused_and_good_ones_pass(name: str) -> None:
    with pytest.raises(UsageError, match="not valid") as info:
        envvars.check({name: "x"})
    assert info.value.hint is not None
    assert "[a-zA-Z]([a-zA-Z0-9_])+" in info.value.hint  # Lambda's own rule, in the hint
    envvars.check({"LOG_LEVEL": "debug", "AWS_PROFILE_NAME": "x", "LANG": "C", "AB": "1"})


def test_assignments() -> None:
    assert envvars.parse_assignments(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(UsageError, match="KEY=VALUE"):
        envvars.parse_assignments(["A"])


def test_foreign_variables_are_those_recursectl_did_not_set() -> None:
    current = {
        "RECURSECTL_MAX_CALLS": "25",
        envvars.NAMES_ENV: "A,B",
        "A": "1",
        "B": "2",
        "THEIRS": "x",
    }
    assert envvars.foreign(current, {"A": "1"}) == {"THEIRS": "x"}  # B: ours, dropped from config
    # a function from before the list existed: every unknown variable is kept
    assert envvars.foreign({"A": "1", "THEIRS": "x"}, {}) == {"A": "1", "THEIRS": "x"}
    assert envvars.names_value({"B": "", "A": ""}) == "A,B"
