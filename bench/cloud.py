"""The local cloud the benchmarks run on: in this process, on a free loopback port.

Its state directory is a temporary one (RECURSECTL_STATE_DIR), so a benchmark never touches
the user's local cloud; everything stops when the `with` block ends.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recursectl.aws import Aws, Target
from recursectl.local.engine.executor import Limits
from recursectl.local.frontdoor.server import FrontDoorServer, serve_in_thread, stop_server
from recursectl.local.store import Store

REGION = "us-east-1"
LOCAL_RUNTIME = f"python{sys.version_info[0]}.{sys.version_info[1]}"
FUNCTION = "bench-chain"
_START = re.compile(r"^START RequestId: (?P<req>\S+)")
_REPORT = re.compile(r"^REPORT RequestId: (?P<req>\S+)")
_MARKER = "RECURSECTL_CHAIN "


@dataclass
class LocalCloud:
    endpoint: str
    server: FrontDoorServer
    aws: Aws = field(init=False)

    def __post_init__(self) -> None:
        self.aws = self.new_aws()

    def new_aws(self) -> Aws:
        """Fresh clients (and a fresh call record) against this local cloud."""
        return Aws(Target(region=REGION, endpoint_url=self.endpoint, local=True))

    def deploy(self, name: str = FUNCTION, *, max_calls: int = 25, timeout: int = 60) -> Any:
        """Deploy the bundled template with recursectl's own deploy; the DeployResult."""
        from recursectl.build.package import build, parse_handler
        from recursectl.deploy.apply import deploy
        from recursectl.settings import Settings

        settings = Settings(
            name=name,
            max_calls=max_calls,
            timeout=timeout,
            local=True,
            region=REGION,
            runtime=LOCAL_RUNTIME,  # no "declared runtime differs" note on stderr
        )
        return deploy(self.aws, settings, build(parse_handler(None)))

    def invoke(self, name: str, event: dict[str, Any]) -> str:
        """An Event invoke (as `recursectl invoke` makes it); the root request id."""
        response = self.aws.lambda_.invoke(
            FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode()
        )
        return str(response["ResponseMetadata"]["RequestId"])

    def engine_idle(self) -> bool:
        status = self.server.door.engine.status()
        return all(f["active"] == 0 and f["queued"] == 0 for f in status["functions"])

    def invocations(self, name: str) -> int:
        for f in self.server.door.engine.status()["functions"]:
            if f["name"] == name:
                return int(f["invocations"])
        return 0

    def set_env(self, name: str, env: dict[str, str]) -> None:
        """Replace the function's environment and wait until the update is done (it retires
        the warm environments: the caller starts new ones)."""
        lam = self.aws.lambda_
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": env})
        lam.get_waiter("function_updated_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )

    def wait_invocations(self, name: str, count: int, timeout_s: float) -> None:
        """Block until `count` invocations of `name` finished (and nothing is running)."""
        deadline = time.monotonic() + timeout_s
        while self.invocations(name) < count or not self.engine_idle():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{name}: {self.invocations(name)} of {count} invocations after {timeout_s} s"
                )
            time.sleep(0.02)

    def flush(self) -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/_recursectl/flush",
            method="POST",
            data=b"",
            headers={"X-Recursectl-Token": self.server.door.token},
        )
        with urllib.request.urlopen(request, timeout=30):
            pass

    def events(self, group: str, start_ms: int) -> list[dict[str, Any]]:
        """Every event of `group` from `start_ms` on, through FilterLogEvents (all pages)."""
        self.flush()
        out: list[dict[str, Any]] = []
        paginator = self.aws.logs.get_paginator("filter_log_events")
        for page in paginator.paginate(logGroupName=group, startTime=start_ms):
            out += page["events"]
        return out


@dataclass
class Timeline:
    """START / REPORT times and parent links of one run, read from its log events."""

    start_ms: dict[str, int] = field(default_factory=dict)
    report_ms: dict[str, int] = field(default_factory=dict)
    report_line: dict[str, str] = field(default_factory=dict)
    parent: dict[str, str | None] = field(default_factory=dict)
    chain: dict[str, str] = field(default_factory=dict)  # request id -> chain id
    root: str = ""  # the chain this timeline was read for (set by the caller)

    @classmethod
    def read(cls, events: list[dict[str, Any]]) -> Timeline:
        # Deliberately independent of recursectl.chain: the benchmark checks the logs itself.
        t = cls()
        for event in events:
            message: str = event["message"]
            if message.startswith(_MARKER):
                record = json.loads(message[len(_MARKER) :])
                if record.get("ev") == "hop":
                    t.parent[record["req"]] = record.get("parent")
                    t.chain[record["req"]] = record["chain"]
                continue
            match = _START.match(message)
            if match:
                t.start_ms[match["req"]] = int(event["timestamp"])
                continue
            match = _REPORT.match(message)
            if match:
                t.report_ms[match["req"]] = int(event["timestamp"])
                t.report_line[match["req"]] = message
        return t

    def members(self, chain_id: str) -> list[str]:
        return [req for req, chain in self.chain.items() if chain == chain_id]

    def hops_ms(self, chain_id: str) -> list[float]:
        """Child START minus parent START, for every invocation of the chain but its root."""
        out = []
        for child in self.members(chain_id):
            parent = self.parent.get(child)
            if parent and child in self.start_ms and parent in self.start_ms:
                out.append(float(self.start_ms[child] - self.start_ms[parent]))
        return out

    def span_ms(self, chain_id: str) -> float:
        """First START to last REPORT of the chain."""
        reqs = self.members(chain_id)
        first = min(self.start_ms[r] for r in reqs if r in self.start_ms)
        last = max(self.report_ms[r] for r in reqs if r in self.report_ms)
        return float(last - first)


@contextmanager
def local_cloud(limits: Limits | None = None, persist: bool = False) -> Iterator[LocalCloud]:
    """A local cloud on a free loopback port, with its own state directory; stops on exit.

    `persist`: with its store (state.sqlite3 in that directory), as `local start` runs it."""
    saved = {k: os.environ.get(k) for k in ("RECURSECTL_STATE_DIR",)}
    with tempfile.TemporaryDirectory(prefix="recursectl-bench-") as state:
        os.environ["RECURSECTL_STATE_DIR"] = state
        store = Store(Path(state) / "state.sqlite3") if persist else None
        endpoint, server = serve_in_thread(0, limits=limits, store=store)
        if store is None:  # moto's state is global to the process: start empty
            server.door.moto.call("POST", "/moto-api/reset", "", {}, b"")
        try:
            yield LocalCloud(endpoint, server)
        finally:
            stop_server(server)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
