"""recursectl's own deploy (`deploy.apply`) of the demo function against a local cloud, for the
functional tests of deploy and its operations."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from recursectl import protocol
from recursectl.aws import Aws, Target
from recursectl.build import package
from recursectl.deploy import apply
from recursectl.settings import Settings


def local_aws(endpoint: str) -> Aws:
    """The AWS layer aimed at a local cloud, without waiting between retries."""
    return Aws(Target(endpoint_url=endpoint, region="us-east-1", local=True), sleep=lambda s: None)


def demo_package(handler: str | None = None, guarded: bool = True) -> package.Package:
    # The entry point is set explicitly, so these tests do not depend on which helper this
    # checkout bundles (nothing here runs the function).
    pkg = package.build(package.parse_handler(handler))
    return dataclasses.replace(pkg, entry_point=protocol.ENTRY_POINT if guarded else None)


def deploy_demo(
    endpoint: str,
    settings: Settings | None = None,
    handler: Path | None = None,
    guarded: bool = True,
    **kw: Any,
) -> tuple[Aws, apply.DeployResult]:
    """Deploy `settings` (default: the function "demo") as `recursectl deploy` does; `kw` goes
    to `apply.deploy` (such as `progress`)."""
    settings = settings or Settings(name="demo")
    pkg = demo_package(str(handler) if handler else settings.handler, guarded)
    aws = local_aws(endpoint)
    return aws, apply.deploy(aws, settings, pkg, **kw)
