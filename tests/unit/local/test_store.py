"""The local cloud's store: what is journaled, and the file's checks (a real SQLite file)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from recursectl.local import store as store_mod
from recursectl.local.store import Store, StoredEvent, StoreError, mutates


def _signed(service: str) -> dict[str, str]:
    return {
        "authorization": f"AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/{service}/"
        "aws4_request, SignedHeaders=host, Signature=0"
    }


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "body", "expected"),
    [
        ("POST", "/2015-03-31/functions", "", _signed("lambda"), b"{}", True),
        ("GET", "/2015-03-31/functions/f", "", _signed("lambda"), b"", False),
        ("DELETE", "/2015-03-31/functions/f", "", _signed("lambda"), b"", True),
        ("POST", "/", "", {**_signed("logs"), "x-amz-target": "Logs_20140328.PutLogEvents"},
         b"{}", True),
        ("POST", "/", "", {**_signed("logs"), "x-amz-target": "Logs_20140328.FilterLogEvents"},
         b"{}", False),
        ("POST", "/", "", _signed("iam"), b"Action=CreateRole&RoleName=r", True),
        ("POST", "/", "", _signed("iam"), b"Action=GetRole&RoleName=r", False),
        ("POST", "/", "Action=ListRoles", _signed("iam"), b"", False),
        # STS sessions die with the process: never journaled
        ("POST", "/", "", _signed("sts"), b"Action=AssumeRole&RoleArn=x", False),
        ("POST", "/moto-api/reset", "", {}, b"", False),
        ("PUT", "/bucket/key", "", _signed("s3"), b"data", True),
        ("HEAD", "/bucket/key", "", _signed("s3"), b"", False),
    ],
)  # fmt: skip
def test_what_is_journaled(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes, expected: bool
) -> None:
    assert mutates(method, path, query, headers, body) is expected


def test_journal_events_code_and_settings_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "local.sqlite3"
    db = Store(path)
    db.append(time.time(), "POST", "/a", "", {"h": "1"}, b"one")
    db.append(time.time(), "PUT", "/b", "q=1", {}, b"two")
    event = StoredEvent("r1", "fn", None, b"{}", "Root=1", "arn:fn", 1000.0, 0, 0, 0.0)
    db.put_event(event)
    db.put_event(StoredEvent("r2", "fn", "2", b"{}", "Root=2", "arn:fn:2", 1001.0, 0, 0, 0.0))
    db.retry_event("r1", 1, 1, 2000.0)
    db.delete_events(["r2"])
    db.put_code("sha", b"zip")
    db.put_settings({"recursion": {"fn": "Allow"}})
    db.close()
    assert path.stat().st_mode & 0o777 == 0o600

    again = Store(path)
    entries = list(again.journal())
    assert [(e.method, e.path, e.query, e.headers, e.body) for e in entries] == [
        ("POST", "/a", "", {"h": "1"}, b"one"),
        ("PUT", "/b", "q=1", {}, b"two"),
    ]
    assert 0 < time.time() - entries[0].at < 60
    assert entries[0].at <= entries[1].at
    [kept] = again.events()
    assert (kept.request_id, kept.attempts, kept.runs, kept.next_at) == ("r1", 1, 1, 2000.0)
    assert list(again.codes()) == [b"zip"]
    assert again.settings() == {"recursion": {"fn": "Allow"}}
    again.clear()
    assert (list(again.journal()), again.events(), again.settings()) == ([], [], {})
    again.close()


def test_a_file_that_is_not_a_store_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "local.sqlite3"
    path.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(StoreError) as caught:
        store_mod.check(path)
    assert str(path) in caught.value.message
    assert "local reset" in (caught.value.hint or "")
    assert path.read_bytes() == b"\x00garbage" * 1000


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "local.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={store_mod.FORMAT + 1}")
    with pytest.raises(StoreError, match="newer recursectl"):
        Store(path)


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "local.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE theirs (x)")
    with pytest.raises(StoreError, match="not the local cloud's"):
        Store(path)


def test_a_store_missing_a_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "local.sqlite3"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE journal RENAME COLUMN at TO moment")
    with pytest.raises(StoreError, match="not a readable local-cloud store"):
        store_mod.check(path)


def test_a_full_disk_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store_mod.sqlite3, "connect", full)  # simulated ENOSPC
    with pytest.raises(StoreError, match="the disk is full"):
        Store(tmp_path / "local.sqlite3")


def test_a_log_batch_keeps_moto_order_and_never_delays_another_write(tmp_path: Path) -> None:
    path = tmp_path / "local.sqlite3"
    db = Store(path)

    def committed() -> list[str]:
        with sqlite3.connect(path) as reader:  # another connection sees only commits
            return [r[0] for r in reader.execute("SELECT path FROM journal ORDER BY seq")]

    with db.deferred():
        db.append(time.time(), "POST", "/1", "", {}, b"")  # the log writer's batch
        assert committed() == []  # not yet
        # An API request from another thread, after it in moto's order: written at once.
        other = threading.Thread(target=db.append, args=(time.time(), "POST", "/2", "", {}, b""))
        other.start()
        other.join()
        assert committed() == ["/2"]
        db.append(time.time(), "POST", "/3", "", {}, b"")
    assert committed() == ["/1", "/2", "/3"]  # in moto's order, whenever written
    assert [e.path for e in db.journal()] == ["/1", "/2", "/3"]
    db.close()
    again = Store(path)  # the order goes on after a restart
    again.append(time.time(), "POST", "/4", "", {}, b"")
    assert [e.path for e in again.journal()] == ["/1", "/2", "/3", "/4"]
    again.close()


def _event(i: int) -> StoredEvent:
    return StoredEvent(f"req-{i}", "fn", None, b"{}", "Root=1", "arn:fn", time.time(), 0, 0, 0.0)


def test_events_put_at_once_share_commits_and_each_is_committed_when_put_returns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "local.sqlite3"
    db = Store(path)
    seen_after_put: dict[int, bool] = {}

    def put(i: int) -> None:
        db.put_event(_event(i))
        with sqlite3.connect(path) as reader:  # another connection sees only commits
            found = reader.execute("SELECT 1 FROM events WHERE request_id=?", (f"req-{i}",))
            seen_after_put[i] = found.fetchone() is not None

    threads = [threading.Thread(target=put, args=(i,)) for i in range(16)]
    with db._lock:  # the first commit waits for the file: the other 15 events queue
        for t in threads:
            t.start()
        for _ in range(500):
            with db._group:
                if len(db._queue) == 15:
                    break
            time.sleep(0.01)
    for t in threads:
        t.join()
    assert seen_after_put == dict.fromkeys(range(16), True)
    assert db.full_commits == 2  # the first event's commit, then one for the 15 others
    db.close()


def test_a_failed_group_commit_fails_every_writer_in_it(tmp_path: Path) -> None:
    db = Store(tmp_path / "local.sqlite3")
    db.put_event(_event(1))
    db._db.execute("DROP TABLE events")  # every write to it now fails
    with pytest.raises(sqlite3.OperationalError):
        db.put_event(_event(2))
    with pytest.raises(sqlite3.OperationalError):
        db.retry_event("req-1", 1, 1, 0.0)
    db.append(time.time(), "POST", "/after", "", {}, b"")  # the store goes on
    assert [e.path for e in db.journal()] == ["/after"]
    db.close()


def test_a_journal_row_given_out_later_is_durable_after_its_wait(tmp_path: Path) -> None:
    path = tmp_path / "local.sqlite3"
    db = Store(path)
    wait = db.append_later(time.time(), "POST", "/counted", "", {}, b"")
    wait()
    with sqlite3.connect(path) as reader:
        assert [r[0] for r in reader.execute("SELECT path FROM journal")] == ["/counted"]
    wait()  # a second wait returns at once
    db.close()
