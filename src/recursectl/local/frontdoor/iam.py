"""Execution-role credentials, and the policy checks made on calls signed with them.

Each new execution environment gets a session of its function's role from moto's STS
(AssumeRole, session name = the function name, as Lambda names it), so a handler's calls are
signed as `arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION`. Requests signed with a key STS
issued (to an environment, or to anyone calling AssumeRole through the front door) are
authorized; every other key (the CLI's, `test`) stays unrestricted, as before.

Two places decide: Lambda, CloudWatch Logs' reads and S3 here (`check`, `check_s3`: the
role's inline and attached policies read from moto's IAM, evaluated by `policy`, the decision
cached per role, action and resource until the next IAM write; S3's IAM actions are not its
operation names, see `s3_actions`), every other service in moto itself
(`Moto.call(enforce=True)`: moto's access control, which evaluates the same policies with the
resources moto knows).
"""

from __future__ import annotations

import json
import os
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from recursectl.local import errors
from recursectl.local.frontdoor import access, policy
from recursectl.local.motowire import Moto, Response

SESSION_SECONDS = 3600  # AssumeRole's default; an environment is renewed before it expires
# IAM actions that only read: anything else may change what a role is allowed to do.
_READS = ("Get", "List", "Simulate", "Generate")
# AWS's temporary (STS) access keys start with ASIA; long-term ones with AKIA.
TEMPORARY_KEY_PREFIX = "ASIA"


@dataclass(frozen=True)
class Session:
    """Temporary credentials of one assumed-role session."""

    access_key: str
    secret_key: str
    token: str
    arn: str  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
    expires: float  # epoch seconds

    @property
    def role_name(self) -> str:
        return self.arn.split("/")[1]

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_SESSION_TOKEN": self.token,
        }


def enforcing() -> bool:
    """`RECURSECTL_LOCAL_IAM=off` (a setting for the machine) turns the checks off."""
    return os.environ.get("RECURSECTL_LOCAL_IAM", "enforce").lower() not in ("off", "0", "no")


def _texts(root: ET.Element, tag: str) -> list[str]:
    return [el.text or "" for el in root.iter() if el.tag.rsplit("}", 1)[-1] == tag]


def _issued_keys(body: bytes) -> list[str]:
    try:
        return _texts(ET.fromstring(body), "AccessKeyId")
    except ET.ParseError:
        return []


def parse_credentials(body: bytes) -> Session | None:
    """The session in an STS AssumeRole* response (None: no assumed-role credentials)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    keys, secrets, tokens = (
        _texts(root, t) for t in ("AccessKeyId", "SecretAccessKey", "SessionToken")
    )
    arns = [a for a in _texts(root, "Arn") if ":assumed-role/" in a]
    if not (keys and secrets and tokens and arns):
        return None
    return Session(keys[0], secrets[0], tokens[0], arns[0], time.time() + SESSION_SECONDS)


class Iam:
    """Sessions issued, and who may do what (thread-safe; moto calls under moto's lock)."""

    def __init__(self, moto: Moto, region: str, enforce: bool | None = None) -> None:
        self.moto = moto
        self.region = region
        self.enforce = enforcing() if enforce is None else enforce
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._issued: set[str] = set()  # temporary keys STS issued that are no role's
        self._generation = 0
        self._documents: dict[str, list[Any]] = {}
        self._decisions: dict[tuple[str, str, str], policy.Decision] = {}

    # sessions -----------------------------------------------------------------------------
    def assume(self, role_arn: str, session_name: str) -> Session | None:
        """A new session of `role_arn` (as Lambda assumes it for an environment)."""
        form = {
            "Action": "AssumeRole",
            "Version": "2011-06-15",
            "RoleArn": role_arn,
            "RoleSessionName": session_name[:64],
            "DurationSeconds": str(SESSION_SECONDS),
        }
        code, body = self._query("sts", form)
        session = parse_credentials(body) if code == 200 else None
        if session is not None:
            with self._lock:
                self._sessions[session.access_key] = session
        return session

    def session_of(self, headers: dict[str, str], query: str = "") -> Session | None:
        """The STS session that signed this request, in its `Authorization` header or its
        presigned query string; None for a long-term key (the CLI's, `test`: unrestricted).

        Raises UnrecognizedClient for a temporary key (`ASIA...`) this cloud did not issue
        (AWS: "The security token included in the request is invalid"), and for a request
        naming two different sessions."""
        if not self.enforce:
            return None
        found: Session | None = None
        for key in access.access_keys(headers, query):
            with self._lock:
                session = self._sessions.get(key)
                issued = key in self._issued
            if session is None and not issued and key.startswith(TEMPORARY_KEY_PREFIX):
                raise errors.UnrecognizedClient(
                    "The security token included in the request is invalid. (The local cloud "
                    f"did not issue the temporary key {key[:8]}...: only keys from its own STS "
                    "are accepted as sessions; a long-term key such as `test` is unrestricted.)"
                )
            if session is not None:
                if found is not None and found is not session:
                    raise errors.UnrecognizedClient("The request names two different sessions.")
                found = session
        return found

    def observe(self, service: str, body: bytes, response: Response) -> None:
        """After a moto call: keep keys STS issued; forget decisions after an IAM write."""
        if response[0] >= 300:
            return
        if service == "sts" and b"AccessKeyId" in response[2]:
            session = parse_credentials(response[2])
            with self._lock:
                if session is not None:
                    self._sessions[session.access_key] = session
                else:  # GetSessionToken, GetFederationToken: issued here, not a role's
                    self._issued.update(_issued_keys(response[2]))
        elif service == "iam":
            action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
            if not action.startswith(_READS):
                self.changed()

    def changed(self) -> None:
        with self._lock:
            self._generation += 1
            self._documents.clear()
            self._decisions.clear()

    def reset(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._issued.clear()
        self.changed()

    # decisions ----------------------------------------------------------------------------
    def decide(self, session: Session, action: str, resource: str) -> policy.Decision:
        key = (session.role_name, action, resource)
        decision = self._decisions.get(key)
        if decision is not None:
            return decision
        with self._lock:
            generation = self._generation
        documents = self._role_documents(session.role_name)
        decision = policy.evaluate(documents, action, resource)
        with self._lock:
            if generation == self._generation:  # no IAM write meanwhile
                self._decisions[key] = decision
        return decision

    def check(
        self,
        session: Session,
        headers: dict[str, str],
        action: str,
        resource: str,
        query: str = "",
    ) -> Response | None:
        """None when allowed, else the 403 (AccessDeniedException / a bad token) in the
        service's shape: Lambda's REST-JSON, or `__type` for a JSON-protocol service."""
        error = self._refusal(session, headers, query, action, resource)
        if error is None:
            return None
        return shaped(error, headers, action.split(":", 1)[0])

    def check_s3(
        self,
        session: Session,
        headers: dict[str, str],
        needs: list[tuple[str, str]],
        query: str = "",
    ) -> Response | None:
        """None when every (action, resource) an S3 request needs is allowed, else S3's XML
        403 for the first that is not."""
        for action, resource in needs:
            denied = self.check(session, headers, action, resource, query=query)
            if denied is not None:
                return denied
        return None

    def _refusal(
        self, session: Session, headers: dict[str, str], query: str, action: str, resource: str
    ) -> errors.ServiceError | None:
        if access.session_token(headers, query) != session.token:
            return errors.UnrecognizedClient(
                "The security token included in the request is invalid."
            )
        decision = self.decide(session, action, resource)
        if decision is policy.Decision.ALLOW:
            return None
        why = (
            "with an explicit deny in an identity-based policy"
            if decision is policy.Decision.EXPLICIT_DENY
            else f"because no identity-based policy allows the {action} action"
        )
        on = f" on resource: {resource}" if resource != "*" else ""
        return errors.AccessDenied(
            f"User: {session.arn} is not authorized to perform: {action}{on} {why}"
        )

    def _role_documents(self, role: str) -> list[Any]:
        with self._lock:
            cached = self._documents.get(role)
        if cached is not None:
            return cached
        documents: list[Any] = []
        for name in self._list("ListRolePolicies", "PolicyNames", RoleName=role):
            documents += self._docs(
                "GetRolePolicy", "PolicyDocument", RoleName=role, PolicyName=name
            )
        for arn in self._list("ListAttachedRolePolicies", "PolicyArn", RoleName=role):
            for version in self._list("GetPolicy", "DefaultVersionId", PolicyArn=arn):
                documents += self._docs(
                    "GetPolicyVersion", "Document", PolicyArn=arn, VersionId=version
                )
        with self._lock:
            self._documents[role] = documents
        return documents

    # moto's IAM / STS over the wire --------------------------------------------------------
    def _query(self, service: str, form: dict[str, str]) -> tuple[int, bytes]:
        headers = {
            "Host": f"{service}.amazonaws.com",
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential=test/20240101/{self.region}/{service}/"
                "aws4_request, SignedHeaders=host, Signature=0"
            ),
        }
        code, _, body = self.moto.call("POST", "/", "", headers, urlencode(form).encode())
        return code, body

    def _list(self, action: str, tag: str, **params: str) -> list[str]:
        if tag == "PolicyNames":
            tag = "member"
        code, body = self._query("iam", {"Action": action, "Version": "2010-05-08", **params})
        if code != 200:
            return []
        try:
            return _texts(ET.fromstring(body), tag)
        except ET.ParseError:
            return []

    def _docs(self, action: str, tag: str, **params: str) -> list[Any]:
        out = []
        for text in self._list(action, tag, **params):
            for candidate in (text, unquote(text)):  # AWS URL-encodes policy documents
                try:
                    out.append(json.loads(candidate))
                    break
                except ValueError:
                    continue
        return out


def shaped(error: errors.ServiceError, headers: dict[str, str], service: str) -> Response:
    """`error` in the caller's protocol: `__type` JSON for a JSON-protocol service
    (X-Amz-Target), Lambda's REST-JSON, S3's XML, else the query protocol's XML (IAM, STS)."""
    if "x-amz-target" in headers:
        body = json.dumps({"__type": error.kind, "message": error.message}).encode()
        out = {"Content-Type": "application/x-amz-json-1.1", "X-Amzn-ErrorType": error.kind}
        return error.status, out, body
    if service == "lambda":
        return error.response()
    bad_key = error.kind == "UnrecognizedClientException"
    message = _xml_escape(error.message)
    if service == "s3":
        kind = "InvalidAccessKeyId" if bad_key else "AccessDenied"
        xml = f"<Error><Code>{kind}</Code><Message>{message}</Message></Error>"
    else:
        kind = "InvalidClientTokenId" if bad_key else "AccessDenied"
        xml = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{kind}</Code><Message>{message}</Message></Error></ErrorResponse>"
        )
    return error.status, {"Content-Type": "text/xml"}, xml.encode()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def json_error(request_headers: dict[str, str], response: Response) -> Response:
    """moto answers an access check in XML for every protocol; a JSON-protocol service
    (X-Amz-Target: logs, DynamoDB, SQS, ...) answers in JSON, as AWS does."""
    code, _, body = response
    if code != 403 or "x-amz-target" not in request_headers or not body.lstrip().startswith(b"<"):
        return response
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return response
    kind = (_texts(root, "Code") or ["AccessDenied"])[0]
    message = (_texts(root, "Message") or [""])[0]
    if kind == "AccessDenied":
        kind = "AccessDeniedException"
        action = message.rsplit(": ", 1)[-1]
        if "is not authorized" in message and " because " not in message:
            message += f" because no identity-based policy allows the {action} action"
    out = {"Content-Type": "application/x-amz-json-1.1", "X-Amzn-ErrorType": kind}
    return 403, out, json.dumps({"__type": kind, "message": message}).encode()
