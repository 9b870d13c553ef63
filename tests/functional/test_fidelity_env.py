"""The execution environment as AWS gives it (docs/fidelity.md, "Execution environment"):
plain boto3 against a real local cloud, functions made by plain CreateFunction."""

from __future__ import annotations

import base64
import glob
import json
import os
import shutil
import sys
from typing import Any

import pytest

from recursectl.local.worker import environment, interpreters
from tests.support.localcloud import Deploy, local_status, wait_for_events

PROBE = """
import importlib
import os
import sys
import tempfile

def handler(event, context):
    found = {}
    for name in event["modules"]:
        try:
            importlib.import_module(name)
            found[name] = True
        except ImportError:
            found[name] = False
    try:
        with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "new.txt"), "w") as f:
            f.write("x")
        writable = True
    except OSError:
        writable = False
    with open(os.path.join(tempfile.gettempdir(), "mine.txt"), "w") as f:
        f.write(context.function_name)
    others = sorted(os.listdir(tempfile.gettempdir()))
    cc = context.client_context
    return {"found": found, "task_root_writable": writable, "tmp": others,
            "tmpdir": tempfile.gettempdir(), "uid": os.getuid(),
            "execution_env": os.environ.get("AWS_EXECUTION_ENV"),
            "client_context": cc.custom if cc else None,
            "executable": sys.executable, "version": list(sys.version_info[:2])}
"""


def _call(lam: Any, name: str, payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **extra)
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def test_only_the_package_the_sdk_and_the_stdlib_import(deploy: Deploy, lam: Any) -> None:
    deploy("iso-imports", {"handler.py": PROBE})
    modules = ["boto3", "botocore", "s3transfer", "json", "requests", "recursectl", "click"]
    modules += ["moto", "flask", "rich", "yaml"]
    found = _call(lam, "iso-imports", {"modules": modules})["found"]
    assert [name for name in modules[:4] if not found[name]] == []
    leaked = [name for name in modules[4:] if found[name]]
    assert leaked == []


def test_a_missing_dependency_is_an_import_module_error(deploy: Deploy, lam: Any) -> None:
    deploy("iso-missing", {"handler.py": "import requests\n\ndef handler(e, c):\n    return 1\n"})
    response = lam.invoke(FunctionName="iso-missing", Payload=b"{}")
    body = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'requests'" in body["errorMessage"]


def test_task_root_read_only_and_tmp_per_environment(
    endpoint: str, deploy: Deploy, lam: Any
) -> None:
    deploy("iso-tmp-a", {"handler.py": PROBE})
    deploy("iso-tmp-b", {"handler.py": PROBE})
    a = _call(lam, "iso-tmp-a", {"modules": []})
    b = _call(lam, "iso-tmp-b", {"modules": []})
    assert a["tmpdir"] != b["tmpdir"]
    assert b["tmp"] == ["mine.txt"]  # a's file is not in b's temporary folder
    status = local_status(endpoint)
    notes = " ".join(status["isolation_notes"])
    if status["isolation"]["mount_namespace"] == "yes":
        assert "absolute /tmp paths are shared" not in notes
        assert a["task_root_writable"] is False  # a read-only mount holds for root too
    else:
        assert "absolute /tmp paths are shared" in notes
    if a["uid"] == 0:  # only where the OS cannot give a user: said once, in local status
        assert "handlers run as root" in notes
        assert status["isolation"]["user"].startswith("root")
    else:
        assert a["task_root_writable"] is False


def test_execution_env_and_client_context(deploy: Deploy, lam: Any) -> None:
    deploy("ctx-fn", {"handler.py": PROBE}, runtime="python3.12")
    context = {"custom": {"k": "v"}, "client": {}, "env": {}}
    encoded = base64.b64encode(json.dumps(context).encode()).decode()
    body = _call(lam, "ctx-fn", {"modules": []}, ClientContext=encoded)
    assert body["execution_env"] == "AWS_Lambda_python3.12"
    assert body["client_context"] == {"k": "v"}


def _report(log_result: str) -> str:
    text = base64.b64decode(log_result).decode()
    return next(line for line in text.splitlines() if line.startswith("REPORT"))


def _field(report: str, key: str) -> float:
    part = next(p for p in report.split("\t") if p.startswith(key + ":"))
    return float(part.split(":")[1].split()[0])


SHARED_TMP = """
import errno, os

def handler(event, context):
    try:
        with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "new.txt"), "w") as f:
            f.write("x")
        write = "ok"
    except OSError as exc:
        write = errno.errorcode[exc.errno]
    if event.get("leave"):
        with open("/tmp/left-by-" + context.function_name, "w") as f:
            f.write("secret")
    # the local cloud's own work folder, when it lives under /tmp, is bound back in: not theirs
    tmp = [n for n in os.listdir("/tmp") if not n.startswith("recursectl-local-")]
    return {"task_root_write": write, "tmp": sorted(tmp), "uid": os.getuid()}
"""


def test_as_root_the_task_root_is_read_only_and_tmp_is_each_environments_own(
    endpoint: str, deploy: Deploy, lam: Any
) -> None:
    status = local_status(endpoint)
    if status["isolation"]["mount_namespace"] != "yes":
        pytest.skip("this machine gives workers no mount namespace (not root, or no CAP_SYS_ADMIN)")
    deploy("ns-a", {"handler.py": SHARED_TMP})
    deploy("ns-b", {"handler.py": SHARED_TMP})
    a = _call(lam, "ns-a", {"leave": True})
    b = _call(lam, "ns-b", {})
    assert a["task_root_write"] == "EROFS"  # AWS's errno: a read-only file system
    assert a["tmp"] == ["left-by-ns-a"]
    assert b["tmp"] == []  # an absolute /tmp path of a is not b's
    assert not os.path.exists("/tmp/left-by-ns-a")  # nor the host's
    assert _call(lam, "ns-a", {})["tmp"] == ["left-by-ns-a"]  # warm: its own /tmp stays
    isolation = local_status(endpoint)["isolation"]
    assert isolation["task_root"] == "read-only mount (EROFS)"
    assert isolation["tmp"].startswith("/tmp of its own")


def test_over_memory_size_is_runtime_out_of_memory(lam: Any, deploy: Deploy) -> None:
    hog = "def handler(e, c):\n    return len(bytearray(e.get('mb', 1) * 1024 * 1024))\n"
    deploy("oom-fn", {"handler.py": hog})  # MemorySize 128, the default
    response = lam.invoke(FunctionName="oom-fn", Payload=b'{"mb": 300}', LogType="Tail")
    body = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert body["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    report = _report(response["LogResult"])
    assert "Status: error\tError Type: Runtime.OutOfMemory" in report
    assert _field(report, "Max Memory Used") == 128
    # The environment was stopped: the next call is a cold start in a new one, and works.
    small = lam.invoke(FunctionName="oom-fn", Payload=b"{}", LogType="Tail")
    assert "FunctionError" not in small
    assert json.loads(small["Payload"].read()) == 1024 * 1024
    assert "Init Duration" in _report(small["LogResult"])


def test_cold_start_billed_duration_includes_init(lam: Any, deploy: Deploy) -> None:
    deploy("billed-fn", {"handler.py": "def handler(e, c):\n    return 1\n"})
    report = _report(lam.invoke(FunctionName="billed-fn", LogType="Tail")["LogResult"])
    duration, init = _field(report, "Duration"), _field(report, "Init Duration")
    assert _field(report, "Billed Duration") >= duration + init


def test_an_init_over_the_limit_is_retried_within_the_invoke(
    endpoint: str, deploy: Deploy, lam: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AWS's limit is 10 s; 1 s here keeps the test short (the rule is the same).
    monkeypatch.setattr(environment, "INIT_TIMEOUT", 1.0)
    slow = "import time\ntime.sleep(2)\n\ndef handler(e, c):\n    return 'ready'\n"
    deploy("slow-init", {"handler.py": slow}, timeout=10)
    response = lam.invoke(FunctionName="slow-init", Payload=b"{}", LogType="Tail")
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == "ready"
    assert "Init Duration" in _report(response["LogResult"])
    events = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/slow-init",
        lambda ev: any("REPORT" in e["message"] for e in ev),
    )
    init_reports = [e["message"] for e in events if e["message"].startswith("INIT_REPORT")]
    assert len(init_reports) == 1
    assert init_reports[0].endswith("Phase: init\tStatus: timeout")
    assert len({e["logStreamName"] for e in events}) == 1  # the same environment's stream


def _a_python(version: str) -> str | None:
    """An installed interpreter of `version` that is not this one (pyenv's included)."""
    candidates = [shutil.which(f"python{version}") or ""]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python3")))
    for path in candidates:
        if path and interpreters._probe(path, f"python{version}"):
            return path
    return None


def test_the_declared_runtime_runs_with_its_interpreter(
    deploy: Deploy, lam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"
    python = _a_python(version)
    if python is None:
        pytest.skip(f"no python{version} on this machine")
    monkeypatch.setenv(interpreters.SETTING, f"python{version}={python}")
    monkeypatch.setattr(interpreters, "_found", {})
    deploy("rt-fn", {"handler.py": PROBE}, runtime=f"python{version}")
    body = _call(lam, "rt-fn", {"modules": ["boto3", "requests"]})
    assert body["version"] == [int(part) for part in version.split(".")]
    assert body["found"] == {"boto3": True, "requests": False}
