"""Artifact I/O: read metadata and hashes, create, transmute, verify and extract conda packages.

Imports only `stockyard.types`. Every failure on bad input is an `InvalidArtifact` (or its
subclasses `UnsafeArchive`, `SizeLimitExceeded`) naming the file and the problem.
"""

from stockyard.package.create import create_from_directory, write_artifact
from stockyard.package.extract import extract_artifact
from stockyard.package.limits import DEFAULT_LIMITS, Limits
from stockyard.package.metadata import ArtifactMetadata, PathFlags
from stockyard.package.read import read_artifact
from stockyard.package.transmute import transmute
from stockyard.package.verify import VerifyReport, verify_artifact

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
