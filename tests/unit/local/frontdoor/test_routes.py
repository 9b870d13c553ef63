"""The front door's Lambda route table: which handler a request reaches (first match wins)."""

from __future__ import annotations

import pytest

from recursectl.local.frontdoor import controlplane, functions, routes, versions


def _handler_for(method: str, path: str) -> object:
    for want, pattern, handler in routes.LAMBDA_ROUTES:
        if want in (method, "*") and pattern.match(path):
            return handler
    return None


@pytest.mark.parametrize(
    ("method", "path", "handler"),
    [
        ("POST", "/2015-03-31/functions", controlplane.create_function),
        ("PUT", "/2015-03-31/functions/fn/code", controlplane.update_code),
        ("PUT", "/2015-03-31/functions/fn/configuration", controlplane.update_configuration),
        ("GET", "/2015-03-31/functions/fn/configuration", controlplane.get_configuration),
        ("GET", "/2015-03-31/functions/fn", controlplane.function),
        ("DELETE", "/2015-03-31/functions/fn", controlplane.function),
        ("PUT", "/2017-10-31/functions/fn/concurrency", controlplane.concurrency),
        ("GET", "/2016-08-19/account-settings", controlplane.account_settings),
        ("POST", "/2015-03-31/functions/fn/versions", versions.publish_version),
        ("POST", "/2015-03-31/functions/fn/aliases", versions.create_alias),
        ("PUT", "/2015-03-31/functions/fn/aliases/live", versions.update_alias),
        ("GET", "/2017-03-31/tags/arn:aws:lambda:us-east-1:1:function:fn", versions.tags),
        (
            "POST",
            "/2019-09-25/functions/fn/event-invoke-config",
            versions.update_event_invoke_config,
        ),
        ("PUT", "/2019-09-25/functions/fn/event-invoke-config", functions.put_event_invoke_config),
        ("POST", "/2015-03-31/functions/fn/invocations", functions.invoke),
        ("PUT", "/2024-08-31/functions/fn/recursion-config", functions.recursion_config),
        ("GET", "/2024-08-31/functions/fn/recursion-config", functions.recursion_config),
        # Everything else of Lambda's goes to moto through the last row.
        ("GET", "/2015-03-31/functions/", functions.other_lambda),
        ("GET", "/2015-03-31/functions/fn/policy", functions.other_lambda),
        ("GET", "/2019-09-25/functions/fn/event-invoke-config", functions.other_lambda),
        ("POST", "/2015-03-31/event-source-mappings/", functions.other_lambda),
        # Not a Lambda path: no route (the door hands it to moto as it is).
        ("GET", "/2017-03-31/layers", None),
    ],
)
def test_a_request_reaches_its_handler(method: str, path: str, handler: object) -> None:
    assert _handler_for(method, path) is handler


def test_the_catch_all_to_moto_is_the_last_row() -> None:
    """A row after it could never match a Lambda path (the first match wins)."""
    *_, last = routes.LAMBDA_ROUTES
    assert last[2] is functions.other_lambda
    assert sum(1 for row in routes.LAMBDA_ROUTES if row[2] is functions.other_lambda) == 1
