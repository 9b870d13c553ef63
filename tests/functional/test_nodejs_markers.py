"""The Node guard (templates/node/recursectl_chain.cjs) against the protocol, and against the
Python helper: the same chain, the same request ids, the same markers, field by field.

Each helper runs in its own process, as Lambda runs it: loaded from a task root with Lambda's
environment, a fake context, and a real AWS SDK client (botocore for Python, the staged
@aws-sdk/client-lambda for Node) whose Invoke calls reach a loopback stand-in for Lambda that
answers 202 with the request ids below (no cloud is needed to check the markers).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from recursectl import nodejs, protocol
from recursectl.chain.parse import parse_message
from recursectl.chain.records import Marker
from tests.support.seed import SEED_HANDLERS

ROOT = Path(__file__).resolve().parents[2]
NODE_TEMPLATES = ROOT / "templates" / "node"  # the entry point and the guard it requires
PYTHON_HELPER = ROOT / "templates" / "python" / protocol.PYTHON_HELPER_FILE
FUNCTION = "seed"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
REQUEST_IDS = ["req-0", "req-1", "req-2", "req-3"]

# A plain boto3 self-invoker, the Python twin of the seed's handler.js.
PY_HANDLER = """
import json
import boto3

client = boto3.client("lambda")

def recursiveExample(event, context):
    print("received", event)
    if event.get("numberOfCalls", 0) > 0:
        event["numberOfCalls"] -= 1
        client.invoke(FunctionName=context.function_name, InvocationType="Event",
                      Payload=json.dumps(event), Qualifier=context.function_version)
        return "invoked next call"
    return "finished"
"""

# Drives one helper through the chain: `events` are (event, request id) pairs; each result
# or error is printed as a RESULT line after the markers the call wrote.
PY_DRIVER = """
import json, sys, types
sys.path.insert(0, sys.argv[1])
import recursectl_chain
for event, rid in json.loads(sys.argv[2]):
    ctx = types.SimpleNamespace(aws_request_id=rid, function_name="seed",
                                function_version="$LATEST", invoked_function_arn="")
    try:
        out = {"ok": recursectl_chain.handler(event, ctx)}
    except Exception as exc:
        out = {"error": type(exc).__name__}
    print("RESULT " + json.dumps(out), flush=True)
"""
NODE_DRIVER = """
const api = await import(process.argv[2] + '/recursectl_chain.cjs');
for (const [event, rid] of JSON.parse(process.argv[3])) {
  const ctx = { awsRequestId: rid, functionName: 'seed', functionVersion: '$LATEST' };
  let out;
  try { out = { ok: await api.handler(event, ctx) }; } catch (e) { out = { error: e.name }; }
  process.stdout.write('RESULT ' + JSON.stringify(out) + '\\n');
}
"""


class _FakeLambda(BaseHTTPRequestHandler):
    """Answers every Invoke with 202 and the next request id; records the payloads."""

    server: Any

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.calls.append((self.path, json.loads(body or b"{}")))
            rid = self.server.ids.pop(0) if self.server.ids else "extra"
            status = self.server.statuses.pop(0) if self.server.statuses else 202
        error = {500: "ServiceException", 429: "TooManyRequestsException"}.get(status)
        reply = json.dumps({"message": error}).encode() if error else b""
        self.send_response(status)
        self.send_header("x-amzn-RequestId", rid)
        if error:
            self.send_header("x-amzn-ErrorType", error)
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_lambda() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeLambda)
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    server.calls = []  # type: ignore[attr-defined]
    server.ids = []  # type: ignore[attr-defined]
    server.statuses = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """The staged runtime SDK (installed once per machine into recursectl's cache)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not on PATH")
    return nodejs.ensure_sdk()


def _env(endpoint: str, task_root: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "true",
        "LAMBDA_TASK_ROOT": str(task_root),
        protocol.HANDLER_ENV: "handler.recursiveExample",
        protocol.SELF_ARN_ENV: ARN,
        protocol.MAX_CALLS_ENV: "2",
    }
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> tuple[list[dict[str, Any]], list[Any]]:
    """(markers, results) of one driver run."""
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    markers: list[dict[str, Any]] = []
    results: list[Any] = []
    for line in done.stdout.splitlines():
        if line.startswith(protocol.MARKER + " "):
            record = json.loads(line.split(" ", 1)[1])
            # recursectl's log parser reads the line as the marker it is (its fast paths too).
            parsed = parse_message(line, 0)
            assert isinstance(parsed, Marker), line
            assert (parsed.ev, parsed.req, parsed.chain) == (record["ev"], record["req"],
                                                             record["chain"])  # fmt: skip
            assert parsed.depth == record["depth"]
            markers.append(record)
        elif line.startswith("RESULT "):
            results.append(json.loads(line[7:]))
    return markers, results


# The chain both helpers walk: a root, its child, the grandchild at the cap (depth 2 of 2),
# then a stale event from before a `stop` (generation 0 < 1).
def _events() -> list[tuple[dict[str, Any], str]]:
    return [
        ({"numberOfCalls": 5}, "req-0"),
        (
            {"numberOfCalls": 4, "_recursectl": {"chain": "req-0", "parent": "req-0", "depth": 1,
                                                  "gen": 0, "budget": 500}},
            "req-1",
        ),
        (
            {"numberOfCalls": 3, "_recursectl": {"chain": "req-0", "parent": "req-1", "depth": 2,
                                                  "gen": 0, "budget": 250}},
            "req-2",
        ),
    ]  # fmt: skip


def _run_node(
    fake: Any, tmp: Path, events: list[Any], handler: str | None = None, **env: str
) -> tuple[list[Any], list[Any]]:
    root = tmp / "node"
    root.mkdir(exist_ok=True)
    for helper in NODE_TEMPLATES.glob("*.cjs"):
        shutil.copy(helper, root / helper.name)
    if handler is None:
        shutil.copy(SEED_HANDLERS["example"], root / "handler.js")
    else:
        (root / "handler.js").write_text(handler)
    driver = tmp / "drive.mjs"
    driver.write_text(NODE_DRIVER)
    endpoint = f"http://127.0.0.1:{fake.server_address[1]}"
    env_all = _env(endpoint, root, NODE_PATH=str(nodejs.ensure_sdk()), **env)
    return _run(["node", str(driver), str(root), json.dumps(events)], env_all)


def _run_python(fake: Any, tmp: Path, events: list[Any], **env: str) -> tuple[list[Any], list[Any]]:
    root = tmp / "python"
    root.mkdir(exist_ok=True)
    shutil.copy(PYTHON_HELPER, root / protocol.PYTHON_HELPER_FILE)
    (root / "handler.py").write_text(PY_HANDLER)
    endpoint = f"http://127.0.0.1:{fake.server_address[1]}"
    env_all = _env(endpoint, root, **env)
    return _run([sys.executable, "-c", PY_DRIVER, str(root), json.dumps(events)], env_all)


def _expected() -> list[dict[str, Any]]:
    """The markers of the chain above, from protocol.py alone."""
    budget = protocol.DEFAULT_MAX_INVOCATIONS
    share0 = protocol.child_share(budget - 1, budget - 1, None, 2, 1)
    share1 = protocol.child_share(500 - 1, 500 - 1, None, 2, 2)
    return [
        {"v": 1, "ev": "hop", "chain": "req-0", "req": "req-0", "parent": None, "depth": 0,
         "max": 2, "budget": budget},
        {"v": 1, "ev": "child", "chain": "req-0", "req": "req-0", "child": "req-1", "depth": 1,
         "budget": share0},
        {"v": 1, "ev": "hop", "chain": "req-0", "req": "req-1", "parent": "req-0", "depth": 1,
         "max": 2, "budget": 500},
        {"v": 1, "ev": "child", "chain": "req-0", "req": "req-1", "child": "req-2", "depth": 2,
         "budget": share1},
        {"v": 1, "ev": "hop", "chain": "req-0", "req": "req-2", "parent": "req-1", "depth": 2,
         "max": 2, "budget": 250},
        {"v": 1, "ev": "capped", "chain": "req-0", "req": "req-2", "depth": 2, "max": 2,
         "reason": "depth", "budget": 249},
    ]  # fmt: skip


def test_node_guard_writes_the_protocols_markers_and_context(
    node_sdk: Path, fake_lambda: Any, tmp_path: Path
) -> None:
    fake_lambda.ids = ["req-1", "req-2"]
    markers, results = _run_node(fake_lambda, tmp_path, _events())
    assert markers == _expected()
    assert results == [{"ok": "invoked next call"}, {"ok": "invoked next call"},
                       {"error": "DepthCapReached"}]  # fmt: skip
    # The children's payloads: the handler's own event plus the child's context, nothing else.
    paths = [path for path, _ in fake_lambda.calls]
    assert paths == [f"/2015-03-31/functions/{FUNCTION}/invocations?Qualifier=%24LATEST"] * 2
    assert [payload for _, payload in fake_lambda.calls] == [
        {"numberOfCalls": 4, "_recursectl": {"chain": "req-0", "parent": "req-0", "depth": 1,
                                             "gen": 0, "budget": 500}},
        {"numberOfCalls": 3, "_recursectl": {"chain": "req-0", "parent": "req-1", "depth": 2,
                                             "gen": 0, "budget": 250}},
    ]  # fmt: skip


def test_node_guard_does_not_run_a_stopped_chain(
    node_sdk: Path, fake_lambda: Any, tmp_path: Path
) -> None:
    stale = {"numberOfCalls": 3, "_recursectl": {"chain": "c", "parent": "p", "depth": 1, "gen": 0}}
    markers, results = _run_node(
        fake_lambda, tmp_path, [[stale, "req-3"]], **{protocol.GENERATION_ENV: "1"}
    )
    assert [m["ev"] for m in markers] == ["hop", "stopped"]
    assert markers[1] == {"v": 1, "ev": "stopped", "chain": "c", "req": "req-3", "depth": 1,
                          "gen": 0}  # fmt: skip
    assert results == [{"ok": None}]
    assert fake_lambda.calls == []  # the handler never ran, so it invoked nothing


def test_node_guard_shares_the_budget_under_a_split(
    node_sdk: Path, fake_lambda: Any, tmp_path: Path
) -> None:
    # A root told `split: 2` with a budget of 3 may start exactly two children of budget 1.
    event = {"numberOfCalls": 1, "_recursectl": {"split": 2, "budget": 3}}
    fake_lambda.ids = ["k1"]
    markers, _ = _run_node(fake_lambda, tmp_path, [[event, "r"]])
    assert markers[0]["budget"] == 3
    assert markers[1] == {"v": 1, "ev": "child", "chain": "r", "req": "r", "child": "k1",
                          "depth": 1, "budget": 1}  # fmt: skip
    assert fake_lambda.calls[0][1]["_recursectl"]["split"] == 2


def test_python_and_node_helpers_write_identical_markers(
    node_sdk: Path, fake_lambda: Any, tmp_path: Path
) -> None:
    if not re.search(r"^def handler\(", PYTHON_HELPER.read_text(), re.MULTILINE):
        pytest.skip("the Python helper has no guard entry point yet (issue 8)")
    fake_lambda.ids = ["req-1", "req-2"]
    node_markers, node_results = _run_node(fake_lambda, tmp_path, _events())
    node_calls = [payload for _, payload in fake_lambda.calls]
    fake_lambda.calls.clear()
    fake_lambda.ids = ["req-1", "req-2"]
    py_markers, py_results = _run_python(fake_lambda, tmp_path, _events())
    py_calls = [payload for _, payload in fake_lambda.calls]
    assert len(py_markers) == len(node_markers)
    for py, node in zip(py_markers, node_markers, strict=True):
        assert py == node
        assert list(py) == list(node)  # the same field order: the parser's fast path needs it
    assert py_calls == node_calls
    assert [r.get("ok") for r in py_results[:2]] == [r.get("ok") for r in node_results[:2]]
    assert "error" in py_results[2]


# Invokes `event.target` from a client in `event.region` (the seed's way, other names).
TARGETING = """const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');
const clients = {};
exports.recursiveExample = async (event) => {
  const client = (clients[event.region] ||= new LambdaClient({ region: event.region }));
  await client.send(new InvokeCommand({ FunctionName: event.target, InvocationType: 'Event',
                                        Payload: JSON.stringify({ n: 1 }) }));
  return 'sent';
};
"""
NAME_FORMS = [
    ("seed", "us-east-1", True),
    ("seed:$LATEST", "us-east-1", True),
    ("seed:prod", "us-east-1", True),
    ("123456789012:function:seed", "us-east-1", True),
    ("123456789012:function:seed:7", "us-east-1", True),
    (ARN, "us-east-1", True),
    (f"{ARN}:prod", "eu-west-1", True),  # a full ARN names its region, whatever the client's
    ("other", "us-east-1", False),
    ("seedling", "us-east-1", False),
    ("seed", "eu-west-1", False),  # a bare name: the client's region, another function
    ("arn:aws:lambda:eu-west-1:123456789012:function:seed", "us-east-1", False),
    ("arn:aws:lambda:us-east-1:999999999999:function:seed", "us-east-1", False),
    ("999999999999:function:seed", "us-east-1", False),
]


def test_every_name_form_of_this_function_is_guarded_and_no_other(
    node_sdk: Path, fake_lambda: Any, tmp_path: Path
) -> None:
    events = [
        ({"target": target, "region": region}, f"r{i}")
        for i, (target, region, _) in enumerate(NAME_FORMS)
    ]
    fake_lambda.ids = [f"k{i}" for i in range(len(NAME_FORMS))]
    markers, results = _run_node(fake_lambda, tmp_path, events, handler=TARGETING)
    assert results == [{"ok": "sent"}] * len(NAME_FORMS)
    payloads = [payload for _, payload in fake_lambda.calls]
    assert len(payloads) == len(NAME_FORMS)
    for (target, region, is_self), payload in zip(NAME_FORMS, payloads, strict=True):
        assert (protocol.CONTEXT_KEY in payload) == is_self, (target, region)
        assert payload["n"] == 1
    children = [(m["req"], m["child"]) for m in markers if m["ev"] == "child"]
    expected = [(f"r{i}", f"k{i}") for i, (_, _, is_self) in enumerate(NAME_FORMS) if is_self]
    assert children == expected


def test_an_invoke_that_may_have_started_a_child_is_never_retried(
    node_sdk: Path, fake_lambda: Any, tmp_path: Path
) -> None:
    # A 5xx may follow an accepted Event invoke: the SDK's retry (3 attempts by default) would
    # start a second child with the same context. One request, the error, child_failed.
    fake_lambda.statuses = [500]
    markers, results = _run_node(fake_lambda, tmp_path, [[{"numberOfCalls": 1}, "r"]])
    assert len(fake_lambda.calls) == 1
    assert results == [{"error": "ServiceException"}]
    assert [m["ev"] for m in markers] == ["hop", "child_failed"]
    assert markers[1]["error"].startswith("ServiceException")


def test_a_throttled_invoke_is_retried_by_the_sdk(
    node_sdk: Path, fake_lambda: Any, tmp_path: Path
) -> None:
    # A 429 means nothing was accepted: the SDK's own retry is safe and stays on.
    fake_lambda.statuses = [429]
    fake_lambda.ids = ["t", "k"]
    markers, results = _run_node(fake_lambda, tmp_path, [[{"numberOfCalls": 1}, "r"]])
    assert len(fake_lambda.calls) == 2
    assert results == [{"ok": "invoked next call"}]
    assert [(m["ev"], m.get("child")) for m in markers] == [("hop", None), ("child", "k")]
