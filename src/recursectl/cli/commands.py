"""Every top-level command, in --help order."""

from __future__ import annotations

import click

from recursectl.cli.audit import audit_command
from recursectl.cli.deploy import deploy_command
from recursectl.cli.init import init_command
from recursectl.cli.invoke import invoke
from recursectl.cli.job import job
from recursectl.cli.local import local
from recursectl.cli.logs import logs
from recursectl.cli.ops import destroy_command, info_command, resume_command, stop_command

ALL: list[click.Command] = [
    init_command,
    deploy_command,
    invoke,
    logs,
    info_command,
    stop_command,
    resume_command,
    job,
    destroy_command,
    audit_command,
    local,
]
