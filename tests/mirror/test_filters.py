"""The filter language: every pair of filters against a naive model of the documented
precedence, plus the rules that matter most spelled out."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockyard.mirror.errors import FilterError
from stockyard.mirror.filters import MirrorFilters, select_records
from stockyard.mirror.license_policy import LicensePolicy

from .universe import candidates, model_selection

#: One value for each filter; every pair (and more) is compared with the model.
SETTINGS: dict[str, Any] = {
    "subdirs": ("linux-64", "noarch"),
    "include": ("app", "native"),
    "exclude": ("tool <2",),
    "with_dependencies": True,
    "latest": 1,
    "newer_than": datetime(2023, 6, 1, tzinfo=UTC),
    "older_than": datetime(2024, 8, 1, tzinfo=UTC),
    "licenses": LicensePolicy.build(deny=["GPL-3.0*"], unknown="deny"),
}


def _selected(filters: MirrorFilters) -> set[str]:
    return set(select_records(candidates(), filters.compile()).chosen)


@pytest.mark.parametrize(
    "names", [(name,) for name in SETTINGS] + list(itertools.combinations(SETTINGS, 2))
)
def test_every_filter_and_every_pair_match_the_model(names: tuple[str, ...]) -> None:
    filters = MirrorFilters(**{name: SETTINGS[name] for name in names})
    assert _selected(filters) == model_selection(filters)


@settings(max_examples=60, deadline=None)
@given(st.sets(st.sampled_from(sorted(SETTINGS))))
def test_any_combination_matches_the_model(names: set[str]) -> None:
    filters = MirrorFilters(**{name: SETTINGS[name] for name in names})
    assert _selected(filters) == model_selection(filters)


def test_no_filter_mirrors_everything() -> None:
    assert len(_selected(MirrorFilters())) == len(candidates())


def test_exclude_wins_over_include_and_dependencies() -> None:
    filters = MirrorFilters(include=("native", "zlib"), exclude=("zlib",), with_dependencies=True)
    selection = select_records(candidates(), filters.compile())
    assert not any("zlib" in key for key in selection.chosen)
    assert "linux-64/lib-1.2-0.conda" in selection.chosen
    assert {"spec": "zlib", "needed_by": "linux-64/lib-1.2-0.conda"} in [
        u.to_dict() for u in selection.unsatisfied
    ]
    [(_, included, reason)] = selection.explain("zlib-1.3-0.conda")[:1]
    assert not included and reason == "excluded by --exclude 'zlib'"


def test_latest_applies_per_spec() -> None:
    filters = MirrorFilters(include=("lib <2",), latest=1, subdirs=("linux-64",))
    assert _selected(filters) == {"linux-64/lib-1.2-0.conda"}


def test_noarch_dependencies_come_from_every_subdir() -> None:
    filters = MirrorFilters(include=("app 1.1",), with_dependencies=True)
    chosen = _selected(filters)
    assert {"linux-64/lib-2.0-0.conda", "osx-64/lib-2.0-0.conda"} <= chosen
    assert {"linux-64/zlib-1.3-0.conda", "osx-64/zlib-1.3-0.conda"} <= chosen


def test_virtual_packages_are_never_unsatisfied() -> None:
    filters = MirrorFilters(include=("lib 2.0",), subdirs=("linux-64",), with_dependencies=True)
    selection = select_records(candidates(), filters.compile())
    assert selection.unsatisfied == []


def test_explain_says_why() -> None:
    filters = MirrorFilters(
        include=("app",),
        with_dependencies=True,
        licenses=LicensePolicy.build(deny=["GPL-3.0*"]),
    )
    selection = select_records(candidates(), filters.compile())
    reasons = {key: (inside, why) for key, inside, why in selection.explain("lib-1.2-0.conda")}
    assert reasons["linux-64/lib-1.2-0.conda"][0] is False
    assert "GPL-3.0-only" in reasons["linux-64/lib-1.2-0.conda"][1]
    [(_, inside, why)] = selection.explain("noarch/app-1.0-0.conda")
    assert inside and why == "matches --include 'app'"
    [(_, inside, why)] = selection.explain("linux-64/lib-2.0-0.conda")
    assert inside and why.startswith("dependency 'lib >=1.1' of noarch/app-1.0-0.conda")
    [(_, inside, why)] = selection.explain("doc-1-0.conda")
    assert not inside and why.startswith("matches no --include")


def test_glob_include() -> None:
    assert _selected(MirrorFilters(include=("z*",), subdirs=("osx-64",))) == {
        "osx-64/zlib-1.3-0.conda"
    }


@pytest.mark.parametrize("spec", ["numpy >=1.2,<", ">>>", "foo[bar", ""])
def test_bad_specs_fail_before_anything(spec: str) -> None:
    with pytest.raises(FilterError) as caught:
        MirrorFilters(include=(spec,)).compile()
    assert "MatchSpec" in caught.value.message and caught.value.hint
    with pytest.raises(FilterError):
        MirrorFilters(exclude=(spec,)).compile()


def test_impossible_date_window() -> None:
    with pytest.raises(FilterError, match="before --older-than"):
        MirrorFilters(
            newer_than=datetime(2024, 1, 1, tzinfo=UTC), older_than=datetime(2023, 1, 1, tzinfo=UTC)
        ).compile()
