"""9: deploy of a project with dependencies: the first deploy (cold dependency cache) and an
unchanged redeploy (wall time, API calls, installs made).

Offline: the dependency is a pure-Python wheel written here into a folder that pip installs
from (`--no-index --find-links`), so the number is recursectl's (pip, zip, deploy) and not the
network's. The cache is a fresh temporary folder, so the first deploy really installs.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

from bench.cloud import LOCAL_RUNTIME, REGION
from bench.context import Context
from bench.harness import Row, median, verdict

_READS = ("Get", "List", "Describe")
_MODULE = "def shout(text):\n    return text.upper() + '!'\n" + "# padding\n" * 2000


def _wheel(folder: Path, name: str = "benchdep", version: str = "1.0") -> None:
    """A minimal valid pure-Python wheel (PEP 427), written by hand."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": _MODULE,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)


def _project(root: Path) -> None:
    root.mkdir()
    (root / "handler.py").write_text(
        "import benchdep\n\ndef handler(event, context):\n    return benchdep.shout('hi')\n"
    )
    (root / "requirements.txt").write_text("benchdep==1.0\n")


def project_deploy(ctx: Context) -> list[Row]:
    from recursectl.build.package import Options, build, parse_handler
    from recursectl.deploy.apply import deploy
    from recursectl.settings import Settings

    cloud = ctx.cloud
    first_s: list[float] = []
    again_s: list[float] = []
    runs: list[tuple[list[str], bool, list[str], bool]] = []
    with tempfile.TemporaryDirectory(prefix="recursectl-bench-project-") as tmp:
        wheels = Path(tmp) / "wheels"
        wheels.mkdir()
        _wheel(wheels)
        for i in range(ctx.sizes.deploy_repeats):
            root = Path(tmp) / f"project{i}"
            _project(root)
            cache = Path(tmp) / f"cache{i}"  # cold for the first deploy of each repeat
            name = f"bench-project-{uuid.uuid4().hex[:8]}"
            settings = Settings(name=name, local=True, region=REGION, runtime=LOCAL_RUNTIME)
            options = Options(runtime=LOCAL_RUNTIME, local=True, cache_dir=cache, find_links=wheels)
            calls: list[list[str]] = []
            installed: list[bool] = []
            for times in (first_s, again_s):
                cloud.aws = cloud.new_aws()  # a new command: fresh clients, fresh call record
                started = time.perf_counter()
                pkg = build(parse_handler("handler.py", cwd=root), options)
                deploy(cloud.aws, settings, pkg)
                times.append(time.perf_counter() - started)
                calls.append(list(cloud.aws.calls))
                installed.append(pkg.installed)
            runs.append((calls[0], installed[0], calls[1], installed[1]))
            result = cloud.aws.lambda_.invoke(FunctionName=name, Payload=b"{}")
            body = result["Payload"].read()
            if body != b'"HI!"':
                raise AssertionError(f"the deployed project answered {body!r}")
    first_calls, first_installed, again_calls, again_installed = runs[-1]
    writes = [c for c in again_calls if not c.split(".", 1)[1].startswith(_READS)]
    installs_again = sum(1 for r in runs if r[3])
    ctx.notes.append(
        f"project deploy: a handler + requirements.txt (one pure-Python wheel from a local "
        f"folder, no network), a fresh dependency cache per repeat; build (pip install, zip) "
        f"+ deploy, fresh clients each, median of {len(first_s)}. First deploy: "
        f"{len(first_calls)} API calls, pip ran: {first_installed}. Unchanged redeploy: "
        f"{', '.join(again_calls)}; pip ran: {again_installed}"
    )
    return [
        Row("9 project deploy, first: wall time (local, with install)", median(first_s) * 1000,
            "ms", "", "info", note=f"{len(first_calls)} calls"),
        Row("9 project deploy, first: installs made", sum(1 for r in runs if r[1]), "installs",
            "", "info"),
        Row("9 project redeploy, unchanged: wall time (local)", median(again_s) * 1000, "ms",
            "", "info"),
        Row("9 project redeploy, unchanged: installs made", installs_again, "installs", "0",
            verdict(installs_again == 0)),
        Row("9 project redeploy, unchanged: write calls", len(writes), "calls", "0",
            verdict(not writes)),
    ]  # fmt: skip
