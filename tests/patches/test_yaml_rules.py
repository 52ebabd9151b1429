"""Patch YAML semantics, condition by condition and action by action, from the examples of the
format's specification (tests/data/conda-forge-patches/recipe/README.md) and the behaviour of
conda-forge's engine (docs/specs/patch-yaml.md)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from stockyard.patches.yaml_model import parse_patch_yaml
from stockyard.patches.yaml_rules import PatchYamlRules, compile_rules
from stockyard.types.errors import InvalidMetadata

MARK = "__matched__"


def rules_of(*documents: dict[str, Any]) -> PatchYamlRules:
    text = "\n---\n".join(yaml.safe_dump(document) for document in documents)
    return compile_rules(parse_patch_yaml(text, "test.yaml"))


def matches(
    condition: dict[str, Any],
    record: dict[str, Any],
    subdir: str = "linux-64",
    filename: str = "pkg-1.0-0.tar.bz2",
) -> bool:
    rules = rules_of({"if": condition, "then": [{"add_depends": MARK}]})
    patched = rules.patch_record(filename, {"name": "pkg", **record}, subdir)
    linear = rules.patch_record_linear(filename, {"name": "pkg", **record}, subdir)
    assert patched == linear
    return MARK in patched.get("depends", [])


def apply(
    actions: list[dict[str, Any]],
    record: dict[str, Any],
    subdir: str = "linux-64",
    filename: str = "pkg-1.0-0.tar.bz2",
) -> dict[str, Any]:
    rules = rules_of({"if": {}, "then": actions})
    original = {
        key: list(value) if isinstance(value, list) else value for key, value in record.items()
    }
    patched = rules.patch_record(filename, record, subdir)
    assert record == original, "the input record must never be mutated"
    assert patched == rules.patch_record_linear(filename, record, subdir)
    return patched


# --- conditions -------------------------------------------------------------------------------


def test_field_value_glob_and_version_equality() -> None:
    assert matches({"version": "1.0.0"}, {"version": "1.0.0"})
    assert not matches({"version": "1.0.0"}, {"version": "1.0.1"})
    # conda versions: 1.0 equals 1.0.0
    assert matches({"version": "1.0"}, {"version": "1.0.0"})
    assert matches({"version": "1.0.*"}, {"version": "1.0.1"})
    assert not matches({"version": "1.0.*"}, {"version": "1.1.1"})
    assert not matches({"not_version": "1.0.0"}, {"version": "1.0.0"})
    assert matches({"not_version": "1.0.0"}, {"version": "1.0.1"})
    assert matches({"build": "*cuda"}, {"build": "py310_cuda"})
    assert matches({"build_number": 3}, {"build_number": 3})
    assert matches({"build_number": "1*"}, {"build_number": 12})


def test_name_conditions() -> None:
    assert not matches({"name": "blah"}, {"name": "blah blah"})
    assert matches({"name": "blah?( *)"}, {"name": "blah"})
    assert matches({"name": "blah?( *)"}, {"name": "blah blah"})
    assert not matches({"name": "blah?( *)"}, {"name": "blah-blah"})
    assert matches({"name": "*"}, {"name": "anything"})
    assert matches({"name_in": ["a", "pkg"]}, {})
    assert not matches({"not_name_in": ["a", "pkg"]}, {})
    assert matches({"name_eq": "pkg"}, {}) and not matches({"name_ne": "pkg"}, {})
    assert matches({"name": "pk?"}, {}) and not matches({"not_name": "p*"}, {})


def test_subdir_in_tests_the_subdir_being_patched() -> None:
    assert matches({"subdir_in": "linux-64"}, {}, subdir="linux-64")
    assert not matches({"subdir_in": "linux-64"}, {}, subdir="osx-64")
    assert matches({"subdir_in": ["linux-64", "osx-64"]}, {}, subdir="osx-64")
    assert matches({"subdir_in": ["*-64", "osx-64"]}, {}, subdir="linux-64")
    assert not matches({"subdir_in": "*-64"}, {}, subdir="osx-arm64")
    assert matches({"not_subdir_in": "linux-64"}, {"subdir": "linux-64"}, subdir="noarch")
    # `subdir` (not `subdir_in`) is the record's own value; without one, the subdir patched
    assert matches({"subdir": "osx-*"}, {"subdir": "osx-64"}, subdir="linux-64")
    assert matches({"subdir": "osx-*"}, {}, subdir="osx-arm64")


def test_ordered_comparisons() -> None:
    assert matches({"version_ge": "1.0.0"}, {"version": "1.0.0"})
    assert not matches({"version_ge": "1.0.0"}, {"version": "0.9"})
    assert matches({"version_gt": "1.0.0"}, {"version": "1.0.1"})
    assert not matches({"version_gt": "1.0.0"}, {"version": "1.0.0"})
    assert matches({"version_le": "1.0.0"}, {"version": "1.0"})
    assert matches({"version_lt": "1.0.0"}, {"version": "0.9"})
    assert not matches({"version_lt": "1.0.0"}, {"version": "1.0.1"})
    # conda ordering, not PEP 440 and not strings
    assert matches({"version_lt": "1.0"}, {"version": "1.0rc1"})
    assert matches({"version_lt": "1.10"}, {"version": "1.9"})
    assert matches({"version_lt": "2023.1"}, {"version": "2022.12.1"})
    assert matches({"version_eq": "1.2"}, {"version": "1.2.0"})
    assert matches({"version_ne": "1.2"}, {"version": "1.3"})
    assert matches({"build_number_lt": 10}, {"build_number": 9})
    assert not matches({"build_number_lt": 10}, {"build_number": 12})
    assert matches({"build_number_eq": 10}, {"build_number": 10})
    assert matches({"build_number_ne": 10}, {"build_number": 12})
    assert matches({"build_number_ge": 2, "build_number_le": 4}, {"build_number": 3})
    assert matches({"size_gt": 100}, {"size": 101})


def test_timestamp_lt_counts_a_missing_timestamp_as_zero() -> None:
    assert matches({"timestamp_lt": 10}, {})
    assert matches({"timestamp_lt": 10}, {"timestamp": 9})
    assert not matches({"timestamp_lt": 10}, {"timestamp": 12})
    assert matches({"timestamp_le": 10, "timestamp_gt": 5}, {"timestamp": 10})


def test_in_conditions_are_globs() -> None:
    assert matches({"build_number_in": 10}, {"build_number": 10})
    assert matches({"build_number_in": [10, 11]}, {"build_number": 10})
    assert not matches({"build_number_in": [10, 11]}, {"build_number": 12})
    assert matches({"build_number_in": "10*"}, {"build_number": 10})
    assert matches({"build_number_in": ["11*", "10*"]}, {"build_number": 10})
    assert matches({"version_in": ["1.0.*", "2.0"]}, {"version": "2.0"})
    # a glob match, not a version comparison
    assert not matches({"version_in": ["1.0"]}, {"version": "1.0.0"})
    assert matches({"build_in": ["*cuda"]}, {"build": "h1_cuda"})


def test_artifact_in() -> None:
    assert matches({"artifact_in": "foo"}, {}, filename="foo")
    assert not matches({"artifact_in": "foo"}, {}, filename="bar")
    assert matches({"artifact_in": ["foo", "bar"]}, {}, filename="bar")
    assert matches({"artifact_in": "pkg-1.*"}, {}, filename="pkg-1.0-0.conda")
    assert matches({"not_artifact_in": "foo"}, {}, filename="bar")


@pytest.mark.parametrize("section", ["depends", "constrains"])
def test_has_depends_and_constrains(section: str) -> None:
    key = f"has_{section}"
    assert matches({key: "numpy"}, {section: ["numpy"]})
    assert not matches({key: "numpy"}, {section: ["numpy 1.20"]})
    assert matches({key: "numpy*"}, {section: ["numpy", "blah"]})
    assert matches({key: "numpy*"}, {section: ["numpy-blah >=10"]})
    assert not matches({key: "numpy*"}, {section: ["scipy 1.20"]})
    assert matches({key: "numpy?( *)"}, {section: ["numpy"]})
    assert matches({key: "numpy?( *)"}, {section: ["numpy 5.6"]})
    assert not matches({key: "numpy?( *)"}, {section: ["numpy-blah"]})
    # every pattern must match some entry
    assert not matches({key: ["numpy*", "scipy"]}, {section: ["numpy", "blah"]})
    assert matches({key: ["numpy*", "scipy"]}, {section: ["numpy 1.20", "scipy"]})
    assert matches({f"not_{key}": "numpy"}, {})
    # `[*]` escapes a star
    assert matches({key: "libfoo 1.*[*]"}, {section: ["libfoo 1.2*"]})
    assert not matches({key: "libfoo 1.[*]"}, {section: ["libfoo 1.2"]})


def test_track_features_conditions() -> None:
    assert matches({"has_track_features": "nomkl"}, {"track_features": "nomkl"})
    assert not matches({"has_track_features": "nomkl"}, {"track_features": "nomkl2"})
    assert matches({"not_has_track_features": "blas_*_2"}, {"track_features": "x"})
    assert not matches({"not_has_track_features": "blas_*_2"}, {"track_features": "a blas_blis_2"})
    assert matches({"has_track_features": ["a", "b*"]}, {"track_features": "bb a"})


def test_missing_fields_make_a_condition_false() -> None:
    """conda-forge's engine raises KeyError here; we treat the condition as not holding."""
    assert not matches({"license": "MIT"}, {})
    assert matches({"not_license": "MIT"}, {})
    assert not matches({"noarch_in": "python"}, {})
    assert not matches({"version_lt": "1.0"}, {})
    assert not matches({"build_number_ge": 0}, {})


def test_conditions_combine_with_and() -> None:
    condition = {"name": "pkg", "version": "1.0.0", "build_number": 0}
    assert matches(condition, {"version": "1.0.0", "build_number": 0})
    assert not matches(condition, {"version": "1.0.0", "build_number": 1})


# --- actions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("section", ["depends", "constrains"])
def test_add(section: str) -> None:
    assert apply([{f"add_{section}": "blah"}], {"version": "10"}) == {
        "version": "10",
        section: ["blah"],
    }
    assert apply([{f"add_{section}": "blah"}], {section: ["foo"]}) == {section: ["foo", "blah"]}
    assert apply([{f"add_{section}": ["blah", "foo"]}], {section: ["foo", "blah"]}) == {
        section: ["foo", "blah"]
    }


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("name", "blah foo"),
        ("version", "blah 10"),
        ("build_number", "blah 2"),
        ("build", "blah pyhd8_0"),
        ("subdir", "blah linux-64"),
        ("next_version", "blah 11"),
        ("major_version", "blah 10"),
        ("minor_version", "blah 0"),
        ("patch_version", "blah 0"),
    ],
)
def test_templates(key: str, expected: str) -> None:
    record = {"version": "10", "name": "foo", "build_number": 2, "build": "pyhd8_0"}
    for text in (f"blah ${key}", f"blah ${{{key}}}"):
        assert apply([{"add_depends": text}], dict(record))["depends"] == [expected]


@pytest.mark.parametrize(
    ("version", "next_version", "major", "minor", "patch"),
    [("1.4", "1.5", "1", "4", "0"), ("1.2.3", "1.2.4", "1", "2", "3"), ("2", "3", "2", "0", "0")],
)
def test_version_templates(
    version: str, next_version: str, major: str, minor: str, patch: str
) -> None:
    record = {"version": version, "depends": ["numpy 1.0", "numpy 1.0.1"]}
    new = "numpy $version,<$next_version $major_version $minor_version $patch_version"
    patched = apply([{"replace_depends": {"old": "numpy 1.0*", "new": new}}], record)
    assert patched["depends"] == [f"numpy {version},<{next_version} {major} {minor} {patch}"]


@pytest.mark.parametrize("section", ["depends", "constrains"])
def test_remove(section: str) -> None:
    assert apply([{f"remove_{section}": "blah"}], {"version": 10}) == {"version": 10}
    # conda-forge sets an emptied list to None; the instructions then delete the key
    assert apply([{f"remove_{section}": "blah"}], {"version": 10, section: ["blah"]}) == {
        "version": 10
    }
    assert apply([{f"remove_{section}": "blah"}], {section: []}) == {}
    assert apply([{f"remove_{section}": "blah"}], {section: ["foo"]}) == {section: ["foo"]}
    assert apply([{f"remove_{section}": "blah"}], {section: ["foo", "blah", "blah 1.0"]}) == {
        section: ["foo", "blah 1.0"]
    }
    assert apply([{f"remove_{section}": "blah*"}], {section: ["foo", "blah", "blah 1.0"]}) == {
        section: ["foo"]
    }
    # the first occurrence of each matching entry
    assert apply([{f"remove_{section}": "a"}], {section: ["a", "b", "a"]}) == {section: ["b", "a"]}


def test_reset() -> None:
    assert apply([{"reset_depends": "numppy 1.0"}], {"depends": ["foo", "numpy 1.0 blah"]}) == {
        "depends": ["numppy 1.0"]
    }
    assert apply([{"reset_constrains": ["a <=${version}"]}], {"version": "2"}) == {
        "version": "2",
        "constrains": ["a <=2"],
    }


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("blah", None),
        ("blah foo", "foo"),
        ("blah foo bar", "foo bar"),
        ("baz blah foo", "baz foo"),
        ("baz blah foo bar", "baz foo bar"),
        ("", None),
    ],
)
def test_remove_track_features(before: str, after: str | None) -> None:
    patched = apply([{"remove_track_features": "blah"}], {"track_features": before})
    assert patched == ({} if after is None else {"track_features": after})


def test_remove_track_features_glob_and_none() -> None:
    patched = apply(
        [{"remove_track_features": "blah*"}], {"track_features": "baz blah foo blahblah bla bar"}
    )
    assert patched == {"track_features": "baz foo bla bar"}
    assert apply([{"remove_track_features": "x"}], {"track_features": None}) == {
        "track_features": None
    }
    assert apply([{"remove_track_features": "x"}], {}) == {}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "blahhh"),
        ("blah", "blah blahhh"),
        ("blah foo bar", "blah foo bar blahhh"),
        ("blahhh", "blahhh blahhh"),  # no de-duplication, like conda-forge
    ],
)
def test_add_track_features(before: str | None, after: str) -> None:
    record = {} if before is None else {"track_features": before}
    assert apply([{"add_track_features": "blahhh"}], record) == {"track_features": after}


@pytest.mark.parametrize("pre", [[], ["foo"]])
@pytest.mark.parametrize("post", [[], ["bar"]])
@pytest.mark.parametrize("section", ["depends", "constrains"])
def test_replace(section: str, pre: list[str], post: list[str]) -> None:
    key = f"replace_{section}"
    exact = {key: {"old": "numpy 1.0", "new": "numpy 2.0"}}
    assert apply([exact], {section: [*pre, "numpy 1.0", *post]}) == {
        section: [*pre, "numpy 2.0", *post]
    }
    globbed = {key: {"old": "numpy 1.0*", "new": "numpy 2.0"}}
    # the second match would duplicate the first replacement: it is dropped
    assert apply([globbed], {section: [*pre, "numpy 1.0", "numpy 1.0.1", *post]}) == {
        section: [*pre, "numpy 2.0", *post]
    }
    templated = {key: {"old": "numpy 1.0*", "new": "${old},<2.0"}}
    assert apply([templated], {section: [*pre, "numpy 1.0", "numpy 1.0.1", *post]}) == {
        section: [*pre, "numpy 1.0,<2.0", "numpy 1.0.1,<2.0", *post]
    }


def test_replace_escaped_star_and_the_skipped_entry() -> None:
    escaped = {"replace_depends": {"old": "matplotlib 1.3.[*]", "new": "matplotlib-base ==1.4.0"}}
    assert apply([escaped], {"depends": ["matplotlib 1.3.*", "matplotlib 1.3.0"]}) == {
        "depends": ["matplotlib-base ==1.4.0", "matplotlib 1.3.0"]
    }
    # conda-forge walks the list while editing it: the entry after a dropped one is not looked at
    globbed = {"replace_depends": {"old": "a *", "new": "a 9"}}
    assert apply([globbed], {"depends": ["a 1", "a 2", "a 3"]}) == {"depends": ["a 9", "a 3"]}


def test_rename() -> None:
    for pre in ([], ["foo"]):
        rename = {"rename_depends": {"old": "numpy", "new": "numppy"}}
        assert apply([rename], {"depends": [*pre, "numpy 1.0 blah", "bar"]}) == {
            "depends": [*pre, "numppy 1.0 blah", "bar"]
        }
    rename = {"rename_constrains": {"old": "numpy", "new": "numpy-base"}}
    assert apply([rename], {"constrains": ["numpy", "numpy 2"]}) == {
        "constrains": ["numpy-base", "numpy 2"]
    }
    assert apply([rename], {}) == {}


def test_relax_exact_depends() -> None:
    relax = {"relax_exact_depends": {"name": "numpy"}}
    assert apply([relax], {"depends": ["foo", "numpy 1.0.0 blah", "bar"]}) == {
        "depends": ["foo", "numpy >=1.0.0", "bar"]
    }
    relax = {"relax_exact_depends": {"name": "numpy", "max_pin": "x"}}
    assert apply([relax], {"depends": ["numpy 1.0.0 blah"]}) == {
        "depends": ["numpy >=1.0.0,<2.0.0a0"]
    }
    # only exact three-part pins
    for dep in ("numpy >=1.0 blah", "numpy 1.0", "numpy"):
        assert apply([relax], {"depends": [dep]}) == {"depends": [dep]}


@pytest.mark.parametrize(
    ("spec", "dep", "expected"),
    [
        ({"max_pin": "x.x"}, "numpy >=1.0.0,<2.0.0a0", "numpy >=1.0.0,<1.1.0a0"),
        ({"upper_bound": "1.1.2"}, "numpy >=1.0.0,<2.0.0a0", "numpy >=1.0.0,<1.1.2.0a0"),
        ({"upper_bound": "5.0"}, "numpy >=1.0.0,<7.0.0a0", "numpy >=1.0.0,<5.0.0a0"),
        ({"upper_bound": "5.0"}, "numpy >=1.0.0", "numpy >=1.0.0,<5.0.0a0"),
        ({"upper_bound": "5.0"}, "numpy", "numpy <5.0a0"),
        ({"max_pin": "x"}, "numpy", "numpy"),
        ({"upper_bound": "5"}, "numpy <7", "numpy <5.0a0"),
        ({"upper_bound": "5"}, "numpy <=5", "numpy <5.0a0"),
        ({"upper_bound": "5"}, "numpy <4", "numpy <4"),
        ({"max_pin": "x.x"}, "numpy >=1.2 py_0", "numpy >=1.2,<1.3.0a0 py_0"),
        ({"max_pin": "x.x"}, "numpy >=1.0.0,<1.1.0a0", "numpy >=1.0.0,<1.1.0a0"),
        ({"max_pin": "x"}, "numpy >=1.0.0,<1.1.0a0", "numpy >=1.0.0,<1.1.0a0"),
    ],
)
def test_tighten_depends(spec: dict[str, str], dep: str, expected: str) -> None:
    for pre, post in (([], []), (["foo"], ["bar"])):
        action = {"tighten_depends": {"name": "numpy", **spec}}
        assert apply([action], {"depends": [*pre, dep, *post]}) == {
            "depends": [*pre, expected, *post]
        }


def test_tighten_depends_glob_name() -> None:
    action = {"tighten_depends": {"name": "lib*", "max_pin": "x"}}
    assert apply([action], {"depends": ["liba >=1.2", "libb >=2,<4.0a0", "other >=1"]}) == {
        "depends": ["liba >=1.2,<2.0a0", "libb >=2,<3.0a0", "other >=1"]
    }


@pytest.mark.parametrize(
    ("spec", "dep", "expected"),
    [
        ({"max_pin": "x"}, "numpy >=1.0.0,<1.1.0a0", "numpy >=1.0.0,<2.0.0a0"),
        ({"upper_bound": "3.1.2"}, "numpy >=1.0.0,<2.0.0a0", "numpy >=1.0.0,<3.1.2.0a0"),
        ({}, "numpy >=1.0.0,<2.0.0a0 py_0", "numpy >=1.0.0 py_0"),
        ({"upper_bound": "None"}, "numpy >=1.0.0,<2.0.0a0", "numpy >=1.0.0"),
        ({"max_pin": "x"}, "numpy >=1.0.0", "numpy >=1.0.0"),
        # conda-forge compares the parts as strings: '10' < '9'
        ({"upper_bound": "9"}, "numpy >=1,<10a0", "numpy >=1,<9.0a0"),
    ],
)
def test_loosen_depends(spec: dict[str, str], dep: str, expected: str) -> None:
    action = {"loosen_depends": {"name": "numpy", **spec}}
    assert apply([action], {"depends": ["foo", dep]}) == {"depends": ["foo", expected]}


def test_actions_run_in_order_and_later_rules_see_earlier_changes() -> None:
    rules = rules_of(
        {"if": {"name": "pkg"}, "then": [{"add_depends": "libx >=1.2"}]},
        {
            "if": {"has_depends": "libx*"},
            "then": [{"tighten_depends": {"name": "libx", "max_pin": "x"}}],
        },
        {"if": {"has_depends": "libx >=1.2,<2.0a0"}, "then": [{"add_constrains": "seen"}]},
    )
    patched = rules.patch_record("pkg-1-0.tar.bz2", {"name": "pkg", "depends": []}, "noarch")
    assert patched == {"name": "pkg", "depends": ["libx >=1.2,<2.0a0"], "constrains": ["seen"]}
    other = rules.patch_record("other-1-0.tar.bz2", {"name": "other", "depends": []}, "noarch")
    assert other == {"name": "other", "depends": []}


def test_unmatched_record_is_returned_as_is() -> None:
    rules = rules_of({"if": {"name": "x"}, "then": [{"add_depends": "y"}]})
    record = {"name": "pkg", "depends": ["a"]}
    assert rules.patch_record("pkg-1-0.tar.bz2", record, "noarch") is record


# --- the index --------------------------------------------------------------------------------


def test_rules_for_a_name_and_their_fingerprint() -> None:
    rules = rules_of(
        {"if": {"name": "a"}, "then": [{"add_depends": "x"}]},
        {"if": {"name": "b*"}, "then": [{"add_depends": "x"}]},
        {"if": {"timestamp_lt": 5}, "then": [{"add_depends": "x"}]},
        {"if": {"not_name_in": ["a"]}, "then": [{"add_depends": "x"}]},
        {"if": {"has_depends": "numpy"}, "then": [{"add_depends": "x"}]},
    )
    assert [rule.index for rule in rules.rules_for("a")] == [0, 2, 4]
    assert [rule.index for rule in rules.rules_for("bz")] == [1, 2, 3, 4]
    assert [rule.index for rule in rules.rules_for("c")] == [2, 3, 4]
    assert rules.name_fingerprint("c") != rules.name_fingerprint("a")
    assert rules.name_fingerprint("c") == rules.name_fingerprint("d")
    changed = rules_of({"if": {"name": "a"}, "then": [{"add_depends": "z"}]})
    assert changed.name_fingerprint("c") != rules.name_fingerprint("c")


# --- compile-time errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"if": {"versio": "1"}, "then": [{"add_depends": "x"}]}, "if.versio"),
        ({"if": {}, "then": [{"add_dependz": "x"}]}, "then[0].add_dependz"),
        ({"if": {}, "then": []}, "then"),
        ({"if": {}, "then": [{}]}, "then[0]: an item without any action"),
        ({"if": {}, "then": [{"add_depends": "x ${versio}"}]}, "unknown template key 'versio'"),
        ({"if": {}, "then": [{"add_depends": "x ${old}"}]}, "only in replace_*.new"),
        ({"if": {}, "then": [{"add_depends": "x $ y"}]}, "starts no template"),
        ({"if": {}, "then": [{"remove_depends": "x ${version}"}]}, "templates are not rendered"),
        ({"if": {}, "then": [{"tighten_depends": {"name": "x"}}]}, "needs max_pin or upper_bound"),
        ({"if": {}, "then": [{"tighten_depends": {"name": "x", "max_pin": "y"}}]}, "max_pin"),
        ({"if": {}, "then": [{"replace_depends": {"old": "x"}}]}, "replace_depends.new"),
        ({"if": {"version_lt": "1.*"}, "then": [{"add_depends": "x"}]}, "not a conda version"),
        ({"if": {"name": ""}, "then": [{"add_depends": "x"}]}, "if.name"),
        ({"if": {"version": 1.1}, "then": [{"add_depends": "x"}]}, "got `float`"),
        ({"if": {"build_number": -1}, "then": [{"add_depends": "x"}]}, "if.build_number"),
        ({"then": [{"add_depends": "x"}]}, "missing required field `if`"),
        ({"if": {}, "then": [{"add_depends": "x"}], "else": []}, "unknown field `else`"),
    ],
)
def test_invalid_documents_name_file_document_and_key(document: Any, message: str) -> None:
    text = "if: {}\nthen: [{add_depends: ok}]\n---\n" + yaml.safe_dump(document)
    with pytest.raises(InvalidMetadata) as caught:
        compile_rules(parse_patch_yaml(text, "bad.yaml"))
    assert caught.value.message.startswith("bad.yaml, document 1: ")
    assert message in caught.value.message
    assert caught.value.hint


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(InvalidMetadata, match=r"bad.yaml: invalid YAML at line 5"):
        parse_patch_yaml("if: {}\nthen: [{add_depends: ok}]\n---\nif: [\n", "bad.yaml")
    with pytest.raises(InvalidMetadata, match="duplicate key 'then'"):
        parse_patch_yaml("if: {}\nthen: [{add_depends: a}]\nthen: [{add_depends: b}]\n", "d.yaml")
    with pytest.raises(InvalidMetadata, match="expected a mapping"):
        parse_patch_yaml("- a\n- b\n", "list.yaml")


def test_unknown_keys_get_a_suggestion() -> None:
    with pytest.raises(InvalidMetadata) as caught:
        parse_patch_yaml("if: {timestamp_lte: 1}\nthen: [{add_depends: x}]\n", "s.yaml")
    assert "timestamp_le" in caught.value.hint


def test_empty_documents_are_skipped_but_counted() -> None:
    text = "---\n---\nif: {}\nthen: [{add_depends: x}]\n---\nif: {}\nthen: [{}]\n"
    with pytest.raises(InvalidMetadata, match=r"e.yaml, document 2: then\[0\]"):
        parse_patch_yaml(text, "e.yaml")
    assert [
        d.index for d in parse_patch_yaml("---\n---\nif: {}\nthen: [{add_depends: x}]\n", "e")
    ] == [1]


def test_errors_while_applying_name_the_rule_and_the_record() -> None:
    rules = rules_of({"if": {}, "then": [{"add_depends": "x <${next_version}"}]})
    with pytest.raises(
        InvalidMetadata, match=r"test.yaml, document 0: then\[0\].add_depends on pkg-1.0rc-0.conda"
    ):
        rules.patch_record("pkg-1.0rc-0.conda", {"name": "pkg", "version": "1.0rc"}, "noarch")
    rules = rules_of({"if": {}, "then": [{"relax_exact_depends": {"name": "a", "max_pin": "x.x"}}]})
    with pytest.raises(InvalidMetadata, match="cannot compute an upper bound"):
        rules.patch_record("p-1-0.conda", {"name": "p", "depends": ["a 1.0a h_0"]}, "noarch")
