"""Async destinations, dead-letter queues and S3 code (issue 11, rows 8 and 12): real boto3
clients against a real local cloud, on functions made by plain CreateFunction. Each test is a
row of docs/fidelity.md."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest

from recursectl.local.engine.executor import lineage_key
from tests.support.localcloud import (
    SERVERS,
    Deploy,
    local_status,
    make_zip,
    wait_active,
    wait_for_events,
    wait_updated,
)

ACCOUNT = "123456789012"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function"
HANDLER = """
import time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("boom: " + event["fail"])
    return {"echo": event}
"""
CATCHER = """
import json
def handler(event, context):
    print("CAUGHT " + json.dumps(event))
"""


@pytest.fixture
def sqs(endpoint: str) -> Any:
    return boto3.client("sqs", endpoint_url=endpoint)


def _queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, attributes["Attributes"]["QueueArn"]


def _messages(sqs: Any, url: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Receive `count` messages. Short polls: moto serves one request at a time, so a long
    poll would hold every other call (the delivery among them) for its whole wait."""
    deadline = time.monotonic() + timeout
    got: list[dict[str, Any]] = []
    while len(got) < count:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        got += answer.get("Messages", [])
        assert time.monotonic() < deadline, f"{len(got)} of {count} messages in {url}"
        if len(got) < count:
            time.sleep(0.05)
    return got


def _event(lam: Any, name: str, payload: dict[str, Any]) -> str:
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload))
    assert response["StatusCode"] == 202
    return str(response["ResponseMetadata"]["RequestId"])


def test_a_successful_event_sends_an_on_success_record(
    endpoint: str, lam: Any, sqs: Any, deploy: Deploy
) -> None:
    deploy("okfn", {"handler.py": HANDLER})
    url, queue_arn = _queue(sqs, "on-success")
    lam.put_function_event_invoke_config(
        FunctionName="okfn", DestinationConfig={"OnSuccess": {"Destination": queue_arn}}
    )
    request_id = _event(lam, "okfn", {"n": 1})
    (message,) = _messages(sqs, url)
    record = json.loads(message["Body"])
    timestamp = record.pop("timestamp")
    assert time.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    assert record == {
        "version": "1.0",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{ARN}:okfn:$LATEST",
            "condition": "Success",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"n": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"echo": {"n": 1}},
    }
    # An EventBridge bus as the destination: the record is the event's detail.
    events = boto3.client("events", endpoint_url=endpoint)
    bus_url, bus_queue = _queue(sqs, "from-bus")
    events.put_rule(Name="results", EventPattern=json.dumps({"source": ["lambda"]}))
    events.put_targets(Rule="results", Targets=[{"Id": "q", "Arn": bus_queue}])
    bus = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"
    lam.put_function_event_invoke_config(
        FunctionName="okfn", DestinationConfig={"OnSuccess": {"Destination": bus}}
    )
    second = _event(lam, "okfn", {"n": 2})
    (delivered,) = _messages(sqs, bus_url)
    event = json.loads(delivered["Body"])
    assert (event["source"], event["detail-type"]) == (
        "lambda",
        "Lambda Function Invocation Result - Success",
    )
    assert event["detail"]["requestContext"]["requestId"] == second
    assert event["detail"]["responsePayload"] == {"echo": {"n": 2}}


def test_a_failed_event_goes_to_on_failure_and_the_dead_letter_queue(
    endpoint: str, lam: Any, sqs: Any, deploy: Deploy
) -> None:
    dlq_url, dlq_arn = _queue(sqs, "dead-letters")
    sns = boto3.client("sns", endpoint_url=endpoint)
    topic = sns.create_topic(Name="failures")["TopicArn"]
    topic_url, topic_queue = _queue(sqs, "from-topic")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=topic_queue)
    deploy("badfn", {"handler.py": HANDLER})
    lam.update_function_configuration(FunctionName="badfn", DeadLetterConfig={"TargetArn": dlq_arn})
    wait_updated(lam, "badfn")
    config = lam.get_function_configuration(FunctionName="badfn")
    assert config["DeadLetterConfig"] == {"TargetArn": dlq_arn}
    lam.put_function_event_invoke_config(
        FunctionName="badfn",
        MaximumRetryAttempts=0,  # no retries: the first failure is final
        DestinationConfig={"OnFailure": {"Destination": topic}},
    )
    request_id = _event(lam, "badfn", {"fail": "x" * 2000})
    (dead,) = _messages(sqs, dlq_url)
    assert json.loads(dead["Body"]) == {"fail": "x" * 2000}  # the event, unchanged
    attributes = {
        k: (v["DataType"], v["StringValue"]) for k, v in dead["MessageAttributes"].items()
    }
    assert attributes["RequestID"] == ("String", request_id)
    assert attributes["ErrorCode"] == ("Number", "200")
    kind, text = attributes["ErrorMessage"]
    assert kind == "String"
    assert text.startswith("boom: xxx")
    assert len(text.encode()) == 1024  # the first 1 KB of the error message
    (notified,) = _messages(sqs, topic_url)
    record = json.loads(json.loads(notified["Body"])["Message"])  # SNS: the record is Message
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{ARN}:badfn:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 1,
    }
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ValueError"
    # An empty TargetArn removes the dead-letter queue, as on AWS.
    lam.update_function_configuration(FunctionName="badfn", DeadLetterConfig={"TargetArn": ""})
    wait_updated(lam, "badfn")
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName="badfn")


def test_a_loop_detection_drop_reaches_on_failure(lam: Any, sqs: Any, deploy: Deploy) -> None:
    deploy("loopy", {"handler.py": HANDLER})
    url, queue_arn = _queue(sqs, "loop-failures")
    lam.put_function_event_invoke_config(
        FunctionName="loopy", DestinationConfig={"OnFailure": {"Destination": queue_arn}}
    )
    lam.update_function_configuration(
        FunctionName="loopy", DeadLetterConfig={"TargetArn": queue_arn}
    )
    wait_updated(lam, "loopy")
    # A trace header that has seen this function 16 times: the 17th call is stopped.
    trace = "Root=1-5e34a614-10bd2b7a3f1e4c1b2a3d4e5f;Parent=53995c3f42cd8ad8;Sampled=0"
    key = lineage_key(f"{ARN}:loopy")

    def add(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = f"{trace};Lineage={key}:16"

    lam.meta.events.register_first("before-sign.lambda.Invoke", add)
    request_id = _event(lam, "loopy", {"hop": 17})
    lam.meta.events.unregister("before-sign.lambda.Invoke", add)
    messages = _messages(sqs, url, count=2)
    (record,) = [json.loads(m["Body"]) for m in messages if "MessageAttributes" not in m]
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{ARN}:loopy:$LATEST",
        "condition": "RecursiveInvocationException",
        "approximateInvokeCount": 0,
    }
    assert record["requestPayload"] == {"hop": 17}
    assert "responseContext" not in record  # the function never ran
    (dead,) = [m for m in messages if "MessageAttributes" in m]
    assert json.loads(dead["Body"]) == {"hop": 17}
    assert dead["MessageAttributes"]["ErrorCode"]["StringValue"] == "400"


def test_an_event_past_its_maximum_age_reaches_a_lambda_destination(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    deploy("catcher", {"handler.py": CATCHER})
    deploy("busy", {"handler.py": HANDLER})
    lam.put_function_concurrency(FunctionName="busy", ReservedConcurrentExecutions=1)
    lam.put_function_event_invoke_config(
        FunctionName="busy",
        MaximumEventAgeInSeconds=60,  # AWS's minimum
        DestinationConfig={"OnFailure": {"Destination": f"{ARN}:catcher"}},
    )
    _event(lam, "busy", {"sleep": 5.0})  # takes the one slot (killed at the reset after)
    request_id = _event(lam, "busy", {"late": True})  # waits in the queue behind it
    # The one injected part: the engine's clock, moved 61 s on (no test waits a minute).
    SERVERS[endpoint].door.engine.expire_events(now=time.monotonic() + 61)
    events = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/catcher",
        lambda ev: any(e["message"].startswith("CAUGHT ") for e in ev),
    )
    (line,) = [e["message"] for e in events if e["message"].startswith("CAUGHT ")]
    record = json.loads(line[len("CAUGHT ") :])
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{ARN}:busy:$LATEST",
        "condition": "EventAgeExceeded",
        "approximateInvokeCount": 0,
    }
    assert record["requestPayload"] == {"late": True}


def test_a_failed_delivery_is_logged_and_invocations_go_on(
    endpoint: str, lam: Any, deploy: Deploy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="recursectl.local.engine.destinations")
    deploy("lost", {"handler.py": HANDLER})
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:no-such-queue"
    lam.put_function_event_invoke_config(
        FunctionName="lost", DestinationConfig={"OnSuccess": {"Destination": missing}}
    )
    _event(lam, "lost", {"n": 1})
    deadline = time.monotonic() + 10
    while not any(missing in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the failed delivery was not logged"
        time.sleep(0.05)
    (warning,) = [r for r in caplog.records if missing in r.getMessage()]
    assert "QueueDoesNotExist" in warning.getMessage()
    assert local_status(endpoint)["destinations"]["failed"] >= 1
    assert json.loads(lam.invoke(FunctionName="lost", Payload=b"{}")["Payload"].read()) == {
        "echo": {}
    }


def test_code_from_s3_runs_and_code_location_downloads_the_zip(
    endpoint: str, lam: Any, deploy: Deploy
) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="artifacts")
    first = make_zip({"handler.py": "def handler(e, c):\n    return 'one'\n"})
    second = make_zip({"handler.py": "def handler(e, c):\n    return 'two'\n"})
    s3.put_object(Bucket="artifacts", Key="v1.zip", Body=first)
    s3.put_object(Bucket="artifacts", Key="v2.zip", Body=second)
    created = lam.create_function(
        FunctionName="froms3",
        Runtime="python3.11",
        Role=f"arn:aws:iam::{ACCOUNT}:role/fn-role",  # made by the deploy fixture
        Handler="handler.handler",
        Code={"S3Bucket": "artifacts", "S3Key": "v1.zip"},
    )
    sha = base64.b64encode(hashlib.sha256(first).digest()).decode()
    assert created["CodeSha256"] == sha
    wait_active(lam, "froms3")
    assert json.loads(lam.invoke(FunctionName="froms3")["Payload"].read()) == "one"
    code = lam.get_function(FunctionName="froms3")["Code"]
    assert code["RepositoryType"] == "S3"
    assert code["Location"].startswith(f"{endpoint}/")  # the local cloud itself
    with urllib.request.urlopen(code["Location"], timeout=10) as response:
        assert response.read() == first
    tampered = code["Location"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered, timeout=10)
    assert refused.value.code == 403
    lam.update_function_code(FunctionName="froms3", S3Bucket="artifacts", S3Key="v2.zip")
    wait_updated(lam, "froms3")
    assert json.loads(lam.invoke(FunctionName="froms3")["Payload"].read()) == "two"
    location = lam.get_function(FunctionName="froms3")["Code"]["Location"]
    with urllib.request.urlopen(location, timeout=10) as response:
        assert hashlib.sha256(response.read()).digest() == hashlib.sha256(second).digest()
