"""The local cloud under load, faults and bad input: nothing lost, nothing left behind.

Each test runs small by default (seconds, part of `make test`); `make stress`
(RECURSECTL_STRESS=1) runs the sizes docs/reliability.md reports. Loopback only, every
loop bounded. Figures are printed as `RELIABILITY ...` lines (`pytest -s` shows them).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from recursectl.local.engine.executor import Limits
from recursectl.local.frontdoor.server import FrontDoorServer, serve_in_thread, stop_server
from tests.support.localcloud import deploy_function, function_role

STRESS = os.environ.get("RECURSECTL_STRESS") == "1"  # read at import: fixtures clear RECURSECTL_*
PARALLEL = 200 if STRESS else 40
CHAINS, HOPS = (20, 50) if STRESS else (3, 8)
SLOWLORIS = 50 if STRESS else 10
NO_RETRY = Config(
    retries={"max_attempts": 1, "mode": "standard"},
    read_timeout=120,
    connect_timeout=10,
    max_pool_connections=PARALLEL,
)


def report(what: str, **figures: Any) -> None:
    print(f"RELIABILITY {what}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FrontDoorServer]]:
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(key, value)
    url, server = serve_in_thread(limits=Limits(retry_delays=(0.05,)), timeouts=(5.0, 2.0))
    yield url, server
    pids = server.door.engine.status()["worker_pids"]
    stop_server(server)
    assert _alive(pids) == [], "workers left behind"


def _alive(pids: list[int], timeout: float = 15.0) -> list[int]:
    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def _deploy_code(url: str, name: str, code: str, timeout: int = 30) -> Any:
    """Deploy `code` as handler.py; a Lambda client without retries."""
    iam = boto3.client("iam", endpoint_url=url)
    lam = boto3.client("lambda", endpoint_url=url, config=NO_RETRY)
    deploy_function(lam, function_role(iam), name, {"handler.py": code}, timeout=timeout)
    return lam


# load held -------------------------------------------------------------------------------
def test_parallel_sync_invokes_are_all_answered(cloud: tuple[str, FrontDoorServer]) -> None:
    url, _server = cloud
    lam = _deploy_code(
        url, "par", "import time\ndef handler(e, c):\n    time.sleep(0.05)\n    return e\n"
    )
    barrier = threading.Barrier(PARALLEL, timeout=60)

    def one(i: int) -> str:
        barrier.wait()  # every connection at once: the listen queue is what is tested
        try:
            response = lam.invoke(FunctionName="par", Payload=json.dumps({"i": i}))
        except ClientError as exc:
            return exc.response["Error"]["Code"]  # an AWS answer (a throttle): accounted for
        except Exception as exc:  # a reset or a dropped connection: lost
            return f"LOST {type(exc).__name__}"
        return "ok" if json.loads(response["Payload"].read()) == {"i": i} else "WRONG"

    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(one, range(PARALLEL)))
    counts = {r: results.count(r) for r in set(results)}
    report("parallel sync invokes", clients=PARALLEL, **counts)
    assert set(counts) <= {"ok", "TooManyRequestsException"}, counts
    assert counts.get("ok", 0) >= 1


CHAIN = """
import boto3, json, os
lam = boto3.client("lambda")

def handler(event, context):
    if event["left"] > 0:
        lam.invoke(FunctionName=os.environ["AWS_LAMBDA_FUNCTION_NAME"], InvocationType="Event",
                   Payload=json.dumps({"chain": event["chain"], "left": event["left"] - 1}))
    return event
"""


def _events(url: str, server: FrontDoorServer, group: str) -> list[str]:
    server.door.sink.flush()
    logs = boto3.client("logs", endpoint_url=url)
    out: list[str] = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
            out += [e["message"] for e in page["events"]]
    except logs.exceptions.ResourceNotFoundException:
        return []  # no environment has written a line yet: the group comes with the first
    return out


def test_concurrent_chains_every_start_has_its_report(cloud: tuple[str, FrontDoorServer]) -> None:
    url, server = cloud
    lam = _deploy_code(url, "chain", CHAIN)
    lam.put_function_recursion_config(FunctionName="chain", RecursiveLoop="Allow")
    for c in range(CHAINS):
        lam.invoke(
            FunctionName="chain",
            InvocationType="Event",
            Payload=json.dumps({"chain": c, "left": HOPS - 1}),
        )
    expected = CHAINS * HOPS
    deadline = time.monotonic() + 60 + expected * 0.1
    while time.monotonic() < deadline:
        messages = _events(url, server, "/aws/lambda/chain")
        reports = sum(m.startswith("REPORT RequestId: ") for m in messages)
        if reports >= expected:
            break
        time.sleep(0.5)
    starts = {m.split()[2] for m in messages if m.startswith("START RequestId: ")}
    ends = {m.split()[2] for m in messages if m.startswith("REPORT RequestId: ")}
    errors = [m for m in messages if "Status: error" in m or "Status: timeout" in m]
    report("concurrent chains", chains=CHAINS, hops=HOPS, starts=len(starts), reports=len(ends))
    assert (len(starts), starts == ends, errors) == (expected, True, [])


# faults survived --------------------------------------------------------------------------
SLEEPER = (
    "import os, time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n"
    "    return os.getpid()\n"
)


def test_a_worker_killed_mid_invocation_is_an_error_then_a_fresh_worker(
    cloud: tuple[str, FrontDoorServer],
) -> None:
    url, _server = cloud
    lam = _deploy_code(url, "victim", SLEEPER)
    first = int(lam.invoke(FunctionName="victim")["Payload"].read())
    killer = threading.Timer(0.5, os.kill, args=(first, signal.SIGKILL))
    killer.start()
    response = lam.invoke(FunctionName="victim", Payload=b'{"sleep": 30}')
    killer.join()
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.ExitError"
    second = int(lam.invoke(FunctionName="victim")["Payload"].read())
    assert second != first
    report("worker killed mid-invocation", answered="Runtime.ExitError", next_invoke="ok")


def test_a_worker_past_its_timeout_is_stopped_and_replaced(
    cloud: tuple[str, FrontDoorServer],
) -> None:
    url, _ = cloud
    lam = _deploy_code(url, "slow", SLEEPER, timeout=1)
    first = int(lam.invoke(FunctionName="slow")["Payload"].read())
    response = lam.invoke(FunctionName="slow", Payload=b'{"sleep": 30}')
    assert json.loads(response["Payload"].read())["errorType"] == "Sandbox.Timedout"
    assert _alive([first]) == []
    assert int(lam.invoke(FunctionName="slow")["Payload"].read()) != first
    report("worker past its timeout", answered="Sandbox.Timedout", old_worker="gone")


FLOOD = """
import sys
def handler(e, c):
    for _ in range(e["lines"]):
        sys.stdout.write("x" * 1000 + "\\n")
    print("Y" * e["long"])
    return "done"
"""


def test_a_handler_flooding_output_loses_nothing(cloud: tuple[str, FrontDoorServer]) -> None:
    url, server = cloud
    lam = _deploy_code(url, "flood", FLOOD)
    lines, long = (20000, 40 * 1024 * 1024) if STRESS else (2000, 2 * 1024 * 1024)
    started = time.perf_counter()
    payload = json.dumps({"lines": lines, "long": long})
    response = lam.invoke(FunctionName="flood", Payload=payload)
    took = time.perf_counter() - started
    assert json.loads(response["Payload"].read()) == "done"
    messages = _events(url, server, "/aws/lambda/flood")
    assert sum(m == "x" * 1000 for m in messages) == lines
    assert sum(len(m) for m in messages if m.startswith("Y")) == long
    assert any(m.startswith("REPORT") for m in messages)
    report("output flood", lines=lines, long_line_mb=long // 2**20, invoke_s=round(took, 1))


# bad input ---------------------------------------------------------------------------------
BAD_REQUESTS = [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # a TLS ClientHello
    b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 99999999999999\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: {host}\r\n\r\n",
    b"\r\n\r\n\r\n",
    b"GET /_recursectl/shutdown HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    b"POST /_recursectl/shutdown HTTP/1.1\r\nHost: {host}\r\nX-Recursectl-Token: x\r\n\r\n",
]


def _exchange(host: str, port: int, raw: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(raw)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_bad_requests_are_answered_and_the_cloud_keeps_serving(
    cloud: tuple[str, FrontDoorServer],
) -> None:
    url, server = cloud
    host = url.removeprefix("http://")
    statuses = []
    for raw in BAD_REQUESTS:
        reply = _exchange("127.0.0.1", server.port, raw.replace(b"{host}", host.encode()))
        statuses.append(reply[9:12].decode() if reply.startswith(b"HTTP/1.1 ") else "closed")
    report("bad requests", tried=len(BAD_REQUESTS), statuses=" ".join(statuses))
    assert all(s.startswith("4") or s.startswith("5") or s == "closed" for s in statuses)
    sts = boto3.client("sts", endpoint_url=url, config=NO_RETRY)
    assert sts.get_caller_identity()["Account"] == "123456789012"


def test_slow_connections_are_timed_out_and_bounded(cloud: tuple[str, FrontDoorServer]) -> None:
    _url, server = cloud
    threads_before = threading.active_count()
    slow = [
        socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(SLOWLORIS)
    ]
    try:
        for sock in slow:
            sock.sendall(b"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: x\r\n")
        peak = server.open_connections()
        replies = []
        for sock in slow:  # request_timeout is 2 s here: each is answered 408 and closed
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
            replies.append(out[9:12].decode())
    finally:
        for sock in slow:
            sock.close()
    deadline = time.monotonic() + 10
    while server.open_connections() and time.monotonic() < deadline:
        time.sleep(0.05)
    report(
        "slowloris",
        connections=SLOWLORIS,
        peak_open=peak,
        replies=",".join(sorted(set(replies))),
        open_after=server.open_connections(),
        threads_after=threading.active_count() - threads_before,
    )
    assert set(replies) == {"408"}
    assert server.open_connections() == 0


SILENT = 1000  # the figure, at both sizes: past the 512 connections served at once


def _room_for_files(needed: int) -> None:
    """This process holds both ends of every connection: raise its file limit if it must."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} open files; this machine allows {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def test_silent_connections_lock_nobody_out(cloud: tuple[str, FrontDoorServer]) -> None:
    url, server = cloud
    _room_for_files(2 * SILENT + 1000)
    quick = Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1)
    boto3.client("lambda", endpoint_url=url, config=quick).list_functions()  # moto warmed up
    lam = boto3.client("lambda", endpoint_url=url, config=quick)  # a new client: no connection
    threads_before = threading.active_count()
    silent = []
    try:
        for _ in range(SILENT):  # a port scanner, a handler leaking clients: never a byte
            silent.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        # The new client, the CLI's kind: answered at once (before: 503 for ~61 s).
        started = time.monotonic()
        assert isinstance(lam.list_functions()["Functions"], list)  # answered
        answered_ms = (time.monotonic() - started) * 1000
        threads_held = threading.active_count() - threads_before
        # ... and the silent ones are closed after the first-byte timeout (5 s).
        closed = 0
        for sock in silent:
            sock.settimeout(15)
            if sock.recv(1) == b"":
                closed += 1
    finally:
        for sock in silent:
            sock.close()
    report(
        "silent connections",
        open=SILENT,
        new_client_answered_ms=f"{answered_ms:.0f}",
        threads_held=threads_held,
        closed_by_server=closed,
    )
    assert threads_held < 20  # they wait for a byte without a thread each
    assert closed == SILENT
