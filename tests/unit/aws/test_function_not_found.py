"""The one message for a missing function (invoke, info/stop/resume/destroy, logs)."""

from __future__ import annotations

from recursectl.aws.lambda_ import function_not_found
from recursectl.errors import EXIT_NOT_FOUND


def test_on_aws_it_names_the_region_and_how_to_deploy() -> None:
    err = function_not_found("ghost", local=False, region="eu-west-1")
    assert err.message == "Function ghost does not exist in eu-west-1."
    assert err.hint == (
        "deploy it first: `recursectl deploy --name ghost` (or check --region / --name)"
    )
    assert err.exit_code == EXIT_NOT_FOUND


def test_on_the_local_cloud_it_says_nothing_of_regions() -> None:
    err = function_not_found("ghost", local=True, region="us-east-1")
    assert err.message == "Function ghost does not exist."
    assert err.hint is not None
    assert "--region" not in err.hint
    assert "the local cloud keeps functions while it runs" in err.hint
