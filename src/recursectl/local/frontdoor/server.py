"""The front door: one HTTP server on 127.0.0.1 for every AWS service of the local cloud.

Every request first passes `access` (loopback Host, no browser headers, SigV4 or the control
token). Lambda's data plane (Invoke) and what moto lacks (recursion config) are answered
here by the engine; everything else is handed to moto's WSGI application in the same
process. Code zips are captured on their way to moto (CreateFunction / UpdateFunctionCode),
and any Lambda control-plane write tells the engine to re-read the function's configuration.
The one request answered without SigV4 or the token is a GetFunction `Code.Location` download,
whose URL carries its own signature (`codesource`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from recursectl.local import errors
from recursectl.local.engine.executor import Engine, Limits
from recursectl.local.frontdoor import (
    access,
    codesource,
    controlplane,
    counter,
    dynamodb_ops,
    iam,
    lambda_ops,
    livetail,
    logsapi,
    persistence,
    revisions,
    routes,
    s3_actions,
)
from recursectl.local.frontdoor.http11 import MAX_BODY, Reply, Request, Streamed
from recursectl.local.frontdoor.netserver import Connection, LoopbackServer
from recursectl.local.motowire import ACCOUNT_ID, Moto, Response
from recursectl.local.store import Store
from recursectl.local.worker.codestore import CodeStore
from recursectl.local.worker.logsink import LogSink

SERVICE_ID = "recursectl-local"
CONTROL = "/_recursectl/"
MOTO_API = "/moto-api/"
# CreateFunction / UpdateFunctionCode carry a base64 zip: Lambda takes 50 MB zipped
# (~67 MB as base64 in JSON); every other request stays under the 6 MB limit.
MAX_CODE_BODY = 70 * 1024 * 1024
_CODE_PATH = re.compile(r"^/2015-03-31/functions(?:/[^/?]+/code)?/?(?:\?|$)")
_JSON = {"Content-Type": "application/json"}


class FrontDoor:
    """Routing, plus the engine and the state the front door owns."""

    def __init__(
        self,
        region: str = "us-east-1",
        limits: Limits | None = None,
        work_dir: Path | None = None,
        token: str | None = None,
        reap_orphans: bool = False,
        store: Store | None = None,
    ) -> None:
        self.moto = Moto()
        self.sink = LogSink(self.moto, region)
        self.counter = counter.CounterPath(self.moto)
        self.livetail = livetail.Hub(self.moto)
        self.sink.on_put = self.livetail.publish
        self._tmp = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="recursectl-local-")
            work_dir = Path(self._tmp.name)
        self.code = CodeStore(work_dir / "code")
        self.engine = Engine(
            self.moto, self.sink, self.code, region=region, limits=limits, reap_orphans=reap_orphans
        )
        self.states = controlplane.FunctionStates()
        self.revisions = revisions.Revisions()
        self.iam = self.engine.iam
        self.token = token or access.new_token()
        self.hosts: frozenset[str] = frozenset()  # set once the port is known (bind)
        self.on_shutdown: Callable[[], None] | None = None
        self.connections: Callable[[], int] = lambda: 0
        self.store = store
        self.restored: dict[str, int] = {}
        if store is not None:
            self.restored = persistence.restore(self, store)

    def bound(self, port: int) -> None:
        self.hosts = access.loopback_hosts(port)
        self.engine.endpoint = f"http://127.0.0.1:{port}"
        if self.store is not None:  # queued events run once workers can reach the door
            self.restored["events"] = self.engine.resume(self.store.events())

    def close(self) -> None:
        if self.store is not None:
            self.sink.flush(timeout=5.0)  # what ran before the stop is in the logs
        self.livetail.reset()  # ends every Live Tail stream
        self.engine.close()
        self.sink.close()
        if self.store is not None:
            self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def handle(self, request: Request) -> Response | Streamed:
        path, _, query = request.target.partition("?")
        headers = request.headers
        refused = access.refusal(headers, self.hosts)
        if refused is not None:
            return errors.AccessDenied(refused).response()
        if path.startswith(codesource.CODE_PATH) and request.method == "GET":
            # GetFunction's Code.Location: signed like a presigned URL, no token header
            return codesource.download(self.code, self.token, path, query)
        if path.startswith((CONTROL, MOTO_API)):
            return self._local_api(request, path, query)
        service = access.signed_service(headers, query)
        if service is None:
            return _unsigned(request, query)
        return self._aws_api(service, request, path, query)

    def _local_api(self, request: Request, path: str, query: str) -> Response:
        """The control endpoints and moto's own API: the local cloud's token only."""
        if not access.token_ok(request.headers, self.token):
            return errors.AccessDenied(
                "control endpoints need the local cloud's token (X-Recursectl-Token, "
                "from the local-PORT.token file in recursectl's state folder)"
            ).response()
        if path.startswith(CONTROL):
            return self._control(request, path[len(CONTROL) :].rstrip("/"))
        self.counter.write_back()  # moto's own API sees the counter's items too
        if path.rstrip("/") == "/moto-api/reset":
            self.counter.reset()
            self.engine.reset()
            self.states.clear()
            self.revisions.clear()
            self.livetail.reset()
            if self.store is not None:
                self.store.clear()
        return self.moto_call(request, path, query)

    def _aws_api(
        self, service: str, request: Request, path: str, query: str
    ) -> Response | Streamed:
        """A signed AWS call: served here (Lambda, FilterLogEvents) or by moto."""
        headers = request.headers
        # An execution role's session (a handler's calls), named in the Authorization header
        # or a presigned query string: its policies are checked. A temporary key this cloud
        # did not issue is refused here.
        try:
            session = self.iam.session_of(headers, query)
        except errors.ServiceError as exc:
            return iam.shaped(exc, headers, service)
        if service == "logs":
            return self._logs(session, request, path, query)
        if service == "lambda":
            if session is not None:
                denied = self._authorize_lambda(session, request, path, query)
                if denied is not None:
                    return denied
            answer = self._lambda(request, path, query)
            if self.store is not None and persistence.lambda_write(request.method, path, answer):
                persistence.save_settings(self.engine, self.store)
            return answer
        response = self._moto_checked(service, session, request, path, query)
        if service in ("iam", "sts"):
            self.iam.observe(service, request.body, response)
        return response

    def _authorize_dynamodb(
        self, session: iam.Session, request: Request
    ) -> tuple[Response | None, bool]:
        """A role session's one-table DynamoDB call, checked here on the table's ARN (moto
        checks only `*`); (the refusal, whether moto must still check it)."""
        headers = request.headers
        found = dynamodb_ops.action_of(
            headers.get("x-amz-target"), request.body, self.engine.region, ACCOUNT_ID
        )
        if found is None:
            return None, True
        return self.iam.check(session, headers, *found), False

    def _lambda(self, request: Request, path: str, query: str) -> Response:
        method = request.method
        for want, pattern, handler in routes.LAMBDA_ROUTES:
            if want in (method, "*"):
                match = pattern.match(path)
                if match:
                    return handler(self, match, request, path, query)
        return self.moto_call(request, path, query)

    def _authorize_lambda(
        self, session: iam.Session, request: Request, path: str, query: str
    ) -> Response | None:
        """Lambda's own check of a role session's call (moto's cannot do Lambda's)."""
        found = lambda_ops.action_of(request.method, path, query, self.engine.region, ACCOUNT_ID)
        if found is None:  # no such operation: moto answers it as AWS would (404)
            return None
        return self.iam.check(session, request.headers, *found, query=query)

    def _moto_checked(
        self, service: str, session: iam.Session | None, request: Request, path: str, query: str
    ) -> Response:
        """A call moto answers; a role session's call checked against the role's policies.

        Checked here: S3 (IAM's action names, which are not S3's operation names: see
        `s3_actions`), one-table DynamoDB calls (the table's ARN: moto checks only `*`), and
        any request signed other than in a SigV4 Authorization header (presigned, S3's
        Signature Version 2), which moto's access control does not read: a presigned call of
        a service other than Lambda and S3 is refused, so none goes unchecked. The rest by
        moto's own access control."""
        headers = request.headers
        if session is None:
            if service == "dynamodb":
                return self._dynamodb(request, path, query, access.routable(headers, query))
            return self.moto_call(request, path, query)
        if service == "s3":
            needs = s3_actions.action_of(
                request.method, headers.get("host", ""), path, query, headers
            )
            if needs is not None:
                denied = self.iam.check_s3(session, headers, needs, query)
                return denied if denied is not None else self.moto_call(request, path, query)
        if not access.sigv4_header(headers):  # presigned, or S3's Signature Version 2
            refused = errors.AccessDenied(
                f"User: {session.arn} is not authorized to perform this {service} call "
                "with a presigned request (the local cloud checks presigned requests of "
                "execution roles for Lambda and S3 only; sign it in the Authorization "
                "header instead)"
            )
            return iam.shaped(refused, headers, service)
        enforce = True
        if service == "dynamodb":
            denied, enforce = self._authorize_dynamodb(session, request)
            if denied is not None:
                return denied
            response = self._dynamodb(request, path, query, headers, enforce)
            if response[0] == 200:
                self._crash_fault(session, request)
        else:
            response = self.moto.call(request.method, path, query, headers, request.body, enforce)
        return iam.json_error(headers, response)

    def _crash_fault(self, session: iam.Session, request: Request) -> None:
        """The armed `crash` fault of the caller's function, at its job's first checkpoint."""
        target = request.headers.get("x-amz-target")
        if not dynamodb_ops.is_checkpoint_write(target, request.body):
            return
        function = session.arn.rsplit("/", 1)[-1]  # Lambda names the session after it
        if self.engine.faults.take(function, "crash"):
            self.engine.kill_environment_of(session.access_key)

    def _dynamodb(
        self,
        request: Request,
        path: str,
        query: str,
        headers: dict[str, str],
        enforce: bool = False,
    ) -> Response:
        """DynamoDB: the chain counter's UpdateItem answered here, the rest by moto, in one
        order (`counter`)."""
        method, body = request.method, request.body
        return self.counter.serve(
            method,
            path,
            query,
            headers,
            body,
            lambda: self.moto.call(method, path, query, headers, body, enforce),
        )

    def _logs(
        self, session: iam.Session | None, request: Request, path: str, query: str
    ) -> Response | Streamed:
        """CloudWatch Logs: FilterLogEvents and StartLiveTail served here (and checked here for
        a role session), the rest by moto; every PutLogEvents also feeds Live Tail."""
        headers = request.headers
        target = headers.get("x-amz-target")
        if target in (logsapi.TARGET, livetail.TARGET):
            if session is not None:
                if target == logsapi.TARGET:
                    action = "logs:FilterLogEvents"
                    groups = [logsapi.group_arn(request.body, self.engine.region, ACCOUNT_ID)]
                else:
                    action = "logs:StartLiveTail"
                    groups = livetail.group_arns(request.body, self.engine.region, ACCOUNT_ID)
                for group in groups:
                    denied = self.iam.check(session, headers, action, group, query=query)
                    if denied is not None:
                        return denied
            if target == logsapi.TARGET:
                return logsapi.filter_log_events(self, request)
            return self.livetail.start(logsapi.region_of(self, request), request.body)
        response = self._moto_checked("logs", session, request, path, query)
        if target == livetail.PUT_TARGET and response[0] < 300:
            self.livetail.publish_put(logsapi.region_of(self, request), request.body)
        return response

    def moto_call(self, request: Request, path: str, query: str) -> Response:
        headers = access.routable(request.headers, query)
        return self.moto.call(request.method, path, query, headers, request.body)

    def lambda_write(self, request: Request, path: str, query: str) -> Response:
        response = self.moto_call(request, path, query)
        if response[0] < 300:
            self.engine.invalidate()
        return response

    def capture_code(self, body: bytes, create: bool) -> None:
        """Keep the zip of CreateFunction / UpdateFunctionCode (moto keeps only its hash),
        given as `ZipFile` or as an object of this cloud's S3."""
        zipped = codesource.code_zip(self.moto, self.engine.region, body, create)
        if zipped:
            self.code.add(zipped)

    def code_location(self, code_sha: str) -> str | None:
        """GetFunction's Code.Location: a signed URL on this front door (None: no such zip)."""
        if code_sha not in self.code:
            return None
        return codesource.location(self.engine.endpoint, self.token, code_sha)

    # /_recursectl/ ------------------------------------------------------------------------
    def _control(self, request: Request, route: str) -> Response:
        method = request.method
        if route == "livetail":
            return self._livetail_settings(request)
        if route == "faults":
            return self._faults(request)
        if route == "health":
            info = {"service": SERVICE_ID, "pid": os.getpid(), "endpoint": self.engine.endpoint}
            return 200, dict(_JSON), json.dumps(info).encode()
        if route == "status":
            self.sink.flush(timeout=2.0)
            status = {
                "service": SERVICE_ID,
                "pid": os.getpid(),
                **self.engine.status(),
                "connections": self.connections(),
                "store": {
                    "path": str(self.store.path) if self.store else None,
                    "restored": self.restored,
                },
            }
            return 200, dict(_JSON), json.dumps(status).encode()
        if route == "flush" and method == "POST":
            self.sink.flush()
            self.engine.metrics.flush()
            return 200, dict(_JSON), b'{"flushed":true}'
        if route == "shutdown" and method == "POST":
            if self.on_shutdown is None:
                return errors.Conflict("this server cannot be shut down remotely").response()
            threading.Thread(target=self.on_shutdown, name="shutdown", daemon=True).start()
            return 202, dict(_JSON), b'{"stopping":true}'
        return errors.NotFound("unknown internal endpoint").response()

    def _faults(self, request: Request) -> Response:
        """GET: the armed faults; POST {"function", "fault": duplicate|crash, "count"}: arm."""
        faults = self.engine.faults
        if request.method == "POST":
            try:
                doc = json.loads(request.body or b"{}")
                if not isinstance(doc, dict):
                    raise ValueError("the body must be a JSON object")
                faults.arm(
                    str(doc.get("function") or ""), str(doc.get("fault")), int(doc.get("count", 1))
                )
            except (ValueError, TypeError) as exc:
                return errors.InvalidParameterValue(str(exc)).response()
        return 200, dict(_JSON), json.dumps({"armed": faults.armed()}).encode()

    def _livetail_settings(self, request: Request) -> Response:
        """GET: Live Tail's settings; POST {"refuse": ..., "session_s": ...}: change them."""
        if request.method == "POST":
            try:
                doc = json.loads(request.body or b"{}")
                if not isinstance(doc, dict):
                    raise ValueError("the body must be a JSON object")
                self.livetail.settings.update(doc)
            except ValueError as exc:
                return errors.InvalidParameterValue(str(exc)).response()
        return 200, dict(_JSON), json.dumps(livetail.settings_doc(self.livetail)).encode()


def _unsigned(request: Request, query: str) -> Response:
    """403 MissingAuthenticationToken, in XML for query-protocol calls (IAM, STS) as AWS does."""
    form = request.headers.get("content-type", "").startswith("application/x-www-form")
    if not (form or "Action=" in query):
        return errors.MissingAuthenticationToken("Missing Authentication Token").response()
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code>"
        "<Message>Request is missing Authentication Token</Message></Error></ErrorResponse>"
    )
    return 403, {"Content-Type": "text/xml"}, body.encode()


def health_response() -> Response:
    """/_recursectl/health without the token: only who answers (for `probe`)."""
    info = {"service": SERVICE_ID, "pid": os.getpid()}
    return 200, dict(_JSON), json.dumps(info).encode()


class _Handler(Connection):
    """Keep-alive connections (botocore reuses them)."""

    server: FrontDoorServer

    def body_limit(self, method: str, target: str) -> int:
        if method in ("POST", "PUT") and _CODE_PATH.match(target):
            return MAX_CODE_BODY
        return MAX_BODY

    def respond(self, request: Request) -> Reply | Streamed:
        door = self.server.door
        try:
            if (
                request.target == "/_recursectl/health"
                and request.method == "GET"
                and access.refusal(request.headers, door.hosts) is None
            ):
                return health_response()
            return door.handle(request)
        except errors.ServiceError as exc:
            return exc.response()
        except Exception as exc:  # answer like AWS would, keep serving
            return errors.ServiceException(f"local cloud error: {exc!r}").response()


class FrontDoorServer(LoopbackServer):
    door: FrontDoor

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def make_server(
    port: int = 0,
    door: FrontDoor | None = None,
    limits: Limits | None = None,
    reap_orphans: bool = False,
    timeouts: tuple[float, float] | None = None,
    store: Store | None = None,
) -> FrontDoorServer:
    """A front-door server bound to 127.0.0.1 (never another interface); port 0 picks one.

    `timeouts`: (idle, request) seconds instead of the defaults (tests)."""
    handler: type[_Handler] = _Handler
    if timeouts is not None:
        attrs = {"idle_timeout": timeouts[0], "request_timeout": timeouts[1]}
        handler = type("_TimedHandler", (_Handler,), attrs)
    server = FrontDoorServer(("127.0.0.1", port), handler)
    server.door = door or FrontDoor(limits=limits, reap_orphans=reap_orphans, store=store)
    server.door.bound(server.port)
    server.door.connections = server.open_connections
    return server


def serve_in_thread(
    port: int = 0,
    limits: Limits | None = None,
    timeouts: tuple[float, float] | None = None,
    store: Store | None = None,
) -> tuple[str, FrontDoorServer]:
    """Start a server in a daemon thread; returns its endpoint URL and the server.

    Stop it with `stop_server(server)` (kills every worker). Control requests need
    `server.door.token` (header X-Recursectl-Token). Without `store`, state is in memory.
    """
    server = make_server(port, limits=limits, timeouts=timeouts, store=store)
    thread = threading.Thread(target=server.serve_forever, name="front-door", daemon=True)
    thread.start()
    return server.endpoint, server


def stop_server(server: FrontDoorServer) -> None:
    server.shutdown()
    server.server_close()
    server.door.close()
