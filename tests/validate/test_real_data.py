"""The real repodata in tests/data validates, plain and compressed, and quickly enough."""

from __future__ import annotations

import bz2
from pathlib import Path

import pytest

from stockyard.types.encoding import zstd_compress, zstd_decompress
from stockyard.validate import validate_path

from ..conftest import MAIN_SAMPLE, PYTORCH_REPODATA, R_REPODATA


def _plain(path: Path) -> bytes:
    raw = path.read_bytes()
    return zstd_decompress(raw, 1 << 30) if path.name.endswith(".zst") else raw


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
    raw = _plain(R_REPODATA)
    compress = {"": bytes, ".zst": zstd_compress, ".bz2": bz2.compress}[suffix]
    target = tmp_path / f"repodata.json{suffix}"
    target.write_bytes(compress(raw))
    report = validate_path(target)
    assert (report.kind, report.valid, report.records) == ("repodata", True, 4211)


def test_real_repodata_as_current_repodata(tmp_path: Path) -> None:
    target = tmp_path / "current_repodata.json"
    target.write_bytes(_plain(R_REPODATA))
    assert validate_path(target).valid


def test_real_data_has_no_problem_and_no_warning() -> None:
    """Real channels' records pass admission as they are (tests/data carries no legacy shape
    admission warns about; tests/index/test_admission.py covers those one by one)."""
    for path, kind in ((R_REPODATA, "repodata"), (MAIN_SAMPLE, "packages")):
        report = validate_path(path, kind=kind)
        assert (report.problems, report.warnings) == ([], []), path
    report = validate_path(PYTORCH_REPODATA, kind="repodata")
    assert report.valid, report.problems[:5]
    assert report.records == 2181
