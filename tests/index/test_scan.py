"""The scan's signature: an unchanged subdir is skipped only when nothing about its files moved."""

from __future__ import annotations

import pytest

from stockyard.index.scan import _ARTIFACT_SUFFIXES, scan_signature
from stockyard.types.identifiers import artifact_format

FILES = {
    "b-1.0-0.conda": (10, 1_000),
    "a-1.0-0.tar.bz2": (20, 2_000),
    "c-2.0-h1_0.conda": (30, 3_000),
}


def test_signature_ignores_listing_order() -> None:
    reordered = dict(reversed(list(FILES.items())))
    assert list(reordered) != list(FILES)
    assert scan_signature(reordered) == scan_signature(FILES)


@pytest.mark.parametrize(
    "changed",
    [
        {**FILES, "b-1.0-0.conda": (11, 1_000)},  # size
        {**FILES, "b-1.0-0.conda": (10, 1_001)},  # mtime
        {**FILES, "d-1.0-0.conda": (1, 1)},  # added
        {k: v for k, v in FILES.items() if k != "a-1.0-0.tar.bz2"},  # removed
        {("x" + k if k.startswith("c") else k): v for k, v in FILES.items()},  # renamed
    ],
)
def test_signature_changes_with_any_file(changed: dict[str, tuple[int, int]]) -> None:
    assert scan_signature(changed) != scan_signature(FILES)


@pytest.mark.parametrize(
    "name", ["a.conda", "a.tar.bz2", "a.bz2", "a.tar", "a.conda.part", "a.CONDA", "conda"]
)
def test_scan_takes_exactly_what_is_an_artifact(name: str) -> None:
    assert name.endswith(_ARTIFACT_SUFFIXES) == (artifact_format(name) is not None)
