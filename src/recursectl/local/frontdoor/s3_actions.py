"""Which IAM action and resource an S3 REST request needs (pure).

S3 is the one service whose API operation names are not its IAM action names: ListBuckets is
authorized as `s3:ListAllMyBuckets`, ListObjectsV2 and HeadBucket as `s3:ListBucket` on the
bucket, HeadObject as `s3:GetObject`, the multipart calls as `s3:PutObject`. moto 5.2.5 took
the action from a field its S3 handlers set; moto 5.2.6 takes the operation name instead, so a
role granted `s3:ListAllMyBuckets` was refused a ListBuckets (it asked for `s3:ListBuckets`,
an action IAM does not have). The local cloud therefore decides S3 access itself, with AWS's
names ("Actions, resources, and condition keys for Amazon S3"), whatever moto's version.

Only path-style and virtual-host-style addressing on the local endpoint are read; a request
this table does not know returns None and is left to moto's own check.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote

# Bucket subresources (`?policy`, ...) -> (GET action, PUT action, DELETE action).
_BUCKET_SUBRESOURCES: dict[str, tuple[str, str, str]] = {
    "policy": ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "lifecycle": (
        "GetLifecycleConfiguration",
        "PutLifecycleConfiguration",
        "PutLifecycleConfiguration",
    ),
    "encryption": (
        "GetEncryptionConfiguration",
        "PutEncryptionConfiguration",
        "PutEncryptionConfiguration",
    ),
    "publicAccessBlock": (
        "GetBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
    ),
    "versioning": ("GetBucketVersioning", "PutBucketVersioning", "PutBucketVersioning"),
    "tagging": ("GetBucketTagging", "PutBucketTagging", "PutBucketTagging"),
    "acl": ("GetBucketAcl", "PutBucketAcl", "PutBucketAcl"),
    "cors": ("GetBucketCORS", "PutBucketCORS", "PutBucketCORS"),
    "notification": (
        "GetBucketNotification",
        "PutBucketNotification",
        "PutBucketNotification",
    ),
    "ownershipControls": (
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "PutBucketOwnershipControls",
    ),
    "location": ("GetBucketLocation", "", ""),
    "uploads": ("ListBucketMultipartUploads", "", ""),
    "versions": ("ListBucketVersions", "", ""),
}
# Object subresources -> (GET action, PUT action, DELETE action).
_OBJECT_SUBRESOURCES: dict[str, tuple[str, str, str]] = {
    "tagging": ("GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"),
    "acl": ("GetObjectAcl", "PutObjectAcl", ""),
    "retention": ("GetObjectRetention", "PutObjectRetention", ""),
    "legal-hold": ("GetObjectLegalHold", "PutObjectLegalHold", ""),
    "attributes": ("GetObjectAttributes", "", ""),
    "uploadId": ("ListMultipartUploadParts", "PutObject", "AbortMultipartUpload"),
}
_VERB = {"GET": 0, "HEAD": 0, "PUT": 1, "DELETE": 2}


def split(host: str, path: str) -> tuple[str, str]:
    """(bucket, key) of a request: virtual-host style (`bucket.s3...`, `bucket.localhost`)
    when the host names a bucket, else path style (`/bucket/key`)."""
    name = host.split(":", 1)[0].lower()
    first = name.split(".", 1)[0]
    if "." in name and first not in ("s3", "localhost") and not name[0].isdigit():
        return first, unquote(path.lstrip("/"))
    bucket, _, key = path.lstrip("/").partition("/")
    return unquote(bucket), unquote(key)


def _bucket_action(method: str, params: dict[str, list[str]]) -> str | None:
    for name, actions in _BUCKET_SUBRESOURCES.items():
        if name in params:
            index = _VERB.get(method)
            return (actions[index] or None) if index is not None else None
    if method == "POST":
        return "DeleteObject" if "delete" in params else None
    return {
        "GET": "ListBucket",
        "HEAD": "ListBucket",
        "PUT": "CreateBucket",
        "DELETE": "DeleteBucket",
    }.get(method)


def _object_action(method: str, params: dict[str, list[str]]) -> str | None:
    for name, actions in _OBJECT_SUBRESOURCES.items():
        if name in params:
            if method == "POST":  # CompleteMultipartUpload
                return "PutObject" if name == "uploadId" else None
            index = _VERB.get(method)
            return (actions[index] or None) if index is not None else None
    if method == "POST":
        return "PutObject" if "uploads" in params else None  # CreateMultipartUpload
    if method in ("GET", "HEAD"):
        return "GetObjectVersion" if "versionId" in params else "GetObject"
    if method == "PUT":
        return "PutObject"  # CopyObject too; its source is read-checked by action_of()
    if method == "DELETE":
        return "DeleteObjectVersion" if "versionId" in params else "DeleteObject"
    return None


def action_of(
    method: str, host: str, path: str, query: str, headers: dict[str, str]
) -> list[tuple[str, str]] | None:
    """The (IAM action, resource ARN) pairs this request needs, all of them; None when the
    request is not one this table knows."""
    bucket, key = split(host, path)
    params = parse_qs(query, keep_blank_values=True)
    if not bucket:
        return [("s3:ListAllMyBuckets", "*")] if method == "GET" else None
    if key:
        action = _object_action(method, params)
        resource = f"arn:aws:s3:::{bucket}/{key}"
    else:
        action = _bucket_action(method, params)
        resource = f"arn:aws:s3:::{bucket}" + ("/*" if action == "DeleteObject" else "")
    if action is None:
        return None
    needs = [(f"s3:{action}", resource)]
    source = headers.get("x-amz-copy-source")
    if source and method == "PUT" and key:
        src_bucket, _, src_key = unquote(source).lstrip("/").partition("/")
        src_key = src_key.split("?versionId=", 1)[0]
        needs.append(("s3:GetObject", f"arn:aws:s3:::{src_bucket}/{src_key}"))
    return needs
