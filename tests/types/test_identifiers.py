"""Identifier checks match the whole value: `$` alone also matches before a trailing newline, so
"bb\n" passed every `re.match(...$)` check (issue 7 §7.2)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from stockyard.catalog.tokens import TOKEN_PATTERN, is_token_shaped
from stockyard.storage.base import InvalidKey, check_key
from stockyard.types import identifiers as ids
from stockyard.types.errors import InvalidIdentifier
from stockyard.types.records import IndexJson, PackageRecord

CHECKS = [
    (ids.check_package_name, "numpy"),
    (ids.check_version, "1.0"),
    (ids.check_artifact_version, "R15B01"),
    (ids.check_build_string, "py_0"),
    (ids.check_subdir, "linux-64"),
    (ids.check_channel_name, "conda-forge/label"),
    (ids.check_label, "main"),
    (ids.check_sha256, "ab" * 32),
]


@pytest.mark.parametrize(("check", "good"), CHECKS, ids=[c[0].__name__ for c in CHECKS])
@pytest.mark.parametrize("suffix", ["\n", "\r\n", " ", "\x00"])
def test_a_trailing_newline_is_refused(check: Any, good: str, suffix: str) -> None:
    assert check(good) in (good, good.lower())
    with pytest.raises(InvalidIdentifier):
        check(good + suffix)


@pytest.mark.parametrize(
    "filename", ["numpy-1.0-py_0\n.conda", "numpy\n-1.0-py_0.conda", "numpy-1.0\n-py_0.conda"]
)
def test_artifact_filenames_with_newlines_are_refused(filename: str) -> None:
    with pytest.raises(InvalidIdentifier):
        ids.parse_artifact_filename(filename)


def test_artifact_filenames_may_carry_upper_case_versions() -> None:
    # Real packages: erlang-R15B01-0, conda compares versions case-insensitively.
    parsed = ids.parse_artifact_filename("erlang-R15B01-0.tar.bz2")
    assert (parsed.name, parsed.version, parsed.build) == ("erlang", "R15B01", "0")
    with pytest.raises(InvalidIdentifier):
        ids.check_version("R15B01")  # what we create stays CEP 26


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "numpy\n"),
        ("version", "1.0\n"),
        ("build", "py_0\n"),
        ("subdir", "linux-64\n"),
        ("md5", "0123456789abcdef0123456789abcdef\n"),
        ("sha256", "ab" * 32 + "\n"),
    ],
)
def test_struct_patterns_refuse_a_trailing_newline(field: str, value: str) -> None:
    record = {
        "name": "numpy",
        "version": "1.0",
        "build": "py_0",
        "build_number": 0,
        "subdir": "linux-64",
        "md5": "0123456789abcdef0123456789abcdef",
        "sha256": "ab" * 32,
        "size": 1,
    }
    msgspec.convert(record, PackageRecord)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({**record, field: value}, PackageRecord)
    if field not in ("md5", "sha256"):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({**record, field: value}, IndexJson)


def test_search_pattern_means_the_same_in_python_and_json_schema() -> None:
    pattern = ids.search_pattern(ids.SUBDIR_PATTERN)
    assert pattern.endswith(r"(?!\n)$")
    schema = msgspec.json.schema(IndexJson)
    assert schema["$defs"]["IndexJson"]["properties"]["subdir"]["anyOf"][0]["pattern"] == pattern
    with pytest.raises(ValueError, match="anchored"):
        ids.search_pattern("abc")


def test_storage_keys_and_tokens_match_whole_values() -> None:
    assert check_key("linux-64/a-1-0.conda") == "linux-64/a-1-0.conda"
    with pytest.raises(InvalidKey):
        check_key("linux-64\n/a-1-0.conda")
    assert TOKEN_PATTERN.endswith("$")
    assert is_token_shaped("sy-abcdefgh12345678")
    assert not is_token_shaped("sy-abcdefgh12345678\n")
