"""CloudWatch Logs, by job: the function's log group, and reading it (the poller's seam)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from recursectl.aws.errors import translate
from recursectl.aws.view import LogGroupView
from recursectl.errors import AlreadyExistsError, NotFoundError

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
