"""channeldata, run_exports, patch instructions and the info/ files."""

from __future__ import annotations

from typing import Any

import pytest

from stockyard.validate import validate_document

from .conftest import record


def found(data: Any, kind: str) -> list[str]:
    return [p.pointer for p in validate_document(data, kind, source="x").problems]


# --- channeldata (CEP 38) ----------------------------------------------------------------------


def channeldata() -> dict[str, Any]:
    return {
        "channeldata_version": 1,
        "subdirs": ["linux-64", "noarch"],
        "packages": {
            "numpy": {
                "version": "2.0.0",
                "subdirs": ["linux-64"],
                "timestamp": 1700000000,
                "run_exports": {"2.0.0": {"weak": ["numpy >=2"]}},
                "activate.d": False,
                "deactivate.d": False,
                "post_link": False,
                "pre_link": False,
                "pre_unlink": False,
                "text_prefix": False,
                "binary_prefix": True,
                "source_url": ["https://a", "https://b"],
            }
        },
    }


def test_channeldata_valid() -> None:
    report = validate_document(channeldata(), "channeldata", source="x")
    assert (report.valid, report.records) == (True, 1)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["packages", "numpy", "timestamp"], 1700000000000, ["/packages/numpy/timestamp"]),
        (["packages", "numpy", "subdirs"], ["osx-64"], ["/packages/numpy/subdirs/0"]),
        (["packages", "numpy", "activate.d"], "yes", ["/packages/numpy/activate.d"]),
        (
            ["packages", "numpy", "run_exports"],
            {"2.0.0": {"weak": "numpy"}},
            ["/packages/numpy/run_exports/2.0.0/weak"],
        ),
        # two problems: an invalid package name, and the CEP 38 keys the entry lacks
        (["packages", "NumPy"], {}, ["/packages/NumPy", "/packages/NumPy"]),
        (["subdirs"], ["linux-64", "noarch", "Bad"], ["/subdirs/2"]),
        (["channeldata_version"], 0, ["/channeldata_version"]),
    ],
)
def test_channeldata_breaks(path: list[str], value: Any, expected: list[str]) -> None:
    doc = channeldata()
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert found(doc, "channeldata") == expected


# --- run_exports.json (CEP 12) and info/run_exports.json (CEP 34) ---------------------------------


def test_run_exports_document() -> None:
    doc = {
        "info": {"subdir": "linux-64"},
        "packages": {"a-1-0.tar.bz2": {"run_exports": {}}},
        "packages.conda": {
            "a-1-0.conda": {"run_exports": {"weak": ["a >=1"]}},
            "b-1-0.tar.bz2": {"run_exports": {"strong": [3]}},
            "c-1-0.conda": {},
        },
    }
    report = validate_document(doc, "run_exports", source="x")
    assert report.records == 4
    assert [p.pointer for p in report.problems] == [
        "/packages.conda/b-1-0.tar.bz2",
        "/packages.conda/b-1-0.tar.bz2/run_exports/strong/0",
        "/packages.conda/c-1-0.conda",
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (["libfoo >=1"], []),
        ({"weak": ["a"], "strong_constrains": ["b <2"]}, []),
        ({"weak": ["a"], "schema_version": 2}, []),
        ({"weak": "a"}, ["/weak"]),
        (["a", 1], ["/1"]),
        ({"noarch": [None]}, ["/noarch/0"]),
        ({"weak": [], "schema_version": 0}, ["/schema_version"]),
        ("a", [""]),
    ],
)
def test_run_exports_json(data: Any, expected: list[str]) -> None:
    assert found(data, "run_exports_json") == expected


def test_run_exports_json_unknown_keys_are_noted() -> None:
    report = validate_document({"weeak": ["a"]}, "run_exports_json", source="x")
    assert report.valid
    assert [n.pointer for n in report.notes] == ["/weeak"]


# --- patch_instructions.json ---------------------------------------------------------------------


def test_patch_instructions() -> None:
    doc = {
        "patch_instructions_version": 1,
        "packages": {
            "a-1-0.tar.bz2": {"depends": ["b >=2"], "license": None, "track_features": None},
            "a-2-0.tar.bz2": {"depends": "b", "build_number": -1, "my_key": {"any": "thing"}},
            "a-3-0.conda": {"depends": []},
        },
        "packages.conda": {"a-1-0.conda": {"constrains": ["c <3"], "md5": "nope"}},
        "revoke": ["a-1-0.tar.bz2", "README"],
        "remove": ["a-2-0.conda", 3],
    }
    report = validate_document(doc, "patch_instructions", source="x")
    assert report.records == 4
    assert [p.pointer for p in report.problems] == [
        "/packages/a-2-0.tar.bz2/build_number",
        "/packages/a-2-0.tar.bz2/depends",
        "/packages/a-3-0.conda",
        "/packages.conda/a-1-0.conda/md5",
        "/remove/1",
        "/revoke/1",
    ]


def test_patch_instructions_version() -> None:
    assert found({"patch_instructions_version": 2}, "patch_instructions") == []
    assert found({"patch_instructions_version": 3}, "patch_instructions") == [
        "/patch_instructions_version"
    ]


# --- info/ files (CEP 34) ------------------------------------------------------------------------


def index_json(**extra: Any) -> dict[str, Any]:
    rec = record(**extra)
    for key in ("md5", "sha256", "size"):
        rec.pop(key)
    return rec


def test_index_json() -> None:
    assert found(index_json(), "index_json") == []
    assert found(index_json(build_number="1", noarch="java"), "index_json") == [
        "/build_number",
        "/noarch",
    ]
    # index.json has no md5/size: they are what the indexer adds.
    assert found({"name": "a"}, "index_json") == [""]


def test_index_json_timestamp_in_seconds_is_a_warning() -> None:
    report = validate_document(index_json(timestamp=1700000000), "index_json", source="x")
    assert report.valid
    assert [(w.pointer, w.severity) for w in report.warnings] == [("/timestamp", "warning")]
    assert "looks like seconds" in report.warnings[0].message


def test_index_json_legacy_shapes_are_warnings_not_problems() -> None:
    report = validate_document(
        index_json(noarch=True, version="R15B01", track_features=["a", "b"]),
        "index_json",
        source="x",
    )
    assert report.valid
    assert [w.pointer for w in report.warnings] == ["/noarch", "/track_features", "/version"]


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("about_json", {"summary": "s", "license_file": ["A", "B"], "extra": {"x": 1}}, []),
        ("about_json", {"channels": "conda-forge"}, ["/channels"]),
        ("about_json", {"env_vars": {"A": 1}}, ["/env_vars/A"]),
        (
            "paths_json",
            {"paths_version": 1, "paths": [{"_path": "bin/x", "sha256": "ab" * 32}]},
            [],
        ),
        (
            "paths_json",
            {"paths": [{"_path": "a", "path_type": "junction"}, {}]},
            ["/paths/0/path_type", "/paths/1"],
        ),
        (
            "paths_json",
            {"paths": [{"_path": "a", "size_in_bytes": -1}]},
            ["/paths/0/size_in_bytes"],
        ),
        (
            "link_json",
            {
                "package_metadata_version": 1,
                "noarch": {"type": "python", "entry_points": ["a = b:c"]},
            },
            [],
        ),
        ("link_json", {"noarch": {"entry_points": []}}, ["/noarch"]),
    ],
)
def test_info_files(kind: str, data: Any, expected: list[str]) -> None:
    assert found(data, kind) == expected
