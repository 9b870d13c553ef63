"""Dependencies installed for Lambda: real pip, real wheels from the package index, real cache.

The network tests install two small pinned packages (six: pure Python; markupsafe: a C
extension with manylinux wheels for x86_64 and aarch64) into a cache kept in pytest's cache
folder, so a rerun makes no pip call. The cache-miss, lock and error tests run offline against
sdists and wheels built here (`--no-index --find-links`). An sdist is built only with
`build_sdists=True` (the `python.build_sdists` opt-in): its build backend writes a proof file
when it runs, so a test sees whether any of its code ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from recursectl.build import dependencies
from recursectl.errors import EXIT_USAGE, UsageError
from tests.support.projects import make_sdist

SIX = "six==1.17.0"
MARKUPSAFE = "markupsafe==3.0.2"
ELF_MACHINE = {"x86_64": 0x3E, "aarch64": 0xB7}


class CountingRunner:
    """The real pip runner, counted (and optionally slowed down before it runs)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[list[str]] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(
        self, args: Sequence[str], env: Mapping[str, str]
    ) -> subprocess.CompletedProcess[str]:
        with self.lock:
            self.calls.append(list(args))
        time.sleep(self.delay)
        return dependencies._run_pip(args, env)


@pytest.fixture(scope="session")
def index_cache(request: pytest.FixtureRequest) -> Path:
    """A cache that outlives the test session: installs from the index happen once per machine."""
    return Path(request.config.cache.mkdir("recursectl-pydeps"))


def requirements(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_lambda_wheels_for_the_runtime_and_architecture(
    tmp_path: Path, index_cache: Path, architecture: str
) -> None:
    req = requirements(tmp_path, SIX, MARKUPSAFE)
    target = dependencies.lambda_target("python3.12", architecture)
    deps = dependencies.install(req, target, cache_dir=index_cache)

    assert deps.distributions == ("MarkupSafe==3.0.2", "six==1.17.0")
    files = deps.files()
    assert "six.py" in files
    assert "markupsafe/__init__.py" in files
    shared = [name for name in files if name.endswith(".so")]
    machine = target.machine
    assert shared == [f"markupsafe/_speedups.cpython-312-{machine}-linux-gnu.so"]
    assert elf_machine(files[shared[0]]) == ELF_MACHINE[machine]
    wheel_tags = (deps.site / "MarkupSafe-3.0.2.dist-info" / "WHEEL").read_text()
    assert f"Tag: cp312-cp312-manylinux_2_17_{machine}" in wheel_tags
    assert not any(name.endswith(".pyc") or name.startswith("bin/") for name in files)

    again = dependencies.install(req, target, cache_dir=index_cache, runner=CountingRunner())
    assert again.installed is False
    assert again.site == deps.site
    assert again.files() == files


@pytest.mark.slow
def test_local_interpreter_install_is_for_this_machine(tmp_path: Path, index_cache: Path) -> None:
    req = requirements(tmp_path, SIX, MARKUPSAFE)
    deps = dependencies.install(req, dependencies.local_target(), cache_dir=index_cache)
    shared = [path for name, path in deps.files().items() if name.endswith(".so")]
    tag = sys.implementation.cache_tag  # e.g. cpython-311
    assert len(shared) == 1
    assert shared[0].name.startswith(f"_speedups.{tag}-")
    machine = dependencies.local_target().machine
    if machine in ELF_MACHINE:
        assert elf_machine(shared[0]) == ELF_MACHINE[machine]
    # What the local cloud's workers would import: it loads and works with this interpreter.
    code = "import markupsafe, six; print(markupsafe.escape('<a>'), markupsafe._speedups)"
    result = subprocess.run(
        [sys.executable, "-I", "-c", code],
        env={"PYTHONPATH": str(deps.site), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.startswith("&lt;a&gt; <module 'markupsafe._speedups'")


def test_the_local_cloud_uses_lambda_wheels_only_when_they_run_here() -> None:
    here = dependencies.local_target()
    same = f"python{here.python[0]}.{here.python[1]}"
    arch = "arm64" if here.machine == "aarch64" else "x86_64"
    other = "x86_64" if arch == "arm64" else "arm64"
    assert dependencies.target_for_local_cloud("python3.99", arch) == here  # another Python
    assert dependencies.target_for_local_cloud(same, other) == here  # another machine
    if dependencies.runs_here(dependencies.lambda_target(same, arch)):
        assert dependencies.target_for_local_cloud(same, arch) == dependencies.lambda_target(
            same, arch
        )


def test_platform_tags_follow_the_runtimes_os() -> None:
    al2023 = dependencies.lambda_target("python3.12", "arm64").platforms
    assert al2023[0] == "manylinux_2_34_aarch64"
    assert al2023[-1] == "manylinux2014_aarch64"
    assert "manylinux_2_17_aarch64" in al2023
    al2 = dependencies.lambda_target("python3.11", "x86_64").platforms
    assert al2[0] == "manylinux_2_26_x86_64"
    assert al2[-3:] == ("manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64")
    with pytest.raises(UsageError, match="Architecture 'ppc64le' is not one Lambda offers"):
        dependencies.lambda_target("python3.12", "ppc64le")
    with pytest.raises(UsageError, match=r"'nodejs22\.x' is not a Python runtime"):
        dependencies.lambda_target("nodejs22.x", "x86_64")


# --- offline: sdists built here, installed with --no-index --find-links ----------------------


def make_wheel(folder: Path, name: str, version: str = "1.0") -> None:
    """`name-VERSION-py3-none-any.whl`: a pure-Python wheel, written directly (nothing built)."""
    dist, info = f"{name}-{version}", f"{name}-{version}.dist-info/"
    files = {
        f"{name}.py": b"VALUE = 7\n",
        info + "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        info + "WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{member},,\n" for member in files) + f"{info}RECORD,,\n"
    files[info + "RECORD"] = record.encode()
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)


@pytest.fixture
def proof(tmp_path: Path) -> Path:
    """The file the sdists' build code writes when it runs."""
    return tmp_path / "build-code-ran.txt"


@pytest.fixture
def index(tmp_path: Path, proof: Path) -> Path:
    folder = tmp_path / "index"
    make_sdist(folder, "purepkg", pure=True, proof=proof)
    make_sdist(folder, "cextpkg", pure=False, proof=proof)
    make_wheel(folder, "wheelpkg")
    return folder


@pytest.mark.parametrize("local", [False, True], ids=["lambda", "this-interpreter"])
def test_an_sdist_is_not_built_by_default(
    tmp_path: Path, index: Path, proof: Path, local: bool
) -> None:
    req = requirements(tmp_path, "wheelpkg==1.0", "purepkg==1.0")
    target = (
        dependencies.local_target() if local else dependencies.lambda_target("python3.12", "x86_64")
    )
    runner = CountingRunner()
    with pytest.raises(UsageError) as caught:
        dependencies.install(req, target, cache_dir=tmp_path / "c", find_links=index, runner=runner)
    error = caught.value
    assert error.exit_code == EXIT_USAGE
    assert error.message.startswith(
        f"purepkg==1.0 has no wheel for {target.describe()}, only a source distribution (sdist)"
    )
    assert "runs the package's own setup.py or build backend on this machine" in error.message
    assert error.hint is not None
    assert "python.build_sdists = true" in error.hint
    assert "RECURSECTL_PYTHON_BUILD_SDISTS=1" in error.hint
    assert "with your permissions" in error.hint
    assert "\n" not in error.message + error.hint
    assert not proof.exists(), proof.read_text()
    assert not any(call[0] == "wheel" for call in runner.calls)
    installs = [call for call in runner.calls if call[0] == "install"]
    assert all("--only-binary=:all:" in call for call in installs)
    assert [p.name for p in (tmp_path / "c" / "pydeps").iterdir() if "lock" not in p.name] == []


def test_every_sdist_only_requirement_is_named(tmp_path: Path, index: Path, proof: Path) -> None:
    req = requirements(tmp_path, "purepkg", "wheelpkg", "CextPkg>=1.0")
    with pytest.raises(UsageError) as caught:
        dependencies.install(
            req, dependencies.lambda_target("python3.13", "arm64"), cache_dir=tmp_path / "c",
            find_links=index,
        )  # fmt: skip
    assert caught.value.message.startswith("purepkg, CextPkg>=1.0 have no wheel for Python 3.13")
    assert "if you trust them, set python.build_sdists = true" in (caught.value.hint or "")
    assert not proof.exists()


@pytest.mark.parametrize("requirement", ["purepkg==9.9", "wheelpkg==2.0"])
def test_a_requirement_with_no_usable_version_is_not_called_an_sdist(
    tmp_path: Path, index: Path, requirement: str
) -> None:
    """A pinned version that does not exist (of a package with an sdist; of one with a wheel):
    pip's own "no version" error, no opt-in offered."""
    req = requirements(tmp_path, requirement)
    with pytest.raises(UsageError) as caught:
        dependencies.install(
            req, dependencies.local_target(), cache_dir=tmp_path / "c", find_links=index
        )
    assert caught.value.message.startswith(f"No version of {requirement} (from requirements.txt)")
    assert "build_sdists" not in (caught.value.hint or "")


def test_with_the_opt_in_the_sdist_is_built(tmp_path: Path, index: Path, proof: Path) -> None:
    req = requirements(tmp_path, "purepkg==1.0")
    target = dependencies.lambda_target("python3.12", "x86_64")
    refused = tmp_path / "refused"
    with pytest.raises(UsageError):
        dependencies.install(req, target, cache_dir=refused, find_links=index)
    deps = dependencies.install(
        req, target, cache_dir=tmp_path / "c", find_links=index, build_sdists=True
    )
    assert deps.distributions == ("purepkg==1.0",)
    assert "purepkg build code ran" in proof.read_text()
    assert deps.key != dependencies.cache_key(dependencies.Requirements.read(req), target, index)
    # The opt-in's tree is not served to a deploy without it (another key): refused again.
    with pytest.raises(UsageError, match=r"purepkg==1\.0 has no wheel"):
        dependencies.install(req, target, cache_dir=tmp_path / "c", find_links=index)


def test_a_pure_python_sdist_is_built_once_then_cached(tmp_path: Path, index: Path) -> None:
    req = requirements(tmp_path, "purepkg==1.0")
    target = dependencies.lambda_target("python3.13", "arm64")
    runner = CountingRunner()
    started: list[dependencies.Target] = []
    deps = dependencies.install(
        req,
        target,
        cache_dir=tmp_path / "c",
        find_links=index,
        build_sdists=True,
        runner=runner,
        on_install=started.append,
    )
    assert started == [target]
    assert deps.installed is True
    assert deps.distributions == ("purepkg==1.0",)
    assert (deps.site / "purepkg.py").read_text() == "VALUE = 42\n"
    # install (no wheel for Lambda) -> wheel (built: pure) -> install again with it
    assert [call[0] for call in runner.calls] == ["install", "wheel", "install"]
    assert "--only-binary=:all:" in runner.calls[0]
    assert "--python-version" in runner.calls[0]
    assert "--platform=manylinux_2_34_aarch64" in runner.calls[0]

    second = CountingRunner()
    cached = dependencies.install(
        req, target, cache_dir=tmp_path / "c", find_links=index, build_sdists=True, runner=second
    )
    assert cached.installed is False
    assert second.calls == []
    assert cached.site == deps.site
    assert sorted(p.name for p in (tmp_path / "c" / "pydeps").iterdir()) == [
        deps.key,
        f"{deps.key}.lock",
    ]


def test_a_compiled_package_without_a_lambda_wheel_is_a_clear_error(
    tmp_path: Path, index: Path
) -> None:
    req = requirements(tmp_path, "purepkg", "cextpkg")
    target = dependencies.lambda_target("python3.12", "x86_64")
    with pytest.raises(UsageError) as caught:
        dependencies.install(
            req, target, cache_dir=tmp_path / "c", find_links=index, build_sdists=True
        )
    error = caught.value
    assert error.exit_code == EXIT_USAGE
    assert error.message.startswith("cextpkg has no wheel for Python 3.12 on Lambda")
    assert "is not pure Python" in error.message
    assert error.hint is not None
    assert "manylinux wheels" in error.hint
    assert "\n" not in error.message + error.hint
    assert [p.name for p in (tmp_path / "c" / "pydeps").iterdir() if "lock" not in p.name] == []


@pytest.mark.parametrize(
    ("build_sdists", "message"),
    [
        (False, r"No version of no-such-package-recursectl==9\.9 \(from requirements\.txt\) has"),
        (True, r"no-such-package-recursectl==9\.9 has no wheel for Lambda, and building it"),
    ],
)
def test_an_unknown_package_is_a_clear_error(
    tmp_path: Path, index: Path, build_sdists: bool, message: str
) -> None:
    req = requirements(tmp_path, "no-such-package-recursectl==9.9")
    with pytest.raises(UsageError, match=message):
        dependencies.install(
            req,
            dependencies.lambda_target("python3.12", "x86_64"),
            cache_dir=tmp_path / "c",
            find_links=index,
            build_sdists=build_sdists,
        )


def test_the_local_variant_builds_any_sdist_for_this_interpreter_with_the_opt_in(
    tmp_path: Path, index: Path, proof: Path
) -> None:
    req = requirements(tmp_path, "cextpkg")
    runner = CountingRunner()
    deps = dependencies.install(
        req,
        dependencies.local_target(),
        cache_dir=tmp_path / "c",
        find_links=index,
        build_sdists=True,
        runner=runner,
    )
    assert deps.distributions == ("cextpkg==1.0",)
    assert [call[0] for call in runner.calls] == ["install"]
    assert "--only-binary=:all:" not in runner.calls[0]
    assert "cextpkg build code ran" in proof.read_text()

    fresh = dependencies.install(
        req,
        dependencies.local_target(),
        cache_dir=tmp_path / "c",
        find_links=index,
        build_sdists=True,
        runner=runner,
        refresh=True,
    )
    assert fresh.installed is True
    assert len(runner.calls) == 2
    assert fresh.site == deps.site
    assert (fresh.site / "cextpkg.py").is_file()
    assert sorted(p.name for p in (tmp_path / "c" / "pydeps").iterdir()) == [
        deps.key,
        f"{deps.key}.lock",
    ]


def test_requirements_with_nothing_to_install_make_no_pip_call(tmp_path: Path) -> None:
    req = requirements(tmp_path, "# nothing yet")
    runner = CountingRunner()
    target = dependencies.lambda_target("python3.12", "x86_64")
    deps = dependencies.install(req, target, cache_dir=tmp_path / "c", runner=runner)
    assert runner.calls == []
    assert deps.files() == {}
    assert deps.distributions == ()


def test_concurrent_installs_of_one_key_build_once(tmp_path: Path, index: Path) -> None:
    req = requirements(tmp_path, "purepkg")
    target = dependencies.lambda_target("python3.12", "x86_64")
    runner = CountingRunner(delay=0.5)  # both threads arrive while the first one holds the lock
    results: list[dependencies.Deps] = []

    def work() -> None:
        results.append(
            dependencies.install(
                req,
                target,
                cache_dir=tmp_path / "c",
                find_links=index,
                build_sdists=True,
                runner=runner,
            )
        )

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 3
    assert sorted(r.installed for r in results) == [False, False, True]
    assert len({r.site for r in results}) == 1
    assert [call[0] for call in runner.calls] == ["install", "wheel", "install"]


KILLED_INSTALL = """
import sys, time
from pathlib import Path
from recursectl.build import dependencies as pydeps
def runner(args, env):
    result = pydeps._run_pip(args, env)
    Path(sys.argv[3]).write_text("pip ran")
    time.sleep(60)  # killed here: pip has written files, the entry is not in place yet
    return result

pydeps.install(Path(sys.argv[1]), pydeps.local_target(), cache_dir=Path(sys.argv[2]),
               find_links=Path(sys.argv[4]), build_sdists=True, runner=runner)
"""


def test_a_killed_install_leaves_no_entry_and_the_next_one_succeeds(
    tmp_path: Path, index: Path
) -> None:
    req = requirements(tmp_path, "purepkg")
    cache, marker = tmp_path / "c", tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_INSTALL, str(req), str(cache), str(marker), str(index)]
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the child install never ran pip"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    entries = sorted(p.name for p in (cache / "pydeps").iterdir())
    assert len(entries) == 2  # the lock file, and the half-built temporary folder
    assert entries[0].startswith(".tmp-")
    assert entries[1].endswith(".lock")

    runner = CountingRunner()
    deps = dependencies.install(
        req, dependencies.local_target(), cache_dir=cache, find_links=index, build_sdists=True,
        runner=runner,
    )  # fmt: skip
    assert deps.installed is True
    assert len(runner.calls) == 1
    assert sorted(p.name for p in (cache / "pydeps").iterdir()) == [deps.key, f"{deps.key}.lock"]


def test_the_key_follows_the_requirements_and_the_target(tmp_path: Path) -> None:
    one = dependencies.Requirements.read(requirements(tmp_path, "six==1.17.0"))
    two = dependencies.Requirements.read(requirements(tmp_path, "six==1.16.0"))
    x86 = dependencies.lambda_target("python3.12", "x86_64")
    arm = dependencies.lambda_target("python3.12", "arm64")
    py313 = dependencies.lambda_target("python3.13", "x86_64")
    keys = {
        dependencies.cache_key(one, x86),
        dependencies.cache_key(two, x86),
        dependencies.cache_key(one, arm),
        dependencies.cache_key(one, py313),
        dependencies.cache_key(one, dependencies.local_target()),
        dependencies.cache_key(one, x86, build_sdists=True),
        dependencies.cache_key(one, dependencies.local_target(), build_sdists=True),
    }
    assert len(keys) == 7
    assert dependencies.cache_key(one, x86) == dependencies.cache_key(
        dependencies.Requirements.read(requirements(tmp_path, "six==1.17.0")), x86
    )


def test_pip_sees_no_configuration_that_could_change_the_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://127.0.0.1:9/more")
    monkeypatch.setenv("PIP_FIND_LINKS", "/somewhere")
    monkeypatch.setenv("PIP_CERT", "/etc/ssl/certs/ca.pem")
    env = dependencies._pip_env()
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["PIP_NO_INPUT"] == "1"
    assert env["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"
    assert env["PIP_CERT"] == "/etc/ssl/certs/ca.pem"
    assert not {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"} & set(env)


def test_pip_makes_no_version_check_and_asks_nothing() -> None:
    command = dependencies.pip_command(["install", "six"])
    assert command[:3] == [sys.executable, "-m", "pip"]
    assert command[3:5] == ["--disable-pip-version-check", "--no-input"]


def test_cache_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(dependencies.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert dependencies.cache_root() == tmp_path / "xdg" / "recursectl"
    monkeypatch.setenv(dependencies.CACHE_ENV, str(tmp_path / "mine"))
    assert dependencies.cache_root() == tmp_path / "mine"
