"""The AWS layer: the only package that imports boto3.

- `session`: Target, Aws (session, clients, retry loop, the services below)
- `errors`: botocore exceptions -> recursectl's domain errors (recursectl.errors)
- `view`: FunctionView / RoleView / LogGroupView, the one parser of what AWS returns
- `lambda_`, `iam`, `logs`, `sts`: one class per service, methods named for the job

Names are loaded on first use, so the pure modules that only need the views (`plan`) do not
import boto3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recursectl.aws.session import LOCAL_CREDENTIALS, Aws, Identity, Target
    from recursectl.aws.view import FunctionView, LogGroupView, RoleView

_WHERE = {
    "LOCAL_CREDENTIALS": "session",
    "Aws": "session",
    "Identity": "session",
    "Target": "session",
    "FunctionView": "view",
    "LogGroupView": "view",
    "RoleView": "view",
}

__all__ = [
    "LOCAL_CREDENTIALS",
    "Aws",
    "FunctionView",
    "Identity",
    "LogGroupView",
    "RoleView",
    "Target",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"recursectl.aws.{_WHERE[name]}"), name)
