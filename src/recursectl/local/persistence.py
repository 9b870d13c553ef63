"""Between the front door and its store: rebuild the state at start, keep it on writes.

Order at start: the code zips, the front door's own settings (recursion config, reserved
concurrency, LoggingConfig, DeadLetterConfig), then moto's journal replayed request by
request into the fresh moto, and only then the journal hook is set (a replayed request is not
journaled twice). The queued events are resumed once the port is known (`FrontDoor.bound`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from recursectl.local.http11 import Streamed
from recursectl.local.motowire import Response
from recursectl.local.store import Store

if TYPE_CHECKING:
    from recursectl.local.engine import Engine
    from recursectl.local.server import FrontDoor

log = logging.getLogger(__name__)

# The front door's own maps, by the key they are stored under.
_MAPS = ("recursion", "reserved", "logging", "dead_letters")


def restore(door: FrontDoor, store: Store) -> dict[str, int]:
    """Load `store` into a fresh front door; returns what was restored (for status)."""
    started = time.monotonic()
    # moto's backends are module globals: in a process that ran another front door (tests,
    # the benchmarks), start from moto's empty state so the replay rebuilds it exactly.
    door.moto.call("POST", "/moto-api/reset", "", {}, b"")
    codes = 0
    for zipped in store.codes():
        door.code.add(zipped)
        codes += 1
    _load_settings(door.engine, store.settings())
    replayed = failed = 0
    moto = door.moto
    for method, path, query, headers, body in store.journal():
        status, _, reply = moto.call(method, path, query, headers, body)
        replayed += 1
        if status >= 300:
            # Accepted once, refused now: a different moto version, or a request whose
            # answer depended on time. Say which; keep going (the rest is still worth having).
            failed += 1
            log.warning(
                "replaying %s %s was refused (%s): %s",
                method,
                path,
                status,
                reply[:200].decode("utf-8", "replace"),
            )
    moto.journal = store.append
    door.code.on_add = store.put_code
    door.sink.on_written = store.delete_events
    door.engine.store = store
    elapsed = time.monotonic() - started
    log.info(
        "state restored from %s: %d journaled requests (%d refused), %d code zips, in %.2f s",
        store.path,
        replayed,
        failed,
        codes,
        elapsed,
    )
    return {"requests": replayed, "refused": failed, "code_zips": codes, "ms": int(elapsed * 1000)}


def _load_settings(engine: Engine, values: dict[str, Any]) -> None:
    with engine._lock:
        for key in _MAPS:
            saved = values.get(key)
            if isinstance(saved, dict):
                target: dict[str, Any] = getattr(engine, key)
                target.clear()  # in place: the config cache holds these very dicts
                target.update(saved)


def save_settings(engine: Engine, store: Store) -> None:
    """Write the front door's maps (small: a few entries per function) in one commit."""
    with engine._lock:
        values = {key: dict(getattr(engine, key)) for key in _MAPS}
    store.put_settings(values)


def lambda_write(method: str, path: str, answer: Response | Streamed) -> bool:
    """A Lambda control-plane write that succeeded (Invoke is not one: its effects, queued
    events and log lines, are stored on their own)."""
    if method in ("GET", "HEAD") or isinstance(answer, Streamed):
        return False
    return answer[0] < 300 and "/invocations" not in path
