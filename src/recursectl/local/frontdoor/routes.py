"""The Lambda route table of the front door: (method, path pattern, handler), first match wins."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from recursectl.local.motowire import Response

if TYPE_CHECKING:
    from recursectl.local.frontdoor.http11 import Request
    from recursectl.local.frontdoor.server import FrontDoor

Handler = Callable[["FrontDoor", re.Match[str], "Request", str, str], Response]

# "*" is any method. Modules register at import; server.py's catch-all comes last.
LAMBDA_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        LAMBDA_ROUTES.append((method, re.compile(pattern), handler))
        return handler

    return register
