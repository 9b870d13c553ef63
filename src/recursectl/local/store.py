"""The local cloud's persistent state: one SQLite file (WAL) in the state folder.

moto keeps its state in Python objects and has no persistence of its own (its "recorder"
appends every request, reads included, to a file without fsync and replays it over HTTP to
the recorded host). So the store keeps, durably before the API answers:

- `journal`: every state-changing request moto accepted (2xx), in the order moto applied
  it, whoever sent it (a client, a handler, the log writer's PutLogEvents, a destination's
  SendMessage). Replaying it into a fresh moto at start rebuilds moto's state.
- `events`: the async queue (payload, attempts, first-enqueue time, next-attempt time),
  written before the 202 and deleted when the event has ended and its log lines are written.
- `code`: the deployment packages the front door captured (moto keeps only their hash).
- `kv`: what the front door keeps beside moto (recursion config, reserved concurrency,
  LoggingConfig, DeadLetterConfig), as a few small JSON documents.

Durability: WAL, and `synchronous=FULL` for every commit an answer depends on (each is
fsync'ed before the request that made it is answered: NORMAL would survive a killed process
but not a power cut, and an Event invoke answered 202 must never be lost); the log writer's
batches and ended events' deletion commit with NORMAL (see `Store`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recursectl.errors import EXIT_AWS, RecursectlError

FORMAT = 1  # PRAGMA user_version of the files this version writes and reads
_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY, at REAL NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
    query TEXT NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    request_id TEXT PRIMARY KEY, name TEXT NOT NULL, qualifier TEXT, payload BLOB NOT NULL,
    trace TEXT NOT NULL, invoked_arn TEXT NOT NULL, enqueued REAL NOT NULL,
    attempts INTEGER NOT NULL, runs INTEGER NOT NULL, next_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS code (sha TEXT PRIMARY KEY, zip BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_INSERT_JOURNAL = (
    "INSERT INTO journal (seq, at, method, path, query, headers, body) VALUES (?,?,?,?,?,?,?)"
)
_PROBES = (
    "SELECT seq, at, method, path, query, headers, body FROM journal LIMIT 0",
    "SELECT request_id, name, qualifier, payload, trace, invoked_arn, enqueued, attempts, "
    "runs, next_at FROM events LIMIT 0",
    "SELECT sha, zip FROM code LIMIT 0",
    "SELECT key, value FROM kv LIMIT 0",
)
# Operations that change nothing (or only what dies with the process): not journaled.
_READS = re.compile(
    r"^(Get|List|Describe|Filter|Head|Lookup|Query|Scan|BatchGet|Search|Simulate|Test|"
    r"Validate|StartLiveTail)"
)
_ACTION = re.compile(rb"(?:^|&)Action=([A-Za-z0-9]+)")
# STS sessions belong to execution environments, which die with the process.
_EPHEMERAL_SERVICES = frozenset({"sts"})
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]*/([^/,\s]+)/aws4_request")


class StoreError(RecursectlError):
    """The state file cannot be used (corrupted, from a newer version, unwritable)."""

    exit_code = EXIT_AWS


_RESET_HINT = (
    "`recursectl local reset` deletes it and starts empty (functions, roles, logs and "
    "queued events are lost); move the file aside first to keep a copy"
)
_FULL_HINT = (
    "free some space on that disk (the state is kept), or point RECURSECTL_STATE_DIR at a "
    "folder on another disk"
)


def store_error(path: Path, why: str, hint: str = _RESET_HINT) -> StoreError:
    return StoreError(f"The local cloud's state file {path} {why}.", hint=hint)


def mutates(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether moto's answer to this request may have changed its state (worth journaling)."""
    if path.startswith("/moto-api/"):
        return False
    scope = _SCOPE.search(headers.get("authorization") or headers.get("Authorization") or "")
    if scope and scope.group(1) in _EPHEMERAL_SERVICES:
        return False
    target = headers.get("x-amz-target") or headers.get("X-Amz-Target")
    if target:
        return not _READS.match(target.rpartition(".")[2])
    found = _ACTION.search(body) or _ACTION.search(query.encode())
    if found:
        return not _READS.match(found.group(1).decode())
    return method not in ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Entry:
    """One journaled request and when moto accepted it (wall-clock seconds)."""

    at: float
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StoredEvent:
    request_id: str
    name: str
    qualifier: str | None
    payload: bytes
    trace: str
    invoked_arn: str
    enqueued: float  # wall-clock seconds of the first enqueue
    attempts: int
    runs: int
    next_at: float  # wall-clock seconds; 0: as soon as there is room


class Store:
    """The store's two SQLite connections to one file, shared by the local cloud's threads.

    `_db` commits with synchronous=FULL (fsync'ed before the request is answered): the
    journal rows of API requests, new and retried events, code, settings. `_lazy` commits
    with NORMAL (no fsync of its own): the log writer's batches of journal rows and the
    deletion of ended events. WAL frames reach the disk in order, so a lazy commit is on the
    disk once any later FULL commit is, and a SIGKILL loses none of them (they are in the
    OS's cache); only a power cut may lose the last lazy ones, and then the events they
    ended run again, which re-writes their logs.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # the FULL connection
        self._seq_lock = threading.Lock()
        # Group commit: writers queue their rows; one of them (the leader) commits every
        # queued row in one FULL transaction while the others wait for it (`_durable`).
        self._group = threading.Condition(threading.Lock())
        self._queue: list[_Commit] = []
        self._committing = False
        self.full_commits = 0  # FULL transactions made (each one fsync); for benchmarks
        self._local = threading.local()
        self._db = _open(path)
        self._lazy = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=10
        )
        self._lazy.execute("PRAGMA synchronous=NORMAL")
        self._lazy_lock = threading.Lock()
        last = self._db.execute("SELECT max(seq) FROM journal").fetchone()[0]
        self._next_seq = int(last or 0) + 1  # moto's order, given out under moto's lock

    # journal ----------------------------------------------------------------------------
    def append(
        self, at: float, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> None:
        """Journal one request moto accepted (called under moto's lock, so `seq` is moto's
        order even when a log batch's rows are written after a later request's)."""
        batch: list[tuple[Any, ...]] | None = getattr(self._local, "batch", None)
        if batch is not None:
            batch.append((self._seq(), at, method, path, query, json.dumps(headers), body))
            return
        self.append_later(at, method, path, query, headers, body)()

    def append_later(
        self, at: float, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Callable[[], None]:
        """Journal one request; returns the wait for its row to be durable (FULL), to be
        called before the request is answered. The caller orders its calls (moto's lock, or
        the counter's): rows get their `seq` in that order."""
        with self._group:
            row = (self._seq(), at, method, path, query, json.dumps(headers), body)
            ticket = self._enqueue([(_INSERT_JOURNAL, row)])
        return lambda: self._durable(ticket)

    def _seq(self) -> int:
        with self._seq_lock:
            seq = self._next_seq
            self._next_seq += 1
        return seq

    # group commit -----------------------------------------------------------------------
    def _enqueue(self, statements: list[tuple[str, tuple[Any, ...]]]) -> _Commit:
        """Queue rows for the next FULL commit (caller holds `_group`)."""
        ticket = _Commit(statements)
        self._queue.append(ticket)
        return ticket

    def _commit_full(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """These statements, committed with FULL before this returns (grouped with
        whatever other threads commit at the same time: one fsync for all of them)."""
        with self._group:
            ticket = self._enqueue(statements)
        self._durable(ticket)

    def _durable(self, ticket: _Commit) -> None:
        """Wait until `ticket`'s rows are committed (FULL). The first waiter that finds no
        commit running commits everything queued so far; the rest wait for it. On this
        machine a FULL commit takes 3-4 ms, so the Event invokes accepted meanwhile share
        the next one instead of queueing one fsync each behind the store's lock."""
        with self._group:
            while not ticket.done:
                if not self._committing:
                    self._committing = True
                    batch, self._queue = self._queue, []
                    break
                self._group.wait()
            else:
                if ticket.error is not None:
                    raise ticket.error
                return
        error: BaseException | None = None
        try:
            with self._lock, self._tx() as db:
                for commit in batch:
                    for sql, params in commit.statements:
                        db.execute(sql, params)
                self.full_commits += 1
        except BaseException as exc:
            error = exc
        with self._group:
            for commit in batch:
                commit.done, commit.error = True, error
            self._committing = False
            self._group.notify_all()
        if ticket.error is not None:
            raise ticket.error

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction on the FULL connection (caller holds the lock)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """This thread's journal rows are written together at the end of the block, in one
        lazy commit (the log writer's batch: no fsync per stream, no write lock held while
        moto works)."""
        self._local.batch = []
        try:
            yield
        finally:
            rows, self._local.batch = self._local.batch, None
            if rows:
                with self._lazy_lock:
                    self._lazy.execute("BEGIN IMMEDIATE")
                    try:
                        self._lazy.executemany(_INSERT_JOURNAL, rows)
                    except BaseException:
                        self._lazy.execute("ROLLBACK")
                        raise
                    self._lazy.execute("COMMIT")

    def journal(self) -> Iterator[Entry]:
        """The journaled requests in the order moto applied them."""
        last = 0
        while True:  # in pages: a long journal is never held in memory at once
            with self._lock:
                rows = self._db.execute(
                    "SELECT seq, at, method, path, query, headers, body FROM journal "
                    "WHERE seq > ? ORDER BY seq LIMIT 500",
                    (last,),
                ).fetchall()
            if not rows:
                return
            for seq, at, method, path, query, headers, body in rows:
                last = seq
                yield Entry(at, method, path, query, json.loads(headers), bytes(body))

    def journal_size(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM journal").fetchone()[0])

    # async events -----------------------------------------------------------------------
    def put_event(self, event: StoredEvent) -> None:
        """A new event, durable (FULL) when this returns: its 202 may be answered."""
        self._commit_full(
            [
                (
                    "INSERT OR REPLACE INTO events VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        event.request_id,
                        event.name,
                        event.qualifier,
                        event.payload,
                        event.trace,
                        event.invoked_arn,
                        event.enqueued,
                        event.attempts,
                        event.runs,
                        event.next_at,
                    ),
                )
            ]
        )

    def retry_event(self, request_id: str, attempts: int, runs: int, next_at: float) -> None:
        self._commit_full(
            [
                (
                    "UPDATE events SET attempts=?, runs=?, next_at=? WHERE request_id=?",
                    (attempts, runs, next_at, request_id),
                )
            ]
        )

    def delete_events(self, request_ids: list[str]) -> None:
        """Ended events leave (one lazy commit: see the class)."""
        if not request_ids:
            return
        with self._lazy_lock:
            self._lazy.execute("BEGIN IMMEDIATE")
            try:
                self._lazy.executemany(
                    "DELETE FROM events WHERE request_id=?", [(r,) for r in request_ids]
                )
            except BaseException:
                self._lazy.execute("ROLLBACK")
                raise
            self._lazy.execute("COMMIT")

    def events(self) -> list[StoredEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT request_id, name, qualifier, payload, trace, invoked_arn, enqueued, "
                "attempts, runs, next_at FROM events ORDER BY enqueued"
            ).fetchall()
        return [
            StoredEvent(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6], r[7], r[8], r[9])
            for r in rows
        ]

    # code and the front door's own settings ---------------------------------------------
    def put_code(self, sha: str, zip_bytes: bytes) -> None:
        with self._lock, self._tx() as db:
            db.execute("INSERT OR IGNORE INTO code VALUES (?,?)", (sha, zip_bytes))

    def codes(self) -> Iterator[bytes]:
        with self._lock:
            shas = [r[0] for r in self._db.execute("SELECT sha FROM code").fetchall()]
        for sha in shas:
            with self._lock:
                row = self._db.execute("SELECT zip FROM code WHERE sha=?", (sha,)).fetchone()
            if row is not None:
                yield bytes(row[0])

    def put_settings(self, values: dict[str, Any]) -> None:
        with self._lock, self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO kv VALUES (?,?)",
                [(k, json.dumps(v, sort_keys=True)) for k, v in values.items()],
            )

    def settings(self) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM kv").fetchall()
        return {k: json.loads(v) for k, v in rows}

    # the whole file ---------------------------------------------------------------------
    def clear(self) -> None:
        """Forget everything (moto-api reset): an empty store, as after `local reset`."""
        with self._lock, self._tx() as db:
            for table in ("journal", "events", "code", "kv"):
                db.execute(f"DELETE FROM {table}")  # fixed names

    def backup(self, dest: Path) -> None:
        """A consistent copy of the whole store at `dest` (SQLite's online backup)."""
        with self._lock, contextlib.closing(sqlite3.connect(dest)) as target:
            self._db.backup(target)

    def close(self) -> None:
        with self._lock, self._lazy_lock:
            self._lazy.close()
            self._db.close()


class _Commit:
    """Rows waiting for a group commit, and how it went."""

    __slots__ = ("done", "error", "statements")

    def __init__(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        self.statements = statements
        self.done = False
        self.error: BaseException | None = None


def _open(path: Path) -> sqlite3.Connection:
    """Open (or create) the file and check it is ours and of a format this version reads."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # mode 0600 from the start
        os.close(fd)
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    except sqlite3.DatabaseError as exc:
        raise _db_error(path, exc) from None
    try:
        _check_format(path, db)
    except StoreError:
        db.close()
        raise
    except sqlite3.DatabaseError as exc:
        db.close()
        raise _db_error(path, exc) from None
    return db


def _check_format(path: Path, db: sqlite3.Connection) -> None:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > FORMAT:
        raise store_error(
            path,
            f"was written by a newer recursectl (format {version}; this one reads {FORMAT})",
        )
    ok = db.execute("PRAGMA quick_check").fetchone()[0]
    if ok != "ok":
        raise store_error(path, f"is damaged (SQLite: {ok})")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    if version == 0:
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise store_error(path, "is an SQLite file, but not the local cloud's")
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version={FORMAT}")
    for probe in _PROBES:  # every table and column this version reads is there
        db.execute(probe)


def _os_error(path: Path, exc: OSError) -> StoreError:
    if exc.errno == errno.ENOSPC:
        return store_error(path, "cannot be written: the disk is full", _FULL_HINT)
    return store_error(path, f"cannot be opened ({exc.strerror or exc})")


def _db_error(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    if "full" in str(exc).lower():
        return store_error(path, f"cannot be written: the disk is full ({exc})", _FULL_HINT)
    return store_error(path, f"is not a readable local-cloud store ({exc})")


def check(path: Path) -> None:
    """Open (create) `path` and raise StoreError if this version cannot use it: for `local
    start`, before the daemon is spawned, so a damaged file or a full disk reaches the
    terminal instead of a log that cannot be written either."""
    _open(path).close()


def wall_from_monotonic(mono: float) -> float:
    return time.time() - (time.monotonic() - mono)


def monotonic_from_wall(wall: float) -> float:
    return time.monotonic() - (time.time() - wall)
