"""Between the front door and its store: rebuild the state at start, keep it on writes.

Order at start: the code zips, the front door's own settings (recursion config, reserved
concurrency, LoggingConfig, DeadLetterConfig), then moto's journal replayed request by
request into the fresh moto, and only then the journal hook is set (a replayed request is not
journaled twice). The queued events are resumed once the port is known (`FrontDoor.bound`).
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from recursectl.local.frontdoor.http11 import Streamed
from recursectl.local.motowire import Response
from recursectl.local.store import Store, store_error

if TYPE_CHECKING:
    from recursectl.local.engine.executor import Engine
    from recursectl.local.frontdoor.server import FrontDoor

log = logging.getLogger(__name__)

# The front door's own maps, by the key they are stored under.
_MAPS = ("recursion", "reserved", "logging", "dead_letters")


def restore(door: FrontDoor, store: Store) -> dict[str, int]:
    """Load `store` into a fresh front door; returns what was restored (for status).
    A file that fails while it is read is a StoreError naming it (never a traceback)."""
    try:
        return _restore(door, store)
    except sqlite3.DatabaseError as exc:
        raise store_error(store.path, f"could not be read ({exc})") from None


def _restore(door: FrontDoor, store: Store) -> dict[str, int]:
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
    with ReplayClock() as clock:
        for entry in store.journal():
            clock.at = entry.at
            status, _, reply = moto.call(
                entry.method, entry.path, entry.query, entry.headers, entry.body
            )
            replayed += 1
            if status >= 300:
                # Accepted once, refused now: a different moto version, or a request whose
                # answer depended on time. Say which; go on (the rest is worth having).
                failed += 1
                log.warning(
                    "replaying %s %s was refused (%s): %s",
                    entry.method,
                    entry.path,
                    status,
                    reply[:200].decode("utf-8", "replace"),
                )
    moto.journal = store.append
    door.counter.journal = store.append_later
    door.code.on_add = store.put_code
    door.sink.on_written = store.delete_events
    door.sink.batch = store.deferred
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


class ReplayClock:
    """moto's clock (`moto.core.utils.utcnow`) reads the time each journaled request was
    first accepted while the journal is replayed: log events keep their ingestionTime (the
    log poller sizes its look-back window from it), functions their LastModified, groups
    and roles their creation dates, and the 14-day limit on PutLogEvents counts from then.

    moto's modules bind `utcnow` by name at import: those already imported are patched, and
    those imported during the replay bind the patched function; all are put back after."""

    def __init__(self) -> None:
        self.at = time.time()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.at, tz=timezone.utc).replace(tzinfo=None)

    def __enter__(self) -> ReplayClock:
        from moto.core import utils

        self._real = utils.utcnow
        self._swap(self._real, self.now)
        return self

    def __exit__(self, *exc: object) -> None:
        self._swap(self.now, self._real)

    def _swap(self, old: object, new: object) -> None:
        for name, module in list(sys.modules.items()):
            if (name == "moto" or name.startswith("moto.")) and (
                getattr(module, "utcnow", None) == old
            ):
                module.utcnow = new  # type: ignore[attr-defined]


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
