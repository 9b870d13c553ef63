"""Names, tags and the role's documents (recursectl.names, pure)."""

from __future__ import annotations

import pytest

from recursectl import names
from recursectl.errors import UsageError

ARN = "arn:aws:lambda:us-east-1:123456789012:function:demo"


def test_least_privilege_policy_document() -> None:
    doc = names.policy_document(ARN, "/aws/lambda/demo")
    resources = [r for s in doc["Statement"] for r in s["Resource"]]
    assert resources == [
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/demo:*",
        ARN,
        f"{ARN}:*",
    ]
    actions = sorted(a for s in doc["Statement"] for a in s["Action"])
    assert actions == ["lambda:InvokeFunction", "logs:CreateLogStream", "logs:PutLogEvents"]


def test_trust_is_limited_to_the_account() -> None:
    (statement,) = names.trust_document("123456789012")["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_same_document_ignores_string_vs_list_and_url_encoding() -> None:
    a = {"Statement": [{"Action": "x:Y", "Resource": "r"}]}
    b = {"Statement": [{"Action": ["x:Y"], "Resource": ["r"]}]}
    assert names.same_document(a, b)
    assert names.same_document("%7B%22a%22%3A%201%7D", {"a": 1})
    assert not names.same_document(a, {"Statement": [{"Action": ["x:Z"], "Resource": ["r"]}]})


def test_role_name_fits_iam_limit() -> None:
    assert names.role_name_for("demo") == "demo-role"
    long = names.role_name_for("f" * 64)
    assert len(long) <= 64
    assert long != names.role_name_for("f" * 63 + "g")


# A qualified name (version, alias, ARN) is refused too: deploy sends the recursion config
# (which AWS takes for an unqualified function only) under this name.
@pytest.mark.parametrize(
    "name",
    ["", "a" * 65, "has space", "semi;colon", "ünï", "fn:live", "fn:1", "arn:aws:lambda:x"],
)
def test_bad_function_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="Invalid function name"):
        names.check_function_name(name)


def test_good_function_names_pass() -> None:
    names.check_function_name("a-b_C9")
    names.check_function_name("x" * 64)


@pytest.mark.parametrize(
    ("raw", "label"),
    [("my-proj", "my-proj"), ("Mon Projet (v2)", "Mon Projet -v2"), ("a*b", "a-b")],
)
def test_project_labels_are_valid_tag_values(raw: str, label: str) -> None:
    assert names.project_label(raw) == label


def test_a_project_name_without_usable_characters_is_refused() -> None:
    with pytest.raises(UsageError, match="no usable characters"):
        names.project_label("***")


@pytest.mark.parametrize(
    ("tags", "project", "other"),
    [
        (None, "a", None),  # tags not read: established as ours otherwise
        ({"managed-by": "recursectl"}, "a", None),  # unclaimed
        ({"managed-by": "recursectl", "recursectl:project": "a"}, "a", None),
        ({"managed-by": "recursectl", "recursectl:project": "b"}, "a", "b"),
        ({"managed-by": "recursectl", "recursectl:project": "b"}, None, "b"),
    ],
)
def test_claimed_by_other(tags: dict[str, str] | None, project: str | None, other: str) -> None:
    assert names.claimed_by_other(tags, project) == other


@pytest.mark.parametrize(
    ("runtime", "covered"),
    [("python3.13", True), ("python3.10", True), ("nodejs22.x", True), ("java21", False)],
)
def test_guard_covers_python_and_node_runtimes(runtime: str, covered: bool) -> None:
    assert names.guard_covers(runtime) is covered


@pytest.mark.parametrize(
    ("max_calls", "guarded", "mode"),
    [
        (15, True, "Terminate"),
        (16, True, "Allow"),
        (16, False, "Terminate"),
        (100, False, "Terminate"),
    ],
)
def test_loop_detection_is_lifted_only_under_the_guard(
    max_calls: int, guarded: bool, mode: str
) -> None:
    assert names.recursion_mode(max_calls, guarded) == mode
