"""Fixtures of the recipe tests: recorded PyPI responses replayed offline (see replay.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.recipes.model import Recipe
from stockyard.recipes.pypi_recipe import GenerateOptions
from stockyard.recipes.service import generate_pypi
from tests.recipes.replay import ReplayTransport

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def replay() -> Iterator[ReplayTransport]:
    transport = ReplayTransport()
    yield transport
    assert transport.missed == [], "requests not recorded (run tests/recipes/replay.py)"


@pytest.fixture
def generate(replay: ReplayTransport):  # type: ignore[no-untyped-def]
    def run(spec: str, **options: object) -> Recipe:
        return generate_pypi(spec, GenerateOptions(**options), transport=replay)  # type: ignore[arg-type]

    return run
