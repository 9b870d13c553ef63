"""StartLiveTail on the local cloud through real boto3 clients, and following over it: the
stream's shape, filters, and every fallback (refused, throttled, timed out, sampled) keeping
each event exactly once."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner

from recursectl.aws import Aws, Target
from recursectl.cli import cli
from recursectl.errors import LiveTailUnavailable
from recursectl.watch.follow import live_follower
from recursectl.watch.livefeed import LiveFollower
from recursectl.watch.poller import make_poller
from tests.support.localcloud import TOKENS

GROUP = "/aws/lambda/tailed"
ARN = f"arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}"
# At a custom endpoint the "stream-" host prefix must not be injected (recursectl's own
# clients do the same, see aws/session.py).
NO_PREFIX = Config(inject_host_prefix=False, retries={"total_max_attempts": 1})


def live_tail_settings(endpoint: str, **settings: Any) -> dict[str, Any]:
    """Change the local cloud's Live Tail settings (they reset with the test's moto reset)."""
    request = urllib.request.Request(
        f"{endpoint}/_recursectl/livetail",
        method="POST",
        data=json.dumps(settings).encode(),
        headers={"X-Recursectl-Token": TOKENS[endpoint]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        doc: dict[str, Any] = json.loads(response.read())
        return doc


@pytest.fixture
def group(logs: Any) -> Any:
    logs.create_log_group(logGroupName=GROUP)
    for stream in ("a", "b"):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    return logs


def put(logs: Any, stream: str, *messages: str) -> None:
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": now, "message": m} for m in messages],
    )


def test_the_stream_starts_then_updates_with_the_events_that_match(
    endpoint: str, group: Any
) -> None:
    live_tail_settings(endpoint, interval_s=0.1)
    client = boto3.client("logs", endpoint_url=endpoint, config=NO_PREFIX)
    response = client.start_live_tail(
        logGroupIdentifiers=[ARN], logStreamNamePrefixes=["a"], logEventFilterPattern="ERROR"
    )
    stream = response["responseStream"]
    events = iter(stream)
    start = next(events)["sessionStart"]
    assert start["logGroupIdentifiers"] == [ARN]
    assert start["logStreamNamePrefixes"] == ["a"]
    assert start["logEventFilterPattern"] == "ERROR"
    put(group, "a", "ERROR one", "INFO two", "ERROR three")
    put(group, "b", "ERROR in another stream")
    got: list[dict[str, Any]] = []
    for message in events:
        update = message["sessionUpdate"]
        assert update["sessionMetadata"] == {"sampled": False}
        got += update["sessionResults"]
        if len(got) >= 2:
            break
    stream.close()
    assert [e["message"] for e in got] == ["ERROR one", "ERROR three"]
    assert {e["logStreamName"] for e in got} == {"a"}
    assert all(e["logGroupIdentifier"] == ARN and e["ingestionTime"] >= e["timestamp"]
               for e in got)  # fmt: skip


def test_refusals_and_the_session_limit_are_aws_errors(endpoint: str, group: Any) -> None:
    client = boto3.client("logs", endpoint_url=endpoint, config=NO_PREFIX)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.start_live_tail(logGroupIdentifiers=[ARN + "-nope"])
    for code in ("AccessDeniedException", "LimitExceededException"):
        live_tail_settings(endpoint, refuse=code)
        with pytest.raises(client.exceptions.ClientError) as raised:
            client.start_live_tail(logGroupIdentifiers=[ARN])
        assert raised.value.response["Error"]["Code"] == code
    live_tail_settings(endpoint, refuse=None, session_s=0.3, interval_s=0.1)
    stream = client.start_live_tail(logGroupIdentifiers=[ARN])["responseStream"]
    with pytest.raises(client.exceptions.ClientError) as ended:
        for _ in stream:
            pass
    assert ended.value.response["Error"]["Code"] == "SessionTimeoutException"


def test_the_aws_layer_says_when_live_tail_was_refused_for_a_missing_group(
    endpoint: str, group: Any
) -> None:
    logs = Aws(Target(endpoint_url=endpoint, region="us-east-1", local=True)).logs_api
    with pytest.raises(LiveTailUnavailable) as missing:
        logs.live_tail([ARN + "-nope"])
    assert (missing.value.code, missing.value.group_missing) == ("ResourceNotFoundException", True)
    live_tail_settings(endpoint, refuse="AccessDeniedException")
    with pytest.raises(LiveTailUnavailable) as denied:
        logs.live_tail([ARN])
    assert (denied.value.code, denied.value.group_missing) == ("AccessDeniedException", False)


def follow_all(
    endpoint: str,
    follower: LiveFollower,
    group: Any,
    n: int,
    midway: Callable[[], None] | None = None,
) -> Counter[str]:
    """Write `n` events (and one line twice in one call) over ~1.5 s while following, calling
    `midway` after the first half; what the follower passed on, counted."""
    seen: Counter[str] = Counter()
    want = n + 2

    def writer() -> None:
        for i in range(0, n, 5):
            if midway is not None and i == n // 10 * 5:
                midway()
            put(group, "ab"[i % 2], *(f"event {j}" for j in range(i, min(n, i + 5))))
            time.sleep(0.05)
        put(group, "a", "twice", "twice")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for batch in follower.follow(done=lambda: sum(seen.values()) >= want, deadline_s=15):
            seen.update(e["message"] for e in batch)
    finally:
        thread.join()
    return seen


def expected(n: int) -> Counter[str]:
    return Counter({**{f"event {i}": 1 for i in range(n)}, "twice": 2})


def _follower(endpoint: str, handover_s: float | None = None) -> LiveFollower:
    """recursectl's follower; `handover_s=0` leaves out the FilterLogEvents reads of a new
    session, so only the path under test can bring back what Live Tail lacks."""
    aws = Aws(Target(endpoint_url=endpoint, region="us-east-1", local=True))
    follower = live_follower(aws, GROUP, make_poller(aws, GROUP, int(time.time() * 1000) - 1000))
    if handover_s is not None:
        follower.handover_s = handover_s
    return follower


@pytest.mark.parametrize("code", ["AccessDeniedException", "LimitExceededException"])
def test_refused_live_tail_falls_back_to_polling_and_keeps_every_event_once(
    endpoint: str, group: Any, code: str
) -> None:
    live_tail_settings(endpoint, refuse=code)
    follower = _follower(endpoint)
    assert follow_all(endpoint, follower, group, 30) == expected(30)
    assert follower.fallbacks == [code]
    assert follower.transport == "poll"


def test_a_session_timeout_hands_over_to_polling_and_keeps_every_event_once(
    endpoint: str, group: Any
) -> None:
    live_tail_settings(endpoint, session_s=0.6, interval_s=0.1)
    follower = _follower(endpoint, handover_s=0)

    def session_ended() -> None:
        # Half the events go to the session, the rest are written after it timed out.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            doc = live_tail_settings(endpoint)
            if doc["started"] >= 1 and doc["open_sessions"] == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"the Live Tail session never timed out: {doc}")

    assert follow_all(endpoint, follower, group, 60, session_ended) == expected(60)
    assert follower.fallbacks == ["SessionTimeoutException"]


def test_sampled_updates_are_filled_in_from_filter_log_events(endpoint: str, group: Any) -> None:
    # 20 events a second before sampling (AWS: 500), updates every 0.1 s: 2 events each.
    live_tail_settings(endpoint, sample_above=20, interval_s=0.1)
    follower = _follower(endpoint, handover_s=0)
    assert follow_all(endpoint, follower, group, 100) == expected(100)
    assert follower.sampled_updates > 0
    assert follower.fallbacks == []
    assert follower.transport == "live"


def test_invoke_follow_over_live_tail_shows_the_complete_chain(
    endpoint: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray recursectl.toml
    runner = CliRunner()
    deployed = runner.invoke(cli, ["--endpoint-url", endpoint, "deploy", "--name", "demo"])
    assert deployed.exit_code == 0, deployed.output
    args = ["--endpoint-url", endpoint, "invoke", "--name", "demo", "--calls", "3"]
    result = runner.invoke(cli, [*args, "--follow", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["complete"]
    assert not doc["failed"]
    assert [inv["depth"] for inv in doc["invocations"]] == [0, 1, 2, 3]
    assert all(inv["status"] == "ok" and inv["attempts"] == 1 for inv in doc["invocations"])
    assert live_tail_settings(endpoint)["started"] == 1  # it followed over Live Tail
