"""Broken repodata: each break is reported at its JSON pointer, and all of them at once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from stockyard.validate import validate_document

from .conftest import record, repodata

Doc = dict[str, Any]
TAR = "/packages/numpy-1.0-py_0.tar.bz2"
CONDA = "/packages.conda/numpy-1.0-py_0.conda"


def pointers(doc: Any, kind: str = "repodata") -> list[str]:
    return [p.pointer for p in validate_document(doc, kind, source="test").problems]


def messages(doc: Any, kind: str = "repodata") -> list[str]:
    return [p.message for p in validate_document(doc, kind, source="test").problems]


def test_the_base_document_is_valid(good_repodata: Doc) -> None:
    report = validate_document(good_repodata, "repodata", source="mem")
    assert (report.valid, report.problems, report.records) == (True, [], 3)
    assert report.path == "mem"


def _set(path: list[str], value: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: list[str]) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


TAR_KEY = ["packages", "numpy-1.0-py_0.tar.bz2"]

BROKEN: list[tuple[str, Callable[[Doc], None], list[str]]] = [
    ("negative build_number", _set([*TAR_KEY, "build_number"], -1), [f"{TAR}/build_number"]),
    ("build_number as string", _set([*TAR_KEY, "build_number"], "0"), [f"{TAR}/build_number"]),
    ("build_number as bool", _set([*TAR_KEY, "build_number"], True), [f"{TAR}/build_number"]),
    ("depends is a string", _set([*TAR_KEY, "depends"], "python"), [f"{TAR}/depends"]),
    ("a depends item is a number", _set([*TAR_KEY, "depends"], ["a", 3]), [f"{TAR}/depends/1"]),
    ("md5 not hex", _set([*TAR_KEY, "md5"], "xyz"), [f"{TAR}/md5"]),
    ("sha256 too short", _set([*TAR_KEY, "sha256"], "ab" * 31), [f"{TAR}/sha256"]),
    ("size negative", _set([*TAR_KEY, "size"], -5), [f"{TAR}/size"]),
    ("missing name", _delete([*TAR_KEY, "name"]), [TAR]),
    ("noarch unknown", _set([*TAR_KEY, "noarch"], "java"), [f"{TAR}/noarch"]),
    ("timestamp as text", _set([*TAR_KEY, "timestamp"], "yesterday"), [f"{TAR}/timestamp"]),
    (
        "run_exports item",
        _set([*TAR_KEY, "run_exports"], {"weak": ["a", 5]}),
        [f"{TAR}/run_exports/weak/1"],
    ),
    ("record is a list", _set(TAR_KEY, [1, 2]), [TAR]),
    ("subdir pattern", _set([*TAR_KEY, "subdir"], "Linux_64"), [f"{TAR}/subdir"] * 2),
    ("subdir differs from info", _set([*TAR_KEY, "subdir"], "osx-64"), [f"{TAR}/subdir"]),
    ("name differs from filename", _set([*TAR_KEY, "name"], "scipy"), [f"{TAR}/name"]),
    ("version differs from filename", _set([*TAR_KEY, "version"], "2.0"), [f"{TAR}/version"]),
    ("build differs from filename", _set([*TAR_KEY, "build"], "py_1"), [f"{TAR}/build"]),
    ("name breaks CEP 26 and the filename", _set([*TAR_KEY, "name"], "NumPy"), [f"{TAR}/name"] * 2),
    (
        "filename without extension",
        _set(["packages", "numpy-1.0"], record()),
        ["/packages/numpy-1.0"],
    ),
    (
        "filename with too few dashes",
        _set(["packages", "numpy.tar.bz2"], record()),
        ["/packages/numpy.tar.bz2"],
    ),
    (
        ".conda under packages",
        _set(["packages", "numpy-1.0-py_0.conda"], record()),
        ["/packages/numpy-1.0-py_0.conda"],
    ),
    (
        ".tar.bz2 under packages.conda",
        _set(["packages.conda", "numpy-1.0-py_0.tar.bz2"], record()),
        ["/packages.conda/numpy-1.0-py_0.tar.bz2"],
    ),
    (
        "filename too long",
        _set(["packages", "a-" + "1" * 60 + "-" + "b" * 150 + ".tar.bz2"], record()),
        ["/packages/a-" + "1" * 60 + "-" + "b" * 150 + ".tar.bz2"],
    ),
    ("packages is a list", _set(["packages"], []), ["/packages"]),
    ("removed holds a number", _set(["removed"], [3]), ["/removed/0"]),
    ("removed holds a non-artifact", _set(["removed"], ["README"]), ["/removed/0"]),
    # A bad info.subdir is one problem, not one more per record.
    ("info.subdir bad", _set(["info", "subdir"], "nope"), ["/info/subdir"]),
    ("repodata_version 3", _set(["repodata_version"], 3), ["/repodata_version"]),
    ("repodata_version 2 without base_url", _set(["repodata_version"], 2), ["/info"]),
    (
        "base_url without repodata_version 2",
        _set(["info", "base_url"], "https://example.com/linux-64/"),
        ["/info/base_url"],
    ),
    (
        "info.repodata_version disagrees",
        _set(["info", "repodata_version"], 2),
        ["/info/repodata_version"],
    ),
    (
        "info.repodata_version bad type",
        _set(["info", "repodata_version"], "1"),
        ["/info/repodata_version"],
    ),
    ("top level is a list", lambda doc: doc.clear(), []),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_each_break_is_reported_at_its_pointer(
    good_repodata: Doc, mutate: Callable[[Doc], None], expected: list[str]
) -> None:
    mutate(good_repodata)
    assert sorted(pointers(good_repodata)) == sorted(expected)


#: What the strict model does not allow but clients read: published, and reported as warnings
#: (`stockyard.types.admission`).
WARNED: list[tuple[str, Callable[[Doc], None], list[str]]] = [
    ("empty depends item", _set([*TAR_KEY, "depends"], [""]), [f"{TAR}/depends/0"]),
    ("md5 upper case", _set([*TAR_KEY, "md5"], "0123456789ABCDEF0123456789ABCDEF"), [f"{TAR}/md5"]),
    ("missing md5", _delete([*TAR_KEY, "md5"]), [TAR]),
    ("missing size", _delete([*TAR_KEY, "size"]), [TAR]),
    ("noarch true", _set([*TAR_KEY, "noarch"], True), [f"{TAR}/noarch"]),
    ("noarch false", _set([*TAR_KEY, "noarch"], False), [f"{TAR}/noarch"]),
    (
        "upper-case version",
        _set(
            ["packages", "erlang-R15B01-0.tar.bz2"],
            record(name="erlang", version="R15B01", build="0"),
        ),
        ["/packages/erlang-R15B01-0.tar.bz2/version"],
    ),
    ("track_features list", _set([*TAR_KEY, "track_features"], ["mkl"]), [f"{TAR}/track_features"]),
    ("timestamp in seconds", _set([*TAR_KEY, "timestamp"], 1500000000), [f"{TAR}/timestamp"]),
    ("negative timestamp", _set([*TAR_KEY, "timestamp"], -5), [f"{TAR}/timestamp"]),
    ("odd license_family", _set([*TAR_KEY, "license_family"], "WEIRD"), [f"{TAR}/license_family"]),
    ("revoked as text", _set([*TAR_KEY, "revoked"], "yes"), [f"{TAR}/revoked"]),
    (
        "timestamp after indexed_timestamp",
        lambda doc: doc["packages"]["numpy-1.0-py_0.tar.bz2"].update(
            timestamp=1700000000001, indexed_timestamp=1700000000000
        ),
        [f"{TAR}/timestamp"],
    ),
    (
        "timestamp in the future",
        _set([*TAR_KEY, "timestamp"], 253402207200000),
        [f"{TAR}/timestamp"],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [b[1:] for b in WARNED], ids=[b[0] for b in WARNED]
)
def test_legacy_shapes_are_warnings(
    good_repodata: Doc, mutate: Callable[[Doc], None], expected: list[str]
) -> None:
    mutate(good_repodata)
    report = validate_document(good_repodata, "repodata", source="test")
    assert (report.valid, report.problems) == (True, [])
    assert sorted(w.pointer for w in report.warnings) == sorted(expected)
    assert all(w.severity == "warning" for w in report.warnings)


def test_repodata_version_2_with_base_url_is_valid(good_repodata: Doc) -> None:
    good_repodata["repodata_version"] = 2
    good_repodata["info"]["base_url"] = "https://example.com/pkgs/linux-64/"
    assert pointers(good_repodata) == []
    good_repodata["info"]["base_url"] = "../pkgs/linux-64/"  # CEP 15: relative is fine
    assert pointers(good_repodata) == []


def test_base_url_needs_a_trailing_slash(good_repodata: Doc) -> None:
    good_repodata["repodata_version"] = 2
    good_repodata["info"]["base_url"] = "https://example.com/linux-64"
    assert pointers(good_repodata) == ["/info/base_url"]
    assert "must end with '/'" in messages(good_repodata)[0]


def test_every_problem_of_a_document_is_reported(good_repodata: Doc) -> None:
    tar = good_repodata["packages"]["numpy-1.0-py_0.tar.bz2"]
    tar.update(build_number=-1, md5="nothex", depends=["ok", 7])
    del tar["size"]
    good_repodata["packages.conda"]["scipy-2.0-h1_1.conda"]["sha256"] = "zz"
    good_repodata["packages"]["bad name.tar.bz2"] = record()
    good_repodata["removed"] = [1]
    good_repodata["repodata_version"] = 2
    assert pointers(good_repodata) == [
        "/info",
        "/packages/bad name.tar.bz2",
        f"{TAR}/build_number",
        f"{TAR}/depends/1",
        f"{TAR}/md5",
        "/packages.conda/scipy-2.0-h1_1.conda/sha256",
        "/removed/0",
    ]


def test_messages_name_the_rule_and_the_value(good_repodata: Doc) -> None:
    tar = good_repodata["packages"]["numpy-1.0-py_0.tar.bz2"]
    tar.update(build_number=-1, md5="xyz")
    del tar["size"]
    assert messages(good_repodata) == [
        "expected an integer from 0 to 2^64-1, got -1",
        'expected 32 hexadecimal digits, got "xyz"',
    ]
    report = validate_document(good_repodata, "repodata", source="test")
    assert [(w.pointer, w.message) for w in report.warnings] == [
        (TAR, "missing required key 'size'")
    ]


def test_pointers_escape_slash_and_tilde_in_keys(good_repodata: Doc) -> None:
    good_repodata["packages"]["a/b~c-1-0.tar.bz2"] = record()
    assert pointers(good_repodata) == ["/packages/a~1b~0c-1-0.tar.bz2"]


def test_unknown_keys_are_kept_quiet(good_repodata: Doc) -> None:
    # conda records carry keys no spec lists (`date`, `binstar`, `app_entry`); CEP 36 says ignore.
    good_repodata["packages"]["numpy-1.0-py_0.tar.bz2"]["binstar"] = {"channel": "main"}
    good_repodata["something_new"] = True
    assert pointers(good_repodata) == []


def test_signatures_and_indexed_timestamp_are_accepted(good_repodata: Doc) -> None:
    good_repodata["signatures"] = {"numpy-1.0-py_0.tar.bz2": {"ab" * 32: {"signature": "00"}}}
    good_repodata["packages"]["numpy-1.0-py_0.tar.bz2"]["indexed_timestamp"] = 1700000000001
    assert pointers(good_repodata) == []


def test_empty_document_is_a_valid_repodata() -> None:
    assert validate_document({}, "repodata", source="x").valid


def test_top_level_must_be_an_object() -> None:
    report = validate_document([], "repodata", source="x")
    assert [(p.pointer, p.message) for p in report.problems] == [
        ("", "expected `object`, got `array` ([])")
    ]


# --- CEP 48 ----------------------------------------------------------------------------------


def v3_document() -> Doc:
    doc = copy.deepcopy(repodata())
    doc["info"]["repodata_revisions"] = {
        "v3": {"message": "hi", "n_packages": 2, "oldest": 10, "newest": 20}
    }
    doc["v3"] = {
        "conda": {"numpy-3.0-py_0": record(version="3.0", indexed_timestamp=10)},
        "tar.bz2": {"numpy-3.1-py_0": record(version="3.1", indexed_timestamp=20)},
    }
    return doc


def test_v3_document_is_valid() -> None:
    report = validate_document(v3_document(), "repodata", source="x")
    assert report.problems == []
    assert report.records == 5


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["info"].pop("repodata_revisions"), ["/v3"]),
        (lambda d: d.pop("v3"), ["/info/repodata_revisions/v3"]),
        (
            lambda d: d["info"]["repodata_revisions"]["v3"].update(n_packages=3),
            ["/info/repodata_revisions/v3/n_packages"],
        ),
        (
            lambda d: d["info"]["repodata_revisions"]["v3"].update(newest=19),
            ["/info/repodata_revisions/v3/newest"],
        ),
        (
            lambda d: d["info"]["repodata_revisions"]["v3"].update(oldest=11),
            ["/info/repodata_revisions/v3/oldest"],
        ),
        (
            lambda d: d["info"]["repodata_revisions"]["v3"].update(message="x" * 9000),
            ["/info/repodata_revisions/v3/message"],
        ),
        (lambda d: d["info"]["repodata_revisions"].update(v2={}), ["/info/repodata_revisions/v2"]),
        (
            lambda d: d["v3"]["conda"]["numpy-3.0-py_0"].update(version="9"),
            ["/v3/conda/numpy-3.0-py_0/version"],
        ),
        (
            lambda d: d["v3"]["conda"]["numpy-3.0-py_0"].update(extra_depends={"test": [1]}),
            ["/v3/conda/numpy-3.0-py_0/extra_depends/test/0"],
        ),
        (lambda d: d["v3"].update({"": {}}), ["/v3/"]),
    ],
)
def test_v3_breaks(change: Callable[[Doc], None], expected: list[str]) -> None:
    doc = v3_document()
    change(doc)
    assert pointers(doc) == expected


# --- the bare {filename: record} map --------------------------------------------------------


def test_packages_map_checks_records_and_filenames() -> None:
    doc = {
        "a-1-0.tar.bz2": record("a", "1", "0"),
        "b-1-0.conda": record("b", "1", "0"),
        "c-1-0.tar.bz2": record("c", "2", "0", size="big"),
        "nope": record(),
    }
    report = validate_document(doc, "packages", source="x")
    assert report.records == 4
    assert [p.pointer for p in report.problems] == [
        "/c-1-0.tar.bz2/size",
        "/c-1-0.tar.bz2/version",
        "/nope",
    ]
