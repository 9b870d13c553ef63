"""recursectl's DynamoDB client for the chain helper (the counter's UpdateItems, a job's
records), packaged next to recursectl_chain.py by `recursectl deploy` and loaded by it on the
first call (docs/architecture.md, "The helpers' own DynamoDB calls are signed by hand").

DynamoDB's JSON protocol signed by hand (SigV4) on kept-alive connections instead of a boto3
client: the guard's own calls are on a hop's critical path. Measured against the local cloud's
front door (600 UpdateItems each, alternated): boto3 2.24 ms wall and 0.74 ms of CPU per call,
this path 1.65 ms and 0.20 ms. Only for the plain case a Lambda function is in (credentials in
the environment, a standard region, no proxy, FIPS, dual-stack or CA bundle setting); anything
else, and a TLS failure, takes boto3 as before.
"""

from __future__ import annotations

import json
import os
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_compact = json.JSONEncoder(separators=(",", ":")).encode


def _sdk_dynamodb() -> Any:
    import boto3
    from botocore.config import Config

    # Short timeouts: an unreachable counter refuses the child (fail safe) within seconds
    # instead of holding the handler. A retried ADD may count one child twice: the safe way.
    return boto3.client(
        "dynamodb",
        config=Config(
            connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 3}
        ),
    )


class DynamoError(Exception):
    """A DynamoDB error answer to a lean call; `response` has botocore's ClientError shape
    (Error.Code, Error.Message, ResponseMetadata.HTTPStatusCode, and the body's `Item`)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        code = str(body.get("__type") or f"HTTP{status}").rpartition("#")[2]
        message = str(body.get("message") or body.get("Message") or "")
        super().__init__(f"{code}: {message}" if message else code)
        self.response: dict[str, Any] = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        if "Item" in body:
            self.response["Item"] = body["Item"]


_RETRIED_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)
_MAX_ATTEMPTS = 3


def _lean_endpoint(env: Any) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, region) of the lean path, or None: boto3 (see _Dynamo)."""
    import re

    if not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
        return None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d+", region):
        return None  # no region, or a partition whose endpoints are not amazonaws.com(.cn)
    flags = ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT")
    if any(env.get(flag, "").lower() == "true" for flag in flags) or env.get("AWS_CA_BUNDLE"):
        return None
    proxies = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
    if any(env.get(name) for name in proxies):
        return None
    url = ""
    if env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        url = env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL") or ""
    if not url:
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return "https", f"dynamodb.{region}.{suffix}", 443, region
    found = re.fullmatch(r"(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d+))?/?", url)
    if found is None:
        return None  # a path or anything unusual: boto3 knows it
    scheme, host, port = found.group(1), found.group(2), found.group(3)
    return scheme, host, int(port) if port else (443 if scheme == "https" else 80), region


def _sign(
    env: Any, region: str, host: str, target: str, body: bytes, amz_date: str
) -> dict[str, str]:
    """The headers of a SigV4-signed DynamoDB JSON request (POST /, `host` as sent)."""
    import hashlib
    import hmac

    headers = {
        "content-type": "application/x-amz-json-1.0",
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-target": f"DynamoDB_20120810.{target}",
    }
    token = env.get("AWS_SESSION_TOKEN")
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    signed = ";".join(names)
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            "".join(f"{name}:{headers[name]}\n" for name in names),
            signed,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    day = amz_date[:8]
    scope = f"{day}/{region}/dynamodb/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _signing_key(env["AWS_SECRET_ACCESS_KEY"], day, region)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={env['AWS_ACCESS_KEY_ID']}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return headers


_keys: dict[tuple[str, str, str], bytes] = {}


def _signing_key(secret: str, day: str, region: str) -> bytes:
    import hashlib
    import hmac

    found = _keys.get((secret, day, region))
    if found is None:
        found = ("AWS4" + secret).encode()
        for part in (day, region, "dynamodb", "aws4_request"):
            found = hmac.new(found, part.encode(), hashlib.sha256).digest()
        _keys.clear()  # one key lives: the credentials and the day change, not back
        _keys[(secret, day, region)] = found
    return found


class _Dynamo:
    """The guard's DynamoDB client: update_item/get_item/put_item as boto3's (same parameters,
    the response body's shapes, errors with ClientError's `response`), over the lean path when
    the environment allows it (decided once), else through boto3."""

    def __init__(self, env: Any = None) -> None:
        self._env = os.environ if env is None else env
        self._where = _lean_endpoint(self._env)
        self._sdk: Any = None
        self._lock = threading.Lock()
        self._idle: list[Any] = []  # kept-alive connections, one per thread at most in use

    @property
    def lean(self) -> bool:
        return self._where is not None

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self._call("UpdateItem", "update_item", params)

    def get_item(self, **params: Any) -> dict[str, Any]:
        return self._call("GetItem", "get_item", params)

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self._call("PutItem", "put_item", params)

    def _call(self, target: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self._where is not None:
            import ssl

            try:
                return self._lean(target, params)
            except ssl.SSLError as exc:  # this environment's TLS is not ours to fix: boto3
                print(f"recursectl: DynamoDB over TLS failed ({exc}): using boto3 from now on")
                self._where = None
        if self._sdk is None:
            self._sdk = _sdk_dynamodb()
        return dict(getattr(self._sdk, method)(**params))

    def _lean(self, target: str, params: dict[str, Any]) -> dict[str, Any]:
        import http.client
        import random

        body = _compact(params).encode()
        attempt = 1
        while True:
            try:
                status, answer = self._send(target, body)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # refused, reset, timed out, a bad answer: another attempt
                import ssl

                if isinstance(exc, ssl.SSLError) or attempt >= _MAX_ATTEMPTS:
                    raise
            else:
                if 200 <= status < 300:
                    return answer
                error = DynamoError(status, answer)
                code = error.response["Error"]["Code"]
                if attempt >= _MAX_ATTEMPTS or not (status >= 500 or code in _RETRIED_CODES):
                    raise error
            time.sleep(random.random() * 0.025 * 2**attempt)
            attempt += 1

    def _send(self, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """One request and its answer on an idle kept-alive connection (or a new one); one
        the server closed meanwhile is re-sent at once on a new one (not an attempt: the
        request never reached it). Threads each take their own connection: a handler's
        threads may count children at the same time."""
        import http.client

        with self._lock:
            conn = self._idle.pop() if self._idle else None
        for reused in (conn is not None, False):
            if conn is None:
                conn = self._connect()
            try:
                status, answer, keep = self._exchange(conn, target, body)
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                conn.close()
                conn = None
                if not reused:
                    raise
                continue
            except BaseException:
                conn.close()
                raise
            if keep:
                with self._lock:
                    if len(self._idle) < 10:  # botocore's pool size
                        self._idle.append(conn)
                        conn = None
            if conn is not None:
                conn.close()
            return status, answer
        raise AssertionError("unreachable")

    def _connect(self) -> Any:
        import http.client
        import socket

        scheme, host, port, _ = self._where or ("http", "", 0, "")
        if scheme == "https":
            import ssl

            conn: Any = http.client.HTTPSConnection(
                host, port, timeout=2, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=2)
        try:
            conn.connect()  # 2 s to connect, then 3 s for each answer (boto3's settings above)
            conn.sock.settimeout(3)
            # No Nagle (http.client sends a bytes body with its headers in one send): else a
            # request can wait ~40 ms for a delayed ACK on loopback.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            conn.close()
            raise
        return conn

    def _exchange(self, conn: Any, target: str, body: bytes) -> tuple[int, dict[str, Any], bool]:
        """(status, the JSON answer, whether the connection stays open)."""
        scheme, host, port, region = self._where or ("http", "", 0, "")
        default = 443 if scheme == "https" else 80
        hostname = host if port == default else f"{host}:{port}"
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        headers = _sign(self._env, region, hostname, target, body, amz_date)
        conn.request("POST", "/", body, headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {
                "__type": f"HTTP{response.status}",
                "message": raw[:200].decode(errors="replace"),
            }
        if not isinstance(answer, dict):
            answer = {}
        return response.status, answer, not response.will_close
