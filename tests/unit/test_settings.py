from __future__ import annotations

from pathlib import Path

import pytest

from recursectl.errors import UsageError
from recursectl.settings import DEFAULT_NAME, load


def test_defaults_without_config(tmp_path: Path) -> None:
    folder = tmp_path / "orders"
    folder.mkdir()
    s = load(environ={}, cwd=folder)
    assert (s.name, s.name_origin) == ("orders", "folder name")
    assert s.with_overrides(name="x").name_origin is None
    assert load(environ={}, cwd=Path("/")).name == DEFAULT_NAME
    assert s.max_calls == 25
    assert s.config_path is None


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    (tmp_path / "recursectl.toml").write_text('name = "from-file"\nmemory = 256\ntimeout = 9\n')
    s = load(environ={"RECURSECTL_MEMORY": "512"}, cwd=tmp_path)
    assert (s.name, s.memory, s.timeout) == ("from-file", 512, 9)
    s = s.with_overrides(memory=1024, name=None)
    assert (s.name, s.memory) == ("from-file", 1024)


def test_pyproject_tool_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.recursectl]\nmax-calls = 40\n")
    s = load(environ={}, cwd=tmp_path)
    assert s.max_calls == 40
    assert s.config_path == tmp_path / "pyproject.toml"


def test_aws_endpoint_url_is_honoured_below_our_variable() -> None:
    assert load(environ={"AWS_ENDPOINT_URL": "http://a"}).endpoint_url == "http://a"
    env = {"AWS_ENDPOINT_URL": "http://a", "RECURSECTL_ENDPOINT_URL": "http://b"}
    assert load(environ=env).endpoint_url == "http://b"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("memory = 'lots'\n", "wrong type"),
        ("colour = 'red'\n", "Unknown key"),
        ("timeout = 9000\n", "timeout must be"),
        ("name = \n", "not valid TOML"),
    ],
)
def test_bad_config_is_a_usage_error(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "recursectl.toml").write_text(text)
    with pytest.raises(UsageError, match=fragment):
        load(environ={}, cwd=tmp_path)


def test_bad_env_value(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="RECURSECTL_MEMORY"):
        load(environ={"RECURSECTL_MEMORY": "big"}, cwd=tmp_path)
    with pytest.raises(UsageError, match="RECURSECTL_LOCAL"):
        load(environ={"RECURSECTL_LOCAL": "maybe"}, cwd=tmp_path)


def test_max_invocations_from_file_env_and_flag(tmp_path: Path) -> None:
    assert load(environ={}, cwd=tmp_path).max_invocations == 1000
    (tmp_path / "recursectl.toml").write_text("max_invocations = 200\n")
    assert load(environ={}, cwd=tmp_path).max_invocations == 200
    s = load(environ={"RECURSECTL_MAX_INVOCATIONS": "300"}, cwd=tmp_path)
    assert s.max_invocations == 300
    assert s.with_overrides(max_invocations=400).max_invocations == 400
    with pytest.raises(UsageError, match="max-invocations must be a whole number from 1"):
        s.with_overrides(max_invocations=0)


def test_project_identity_from_setting_or_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my shop"
    folder.mkdir()
    (folder / "recursectl.toml").write_text('name = "x"\n')
    assert load(environ={}, cwd=folder).project_identity == "my shop"
    (folder / "recursectl.toml").write_text('name = "x"\nproject = "orders"\n')
    assert load(environ={}, cwd=folder).project_identity == "orders"
    assert load(environ={"RECURSECTL_PROJECT": "ops"}, cwd=folder).project_identity == "ops"
    # Without a config file, the folder deploy runs in is the project (issue 21: two folders
    # are two projects, and one cannot silently replace the other's function).
    assert load(environ={}, cwd=tmp_path / "elsewhere").project_identity == "elsewhere"


def test_project_keys_from_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "recursectl.toml"
    cfg.write_text(
        'source = "src"\nexclude = ["*.csv"]\nlayers = ["arn:l:1"]\narchitecture = "arm64"\n'
        '[environment]\nA = 1\nB = true\nC = "c"\n'
        '[[iam_statements]]\nEffect = "Allow"\nAction = "s3:GetObject"\nResource = "*"\n'
    )
    s = load(config_path=cfg, environ={})
    assert (s.source, s.exclude, s.layers, s.architecture) == (
        "src",
        ("*.csv",),
        ("arn:l:1",),
        "arm64",
    )
    assert s.environment == {"A": "1", "B": "true", "C": "c"}
    assert s.iam_statements == ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('architecture = "x86"', "x86_64 or arm64"),
        ('exclude = "*.csv"', "list of strings"),
        ("environment = 3", "table"),
        ("[environment]\nA = [1]", "string, number or boolean"),
        ('iam_statements = ["x"]', "IAM policy statements"),
    ],
)
def test_bad_project_keys(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "recursectl.toml"
    cfg.write_text(text + "\n")
    with pytest.raises(UsageError, match=message):
        load(config_path=cfg, environ={})


def test_log_format_from_file_env_and_flag(tmp_path: Path) -> None:
    from recursectl.deploy.desired import log_format_name

    assert load(environ={}, cwd=tmp_path).log_format is None  # left as the function has it
    (tmp_path / "recursectl.toml").write_text('log_format = "json"\n')
    s = load(environ={}, cwd=tmp_path)
    assert log_format_name(s.log_format) == "JSON"
    s = load(environ={"RECURSECTL_LOG_FORMAT": "Text"}, cwd=tmp_path)
    assert log_format_name(s.log_format) == "Text"
    assert s.with_overrides(log_format="JSON").log_format == "JSON"
    with pytest.raises(UsageError, match="log-format must be Text or JSON"):
        s.with_overrides(log_format="yaml")
    (tmp_path / "recursectl.toml").write_text('log_format = "xml"\n')
    with pytest.raises(UsageError, match="log-format must be Text or JSON"):
        load(environ={}, cwd=tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "node.install_scripts = true",
        "[node]\ninstall_scripts = true",
        "node = {install-scripts = true}",
    ],
)
def test_node_install_scripts_is_an_explicit_opt_in(tmp_path: Path, text: str) -> None:
    assert load(environ={}, cwd=tmp_path).node_install_scripts is False
    cfg = tmp_path / "recursectl.toml"
    cfg.write_text(text + "\n")
    assert load(config_path=cfg, environ={}).node_install_scripts is True
    env = {"RECURSECTL_NODE_INSTALL_SCRIPTS": "0"}
    assert load(config_path=cfg, environ=env).node_install_scripts is False
    assert load(
        environ={"RECURSECTL_NODE_INSTALL_SCRIPTS": "1"}, cwd=tmp_path / "x"
    ).node_install_scripts


def test_pyproject_node_table(tmp_path: Path) -> None:
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text(
        '[tool.recursectl]\nname = "f"\n[tool.recursectl.node]\ninstall_scripts = true\n'
    )
    assert load(environ={}, cwd=tmp_path).node_install_scripts is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('node.install_scripts = "yes"', r"`node\.install_scripts` .* wrong type"),
        ("node.scripts = true", r"Unknown key\(s\) in \[node\] of .*: scripts\."),
        ("node = true", "must be a table"),
        ("node_install_scripts = true", r"Unknown key\(s\) in .*: node_install_scripts\."),
    ],
)
def test_bad_node_keys(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "recursectl.toml"
    cfg.write_text(text + "\n")
    with pytest.raises(UsageError, match=message) as caught:
        load(config_path=cfg, environ={})
    if "Unknown" in message:
        assert "node.install_scripts" in (caught.value.hint or "")


@pytest.mark.parametrize(
    "text",
    [
        "python.build_sdists = true",
        "[python]\nbuild_sdists = true",
        "python = {build-sdists = true}",
    ],
)
def test_python_build_sdists_is_an_explicit_opt_in(tmp_path: Path, text: str) -> None:
    assert load(environ={}, cwd=tmp_path).python_build_sdists is False
    cfg = tmp_path / "recursectl.toml"
    cfg.write_text(text + "\n")
    assert load(config_path=cfg, environ={}).python_build_sdists is True
    env = {"RECURSECTL_PYTHON_BUILD_SDISTS": "0"}
    assert load(config_path=cfg, environ=env).python_build_sdists is False
    assert load(
        environ={"RECURSECTL_PYTHON_BUILD_SDISTS": "1"}, cwd=tmp_path / "x"
    ).python_build_sdists
    with pytest.raises(UsageError, match="RECURSECTL_PYTHON_BUILD_SDISTS must be 1 or 0"):
        load(environ={"RECURSECTL_PYTHON_BUILD_SDISTS": "maybe"}, cwd=tmp_path / "x")


def test_pyproject_python_table(tmp_path: Path) -> None:
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text('[tool.recursectl]\nname = "f"\n[tool.recursectl.python]\nbuild_sdists = true\n')
    assert load(environ={}, cwd=tmp_path).python_build_sdists is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("python.build_sdists = 1", r"`python\.build_sdists` .* wrong type"),
        ("python.sdists = true", r"Unknown key\(s\) in \[python\] of .*: sdists\."),
        ('python = "3.12"', "must be a table"),
        ("python_build_sdists = true", r"Unknown key\(s\) in .*: python_build_sdists\."),
    ],
)
def test_bad_python_keys(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "recursectl.toml"
    cfg.write_text(text + "\n")
    with pytest.raises(UsageError, match=message) as caught:
        load(config_path=cfg, environ={})
    if "Unknown" in message:
        assert "python.build_sdists" in (caught.value.hint or "")


def test_max_cost_from_file_env_and_flag(tmp_path: Path) -> None:
    assert load(environ={}, cwd=tmp_path).max_cost is None  # no cost cap unless asked
    (tmp_path / "recursectl.toml").write_text("max_cost = 1\n")
    assert load(environ={}, cwd=tmp_path).max_cost == 1.0
    s = load(environ={"RECURSECTL_MAX_COST": "0.25"}, cwd=tmp_path)
    assert s.max_cost == 0.25
    assert s.with_overrides(max_cost=0.0001).max_cost == 0.0001
    with pytest.raises(UsageError, match="max-cost must be a number of dollars above 0"):
        s.with_overrides(max_cost=0.0)
    with pytest.raises(UsageError, match="RECURSECTL_MAX_COST must be a number"):
        load(environ={"RECURSECTL_MAX_COST": "a lot"}, cwd=tmp_path)
    (tmp_path / "recursectl.toml").write_text('max_cost = "5"\n')
    with pytest.raises(UsageError, match="wrong type"):
        load(environ={}, cwd=tmp_path)
    (tmp_path / "recursectl.toml").write_text("max_cost = -2.5\n")
    with pytest.raises(UsageError, match="above 0"):
        load(environ={}, cwd=tmp_path)
