"""STS, by job: who are we."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recursectl.aws.errors import translate

if TYPE_CHECKING:
    from recursectl.aws.session import Aws


class StsApi:
    def __init__(self, aws: Aws) -> None:
        self._aws = aws

    def caller_arn(self) -> str:
        with translate("sts:GetCallerIdentity", "*", self._aws.target):
            return str(self._aws.sts.get_caller_identity()["Arn"])
