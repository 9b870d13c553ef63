"""S3, by job: the job bucket, where a job function's state too big to carry is kept
(docs/jobs.md: `recursectl/<function>/state/<sha256>.json.gz`, expired by a lifecycle rule).

Deploy creates the bucket (or adopts the one `[job] bucket` names) and keeps it private,
encrypted and expiring; destroy empties and deletes a bucket recursectl created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recursectl.aws.errors import translate
from recursectl.errors import AlreadyExistsError, AwsError, NotFoundError

if TYPE_CHECKING:
    from recursectl.aws.session import Aws

_BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@dataclass(frozen=True)
class BucketPosture:
    """What an adopted bucket has of what deploy gives a bucket it creates."""

    public_access_blocked: bool
    encrypted: bool  # a default encryption configuration is set


class JobBucketApi:
    def __init__(self, aws: Aws) -> None:
        self._aws = aws

    @property
    def _client(self) -> Any:
        return self._aws.client("s3")

    def _do(self, action: str, resource: str, fn: Callable[[], Any]) -> Any:
        with translate(f"s3:{action}", f"arn:aws:s3:::{resource}", self._aws.target):
            return fn()

    # reading ------------------------------------------------------------------------------
    def bucket_tags(self, bucket: str) -> dict[str, str] | None:
        """The bucket's tags ({} when it has none), or None when the bucket does not exist."""
        try:
            got = self._do(
                "GetBucketTagging", bucket, lambda: self._client.get_bucket_tagging(Bucket=bucket)
            )
        except NotFoundError:
            return None
        except AwsError as exc:
            if exc.code == "NoSuchTagSet":
                return {}
            raise
        return {t["Key"]: t["Value"] for t in got.get("TagSet", [])}

    def posture(self, bucket: str) -> BucketPosture:
        """Whether public access is fully blocked and default encryption is set."""
        try:
            got = self._do(
                "GetBucketPublicAccessBlock",
                bucket,
                lambda: self._client.get_public_access_block(Bucket=bucket),
            )
            block = got.get("PublicAccessBlockConfiguration", {})
            blocked = all(block.get(k) for k in _BLOCK_ALL)
        except AwsError as exc:
            if exc.code != "NoSuchPublicAccessBlockConfiguration":
                raise
            blocked = False
        try:
            self._do(
                "GetEncryptionConfiguration",
                bucket,
                lambda: self._client.get_bucket_encryption(Bucket=bucket),
            )
            encrypted = True
        except AwsError as exc:
            if exc.code != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            encrypted = False
        return BucketPosture(public_access_blocked=blocked, encrypted=encrypted)

    def lifecycle_rules(self, bucket: str) -> list[dict[str, Any]]:
        try:
            got = self._do(
                "GetLifecycleConfiguration",
                bucket,
                lambda: self._client.get_bucket_lifecycle_configuration(Bucket=bucket),
            )
        except AwsError as exc:
            if exc.code == "NoSuchLifecycleConfiguration":
                return []
            raise
        return list(got.get("Rules", []))

    def count_objects(self, bucket: str, prefix: str = "", limit: int = 1000) -> int:
        """Objects under `prefix`, counted up to `limit` (one ListObjectsV2 page)."""
        got = self._do(
            "ListBucket",
            bucket,
            lambda: self._client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=limit),
        )
        return int(got.get("KeyCount", len(got.get("Contents", []))))

    # writing ------------------------------------------------------------------------------
    def create_bucket(self, bucket: str) -> bool:
        """Create it in this session's region; False when this account already owns it (a
        deploy that died half-way; us-east-1 answers 200 then, so True). Another account's:
        AlreadyExistsError."""
        region = self._aws.region
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":  # us-east-1 refuses its own name as a LocationConstraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._do("CreateBucket", bucket, lambda: self._client.create_bucket(**kwargs))
        except AlreadyExistsError as exc:
            if exc.code == "BucketAlreadyOwnedByYou":
                return False
            raise AlreadyExistsError(
                f"S3 bucket {bucket} belongs to another AWS account.",
                hint="name a bucket of yours in [job] bucket of recursectl.toml",
                code=exc.code,
            ) from None
        return True

    def secure(self, bucket: str) -> None:
        """Block every form of public access; SSE-S3 as the default encryption."""
        self._do(
            "PutBucketPublicAccessBlock",
            bucket,
            lambda: self._client.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=dict(_BLOCK_ALL)
            ),
        )
        self._do(
            "PutEncryptionConfiguration",
            bucket,
            lambda: self._client.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            ),
        )

    def tag(self, bucket: str, tags: dict[str, str]) -> None:
        """Add `tags` to the bucket's own (PutBucketTagging replaces the whole set)."""
        merged = {**(self.bucket_tags(bucket) or {}), **tags}
        self._do(
            "PutBucketTagging",
            bucket,
            lambda: self._client.put_bucket_tagging(
                Bucket=bucket,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]},
            ),
        )

    def expire_prefix(self, bucket: str, rule_id: str, prefix: str, days: int) -> bool:
        """Make the rule `rule_id` expire objects under `prefix` after `days`, keeping the
        bucket's other rules (PutBucketLifecycleConfiguration replaces them all). True when
        it was written, False when it was already so."""
        rules = self.lifecycle_rules(bucket)
        ours = {
            "ID": rule_id,
            "Status": "Enabled",
            "Filter": {"Prefix": prefix},
            "Expiration": {"Days": days},
        }
        current = [r for r in rules if r.get("ID") == rule_id]
        if current and _same_rule(current[0], ours):
            return False
        others = [r for r in rules if r.get("ID") != rule_id]
        self._do(
            "PutLifecycleConfiguration",
            bucket,
            lambda: self._client.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": [*others, ours]}
            ),
        )
        return True

    def empty_and_delete(self, bucket: str) -> int:
        """Delete every object (every version, if versioning was ever on), then the bucket;
        the number of objects deleted. A bucket already gone: 0."""
        deleted = 0
        try:
            while True:
                got = self._do(
                    "ListBucketVersions",
                    bucket,
                    lambda: self._client.list_object_versions(Bucket=bucket, MaxKeys=1000),
                )
                keys = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in [*got.get("Versions", []), *got.get("DeleteMarkers", [])]
                ]
                if not keys:
                    break
                batch = {"Objects": keys, "Quiet": True}
                self._do(
                    "DeleteObject",
                    bucket,
                    lambda: self._client.delete_objects(Bucket=bucket, Delete=batch),  # noqa: B023
                )
                deleted += len(keys)
            self._do("DeleteBucket", bucket, lambda: self._client.delete_bucket(Bucket=bucket))
        except NotFoundError:
            pass
        return deleted


def _same_rule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    prefix = (a.get("Filter") or {}).get("Prefix", a.get("Prefix"))
    return bool(
        a.get("Status") == b["Status"]
        and prefix == b["Filter"]["Prefix"]
        and (a.get("Expiration") or {}).get("Days") == b["Expiration"]["Days"]
    )
