"""The real repodata in ../shared/data validates, plain and compressed, and quickly enough."""

from __future__ import annotations

import bz2
import shutil
from pathlib import Path

import pytest

from stockyard.types.encoding import zstd_compress
from stockyard.validate import validate_path

from ..conftest import MAIN_SAMPLE, R_REPODATA

pytestmark = pytest.mark.skipif(not R_REPODATA.exists(), reason="shared data not found")


def test_r_repodata_is_valid_with_cache_keys_as_notes() -> None:
    report = validate_path(R_REPODATA, kind="repodata")
    assert report.valid, report.problems[:5]
    assert report.problems == []
    assert report.records == 4211
    assert {n.pointer for n in report.notes} == {"/_url", "/_etag", "/_mod", "/_cache_control"}


def test_main_sample_is_valid_as_a_bare_packages_map() -> None:
    report = validate_path(MAIN_SAMPLE, kind="packages")
    assert report.valid, report.problems[:5]
    assert report.records == 4118


@pytest.mark.parametrize(("path", "kind"), [(R_REPODATA, "repodata"), (MAIN_SAMPLE, "packages")])
def test_kind_of_an_oddly_named_file_is_guessed_from_content(path: Path, kind: str) -> None:
    report = validate_path(path)
    assert (report.kind, report.valid) == (kind, True)
    assert any("guessed from the content" in n.message for n in report.notes)


@pytest.mark.parametrize("suffix", ["", ".zst", ".bz2"])
def test_real_repodata_validates_under_its_published_names(tmp_path: Path, suffix: str) -> None:
    raw = R_REPODATA.read_bytes()
    compress = {"": bytes, ".zst": zstd_compress, ".bz2": bz2.compress}[suffix]
    target = tmp_path / f"repodata.json{suffix}"
    target.write_bytes(compress(raw))
    report = validate_path(target)
    assert (report.kind, report.valid, report.records) == ("repodata", True, 4211)


def test_real_repodata_as_current_repodata(tmp_path: Path) -> None:
    target = tmp_path / "current_repodata.json"
    shutil.copy(R_REPODATA, target)
    assert validate_path(target).valid
