"""Shared fixtures: paths to the real repodata in tests/data (see its README).

`STOCKYARD_SHARED_DATA` points the tests at another directory of the same layout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from stockyard.testing.corpus import load_json_document

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("STOCKYARD_SHARED_DATA", REPO_ROOT / "tests" / "data"))


def _data_file(stem: str) -> Path:
    """`repodata/<stem>.json.zst`, or the uncompressed `.json` of an override directory."""
    compressed = SHARED_DATA / "repodata" / f"{stem}.json.zst"
    plain = SHARED_DATA / "repodata" / f"{stem}.json"
    return plain if plain.exists() and not compressed.exists() else compressed


R_REPODATA = _data_file("anaconda-r-linux-64-2018")
MAIN_SAMPLE = _data_file("anaconda-main-sample")
PYTORCH_REPODATA = _data_file("pytorch-linux-64-2023")


@pytest.fixture(scope="session")
def r_repodata() -> dict[str, Any]:
    document: dict[str, Any] = load_json_document(R_REPODATA)
    return document


@pytest.fixture(scope="session")
def main_sample() -> dict[str, Any]:
    document: dict[str, Any] = load_json_document(MAIN_SAMPLE)
    return document
