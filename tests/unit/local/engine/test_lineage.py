"""Recursive-loop detection through the trace header's Lineage field (pure)."""

from __future__ import annotations

from recursectl.local.engine.lineage import MAX_CHAIN, function_name, lineage_key, next_trace


def _fields(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split(";"))


def test_a_new_chain_gets_a_root_and_a_count_of_one() -> None:
    header, count = next_trace(None, "abcd1234")
    fields = _fields(header)
    assert count == 1
    assert fields["Root"].startswith("1-")
    assert fields["Lineage"] == "abcd1234:1"


def test_the_count_grows_per_function_along_the_chain_and_keeps_the_root() -> None:
    header, _ = next_trace(None, "aaaaaaaa")
    for expected in range(2, MAX_CHAIN + 2):
        header, count = next_trace(header, "aaaaaaaa")
        assert count == expected
    other, count = next_trace(header, "bbbbbbbb")
    assert count == 1
    assert _fields(other)["Root"] == _fields(header)["Root"]
    assert _fields(other)["Lineage"] == f"aaaaaaaa:{MAX_CHAIN + 1}|bbbbbbbb:1"


def test_garbled_lineage_entries_are_ignored() -> None:
    _, count = next_trace("Root=1-x;Lineage=zz:9|12345678:notanumber|2:abcdef01:4", "abcdef01")
    assert count == 5  # the optional "N:" prefix AWS writes is accepted


def test_function_names_and_keys() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    assert function_name("f") == function_name(arn) == function_name(f"{arn}:live") == "f"
    assert function_name("arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Ag") == "g"
    assert len(lineage_key(arn)) == 8
    assert lineage_key(arn) != lineage_key(arn + "2")
