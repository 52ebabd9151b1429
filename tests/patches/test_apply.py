"""Patch application: conda-index semantics, per-record agreement, no mutation."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockyard.patches import (
    apply_patch_instructions,
    compile_patches,
    patch_record,
    patch_removed_filenames,
)
from stockyard.patches.apply import REVOKED_DEPENDENCY
from stockyard.types.errors import InvalidMetadata, StockyardError


def rec(name: str, version: str = "1.0", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": name,
        "version": version,
        "build": "0",
        "build_number": 0,
        "depends": ["zlib"],
        "md5": "0" * 32,
        "size": 1,
    }
    record.update(extra)
    return record


def channel(*stems: str, conda: tuple[str, ...] = ()) -> dict[str, Any]:
    """Repodata with a .tar.bz2 record per stem and a .conda record per stem in `conda`."""
    return {
        "info": {"subdir": "linux-64"},
        "packages": {f"{s}.tar.bz2": rec(s.split("-")[0], s.split("-")[1]) for s in stems},
        "packages.conda": {f"{s}.conda": rec(s.split("-")[0], s.split("-")[1]) for s in conda},
        "removed": [],
        "repodata_version": 1,
    }


def test_values_replace_wholesale_and_other_keys_survive() -> None:
    repodata = channel("a-1.0-0")
    repodata["packages"]["a-1.0-0.tar.bz2"]["constrains"] = ["b <2"]
    instructions = {
        "packages": {
            "a-1.0-0.tar.bz2": {"depends": ["openssl >=3"], "license": "MIT", "new_key": 1}
        }
    }
    record = apply_patch_instructions(repodata, instructions)["packages"]["a-1.0-0.tar.bz2"]
    assert record["depends"] == ["openssl >=3"]  # replaced, not merged with ["zlib"]
    assert record["constrains"] == ["b <2"]
    assert record["license"] == "MIT"
    assert record["new_key"] == 1
    assert record["md5"] == "0" * 32


def test_tar_bz2_entry_also_patches_the_conda_twin() -> None:
    repodata = channel("a-1.0-0", conda=("a-1.0-0",))
    result = apply_patch_instructions(
        repodata, {"packages": {"a-1.0-0.tar.bz2": {"depends": ["x"]}}}
    )
    assert result["packages"]["a-1.0-0.tar.bz2"]["depends"] == ["x"]
    assert result["packages.conda"]["a-1.0-0.conda"]["depends"] == ["x"]


def test_conda_entry_does_not_flow_back_to_the_tar_bz2() -> None:
    repodata = channel("a-1.0-0", conda=("a-1.0-0",))
    result = apply_patch_instructions(
        repodata, {"packages.conda": {"a-1.0-0.conda": {"depends": ["x"]}}}
    )
    assert result["packages.conda"]["a-1.0-0.conda"]["depends"] == ["x"]
    assert result["packages"]["a-1.0-0.tar.bz2"]["depends"] == ["zlib"]


def test_conda_specific_entry_is_applied_after_the_twin_entry() -> None:
    repodata = channel("a-1.0-0", conda=("a-1.0-0",))
    instructions = {
        "packages": {"a-1.0-0.tar.bz2": {"depends": ["x"], "license": "MIT"}},
        "packages.conda": {"a-1.0-0.conda": {"depends": ["y"]}},
    }
    result = apply_patch_instructions(repodata, instructions)
    assert result["packages.conda"]["a-1.0-0.conda"]["depends"] == ["y"]
    assert result["packages.conda"]["a-1.0-0.conda"]["license"] == "MIT"
    assert result["packages"]["a-1.0-0.tar.bz2"]["depends"] == ["x"]


def test_null_deletes_an_existing_key_and_is_stored_for_a_missing_one() -> None:
    repodata = channel("a-1.0-0")
    repodata["packages"]["a-1.0-0.tar.bz2"]["track_features"] = "dummy"
    instructions = {"packages": {"a-1.0-0.tar.bz2": {"track_features": None, "features": None}}}
    record = apply_patch_instructions(repodata, instructions)["packages"]["a-1.0-0.tar.bz2"]
    assert "track_features" not in record
    # conda-index's merge_or_update_dict stores the null when the key was absent.
    assert record["features"] is None


def test_dict_values_merge_recursively() -> None:
    repodata = channel("a-1.0-0")
    repodata["packages"]["a-1.0-0.tar.bz2"]["extra"] = {"keep": 1, "drop": 2, "change": 3}
    instructions = {
        "packages": {"a-1.0-0.tar.bz2": {"extra": {"drop": None, "change": 4, "add": [5]}}}
    }
    record = apply_patch_instructions(repodata, instructions)["packages"]["a-1.0-0.tar.bz2"]
    assert record["extra"] == {"keep": 1, "change": 4, "add": [5]}


def test_entries_for_absent_files_add_nothing() -> None:
    repodata = channel("a-1.0-0")
    instructions = {
        "packages": {"b-1.0-0.tar.bz2": {"depends": []}},
        "packages.conda": {"a-1.0-0.conda": {"depends": []}},
        "revoke": ["c-1.0-0.tar.bz2"],
        "remove": ["d-1.0-0.tar.bz2"],
    }
    result = apply_patch_instructions(repodata, instructions)
    assert result["packages"] == repodata["packages"]
    assert result["packages.conda"] == {}
    assert result["removed"] == []


def test_revoke_marks_both_twins_once_each() -> None:
    repodata = channel("a-1.0-0", "b-1.0-0", conda=("a-1.0-0", "b-1.0-0"))
    instructions = {
        # A patched depends list on both twins: conda-index shares that list between the twins
        # and appends the marker twice to it; we append it once per record.
        "packages": {"a-1.0-0.tar.bz2": {"depends": ["zlib", "dummy"]}},
        "revoke": ["a-1.0-0.tar.bz2", "b-1.0-0.conda"],
    }
    result = apply_patch_instructions(repodata, instructions)
    for record in (
        result["packages"]["a-1.0-0.tar.bz2"],
        result["packages.conda"]["a-1.0-0.conda"],
    ):
        assert record["revoked"] is True
        assert record["depends"] == ["zlib", "dummy", REVOKED_DEPENDENCY]
    # A .conda name in `revoke` reaches the .conda record only.
    assert result["packages.conda"]["b-1.0-0.conda"]["revoked"] is True
    assert "revoked" not in result["packages"]["b-1.0-0.tar.bz2"]
    assert instructions["packages"]["a-1.0-0.tar.bz2"]["depends"] == ["zlib", "dummy"]


def test_revoke_record_without_depends() -> None:
    repodata = channel("a-1.0-0")
    del repodata["packages"]["a-1.0-0.tar.bz2"]["depends"]
    result = apply_patch_instructions(repodata, {"revoke": ["a-1.0-0.tar.bz2"]})
    assert result["packages"]["a-1.0-0.tar.bz2"]["depends"] == [REVOKED_DEPENDENCY]


def test_remove_moves_twins_into_removed_sorted_and_unique() -> None:
    repodata = channel("b-1.0-0", "a-1.0-0", "c-1.0-0", conda=("a-1.0-0", "c-1.0-0"))
    repodata["removed"] = ["zz-1.0-0.tar.bz2", "a-1.0-0.tar.bz2"]
    instructions = {"remove": ["a-1.0-0.tar.bz2", "c-1.0-0.conda", "missing-1.0-0.tar.bz2"]}
    result = apply_patch_instructions(repodata, instructions)
    assert set(result["packages"]) == {"b-1.0-0.tar.bz2", "c-1.0-0.tar.bz2"}
    assert result["packages.conda"] == {}
    assert result["removed"] == [
        "a-1.0-0.conda",
        "a-1.0-0.tar.bz2",
        "c-1.0-0.conda",
        "zz-1.0-0.tar.bz2",
    ]


def test_conda_index_hotfix_scenario_for_both_formats() -> None:
    """The situation of conda-index's test_channel_patch_instructions_json, rebuilt by hand."""
    stems = ("track_features_test-1.0-0", "hotfix_depends_test-1.0-dummy_0")
    stems += ("revoke_test-1.0-0", "remove_test-1.0-0")
    repodata = channel(*stems, conda=stems)
    for key, ext in (("packages", ".tar.bz2"), ("packages.conda", ".conda")):
        repodata[key][f"track_features_test-1.0-0{ext}"]["track_features"] = "dummy"
        repodata[key][f"hotfix_depends_test-1.0-dummy_0{ext}"]["features"] = "dummy"
    instructions = {
        "patch_instructions_version": 1,
        "packages": {
            "track_features_test-1.0-0.tar.bz2": {"track_features": None},
            "hotfix_depends_test-1.0-dummy_0.tar.bz2": {
                "depends": ["zlib", "dummy"],
                "features": None,
            },
        },
        "revoke": ["revoke_test-1.0-0.tar.bz2"],
        "remove": ["remove_test-1.0-0.tar.bz2"],
    }
    before = copy.deepcopy(repodata)
    patched = apply_patch_instructions(repodata, instructions)
    assert repodata == before
    for key, ext in (("packages", ".tar.bz2"), ("packages.conda", ".conda")):
        records = patched[key]
        assert "track_features" not in records[f"track_features_test-1.0-0{ext}"]
        hotfix = records[f"hotfix_depends_test-1.0-dummy_0{ext}"]
        assert "features" not in hotfix
        assert hotfix["depends"] == ["zlib", "dummy"]
        assert REVOKED_DEPENDENCY in records[f"revoke_test-1.0-0{ext}"]["depends"]
        assert f"remove_test-1.0-0{ext}" not in records
        assert f"remove_test-1.0-0{ext}" in patched["removed"]


def test_input_is_not_mutated_and_untouched_records_are_shared() -> None:
    repodata = channel("a-1.0-0", "b-1.0-0", conda=("a-1.0-0",))
    before = copy.deepcopy(repodata)
    instructions = {"packages": {"a-1.0-0.tar.bz2": {"depends": ["x"]}}, "revoke": []}
    result = apply_patch_instructions(repodata, instructions)
    assert repodata == before
    assert result is not repodata
    assert result["packages"]["b-1.0-0.tar.bz2"] is repodata["packages"]["b-1.0-0.tar.bz2"]
    assert result["packages"]["a-1.0-0.tar.bz2"] is not repodata["packages"]["a-1.0-0.tar.bz2"]
    # Patched values are copies: changing the result leaves the instructions alone.
    result["packages"]["a-1.0-0.tar.bz2"]["depends"].append("y")
    assert instructions["packages"]["a-1.0-0.tar.bz2"]["depends"] == ["x"]


def test_patch_record_identity_and_removal() -> None:
    compiled = compile_patches(
        {"packages": {"a-1.0-0.tar.bz2": {"depends": ["zlib"]}}, "remove": ["b-1.0-0.tar.bz2"]}
    )
    record = rec("a")
    # A patch that changes nothing leaves the very same object.
    assert patch_record(compiled, "a-1.0-0.tar.bz2", record) is record
    other = rec("c")
    assert patch_record(compiled, "c-1.0-0.tar.bz2", other) is other
    assert patch_record(compiled, "b-1.0-0.tar.bz2", rec("b")) is None
    assert patch_record(compiled, "b-1.0-0.conda", rec("b")) is None


def test_removed_filenames_routes_by_extension() -> None:
    compiled = compile_patches({"remove": ["a-1.0-0.tar.bz2", "b-1.0-0.conda", "x-1-0.tar.bz2"]})
    present = [
        "a-1.0-0.tar.bz2",
        "a-1.0-0.conda",
        "b-1.0-0.tar.bz2",
        "b-1.0-0.conda",
        "c-1-0.conda",
    ]
    assert patch_removed_filenames(compiled, present) == [
        "a-1.0-0.conda",
        "a-1.0-0.tar.bz2",
        "b-1.0-0.conda",
    ]
    assert patch_removed_filenames(compiled, set(present)) == patch_removed_filenames(
        compiled, present
    )


@pytest.mark.parametrize(
    ("instructions", "fragment"),
    [
        ([], "invalid"),
        ({"packages": {"a-1.0-0.tar.bz2": ["depends"]}}, "'a-1.0-0.tar.bz2'"),
        ({"packages.conda": {"a-1.0-0.conda": 3}}, "'packages.conda'"),
        ({"revoke": "a-1.0-0.tar.bz2"}, "$.revoke"),
        ({"remove": [1]}, "$.remove[0]"),
        ({"patch_instructions_version": "1"}, "patch_instructions_version"),
        ({"patch_instructions_version": 3}, "<= 2"),
        ({"patch_instructions_version": -1}, "patch_instructions_version"),
    ],
)
def test_invalid_instructions_raise_invalid_metadata(instructions: Any, fragment: str) -> None:
    with pytest.raises(InvalidMetadata) as info:
        apply_patch_instructions(channel("a-1.0-0"), instructions)
    assert fragment in info.value.message
    assert isinstance(info.value, StockyardError)
    assert info.value.hint


@pytest.mark.parametrize("version", [0, 1, 2])
def test_versions_0_to_2_apply_with_v1_semantics(version: int) -> None:
    instructions = {
        "patch_instructions_version": version,
        "packages": {"a-1.0-0.tar.bz2": {"depends": ["x"]}},
    }
    result = apply_patch_instructions(channel("a-1.0-0"), instructions)
    assert result["packages"]["a-1.0-0.tar.bz2"]["depends"] == ["x"]


def test_unknown_top_level_keys_are_allowed() -> None:
    result = apply_patch_instructions(channel("a-1.0-0"), {"external_dependencies": {"a": "b"}})
    assert result["packages"] == channel("a-1.0-0")["packages"]


# --- property tests -----------------------------------------------------------------------

STEMS = ["a-1.0-0", "a-2.0-0", "b-1.0-0"]
FILENAMES = [f"{stem}{ext}" for stem in STEMS for ext in (".tar.bz2", ".conda")]
KEYS = ["depends", "license", "extra", "track_features", "build_number"]
json_leaf = st.one_of(st.none(), st.integers(-2, 2), st.sampled_from(["x", "y"]))
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["p", "q", "r"]), inner, max_size=3),
    ),
    max_leaves=6,
)
record_patch = st.dictionaries(st.sampled_from(KEYS), json_value, max_size=3)
instructions_strategy = st.fixed_dictionaries(
    {},
    optional={
        "packages": st.dictionaries(st.sampled_from(FILENAMES), record_patch, max_size=4),
        "packages.conda": st.dictionaries(st.sampled_from(FILENAMES), record_patch, max_size=4),
        "revoke": st.lists(st.sampled_from(FILENAMES), max_size=4),
        "remove": st.lists(st.sampled_from(FILENAMES), max_size=3),
    },
)


@st.composite
def repodata_strategy(draw: st.DrawFn) -> dict[str, Any]:
    repodata: dict[str, Any] = {"info": {"subdir": "noarch"}, "packages": {}, "packages.conda": {}}
    for filename in draw(st.lists(st.sampled_from(FILENAMES), unique=True)):
        key = "packages.conda" if filename.endswith(".conda") else "packages"
        record = rec(filename.split("-")[0], filename.split("-")[1])
        record.update(draw(st.dictionaries(st.sampled_from(KEYS), json_value, max_size=2)))
        repodata[key][filename] = record
    if draw(st.booleans()):
        repodata["removed"] = draw(st.lists(st.sampled_from(FILENAMES), max_size=2))
    return repodata


def reference_apply(repodata: dict[str, Any], instructions: dict[str, Any]) -> dict[str, Any]:
    """conda-index's rules written plainly: mutate a deep copy (without its list sharing)."""

    def update(base: dict[str, Any], new: dict[str, Any]) -> None:
        if base == new:
            return
        for key, value in new.items():
            if isinstance(value, dict):
                if isinstance(base.get(key), dict):
                    update(base[key], value)
                else:
                    base[key] = copy.deepcopy(value)
            elif value is None and key in base:
                del base[key]
            else:
                base[key] = copy.deepcopy(value)

    result = copy.deepcopy(repodata)
    removed = set(result.get("removed", []))
    for key, fixes in (
        ("packages", instructions.get("packages", {})),
        (
            "packages.conda",
            {
                k.replace(".tar.bz2", ".conda"): v
                for k, v in instructions.get("packages", {}).items()
            },
        ),
        ("packages.conda", instructions.get("packages.conda", {})),
    ):
        for filename, fix in fixes.items():
            if filename in result[key]:
                update(result[key][filename], fix)
    for action in ("revoke", "remove"):
        for filename in instructions.get(action, []):
            for key in ("packages", "packages.conda"):
                if key == "packages.conda" and filename.endswith(".tar.bz2"):
                    filename = filename.replace(".tar.bz2", ".conda")
                if filename not in result[key]:
                    continue
                if action == "revoke":
                    record = result[key][filename]
                    record["revoked"] = True
                    depends = record.get("depends")
                    if depends is None:
                        depends = []
                    elif not isinstance(depends, list):
                        depends = [depends]
                    record["depends"] = [*depends, REVOKED_DEPENDENCY]
                else:
                    del result[key][filename]
                    removed.add(filename)
    result["removed"] = sorted(removed)
    return result


@settings(max_examples=300, deadline=None)
@given(repodata_strategy(), instructions_strategy)
def test_apply_matches_reference_and_per_record_patching(
    repodata: dict[str, Any], instructions: dict[str, Any]
) -> None:
    before = copy.deepcopy(repodata)
    result = apply_patch_instructions(repodata, instructions)
    assert repodata == before

    assert result == reference_apply(repodata, instructions)

    compiled = compile_patches(instructions)
    for key in ("packages", "packages.conda"):
        expected = {}
        for filename, record in repodata[key].items():
            patched = patch_record(compiled, filename, record)
            if patched is not None:
                expected[filename] = patched
        assert result[key] == expected
    present = [*repodata["packages"], *repodata["packages.conda"]]
    assert result["removed"] == sorted(
        set(repodata.get("removed", [])) | set(patch_removed_filenames(compiled, present))
    )
