"""`recursectl audit`: read-only scan of a region's (or every region's) functions for unsafe
recursion; findings ranked, each with the command that fixes it."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import click
from rich.text import Text

from recursectl.app import App
from recursectl.cli.options import json_option
from recursectl.errors import AwsError

if TYPE_CHECKING:
    from recursectl.audit.report import Audit
    from recursectl.aws import Aws

_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm]?)\s*$")
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "": 86400.0}
REGIONS_AT_ONCE = 4
MAX_WINDOW_DAYS = 455  # CloudWatch keeps hourly datapoints for 455 days


def parse_window(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    match = _WINDOW.match(value or "")
    seconds = float(match[1]) * _UNIT_S[match[2]] if match else 0.0
    if not match or not 300 <= seconds <= MAX_WINDOW_DAYS * 86400:
        raise click.BadParameter(
            f"{value!r}: give a duration like 14d, 36h or 90m (5m to {MAX_WINDOW_DAYS}d)"
        )
    return timedelta(seconds=seconds)


def _fix_flags(aws: Aws, region: str) -> list[str]:
    """The AWS CLI flags a printed fix needs to act where the function is."""
    flags = ["--region", region]
    if aws.target.profile:
        flags += ["--profile", aws.target.profile]
    if aws.target.endpoint_url:
        flags += ["--endpoint-url", aws.target.endpoint_url]
    return flags


def run_audit(aws: Aws, regions: list[str], window: timedelta, app: App) -> Audit:
    from recursectl.audit import rules
    from recursectl.audit.report import Audit
    from recursectl.audit.scan import RegionScan, Scanner

    end = datetime.now(timezone.utc).replace(microsecond=0)
    start = end - window
    managed: dict[str, object] = {}  # managed policies are global: read once for all regions
    with app.ui.progress("auditing") as ticker:

        def scan(region: str) -> RegionScan:
            here = aws if region == aws.region else aws.for_region(region)
            scanner = Scanner(
                here,
                start=start,
                end=end,
                total=ticker.total,
                advance=ticker.advance,
                managed=managed,
            )
            return scanner.run()

        # A few regions at a time, each with its own clients and worker threads, so that one
        # region's waits on the network overlap another's.
        with ThreadPoolExecutor(min(REGIONS_AT_ONCE, len(regions)) or 1) as pool:
            scans = list(pool.map(scan, regions))
    found = rules.findings(
        [f for s in scans for f in s.functions],
        days=window.total_seconds() / 86400,
        flags=lambda region: _fix_flags(aws, region),
    )
    return Audit(regions=scans, start=start, end=end, findings=found)


def _render(app: App, audit: Audit) -> None:
    from recursectl.audit import report

    ui = app.ui
    ui.info(report.headline(audit))
    if audit.findings:
        ui.data(report.table(audit))
        ui.write("Fix (one command each, by #):")  # a command shared by findings: once
        ui.write("\n".join(ui.cmd(line) for line in report.fixes(audit)))
        if not ui.quiet:
            ui.write("\nWhat the findings mean:")
            for line in report.reasons(audit):
                ui.data(Text(f"- {line}"))  # wrapped at the terminal's width
    else:
        ui.success("no unsafe recursion found")
    for line in report.unavailable_lines(audit):
        ui.warn(line)


@click.command("audit")
@json_option
@click.option(
    "--fail-on",
    type=click.Choice(["high", "medium", "low"]),
    help="Exit 1 when a finding at this level or above exists (for CI).",
)
@click.option("--all-regions", is_flag=True, help="Every region enabled for the account.")
@click.option(
    "--window",
    default="14d",
    show_default=True,
    callback=parse_window,
    help="How far back to read CloudWatch metrics (14d, 36h, 90m).",
)
@click.option(
    "--print-policy", is_flag=True, help="Print the IAM policy the audit needs, and exit."
)
@click.pass_obj
@click.pass_context
def audit_command(
    ctx: click.Context,
    app: App,
    as_json: bool,
    fail_on: str | None,
    all_regions: bool,
    window: timedelta,
    print_policy: bool,
) -> None:
    """Scan every function for unsafe recursion (read-only).

    \b
    For each function: loop detection (Allow/Terminate), whether recursectl's guard wraps
    it, whether its role may invoke it (and other functions), reserved concurrency, async
    retries and destinations, and CloudWatch metrics over the window (drops by loop
    detection, invocations, errors, throttles, an estimated cost). Findings are ranked;
    each comes with the one command that fixes it.

    \b
      recursectl audit                         # this region, the last 14 days
      recursectl audit --all-regions --json    # everything, as one JSON document
      recursectl audit --fail-on high          # CI: exit 1 on a high finding
      recursectl audit --print-policy          # the IAM policy the audit needs
    """
    from recursectl.audit import needs
    from recursectl.audit.rules import Severity

    if print_policy:
        app.ui.write(json.dumps(needs.policy(), indent=2))
        return
    aws = app.aws()
    regions = aws.enabled_regions() if all_regions else [aws.region]
    audit = run_audit(aws, regions, window, app)
    if audit.regions and all("lambda:ListFunctions" in r.unavailable for r in audit.regions):
        why = audit.regions[0].unavailable["lambda:ListFunctions"]
        raise AwsError(
            f"Cannot list the functions: {why}",
            hint="the audit needs read permissions: see `recursectl audit --print-policy`",
        )
    if as_json:
        app.ui.emit_json(audit.as_json())
    else:
        _render(app, audit)
    worst = audit.worst()
    if fail_on and worst is not None and worst >= Severity[fail_on.upper()]:
        if not as_json:
            app.ui.notice(f"exit 1: a finding at level {fail_on} or above (--fail-on {fail_on})")
        ctx.exit(1)


__all__ = ["audit_command", "parse_window"]
