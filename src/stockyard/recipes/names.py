"""PyPI project names to conda package names.

A PyPI name is first normalized (PEP 503: runs of `-`, `_`, `.` become `-`, lower case), then
looked up in `data/pypi_to_conda.json`, a versioned table shipped with Stockyard of the projects
whose conda-forge package is named differently (`torch` is `pytorch`, `typing-extensions` is
`typing_extensions`). Anything not listed keeps its normalized name, which is what conda-forge
uses for the great majority of Python packages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

_SEPARATORS = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """The PEP 503 normalized form of a PyPI project name."""
    return _SEPARATORS.sub("-", name).lower()


@dataclass(frozen=True)
class MappingTable:
    """The shipped mapping: its version, provenance and the entries."""

    version: int
    updated: str
    source: str
    license: str
    entries: dict[str, str]


@cache
def mapping_table() -> MappingTable:
    text = resources.files("stockyard.recipes").joinpath("data/pypi_to_conda.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return MappingTable(
        version=int(document["version"]),
        updated=str(document["updated"]),
        source=str(document["source"]),
        license=str(document["license"]),
        entries={normalize(key): str(value) for key, value in document["mapping"].items()},
    )


@dataclass(frozen=True)
class NameMapping:
    """How one PyPI name became a conda name (for `stockyard recipe map`)."""

    pypi_name: str
    normalized: str
    conda_name: str
    from_table: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "pypi_name": self.pypi_name,
            "normalized": self.normalized,
            "conda_name": self.conda_name,
            "rule": "mapping table" if self.from_table else "PEP 503 normalization",
            "table_version": mapping_table().version,
        }


def map_name(pypi_name: str) -> NameMapping:
    normalized = normalize(pypi_name)
    mapped = mapping_table().entries.get(normalized)
    return NameMapping(pypi_name, normalized, mapped or normalized, mapped is not None)


def conda_name(pypi_name: str) -> str:
    """The conda package name of a PyPI project."""
    return map_name(pypi_name).conda_name
