"""Function RevisionIds (moto gives functions none): one per version, renewed by every write
to `$LATEST`; a stale one on an update is AWS's 412 PreconditionFailedException."""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

from recursectl.local import errors

if TYPE_CHECKING:
    from recursectl.local.frontdoor.server import FrontDoor

STALE = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


class Revisions:
    """The RevisionId of each function version, by (name, version); made on first sight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], str] = {}

    def current(self, name: str, version: str = "$LATEST") -> str:
        with self._lock:
            return self._ids.setdefault((name, version), str(uuid.uuid4()))

    def renew(self, name: str, version: str = "$LATEST") -> str:
        with self._lock:
            self._ids[(name, version)] = new = str(uuid.uuid4())
            return new

    def forget(self, name: str) -> None:
        with self._lock:
            for key in [k for k in self._ids if k[0] == name]:
                del self._ids[key]

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()


def check_revision(door: FrontDoor, name: str, doc: dict[str, Any]) -> None:
    """412 PreconditionFailedException for a RevisionId that is not `$LATEST`'s current one."""
    given = doc.get("RevisionId")
    if given is not None and given != door.revisions.current(name):
        raise errors.PreconditionFailed(STALE)
