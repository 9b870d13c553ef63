"""`recursectl audit` through the real CLI against a local cloud seeded with ~200 functions of
known configurations: every finding expected, none extra, in the table and in --json; a role
without cloudwatch:GetMetricData gets the rest of the audit, with the metrics reported as
unavailable."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest

from recursectl import protocol
from recursectl.audit import needs
from tests.support.cli import BIN, Cli, start_cloud

pytestmark = pytest.mark.e2e
TMUX = shutil.which("tmux")

ACCOUNT = "123456789012"
REGION = "us-east-1"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def tiny_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def main(event, context):\n    return event\n")
    return buf.getvalue()


@dataclass(frozen=True)
class Kind:
    """One family of seeded functions: how they are set up, what the audit must find."""

    prefix: str
    count: int
    role: str  # none | self | star | family
    recursion: str = "Terminate"
    guarded: bool = False
    retries: int | None = 0  # None: no event-invoke config (AWS's default, 2)
    concurrency: int | None = 5
    dropped: float = 0.0
    expect: tuple[str, ...] = ()


KINDS = (
    Kind("quiet", 40, "none"),
    Kind("guarded", 30, "self", recursion="Allow", guarded=True, concurrency=None),
    Kind("allowed", 30, "none", recursion="Allow", expect=("allow-unguarded",)),
    Kind("star", 30, "star", expect=("wildcard-invoke",)),
    Kind("fam", 20, "family", expect=("wildcard-invoke",)),
    Kind("cut", 20, "self", dropped=7, expect=("chains-cut",)),
    Kind("retry", 10, "self", retries=None, expect=("async-retries",)),
    Kind("retry1", 10, "self", retries=1, expect=("async-retries",)),
    Kind("bare", 10, "self", concurrency=None, expect=("no-reserved-concurrency",)),
    Kind("noself-drops", 10, "none", dropped=3),  # drops, but it cannot invoke itself
)


@dataclass
class Seeded:
    cli: Cli
    expected: set[tuple[str, str]] = field(default_factory=set)  # (kind, function)
    names: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def client(self, service: str, **creds: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.cli.endpoint,
            region_name=REGION,
            aws_access_key_id=creds.get("key", "test"),
            aws_secret_access_key=creds.get("secret", "test"),
            aws_session_token=creds.get("token"),
        )


def _role(iam: Any, name: str, statement: dict[str, Any] | None) -> str:
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
    if statement is not None:
        iam.put_role_policy(
            RoleName=name,
            PolicyName="invoke",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
    return str(role["Role"]["Arn"])


def seed(cli: Cli) -> Seeded:
    started = time.perf_counter()
    out = Seeded(cli)
    lam, iam, cw = out.client("lambda"), out.client("iam"), out.client("cloudwatch")
    invoke = "lambda:InvokeFunction"
    self_names = [f"{k.prefix}-{i:03d}" for k in KINDS if k.role == "self" for i in range(k.count)]
    roles = {
        "none": _role(iam, "audit-none", None),
        "star": _role(iam, "audit-star", {"Effect": "Allow", "Action": invoke, "Resource": "*"}),
        "family": _role(
            iam,
            "audit-family",
            {"Effect": "Allow", "Action": invoke, "Resource": arn("fam-*")},
        ),
        # each function may invoke itself, and the others of this role by name: no wildcard
        "self": _role(
            iam,
            "audit-self",
            {"Effect": "Allow", "Action": invoke, "Resource": [arn(n) for n in self_names]},
        ),
    }
    code = tiny_zip()
    now = datetime.now(timezone.utc)
    metric_data = []
    for kind in KINDS:
        for i in range(kind.count):
            name = f"{kind.prefix}-{i:03d}"
            out.names.append(name)
            env = {}
            handler = "app.main"
            if kind.guarded:
                handler = protocol.ENTRY_POINT
                env = {protocol.HANDLER_ENV: "app.main", protocol.MAX_CALLS_ENV: "25"}
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=roles[kind.role],
                Handler=handler,
                Code={"ZipFile": code},
                MemorySize=256,
                Environment={"Variables": env},
            )
            if kind.recursion != "Terminate":
                lam.put_function_recursion_config(FunctionName=name, RecursiveLoop=kind.recursion)
            if kind.retries is not None:
                lam.put_function_event_invoke_config(
                    FunctionName=name, MaximumRetryAttempts=kind.retries
                )
            if kind.concurrency is not None:
                lam.put_function_concurrency(
                    FunctionName=name, ReservedConcurrentExecutions=kind.concurrency
                )
            dims = [{"Name": "FunctionName", "Value": name}]
            metric_data.append(
                {
                    "MetricName": "Invocations",
                    "Dimensions": dims,
                    "Value": 100.0,
                    "Timestamp": now - timedelta(days=3),
                }
            )
            metric_data.append(
                {
                    "MetricName": "Duration",
                    "Dimensions": dims,
                    "Value": 50_000.0,
                    "Timestamp": now - timedelta(days=3),
                }
            )
            if kind.dropped:
                metric_data.append(
                    {
                        "MetricName": "RecursiveInvocationsDropped",
                        "Dimensions": dims,
                        "Value": kind.dropped,
                        "Timestamp": now - timedelta(days=1),
                    }
                )
            out.expected |= {(finding, name) for finding in kind.expect}
    # An old drop (outside a 14-day window) must not count: the window is honoured.
    metric_data.append(
        {
            "MetricName": "RecursiveInvocationsDropped",
            "Dimensions": [{"Name": "FunctionName", "Value": "bare-000"}],
            "Value": 9.0,
            "Timestamp": now - timedelta(days=20),
        }
    )
    for start in range(0, len(metric_data), 1000):  # PutMetricData takes 1,000 a call
        cw.put_metric_data(Namespace="AWS/Lambda", MetricData=metric_data[start : start + 1000])
    out.seconds = time.perf_counter() - started
    return out


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A local cloud of its own (the audit sees every function in it), seeded once."""
    for cli in start_cloud(tmp_path_factory):
        yielded = seed(cli)
        print(f"seeded {len(yielded.names)} functions in {yielded.seconds:.1f} s")
        yield yielded


def test_every_finding_expected_none_extra_in_json(seeded: Seeded) -> None:
    doc = seeded.cli.json("audit")
    found = {(f["kind"], f["function"]) for f in doc["findings"]}
    assert found == seeded.expected
    assert len(doc["findings"]) == len(seeded.expected)  # no finding twice
    assert doc["summary"]["functions"] == len(seeded.names) == 210
    assert doc["unavailable"] == []
    by_name = {f["name"]: f for f in doc["functions"]}
    guarded = by_name["guarded-000"]
    assert guarded["guard"]["wraps"]
    assert guarded["guard"]["user_handler"] == "app.main"
    assert guarded["recursion"] == "Allow"
    assert guarded["self_invoke"] is True
    assert by_name["retry-000"]["async_retries"] == 2  # no config: AWS's default
    assert by_name["cut-000"]["metrics"]["RecursiveInvocationsDropped"] == 7
    assert by_name["bare-000"]["metrics"]["RecursiveInvocationsDropped"] == 0  # 20 days ago
    # 50 s x 0.25 GB = 12.5 GB-s at x86's price, plus 100 requests
    assert by_name["quiet-000"]["cost_usd"] == pytest.approx(12.5 * 0.0000166667 + 100 * 2e-7)
    severities = [f["severity"] for f in doc["findings"]]
    order = {"high": 0, "medium": 1, "low": 2}
    assert severities == sorted(severities, key=order.__getitem__)  # ranked
    star = next(f for f in doc["findings"] if f["function"] == "star-000")
    assert star["severity"] == "high"
    assert "--role-name audit-star" in star["fix"]


def test_table_fits_80_columns_and_lists_every_finding_with_its_fix(seeded: Seeded) -> None:
    proc = seeded.cli.run("audit", "--fail-on", "high")
    assert proc.returncode == 1, proc.stderr  # allow-unguarded and `*` are high
    lines = proc.stdout.splitlines()
    fix_at = lines.index("Fix (one command each, by #):")
    table = lines[:fix_at]
    assert max(len(line) for line in table) <= 80
    rows = [line.split() for line in table if line[:3].strip().isdigit()]
    assert len(rows) == len(seeded.expected)
    fixes = [line for line in lines[fix_at + 1 :] if line[:3].strip()[:1].isdigit()]
    ranks: list[int] = []
    for line in fixes:  # "  7  aws ...", "2-31  aws iam ..." (one role's command, once)
        for part in line.strip().split("  ", 1)[0].split(", "):
            first, _, last = part.partition("-")
            ranks += range(int(first), int(last or first) + 1)
    assert sorted(ranks) == list(range(1, len(seeded.expected) + 1))
    # one command per role for the wildcard findings (30 on audit-star, 20 on audit-family)
    assert len(fixes) == len(seeded.expected) - 30 - 20 + 2
    assert any(
        "put-function-recursion-config --function-name allowed-000 --recursive-loop Terminate"
        in line
        for line in fixes
    )
    assert any("recursectl --local deploy --name cut-000" in line for line in fixes)
    names = {row[2] for row in rows}
    assert names == {name for _, name in seeded.expected}
    # --fail-on low as well; --fail-on for a level with no finding above exits 0 elsewhere
    assert seeded.cli.run("audit", "--fail-on", "low", "-q").returncode == 1


def test_a_role_without_getmetricdata_gets_the_rest_and_says_what_is_missing(
    seeded: Seeded,
) -> None:
    iam, sts = seeded.client("iam"), seeded.client("sts")
    document = needs.policy()
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "AuditReadMetrics"]
    # and one part refused for some functions only: reported for those, per function
    document["Statement"].append(
        {
            "Effect": "Deny",
            "Action": "lambda:GetFunctionEventInvokeConfig",
            "Resource": arn("retry-*"),
        }
    )
    document["Statement"].append(
        {
            "Effect": "Deny",
            "Action": "iam:GetRolePolicy",
            "Resource": f"arn:aws:iam::{ACCOUNT}:role/audit-family",
        }
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(
        RoleName="auditor-no-metrics", AssumeRolePolicyDocument=json.dumps(trust)
    )
    iam.put_role_policy(
        RoleName="auditor-no-metrics", PolicyName="audit", PolicyDocument=json.dumps(document)
    )
    creds = sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="ci")["Credentials"]
    env = {
        **{k: v for k, v in seeded.cli.env.items() if k != "RECURSECTL_LOCAL"},
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }
    as_role = Cli(env=env, port=seeded.cli.port, cwd=seeded.cli.cwd)
    target = ("--endpoint-url", seeded.cli.endpoint, "--region", REGION)
    doc = as_role.json("audit", *target)
    # Everything but what needs the parts not read is still found
    refused = {f"retry-{i:03d}" for i in range(10)}
    family = {f"fam-{i:03d}" for i in range(20)}  # their role's policies could not be read
    expected = {
        (k, n)
        for k, n in seeded.expected
        if k != "chains-cut" and not (k == "async-retries" and n in refused) and n not in family
    }
    assert {(f["kind"], f["function"]) for f in doc["findings"]} == expected
    assert ("async-retries", "retry1-000") in expected  # the others' retries are still read
    gaps = sorted((u["api"], u["function"] or "") for u in doc["unavailable"])
    assert gaps == [
        ("cloudwatch:GetMetricData", ""),
        *sorted(("iam:GetRolePolicy", n) for n in family),
        *sorted(("lambda:GetFunctionEventInvokeConfig", n) for n in refused),
    ]
    assert next(f for f in doc["functions"] if f["name"] == "fam-000")["self_invoke"] is None
    assert all("AccessDenied" in u["why"] for u in doc["unavailable"])
    assert next(f for f in doc["functions"] if f["name"] == "retry-000")["async_retries"] is None
    fn = next(f for f in doc["functions"] if f["name"] == "cut-000")
    assert fn["metrics"] is None
    assert fn["cost_usd"] is None
    assert "cloudwatch:GetMetricData" in fn["unavailable"]
    text = as_role.run("audit", *target)
    assert text.returncode == 0
    assert "cloudwatch:GetMetricData not read for region us-east-1" in text.stderr
    assert "lambda:GetFunctionEventInvokeConfig not read for 10 functions" in text.stderr


def test_a_role_that_cannot_list_functions_gets_one_error_and_the_policy_hint(
    seeded: Seeded,
) -> None:
    iam, sts = seeded.client("iam"), seeded.client("sts")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName="auditor-nothing", AssumeRolePolicyDocument=json.dumps(trust))
    creds = sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="ci")["Credentials"]
    env = {
        **{k: v for k, v in seeded.cli.env.items() if k != "RECURSECTL_LOCAL"},
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }
    proc = Cli(env=env, port=seeded.cli.port, cwd=seeded.cli.cwd).run(
        "audit", "--endpoint-url", seeded.cli.endpoint, "--region", REGION
    )
    assert proc.returncode == 3
    assert "Cannot list the functions" in proc.stderr
    assert "audit --print-policy" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_all_regions_scans_every_enabled_region(seeded: Seeded) -> None:
    doc = seeded.cli.json("audit", "--all-regions")
    regions = {r["region"]: r["functions"] for r in doc["regions"]}
    assert len(regions) > 10
    assert regions.pop(REGION) == len(seeded.names)
    assert set(regions.values()) == {0}  # the others are empty, and were read
    assert {(f["kind"], f["function"]) for f in doc["findings"]} == seeded.expected
    assert doc["unavailable"] == []


def test_print_policy_is_the_policy_document() -> None:
    from click.testing import CliRunner

    from recursectl.cli import cli

    result = CliRunner().invoke(cli, ["audit", "--print-policy"])
    assert result.exit_code == 0
    assert json.loads(result.output) == needs.policy()


def _tmux(*args: str) -> str:
    assert TMUX is not None
    proc = subprocess.run([TMUX, *args], capture_output=True, text=True, timeout=30, check=True)
    return proc.stdout


@pytest.mark.skipif(
    TMUX is None, reason="tmux is not installed (scripts/ensure-tools installs it as root)"
)
def test_on_a_terminal_a_progress_bar_then_the_table_in_80_columns(
    seeded: Seeded, tmp_path: Path
) -> None:
    done = tmp_path / "exit-code"
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in seeded.cli.env.items() if k != "NO_COLOR")
    command = (
        f"cd {shlex.quote(str(seeded.cli.cwd))} && env -i {env} TERM=xterm-256color "
        f"{shlex.quote(str(BIN / 'recursectl'))} audit; echo $? > {shlex.quote(str(done))}; "
        "sleep 600"
    )
    session = f"recursectl-{uuid.uuid4().hex[:8]}"
    _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    seen_bar = False
    try:
        for _ in range(600):  # bounded: 120 s
            if done.exists() and done.read_text().strip():
                break
            seen_bar = seen_bar or "auditing" in _tmux("capture-pane", "-p", "-t", session)
            time.sleep(0.2)
        history = _tmux("capture-pane", "-p", "-S", "-", "-t", session)
    finally:
        _tmux("kill-session", "-t", session)
    assert done.read_text().strip() == "0", history
    assert seen_bar, "no progress bar was drawn on the terminal"
    assert "auditing" not in history  # transient: gone once the table is printed
    lines = history.splitlines()
    at = next((i for i, line in enumerate(lines) if line.lstrip().startswith("#")), None)
    assert at is not None, history[:3000]
    table = lines[at : lines.index("Fix (one command each, by #):")]
    assert sum(1 for line in table if line[:3].strip().isdigit()) == len(seeded.expected)
