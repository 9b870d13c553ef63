"""Where function code comes from and how it is handed back.

In: CreateFunction / UpdateFunctionCode carry the zip (`ZipFile`, base64) or name an object
of the local cloud's own S3 (`S3Bucket`, `S3Key`, `S3ObjectVersion`), which is read from moto
in-process (moto reads the same object to compute CodeSha256, so both agree).

Out: GetFunction's `Code.Location` is, on AWS, a presigned S3 URL valid for 10 minutes. Here
it is a URL on the front door itself (loopback), `/_recursectl/code/<sha256 hex>`, signed with
an HMAC of the front door's token over the digest and the expiry, in presigned-URL style
(`X-Amz-Date`, `X-Amz-Expires`, `X-Amz-Signature`): a GET answers the zip bytes.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from recursectl.local import errors
from recursectl.local.motowire import Moto, Response

if TYPE_CHECKING:
    from recursectl.local.worker.codestore import CodeStore

CODE_PATH = "/_recursectl/code/"
URL_LIFETIME = 600  # seconds: AWS's presigned Code.Location is valid for 10 minutes


def _zip_from_s3(moto: Moto, region: str, code: dict[str, Any]) -> bytes | None:
    bucket, key = code.get("S3Bucket"), code.get("S3Key")
    if not (isinstance(bucket, str) and isinstance(key, str) and bucket and key):
        return None
    version = code.get("S3ObjectVersion")
    query = f"versionId={quote(version, safe='')}" if isinstance(version, str) else ""
    headers = {
        "Host": f"s3.{region}.amazonaws.com",
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential=test/20240101/{region}/s3/aws4_request, "
            "SignedHeaders=host, Signature=0"
        ),
    }
    status, _, body = moto.call("GET", f"/{quote(bucket)}/{quote(key)}", query, headers, b"")
    return body if status == 200 else None  # moto's own answer then says what is wrong


def code_zip(moto: Moto, region: str, body: bytes, create: bool) -> bytes | None:
    """The zip a CreateFunction (`create`) / UpdateFunctionCode request body carries."""
    try:
        doc = json.loads(body)
        code = (doc.get("Code") or {}) if create else doc
    except (ValueError, AttributeError):
        return None
    if not isinstance(code, dict):
        return None
    zipped = code.get("ZipFile")
    if isinstance(zipped, str) and zipped:
        try:
            return base64.b64decode(zipped)
        except (binascii.Error, ValueError):
            return None
    return _zip_from_s3(moto, region, code)


def _signature(token: str, digest_hex: str, date: str, expires: str) -> str:
    message = f"{digest_hex}\n{date}\n{expires}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def location(endpoint: str, token: str, code_sha: str, now: float | None = None) -> str:
    """The signed download URL of the zip whose CodeSha256 is `code_sha`."""
    digest_hex = base64.b64decode(code_sha).hex()
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    expires = str(URL_LIFETIME)
    query = (
        f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}&X-Amz-Expires={expires}"
        f"&X-Amz-Signature={_signature(token, digest_hex, date, expires)}"
    )
    return f"{endpoint}{CODE_PATH}{digest_hex}?{query}"


def download(
    code: CodeStore, token: str, path: str, query: str, now: float | None = None
) -> Response:
    """GET of a `location` URL: the zip, or 403 as S3 answers a bad or expired signature."""
    digest_hex = path[len(CODE_PATH) :]
    fields = {k: v[0] for k, v in parse_qs(query).items()}
    date, expires = fields.get("X-Amz-Date", ""), fields.get("X-Amz-Expires", "")
    given = fields.get("X-Amz-Signature", "")
    try:
        signed_at = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
        lifetime = int(expires)
    except ValueError:
        return errors.AccessDenied("Request has an invalid X-Amz-Date or X-Amz-Expires").response()
    if not hmac.compare_digest(
        given.encode(), _signature(token, digest_hex, date, expires).encode()
    ):
        return errors.AccessDenied("The request signature does not match").response()
    if (time.time() if now is None else now) > signed_at + lifetime:
        return errors.AccessDenied("Request has expired").response()
    try:
        sha = base64.b64encode(bytes.fromhex(digest_hex)).decode()
        data = code.zip_bytes(sha)
    except (ValueError, KeyError):
        return errors.NotFound("The specified key does not exist.").response()
    return 200, {"Content-Type": "application/zip"}, data
