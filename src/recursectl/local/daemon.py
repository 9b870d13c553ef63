"""Start, stop and inspect the background local cloud (one per port).

The daemon is `python -m recursectl.local.daemon --port N`, started in its own session with
its output in the state directory. It answers /_recursectl/health, so a second start finds
it and reuses it, and a port held by some other program is reported as such.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recursectl.errors import EXIT_AWS, RecursectlError

SERVICE_ID = "recursectl-local"
_TOKEN = re.compile(
    r"[A-Za-z0-9_-]{16,256}"
)  # guard.new_token: token_urlsafe(32)  # what /_recursectl/health says (server.SERVICE_ID)
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
MEMORY_NOTE = "State is in memory and lasts while the local cloud runs."
STATE_NOTE = "State is kept in {path} (`recursectl local reset` empties it)."
PERSIST_ENV = "RECURSECTL_LOCAL_PERSIST"  # 0/off/false: state in memory only


class LocalCloudError(RecursectlError):
    """The local cloud could not be started, reached or stopped."""

    exit_code = EXIT_AWS


def state_dir() -> Path:
    """RECURSECTL_STATE_DIR, else $XDG_STATE_HOME/recursectl, else ~/.local/state/recursectl."""
    explicit = os.environ.get("RECURSECTL_STATE_DIR")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        path = Path(base) / "recursectl"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def endpoint_for(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def pid_file(port: int) -> Path:
    return state_dir() / f"local-{port}.pid"


def log_file(port: int) -> Path:
    return state_dir() / f"local-{port}.log"


def token_file(port: int) -> Path:
    """The control token of the local cloud on `port` (mode 0600: only this user reads it)."""
    return state_dir() / f"local-{port}.token"


def store_file(port: int) -> Path:
    """The persistent state of the local cloud on `port` (SQLite, WAL)."""
    return state_dir() / f"local-{port}.sqlite3"


def persistent() -> bool:
    return os.environ.get(PERSIST_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def state_note(port: int) -> str:
    return STATE_NOTE.format(path=store_file(port)) if persistent() else MEMORY_NOTE


def reset_store(port: int) -> list[Path]:
    """Delete the state file of `port` (with its WAL and shared-memory files); the files
    removed. The local cloud must not be running."""
    if probe(port) is not None:
        raise LocalCloudError(
            f"The local cloud on port {port} is running: its state cannot be deleted under it.",
            hint="`recursectl local stop` first, or `recursectl local start --fresh`",
        )
    removed = []
    base = store_file(port)
    for path in (base, Path(f"{base}-wal"), Path(f"{base}-shm")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def write_token(port: int, token: str) -> None:
    path = token_file(port)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a new file, so the mode below is the one it gets
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(token + "\n")


def read_token(port: int) -> str:
    """The token, or "" when there is none or it is not a token (requests then get 403,
    which `_request` explains)."""
    try:
        raw = token_file(port).read_bytes().strip()
    except OSError:
        return ""
    text = raw.decode("ascii", "replace")
    return text if _TOKEN.fullmatch(text) else ""


def control_headers(port: int) -> dict[str, str]:
    """Headers for a request to the control endpoints (/_recursectl/, /moto-api/)."""
    return {"X-Recursectl-Token": read_token(port)}


def _request(port: int, path: str, method: str = "GET", timeout: float = 2.0) -> Any:
    request = urllib.request.Request(
        f"{endpoint_for(port)}/_recursectl/{path}",
        method=method,
        data=b"" if method == "POST" else None,
        headers=control_headers(port) if path != "health" else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code == 403 and path != "health":
            raise _token_refused(port) from None
        raise


def _token_refused(port: int) -> LocalCloudError:
    path = token_file(port)
    if not read_token(port):
        why = "is missing, empty or garbled" if path.exists() else "is missing"
    else:
        why = "does not match the running local cloud's (the file was changed after it started)"
    return LocalCloudError(
        f"The local cloud on port {port} refused the control token: {path} {why}.",
        hint="`recursectl local stop` stops it all the same (by its pid; its state is kept) "
        "and `recursectl local start` writes a new token",
    )


def probe(port: int) -> dict[str, Any] | None:
    """The health record of our local cloud on `port`; None if nothing listens there.

    Raises LocalCloudError when something else holds the port.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            pass
    except OSError:
        return None
    try:
        info = _request(port, "health")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _port_taken(port, f"it does not answer as the local cloud ({exc})") from None
    if not isinstance(info, dict) or info.get("service") != SERVICE_ID:
        raise _port_taken(port, "it answers, but not as the recursectl local cloud")
    return info


def _port_taken(port: int, why: str) -> LocalCloudError:
    return LocalCloudError(
        f"Port {port} on 127.0.0.1 is in use by another program: {why}.",
        hint=f"stop that program, or pick another port: --port N or RECURSECTL_LOCAL_PORT "
        f"(e.g. `recursectl local start --port {port + 1}`)",
    )


def ensure_running(port: int, on_start: Callable[[str], None] | None = None) -> str:
    """Return the endpoint of the local cloud on `port`, starting it in the background if needed."""
    endpoint, started, _ = start(port)
    if started and on_start is not None:
        on_start(f"Started the local cloud at {endpoint}. {state_note(port)}")
    return endpoint


def start(port: int, extra_args: list[str] | None = None) -> tuple[str, bool, int]:
    """(endpoint, whether it was started now, daemon pid); reuses a running local cloud."""
    info = probe(port)
    if info is not None:
        return endpoint_for(port), False, int(info.get("pid", 0))
    if persistent():
        from recursectl.local.store import check

        check(store_file(port))  # a damaged or newer store, a full disk: said here
    log_path = log_file(port)
    _check_space(log_path)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "recursectl.local.daemon", "--port", str(port)]
            + (extra_args or []),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no Ctrl-C from this terminal reaches it
            close_fds=True,
        )
    # Reap it when it exits, should this process still be around (tests, long sessions).
    threading.Thread(target=proc.wait, name="local-cloud-reaper", daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _check_space(log_path)  # a log the full disk kept empty says nothing
            raise LocalCloudError(
                f"The local cloud exited while starting (exit code {proc.returncode}): "
                f"{_tail(log_path)}",
                hint=f"full log: {log_path}",
            )
        try:
            info = probe(port)
        except LocalCloudError:
            info = None  # still binding; the pid check above catches real failures
        if info is not None and int(info.get("pid", -1)) == proc.pid:
            return endpoint_for(port), True, proc.pid
        if info is not None:  # someone else's local cloud won a race for the port
            return endpoint_for(port), False, int(info.get("pid", 0))
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    raise LocalCloudError(
        f"The local cloud did not become healthy within {START_TIMEOUT:.0f} s.",
        hint=f"see {log_path}",
    )


def _check_space(path: Path, needed: int = 1 << 20) -> None:
    """A clear error when the state folder's disk is full (the daemon could then write
    neither its token nor its log: "exited while starting: (empty log)")."""
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return
    if stat.f_bavail * stat.f_frsize < needed:
        raise LocalCloudError(
            f"The disk holding {path.parent} is full "
            f"({stat.f_bavail * stat.f_frsize // 1024} KB free): the local cloud cannot "
            "write its token, log and state there.",
            hint="free some space, or point RECURSECTL_STATE_DIR at a folder on another disk",
        )


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is gone for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def stop(port: int) -> int | None:
    """Stop the local cloud on `port` and every worker it runs; the pid it had, or None."""
    info = probe(port)
    if info is None:
        return None
    pid = int(info.get("pid", 0))
    try:
        _request(port, "shutdown", method="POST")
    except (LocalCloudError, urllib.error.URLError, OSError, ValueError):
        # No token (or not its token): the pid from /health, SIGTERM, the same clean stop.
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid and _alive(pid):
        # It did not stop by itself: SIGKILL it; its workers die with it (PDEATHSIG).
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        pid_file(port).unlink()
    with contextlib.suppress(OSError):
        token_file(port).unlink()
    return pid


def status(port: int) -> dict[str, Any] | None:
    """The local cloud's status document, or None when it is not running."""
    if probe(port) is None:
        return None
    result = _request(port, "status", timeout=10.0)
    return result if isinstance(result, dict) else None


# C901 (listed in pyproject.toml): the daemon's start-up sequence, each step with its own
# clean-up.
def serve(  # noqa: C901
    port: int,
    *,
    function_concurrency: int | None = None,
    total_concurrency: int | None = None,
    idle_timeout: float | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the local cloud in this process until SIGTERM, SIGINT or /_recursectl/shutdown."""
    from recursectl.local.config import Limits
    from recursectl.local.frontdoor.server import make_server
    from recursectl.local.store import Store
    from recursectl.local.worker.spawn import become_subreaper

    limits = Limits()
    if function_concurrency is not None:
        limits.function_concurrency = function_concurrency
    if total_concurrency is not None:
        limits.total_concurrency = total_concurrency
    if idle_timeout is not None:
        limits.idle_timeout = idle_timeout
    if probe(port) is not None:
        raise LocalCloudError(
            f"The local cloud is already running on port {port}.",
            hint="`recursectl local stop` stops it",
        )
    _raise_file_limit()
    store = Store(store_file(port)) if persistent() else None
    try:
        # Orphans of a handler's processes come to this process, which kills them.
        server = make_server(port, limits=limits, reap_orphans=become_subreaper(), store=store)
    except OSError as exc:
        if store is not None:
            store.close()
        if exc.errno == errno.EADDRINUSE:
            raise _port_taken(port, "the address is already in use") from None
        raise
    write_token(port, server.door.token)
    stopping = threading.Event()

    def shutdown() -> None:
        if not stopping.is_set():
            stopping.set()
            server.shutdown()

    server.door.on_shutdown = shutdown
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        # server.shutdown() waits for serve_forever, which runs in this (main) thread.
        signal.signal(sig, lambda *_: threading.Thread(target=shutdown, daemon=True).start())
    pid_file(port).write_text(f"{os.getpid()}\n", encoding="ascii")
    try:
        if on_ready is not None:
            on_ready(server.endpoint)
        server.serve_forever()
    finally:
        server.server_close()
        server.door.close()
        with contextlib.suppress(OSError):
            if pid_file(port).read_text(encoding="ascii").strip() == str(os.getpid()):
                pid_file(port).unlink()
                if read_token(port) == server.door.token:
                    token_file(port).unlink()


def _raise_file_limit(want: int = 65536) -> None:
    """Raise this process's open-file limit towards its hard limit: each connection waiting
    for its first byte holds a file (desktop Linux gives 1,024 by default, which a port
    scanner or a leaking handler reaches)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def configure_logging() -> None:
    """The local cloud's own messages, timestamped, on stderr (the daemon's log file)."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m recursectl.local.daemon")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--total-concurrency", type=int)
    parser.add_argument("--idle-timeout", type=float)
    args = parser.parse_args(argv)
    configure_logging()
    log = logging.getLogger("recursectl.local.daemon")
    try:
        serve(
            args.port,
            function_concurrency=args.concurrency,
            total_concurrency=args.total_concurrency,
            idle_timeout=args.idle_timeout,
            on_ready=lambda url: log.info("recursectl local cloud listening on %s", url),
        )
    except RecursectlError as exc:
        log.error("%s (hint: %s)", exc.message, exc.hint)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
