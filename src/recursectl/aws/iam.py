"""IAM, by job: the function's role and its one inline policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from recursectl.aws.errors import translate
from recursectl.aws.view import RoleView
from recursectl.errors import NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

    from recursectl.aws.session import Aws


def _tag_list(tags: dict[str, str]) -> list[Any]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _document(raw: Any) -> Any:
    """A policy document as a dict: boto3 decodes it, but some endpoints return the
    URL-encoded JSON text IAM stores."""
    if isinstance(raw, str):
        for text in (raw, unquote(raw)):
            try:
                return json.loads(text)
            except ValueError:
                continue
        return {}
    return raw


class IamApi:
    def __init__(self, aws: Aws) -> None:
        self._aws = aws

    @property
    def _client(self) -> IAMClient:
        return self._aws.iam

    def _do(self, action: str, resource: str, fn: Callable[[], Any]) -> Any:
        with translate(f"iam:{action}", resource, self._aws.target):
            return fn()

    def get_role(self, name: str, *, policy_name: str) -> RoleView | None:
        """The role with its tags, trust policy and the inline policy `policy_name`."""
        try:
            role = self._do("GetRole", name, lambda: self._client.get_role(RoleName=name))["Role"]
        except NotFoundError:
            return None
        return RoleView(
            name=name,
            arn=str(role["Arn"]),
            tags={t["Key"]: t["Value"] for t in role.get("Tags", [])},
            trust=role.get("AssumeRolePolicyDocument"),
            policy=self.inline_policy(name, policy_name),
        )

    def inline_policy(self, role: str, policy: str) -> Any | None:
        """The inline policy's document, or None when the role or the policy is absent."""
        try:
            got = self._do(
                "GetRolePolicy",
                f"{role}/{policy}",
                lambda: self._client.get_role_policy(RoleName=role, PolicyName=policy),
            )
        except NotFoundError:
            return None
        return got["PolicyDocument"]

    def create_role(
        self, name: str, trust: dict[str, Any], description: str, tags: dict[str, str]
    ) -> str:
        """Create the role; returns its ARN."""
        got = self._do(
            "CreateRole",
            name,
            lambda: self._client.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=description,
                Tags=_tag_list(tags),
            ),
        )
        return str(got["Role"]["Arn"])

    def tag_role(self, name: str, tags: dict[str, str]) -> None:
        self._do(
            "TagRole", name, lambda: self._client.tag_role(RoleName=name, Tags=_tag_list(tags))
        )

    def set_trust(self, name: str, trust: dict[str, Any]) -> None:
        self._do(
            "UpdateAssumeRolePolicy",
            name,
            lambda: self._client.update_assume_role_policy(
                RoleName=name, PolicyDocument=json.dumps(trust)
            ),
        )

    def put_inline_policy(self, role: str, policy: str, document: dict[str, Any]) -> None:
        self._do(
            "PutRolePolicy",
            f"{role}/{policy}",
            lambda: self._client.put_role_policy(
                RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(document)
            ),
        )

    def inline_policy_names(self, role: str) -> list[str]:
        got = self._do(
            "ListRolePolicies", role, lambda: self._client.list_role_policies(RoleName=role)
        )
        return [str(p) for p in got["PolicyNames"]]

    def delete_inline_policy(self, role: str, policy: str) -> None:
        self._do(
            "DeleteRolePolicy",
            f"{role}/{policy}",
            lambda: self._client.delete_role_policy(RoleName=role, PolicyName=policy),
        )

    def attached_policies(self, role: str) -> tuple[str, ...]:
        """The managed policy ARNs attached to the role (all pages)."""
        arns: list[str] = []
        paginator = self._client.get_paginator("list_attached_role_policies")
        pages = self._do(
            "ListAttachedRolePolicies", role, lambda: list(paginator.paginate(RoleName=role))
        )
        for page in pages:
            arns += [str(p["PolicyArn"]) for p in page["AttachedPolicies"]]
        return tuple(arns)

    def role_policy_documents(
        self, role: str, *, managed: dict[str, Any] | None = None
    ) -> list[tuple[str, Any]]:
        """Every policy document of the role: (`inline:NAME` or the managed policy's ARN,
        document). `managed` caches managed policies' documents across roles (thread-safe
        enough: a race reads a policy twice, never a wrong one)."""
        documents: list[tuple[str, Any]] = []
        for name in self.inline_policy_names(role):
            doc = self.inline_policy(role, name)
            if doc is not None:
                documents.append((f"inline:{name}", _document(doc)))
        cache = managed if managed is not None else {}
        for arn in self.attached_policies(role):
            if arn not in cache:
                cache[arn] = self.managed_policy_document(arn)
            documents.append((arn, cache[arn]))
        return documents

    def managed_policy_document(self, arn: str) -> Any:
        """The default version's document of a managed policy."""
        policy = self._do("GetPolicy", arn, lambda: self._client.get_policy(PolicyArn=arn))
        version = str(policy["Policy"]["DefaultVersionId"])
        got = self._do(
            "GetPolicyVersion",
            arn,
            lambda: self._client.get_policy_version(PolicyArn=arn, VersionId=version),
        )
        return _document(got["PolicyVersion"]["Document"])

    def attach_policy(self, role: str, policy_arn: str) -> None:
        self._do(
            "AttachRolePolicy",
            f"{role} {policy_arn}",
            lambda: self._client.attach_role_policy(RoleName=role, PolicyArn=policy_arn),
        )

    def detach_policy(self, role: str, policy_arn: str) -> None:
        self._do(
            "DetachRolePolicy",
            f"{role} {policy_arn}",
            lambda: self._client.detach_role_policy(RoleName=role, PolicyArn=policy_arn),
        )

    def delete_role(self, name: str) -> None:
        """Raises ConflictError while managed policies are still attached."""
        self._do("DeleteRole", name, lambda: self._client.delete_role(RoleName=name))
