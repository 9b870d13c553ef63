"""Async destinations and dead-letter queues: what Lambda sends when an Event invocation ends.

- `OnSuccess` / `OnFailure` (PutFunctionEventInvokeConfig's DestinationConfig) get the
  invocation record (version "1.0", timestamp, requestContext, requestPayload,
  responseContext, responsePayload): as the SQS message body, the SNS message, the payload of
  an Event invoke of a Lambda destination, or the `detail` of an EventBridge event (source
  `lambda`, detail-type "Lambda Function Invocation Result - Success" / "- Failure").
- `DeadLetterConfig` (SQS or SNS) gets the event payload unchanged, with the message
  attributes RequestID (String), ErrorCode (Number, an HTTP status) and ErrorMessage (String,
  the first 1 KB of the error message).

Deliveries go through moto in-process from one thread of their own, so an invocation never
waits for them; a delivery that fails is logged (AWS counts it in the DestinationDeliveryFailures
/ DeadLetterErrors metrics) and dropped. They are made with the local cloud's own access, not
the function's execution role (AWS needs sqs:SendMessage, sns:Publish, lambda:InvokeFunction or
events:PutEvents on the role; nothing is checked here).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from recursectl.local.motowire import Moto

log = logging.getLogger(__name__)

MAX_PENDING = 10_000  # deliveries waiting; past that they are dropped (and logged)
ERROR_MESSAGE_LIMIT = 1024  # AWS: "the first 1 KB of the error message"


@dataclass(frozen=True)
class Ending:
    """How an Event invocation ended, as the record and the DLQ message describe it."""

    condition: str  # Success | RetriesExhausted | EventAgeExceeded | RecursiveInvocationException
    request_id: str
    function_arn: str  # qualified: `...:function:name:$LATEST` for an unqualified invoke
    payload: bytes
    attempts: int  # requestContext.approximateInvokeCount
    executed_version: str | None = None  # None: the function never ran
    function_error: str | None = None  # "Unhandled" when the last attempt failed
    response: bytes = b""
    error_code: int = 200  # DLQ ErrorCode: the HTTP status of the failure
    error_message: str = ""  # DLQ ErrorMessage, when the response carries none


def _json_or_text(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def iso_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def invocation_record(ending: Ending, timestamp: str | None = None) -> dict[str, Any]:
    """The invocation record Lambda sends to OnSuccess / OnFailure destinations."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": timestamp or iso_now(),
        "requestContext": {
            "requestId": ending.request_id,
            "functionArn": ending.function_arn,
            "condition": ending.condition,
            "approximateInvokeCount": ending.attempts,
        },
        "requestPayload": _json_or_text(ending.payload),
    }
    if ending.executed_version is not None:  # an attempt ran: its response is described
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": ending.executed_version}
        if ending.function_error:
            context["functionError"] = ending.function_error
        record["responseContext"] = context
        record["responsePayload"] = _json_or_text(ending.response)
    return record


def error_message(ending: Ending) -> str:
    """The DLQ's ErrorMessage: the function's errorMessage (or the drop's reason), 1 KB."""
    text = ending.error_message
    body = _json_or_text(ending.response)
    if isinstance(body, dict) and body.get("errorMessage"):
        text = str(body["errorMessage"])
    elif isinstance(body, str) and body:
        text = body
    return text.encode()[:ERROR_MESSAGE_LIMIT].decode("utf-8", "ignore") or ending.condition


def dlq_attributes(ending: Ending) -> dict[str, tuple[str, str]]:
    """name -> (DataType, StringValue), as Lambda sets them on a dead-letter message."""
    return {
        "RequestID": ("String", ending.request_id),
        "ErrorCode": ("Number", str(ending.error_code)),
        "ErrorMessage": ("String", error_message(ending)),
    }


def _arn_parts(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN; ValueError if it is not one."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[2], parts[3], parts[4], parts[5]


InvokeEvent = Callable[[str, bytes], None]  # (function ARN, payload): an Event invoke


class Deliveries:
    """One thread sending records and dead letters through moto, in the order they came."""

    def __init__(self, moto: Moto, invoke_event: InvokeEvent | None = None) -> None:
        self.moto = moto
        self.invoke_event = invoke_event
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[tuple[str, str, dict[str, tuple[str, str]], str] | None] = (
            queue.Queue(MAX_PENDING)
        )
        self._thread = threading.Thread(target=self._run, name="destinations", daemon=True)
        self._thread.start()

    def ended(
        self, ending: Ending, on_success: str | None, on_failure: str | None, dlq: str | None
    ) -> None:
        """Queue what AWS sends for this ending (nothing when nothing is configured)."""
        if ending.condition == "Success":
            if on_success:
                self._put(on_success, ending, "Success")
            return
        if on_failure:
            self._put(on_failure, ending, "Failure")
        if dlq:  # AWS sends to both when both are configured
            body = ending.payload.decode("utf-8", "replace")
            self._offer((dlq, body, dlq_attributes(ending), ""))

    def _put(self, arn: str, ending: Ending, result: str) -> None:
        body = json.dumps(invocation_record(ending), separators=(",", ":"))
        self._offer((arn, body, {}, f"{ending.function_arn}|{result}"))

    def _offer(self, item: tuple[str, str, dict[str, tuple[str, str]], str]) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.failed += 1
            log.warning(
                "destination %s: %d deliveries pending; this one dropped", item[0], MAX_PENDING
            )

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until what was queued so far has been sent (tests, flush)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        with contextlib.suppress(queue.Full):  # full: the daemon thread ends with the process
            self._queue.put_nowait(None)

    def counts(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "pending": self._queue.qsize(),
        }

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                arn, body, attributes, source = item
                try:
                    self._send(arn, body, attributes, source)
                    self.delivered += 1
                except Exception as exc:  # a failed delivery is logged, never raised
                    self.failed += 1
                    log.warning("delivery to %s failed: %s", arn, exc)
            finally:
                self._queue.task_done()

    def _send(
        self, arn: str, body: str, attributes: dict[str, tuple[str, str]], source: str
    ) -> None:
        service, region, account, resource = _arn_parts(arn)
        if service == "sqs":
            self._sqs(region, account, resource, body, attributes)
        elif service == "sns":
            self._sns(region, arn, body, attributes)
        elif service == "lambda":
            if self.invoke_event is None:
                raise ValueError("no Lambda invoker")
            self.invoke_event(arn, body.encode())
        elif service == "events":
            self._events(region, arn, body, source)
        else:
            raise ValueError(f"unsupported destination type {service!r}")

    def _sqs(
        self,
        region: str,
        account: str,
        name: str,
        body: str,
        attributes: dict[str, tuple[str, str]],
    ) -> None:
        target = "AmazonSQS.GetQueueUrl"
        code, found = self.moto.aws(
            "sqs",
            "POST",
            "/",
            region=region,
            target=target,
            body={"QueueName": name, "QueueOwnerAWSAccountId": account},
        )
        if code != 200 or not isinstance(found, dict):
            raise ValueError(f"no such queue ({code}: {found})")
        message: dict[str, Any] = {"QueueUrl": found["QueueUrl"], "MessageBody": body}
        if attributes:
            message["MessageAttributes"] = {
                k: {"DataType": t, "StringValue": v} for k, (t, v) in attributes.items()
            }
        code, answer = self.moto.aws(
            "sqs", "POST", "/", region=region, target="AmazonSQS.SendMessage", body=message
        )
        if code != 200:
            raise ValueError(f"SendMessage answered {code}: {answer}")

    def _sns(
        self, region: str, topic: str, body: str, attributes: dict[str, tuple[str, str]]
    ) -> None:
        form: dict[str, str] = {"Action": "Publish", "TopicArn": topic, "Message": body}
        for i, (name, (kind, value)) in enumerate(attributes.items(), start=1):
            form[f"MessageAttributes.entry.{i}.Name"] = name
            form[f"MessageAttributes.entry.{i}.Value.DataType"] = kind
            form[f"MessageAttributes.entry.{i}.Value.StringValue"] = value
        headers = {
            "Host": f"sns.{region}.amazonaws.com",
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential=test/20240101/{region}/sns/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        code, _, answer = self.moto.call("POST", "/", "", headers, urlencode(form).encode())
        if code != 200:
            raise ValueError(f"Publish answered {code}: {answer[:200]!r}")

    def _events(self, region: str, bus: str, body: str, source: str) -> None:
        function_arn, _, result = source.partition("|")
        entry = {
            "Source": "lambda",
            "DetailType": f"Lambda Function Invocation Result - {result}",
            "Detail": body,
            "EventBusName": bus,
            "Resources": [function_arn, bus],
        }
        code, answer = self.moto.aws(
            "events",
            "POST",
            "/",
            region=region,
            target="AWSEvents.PutEvents",
            body={"Entries": [entry]},
        )
        if code != 200 or (isinstance(answer, dict) and answer.get("FailedEntryCount")):
            raise ValueError(f"PutEvents answered {code}: {answer}")
