"""Every top-level command, in --help order."""

from __future__ import annotations

import click

from recursectl.cli.local import local

ALL: list[click.Command] = [local]
