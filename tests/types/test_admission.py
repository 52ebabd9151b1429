"""Admission: legacy shapes real channels carry are published with a warning; what clients cannot
parse or encode is refused; whatever is admitted parses in rattler and encodes as a shard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import rattler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockyard.types.admission import (
    MAX_RECORD_BYTES,
    MAX_SPECS,
    MAX_UNKNOWN_BYTES,
    examine,
)
from stockyard.types.encoding import MAX_NESTING, encode_msgpack
from stockyard.types.identifiers import parse_artifact_filename

NOW = 1_800_000_000_000  # what counts as now in these tests (2027)


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "foo",
        "version": "1.0",
        "build": "h1_0",
        "build_number": 0,
        "depends": ["python >=3.8"],
        "md5": "0123456789abcdef0123456789abcdef",
        "sha256": "ab" * 32,
        "size": 10,
        "subdir": "linux-64",
        "timestamp": 1_700_000_000_000,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def verdict(data: Any, kind: Any = "record") -> tuple[list[str], list[str]]:
    found = examine(data, kind=kind, now_ms=NOW)
    return [p.pointer for p in found.errors], [p.pointer for p in found.warnings]


# --- legacy shapes real channels carry: published, with a warning -------------------------------

LEGACY: list[tuple[str, dict[str, Any], list[str]]] = [
    ("noarch true (conda-build 2)", {"noarch": True}, ["/noarch"]),
    ("noarch false", {"noarch": False}, ["/noarch"]),
    ("track_features list", {"track_features": ["mkl", "debug"]}, ["/track_features"]),
    ("timestamp in seconds", {"timestamp": 1_500_000_000}, ["/timestamp"]),
    ("negative timestamp", {"timestamp": -1}, ["/timestamp"]),
    ("license_family outside conda-build's", {"license_family": "GPLv2+"}, ["/license_family"]),
    ("upper-case md5", {"md5": "0123456789ABCDEF0123456789ABCDEF"}, ["/md5"]),
    ("empty depends entry", {"depends": [""]}, ["/depends/0"]),
    ("revoked as text", {"revoked": "yes"}, ["/revoked"]),
    ("missing size", {"size": _DROP}, [""]),
    ("missing md5", {"md5": _DROP}, [""]),
    ("timestamp in the future", {"timestamp": NOW + 1}, ["/timestamp"]),
    (
        "timestamp later than indexed_timestamp (CEP 47)",
        {"timestamp": 1_700_000_000_001, "indexed_timestamp": 1_700_000_000_000},
        ["/timestamp"],
    ),
]


@pytest.mark.parametrize(("changes", "warned"), [c[1:] for c in LEGACY], ids=[c[0] for c in LEGACY])
def test_legacy_shapes_are_warnings(changes: dict[str, Any], warned: list[str]) -> None:
    assert verdict(record(**changes)) == ([], warned)


@pytest.mark.parametrize(
    "version",
    ["R15B01", "Release_2017_09", "04Sep15.e78", "4.1_21Jan17.6cc.jar", "ESMF_6_3_0rp1_ESMP_01"],
)
def test_upper_case_versions_are_published_with_a_warning(version: str) -> None:
    filename = f"foo-{version}-h1_0.tar.bz2"
    found = examine(record(version=version), expected=parse_artifact_filename(filename), now_ms=NOW)
    assert found.errors == []
    assert [(w.pointer, "upper-case" in w.message) for w in found.warnings] == [("/version", True)]


@pytest.mark.parametrize(
    "changes",
    [
        {"noarch": None},
        {"noarch": "python"},
        {"arch": None, "platform": None},
        {"arch": "x86_64", "platform": "linux"},
        {"features": "nomkl", "track_features": ""},
        {"features": None, "license": None, "license_family": None},
        {"license_family": "Apache"},  # conda-build compares case-insensitively
        {"depends": _DROP, "constrains": ["b <2"]},
        {"date": "2017-01-01", "binstar": {"channel": "main"}, "requires": ["x"]},
        {"app_entry": "x", "app_type": "desk", "icon": "abc.png", "space_anchor": True},
        {"legacy_bz2_md5": "0123456789abcdef0123456789abcdef", "legacy_bz2_size": 5},
        {"run_exports": {"weak": ["foo"], "noarch": ["bar"]}},
        {"purls": ["pkg:pypi/foo@1.0"], "python_site_packages_path": "lib/python3.12"},
        {"timestamp": 0, "sha256": None},
    ],
)
def test_shapes_of_real_records_are_quiet(changes: dict[str, Any]) -> None:
    assert verdict(record(**changes)) == ([], [])


def test_index_json_without_subdir_is_a_warning() -> None:
    data = {k: v for k, v in record().items() if k not in {"subdir", "md5", "sha256", "size"}}
    assert verdict(data, "index_json") == ([], ["/subdir"])


# --- what cannot be published: refused ----------------------------------------------------------

REFUSED: list[tuple[str, dict[str, Any], list[str]]] = [
    ("legacy_bz2_md5 not hex", {"legacy_bz2_md5": "not-hex"}, ["/legacy_bz2_md5"]),
    ("legacy_bz2_size as text", {"legacy_bz2_size": "abc"}, ["/legacy_bz2_size"]),
    ("run_exports garbage", {"run_exports": "garbage"}, ["/run_exports"]),
    ("run_exports list entry", {"run_exports": {"weak": "foo"}}, ["/run_exports/weak"]),
    ("extra_depends 5", {"extra_depends": 5}, ["/extra_depends"]),
    ("purls an object", {"purls": {"a": 1}}, ["/purls"]),
    ("purl not a package URL", {"purls": ["https://x"]}, ["/purls/0"]),
    ("unknown key beyond 64 bits", {"blob": 2**64 + 1}, ["/blob"]),
    ("unknown key below -2^63", {"blob": [-(2**63) - 1]}, ["/blob"]),
    ("build_number beyond 64 bits", {"build_number": 2**64}, ["/build_number"]),
    ("build_number as text", {"build_number": "0"}, ["/build_number"]),
    ("build_number missing", {"build_number": _DROP}, [""]),
    ("size negative", {"size": -1}, ["/size"]),
    ("md5 too short", {"md5": "abc"}, ["/md5"]),
    ("timestamp as text", {"timestamp": "2017"}, ["/timestamp"]),
    ("timestamp as float", {"timestamp": 1.5e12}, ["/timestamp"]),
    ("timestamp beyond year 9999", {"timestamp": 10**17}, ["/timestamp"]),
    ("indexed_timestamp as text", {"indexed_timestamp": "x"}, ["/indexed_timestamp"]),
    ("noarch 'Python'", {"noarch": "Python"}, ["/noarch"]),
    ("noarch 1", {"noarch": 1}, ["/noarch"]),
    ("features a list", {"features": ["mkl"]}, ["/features"]),
    ("track_features null", {"track_features": None}, ["/track_features"]),
    ("depends null", {"depends": None}, ["/depends"]),
    ("depends a string", {"depends": "python"}, ["/depends"]),
    ("depends entry a number", {"depends": ["a", 5]}, ["/depends/1"]),
    ("too many depends", {"depends": ["a"] * (MAX_SPECS + 1)}, ["/depends"]),
    ("license a number", {"license": 5}, ["/license"]),
    ("subdir with a newline", {"subdir": "linux-64\n"}, ["/subdir"]),
    ("subdir with a slash", {"subdir": "../linux-64"}, ["/subdir"]),
    ("name with a newline", {"name": "foo\n"}, ["/name"]),
    ("name upper case", {"name": "Foo"}, ["/name"]),
    ("version rattler cannot parse", {"version": "1..2"}, ["/version"]),
    ("version with a space", {"version": "1 2"}, ["/version"]),
    ("build with a newline", {"build": "h1_0\n"}, ["/build"]),
    ("nested too deep", {"blob": json.loads("[" * 40 + "]" * 40)}, ["/blob"]),
]


@pytest.mark.parametrize(
    ("changes", "refused"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_what_clients_cannot_read_is_refused(changes: dict[str, Any], refused: list[str]) -> None:
    errors, _ = verdict(record(**changes))
    assert errors == refused


def test_identity_must_agree_with_the_filename() -> None:
    expected = parse_artifact_filename("foo-1.0-h1_0.conda")
    found = examine(record(version="1.1"), expected=expected, now_ms=NOW)
    assert [(p.pointer, "does not match the filename" in p.message) for p in found.errors] == [
        ("/version", True)
    ]


def test_size_bounds() -> None:
    big = "x" * (MAX_UNKNOWN_BYTES + 1)
    assert verdict(record(notes=big)) == ([""], [])
    assert verdict(record(license="x" * (MAX_RECORD_BYTES + 1))) == ([""], [])
    assert verdict(record(depends=["a"] * MAX_SPECS)) == ([], [])
    assert verdict(record(blob=json.loads("[" * MAX_NESTING + "]" * MAX_NESTING))) == ([], [])


def test_not_an_object() -> None:
    assert verdict([1]) == ([""], [])


# --- whatever is admitted parses in rattler and encodes as a shard ------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["python", "generic", "0" * 32, "ab" * 32, "pkg:pypi/x", "linux-64"])
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_text = st.text(max_size=12)
_specs = st.lists(_text, max_size=3)
_hex = st.sampled_from(["0" * 32, "AB" * 16, "ab" * 32, "cd" * 32, "xyz", ""])
_ints = st.integers(min_value=-(2**64), max_value=2**65) | st.integers(-5, 2_000_000_000_000)
#: Per known key: plausible values (and near misses), so that many examples are admitted.
_PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "build_number": _ints,
    "depends": _specs,
    "constrains": _specs,
    "flags": _specs,
    "subdir": st.sampled_from(["linux-64", "noarch", "osx-arm64", "Linux-64", "x"]) | _text,
    "noarch": st.sampled_from([True, False, None, "python", "generic", "Python", 1]),
    "timestamp": _ints,
    "indexed_timestamp": _ints,
    "track_features": _text | _specs | st.none(),
    "features": _text | _specs | st.none(),
    "license": _text | st.none(),
    "license_family": st.sampled_from(["MIT", "bsd", "WEIRD"]) | st.none(),
    "arch": _text | st.none(),
    "platform": _text | st.none(),
    "python_site_packages_path": _text | st.none(),
    "md5": _hex | st.none(),
    "sha256": _hex | st.none(),
    "legacy_bz2_md5": _hex | st.none(),
    "attestations_sha256": _hex | st.none(),
    "size": _ints | st.none(),
    "legacy_bz2_size": _ints | st.none(),
    "run_exports": st.dictionaries(
        st.sampled_from(["weak", "strong", "noarch", "weak_constrains", "other"]), _specs
    )
    | st.none(),
    "extra_depends": st.dictionaries(_text, _specs, max_size=2),
    "purls": st.lists(st.sampled_from(["pkg:pypi/x@1.0", "pkg:conda/x", "pkg:x", "nope"])),
    "revoked": st.booleans() | _text,
    "version": st.sampled_from(["1.0", "R15B01", "1.0_", "1!2.0+local", "1..2", "1_a.B2"]),
    "unknown_key": _values,
}
_changes = st.tuples(
    st.lists(st.sampled_from(sorted(_PLAUSIBLE)), min_size=1, max_size=5, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: _PLAUSIBLE[k] for k in keys})
    ),
    st.dictionaries(st.sampled_from(sorted(_PLAUSIBLE)), _values, max_size=1),
).map(lambda parts: {**parts[0], **parts[1]})


def _rattler_parses(tmp: Path, data: dict[str, Any]) -> None:
    path = tmp / "repodata.json"
    document = {"info": {"subdir": "linux-64"}, "packages": {"foo-1.0-h1_0.tar.bz2": data}}
    path.write_bytes(msgspec.json.encode(document))
    rattler.RepoData.from_path(path).into_repo_data(rattler.Channel("test"))
    sparse = rattler.SparseRepoData(rattler.Channel("test"), "linux-64", path)
    assert len(sparse.load_all_records()) == 1


def _shard_encodes(data: dict[str, Any]) -> None:
    shard_record = dict(data)
    for key in ("md5", "sha256", "legacy_bz2_md5"):
        if isinstance(shard_record.get(key), str):
            shard_record[key] = bytes.fromhex(shard_record[key])
    encode_msgpack({"packages": {"foo-1.0-h1_0.tar.bz2": shard_record}})


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=_changes)
def test_whatever_is_admitted_parses_in_rattler(tmp_path: Path, changes: dict[str, Any]) -> None:
    data = record(**changes)
    if examine(data, now_ms=NOW).errors:
        return
    _rattler_parses(tmp_path, data)
    _shard_encodes(data)
