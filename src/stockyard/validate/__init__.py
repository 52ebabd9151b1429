"""Validation of every format Stockyard reads or writes, against the Structs in stockyard.types.

`validate_path` reads a file (compressed or not), `validate_document` checks decoded data; both
return a `ValidationReport` listing every problem with an RFC 6901 pointer.

The names are imported on first use, so that the CLI can list `KINDS` in its help text without
importing the service (and msgspec, zstandard and the data model) on every `stockyard` run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stockyard.validate.kinds import KINDS, detect_kind
    from stockyard.validate.report import Problem, ValidationReport
    from stockyard.validate.service import validate_document, validate_path

_HOMES = {
    "KINDS": "stockyard.validate.kinds",
    "detect_kind": "stockyard.validate.kinds",
    "Problem": "stockyard.validate.report",
    "ValidationReport": "stockyard.validate.report",
    "validate_document": "stockyard.validate.service",
    "validate_path": "stockyard.validate.service",
}

__all__ = [
    "KINDS",
    "Problem",
    "ValidationReport",
    "detect_kind",
    "validate_document",
    "validate_path",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
