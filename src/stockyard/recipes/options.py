"""What `generate pypi` is asked for: kept apart from `pypi_recipe` so that reading the options
does not import the recipe builder (the CLI starts reading PyPI first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: conda-forge's global `python_min` (the oldest Python it builds for).
DEFAULT_PYTHON_MIN = "3.10"
ExtrasMode = Literal["outputs", "cep44", "none"]


@dataclass(frozen=True)
class GenerateOptions:
    extras_as: ExtrasMode = "outputs"
    with_all: bool = False
    python_min: str = DEFAULT_PYTHON_MIN
