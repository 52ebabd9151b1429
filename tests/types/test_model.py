"""The data model: real data validates, encoders are deterministic, schemas are fresh."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockyard.types import identifiers as ids
from stockyard.types.encoding import (
    encode_json,
    encode_msgpack,
    join_json_object,
    zstd_compress,
    zstd_decompress,
)
from stockyard.types.errors import InvalidIdentifier
from stockyard.types.records import PackageRecord, normalize_run_exports, validate_record
from stockyard.types.repodata import Repodata, Shard
from stockyard.types.schemas import render_schemas

from ..conftest import REPO_ROOT


def test_real_repodata_validates(r_repodata: dict[str, Any], main_sample: dict[str, Any]) -> None:
    parsed = msgspec.convert(r_repodata, Repodata)
    assert len(parsed.packages) == 4211
    assert parsed.removed == ["r-nloptr-1.0.4-r3.2.2_1.tar.bz2"]
    parsed = msgspec.convert({"packages": main_sample}, Repodata)
    assert len(parsed.packages) == 4118


def test_validate_record_keeps_unknown_keys(main_sample: dict[str, Any]) -> None:
    record = next(r for r in main_sample.values() if "binstar" in r)
    assert validate_record(record) is record
    assert "binstar" in record


@pytest.mark.parametrize(
    "patch",
    [
        {"name": "Bad Name"},
        {"build_number": -1},
        {"md5": "xyz"},
        {"depends": "python"},
        {"timestamp": "yesterday"},
        {"noarch": "java"},
    ],
)
def test_invalid_records_are_rejected(patch: dict[str, Any]) -> None:
    record = {"name": "a", "version": "1", "build": "0", "build_number": 0, "md5": "0" * 32}
    record["size"] = 1
    validate_record(dict(record))
    with pytest.raises(msgspec.ValidationError):
        validate_record({**record, **patch})


def test_shard_records_take_binary_hashes() -> None:
    rec = {"name": "a", "version": "1", "build": "0", "build_number": 0, "size": 1}
    shard = {"packages.conda": {"a-1-0.conda": {**rec, "md5": b"\0" * 16, "sha256": b"\1" * 32}}}
    decoded = msgspec.msgpack.decode(encode_msgpack(shard), type=Shard)
    assert decoded.packages_conda["a-1-0.conda"].sha256 == b"\1" * 32
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"packages": {"x": {**rec, "md5": "0" * 32}}}, Shard)


def test_run_exports_list_form_means_weak() -> None:
    assert normalize_run_exports(["libfoo >=1"]) == {"weak": ["libfoo >=1"]}
    assert normalize_run_exports({"strong": ["a"], "weak": []}) == {"strong": ["a"]}
    with pytest.raises(msgspec.ValidationError):
        normalize_run_exports({"weak": "a"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=8))
def test_join_json_object_equals_full_encoding(obj: dict[str, Any]) -> None:
    items = sorted((k, encode_json(v)) for k, v in obj.items())
    assert join_json_object(items) == encode_json(obj)
    assert json.loads(join_json_object(items)) == obj


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=8))
def test_encoders_are_order_independent(obj: dict[str, Any]) -> None:
    reversed_obj = dict(reversed(list(obj.items())))
    assert encode_json(obj) == encode_json(reversed_obj)
    assert encode_msgpack(obj) == encode_msgpack(reversed_obj)


def test_zstd_roundtrip_and_bomb_bound() -> None:
    data = b"x" * 100_000
    frame = zstd_compress(data, level=3)
    assert frame == zstd_compress(data, level=3)
    assert zstd_decompress(frame, max_output_size=100_000) == data
    with pytest.raises(ValueError, match="expands beyond"):
        zstd_decompress(frame, max_output_size=99_999)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("numpy-1.26.4-py312h0_0.conda", ("numpy", "1.26.4", "py312h0_0", "conda")),
        ("_r-mutex-1.0.0-anacondar_1.tar.bz2", ("_r-mutex", "1.0.0", "anacondar_1", "tar.bz2")),
        ("ca-certificates-2024.2.2-h0_0.conda", ("ca-certificates", "2024.2.2", "h0_0", "conda")),
    ],
)
def test_parse_artifact_filename(filename: str, expected: tuple[str, ...]) -> None:
    assert tuple(ids.parse_artifact_filename(filename)) == expected
    assert ids.parse_artifact_filename(filename).filename == filename


@pytest.mark.parametrize(
    "filename",
    [
        "../etc-1-0.conda",
        "/abs-1-0.conda",
        "a-1-0.zip",
        "nover.conda",
        "Upper-1-0.conda",
        "a-1-0" + "x" * 220 + ".conda",
        "a-1-b@d.conda",
        "",
    ],
)
def test_bad_artifact_filenames(filename: str) -> None:
    with pytest.raises(InvalidIdentifier):
        ids.parse_artifact_filename(filename)


def test_identifier_limits() -> None:
    ids.check_package_name("a" * 64)
    with pytest.raises(InvalidIdentifier, match="limit is 64"):
        ids.check_package_name("a" * 65)
    with pytest.raises(InvalidIdentifier):
        ids.check_package_name("a__b")
    ids.check_subdir("linux-64")
    ids.check_subdir("noarch")
    with pytest.raises(InvalidIdentifier):
        ids.check_subdir("Linux-64")
    ids.check_channel_name("conda-forge")
    with pytest.raises(InvalidIdentifier):
        ids.check_channel_name(".hidden")
    assert ids.twin_filename("a-1-0.tar.bz2") == "a-1-0.conda"


def test_package_record_schema_has_cep_fields() -> None:
    schema = msgspec.json.schema(PackageRecord)
    props = schema["$defs"]["PackageRecord"]["properties"]
    for key in ("indexed_timestamp", "legacy_bz2_md5", "run_exports", "python_site_packages_path"):
        assert key in props
    assert "fn" not in schema["$defs"]["PackageRecord"]["required"]


def test_checked_in_schemas_are_fresh() -> None:
    """Fails when the model changed and `stockyard schema export schemas` was not run."""
    for name, data in render_schemas().items():
        path = REPO_ROOT / "schemas" / name
        assert path.exists(), f"missing {path}: run `stockyard schema export schemas`"
        assert path.read_bytes() == data, f"{path} is stale: run `stockyard schema export schemas`"
    listed = {p.name for p in (REPO_ROOT / "schemas").glob("*.schema.json")}
    assert listed == set(render_schemas()), "schemas/ holds files the model no longer generates"
