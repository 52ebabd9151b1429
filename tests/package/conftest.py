"""Fixtures: a small synthesized channel shared by the package tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockyard.testing.corpus import default_data_dir, synthesize_channel


@pytest.fixture(scope="session")
def small_channel(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    assert (default_data_dir() / "repodata").is_dir(), default_data_dir()
    dest = tmp_path_factory.mktemp("channel")
    return synthesize_channel(dest, 120, seed=7, processes=1)
