"""Which log group holds a function's chains."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recursectl.errors import AccessDeniedError, NotFoundError
from recursectl.names import log_group_for

if TYPE_CHECKING:
    from recursectl.aws import Aws


def resolve_group(aws: Aws, name: str, log_group: str | None) -> tuple[str, str, str | None]:
    """(function name, log group, architecture): the function's own group, or without the
    function (destroyed with --keep-logs, or not readable by this user) /aws/lambda/NAME, or
    `log_group`; the architecture prices the estimate (None when the function is not read)."""
    if log_group:
        return name, log_group, None
    try:
        fn = aws.lambda_api.require_function(name)
        return name, fn.log_group, fn.architecture
    except (NotFoundError, AccessDeniedError) as exc:
        fallback = log_group_for(name)
        if aws.logs_api.log_group(fallback) is None:
            raise exc from None
        return name, fallback, None
