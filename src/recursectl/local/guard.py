"""Who may talk to the local cloud: the checks in front of every request (pure functions).

A web page can reach 127.0.0.1 too: directly (cross-site requests) or through DNS rebinding
(its own name resolving to 127.0.0.1, so the browser sends `Host: evil.example:PORT`).
So a request is refused when its Host is not this server's loopback name and port, or when
it carries the headers only browsers send (`Origin`, `Sec-Fetch-*`). AWS API requests must
be SigV4-signed (an `Authorization: AWS4-HMAC-SHA256 ...` header or a presigned query): a page
cannot add that header cross-origin without a CORS preflight, which is refused. Signatures
are not verified (moto does not either): any credentials do, as with a real local emulator.
The control endpoints (`/_recursectl/`, `/moto-api/`) need the per-instance token.
"""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import parse_qs

TOKEN_HEADER = "x-recursectl-token"
_BROWSER_ONLY = ("origin", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user")
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/(?P<service>[^/,\s]+)/aws4_request")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def loopback_hosts(port: int) -> frozenset[str]:
    """The Host values a client of this server sends (lowercase)."""
    # `stream-localhost`: StartLiveTail's host prefix on `http://localhost:PORT`; RFC 6761
    # makes every *.localhost name loopback (systemd's resolver and nss-myhostname resolve
    # it; plain glibc with /etc/hosts does not, so clients there turn the prefix off).
    names = ("127.0.0.1", "localhost", "[::1]", "stream-localhost")
    return frozenset(f"{name}:{port}" for name in names)


def refusal(headers: dict[str, str], hosts: frozenset[str]) -> str | None:
    """Why a request is refused before anything else (None: go on). Names are lowercase."""
    host = headers.get("host")
    if host is None or (host not in hosts and host.lower() not in hosts):
        return f"Host {host!r} is not this local cloud (use {min(hosts)})"
    for name in _BROWSER_ONLY:
        if name in headers:
            return f"requests from web browsers are refused ({name} header)"
    return None


def signed_service(headers: dict[str, str], query: str) -> str | None:
    """The service of a SigV4 request's credential scope; None when it is not signed."""
    auth = headers.get("authorization")
    if auth is not None:
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return None
        match = _SCOPE.search(auth)
        return match["service"] if match else None
    if "X-Amz-Credential=" not in query:
        return None
    fields = parse_qs(query)
    if fields.get("X-Amz-Algorithm") != ["AWS4-HMAC-SHA256"] or "X-Amz-Signature" not in fields:
        return None
    scope = fields.get("X-Amz-Credential", [""])[0].split("/")
    return scope[3] if len(scope) == 5 and scope[4] == "aws4_request" else None


def token_ok(headers: dict[str, str], token: str) -> bool:
    given = headers.get(TOKEN_HEADER)
    return given is not None and hmac.compare_digest(given.encode(), token.encode())
