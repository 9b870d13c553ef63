"""Metric 8: what the guard (the entry point and its botocore interception) costs.

Side by side in one run, the same handler with and without the wrapper:
- per invocation and per self-invoking hop, in a process of its own (as a worker is): the
  wrapper's entry point around a no-op handler, and a handler that makes one Event Invoke of
  itself (answered by botocore's Stubber), timed call by call, blocks alternated;
- at cold start: importing the handler module directly vs through the helper, each a fresh
  interpreter with no bytecode cache (Lambda's /var/task is read-only, so nothing is cached);
- on the local cloud: the template's hop latency and Init Duration with Handler
  `handler.handler` (the explicit API alone) and `recursectl_chain.handler` (the entry point).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cloud import Timeline
from bench.context import Context
from bench.floor import worker_env
from bench.harness import Row, median, verdict

HELPER_DIR = Path(__file__).resolve().parent.parent / "templates" / "python"
SELF_ARN = "arn:aws:lambda:us-east-1:000000000000:function:floor"

USER = """
client = None

def noop(event, context):
    return None

def invoker(event, context):
    client.invoke(FunctionName="floor", InvocationType="Event", Payload=b'{"numberOfCalls": 2}')

def other(event, context):
    client.invoke(FunctionName="another", InvocationType="Event", Payload=b'{"numberOfCalls": 2}')
"""

# Runs in its own process; argv: samples, output path. The Invoke is answered by botocore's
# Stubber (its before-call hook), so the numbers are botocore's and the guard's CPU time,
# not a loaded server's.
MICRO = """
import json, sys, time
import boto3, botocore.client
from botocore.stub import Stubber

n, out = int(sys.argv[1]), sys.argv[2]
original = botocore.client.BaseClient.__dict__["_make_api_call"]
import bench_user
import recursectl_chain as rc
guarded = botocore.client.BaseClient.__dict__["_make_api_call"]
bench_user.client = boto3.client("lambda")
stub = Stubber(bench_user.client)
stub.activate()
ANSWER = {"StatusCode": 202, "ResponseMetadata": {"RequestId": "child", "HTTPStatusCode": 202}}

class Ctx:
    aws_request_id = "r"
    function_name = "floor"

ctx = Ctx()
EVENT = {"numberOfCalls": 3, "_recursectl": {"chain": "c", "parent": "p", "depth": 1}}

def direct(fn):
    def run():
        botocore.client.BaseClient._make_api_call = original
        stub.add_response("invoke", ANSWER)
        t = time.perf_counter(); fn(dict(EVENT), ctx); return time.perf_counter() - t
    return run

def wrapped(fn):
    def run():
        botocore.client.BaseClient._make_api_call = guarded
        stub.add_response("invoke", ANSWER)
        rc._user_handler = fn
        t = time.perf_counter(); rc.handler(dict(EVENT), ctx); return time.perf_counter() - t
    return run

result = {}
for name in ("noop", "invoker", "other"):
    a, b = direct(getattr(bench_user, name)), wrapped(getattr(bench_user, name))
    for _ in range(20):  # warm-up: botocore's caches
        a(); b()
    xs, ys = [], []
    for _ in range(max(1, n // 50)):
        xs += [a() for _ in range(50)]
        ys += [b() for _ in range(50)]
    result[name] = [xs, ys]
    stub._queue.clear()  # the noop handler used none of its answers
json.dump(result, open(out, "w"))
"""

IMPORT = """
import sys, time
import awslambdaric.bootstrap  # what the runtime has loaded before it imports the handler
t = time.perf_counter()
__import__(sys.argv[1])
print(time.perf_counter() - t)
"""


def _env(task: str) -> dict[str, str]:
    env = worker_env("127.0.0.1:9", task, "recursectl_chain.handler")
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([task, str(HELPER_DIR)]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "RECURSECTL_SELF_ARN": SELF_ARN,
            "RECURSECTL_MAX_CALLS": "100000",
            "RECURSECTL_MAX_INVOCATIONS": "1000000000",
        }
    )
    return env


def _micro(n: int, task: str) -> dict[str, list[list[float]]]:
    out = Path(task, "micro.json")
    env = {**_env(task), "RECURSECTL_HANDLER": "bench_user.noop"}
    # Stdout to a file, not a pipe: a pipe that this (loaded) process drains late would bill
    # its waits to the wrapper's marker writes. The write(2) per marker is still made.
    with Path(task, "stdout.txt").open("wb") as stdout:
        subprocess.run(
            [sys.executable, "-c", MICRO, str(n), str(out)],
            env=env,
            cwd=task,
            stdout=stdout,
            stderr=subprocess.PIPE,
            check=True,
            timeout=600,
        )
    result: dict[str, list[list[float]]] = json.loads(out.read_text())
    return result


def _imports(n: int, task: str) -> tuple[list[float], list[float]]:
    direct: list[float] = []
    wrapped: list[float] = []
    env = _env(task)
    for _ in range(n):  # alternated, a fresh interpreter each
        for module, times, extra in (
            ("bench_user", direct, {}),
            ("recursectl_chain", wrapped, {"RECURSECTL_HANDLER": "bench_user.noop"}),
        ):
            proc = subprocess.run(
                [sys.executable, "-c", IMPORT, module],
                env={**env, **extra},
                cwd=task,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            times.append(float(proc.stdout) * 1000)
    return direct, wrapped


def _diff_us(pair: list[list[float]]) -> tuple[float, float, float]:
    plain, guarded = median(pair[0]) * 1e6, median(pair[1]) * 1e6
    return plain, guarded, guarded - plain


def process_rows(ctx: Context) -> list[Row]:
    n = 200 if ctx.smoke else 3000
    imports_n = 3 if ctx.smoke else 25
    with tempfile.TemporaryDirectory(prefix="bench-guard-") as task:
        Path(task, "bench_user.py").write_text(USER)
        micro = _micro(n, task)
        direct_ms, wrapped_ms = _imports(imports_n, task)
    rows = []
    for key, label in (
        ("noop", "per invocation, no Invoke (entry point + hop marker)"),
        ("invoker", "per hop with one self-invoke (+ context, child marker)"),
        ("other", "per invocation with one Invoke of another function"),
    ):
        plain, guarded, extra = _diff_us(micro[key])
        rows.append(
            Row(
                f"8 guard: {label}",
                guarded,
                "us",
                "<= direct + 100 us",
                verdict(extra <= 100),
                floor=plain,
                note=f"+{extra:.1f} us",
            )
        )
        fastest = (min(micro[key][1]) - min(micro[key][0])) * 1e6
        ctx.notes.append(
            f"guard, {key}: median wrapped {guarded:.1f} us, direct {plain:.1f} us, difference "
            f"{extra:+.1f} us; fastest call of each side {fastest:+.1f} us apart"
        )
    # The fastest fresh interpreter of each side: the intrinsic cost, least disturbed by
    # other processes (on a shared machine an import's wall time varies by more than this).
    imp_d, imp_w = min(direct_ms), min(wrapped_ms)
    rows.append(
        Row(
            "8 guard: cold start, handler import through the helper (fastest)",
            imp_w,
            "ms",
            "<= direct + 5 ms",
            verdict(imp_w - imp_d <= 5),
            floor=imp_d,
        )
    )
    ctx.notes.append(
        f"guard, in-process: {len(micro['noop'][0])} calls per side, blocks of 50 alternated; "
        f"'direct' is the user's function called as the runtime would, 'wrapped' is "
        f"recursectl_chain.handler around it (stdout a file). Cold-start import: "
        f"{len(direct_ms)} fresh interpreters per side, alternated, no bytecode cache (as in "
        f"/var/task); fastest {imp_w:.2f} ms through the helper vs {imp_d:.2f} ms direct "
        f"(+{imp_w - imp_d:.2f} ms: compiling and running the helper), medians "
        f"{median(wrapped_ms):.2f} vs {median(direct_ms):.2f} ms"
    )
    return rows


# on the local cloud ------------------------------------------------------------------------------
_INIT = re.compile(r"Init Duration: ([\d.]+) ms")


def _variant(ctx: Context, name: str, wrapped: bool) -> None:
    cloud = ctx.cloud
    cloud.deploy(name, max_calls=100_000)
    lam = cloud.aws.lambda_
    conf = lam.get_function_configuration(FunctionName=name)
    variables = dict(conf["Environment"]["Variables"])
    variables.pop("RECURSECTL_HANDLER", None)
    if wrapped:
        variables["RECURSECTL_HANDLER"] = "handler.handler"
    lam.update_function_configuration(
        FunctionName=name,
        Handler="recursectl_chain.handler" if wrapped else "handler.handler",
        Environment={"Variables": variables},
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)


def _chain_hops(ctx: Context, name: str, calls: int) -> list[float]:
    cloud = ctx.cloud
    before = cloud.invocations(name)
    start_ms = int(time.time() * 1000) - 1000
    root = cloud.invoke(name, {"numberOfCalls": calls})
    cloud.wait_invocations(name, before + calls + 1, timeout_s=60 + calls * 0.2)
    timeline = Timeline.read(cloud.events(f"/aws/lambda/{name}", start_ms))
    return timeline.hops_ms(root)


def _cold_init_ms(ctx: Context, name: str, i: int) -> float:
    lam = ctx.cloud.aws.lambda_
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    lam.update_function_configuration(  # retires the warm environment: the next invoke is cold
        FunctionName=name, Environment={"Variables": {**variables, "BENCH_COLD": str(i)}}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    response = lam.invoke(FunctionName=name, Payload=b'{"numberOfCalls": 0}', LogType="Tail")
    response["Payload"].read()
    tail = base64.b64decode(response["LogResult"]).decode()
    found = _INIT.search(tail)
    if found is None:
        raise RuntimeError(f"{name}: not a cold start: {tail}")
    return float(found.group(1))


def cloud_rows(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    names = {False: "bench-guard-explicit", True: "bench-guard-wrapped"}
    for wrapped, name in names.items():
        _variant(ctx, name, wrapped)
        _chain_hops(ctx, name, 10)  # warm-up: the environments a chain alternates between
    hops: dict[bool, list[float]] = {False: [], True: []}
    inits: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(sizes.chain_repeats):  # alternated, so drift hits both alike
        for wrapped, name in names.items():
            hops[wrapped] += _chain_hops(ctx, name, sizes.chain_short)
    for i in range(sizes.cold_repeats):
        for wrapped, name in names.items():
            inits[wrapped].append(_cold_init_ms(ctx, name, i))
    hop_e, hop_w = median(hops[False]), median(hops[True])
    init_e, init_w = median(inits[False]), median(inits[True])
    ctx.notes.append(
        f"guard on the local cloud: the template deployed twice, Handler handler.handler (its "
        f"explicit begin/invoke_self only) and recursectl_chain.handler (the entry point "
        f"around the same handler); {len(hops[True])} hops and {len(inits[True])} cold starts "
        f"per side, alternated. Log timestamps have 1 ms resolution and a loaded machine's "
        f"jitter is larger than the wrapper's cost: the in-process rows are the precise ones"
    )
    return [
        Row(
            "8 guard: hop latency (local cloud), entry point vs explicit API",
            hop_w,
            "ms",
            "",
            "info",
            floor=hop_e,
        ),
        Row(
            "8 guard: Init Duration (local cloud), entry point vs explicit API",
            init_w,
            "ms",
            "",
            "info",
            floor=init_e,
        ),
    ]


def guard_cost(ctx: Context) -> list[Row]:
    return process_rows(ctx) + cloud_rows(ctx)
