"""CloudWatch Logs, by job: the function's log group, and reading it (the poller's seam, and
Live Tail's)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recursectl.aws.errors import live_stream_errors, live_tail_errors, translate
from recursectl.aws.view import LogGroupView
from recursectl.errors import AlreadyExistsError, LiveTailEnded, NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

    from recursectl.aws.session import Aws


class LogsApi:
    def __init__(self, aws: Aws) -> None:
        self._aws = aws

    @property
    def _client(self) -> CloudWatchLogsClient:
        return self._aws.logs

    def _do(self, action: str, resource: str, fn: Callable[[], Any]) -> Any:
        with translate(f"logs:{action}", resource, self._aws.target):
            return fn()

    def log_group(self, name: str) -> LogGroupView | None:
        """The group and its retention (tags are not read), or None when it does not exist."""
        got = self._do(
            "DescribeLogGroups",
            name,
            lambda: self._client.describe_log_groups(logGroupNamePrefix=name),
        )
        for group in got["logGroups"]:
            if group.get("logGroupName") == name:
                return LogGroupView(name=name, retention=group.get("retentionInDays"))
        return None

    def log_group_tags(self, name: str) -> dict[str, str] | None:
        """The group's tags, or None when it does not exist."""
        try:
            got = self._do(
                "ListTagsLogGroup",
                name,
                lambda: self._client.list_tags_log_group(logGroupName=name),
            )
        except NotFoundError:
            return None
        return dict(got.get("tags", {}))

    def create_log_group(self, name: str, tags: dict[str, str]) -> bool:
        """True when created, False when it already existed (left as it is)."""
        try:
            self._do(
                "CreateLogGroup",
                name,
                lambda: self._client.create_log_group(logGroupName=name, tags=tags),
            )
        except AlreadyExistsError:
            return False
        return True

    def set_retention(self, name: str, days: int) -> None:
        self._do(
            "PutRetentionPolicy",
            name,
            lambda: self._client.put_retention_policy(logGroupName=name, retentionInDays=days),
        )

    def delete_log_group(self, name: str) -> bool:
        """True when deleted, False when it was already gone."""
        try:
            self._do(
                "DeleteLogGroup", name, lambda: self._client.delete_log_group(logGroupName=name)
            )
        except NotFoundError:
            return False
        return True

    def filter_log_events(self, log_group: str, **kwargs: Any) -> dict[str, Any]:
        """One FilterLogEvents page; `kwargs` are the API's own (logGroupName included).

        Raises NotFoundError while the group does not exist yet and ThrottledError when AWS
        rate-limits the call; both keep AWS's error code in `.code`.
        """
        return dict(
            self._do("FilterLogEvents", log_group, lambda: self._client.filter_log_events(**kwargs))
        )

    def live_tail(
        self,
        log_group_arns: list[str],
        *,
        filter_pattern: str | None = None,
        stream_names: list[str] | None = None,
        stream_prefixes: list[str] | None = None,
    ) -> LiveTail:
        """Start a Live Tail session (one attempt, no retries: a refusal means "poll").

        Raises LiveTailUnavailable when StartLiveTail is refused (AccessDeniedException,
        LimitExceededException, ResourceNotFoundException, an endpoint without it). Iterating
        the result yields one LiveBatch per sessionUpdate (about one a second) and raises
        LiveTailEnded when the stream ends (SessionTimeoutException after 3 hours, or cut).
        """
        kwargs: dict[str, Any] = {"logGroupIdentifiers": log_group_arns}
        if filter_pattern:
            kwargs["logEventFilterPattern"] = filter_pattern
        if stream_names:
            kwargs["logStreamNames"] = stream_names
        if stream_prefixes:
            kwargs["logStreamNamePrefixes"] = stream_prefixes
        resource = ", ".join(log_group_arns)
        # LimitExceededException is a throttling code to botocore's retry modes: with
        # retries, a refused session would be retried (with backoff) four more times.
        client = self._aws.client("logs", retry=False)
        with live_tail_errors(resource, self._aws.target):
            response = client.start_live_tail(**kwargs)
        return LiveTail(response["responseStream"], resource)


@dataclass(frozen=True)
class LiveBatch:
    """One sessionUpdate: its events (as FilterLogEvents shapes them, minus the eventId
    Live Tail does not have) and whether AWS sampled them (over 500 events a second)."""

    events: list[dict[str, Any]]
    sampled: bool


class LiveTail:
    """An open Live Tail stream: iterate for LiveBatch; `close()` ends the session."""

    def __init__(self, stream: Any, resource: str) -> None:
        self._stream = stream
        self._resource = resource
        self.session_id: str | None = None

    def __iter__(self) -> Iterator[LiveBatch]:
        with live_stream_errors(self._resource):
            for message in self._stream:
                if "sessionStart" in message:
                    self.session_id = message["sessionStart"].get("sessionId")
                    continue
                update = message.get("sessionUpdate")
                if update is None:
                    continue
                events = [
                    {
                        "timestamp": int(e["timestamp"]),
                        "message": e.get("message", ""),
                        "logStreamName": e.get("logStreamName", ""),
                        "ingestionTime": e.get("ingestionTime"),
                    }
                    for e in update.get("sessionResults") or []
                ]
                sampled = bool((update.get("sessionMetadata") or {}).get("sampled"))
                yield LiveBatch(events, sampled)
        raise LiveTailEnded(f"Live Tail of {self._resource} ended: stream closed", code="closed")

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a cut connection may fail again
            self._stream.close()
