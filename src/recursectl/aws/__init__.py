"""The AWS layer: the only package that imports boto3.

- `session`: Target, Aws (session, clients, retry loop, the services below)
- `errors`: botocore exceptions -> recursectl's domain errors (recursectl.errors)
- `view`: FunctionView / RoleView / LogGroupView, the one parser of what AWS returns
- `lambda_`, `iam`, `logs`, `sts`: one class per service, methods named for the job
"""

from recursectl.aws.session import LOCAL_CREDENTIALS, Aws, Identity, Target
from recursectl.aws.view import FunctionView, LogGroupView, RoleView

__all__ = [
    "LOCAL_CREDENTIALS",
    "Aws",
    "FunctionView",
    "Identity",
    "LogGroupView",
    "RoleView",
    "Target",
]
