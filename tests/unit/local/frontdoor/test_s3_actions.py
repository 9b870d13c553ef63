"""S3 REST requests -> the IAM actions and resources AWS authorizes them as."""

from __future__ import annotations

import pytest

from recursectl.local.frontdoor.s3_actions import action_of, split

HOST = "127.0.0.1:4566"


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/", "", [("s3:ListAllMyBuckets", "*")]),
        ("PUT", "/b", "", [("s3:CreateBucket", "arn:aws:s3:::b")]),
        ("DELETE", "/b", "", [("s3:DeleteBucket", "arn:aws:s3:::b")]),
        ("HEAD", "/b", "", [("s3:ListBucket", "arn:aws:s3:::b")]),
        ("GET", "/b", "list-type=2&prefix=x", [("s3:ListBucket", "arn:aws:s3:::b")]),
        ("GET", "/b", "versions", [("s3:ListBucketVersions", "arn:aws:s3:::b")]),
        ("GET", "/b", "uploads", [("s3:ListBucketMultipartUploads", "arn:aws:s3:::b")]),
        ("GET", "/b", "location", [("s3:GetBucketLocation", "arn:aws:s3:::b")]),
        ("PUT", "/b", "lifecycle", [("s3:PutLifecycleConfiguration", "arn:aws:s3:::b")]),
        ("GET", "/b", "policy", [("s3:GetBucketPolicy", "arn:aws:s3:::b")]),
        ("DELETE", "/b", "policy", [("s3:DeleteBucketPolicy", "arn:aws:s3:::b")]),
        ("POST", "/b", "delete", [("s3:DeleteObject", "arn:aws:s3:::b/*")]),
        ("GET", "/b/k/x.json", "", [("s3:GetObject", "arn:aws:s3:::b/k/x.json")]),
        ("HEAD", "/b/k", "", [("s3:GetObject", "arn:aws:s3:::b/k")]),
        ("GET", "/b/k", "versionId=3", [("s3:GetObjectVersion", "arn:aws:s3:::b/k")]),
        ("PUT", "/b/k", "", [("s3:PutObject", "arn:aws:s3:::b/k")]),
        ("DELETE", "/b/k", "", [("s3:DeleteObject", "arn:aws:s3:::b/k")]),
        ("POST", "/b/k", "uploads", [("s3:PutObject", "arn:aws:s3:::b/k")]),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", [("s3:PutObject", "arn:aws:s3:::b/k")]),
        ("POST", "/b/k", "uploadId=u", [("s3:PutObject", "arn:aws:s3:::b/k")]),
        ("DELETE", "/b/k", "uploadId=u", [("s3:AbortMultipartUpload", "arn:aws:s3:::b/k")]),
        ("GET", "/b/k", "uploadId=u", [("s3:ListMultipartUploadParts", "arn:aws:s3:::b/k")]),
        ("GET", "/b/k", "tagging", [("s3:GetObjectTagging", "arn:aws:s3:::b/k")]),
        ("GET", "/b/a%20b", "", [("s3:GetObject", "arn:aws:s3:::b/a b")]),
    ],
)
def test_operations_are_authorized_with_iam_names(
    method: str, path: str, query: str, expected: list[tuple[str, str]]
) -> None:
    assert action_of(method, HOST, path, query, {}) == expected


def test_a_copy_also_needs_to_read_its_source() -> None:
    needs = action_of("PUT", HOST, "/b/dst", "", {"x-amz-copy-source": "/src/a%2Fb?versionId=1"})
    assert needs == [
        ("s3:PutObject", "arn:aws:s3:::b/dst"),
        ("s3:GetObject", "arn:aws:s3:::src/a/b"),
    ]


def test_unknown_requests_are_left_to_moto() -> None:
    assert action_of("POST", HOST, "/", "", {}) is None
    assert action_of("POST", HOST, "/b", "select", {}) is None
    assert action_of("PATCH", HOST, "/b/k", "", {}) is None


def test_virtual_host_and_path_style_name_the_same_bucket() -> None:
    assert split("127.0.0.1:4566", "/b/k/x") == ("b", "k/x")
    assert split("localhost:4566", "/b/k") == ("b", "k")
    assert split("b.localhost:4566", "/k/x") == ("b", "k/x")
    assert split("b.s3.amazonaws.com", "/k") == ("b", "k")
    assert split("s3.amazonaws.com", "/b/k") == ("b", "k")
