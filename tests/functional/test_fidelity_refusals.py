"""What AWS refuses is refused locally (issue 23, items 1-8): real boto3 against a real local
cloud, functions made by plain CreateFunction. Each test is a row of docs/fidelity.md."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.localcloud import Deploy, make_zip, wait_for_events, wait_updated

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
OK = {"handler.py": "def handler(event, context):\n    return 1\n"}


def _error(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def test_publish_version_during_an_update_is_a_conflict(lam: Any, deploy: Deploy) -> None:
    deploy("pub", OK)
    lam.update_function_configuration(FunctionName="pub", Timeout=7)
    code, status, message = _error(lambda: lam.publish_version(FunctionName="pub"))
    assert (code, status) == ("ResourceConflictException", 409)
    assert message.startswith("The operation cannot be performed at this time. An update is")
    wait_updated(lam, "pub")
    assert lam.publish_version(FunctionName="pub")["Version"] == "1"


def test_revision_ids_are_checked_on_updates_publish_and_aliases(lam: Any, deploy: Deploy) -> None:
    deploy("rev", OK)
    first = lam.get_function(FunctionName="rev")["Configuration"]["RevisionId"]
    assert first == lam.get_function_configuration(FunctionName="rev")["RevisionId"]
    updated = lam.update_function_configuration(FunctionName="rev", Timeout=5, RevisionId=first)
    second = updated["RevisionId"]
    assert second != first
    wait_updated(lam, "rev")
    stale = [
        lambda: lam.update_function_configuration(FunctionName="rev", Timeout=6, RevisionId=first),
        lambda: lam.update_function_code(
            FunctionName="rev", ZipFile=make_zip(OK), RevisionId=first
        ),
        lambda: lam.publish_version(FunctionName="rev", RevisionId=first),
    ]
    for call in stale:
        code, status, _ = _error(call)
        assert (code, status) == ("PreconditionFailedException", 412)
    with pytest.raises(lam.exceptions.PreconditionFailedException):  # boto3's modelled class
        lam.publish_version(FunctionName="rev", RevisionId=first)
    version = lam.publish_version(FunctionName="rev", RevisionId=second)
    assert version["Version"] == "1"
    assert version["RevisionId"]
    alias = lam.create_alias(FunctionName="rev", Name="live", FunctionVersion="1")
    lam.update_alias(
        FunctionName="rev", Name="live", Description="x", RevisionId=alias["RevisionId"]
    )
    code, status, _ = _error(
        lambda: lam.update_alias(FunctionName="rev", Name="live", RevisionId="not-the-revision")
    )
    assert (code, status) == ("PreconditionFailedException", 412)


def test_publish_version_with_another_code_sha256_is_refused(lam: Any, deploy: Deploy) -> None:
    deploy("sha", OK)
    current = lam.get_function(FunctionName="sha")["Configuration"]["CodeSha256"]
    other = base64.b64encode(hashlib.sha256(b"other code").digest()).decode()
    code, status, message = _error(
        lambda: lam.publish_version(FunctionName="sha", CodeSha256=other)
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == (
        f"CodeSHA256 ({other}) is different from current CodeSHA256 in $LATEST ({current}). "
        "Please try again with the CodeSHA256 in $LATEST."
    )
    assert lam.list_versions_by_function(FunctionName="sha")["Versions"][1:] == []
    assert lam.publish_version(FunctionName="sha", CodeSha256=current)["Version"] == "1"


def test_update_event_invoke_config_is_applied(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    failing = {"handler.py": "def handler(event, context):\n    raise ValueError('no')\n"}
    deploy("eic", failing)
    code, status, message = _error(
        lambda: lam.update_function_event_invoke_config(FunctionName="eic", MaximumRetryAttempts=0)
    )
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message == f"The function {ARN}eic doesn't have an EventInvokeConfig"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName="eic")  # none was created

    lam.put_function_event_invoke_config(
        FunctionName="eic", MaximumRetryAttempts=2, MaximumEventAgeInSeconds=600
    )
    answer = lam.update_function_event_invoke_config(FunctionName="eic", MaximumRetryAttempts=0)
    got = lam.get_function_event_invoke_config(FunctionName="eic")
    for doc in (answer, got):
        assert doc["MaximumRetryAttempts"] == 0
        assert doc["MaximumEventAgeInSeconds"] == 600  # kept: an update changes what it names

    lam.invoke(FunctionName="eic", InvocationType="Event", Payload=b"{}")
    group = "/aws/lambda/eic"
    wait_for_events(endpoint, logs, group, lambda ev: any("REPORT" in e["message"] for e in ev))
    time.sleep(1.0)  # retries would come 0.05 s apart here (AWS: minutes)
    events = wait_for_events(endpoint, logs, group, lambda ev: True)
    assert sum(e["message"].startswith("START") for e in events) == 1


def test_an_all_digit_alias_name_is_refused(lam: Any, deploy: Deploy) -> None:
    deploy("ali", OK)
    lam.publish_version(FunctionName="ali")
    code, status, message = _error(
        lambda: lam.create_alias(FunctionName="ali", Name="123", FunctionVersion="1")
    )
    assert (code, status) == ("ValidationException", 400)
    assert "(?!^[0-9]+$)([a-zA-Z0-9-_]+)" in message
    assert lam.create_alias(FunctionName="ali", Name="v123", FunctionVersion="1")["Name"] == "v123"


def test_tags_only_on_the_unqualified_function_arn(lam: Any, deploy: Deploy) -> None:
    deploy("tagged", OK)
    lam.publish_version(FunctionName="tagged")
    lam.create_alias(FunctionName="tagged", Name="live", FunctionVersion="1")
    for qualified in (f"{ARN}tagged:1", f"{ARN}tagged:live", f"{ARN}tagged:$LATEST"):
        code, status, message = _error(
            lambda q=qualified: lam.tag_resource(Resource=q, Tags={"a": "b"})
        )
        assert (code, status) == ("InvalidParameterValueException", 400)
        assert message.startswith("Tags on function aliases and versions are not supported.")
    for call in (
        lambda: lam.list_tags(Resource="tagged"),
        lambda: lam.tag_resource(Resource="tagged", Tags={"a": "b"}),
        lambda: lam.untag_resource(Resource="tagged", TagKeys=["a"]),
    ):
        code, status, message = _error(call)
        assert (code, status) == ("ValidationException", 400)
        assert "Value 'tagged' at 'resource' failed to satisfy constraint" in message
    lam.tag_resource(Resource=f"{ARN}tagged", Tags={"a": "b"})
    assert lam.list_tags(Resource=f"{ARN}tagged")["Tags"] == {"a": "b"}


def test_start_live_tail_takes_arns_only(endpoint: str, logs: Any) -> None:
    logs.create_log_group(logGroupName="/aws/lambda/tailed")
    client = boto3.client("logs", endpoint_url=endpoint, config=Config(inject_host_prefix=False))
    code, status, message = _error(
        lambda: client.start_live_tail(logGroupIdentifiers=["/aws/lambda/tailed"])
    )
    assert (code, status) == ("InvalidParameterException", 400)
    assert "log group ARNs" in message
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/tailed"
    stream = client.start_live_tail(logGroupIdentifiers=[arn])["responseStream"]
    assert "sessionStart" in next(iter(stream))
    stream.close()


@pytest.mark.parametrize("key", ["A", "1X", "MY-VAR", "_X"])
def test_environment_keys_must_match_lambdas_pattern(lam: Any, deploy: Deploy, key: str) -> None:
    deploy("envkeys", OK)
    for call in (
        lambda: lam.update_function_configuration(
            FunctionName="envkeys", Environment={"Variables": {key: "1"}}
        ),
        lambda: deploy("envkeys2", OK, env={key: "1"}),
    ):
        code, status, message = _error(call)
        assert (code, status) == ("ValidationException", 400)
        assert "[a-zA-Z]([a-zA-Z0-9_])+" in message
    good = lam.update_function_configuration(
        FunctionName="envkeys", Environment={"Variables": {"AB": "1", "my_var2": "2"}}
    )
    assert good["Environment"]["Variables"] == {"AB": "1", "my_var2": "2"}
    assert json.dumps(good)  # a plain configuration document
