"""The Node guard under the real runtime interface client (npm aws-lambda-ric, as recursectl
installs it), against a minimal Runtime API served by the test, with the local cloud's front
door as the AWS endpoint of the handler's own @aws-sdk/client-lambda.

The seed's handler.js runs unchanged next to the helper. What is checked: the ric resolves
`recursectl_chain.handler` to the .cjs helper; the guard adds the chain context to the seed's
self-invoke (the child, a real invocation on the local cloud, logs it), writes the markers with
the child's real request id, and refuses the invoke at the cap; a broken handler fails init
with the same error type and message as without the guard.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from recursectl import nodejs, protocol
from tests.support.localcloud import Deploy, wait_for_events

ROOT = Path(__file__).resolve().parents[2]
# The helper is its entry point (protocol.NODE_HELPER_FILE) and the guard it requires.
NODE_FILES = {p.name: p.read_text() for p in (ROOT / "templates" / "node").glob("*.cjs")}
PREFIX = "/2018-06-01/runtime"

# The child: a plain Python function on the local cloud that logs the event it was given.
CHILD = "import json\n\ndef handler(event, context):\n    print('EVENT ' + json.dumps(event))\n"


@dataclass
class _State:
    events: queue.SimpleQueue[tuple[str, str]] = field(default_factory=queue.SimpleQueue)
    results: queue.SimpleQueue[tuple[str, str, dict[str, Any]]] = field(
        default_factory=queue.SimpleQueue
    )


class _RuntimeApi(BaseHTTPRequestHandler):
    """/next hands out the queued events; /response, /error and /init/error are recorded."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # without TCP_NODELAY each Node event stalls ~40 ms
    server: Any

    def _reply(
        self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self._reply(404)
            return
        request_id, body = self.server.state.events.get()  # blocks, as Lambda's does
        deadline = str(int(time.time() * 1000) + 30_000)
        arn = "arn:aws:lambda:us-east-1:123456789012:function:seed"
        self._reply(
            200,
            body.encode(),
            {
                "Lambda-Runtime-Aws-Request-Id": request_id,
                "Lambda-Runtime-Deadline-Ms": deadline,
                "Lambda-Runtime-Invoked-Function-Arn": arn,
                "Content-Type": "application/json",
            },
        )

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path[len(PREFIX) :].strip("/").split("/")
        kind = parts[-1] if parts[0] == "invocation" else "init_error"
        rid = parts[1] if parts[0] == "invocation" else ""
        self.server.state.results.put((kind, rid, json.loads(body or b"null") if body else None))
        self._reply(202)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def node_launch_parts() -> tuple[Path, Path]:
    """(ric package, SDK node_modules), built once per machine into recursectl's cache."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not on PATH")
    tc = nodejs.toolchain()
    return nodejs.ensure_ric(tc), nodejs.ensure_sdk(tc)


@dataclass
class Env:
    proc: subprocess.Popen[bytes]
    state: _State
    out: Path

    def invoke(self, request_id: str, event: Any, timeout: float = 60) -> tuple[str, Any]:
        self.state.events.put((request_id, json.dumps(event)))
        return self.result(timeout)

    def result(self, timeout: float = 60) -> tuple[str, Any]:
        try:
            kind, _rid, body = self.state.results.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no result; output:\n{self.out.read_text()}") from None
        return kind, body

    def markers(self) -> list[dict[str, Any]]:
        lines = self.out.read_text().splitlines()
        prefix = protocol.MARKER + " "
        return [json.loads(line[len(prefix) :]) for line in lines if line.startswith(prefix)]


@pytest.fixture
def node_env(node_launch_parts: tuple[Path, Path], tmp_path: Path) -> Iterator[Any]:
    """start(files, handler, env) -> Env: one Node environment under the real ric."""
    started: list[tuple[Env, ThreadingHTTPServer]] = []

    def start(files: dict[str, str], handler: str, env: dict[str, str] | None = None) -> Env:
        root = tmp_path / f"task{len(started)}"
        root.mkdir()
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _RuntimeApi)
        server.daemon_threads = True
        state = _State()
        server.state = state  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        spec = nodejs.launch(root, runtime="nodejs22.x", handler=handler)
        environ = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **spec.env,
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": "seed",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/seed",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **(env or {}),
        }
        out = root.parent / f"{root.name}.out"
        with open(out, "wb") as sink:
            proc = subprocess.Popen(
                spec.args, cwd=root, env=environ, stdin=subprocess.DEVNULL, stdout=sink,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        environment = Env(proc, state, out)
        started.append((environment, server))
        return environment

    yield start
    for environment, server in started:
        environment.proc.kill()
        environment.proc.wait(timeout=10)
        server.shutdown()
        server.server_close()


def test_seed_under_the_ric_adds_context_marks_children_and_stops_at_the_cap(
    endpoint: str, deploy: Deploy, logs: Any, node_env: Any, seed_js: Path
) -> None:
    arn = deploy("seed", {"handler.py": CHILD}, handler="handler.handler")
    files = {**NODE_FILES, "handler.js": seed_js.read_text()}
    env = node_env(
        files,
        protocol.ENTRY_POINT,
        {
            protocol.HANDLER_ENV: "handler.recursiveExample",
            protocol.SELF_ARN_ENV: arn,
            protocol.MAX_CALLS_ENV: "1",
            "AWS_ENDPOINT_URL": endpoint,
        },
    )
    assert env.invoke("root-1", {"numberOfCalls": 2}) == ("response", "invoked next call")
    hop, child = env.markers()
    assert hop == {"v": 1, "ev": "hop", "chain": "root-1", "req": "root-1", "parent": None,
                   "depth": 0, "max": 1, "budget": 1000}  # fmt: skip
    assert (child["ev"], child["depth"], child["budget"]) == ("child", 1, 500)
    # The child is a real invocation on the local cloud: its START carries the request id the
    # marker names, and its event is the seed's plus the chain context.
    events = wait_for_events(
        endpoint, logs, "/aws/lambda/seed", lambda evs: any("EVENT" in e["message"] for e in evs)
    )
    starts = [e["message"].split()[2] for e in events if e["message"].startswith("START")]
    assert starts == [child["child"]]
    logged = next(e["message"] for e in events if "EVENT" in e["message"])
    payload = json.loads(logged[logged.index("EVENT ") + 6 :])
    context = {"chain": "root-1", "parent": "root-1", "depth": 1, "gen": 0, "budget": 500}
    assert payload == {"numberOfCalls": 1, "_recursectl": context}

    # At the cap the seed's own send() is refused: its invocation fails with our error, the
    # capped marker says why, and no invocation reaches the cloud.
    kind, body = env.invoke("c-1", payload)
    assert kind == "error"
    assert body["errorType"] == "DepthCapReached"
    assert "the depth cap is 1" in body["errorMessage"]
    assert env.markers()[-1] == {"v": 1, "ev": "capped", "chain": "root-1", "req": "c-1",
                                 "depth": 1, "max": 1, "reason": "depth",
                                 "budget": 499}  # fmt: skip
    events = wait_for_events(endpoint, logs, "/aws/lambda/seed", lambda evs: True)
    assert len([e for e in events if e["message"].startswith("START")]) == 1


BROKEN = {
    "missing module": ({}, "nothere.handler"),
    "syntax error": ({"handler.js": "module.exports.main = async (event) => {;\n"}, "handler.main"),
    "not exported": ({"handler.js": "module.exports.other = async () => 1;\n"}, "handler.main"),
    "not a function": ({"handler.js": "module.exports.main = 42;\n"}, "handler.main"),
    "esm syntax error": ({"app.mjs": "export const main = async () => {;\n"}, "app.main"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_init_errors_are_the_runtimes_own(node_env: Any, case: str) -> None:
    files, handler = BROKEN[case]
    plain = node_env(files, handler)
    kind, without = plain.result()
    guarded = node_env(
        {**files, **NODE_FILES},
        protocol.ENTRY_POINT,
        {protocol.HANDLER_ENV: handler},
    )
    guarded_kind, with_guard = guarded.result()
    assert (kind, guarded_kind) == ("init_error", "init_error")
    assert with_guard["errorType"] == without["errorType"]
    assert with_guard["errorType"].startswith("Runtime.") or case == "esm syntax error"
    assert with_guard["errorMessage"] == without["errorMessage"]


HANDLERS = {
    "async CommonJS": ({"h.js": "exports.main = async (e) => ({ got: e });\n"}, "h.main"),
    "ESM .mjs": ({"h.mjs": "export const main = async (e) => ({ got: e });\n"}, "h.main"),
    "ESM .js with type module": (
        {"h.js": "export const main = async (e) => ({ got: e });\n",
         "package.json": '{"type": "module"}\n'},
        "h.main",
    ),
    "callback": (
        {"h.js": "exports.main = (e, ctx, cb) => setTimeout(() => cb(null, { got: e }), 5);\n"},
        "h.main",
    ),
    # The loop never empties (an interval): the callback must be sent at once.
    "callback, not waiting for the event loop": (
        {"h.js": "exports.main = (e, ctx, cb) => {\n"
                 "  ctx.callbackWaitsForEmptyEventLoop = false;\n"
                 "  setInterval(() => {}, 1000);\n"
                 "  cb(null, { got: e });\n};\n"},
        "h.main",
    ),
    "in a folder": ({"src/app.cjs": "exports.main = async (e) => ({ got: e });\n"}, "src/app.main"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HANDLERS))
def test_every_handler_form_runs_with_its_event_minus_the_context(node_env: Any, case: str) -> None:
    files, handler = HANDLERS[case]
    env = node_env(
        {**files, **NODE_FILES},
        protocol.ENTRY_POINT,
        {protocol.HANDLER_ENV: handler},
    )
    event = {"n": 1, "_recursectl": {"chain": "c", "parent": "p", "depth": 1, "budget": 5}}
    assert env.invoke("r-1", event) == ("response", {"got": {"n": 1}})
    assert env.markers()[0]["req"] == "r-1"


ESM_SELF_INVOKER = """import { LambdaClient, InvokeCommand } from '@aws-sdk/client-lambda';
const lambda = new LambdaClient({});
export const main = async (event, context) => {
  await lambda.send(new InvokeCommand({ FunctionName: context.functionName, Payload: '{}' }));
  return 'invoked';
};
"""


def test_an_es_module_imports_the_runtime_sdk_and_is_guarded(node_env: Any) -> None:
    # ES modules ignore NODE_PATH; the runtime's SDK is found as on Lambda, and it is the
    # guarded copy: at a cap of 0 the self-invoke is refused before any request is made.
    env = node_env(
        {"app.mjs": ESM_SELF_INVOKER, **NODE_FILES},
        protocol.ENTRY_POINT,
        {protocol.HANDLER_ENV: "app.main", protocol.MAX_CALLS_ENV: "0"},
    )
    kind, body = env.invoke("r-1", {})
    assert kind == "error", env.out.read_text()
    assert body["errorType"] == "DepthCapReached"
    assert [m["ev"] for m in env.markers()] == ["hop", "capped"]
