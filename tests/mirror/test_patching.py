"""Faithful patched mirroring: instructions that turn the target's records into upstream's."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stockyard.mirror.patching import faithful_instructions, record_patch
from stockyard.patches.apply import apply_patch_instructions, validate_instructions

BASE: dict[str, Any] = {
    "name": "pkg",
    "version": "1.0",
    "build": "0",
    "build_number": 0,
    "depends": ["python >=3.8"],
    "license": "MIT",
    "md5": "0" * 32,
    "sha256": "1" * 64,
    "size": 100,
    "indexed_timestamp": 5,
    "run_exports": {"weak": ["pkg"]},
}

values = st.one_of(
    st.text(max_size=5),
    st.integers(0, 5),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.sampled_from(["weak", "strong"]), st.lists(st.text(max_size=3), max_size=2)),
)
edits = st.dictionaries(
    st.sampled_from(["depends", "license", "constrains", "run_exports", "track_features", "new"]),
    st.one_of(st.none(), values),
    max_size=4,
)


def _edited(edit: dict[str, Any]) -> dict[str, Any]:
    """Upstream's record: BASE with keys set, or deleted where the edit says None."""
    record = dict(BASE)
    for key, value in edit.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    record["indexed_timestamp"] = 99  # the server's own: never patched
    return record


def _apply(ours: dict[str, dict[str, Any]], instructions: dict[str, Any]) -> dict[str, Any]:
    repodata = {
        "packages": {f: r for f, r in ours.items() if f.endswith(".tar.bz2")},
        "packages.conda": {f: r for f, r in ours.items() if f.endswith(".conda")},
    }
    patched = apply_patch_instructions(repodata, instructions)
    return {**patched["packages"], **patched["packages.conda"]}


@settings(max_examples=150, deadline=None)
@given(edits, edits)
def test_instructions_reproduce_upstream_records_with_twins(tar: dict, conda: dict) -> None:
    ours = {"pkg-1.0-0.tar.bz2": dict(BASE), "pkg-1.0-0.conda": dict(BASE)}
    theirs = {"pkg-1.0-0.tar.bz2": _edited(tar), "pkg-1.0-0.conda": _edited(conda)}
    instructions, unfaithful = faithful_instructions(ours, theirs)
    validate_instructions(instructions)  # nothing the server controls is patched
    assert unfaithful == []
    published = _apply(ours, instructions)
    for filename, record in theirs.items():
        assert published[filename] == {**record, "indexed_timestamp": 5}


def test_unpatched_records_need_no_instructions() -> None:
    ours = {"pkg-1.0-0.conda": dict(BASE)}
    instructions, unfaithful = faithful_instructions(ours, {"pkg-1.0-0.conda": dict(BASE)})
    assert instructions["packages"] == instructions["packages.conda"] == {}
    assert unfaithful == []


def test_revoked_upstream_record_is_reproduced() -> None:
    revoked = {**BASE, "revoked": True, "depends": [*BASE["depends"], "package_has_been_revoked"]}
    ours = {"pkg-1.0-0.conda": dict(BASE)}
    instructions, _ = faithful_instructions(ours, {"pkg-1.0-0.conda": revoked})
    assert _apply(ours, instructions)["pkg-1.0-0.conda"] == revoked


def test_a_null_value_upstream_is_reported_not_hidden() -> None:
    ours = {"pkg-1.0-0.conda": dict(BASE)}
    theirs = {"pkg-1.0-0.conda": {**BASE, "license": None}}
    _, unfaithful = faithful_instructions(ours, theirs)
    assert unfaithful == ["pkg-1.0-0.conda"]


def test_nested_objects_are_patched_key_by_key() -> None:
    patch = record_patch({"run_exports": {"weak": ["a"]}}, {"run_exports": {"strong": ["b"]}})
    assert patch == {"run_exports": {"strong": ["b"], "weak": None}}
