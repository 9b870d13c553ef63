"""What recursectl calls things and how it marks them: names, tags, the role's documents.

Pure (no I/O): the planner, the AWS layer's views, `init` and `ops` all read these.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import unquote

from recursectl.errors import UsageError

TAG_KEY = "managed-by"
TAG_VALUE = "recursectl"
# Which project deployed a resource, so two projects that pick the same function name do not
# take over each other's function (see `project_label`).
PROJECT_TAG = "recursectl:project"
APPLIED_TAG = "recursectl:applied"
# Stop remembers the reserved concurrency it replaced by 0 here (a number, or "none").
CONCURRENCY_TAG = "recursectl:concurrency-before-stop"
POLICY_NAME = "recursectl-self-invoke"
# The trust policy's revision; `deploy` stamps it into APPLIED_TAG so an older role (without
# the aws:SourceAccount condition) is read and updated once, then never read again.
TRUST_REVISION = 2
RECURSION_ALLOW_FROM = 16  # AWS stops a Lambda-to-Lambda loop after about 16 invocations

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Tag values on Lambda, IAM and CloudWatch Logs: letters, digits, spaces and _.:/=+-@, <= 256.
_TAG_BAD = re.compile(r"[^A-Za-z0-9 _.:/=+@-]+")


def check_function_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise UsageError(
            f"Invalid function name {name!r}.",
            hint="use 1-64 letters, digits, hyphens or underscores (--name)",
        )


def role_name_for(name: str) -> str:
    """`NAME-role`, shortened with a hash when that exceeds IAM's 64 characters."""
    candidate = f"{name}-role"
    if len(candidate) <= 64:
        return candidate
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:50]}-{digest}-role"


def log_group_for(name: str) -> str:
    return f"/aws/lambda/{name}"


def project_label(raw: str) -> str:
    """A project name made fit for a tag value (invalid characters become '-')."""
    label = _TAG_BAD.sub("-", raw.strip()).strip("-")[:256]
    if not label:
        raise UsageError(
            f"Project name {raw!r} has no usable characters.",
            hint="set `project` in recursectl.toml to letters, digits, - or _",
        )
    return label


def tags_for(project: str | None) -> dict[str, str]:
    """The tags every resource deploy creates carries."""
    tags = {TAG_KEY: TAG_VALUE}
    if project:
        tags[PROJECT_TAG] = project
    return tags


def is_ours(tags: dict[str, str] | None) -> bool:
    """Tagged managed-by=recursectl; None (tags not read) means established as ours otherwise."""
    return tags is None or tags.get(TAG_KEY) == TAG_VALUE


def claimed_by_other(tags: dict[str, str] | None, project: str | None) -> str | None:
    """The other project that claims a resource, or None when `project` may manage it.

    A resource without a project tag (deployed before projects existed, or without a config
    file) is unclaimed: any project may take it and tags it. One with a project tag belongs
    to that project alone; a deploy without a project identity cannot take it either.
    """
    if tags is None:
        return None
    theirs = tags.get(PROJECT_TAG)
    if theirs is None or theirs == project:
        return None
    return theirs


# the guard --------------------------------------------------------------------------------
def guard_covers(runtime: str) -> bool:
    """Whether the packaged entry point can wrap handlers of `runtime` (Python and Node.js)."""
    return runtime.startswith(("python", "nodejs"))


def recursion_mode(max_calls: int, guarded: bool) -> str:
    """AWS's loop detection is lifted only when our guard is in place and the cap needs it."""
    return "Allow" if guarded and max_calls >= RECURSION_ALLOW_FROM else "Terminate"


# the role's documents --------------------------------------------------------------------------
def arn_parts(function_arn: str) -> tuple[str, str, str]:
    """partition, region, account of a function ARN."""
    parts = function_arn.split(":")
    return parts[1], parts[3], parts[4]


def trust_document(account: str) -> dict[str, Any]:
    """Lambda may assume the role, on behalf of this account only (confused-deputy guard)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


OWN_SIDS = ("WriteOwnLogs", "InvokeSelf", "CountOwnChains", "KeepOwnJobs", "JobState")
_EFFECTS = ("Allow", "Deny")


def check_statements(statements: Any, source: str) -> tuple[dict[str, Any], ...]:
    """IAM statements for the role's inline policy: a list of statements, or a policy document
    (`{"Statement": [...]}`), or one statement; each with Effect, (Not)Action, (Not)Resource."""
    if isinstance(statements, dict):
        statements = statements.get("Statement", [statements])
        statements = [statements] if isinstance(statements, dict) else statements
    hint = 'each statement needs "Effect", "Action" and "Resource" (IAM policy grammar)'
    if not isinstance(statements, (list, tuple)):
        raise UsageError(f"IAM statements in {source} must be a list of statements.", hint=hint)
    out = []
    for i, st in enumerate(statements, 1):
        where = f"IAM statement {i} in {source}"
        if not isinstance(st, dict):
            raise UsageError(f"{where} is not an object.", hint=hint)
        if st.get("Effect") not in _EFFECTS:
            raise UsageError(f"{where} has no Effect Allow or Deny.", hint=hint)
        if not ({"Action", "NotAction"} & set(st)) or not ({"Resource", "NotResource"} & set(st)):
            raise UsageError(f"{where} needs an Action and a Resource.", hint=hint)
        if st.get("Sid") in OWN_SIDS:
            raise UsageError(
                f"{where} uses the Sid {st['Sid']!r}, which recursectl's own statements use.",
                hint="give it another Sid, or none",
            )
        out.append(dict(st))
    return tuple(out)


def counter_table_for(function_name: str) -> str:
    """The chain counter's DynamoDB table of a function (one per function: its IAM scope)."""
    return f"{function_name}-recursectl-chains"


def counter_table_arn(function_arn: str, table: str) -> str:
    partition, region, account = arn_parts(function_arn)
    return f"arn:{partition}:dynamodb:{region}:{account}:table/{table}"


def policy_document(
    function_arn: str,
    log_group: str,
    extra: tuple[dict[str, Any], ...] = (),
    counter_table: str | None = None,
    job_bucket: str | None = None,
) -> dict[str, Any]:
    """Least privilege: write to its own log group, invoke itself, count its own chains (one
    action on one table); a job function also keeps its job records and hop claims on that
    table (GetItem, PutItem) and its spilled state under its own prefix of the job bucket;
    plus the user's `extra` statements for the handler's own AWS calls (`iam_statements`)."""
    doc = _own_policy(function_arn, log_group)
    if counter_table:
        table_arn = counter_table_arn(function_arn, counter_table)
        doc["Statement"].append(
            {
                "Sid": "CountOwnChains",
                "Effect": "Allow",
                "Action": ["dynamodb:UpdateItem"],
                "Resource": [table_arn],
            }
        )
        if job_bucket:
            doc["Statement"] += _job_statements(function_arn, table_arn, job_bucket)
    doc["Statement"].extend(dict(s) for s in extra)
    return doc


def _job_statements(function_arn: str, table_arn: str, bucket: str) -> list[dict[str, Any]]:
    partition = arn_parts(function_arn)[0]
    name = function_arn.rsplit(":", 1)[-1]
    return [
        {
            "Sid": "KeepOwnJobs",
            "Effect": "Allow",
            # a hop's claim is a conditional PutItem; the record is read with GetItem
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": [table_arn],
        },
        {
            "Sid": "JobState",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"arn:{partition}:s3:::{job_state_prefix(bucket, name)}*"],
        },
    ]


# long jobs: the job bucket ---------------------------------------------------------------------
JOB_LIFECYCLE_RULE = "recursectl-job-state"  # the lifecycle rule's ID on the job bucket
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def job_state_prefix(bucket: str, function_name: str) -> str:
    """`BUCKET/recursectl/<function>/`: the one prefix a job function's role may touch."""
    from recursectl.protocol import JOB_STATE_PREFIX

    return f"{bucket}/{JOB_STATE_PREFIX}{function_name}/"


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a general purpose S3 bucket name, or None when it is one."""
    if not 3 <= len(name) <= 63:
        return "3 to 63 characters"
    if not _BUCKET_RE.match(name):
        return "lowercase letters, digits, dots and hyphens, from a letter or digit to one"
    if ".." in name or ".-" in name or "-." in name or _IP_RE.match(name):
        return "no adjacent dots, no dot next to a hyphen, not an IP address"
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(
        ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
    ):
        return "a prefix or suffix that S3 reserves"
    return None


def job_bucket_for(function_name: str, account: str, region: str) -> str:
    """The bucket deploy creates for a job function when `[job] bucket` names none.

    S3 names are global and lowercase: `recursectl-<function>-<hash>`, the hash of the account,
    region and (case-sensitive) function name keeps it unique, deterministic (a deploy that
    died half-way finds its own bucket again) and within 63 characters.
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", function_name.lower()).strip("-")[:36].strip("-")
    digest = hashlib.sha256(f"{account}:{region}:{function_name}".encode()).hexdigest()[:12]
    return f"recursectl-{slug or 'job'}-{digest}"


def _own_policy(function_arn: str, log_group: str) -> dict[str, Any]:
    partition, region, account = arn_parts(function_arn)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"arn:{partition}:logs:{region}:{account}:log-group:{log_group}:*"],
            },
            {
                "Sid": "InvokeSelf",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [function_arn, f"{function_arn}:*"],
            },
        ],
    }


def _normalize(doc: Any) -> Any:
    """A policy document in a canonical form (IAM may return strings where we sent lists)."""
    if isinstance(doc, str):
        try:
            doc = json.loads(unquote(doc))
        except ValueError:
            return doc
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            listed = [value] if key in ("Action", "Resource") and isinstance(value, str) else value
            out[key] = _normalize(listed)
        return out
    if isinstance(doc, list):
        return [_normalize(v) for v in doc]
    return doc


def same_document(a: Any, b: Any) -> bool:
    return json.dumps(_normalize(a), sort_keys=True) == json.dumps(_normalize(b), sort_keys=True)
