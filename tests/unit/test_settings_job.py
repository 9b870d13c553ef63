"""The [job] table of recursectl.toml: read, validated with one-line errors, no env form."""

from __future__ import annotations

from pathlib import Path

import pytest

from recursectl import settings
from recursectl.errors import UsageError


def _load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> settings.Settings:
    (tmp_path / "recursectl.toml").write_text(text)
    return settings.load(cwd=tmp_path, environ=environ or {})


def test_no_job_table_is_no_job_function(tmp_path: Path) -> None:
    s = _load(tmp_path, 'name = "fn"\n')
    assert s.job is False
    assert (s.job_max_hops, s.job_max_seconds, s.job_state_ttl_days) == (1000, 21600, 14)


def test_an_empty_job_table_makes_a_job_function_with_the_defaults(tmp_path: Path) -> None:
    s = _load(tmp_path, 'name = "fn"\n[job]\n')
    assert s.job is True
    assert s.job_bucket is None
    assert s.job_max_cost is None


def test_every_job_key_is_read(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        'name = "fn"\n[job]\nbucket = "my-jobs"\nmax_hops = 200\nmax_seconds = 3600\n'
        "max_cost = 2\nmargin_ms = 1500\nstate_ttl_days = 3\n",
    )
    assert (s.job, s.job_bucket, s.job_max_hops, s.job_max_seconds) == (True, "my-jobs", 200, 3600)
    assert (s.job_max_cost, s.job_margin_ms, s.job_state_ttl_days) == (2.0, 1500, 3)
    assert isinstance(s.job_max_cost, float)


def test_dotted_keys_work_too(tmp_path: Path) -> None:
    s = _load(tmp_path, 'name = "fn"\njob.max_hops = 7\n')
    assert (s.job, s.job_max_hops) == (True, 7)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("max_hops = 0", "job.max-hops must be a whole number from 1 to 1000000 (got 0"),
        ("max_seconds = -5", "job.max-seconds must be a whole number from 1"),
        ("state_ttl_days = 0", "job.state-ttl-days must be a whole number from 1 to 3650"),
        ('max_hops = "many"', "`job.max_hops` in "),
        ("max_cost = 0", "job.max_cost must be a number of dollars above 0 (got 0"),
        ("max_cost = true", "`job.max_cost` in "),
        ('bucket = "My_Bucket"', "job.bucket 'My_Bucket' in "),
        ('bucket = "ab"', "not a valid S3 bucket name: 3 to 63 characters"),
        ('bucket = "192.168.1.1"', "not an IP address"),
        ("retries = 3", "Unknown key(s) in [job] of"),
    ],
)
def test_bad_job_values_are_one_line_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        _load(tmp_path, f'name = "fn"\n[job]\n{body}\n')
    assert message in err.value.message
    assert "\n" not in err.value.message
    assert err.value.hint


def test_job_as_a_plain_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"`job` in .* must be a table") as err:
        _load(tmp_path, 'name = "fn"\njob = true\n')
    assert "[job] table" in (err.value.hint or "")


def test_the_functions_own_job_variables_are_not_settings(tmp_path: Path) -> None:
    # RECURSECTL_JOB_BUCKET is what deploy sets on the function: in a shell it changes nothing.
    s = _load(tmp_path, 'name = "fn"\n', {"RECURSECTL_JOB_BUCKET": "x", "RECURSECTL_JOB": "1"})
    assert (s.job, s.job_bucket) == (False, None)
