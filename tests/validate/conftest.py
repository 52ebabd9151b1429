"""Builders for valid documents that the tests then break one way at a time."""

from __future__ import annotations

import copy
from typing import Any

import pytest


def record(
    name: str = "numpy", version: str = "1.0", build: str = "py_0", **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": ["python >=3.9"],
        "md5": "0123456789abcdef0123456789abcdef",
        "sha256": "ab" * 32,
        "size": 1234,
        "subdir": "linux-64",
        "timestamp": 1700000000000,
        **extra,
    }


def repodata() -> dict[str, Any]:
    return {
        "info": {"subdir": "linux-64"},
        "packages": {"numpy-1.0-py_0.tar.bz2": record()},
        "packages.conda": {
            "numpy-1.0-py_0.conda": record(),
            "scipy-2.0-h1_1.conda": record("scipy", "2.0", "h1_1", build_number=1),
        },
        "removed": ["numpy-0.9-py_0.tar.bz2"],
        "repodata_version": 1,
    }


@pytest.fixture
def good_repodata() -> dict[str, Any]:
    return copy.deepcopy(repodata())
