"""Shared fixtures: paths to the real repodata in ../shared/data."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("STOCKYARD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
R_REPODATA = SHARED_DATA / "repodata" / "anaconda-r-linux-64-2018.json"
MAIN_SAMPLE = SHARED_DATA / "repodata" / "anaconda-main-sample.json"


@pytest.fixture(scope="session")
def r_repodata() -> dict[str, Any]:
    if not R_REPODATA.exists():
        pytest.skip(f"shared data not found at {R_REPODATA}")
    return json.loads(R_REPODATA.read_bytes())


@pytest.fixture(scope="session")
def main_sample() -> dict[str, Any]:
    if not MAIN_SAMPLE.exists():
        pytest.skip(f"shared data not found at {MAIN_SAMPLE}")
    return json.loads(MAIN_SAMPLE.read_bytes())
