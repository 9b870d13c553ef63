"""The audit's pure parts: IAM evaluation of invoke grants, the finding rules, the ranking."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from recursectl import protocol
from recursectl.audit import facts as F
from recursectl.audit.facts import FunctionFacts, Metrics
from recursectl.audit.policy import invoke_grants, self_only_deny
from recursectl.audit.rules import Severity, findings

ACCT = "arn:aws:lambda:us-east-1:123456789012"
ARN = f"{ACCT}:function:loop"


def doc(*statements: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("inline:p", {"Version": "2012-10-17", "Statement": list(statements)})]


def allow(resource: Any, action: Any = "lambda:InvokeFunction") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


@pytest.mark.parametrize(
    ("statement", "self_invoke", "wildcard"),
    [
        (allow(ARN), True, False),
        (allow([ARN, f"{ARN}:*"]), True, False),
        (allow(f"{ACCT}:function:other"), False, False),
        (allow([ARN, f"{ACCT}:function:worker"]), True, False),  # a named peer: no wildcard
        (allow("*"), True, True),
        (allow(f"{ACCT}:function:lo*"), True, True),
        (allow(f"{ACCT}:function:*"), True, True),
        (allow(ARN, action="lambda:*"), True, False),
        (allow("*", action="lambda:Invoke*"), True, True),
        (allow("*", action="lambda:GetFunction"), False, False),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, True, True),
        ({"Effect": "Allow", "Action": "lambda:InvokeFunction", "NotResource": "x"}, True, True),
        (allow(f"{ACCT.upper()}:function:loop"), False, False),  # ARNs are case-sensitive
        (allow(ARN, action="LAMBDA:invokefunction"), True, False),  # actions are not
    ],
)
def test_invoke_grants(statement: dict[str, Any], self_invoke: bool, wildcard: bool) -> None:
    grants = invoke_grants(doc(statement), ARN)
    assert bool(grants) is self_invoke
    assert any(g.wildcard for g in grants) is wildcard


def test_deny_takes_back_the_grant_and_the_fix_narrows_the_wildcard() -> None:
    denied = doc(allow("*"), {"Effect": "Deny", "Action": "lambda:*", "Resource": ARN})
    assert invoke_grants(denied, ARN) == []
    fixed = [*doc(allow("*")), ("inline:fix", self_only_deny([ARN]))]
    grants = invoke_grants(fixed, ARN)
    assert grants
    assert not any(g.wildcard for g in grants)


def facts(**kw: Any) -> FunctionFacts:
    base: dict[str, Any] = {
        "name": "loop",
        "arn": ARN,
        "region": "us-east-1",
        "runtime": "python3.12",
        "architecture": "x86_64",
        "memory_mb": 1024,
        "role": "arn:aws:iam::123456789012:role/loop-role",
        "handler": "app.main",
        "guarded": False,
        "user_handler": "app.main",
        "max_calls": None,
        "max_invocations": None,
        "recursion": "Terminate",
        "concurrency": None,
        "retries": 0,
        "metrics": Metrics(),
    }
    base.update(kw)
    return FunctionFacts(**base)


def kinds(*fs: FunctionFacts) -> list[tuple[str, str]]:
    found = findings(fs, days=14, flags=lambda region: ["--region", region])
    return [(f.kind, f.function) for f in found]


SELF = tuple(invoke_grants(doc(allow(ARN)), ARN))
STAR = tuple(invoke_grants(doc(allow("*")), ARN))


def test_a_function_that_cannot_recurse_has_no_finding() -> None:
    assert kinds(facts()) == []
    assert kinds(facts(retries=None, recursion="Terminate")) == []  # not a self-invoker


def test_allow_without_guard_is_high_and_guarded_allow_is_not() -> None:
    found = findings([facts(recursion="Allow")], days=14, flags=lambda r: ["--region", r])
    assert [(f.kind, f.severity) for f in found] == [("allow-unguarded", Severity.HIGH)]
    assert found[0].fix == (
        "aws lambda put-function-recursion-config --function-name loop "
        "--recursive-loop Terminate --region us-east-1"
    )
    guarded = facts(
        recursion="Allow",
        guarded=True,
        handler=protocol.ENTRY_POINT,
        grants=SELF,
        concurrency=None,
    )
    assert kinds(guarded) == []


def test_drops_count_only_for_self_invokers_with_terminate() -> None:
    dropping = Metrics(dropped=7)
    assert kinds(facts(grants=SELF, concurrency=5, metrics=dropping)) == [("chains-cut", "loop")]
    cut = findings(
        [facts(grants=SELF, concurrency=5, metrics=dropping)], days=14, flags=lambda r: []
    )
    assert cut[0].fix == "recursectl deploy --name loop --max-calls 32 --region us-east-1"
    assert cut[0].detail == "7 dropped in 14d"
    assert kinds(facts(grants=SELF, concurrency=5, metrics=Metrics())) == []
    assert kinds(facts(concurrency=5, metrics=dropping)) == []  # cannot invoke itself
    # Unread metrics make no finding (reported as unavailable instead)
    unread = facts(grants=SELF, concurrency=5, metrics=None, unavailable={F.METRIC_DATA: "x"})
    assert kinds(unread) == []


def test_async_retries_and_concurrency_on_an_unguarded_self_invoker() -> None:
    f = facts(grants=SELF, retries=None)  # no event-invoke config: AWS retries twice
    assert kinds(f) == [("async-retries", "loop"), ("no-reserved-concurrency", "loop")]
    assert kinds(replace(f, retries=0, concurrency=50)) == []
    # A part not read is not guessed
    unknown = replace(f, unavailable={F.EVENT_INVOKE: "denied", F.CONCURRENCY: "denied"})
    assert kinds(unknown) == []


def test_wildcard_star_is_high_a_name_wildcard_medium() -> None:
    star = findings([facts(grants=STAR, concurrency=1)], days=14, flags=lambda r: [])
    assert [(f.kind, f.severity) for f in star] == [("wildcard-invoke", Severity.HIGH)]
    assert "put-role-policy --role-name loop-role" in star[0].fix
    family = tuple(invoke_grants(doc(allow(f"{ACCT}:function:lo*")), ARN))
    named = findings([facts(grants=family, concurrency=1)], days=14, flags=lambda r: [])
    assert [(f.kind, f.severity) for f in named] == [("wildcard-invoke", Severity.MEDIUM)]


def test_ranking_severity_then_cost() -> None:
    cheap = facts(name="cheap", recursion="Allow", metrics=Metrics(duration_ms=1000))
    dear = facts(name="dear", recursion="Allow", metrics=Metrics(duration_ms=9e6))
    low = facts(name="low", grants=SELF)
    assert kinds(low, cheap, dear) == [
        ("allow-unguarded", "dear"),
        ("allow-unguarded", "cheap"),
        ("no-reserved-concurrency", "low"),
    ]


def test_cost_from_duration_memory_and_architecture() -> None:
    f = facts(memory_mb=2048, metrics=Metrics(duration_ms=3_600_000, invocations=1_000_000))
    # 3,600 s x 2 GB = 7,200 GB-s at x86's list price, plus $0.20 per million requests
    assert f.cost_usd == pytest.approx(7200 * 0.0000166667 + 0.20)
    arm = replace(f, architecture="arm64")
    assert arm.cost_usd == pytest.approx(7200 * 0.0000133334 + 0.20)


def test_the_readme_shows_the_policy_the_audit_needs() -> None:
    import json
    from pathlib import Path

    from recursectl.audit import needs

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    at = readme.index("The policy the audit needs")
    start = readme.index("```json\n", at) + len("```json\n")
    assert json.loads(readme[start : readme.index("```", start)]) == needs.policy()


@pytest.mark.parametrize(
    ("text", "seconds"), [("14d", 14 * 86400), ("36h", 36 * 3600), ("90m", 5400), ("2", 172800)]
)
def test_window(text: str, seconds: float) -> None:
    from recursectl.cli.audit import parse_window

    assert parse_window(None, None, text).total_seconds() == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "14x", "-1d", "1m", "500d"])
def test_window_refused(text: str) -> None:
    import click

    from recursectl.cli.audit import parse_window

    with pytest.raises(click.BadParameter):
        parse_window(None, None, text)  # type: ignore[arg-type]


def test_progress_bar_only_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from recursectl.ui import UI

    plain = io.StringIO()
    with UI(err=Console(file=plain)).progress("auditing") as ticker:
        ticker.total(10)
        ticker.advance(10)
    assert plain.getvalue() == ""
    tty = io.StringIO()
    with UI(err=Console(file=tty, force_terminal=True, width=80)).progress("auditing") as t:
        t.total(4)
        t.advance(4)
    assert "auditing" in tty.getvalue()


def test_the_table_fits_80_columns_with_long_names_and_several_regions() -> None:
    import io
    from datetime import datetime, timedelta, timezone

    from rich.console import Console

    from recursectl.audit import report
    from recursectl.audit.scan import RegionScan

    long = "a-function-name-of-the-longest-kind-lambda-allows-sixty-four-xx"
    fs = [
        facts(name=long, recursion="Allow", grants=STAR),
        facts(name="short", region="eu-west-1", grants=SELF, retries=None),
    ]
    end = datetime(2026, 12, 1, tzinfo=timezone.utc)
    found = findings(fs, days=14, flags=lambda r: ["--region", r])
    audit = report.Audit(
        [RegionScan("us-east-1", fs[:1]), RegionScan("eu-west-1", fs[1:])],
        end - timedelta(days=14),
        end,
        found,
    )
    out = io.StringIO()
    Console(file=out, width=200).print(report.table(audit))
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert sum(1 for line in lines if line.strip()[:1].isdigit()) == len(found) == 5
    assert "(eu-west-1)" in out.getvalue()
    assert len(report.fixes(audit)) == 5


def test_a_wildcard_fix_too_long_for_iam_says_so() -> None:
    users = tuple(f"{ACCT}:function:fn-{i:03d}-{'x' * 40}" for i in range(100))
    found = findings(
        [facts(grants=STAR, concurrency=1, role_users=users)], days=14, flags=lambda r: []
    )
    assert "give these functions roles of their own" in found[0].reason
    short = findings([facts(grants=STAR, concurrency=1)], days=14, flags=lambda r: [])
    assert "roles of their own" not in short[0].reason


def test_an_unread_role_makes_no_self_invoke_finding() -> None:
    unread = facts(recursion="Terminate", retries=None, unavailable={"iam:GetRolePolicy": "x"})
    assert unread.self_invoker is None
    assert kinds(unread, replace(unread, metrics=Metrics(dropped=3))) == []
    assert unread.known(F.ROLE) is False
    assert facts().known(F.ROLE) is True


def test_a_command_shared_by_findings_is_printed_once_after_their_ranks() -> None:
    from datetime import datetime, timedelta, timezone

    from recursectl.audit import report
    from recursectl.audit.scan import RegionScan

    users = (ARN, f"{ACCT}:function:other")
    fs = [
        facts(name=n, arn=a, grants=STAR, concurrency=1, role_users=users)
        for n, a in (("loop", ARN), ("other", users[1]))
    ]
    end = datetime(2026, 12, 1, tzinfo=timezone.utc)
    found = findings(fs, days=14, flags=lambda r: [])
    audit = report.Audit([RegionScan("us-east-1", fs)], end - timedelta(days=14), end, found)
    lines = report.fixes(audit)
    assert len(found) == 2
    assert len(lines) == 1
    assert lines[0].startswith("1-2  aws iam put-role-policy --role-name loop-role")
