"""A Node.js execution environment: `node` under the official runtime interface client.

The same environment as for Python (one warm worker, its Runtime API, its stdout and telemetry
pipes, its log stream), spawned with `recursectl.nodejs.launch()`: aws-lambda-ric 4.x, the
runtime's SDK v3 on NODE_PATH, Lambda's node flags. The ric writes every console line to the
telemetry descriptor as AWS's Node runtimes do (`timestamp<TAB>requestId<TAB>LEVEL<TAB>message`,
one frame per call, so a multi-line message stays one event).

Without a usable node (not on PATH, no headers, the ric failing to build) nothing is spawned:
the environment fails its init as Lambda does for a runtime it cannot start
(Runtime.InvalidEntrypoint), and the hint goes to the function's log stream and the local
cloud's log; `local status` shows it as the function's runtime note.
"""

from __future__ import annotations

import json
import logging
import shutil
import time

from recursectl import nodejs
from recursectl.local.worker.environment import Environment

log = logging.getLogger(__name__)
BROKEN_RUNTIME = "Runtime.InvalidEntrypoint"


def is_node(runtime: str) -> bool:
    return runtime.startswith("nodejs")


_toolchain: nodejs.Toolchain | None = None  # found once per process (one `node` run)


def _find_toolchain() -> nodejs.Toolchain:
    global _toolchain
    if _toolchain is None:
        _toolchain = nodejs.toolchain()
    return _toolchain


def runtime_note(declared: str) -> str | None:
    """Say so when the local node is missing or not the declared runtime's major version
    (no process is run here: the version is the one the first Node environment found)."""
    if shutil.which("node") is None:
        return f"declared runtime {declared}; the local cloud cannot run it: node is not on PATH"
    if _toolchain is None:
        return None
    major = nodejs.runtime_major(declared)
    if str(major) == _toolchain.version.split(".", 1)[0]:
        return None
    return f"declared runtime {declared}; the local cloud runs it with Node.js {_toolchain.version}"


class NodeEnvironment(Environment):
    """An Environment whose worker is `node <aws-lambda-ric>/index.mjs`."""

    _launch: nodejs.NodeLaunch | None = None

    def environ(self, telemetry_fd: int) -> dict[str, str]:
        env = super().environ(telemetry_fd)
        if self._launch is not None:
            env.update(self._launch.env)
        return env

    def start(self) -> None:
        """Spawn the worker, or fail its init as a broken runtime when node cannot run it."""
        try:
            # Under the spawner's lock: in the daemon (a subreaper) the orphan reaper kills
            # any child the spawner did not start, and finding node runs `node` (building the
            # runtime client, on first use only, runs npm for minutes: spawns wait meanwhile).
            with self._spawner.lock:
                self._launch = nodejs.launch(
                    self.task_root, self.spec.runtime, self.spec.handler, tc=_find_toolchain()
                )
        except nodejs.NodeError as exc:
            self._started = time.perf_counter()
            self._broken(exc)
            return
        # Init starts when the worker is spawned: building the runtime client (npm, minutes,
        # first use only; deploy builds it first) is not the function's Init Duration.
        self._started = time.perf_counter()
        major = self._launch.node_version.split(".", 1)[0]
        self.put(self.platform.init_start(f"nodejs:{major}.local"))
        self._spawn_worker(list(self._launch.args))

    def _broken(self, exc: nodejs.NodeError) -> None:
        """No worker: the first invoke answers with Lambda's error for a runtime that cannot
        start, and the hint is logged where a user looks."""
        hint = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        log.warning("%s: the Node.js runtime cannot start: %s", self.spec.name, hint)
        # Lambda writes INIT_START for every init, a failing one too; without it the hint
        # (logged before the first START) would belong to no request in `logs`.
        major = nodejs.runtime_major(self.spec.runtime) or "unknown"
        self.put(self.platform.init_start(f"nodejs:{major}.local"))
        self.sink.put(self.spec.log_group, self.stream, f"recursectl local cloud: {hint}")
        body = json.dumps(
            {
                "errorType": BROKEN_RUNTIME,
                "errorMessage": f"Error: fork/exec node: no such file or directory: {hint}",
            }
        ).encode()
        self._fds = {}
        self.init_error(body, BROKEN_RUNTIME)
        self._exited.set()
