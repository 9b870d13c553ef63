"""Metric 16: the one-way hop, from the parent's Invoke call to the child handler's first line,
with microsecond clocks, against the floor of the same path with nothing but the transport.

- recursectl: a handler (the template's shape, through the guard's entry point) that reads
  `time.time()` on its first line and again just before `chain.invoke_self`, which sends that
  second time in the child's event; the child prints both on one log line (`BENCH1W {...}`),
  so the log timestamp's millisecond is not used. Linear chains, with the exact budget's
  counter (as deployed) and without it (the split rule), alternated.
- floor: a botocore Event Invoke from its own process to a minimal server that hands the event
  to a warm awslambdaric worker waiting on `/next` (one process, two routes, no queue, no
  log writer); the worker's handler returns its first line's `time.time()`. One invoke at a
  time: the client waits until the worker has answered.
"""

from __future__ import annotations

import io
import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.floor import CLIENT_TIMEOUT_S, _Quiet, _QuietServer, worker_env
from bench.harness import INFO, Row, median, percentile
from recursectl import protocol
from recursectl.build.package import templates_dir

NAME = "bench-oneway"
GROUP = f"/aws/lambda/{NAME}"
MARK = "BENCH1W "
STEPS_MARK = "BENCH1S "

HANDLER = """\
import json
import time

import recursectl_chain

STEPS = {}  # botocore's own steps of this invocation's Invoke: where the client's time goes


def _at(step):
    def note(**_):
        STEPS[step] = time.time()
    return note


_events = recursectl_chain._lambda_client().meta.events
_events.register("before-call.lambda.Invoke", _at("call"))
_events.register("before-send.lambda.Invoke", _at("wire"))


def handler(event, context):
    entry = time.time()
    chain = recursectl_chain.begin(event, context)
    sent = event.get("sent")
    if sent is not None:
        print("BENCH1W " + json.dumps({"run": event["run"], "sent": sent, "entry": entry}))
    calls = int(event.get("numberOfCalls", 0))
    if calls > 0:
        sent = time.time()
        chain.invoke_self({"numberOfCalls": calls - 1, "run": event["run"], "sent": sent})
        print("BENCH1S " + json.dumps({"run": event["run"], "sent": sent, **STEPS}))
    return calls
"""


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", HANDLER)
        for name in protocol.PYTHON_HELPER_FILES:  # the helper and the modules it loads
            archive.writestr(name, (templates_dir() / "python" / name).read_text())
    return buffer.getvalue()


def _deploy(ctx: Context) -> dict[str, str]:
    cloud = ctx.cloud
    cloud.deploy(NAME, max_calls=100_000)
    lam = cloud.aws.lambda_
    lam.update_function_code(FunctionName=NAME, ZipFile=_zip())
    lam.get_waiter("function_updated_v2").wait(FunctionName=NAME)
    env = lam.get_function_configuration(FunctionName=NAME)["Environment"]["Variables"]
    env["RECURSECTL_MAX_INVOCATIONS"] = "1000000"
    return dict(env)


def _set_env(ctx: Context, env: dict[str, str]) -> None:
    ctx.cloud.set_env(NAME, env)
    _chain(ctx, 6)  # the change retired the warm environments: start them, unmeasured


def _chain(ctx: Context, hops: int) -> list[float]:
    """Milliseconds from each parent's Invoke call to its child's first line."""
    return [(entry - sent) * 1000 for sent, entry in _chain_times(ctx, hops)]


def _chain_times(
    ctx: Context, hops: int, steps: dict[float, dict[str, float]] | None = None
) -> list[tuple[float, float]]:
    """(sent, entry) of each hop: the parent's time.time() before its Invoke call, and the
    child handler's on its first line (`steps`: filled with each parent's botocore steps)."""
    cloud = ctx.cloud
    before = cloud.invocations(NAME)
    start_ms = int(time.time() * 1000) - 1000
    run = uuid.uuid4().hex
    cloud.invoke(NAME, {"numberOfCalls": hops, "run": run})
    cloud.wait_invocations(NAME, before + hops + 1, timeout_s=60 + hops * 0.2)
    out = []
    for event in cloud.events(GROUP, start_ms):
        message: str = event["message"]
        if steps is not None and message.startswith(STEPS_MARK):
            record = json.loads(message[len(STEPS_MARK) :])
            if record["run"] == run:
                steps[record["sent"]] = record
        if message.startswith(MARK):
            record = json.loads(message[len(MARK) :])
            if record["run"] != run:
                continue
            out.append((record["sent"], record["entry"]))
    if len(out) != hops:
        raise RuntimeError(f"{NAME}: {len(out)} of {hops} one-way hops in the logs")
    return out


# where a hop's time goes ------------------------------------------------------------------------
# The local cloud runs in this process (bench.cloud), so its steps can be timed by wrapping the
# methods each Event invoke goes through, class-wide, for one extra chain (the wrappers' few
# microseconds stay out of the rows above). Each hop's stamps are matched in order: a linear
# chain has one invoke in flight at a time, and only this function runs.
SEGMENTS = (
    ("the guard (context, counter) -> botocore's before-call", "sent", "call"),
    ("botocore: before-call -> before-send", "call", "wire"),
    ("before-send -> the front door's handler has the request", "wire", "door"),
    ("front door: access, IAM, config -> queued", "door", "queued"),
    ("queue -> the pool thread runs it", "queued", "pool"),
    ("pool: environment, slot -> /next answer ready", "pool", "next"),
    ("/next answer -> the runtime client calls the handler", "next", "entry"),
)


LOCAL_STEPS = ("door", "queued", "pool", "next")
LOCAL_SEGMENTS = SEGMENTS[3:]  # from the front door on


@contextmanager
def stamped(name: str = NAME) -> Iterator[dict[str, list[float]]]:
    """time.time() at each step of every Event invoke of `name` while the block runs."""
    from recursectl.local.engine.asyncq import AsyncQueue
    from recursectl.local.frontdoor import server
    from recursectl.local.worker import runtime_api

    stamps: dict[str, list[float]] = {"door": [], "queued": [], "pool": [], "next": []}
    quoted = urllib.parse.quote(name)  # by name or by ARN (the guard's), URL-encoded
    # The connection's respond, not FrontDoor.handle: metric 3 wraps the door's own handle.
    handle, enqueue, run = server._Handler.respond, AsyncQueue._enqueue, AsyncQueue._run_event
    respond = runtime_api._Handler.respond

    def door(self: Any, request: Any) -> Any:
        target = request.target
        if target.startswith("/2015-03-31/functions/") and f"{quoted}/invocations" in target:
            stamps["door"].append(time.time())
        return handle(self, request)

    def queued(self: Any, event: Any) -> None:
        stamps["queued"].append(time.time())
        enqueue(self, event)

    def pool(self: Any, event: Any) -> None:
        stamps["pool"].append(time.time())
        run(self, event)

    def answered(self: Any, request: Any) -> Any:
        reply = respond(self, request)
        if request.method == "GET":
            stamps["next"].append(time.time())
        return reply

    server._Handler.respond, AsyncQueue._enqueue, AsyncQueue._run_event = door, queued, pool  # type: ignore[method-assign]
    runtime_api._Handler.respond = answered  # type: ignore[method-assign]
    try:
        yield stamps
    finally:
        server._Handler.respond, AsyncQueue._enqueue, AsyncQueue._run_event = handle, enqueue, run  # type: ignore[method-assign]
        runtime_api._Handler.respond = respond  # type: ignore[method-assign]


def _segments(
    times: list[tuple[float, float]],
    stamps: dict[str, list[float]],
    steps: dict[float, dict[str, float]],
) -> list[dict[str, float]]:
    """Each hop's stamps in path order, the client's botocore steps first."""
    out = []
    for sent, entry in times:
        client = steps.get(sent, {})
        if "call" not in client or "wire" not in client:
            continue
        hop = local_steps(client["wire"], entry, stamps)
        if hop is not None:
            out.append({"sent": sent, "call": client["call"], "wire": client["wire"], **hop})
    return out


def local_steps(
    start: float, entry: float, stamps: dict[str, list[float]]
) -> dict[str, float] | None:
    """The local cloud's steps of the hop that left at `start` and began at `entry`: the first
    stamp of each step at or after the one before (None: one is missing)."""
    hop = {"entry": entry}
    at = start
    for step in LOCAL_STEPS:
        later = [t for t in stamps[step] if at <= t <= entry]
        if not later:
            return None
        at = hop[step] = min(later)
    return hop


def _split_rows(label: str, hops: list[dict[str, float]]) -> list[Row]:
    rows = []
    for name, start, end in SEGMENTS:
        values = [(hop[end] - hop[start]) * 1000 for hop in hops]
        rows.append(Row(f"16 where a hop goes ({label}): {name}, median", median(values), "ms"))
    return rows


# the floor -----------------------------------------------------------------------------------
class _HandOff(_Quiet):
    """Invoke answered 202 after its payload is handed to the waiting worker's /next."""

    server: _HandOffServer

    def do_GET(self) -> None:  # the worker's /next
        payload, request_id = self.server.slot.get()
        self.send_all(
            200,
            {
                "Lambda-Runtime-Aws-Request-Id": request_id,
                "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:0:function:f",
                "Lambda-Runtime-Trace-Id": "Root=1-0-0;Sampled=0",
                "Content-Type": "application/json",
            },
            payload,
        )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if "/runtime/invocation/" in self.path:  # the worker's response
            self.server.done.put(json.loads(body))
            self.send_all(202, {}, b'{"status":"OK"}')
            return
        request_id = str(uuid.uuid4())
        self.server.slot.put((body, request_id))
        self.send_all(202, {"x-amzn-RequestId": request_id})


class _HandOffServer(_QuietServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HandOff)
        self.slot: queue.SimpleQueue[tuple[bytes, str]] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[dict[str, float]] = queue.SimpleQueue()


_CLIENT = """
import json, sys, time
import boto3
from botocore.config import Config
url, n = sys.argv[1], int(sys.argv[2])
client = boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
    aws_access_key_id="test", aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1, "mode": "standard"}))
for i in range(n):
    body = json.dumps({"numberOfCalls": 3, "sent": time.time()}).encode()
    client.invoke(FunctionName="f", InvocationType="Event", Payload=body)["Payload"].read()
    sys.stdin.readline()  # the worker has answered: the next one
"""


def floor_one_way(n: int) -> list[float]:
    """Milliseconds from a botocore Invoke call to a warm worker's handler's first line."""
    server = _HandOffServer()
    threading.Thread(target=server.serve_forever, daemon=True, name="floor-1w").start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    warm = 5  # the first calls open the connection and warm botocore's caches
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as root:
        Path(root, "first.py").write_text(
            "import time\n\ndef handler(event, context):\n"
            "    return {'sent': event['sent'], 'entry': time.time()}\n"
        )
        api = f"127.0.0.1:{server.server_address[1]}"
        worker = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", "first.handler"],
            cwd=root,
            env=worker_env(api, root, "first.handler"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = subprocess.Popen(
            [sys.executable, "-c", _CLIENT, url, str(n + warm)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        assert client.stdin is not None
        try:
            out = []
            for i in range(n + warm):
                got = server.done.get(timeout=CLIENT_TIMEOUT_S)
                if i >= warm:
                    out.append((got["entry"] - got["sent"]) * 1000)
                client.stdin.write("\n")
                client.stdin.flush()
            client.wait(timeout=30)
            return out
        finally:
            for proc in (client, worker):
                proc.kill()
                proc.wait(timeout=10)
            server.shutdown()
            server.server_close()


def one_way_hop(ctx: Context) -> list[Row]:
    counted = _deploy(ctx)
    split = {k: v for k, v in counted.items() if k != "RECURSECTL_COUNTER_TABLE"}
    hops = ctx.sizes.chain_short
    modes: dict[str, list[float]] = {"split": [], "counter": []}
    floors: list[float] = []
    rounds = 1 if ctx.smoke else max(2, ctx.sizes.chain_repeats)  # smoke: shape, not speed
    for _ in range(rounds):
        floors += floor_one_way(ctx.sizes.floor_samples // 3)
        _set_env(ctx, split)
        modes["split"] += _chain(ctx, hops)
        _set_env(ctx, counted)
        modes["counter"] += _chain(ctx, hops)
    floor = median(floors)
    split_rows: list[Row] = []
    matched = []
    for env, label in ((split, "no counter"), (counted, "counter")):
        _set_env(ctx, env)
        steps: dict[float, dict[str, float]] = {}
        with stamped() as stamps:
            times = _chain_times(ctx, hops, steps)
        segments = _segments(times, stamps, steps)
        matched.append(f"{label} {len(segments)} of {len(times)}")
        if segments:
            split_rows += _split_rows(label, segments)
    ctx.notes.append(
        f"one-way hop (metric 16): Invoke call -> child handler's first line, time.time() in "
        f"both processes; {len(modes['split'])} hops per mode (linear chains of {hops}, the "
        f"split rule and the counter alternated); floor = botocore Invoke to a server handing "
        f"the event to a warm awslambdaric worker's /next, {len(floors)} calls one at a time "
        f"(median {floor:.3f} ms, p95 {percentile(floors, 95):.3f} ms). Where a hop goes: one "
        f"more chain per mode with the local cloud's steps timed (front door's request "
        f"handler, the async queue's enqueue, the pool thread's start, the Runtime API's /next "
        f"answer), hops whose stamps all matched: {', '.join(matched)}"
    )
    rows = []
    for mode, label in (("split", "split rule (no counter)"), ("counter", "with the counter")):
        values = modes[mode]
        rows += [
            Row(f"16 one-way hop, {label}, median", median(values), "ms", "", INFO,
                floor=floor),
            Row(f"16 one-way hop, {label}, p95", percentile(values, 95), "ms", "", INFO,
                floor=floor),
        ]  # fmt: skip
    rows.append(
        Row("16 one-way floor: SDK Invoke -> waiting worker's first line, median", floor, "ms")
    )
    return rows + split_rows
