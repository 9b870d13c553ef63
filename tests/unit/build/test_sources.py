"""Which files of a source root go into the zip: patterns, secrets, symlinks, limits, order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recursectl.build import sources
from recursectl.errors import EXIT_USAGE, UsageError


def make(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def names(root: Path, **kwargs: object) -> list[str]:
    return [f.arcname for f in sources.select(root, **kwargs).files]  # type: ignore[arg-type]


def test_defaults_skip_tooling_caches_venvs_and_tests(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "handler.py": "",
            "app/__init__.py": "",
            "app/util.py": "",
            "app/__pycache__/util.cpython-311.pyc": "",
            "app/old.pyc": "",
            ".git/config": "",
            ".venv/pyvenv.cfg": "",
            "myenv/pyvenv.cfg": "",  # a virtual environment by its marker, whatever its name
            "myenv/lib/site.py": "",
            "node_modules/x/index.js": "",
            ".pytest_cache/v": "",
            ".mypy_cache/x": "",
            "tests/test_handler.py": "",
            "conftest.py": "",
            "recursectl.toml": "",
            "pkg.egg-info/PKG-INFO": "",
            "data/tests/fixture.json": "{}",  # only the top-level tests/ is skipped
        },
    )
    assert names(tmp_path) == [
        "app/__init__.py",
        "app/util.py",
        "data/tests/fixture.json",
        "handler.py",
    ]


def test_exclude_patterns_are_gitignore_style(tmp_path: Path) -> None:
    make(
        tmp_path,
        {"handler.py": "", "docs/a.md": "", "big/x.bin": "", "sub/x.bin": "", "keep.bin": ""},
    )
    selected = names(tmp_path, exclude=["docs/", "*.bin", "!keep.bin"])
    assert selected == ["handler.py", "keep.bin"]
    assert names(tmp_path, exclude=["/sub/"]) == [
        "big/x.bin",
        "docs/a.md",
        "handler.py",
        "keep.bin",
    ]


def test_include_overrides_the_defaults(tmp_path: Path) -> None:
    make(tmp_path, {"handler.py": "", ".well-known/x": "", "tests/data.json": "", "tests/t.py": ""})
    assert names(tmp_path, include=[".well-known/"]) == [".well-known/x", "handler.py"]
    # A path inside an excluded folder re-includes that path only.
    assert names(tmp_path, include=["tests/data.json"]) == ["handler.py", "tests/data.json"]
    assert names(tmp_path, include=["tests/"]) == ["handler.py", "tests/data.json", "tests/t.py"]


def test_skip_leaves_out_names_the_caller_supplies(tmp_path: Path) -> None:
    make(tmp_path, {"handler.py": "", "recursectl_chain.py": "stale"})
    assert names(tmp_path, skip={"recursectl_chain.py"}) == ["handler.py"]


@pytest.mark.parametrize(
    "name",
    [
        "secrets.json",
        "config/secret.yaml",
        "credentials",
        "server.key",
        "certs/client.p12",
        "id_rsa",
        "keys/id_ed25519",
        ".aws/credentials",
        ".env",
        ".env.production",
        ".npmrc",
    ],
)
def test_secret_looking_files_are_refused_unless_included(tmp_path: Path, name: str) -> None:
    make(
        tmp_path,
        {"handler.py": "", name: "//127.0.0.1/:_authToken=abc" if name == ".npmrc" else "x"},
    )
    # Hidden files are excluded by default; a broad include brings them in, but only an
    # include that names the file allows a secret.
    broad = [".*", ".aws/"] if name.startswith(".") else []
    with pytest.raises(UsageError) as caught:
        sources.select(tmp_path, include=broad)
    error = caught.value
    assert error.exit_code == EXIT_USAGE
    assert name in error.message
    assert "looks like a secret" in error.message
    assert error.hint is not None
    assert f'exclude = ["{name}"]' in error.hint
    assert f'include = ["{name}"]' in error.hint
    assert names(tmp_path, include=[*broad, name]) == sorted([name, "handler.py"])


def test_hidden_secrets_are_excluded_with_every_hidden_file(tmp_path: Path) -> None:
    make(tmp_path, {"handler.py": "", ".env": "A=1", ".aws/credentials": "x"})
    assert names(tmp_path) == ["handler.py"]


def test_an_explicit_include_allows_a_secret(tmp_path: Path) -> None:
    make(tmp_path, {"handler.py": "", "server.key": "k", ".env": "A=1"})
    assert names(tmp_path, include=["server.key", ".env"]) == [".env", "handler.py", "server.key"]


def test_a_private_key_is_found_by_its_header(tmp_path: Path) -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----\n"
    make(
        tmp_path,
        {
            "handler.py": "",
            "config/deploy.pem": key,
            "ca/bundle.pem": "-----BEGIN CERTIFICATE-----\n",
        },
    )
    with pytest.raises(UsageError, match=r"config/deploy\.pem.*a private key inside"):
        sources.select(tmp_path)
    # A CA bundle (certificates only) is not a secret: Lambda functions often ship one.
    assert names(tmp_path, exclude=["config/"]) == ["ca/bundle.pem", "handler.py"]


def test_templates_of_secret_files_are_not_secrets(tmp_path: Path) -> None:
    make(
        tmp_path, {"handler.py": "", ".env.example": "A=", "secret_sauce.py": "", "id_rsa.pub": ""}
    )
    assert names(tmp_path, include=[".env.example"]) == [
        ".env.example",
        "handler.py",
        "id_rsa.pub",
        "secret_sauce.py",
    ]


def test_all_secrets_are_counted_in_the_error(tmp_path: Path) -> None:
    make(tmp_path, {"handler.py": "", "a.key": "", "b.key": "", "secrets.json": ""})
    with pytest.raises(UsageError, match=r"a\.key.*\(and 2 more: b\.key, secrets\.json\)"):
        sources.select(tmp_path)


def test_a_symlink_inside_the_root_is_followed(tmp_path: Path) -> None:
    make(tmp_path, {"handler.py": "", "shared/util.py": "X = 1\n"})
    (tmp_path / "util.py").symlink_to("shared/util.py")
    (tmp_path / "lib").symlink_to("shared", target_is_directory=True)
    selected = sources.select(tmp_path)
    by_name = {f.arcname: f for f in selected.files}
    assert sorted(by_name) == ["handler.py", "lib/util.py", "shared/util.py", "util.py"]
    assert by_name["util.py"].path == (tmp_path / "shared" / "util.py").resolve()
    assert selected.read()["lib/util.py"] == b"X = 1\n"


def test_a_symlink_leaving_the_root_is_an_error(tmp_path: Path) -> None:
    outside = make(tmp_path / "outside", {"passwd": "root:x:0:0"})
    root = make(tmp_path / "src", {"handler.py": ""})
    (root / "data.txt").symlink_to(outside / "passwd")
    with pytest.raises(UsageError) as caught:
        sources.select(root)
    assert "data.txt is a symlink to" in caught.value.message
    assert "outside the source root" in caught.value.message
    assert caught.value.hint is not None
    assert 'exclude = ["data.txt"]' in caught.value.hint
    # Excluded, it is never followed.
    assert names(root, exclude=["data.txt"]) == ["handler.py"]


def test_a_folder_symlink_leaving_the_root_is_an_error(tmp_path: Path) -> None:
    make(tmp_path / "outside", {"x.py": ""})
    root = make(tmp_path / "src", {"handler.py": ""})
    (root / "vendor").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(UsageError, match=r"vendor is a symlink to .* outside the source root"):
        sources.select(root)


def test_broken_symlinks_and_loops_are_errors(tmp_path: Path) -> None:
    make(tmp_path, {"handler.py": "", "sub/x.py": ""})
    (tmp_path / "sub" / "back").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UsageError, match=r"sub/back is a symlink loop"):
        sources.select(tmp_path)
    (tmp_path / "sub" / "back").unlink()
    (tmp_path / "gone.py").symlink_to(tmp_path / "nowhere.py")
    with pytest.raises(UsageError, match=r"gone\.py is a broken symlink"):
        sources.select(tmp_path)


def test_a_folder_over_the_unzipped_limit_is_refused_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, {"handler.py": "def handler(e, c): pass\n"})
    with open(tmp_path / "huge.bin", "wb") as handle:  # sparse: 260 MiB of size, no disk
        handle.truncate(260 * 1024 * 1024)
    opened: list[str] = []
    real_open = open

    def spy(file: object, *args: object, **kwargs: object) -> object:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", spy)
    with pytest.raises(UsageError) as caught:
        sources.select(tmp_path)
    assert "260.0 MB unzipped" in caught.value.message
    assert "Lambda allows 250.0 MB" in caught.value.message
    assert caught.value.hint is not None
    assert "huge.bin (260.0 MB)" in caught.value.hint
    assert not any(name.endswith("huge.bin") for name in opened)


def test_dependencies_count_towards_the_limit(tmp_path: Path) -> None:
    make(tmp_path, {"handler.py": "x" * 1024})
    with pytest.raises(UsageError, match=r"plus 250\.0 MB of dependencies"):
        sources.select(tmp_path, extra_bytes=sources.MAX_UNZIPPED_BYTES)
    assert names(tmp_path, extra_bytes=sources.MAX_UNZIPPED_BYTES - 1024) == ["handler.py"]


def test_listings_for_dry_run_and_json(tmp_path: Path) -> None:
    make(tmp_path, {"b.py": "xx", "a.py": "xx", "big.dat": "x" * 3000, "handler.py": ""})
    selected = sources.select(tmp_path)
    assert [f.arcname for f in selected.largest_first()] == [
        "big.dat",
        "a.py",
        "b.py",
        "handler.py",
    ]
    assert selected.as_json() == [
        {"path": "a.py", "size": 2},
        {"path": "b.py", "size": 2},
        {"path": "big.dat", "size": 3000},
        {"path": "handler.py", "size": 0},
    ]
    assert selected.total_size == 3004
    assert sources.format_size(3000) == "2.9 KB"
    assert sources.format_size(12) == "12 B"


def test_the_order_does_not_depend_on_creation_order(tmp_path: Path) -> None:
    files = {f"m{i}/f{j}.py": "" for i in range(5) for j in range(5)}
    one = make(tmp_path / "one", dict(files))
    two = make(tmp_path / "two", dict(reversed(list(files.items()))))
    assert names(one) == names(two) == sorted(files)


def test_special_files_are_skipped(tmp_path: Path) -> None:
    make(tmp_path, {"handler.py": ""})
    os.mkfifo(tmp_path / "pipe")
    assert names(tmp_path) == ["handler.py"]


# The content rules: a secret in a file of any name. The keys below are made up, shaped
# like AWS's (an id of AKIA/ASIA + 16, a secret of 40 base64 characters).
KEY_ID = "AKIA2E0A8F3B244C9986"
TEMP_ID = "ASIA2E0A8F3B244C9986"
SECRET = "q7Vt0Kd1Rb9Zx3Lm5Np2Wc8Ye4Hj6Gs/Uf+Ta1Qo"
PGP = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGZ...\n-----END PGP PRIVATE KEY BLOCK-----\n"


def refused(root: Path, **kwargs: object) -> UsageError:
    with pytest.raises(UsageError) as caught:
        sources.select(root, **kwargs)  # type: ignore[arg-type]
    assert caught.value.exit_code == EXIT_USAGE
    assert caught.value.hint is not None
    return caught.value


@pytest.mark.parametrize(
    ("name", "content", "reason", "pattern"),
    [
        ("keys/backup.asc", PGP, "an OpenPGP secret key inside, line 1", "BEGIN PGP PRIVATE KEY"),
        (
            "config/aws.ini",
            f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n",
            "AWS access keys inside, line 2",  # the first match in the file is named
            "access key id",
        ),
        (
            "profile.cfg",  # a shared-credentials file under another name, no key id
            f"[prod]\naws_secret_access_key={SECRET}\n",
            "an AWS secret access key inside, line 2",
            "aws_secret_access_key = <40 characters>",
        ),
        (
            "deploy.vars",  # a dotenv file under another name
            f"REGION=eu-west-1\nAWS_ACCESS_KEY_ID={TEMP_ID}\nAWS_SECRET_ACCESS_KEY='{SECRET}'\n",
            "AWS access keys inside, line 2",
            "access key id",
        ),
        (
            "settings.sh",
            f'export AWS_SECRET_ACCESS_KEY="{SECRET}"\n',
            "an AWS secret access key inside, line 1",
            "aws_secret_access_key",
        ),
        (
            "data/key.json",  # what `aws iam create-access-key` prints
            f'{{"AccessKey": {{"AccessKeyId": "{KEY_ID}",\n "SecretAccessKey": "{SECRET}"}}}}',
            "AWS access keys inside, line 1",
            "access key id",
        ),
        (
            "notes.md",
            f"staging user\nid: {KEY_ID}\nsecret: {SECRET}\n",
            "AWS access keys inside, line 2",
            "with a 40-character secret near it",
        ),
    ],
)
def test_secrets_are_found_by_content_in_a_file_of_any_name(
    tmp_path: Path, name: str, content: str, reason: str, pattern: str
) -> None:
    make(tmp_path, {"handler.py": "", name: content})
    error = refused(tmp_path)
    assert f"Refusing to package {name}: it looks like a secret ({reason})" in error.message
    assert error.hint is not None
    assert error.hint.startswith(f"{name} matched ")
    assert pattern in error.hint
    assert f'include = ["{name}"]' in error.hint
    assert names(tmp_path, include=[name]) == sorted(["handler.py", name])


def test_code_that_passes_credentials_along_and_aws_doc_examples_are_not_secrets(
    tmp_path: Path,
) -> None:
    make(
        tmp_path,
        {
            "handler.py": (
                "import os\nimport boto3\n\n"
                "s3 = boto3.client('s3',\n"
                "    aws_access_key_id=os.environ['KEY_ID'],\n"
                "    aws_secret_access_key=os.environ['SECRET'],\n"
                ")\n"
            ),
            "README.md": (
                "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
            ),
            "paths.txt": f"{KEY_ID} src/recursectl/local/handlers/functions/x\n",
            "hashes.txt": f"{KEY_ID}\nda39a3ee5e6b4b0d3255bfef95601890afd80709\n",
        },
    )
    assert names(tmp_path) == ["README.md", "handler.py", "hashes.txt", "paths.txt"]


def test_a_key_after_the_first_64_kb_is_found(tmp_path: Path) -> None:
    filler = "x = 1  # filler\n" * 20_000  # 320 KB
    make(tmp_path, {"handler.py": "", "big.py": filler + '"""\n' + PGP + '"""\n'})
    error = refused(tmp_path)
    assert "big.py" in error.message
    assert "line 20002" in error.message


@pytest.mark.parametrize("split", [1, 10, 30, 36])
def test_a_key_across_a_chunk_boundary_is_found(tmp_path: Path, split: int) -> None:
    # The header starts `split` bytes before the end of the first 1 MB chunk.
    header = b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
    body = b"a" * (sources._CHUNK - split) + header + b"b" * 100
    make(tmp_path, {"handler.py": "", "blob.bin": body})
    assert "a private key inside, line 1" in refused(tmp_path).message


def test_access_keys_across_a_chunk_boundary_are_found(tmp_path: Path) -> None:
    body = ("z" * (sources._CHUNK - 30) + f"\nid {KEY_ID}\n" + "." * 200 + f"\n{SECRET}\n").encode()
    make(tmp_path, {"handler.py": "", "dump.txt": body})
    assert "AWS access keys inside, line 2" in refused(tmp_path).message


def test_a_hard_link_to_a_file_outside_the_project_is_refused(tmp_path: Path) -> None:
    root = make(tmp_path / "proj", {"handler.py": "", "inside.txt": "i"})
    outside = make(tmp_path / "home", {"notes": "not a secret by its look"}) / "notes"
    os.link(outside, root / "config.txt")
    error = refused(root)
    assert "Refusing to package config.txt" in error.message
    assert "a hard link with 1 other name outside the packaged files" in error.message
    assert error.hint is not None
    assert "st_nlink > 1" in error.hint
    assert "--link-mode=copy" in error.hint
    assert names(root, include=["config.txt"]) == ["config.txt", "handler.py", "inside.txt"]
    # Links whose every name is in the package are fine: nothing lies outside.
    (root / "config.txt").unlink()
    os.link(root / "inside.txt", root / "copy.txt")
    assert names(root) == ["copy.txt", "handler.py", "inside.txt"]


def test_an_include_does_not_follow_a_symlink_out_of_the_project(tmp_path: Path) -> None:
    root = make(tmp_path / "proj", {"handler.py": ""})
    make(tmp_path / "home", {"creds": "x"})
    (root / "settings.cfg").symlink_to(tmp_path / "home" / "creds")
    error = refused(root, include=["settings.cfg"])
    assert "settings.cfg is a symlink to" in error.message
    assert "outside the source root" in error.message
