"""The type-driven checker agrees with msgspec and points at the right place."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from stockyard.types.records import PackageRecord
from stockyard.types.repodata import Repodata
from stockyard.types.typecheck import check, escape, show
from stockyard.validate import validate_document

from .conftest import record

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
fields = st.sampled_from([f.encode_name for f in msgspec.structs.fields(PackageRecord)])


def msgspec_accepts(value: Any, tp: Any) -> bool:
    try:
        msgspec.convert(value, tp, builtin_types=(bytes, bytearray))
    except msgspec.ValidationError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(field=fields, value=json_values)
def test_problems_exist_exactly_when_msgspec_rejects(field: str, value: Any) -> None:
    rec = {**record(), field: value}
    problems = check(rec, PackageRecord)
    assert (problems == []) == msgspec_accepts(rec, PackageRecord)
    # Every problem points into the field that was changed.
    for problem in problems:
        assert problem.pointer == f"/{escape(field)}" or problem.pointer.startswith(
            f"/{escape(field)}/"
        )


@settings(max_examples=200, deadline=None)
@given(data=json_values)
def test_arbitrary_data_never_raises(data: Any) -> None:
    for kind in ("repodata", "packages", "channeldata", "shard", "shard_index", "run_exports_json"):
        report = validate_document(data, kind, source="x")
        assert report.valid == (report.problems == [])


@settings(max_examples=200, deadline=None)
@given(records=st.dictionaries(st.text(max_size=12), json_values, max_size=4))
def test_repodata_problems_cover_every_broken_record(records: dict[str, Any]) -> None:
    doc = {"packages": records}
    pointers = {p.pointer for p in validate_document(doc, "repodata", source="x").problems}
    for filename, rec in records.items():
        if not msgspec_accepts(rec, PackageRecord):
            here = f"/packages/{escape(filename)}"
            assert any(p == here or p.startswith(here + "/") for p in pointers)
    assert (not pointers) <= msgspec_accepts(doc, Repodata)


def test_missing_keys_are_one_problem_at_the_record() -> None:
    [problem] = check({"name": "a"}, PackageRecord, "/x")
    assert problem.pointer == "/x"
    assert (
        problem.message == "missing required keys 'version', 'build', 'build_number', 'md5', 'size'"
    )


def test_dict_keys_are_checked_against_the_key_type() -> None:
    info = {"repodata_revisions": {"v2": {}, "v3": {"n_packages": -1}}}
    problems = check({"info": info}, Repodata)
    assert [(p.pointer, p.message.split(":")[0]) for p in problems] == [
        ("/info/repodata_revisions/v2", "invalid key"),
        ("/info/repodata_revisions/v3/n_packages", "expected `int` >= 0, got -1"),
    ]


def test_union_members_are_walked_into() -> None:
    # `run_exports: RunExports | None`, `source_url: str | list[str] | None` and friends.
    problems = check({**record(), "run_exports": {"weak": [1]}}, PackageRecord)
    assert [p.pointer for p in problems] == ["/run_exports/weak/0"]


def test_escape_and_show() -> None:
    assert escape("a/b~c") == "a~1b~0c"
    assert show(b"\0" * 16) == "<16 bytes>"
    assert show("x" * 200).endswith("...")
    assert len(show("x" * 200)) == 80
