"""An execution environment: one `python -m awslambdaric` worker process, kept warm.

An environment owns its worker, its Runtime API server, the pipes that carry the worker's
stdout (every printed line) and awslambdaric's telemetry log frames (logging records, one
event per record even when multi-line), and its own log stream. It serves one attempt at a
time; `kill` ends the worker and every process it started (`spawn.kill_tree`).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from recursectl.local.engine.attempt import Attempt, FunctionSpec, Outcome
from recursectl.local.worker import logsink, memory, namespace, sandbox, worker_env
from recursectl.local.worker.frames import FrameDecoder, LineDecoder, split_event
from recursectl.local.worker.logsink import LogSink
from recursectl.local.worker.pipes import pipe_reader
from recursectl.local.worker.platform_log import PlatformLog
from recursectl.local.worker.runtime_api import RuntimeApi
from recursectl.local.worker.spawn import Spawner, kill_tree

INIT_TIMEOUT = 10.0  # seconds; Lambda's limit for the init phase

# Outcome status -> platform.runtimeDone's status (JSON format, DEBUG).
_DONE_STATUS = {"success": "success", "timeout": "timeout", "crash": "failure"}


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class Environment:
    """One execution environment: a warm worker serving one invocation at a time."""

    def __init__(
        self,
        spec: FunctionSpec,
        task_root: Path,
        sink: LogSink,
        spawner: Spawner,
        python: str = sys.executable,
        runtime_dir: Path | None = None,
        tmp_dir: Path | None = None,
        init_retry_of: Environment | None = None,
        stream: str | None = None,
    ) -> None:
        self.spec = spec
        self.task_root = task_root
        self.sink = sink
        self.platform = PlatformLog(spec)  # START/REPORT/... in the LoggingConfig's format
        self._app_filter = self.platform.json  # ApplicationLogLevel on printed JSON objects
        # The second init try of an environment whose init passed 10 s: same stream.
        self.init_retry = init_retry_of is not None
        # `stream`: the environment a timeout reset (AWS keeps its log stream).
        self.stream: str = (
            init_retry_of.stream
            if init_retry_of
            else stream or logsink.stream_name(version=spec.version)
        )
        self.timed_out = False  # reset by a timeout: its successor keeps the stream
        self.used = False
        self.last_used = time.monotonic()
        self.init_ms: float | None = None
        self._spawner = spawner
        self._python = python
        self.runtime_dir = runtime_dir  # None: the worker sees this interpreter's site-packages
        self.tmp_dir = tmp_dir
        self._slot: queue.SimpleQueue[Attempt | None] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._exited = threading.Event()
        self._init_error: tuple[bytes, str | None] | None = None
        self._current: Attempt | None = None
        self._io_lock = threading.Lock()
        self._lines = LineDecoder()
        self._frames = FrameDecoder()
        self._killed = False
        self._started = 0.0
        self.api = RuntimeApi(self)
        self.proc: subprocess.Popen[bytes] | None = None
        # The execution role's session (iam.Session.env()); None: placeholder keys.
        self.credentials: dict[str, str] | None = None
        self.credentials_expire = float("inf")  # epoch seconds

    # lifecycle ----------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return not self._killed and not self._exited.is_set()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def environ(self, telemetry_fd: int) -> dict[str, str]:
        return worker_env.build(
            self.spec,
            task_root=self.task_root,
            runtime_dir=self.runtime_dir,
            tmp_dir=self.tmp_dir,
            stream=self.stream,
            runtime_api=self.api.address,
            app_env=self.platform.app_env(),
            credentials=self.credentials,
            telemetry_fd=telemetry_fd,
        )

    def start(self) -> None:
        """Spawn the worker; init runs in the background until its first /next."""
        self._started = time.perf_counter()
        self.put(self.platform.init_start(self._runtime_version()))
        # -S: no site-packages (nor .pth files, the editable recursectl among them).
        flags = ["-S"] if self.runtime_dir else []
        self._spawn_worker(
            [self._python, *flags, "-m", "awslambdaric", self.spec.handler],
            **sandbox.run_as(self._python, self.task_root.parent.parent),
        )

    def isolation(
        self, args: list[str], extra: dict[str, Any], env: dict[str, str]
    ) -> dict[str, Any]:
        """Popen arguments for the worker's own mount namespace where the machine gives one
        (read-only task root, its own /tmp); a user to drop to is then dropped to after the
        mounts. Otherwise `extra` as it is."""
        if not namespace.available():
            return extra
        user = extra.pop("user", None)
        extra.pop("group", None)
        extra.pop("extra_groups", None)
        python = os.path.realpath(args[0])
        # Every folder the worker reads: whichever of them lie under /tmp is bound back in.
        paths = [a.removeprefix("file://") for a in args[1:]]
        keep = [
            str(self.task_root.parent.parent),  # the work folder: code, runtime, TMPDIRs
            os.path.dirname(python),
            os.path.dirname(os.path.dirname(python)),
            sys.prefix,
            sys.base_prefix,
            *(str(p) for p in (self.runtime_dir, self.tmp_dir) if p is not None),
            *(os.path.dirname(p) for p in paths if os.path.isabs(p)),
            *env.get("NODE_PATH", "").split(os.pathsep),
            env.get("LAMBDA_RUNTIME_DIR", ""),
        ]
        setup = namespace.setup(str(self.task_root), keep, user if isinstance(user, int) else None)
        return {**extra, "setup": setup}

    def _spawn_worker(self, args: list[str], **extra: Any) -> None:
        """Start `args` as this environment's worker, its stdout and telemetry fd read by the
        shared pipe reader (every runtime's worker is wired the same way)."""
        out_r, out_w = os.pipe()
        tel_r, tel_w = os.pipe()
        try:
            env = self.environ(tel_w)
            extra = self.isolation(args, extra, env)
            self.proc = self._spawner.spawn(
                args=args,
                cwd=str(self.task_root),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=subprocess.STDOUT,
                pass_fds=(tel_w,),
                close_fds=True,
                start_new_session=True,
                **extra,
            )
        except BaseException:
            for fd in (out_r, tel_r):
                os.close(fd)
            self.api.close()
            raise
        finally:
            os.close(out_w)
            os.close(tel_w)
        for fd in (out_r, tel_r):
            os.set_blocking(fd, False)
        self._fds = {out_r: "out", tel_r: "tel"}
        for fd in (out_r, tel_r):
            pipe_reader().add(fd, self)

    def _runtime_version(self) -> str:
        if self._python != sys.executable and self.spec.runtime.startswith("python"):
            return f"python:{self.spec.runtime[6:]}.local"  # the declared runtime's own
        return f"python:{sys.version_info[0]}.{sys.version_info[1]}.local"

    def kill(self) -> None:
        """SIGKILL the worker (and anything it started) and release the environment."""
        if self._killed:
            return
        self._killed = True
        if self.proc is not None:
            # Read the peak before the process (and its /proc entry) is gone.
            self._last_memory = max(self._last_memory, memory.peak_rss_mb(self.proc.pid))
            kill_tree(self.proc.pid)
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=5)
            self._spawner.reaped(self.proc.pid)
        self._slot.put(None)
        self._ready.set()
        threading.Thread(target=self.api.close, daemon=True).start()
        if self.tmp_dir is not None:
            sandbox.remove_tmp(self.tmp_dir)

    # Runtime API backend ------------------------------------------------------------------
    def next_invocation(self) -> Attempt | None:
        if not self._ready.is_set():
            self.init_ms = (time.perf_counter() - self._started) * 1000
            self._ready.set()
        inv = self._slot.get()
        if inv is not None:
            inv.dispatched = time.perf_counter()
        return inv

    def invocation_result(
        self, request_id: str, body: bytes, error_type: str | None, is_error: bool
    ) -> bool:
        inv = self._current
        if inv is None or inv.request_id != request_id or inv.done.is_set():
            return False
        inv.finished = time.perf_counter()
        inv.body = body
        inv.is_error = is_error
        inv.error_type = error_type
        inv.done.set()
        return True

    def init_error(self, body: bytes, error_type: str | None) -> None:
        self.init_ms = (time.perf_counter() - self._started) * 1000
        self._init_error = (body, error_type)
        self._ready.set()

    # output -------------------------------------------------------------------------------
    def pipe_readable(self, fd: int) -> bool:
        """Called by the pipe reader: take in what `fd` has; True at its end of file."""
        with self._io_lock:
            return fd not in self._fds or self._read_fd(fd)

    def pipe_closed(self, fd: int) -> None:
        """The pipe reader is done with `fd` (unregistered): close it; the last one ends us."""
        with self._io_lock:
            if fd not in self._fds:
                return
            # Closed under the lock: drain() never reads a descriptor number reused since.
            del self._fds[fd]
            os.close(fd)
            if self._fds:
                return
            self._flush_partial()
        self._exited.set()
        self._ready.set()
        inv = self._current
        if inv is not None and not inv.done.is_set():
            inv.crashed = True
            inv.finished = time.perf_counter()
            inv.done.set()

    def _read_fd(self, fd: int) -> bool:
        """Read what is available (caller holds _io_lock); True at end of file."""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return False
            except OSError:
                return True
            if not chunk:
                return True
            if self._fds.get(fd) == "out":
                self._on_stdout(chunk)
            else:
                self._on_telemetry(chunk)

    def drain(self) -> None:
        """Take in everything the worker has written so far.

        The worker writes (unbuffered) before it posts its result, so after the result
        arrives the invocation's output is all in the pipes: END follows the last line.
        """
        with self._io_lock:
            for fd in list(self._fds):
                with contextlib.suppress(OSError):
                    self._read_fd(fd)
            self._flush_partial()

    def put(self, message: str | None) -> None:
        """A platform record into this environment's stream (None: filtered out)."""
        if message is not None:
            self.sink.put(self.spec.log_group, self.stream, message)

    def _emit(self, data: bytes, ts_ms: int | None = None) -> None:
        inv = self._current
        if self._app_filter and not self.platform.app_line_kept(data.decode("utf-8", "replace")):
            return
        for message in split_event(data):
            if inv is not None:  # drain() reads after the result: still this invocation's
                inv.lines.append(message)
            self.sink.put(self.spec.log_group, self.stream, message, ts_ms)

    def _on_stdout(self, chunk: bytes) -> None:
        for line in self._lines.feed(chunk):
            self._emit(line)

    def _flush_partial(self) -> None:
        rest = self._lines.flush()
        if rest is not None:
            self._emit(rest)

    def _on_telemetry(self, chunk: bytes) -> None:
        for message, ts_ms in self._frames.feed(chunk):
            self._emit(message, ts_ms)

    # invoking -----------------------------------------------------------------------------
    def invoke(self, inv: Attempt, timeout: float) -> Outcome:
        """Run one invocation; the environment is killed if it times out or crashes."""
        spec = self.spec
        cold = not self.used
        self.used = True
        init_ms: float | None = None
        if cold:
            # Init gets 10 s; past that AWS retries it within the invoke phase, where init
            # and handler share the function's timeout (`init_retry`: that second try).
            if not self._ready.wait(timeout if self.init_retry else INIT_TIMEOUT):
                return self._init_timed_out(inv, timeout)
            init_ms = self.init_ms
            if self._init_error is not None or not self.alive:
                return self._init_failed(inv)
            if self.init_retry:
                timeout = max(0.0, timeout - (init_ms or 0.0) / 1000)
        self._current = inv
        inv.deadline_ms = int(time.time() * 1000 + timeout * 1000)
        self.put(self.platform.start(inv.request_id))
        queued = time.perf_counter()
        self._slot.put(inv)
        pid = self.proc.pid if self.proc else None
        finished, out_of_memory = memory.wait_within(inv.done, pid, spec.memory, queued + timeout)
        if out_of_memory:
            inv.finished = time.perf_counter()
            self.kill()
        if not finished:
            inv.finished = time.perf_counter()
            self.timed_out = True
            self.kill()
        self.drain()
        self._current = None
        self.last_used = time.monotonic()
        duration = ((inv.finished or time.perf_counter()) - (inv.dispatched or queued)) * 1000
        rid = inv.request_id
        if out_of_memory:
            self._last_memory = spec.memory  # AWS reports Max Memory Used = MemorySize
            message = f"RequestId: {rid} Error: Runtime exited with error: signal: killed"
            body = _error("Runtime.OutOfMemory", message)
            return self._finish(inv, "crash", body, duration, init_ms, "Runtime.OutOfMemory")
        if not finished:
            # Lambda's own answer to a timed-out request, and its log line (older runtimes).
            text = f"Task timed out after {timeout:.2f} seconds"
            self.put(self.platform.timed_out(rid, timeout))
            body = _error("Sandbox.Timedout", f"RequestId: {rid} Error: {text}")
            return self._finish(inv, "timeout", body, duration, init_ms, None)
        if inv.crashed:
            self.kill()
            code = self.proc.returncode if self.proc else None
            message = f"RequestId: {rid} Error: Runtime exited with error: exit status {code}"
            body = _error("Runtime.ExitError", message)
            return self._finish(inv, "crash", body, duration, init_ms, "Runtime.ExitError")
        status = "error" if inv.is_error else "success"
        return self._finish(inv, status, inv.body, duration, init_ms, None)

    def _init_timed_out(self, inv: Attempt, timeout: float) -> Outcome:
        self.kill()
        elapsed_ms = (time.perf_counter() - self._started) * 1000
        if not self.init_retry:
            self.put(self.platform.init_report(elapsed_ms, "init", "timeout", None))
            return Outcome("init_timeout", b"", None, 0.0, None, "")  # the engine retries
        message = f"RequestId: {inv.request_id} Error: Task timed out after {timeout:.2f} seconds"
        body = _error("Sandbox.Timedout", message)
        return self._finish(inv, "timeout", body, elapsed_ms, None, None)

    def _init_failed(self, inv: Attempt) -> Outcome:
        body, error_type = self._init_error or (b"", None)
        with contextlib.suppress(ValueError, AttributeError):
            error_type = str(json.loads(body).get("errorType") or error_type)
        error_type = error_type or "Runtime.Unknown"
        init_ms = self.init_ms or 0.0
        self.drain()
        self.put(self.platform.start(inv.request_id))
        self.put(self.platform.init_report(init_ms, "invoke", "error", error_type))
        self.kill()
        if not body:
            body = json.dumps(
                {"errorType": error_type, "errorMessage": "the runtime failed to start"}
            ).encode()
        return self._finish(inv, "init_error", body, 0.0, None, error_type)

    def _finish(
        self,
        inv: Attempt,
        status: str,
        body: bytes | None,
        duration_ms: float,
        init_ms: float | None,
        error_type: str | None,
    ) -> Outcome:
        used = memory.peak_rss_mb(self.proc.pid) if self.proc and self.alive else 0
        if not used:
            used = self._last_memory
        self._last_memory = used
        report_status = {"timeout": "timeout", "crash": "error", "init_error": "error"}.get(status)
        platform = self.platform
        report = platform.report(
            inv.request_id,
            duration_ms,
            used,
            init_ms=init_ms,
            status=report_status,
            error_type=error_type if report_status == "error" else None,
        )
        end = platform.end(inv.request_id, _DONE_STATUS.get(status, "error"), duration_ms)
        self.put(end)
        self.put(report)
        start = platform.start(inv.request_id)
        parts = [start, *inv.lines, end, report]
        text = "\n".join(p for p in parts if p is not None) + "\n"
        return Outcome(status, body or b"", error_type, duration_ms, init_ms, text)

    _last_memory = 0
