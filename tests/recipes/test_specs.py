from __future__ import annotations

import pytest
from rattler import MatchSpec

from stockyard.recipes.specs import matchspec, translate


@pytest.mark.parametrize(
    ("pep440", "conda"),
    [
        (">=1.0", ">=1.0"),
        (">=1,<2", ">=1,<2"),
        ("~=1.4.2", ">=1.4.2,<1.5"),
        ("~=2.1", ">=2.1,<3"),
        ("==1.4.*", "1.4.*"),
        ("!=1.5.*,>=1", ">=1,!=1.5.*"),
        ("===1.0", "==1.0"),
        ("==1.0+cpu", "==1.0"),
        (">=2.0rc1", ">=2.0rc1"),
        (">=1.0.dev0", ">=1.0dev0"),
        (">=1.0.post1", ">=1.0.post1"),
        ("", ""),
    ],
)
def test_translate(pep440: str, conda: str) -> None:
    translation = translate(pep440)
    assert translation.constraint == conda
    if conda:
        MatchSpec(f"pkg {conda}")


def test_notes_for_what_conda_cannot_say() -> None:
    assert "arbitrary equality" in translate("===1.0").notes[0]
    assert "local version" in translate("==1.0+cpu").notes[0]
    assert "invalid specifier" in translate(">=1;").notes[0]


def test_prerelease_order_is_kept_by_conda() -> None:
    from rattler import Version

    assert Version("1.0dev0") < Version("1.0a1") < Version("1.0rc1") < Version("1.0")
    # Why `.dev` loses its dot: with it, conda sorts the dev release after the alphas.
    assert Version("1.0.dev0") > Version("1.0a1")
    assert Version("1.0") < Version("1.0.post1")


def test_matchspec_is_validated() -> None:
    assert matchspec("foo", ">=1") == "foo >=1"
    with pytest.raises(Exception):  # noqa: B017 - rattler's own exception type
        matchspec("foo", ">=>1")
