"""Artifact I/O: read metadata and hashes, create, transmute, verify and extract conda packages.

Imports only `stockyard.types`. Every failure on bad input is an `InvalidArtifact` (or its
subclasses `UnsafeArchive`, `SizeLimitExceeded`) naming the file and the problem.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stockyard.package.create import create_from_directory, write_artifact
    from stockyard.package.extract import extract_artifact
    from stockyard.package.limits import DEFAULT_LIMITS, Limits
    from stockyard.package.metadata import ArtifactMetadata, PathFlags
    from stockyard.package.read import read_artifact
    from stockyard.package.transmute import transmute
    from stockyard.package.verify import VerifyReport, verify_artifact

#: Where each name lives. The submodules are imported on first use (PEP 562): reading one
#: artifact (`stockyard index`) needs neither creating, extracting, transmuting nor verifying.
_HOMES = {
    "DEFAULT_LIMITS": "limits",
    "ArtifactMetadata": "metadata",
    "Limits": "limits",
    "PathFlags": "metadata",
    "VerifyReport": "verify",
    "create_from_directory": "create",
    "extract_artifact": "extract",
    "read_artifact": "read",
    "transmute": "transmute",
    "verify_artifact": "verify",
    "write_artifact": "create",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    # Bound after the import, which binds the submodule: `transmute` names both the function
    # and its module, and `from stockyard.package import transmute` means the function.
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_LIMITS",
    "ArtifactMetadata",
    "Limits",
    "PathFlags",
    "VerifyReport",
    "create_from_directory",
    "extract_artifact",
    "read_artifact",
    "transmute",
    "verify_artifact",
    "write_artifact",
]
