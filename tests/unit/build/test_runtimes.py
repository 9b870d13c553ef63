"""Lambda runtimes: botocore's list minus AWS's deprecation table, languages, versions."""

from __future__ import annotations

from datetime import date

import pytest

from recursectl.aws.model import lambda_runtimes
from recursectl.build import runtimes
from recursectl.errors import EXIT_USAGE, UsageError

TODAY = date(2026, 12, 1)
KNOWN = ("python2.7", "python3.9", "python3.11", "python3.12", "python3.13", "python3.14")
KNOWN += ("nodejs18.x", "nodejs22.x", "nodejs24.x", "java21", "provided.al2023")


def test_the_model_lists_runtimes_of_both_languages() -> None:
    names = lambda_runtimes()
    assert "python3.12" in names
    assert "nodejs20.x" in names
    assert "python2.7" in names  # the model keeps deprecated runtimes: hence the table


def test_supported_python_runtimes_are_newest_first_without_deprecated_ones() -> None:
    assert runtimes.supported("python", known=KNOWN, today=TODAY) == (
        "python3.14",
        "python3.13",
        "python3.12",
    )
    assert runtimes.supported("node", known=KNOWN, today=TODAY) == ("nodejs24.x", "nodejs22.x")


def test_deprecation_follows_the_date() -> None:
    before = runtimes.supported("python", known=KNOWN, today=date(2026, 6, 29))
    assert "python3.11" in before
    assert "python3.11" not in runtimes.supported("python", known=KNOWN, today=date(2026, 6, 30))


def test_a_runtime_the_table_does_not_know_is_supported() -> None:
    assert runtimes.check("python3.15", known=(*KNOWN, "python3.15"), today=TODAY) == "python3.15"


def test_the_real_model_supports_the_default_runtime() -> None:
    assert runtimes.check("python3.13", known=lambda_runtimes()) == "python3.13"


@pytest.mark.parametrize(
    ("runtime", "reason"),
    [
        ("python2.7", "AWS deprecated it on 2021-07-15"),
        ("python3.99", "Lambda has no such runtime"),
        ("nodejs22.x", "it is not a Python runtime"),
        ("java21", "it is not a Python runtime"),
    ],
)
def test_unsupported_runtimes_are_refused_with_the_supported_list(
    runtime: str, reason: str
) -> None:
    with pytest.raises(UsageError) as caught:
        runtimes.check(runtime, "python", known=KNOWN, today=TODAY)
    error = caught.value
    assert error.exit_code == EXIT_USAGE
    assert reason in error.message
    assert runtime in error.message
    assert error.hint is not None
    assert "python3.14, python3.13, python3.12" in error.hint
    assert "\n" not in error.message + error.hint


def test_python_version_of_a_runtime() -> None:
    assert runtimes.python_version("python3.12") == (3, 12)
    assert runtimes.python_version("python3.9") == (3, 9)
    with pytest.raises(ValueError, match="not a Python runtime"):
        runtimes.python_version("nodejs20.x")


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("handler.py", "python"),
        ("app/Handler.PY", "python"),
        ("index.js", "node"),
        ("index.mjs", "node"),
        ("index.cjs", "node"),
        ("main.go", None),
    ],
)
def test_language_of_a_file(name: str, language: str | None) -> None:
    assert runtimes.language_of_file(name) == language


def test_language_of_a_runtime() -> None:
    assert runtimes.language_of("python3.12") == "python"
    assert runtimes.language_of("nodejs20.x") == "node"
    assert runtimes.language_of("java21") is None


def test_a_handler_in_another_language_than_the_runtime_is_refused() -> None:
    runtimes.check_handler("python3.12", "app/handler.py")
    runtimes.check_handler("python3.12", "Makefile")  # unknown: not ours to judge
    with pytest.raises(UsageError, match=r"index\.mjs is Node\.js but runtime python3\.12"):
        runtimes.check_handler("python3.12", "src/index.mjs")
    with pytest.raises(UsageError, match=r"handler\.py is Python but runtime nodejs22\.x"):
        runtimes.check_handler("nodejs22.x", "handler.py")
