"""current_repodata selection: newest versions, what they depend on, pins, twins, features."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rattler import BuildString, MatchSpec, PackageRecord, Version

from stockyard.publish.current_repodata import build_current_repodata, select_current_records
from stockyard.types.errors import ConfigError


def rec(
    name: str,
    version: str,
    build: str = "0",
    *,
    build_number: int = 0,
    depends: tuple[str, ...] = (),
    **extra: Any,
) -> tuple[str, dict[str, Any]]:
    record = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": build_number,
        "depends": list(depends),
        "subdir": "linux-64",
        "md5": "0" * 32,
        "size": 1,
        **extra,
    }
    return f"{name}-{version}-{build}.tar.bz2", record


def channel(*records: tuple[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return dict(records)


def test_newest_version_is_kept_with_all_its_builds() -> None:
    packages = channel(
        rec("a", "1.0", "h1_0"),
        rec("a", "2.0", "h1_0"),
        rec("a", "2.0", "h2_1", build_number=1),
        rec("a", "10.0a1", "0"),  # pre-release of 10.0, still the newest version
        rec("b", "0.9", "0"),
    )
    assert select_current_records(packages) == {
        "a-10.0a1-0.tar.bz2",
        "b-0.9-0.tar.bz2",
    }
    del packages["a-10.0a1-0.tar.bz2"]
    assert select_current_records(packages) == {
        "a-2.0-h1_0.tar.bz2",
        "a-2.0-h2_1.tar.bz2",
        "b-0.9-0.tar.bz2",
    }


def test_equal_versions_and_fuzzy_version_match_are_kept_together() -> None:
    # conda keeps everything matching `name=<newest version>`; 1.0 and 1.0.0 order as equal.
    packages = channel(rec("a", "1.0", "0"), rec("a", "1.0.0", "1"), rec("a", "0.9", "0"))
    assert select_current_records(packages) == {"a-1.0-0.tar.bz2", "a-1.0.0-1.tar.bz2"}


def test_older_versions_are_kept_when_a_kept_record_needs_them() -> None:
    """The situation of conda-index's test_current_index_reduces_space."""
    packages = channel(
        rec("two-because-satisfiability", "1.2.11", "h_3"),
        rec("two-because-satisfiability", "1.2.10", "h_3"),
        rec("two-because-satisfiability", "1.2.9", "h_3"),
        rec("depends-on-older", "1.2.10", "h_3", depends=("two-because-satisfiability 1.2.10",)),
        rec("depends-on-older", "1.2.9", "h_3", depends=("two-because-satisfiability 1.2.9",)),
        rec("ancient-package", "1.2.10", "h_3"),
        rec("one-gets-filtered", "1.3.10", "h_3"),
        rec("one-gets-filtered", "1.2.11", "h_3"),
    )
    assert select_current_records(packages) == {
        "two-because-satisfiability-1.2.11-h_3.tar.bz2",
        "two-because-satisfiability-1.2.10-h_3.tar.bz2",
        "depends-on-older-1.2.10-h_3.tar.bz2",
        "ancient-package-1.2.10-h_3.tar.bz2",
        "one-gets-filtered-1.3.10-h_3.tar.bz2",
    }
    pinned = select_current_records(packages, pins={"one-gets-filtered": ["1.2", "1.3"]})
    assert "one-gets-filtered-1.2.11-h_3.tar.bz2" in pinned


def test_backfill_takes_the_newest_matching_version_with_all_its_builds() -> None:
    packages = channel(
        rec("app", "3.0", depends=("lib >=1,<2",)),
        rec("lib", "2.0"),
        rec("lib", "1.5", "a_0"),
        rec("lib", "1.5", "b_1", build_number=1),
        rec("lib", "1.4"),
    )
    assert select_current_records(packages) == {
        "app-3.0-0.tar.bz2",
        "lib-2.0-0.tar.bz2",
        "lib-1.5-a_0.tar.bz2",
        "lib-1.5-b_1.tar.bz2",
    }


def test_dependencies_of_backfilled_records_are_backfilled_too() -> None:
    # conda-index backfills once, so lib-1.0's need for an old zlib would stay unmet.
    packages = channel(
        rec("app", "3.0", depends=("lib <2",)),
        rec("lib", "2.0", depends=("zlib >=2",)),
        rec("lib", "1.0", depends=("zlib <2",)),
        rec("zlib", "2.1"),
        rec("zlib", "1.9"),
        rec("zlib", "1.8"),
    )
    assert select_current_records(packages) == {
        "app-3.0-0.tar.bz2",
        "lib-2.0-0.tar.bz2",
        "lib-1.0-0.tar.bz2",
        "zlib-2.1-0.tar.bz2",
        "zlib-1.9-0.tar.bz2",
    }


def test_specs_are_checked_against_the_selection_at_the_start_of_a_round() -> None:
    # Both unmet specs on `b` add their own newest match, whatever the order of records.
    packages = channel(
        rec("x", "1.0", depends=("b <2",)),
        rec("y", "1.0", depends=("b <1.5",)),
        rec("b", "3.0"),
        rec("b", "1.9"),
        rec("b", "1.4"),
    )
    expected = {"x-1.0-0.tar.bz2", "y-1.0-0.tar.bz2", "b-3.0-0.tar.bz2"}
    expected |= {"b-1.9-0.tar.bz2", "b-1.4-0.tar.bz2"}
    assert select_current_records(packages) == expected
    assert select_current_records(dict(reversed(packages.items()))) == expected


def test_build_and_bracket_specs_use_full_matching() -> None:
    packages = channel(
        rec("app", "1.0", depends=("lib 1.* h_old*", "tool[build_number=2]")),
        rec("lib", "1.1", "h_new_0"),
        rec("lib", "1.0", "h_old_0"),
        rec("tool", "5.0", "0", build_number=0),
        rec("tool", "4.0", "2", build_number=2),
    )
    assert select_current_records(packages) == {
        "app-1.0-0.tar.bz2",
        "lib-1.1-h_new_0.tar.bz2",
        "lib-1.0-h_old_0.tar.bz2",
        "tool-5.0-0.tar.bz2",
        "tool-4.0-2.tar.bz2",
    }


def test_unsatisfiable_and_foreign_dependencies_add_nothing() -> None:
    packages = channel(
        rec("app", "1.0", depends=("lib >=9", "__glibc >=2.17", "not-here", "bad spec >=>1")),
        rec("lib", "1.0"),
        rec("lib", "0.5"),
    )
    assert select_current_records(packages) == {"app-1.0-0.tar.bz2", "lib-1.0-0.tar.bz2"}


def test_pins_keep_the_newest_matching_version() -> None:
    packages = channel(
        rec("python", "3.12.1"),
        rec("python", "3.11.8"),
        rec("python", "3.11.7"),
        rec("python", "2.7.18"),
    )
    assert select_current_records(packages, pins={"python": ["3.11", "2.6", "2.7"]}) == {
        "python-3.12.1-0.tar.bz2",
        "python-3.11.8-0.tar.bz2",
        "python-2.7.18-0.tar.bz2",
    }
    # Pins of names the subdir lacks are ignored.
    assert select_current_records(packages, pins={"nothing": ["1"]}) == {"python-3.12.1-0.tar.bz2"}
    with pytest.raises(ConfigError, match="not a valid"):
        select_current_records(packages, pins={"python": [">=>3"]})


def test_conda_twin_replaces_the_tar_bz2() -> None:
    fn, record = rec("a", "1.0")
    packages = {
        fn: record,
        fn.replace(".tar.bz2", ".conda"): dict(record),
        "b-1.0-0.tar.bz2": rec("b", "1.0")[1],
    }
    assert select_current_records(packages) == {"a-1.0-0.conda", "b-1.0-0.tar.bz2"}


def test_a_featureless_version_is_kept_beside_featured_ones() -> None:
    packages = channel(
        rec("blas", "2.0", "mkl_0", track_features="mkl"),
        rec("blas", "1.9", "nomkl_0", features="nomkl"),
        rec("blas", "1.8", "openblas_0"),
        rec("blas", "1.7", "openblas_0"),
        rec("plain", "2.0", "0", track_features=""),
        rec("plain", "1.0", "0"),
    )
    assert select_current_records(packages) == {
        "blas-2.0-mkl_0.tar.bz2",
        "blas-1.8-openblas_0.tar.bz2",
        "plain-2.0-0.tar.bz2",
    }


def test_build_current_repodata_document() -> None:
    fn, record = rec("a", "1.0")
    repodata = {
        "info": {"subdir": "linux-64"},
        "repodata_version": 1,
        "removed": ["gone-1.0-0.tar.bz2"],
        "packages": {
            fn: {**record, "md5": "1" * 32},
            "a-0.9-0.tar.bz2": rec("a", "0.9")[1],
            "b-1.0-0.tar.bz2": rec("b", "1.0")[1],
        },
        "packages.conda": {"a-1.0-0.conda": record, "c-1.0-0.conda": rec("c", "1.0")[1]},
    }
    before = copy.deepcopy(repodata)
    current = build_current_repodata(repodata)
    assert repodata == before
    assert current["info"] == {"subdir": "linux-64"}
    assert current["removed"] == ["gone-1.0-0.tar.bz2"]
    assert set(current["packages"]) == {"b-1.0-0.tar.bz2"}
    assert set(current["packages.conda"]) == {"a-1.0-0.conda", "c-1.0-0.conda"}
    assert current["packages.conda"]["a-1.0-0.conda"]["legacy_bz2_md5"] == "1" * 32
    assert "legacy_bz2_md5" not in current["packages.conda"]["c-1.0-0.conda"]


def _satisfied_within(
    packages: dict[str, dict[str, Any]],
    keep: set[str],
    spec_text: str,
    cache: dict[str, PackageRecord],
) -> tuple[bool, bool]:
    """(satisfiable in the channel, satisfied by the selection) for one depends spec."""
    try:
        spec = MatchSpec(spec_text)
    except Exception:
        return False, False
    name = spec.name.normalized

    def matches(filename: str) -> bool:
        if filename not in cache:
            cache[filename] = to_rattler(packages[filename])
        return spec.matches(cache[filename])

    named = [fn for fn, record in packages.items() if record["name"] == name]
    return any(map(matches, named)), any(matches(fn) for fn in named if fn in keep)


def to_rattler(record: dict[str, Any]) -> PackageRecord:
    return PackageRecord(
        name=record["name"],
        version=record["version"],
        build=BuildString(record["build"]),
        build_number=record["build_number"],
        subdir=record.get("subdir", "linux-64"),
    )


def test_real_channel_selection_is_a_closed_subset(r_repodata: dict[str, Any]) -> None:
    packages = r_repodata["packages"]
    keep = select_current_records(packages)
    assert keep < set(packages)
    assert len(keep) < len(packages) / 2
    assert select_current_records(dict(reversed(packages.items()))) == keep

    newest: dict[str, Version] = {}
    for record in packages.values():
        version = Version(record["version"])
        if record["name"] not in newest or version > newest[record["name"]]:
            newest[record["name"]] = version
    kept_versions: dict[str, set[Version]] = {}
    for filename in keep:
        kept_versions.setdefault(packages[filename]["name"], set()).add(
            Version(packages[filename]["version"])
        )
    assert set(kept_versions) == set(newest)
    assert all(newest[name] in versions for name, versions in kept_versions.items())

    cache: dict[str, PackageRecord] = {}
    for filename in keep:
        for spec_text in packages[filename].get("depends", []):
            satisfiable, satisfied = _satisfied_within(packages, keep, spec_text, cache)
            assert satisfied or not satisfiable, (filename, spec_text)


def test_real_channel_pins_only_add(r_repodata: dict[str, Any]) -> None:
    packages = r_repodata["packages"]
    keep = select_current_records(packages)
    pinned = select_current_records(packages, pins={"r-ggplot2": ["2.1"], "r-rcpp": ["0.12.1"]})
    assert keep < pinned

    def versions(selection: set[str], name: str) -> set[str]:
        return {packages[fn]["version"] for fn in selection if packages[fn]["name"] == name}

    assert versions(keep, "r-ggplot2") == {"2.2.1"}
    assert versions(pinned, "r-ggplot2") == {"2.2.1", "2.1.0"}
    # `=0.12.1` means 0.12.1.*, which 0.12.11 and 0.12.17 are not.
    assert versions(pinned, "r-rcpp") == {"0.12.17", "0.12.1"}
