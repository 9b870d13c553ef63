"""Every top-level command, in --help order."""

from __future__ import annotations

import click

from recursectl.cli.invoke import invoke
from recursectl.cli.local import local
from recursectl.cli.logs import logs

ALL: list[click.Command] = [invoke, logs, local]
