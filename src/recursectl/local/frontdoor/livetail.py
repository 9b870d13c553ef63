"""StartLiveTail at the front door: CloudWatch Logs' Live Tail as an event stream.

Every PutLogEvents that reaches moto (the log writer's, and any client's through the front
door) is published to the `Hub`; each open session keeps the events of its log groups that
match its streams and filter pattern, and its connection's thread (one thread per connection:
see `netserver`) sends them as AWS does:

- an `initial-response` event (botocore's JSON protocol wants one), then `sessionStart`;
- a `sessionUpdate` every second (`interval_s`), empty when nothing came in;
- above 500 matching events a second the update carries a random sample of 500 of them and
  `sessionMetadata.sampled` is true;
- after the session limit (3 hours on AWS; `session_s`) a `SessionTimeoutException` ends the
  stream; a client that hangs up ends its session at the next update.

`LiveTailSettings` are the local cloud's knobs: `refuse` answers every StartLiveTail with
`AccessDeniedException` or `LimitExceededException` (a caller without the permission, or over
the quota of concurrent sessions), so the fallback paths of a client can be tested for real.
They are set through the control endpoint `/_recursectl/livetail` and reset with moto.
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from recursectl.local.config import env_number
from recursectl.local.frontdoor import eventstream, validate
from recursectl.local.frontdoor.http11 import Streamed
from recursectl.local.frontdoor.logfilter import PatternError, Predicate, compile_pattern
from recursectl.local.frontdoor.logsapi import error as _error
from recursectl.local.frontdoor.logsapi import iam_group_arn
from recursectl.local.motowire import Response

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from recursectl.local.motowire import Moto

TARGET = "Logs_20140328.StartLiveTail"
PUT_TARGET = "Logs_20140328.PutLogEvents"
_ARN = re.compile(r"^arn:[\w-]+:logs:(?P<region>[\w-]+):\d{12}:log-group:(?P<name>[^:*]+)$")
REFUSALS = ("AccessDeniedException", "LimitExceededException")


@dataclass
class LiveTailSettings:
    refuse: str | None = None  # one of REFUSALS: every StartLiveTail is answered with it
    session_s: float = field(
        default_factory=lambda: env_number("RECURSECTL_LOCAL_LIVE_TAIL_SESSION_S", 3 * 3600.0)
    )
    interval_s: float = 1.0  # AWS: "every second, a LiveTailSessionUpdate object is sent"
    sample_above: int = 500  # matching events per second before updates are sampled
    max_sessions: int = 15  # concurrent sessions (AWS's default quota) -> LimitExceeded

    def update(self, doc: dict[str, Any]) -> None:
        """Set the fields named in `doc` (the control endpoint's body); ValueError if bad."""
        known = {f.name for f in fields(self)}
        for key, value in doc.items():
            if key not in known:
                raise ValueError(f"unknown Live Tail setting {key!r}")
            if key == "refuse":
                if value is not None and value not in REFUSALS:
                    raise ValueError(f"refuse must be null or one of {', '.join(REFUSALS)}")
            elif not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{key} must be a positive number")
            setattr(self, key, int(value) if key in ("sample_above", "max_sessions") else value)


@dataclass
class _Query:
    region: str
    groups: dict[str, str]  # log group name -> the identifier the caller gave
    stream_names: frozenset[str] | None
    prefixes: tuple[str, ...] | None
    matches: Predicate
    doc: dict[str, Any]


class Session:
    """One open Live Tail stream: events offered by the hub, sent by `chunks()`."""

    def __init__(self, hub: Hub, query: _Query) -> None:
        self.hub = hub
        self.query = query
        self.session_id = str(uuid.uuid4())
        self._cond = threading.Condition()
        self._pending: list[dict[str, Any]] = []
        self._closed = False

    def offer(self, region: str, group: str, stream: str, events: list[dict[str, Any]]) -> None:
        q = self.query
        ident = q.groups.get(group)
        if region != q.region or ident is None:
            return
        if q.stream_names is not None and stream not in q.stream_names:
            return
        if q.prefixes is not None and not stream.startswith(q.prefixes):
            return
        ingested = int(time.time() * 1000)
        kept = [
            {
                "logStreamName": stream,
                "logGroupIdentifier": ident,
                "message": str(e.get("message", "")),
                "timestamp": int(e.get("timestamp", 0)),
                "ingestionTime": ingested,
            }
            for e in events
            if q.matches(str(e.get("message", "")))
        ]
        if kept:
            with self._cond:
                self._pending += kept

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def chunks(self) -> Iterator[bytes]:
        """The event stream; unregisters the session however it ends (closed, hung up)."""
        settings = self.hub.settings
        try:
            yield eventstream.event("initial-response", {})
            start = {"requestId": secrets.token_hex(16), "sessionId": self.session_id}
            yield eventstream.event("sessionStart", {**start, **self.query.doc})
            deadline = time.monotonic() + settings.session_s
            while True:
                update = self._next_update(deadline, settings.interval_s)
                if update is None:
                    return
                if time.monotonic() >= deadline:
                    yield eventstream.exception(
                        "SessionTimeoutException",
                        f"Live Tail session {self.session_id} reached its limit "
                        f"of {settings.session_s:g} s",
                    )
                    return
                yield eventstream.event("sessionUpdate", self._sampled(update, settings))
        finally:
            self.hub.drop(self)

    def _next_update(self, deadline: float, interval: float) -> list[dict[str, Any]] | None:
        """Wait one interval (or until the deadline); the events that came in. None: closed."""
        until = min(time.monotonic() + interval, deadline)
        with self._cond:
            while not self._closed:
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if self._closed:
                return None
            batch, self._pending = self._pending, []
        return batch

    @staticmethod
    def _sampled(batch: list[dict[str, Any]], settings: LiveTailSettings) -> dict[str, Any]:
        # AWS samples each one-second update down to 500 events; with a shorter local
        # interval the same rate per second applies.
        cap = max(1, round(settings.sample_above * settings.interval_s))
        sampled = len(batch) > cap
        if sampled:
            keep = sorted(random.sample(range(len(batch)), cap))
            batch = [batch[i] for i in keep]
        return {"sessionMetadata": {"sampled": sampled}, "sessionResults": batch}


class Hub:
    """The open sessions, and what every PutLogEvents publishes to them."""

    def __init__(self, moto: Moto) -> None:
        self.moto = moto
        self.settings = LiveTailSettings()
        self._lock = threading.Lock()
        self._sessions: set[Session] = set()
        self.started = 0  # sessions opened since the last reset

    def publish(self, region: str, group: str, stream: str, events: list[dict[str, Any]]) -> None:
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            try:  # one session's failure is its own: the others, and the log, go on
                session.offer(region, group, stream, events)
            except Exception as exc:
                log.warning("Live Tail session dropped an update: %r", exc)

    def publish_put(self, region: str, body: bytes) -> None:
        """A client's PutLogEvents request body (after moto took it)."""
        try:
            doc = json.loads(body)
            group, stream = str(doc["logGroupName"]), str(doc["logStreamName"])
            events = [e for e in doc.get("logEvents") or [] if isinstance(e, dict)]
        except (ValueError, KeyError, TypeError):
            return
        self.publish(region, group, stream, events)

    def drop(self, session: Session) -> None:
        with self._lock:
            self._sessions.discard(session)

    def open_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def reset(self) -> None:
        """Default settings, every session ended (moto was reset)."""
        self.settings = LiveTailSettings()
        with self._lock:
            sessions, self._sessions = self._sessions, set()
            self.started = 0
        for session in sessions:
            session.close()

    def start(self, region: str, body: bytes) -> Response | Streamed:
        """StartLiveTail: an error response, or the session's event stream."""
        refuse = self.settings.refuse
        if refuse == "AccessDeniedException":
            return _error(refuse, "User is not authorized to perform: logs:StartLiveTail")
        query = self._query(region, body)
        if not isinstance(query, _Query):
            return query
        session = Session(self, query)
        with self._lock:
            if refuse or len(self._sessions) >= self.settings.max_sessions:
                return _error(
                    "LimitExceededException",
                    f"at most {self.settings.max_sessions} concurrent Live Tail sessions",
                )
            self._sessions.add(session)  # from here on it sees every new event
            self.started += 1
        headers = {"Content-Type": eventstream.CONTENT_TYPE}
        return Streamed(200, headers, session.chunks())

    def _query(self, region: str, body: bytes) -> _Query | Response:
        try:
            doc = json.loads(body or b"{}")
            assert isinstance(doc, dict)
        except (ValueError, AssertionError):
            return _error("InvalidParameterException", "the request body is not a JSON object")
        try:  # the model's types, lengths and patterns before anything else
            validate.check("logs", "StartLiveTail", doc, "InvalidParameterException")
        except validate.Invalid as exc:
            return _error(exc.kind, exc.message)
        idents = doc.get("logGroupIdentifiers")
        if not isinstance(idents, list) or not 1 <= len(idents) <= 10:
            return _error("InvalidParameterException", "give 1 to 10 logGroupIdentifiers")
        names = doc.get("logStreamNames")
        prefixes = doc.get("logStreamNamePrefixes")
        if names is not None and prefixes is not None:
            return _error(
                "InvalidParameterException",
                "logStreamNames and logStreamNamePrefixes cannot both be given",
            )
        if (names is not None or prefixes is not None) and len(idents) != 1:
            return _error(
                "InvalidParameterException", "log stream filters need exactly one log group"
            )
        try:
            matches = compile_pattern(doc.get("logEventFilterPattern"))
        except PatternError as exc:
            return _error("InvalidParameterException", f"Invalid filter pattern: {exc}")
        groups = self._groups(region, [str(i) for i in idents])
        if not isinstance(groups, dict):
            return groups
        echo = {k: doc[k] for k in ("logStreamNames", "logStreamNamePrefixes") if k in doc}
        if doc.get("logEventFilterPattern"):
            echo["logEventFilterPattern"] = doc["logEventFilterPattern"]
        return _Query(
            region=region,
            groups=groups,
            stream_names=frozenset(names) if names is not None else None,
            prefixes=tuple(prefixes) if prefixes is not None else None,
            matches=matches,
            doc={"logGroupIdentifiers": list(groups.values()), **echo},
        )

    def _groups(self, region: str, idents: list[str]) -> dict[str, str] | Response:
        groups: dict[str, str] = {}
        for ident in idents:
            m = _ARN.match(ident)
            if m is None:  # AWS takes log group ARNs only
                return _error(
                    "InvalidParameterException",
                    f"logGroupIdentifiers take log group ARNs "
                    f"(arn:aws:logs:REGION:ACCOUNT:log-group:NAME), not {ident!r}",
                )
            if m["region"] != region:
                return _error("InvalidParameterException", f"{ident} is in another region")
            name = m["name"]
            if not self._group_exists(region, name):
                return _error(
                    "ResourceNotFoundException", f"The specified log group does not exist: {ident}"
                )
            groups[name] = ident
        return groups

    def _group_exists(self, region: str, name: str) -> bool:
        code, got = self.moto.aws(
            "logs",
            "POST",
            "/",
            region=region,
            body={"logGroupNamePrefix": name},
            target="Logs_20140328.DescribeLogGroups",
        )
        listed = (got or {}).get("logGroups") or [] if code == 200 else []
        return any(g.get("logGroupName") == name for g in listed)


def settings_doc(hub: Hub) -> dict[str, Any]:
    return {**asdict(hub.settings), "open_sessions": hub.open_sessions(), "started": hub.started}


def group_arns(body: bytes, region: str, account: str) -> list[str]:
    """The log groups a StartLiveTail request names, as IAM names them (`...:log-group:NAME:*`);
    a malformed body names none (the request itself then fails as AWS answers it)."""
    try:
        idents = json.loads(body or b"{}").get("logGroupIdentifiers")
    except (ValueError, AttributeError):
        return []
    if not isinstance(idents, list):
        return []
    return [iam_group_arn(str(ident), region, account) for ident in idents]
