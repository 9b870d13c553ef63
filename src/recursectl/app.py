"""The typed object every command receives with @click.pass_obj."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from recursectl.errors import UsageError
from recursectl.settings import LOCAL_REGION, Settings
from recursectl.ui import UI

if TYPE_CHECKING:
    from recursectl.aws import Aws, Target


def check_endpoint_url(url: str) -> None:
    """An endpoint is an http(s) URL with a host; botocore would fail later, less clearly."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"The endpoint URL {url!r} is not an http(s) URL.",
            hint="give --endpoint-url (or AWS_ENDPOINT_URL, `endpoint_url`) as "
            "http://HOST[:PORT], e.g. http://127.0.0.1:4599",
        )
    del port


@dataclass
class App:
    settings: Settings
    ui: UI
    _aws: Aws | None = field(default=None, repr=False)

    def configure(self, **overrides: Any) -> Settings:
        """Apply a command's own flags (None = not given) on top of the global settings."""
        self.settings = self.settings.with_overrides(**overrides)
        self._aws = None
        return self.settings

    @property
    def debug(self) -> bool:
        return self.ui.debug

    def reset(self, settings: Settings) -> None:
        """New global settings (the global options were parsed again): new clients too."""
        self.settings = settings
        self._aws = None

    def target(self) -> Target:
        from recursectl.aws import Target

        s = self.settings
        if s.endpoint_url:
            check_endpoint_url(s.endpoint_url)
        if s.local:
            return Target(
                region=s.region or LOCAL_REGION,
                endpoint_url=s.endpoint_url or f"http://127.0.0.1:{s.local_port}",
                local=True,
            )
        return Target(region=s.region, profile=s.profile, endpoint_url=s.endpoint_url)

    def aws(self) -> Aws:
        """Clients for the configured target; with --local, the local cloud is started first."""
        if self._aws is None:
            from recursectl.aws import Aws

            target = self.target()
            if target.local and not self.settings.endpoint_url:
                from recursectl.local.daemon import ensure_running

                ensure_running(self.settings.local_port, on_start=self.ui.info)
            on_call = (lambda name: self.ui.trace(f"aws: {name}")) if self.ui.debug else None
            self._aws = Aws(target, on_call=on_call)
        return self._aws
