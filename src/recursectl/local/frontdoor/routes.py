"""The front door's Lambda route table: (method, path pattern, handler), first match wins.

One explicit table, as moto's `urls.py`: the handlers are plain functions of their modules
(no registration at import), and what no route matches goes to moto as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from recursectl.local.frontdoor import controlplane, functions, versions
from recursectl.local.motowire import Response

if TYPE_CHECKING:
    from recursectl.local.frontdoor.http11 import Request
    from recursectl.local.frontdoor.server import FrontDoor

Handler = Callable[["FrontDoor", re.Match[str], "Request", str, str], Response]
Route = tuple[str, re.Pattern[str], Handler]

_FN = r"^/2015-03-31/functions/(?P<name>[^/?]+)"
_TABLE: tuple[tuple[str, str, Handler], ...] = (
    # "*" is any method.
    ("POST", r"^/2015-03-31/functions/?$", controlplane.create_function),
    ("PUT", _FN + r"/code/?$", controlplane.update_code),
    ("PUT", _FN + r"/configuration/?$", controlplane.update_configuration),
    ("GET", _FN + r"/configuration/?$", controlplane.get_configuration),
    ("*", _FN + r"/?$", controlplane.function),
    ("*", r"^/2017-10-31/functions/(?P<name>[^/?]+)/concurrency/?$", controlplane.concurrency),
    ("GET", r"^/2016-08-19/account-settings/?$", controlplane.account_settings),
    ("POST", _FN + r"/versions/?$", versions.publish_version),
    ("POST", _FN + r"/aliases/?$", versions.create_alias),
    ("PUT", _FN + r"/aliases/(?P<alias>[^/?]+)/?$", versions.update_alias),
    ("*", r"^/2017-03-31/tags/(?P<arn>.+?)/?$", versions.tags),
    (
        "POST",
        r"^/2019-09-25/functions/(?P<name>[^/?]+)/event-invoke-config/?$",
        versions.update_event_invoke_config,
    ),
    ("POST", r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$", functions.invoke),
    (
        "*",
        r"^/2024-08-31/functions/(?P<name>[^/]+)/recursion-config/?$",
        functions.recursion_config,
    ),
    (
        "PUT",
        r"^/2019-09-25/functions/[^/]+/event-invoke-config/?$",
        functions.put_event_invoke_config,
    ),
    # Last: every other Lambda call, passed to moto.
    ("*", r"^/20\d\d-\d\d-\d\d/(functions|event-source-mappings)", functions.other_lambda),
)
LAMBDA_ROUTES: tuple[Route, ...] = tuple(
    (method, re.compile(pattern), handler) for method, pattern, handler in _TABLE
)
