"""Generated recipes against conda-forge's own (fixtures/feedstocks): run and host names,
noarch, license. The numbers are printed (`pytest -s`) and held to a floor."""

from __future__ import annotations

import pytest

from stockyard.recipes.model import Dep
from tests.recipes.feedstocks import feedstock_requirements, license_of, noarch_of

VERSIONS = {
    "requests": "2.33.1",
    "rich": "14.3.3",
    "click": "8.3.2",
    "msgspec": "0.18.6",
    "zstandard": "0.25.0",
}
_IGNORED = {"python", "pip"}


def _names(deps: list[Dep]) -> set[str]:
    return {d.name for d in deps if not d.name.startswith(("__", "${{"))} - _IGNORED


def _score(ours: set[str], theirs: set[str]) -> tuple[float, float]:
    common = len(ours & theirs)
    precision = common / len(ours) if ours else 1.0
    recall = common / len(theirs) if theirs else 1.0
    return precision, recall


@pytest.mark.parametrize("name", sorted(VERSIONS))
def test_against_feedstock(generate, name: str) -> None:  # type: ignore[no-untyped-def]
    recipe = generate(f"{name}=={VERSIONS[name]}")
    truth = feedstock_requirements(name)
    run = _score(_names(recipe.main.requirements.run), truth["run"])
    host = _score(_names(recipe.main.requirements.host), truth["host"])
    print(f"{name}: run P/R {run[0]:.2f}/{run[1]:.2f}  host P/R {host[0]:.2f}/{host[1]:.2f}")
    assert recipe.main.noarch == noarch_of(name)
    assert recipe.about["license"] == license_of(name)
    missing = truth["run"] - _names(recipe.main.requirements.run)
    extra = _names(recipe.main.requirements.run) - truth["run"]
    assert (missing, extra) == KNOWN_RUN_DIFFERENCES.get(name, (set(), set()))
    assert host[1] >= 0.5


# Where the feedstock and upstream's metadata disagree, and why (checked by hand):
KNOWN_RUN_DIFFERENCES = {
    # rich 14.3.3 no longer requires typing-extensions (its METADATA has no such line); the
    # feedstock still lists it from older versions.
    "rich": ({"typing_extensions"}, set()),
    # zstandard declares cffi as the `cffi` extra; the feedstock makes it a hard run dependency
    # (it builds the CFFI backend). Our recipe puts it in zstandard-with-cffi.
    "zstandard": ({"cffi"}, set()),
}
