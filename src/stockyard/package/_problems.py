"""Internal exceptions raised by the format parsers, which do not know the artifact's name.

The public functions catch them and raise the matching `InvalidArtifact` subclass with the file
name, so every message reads `<file>: <what is wrong>`.
"""

from __future__ import annotations

import os

from stockyard.types.errors import InvalidArtifact, SizeLimitExceeded, UnsafeArchive


class ArchiveProblem(Exception):
    """The artifact is malformed."""

    error_class: type[InvalidArtifact] = InvalidArtifact

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def to_error(self, display_name: str) -> InvalidArtifact:
        return self.error_class(display_name, self.reason)


class UnsafeMember(ArchiveProblem):
    """A member would escape the destination or is a device, fifo or other special file."""

    error_class = UnsafeArchive


class TooLarge(ArchiveProblem):
    """Decompressed data or member count exceeds a `Limits` bound."""

    error_class = SizeLimitExceeded


def io_error(display_name: str, action: str, exc: OSError) -> InvalidArtifact:
    """An operating-system error while handling an artifact, with a hint that fits it."""
    detail = exc.strerror or str(exc)
    if exc.filename is not None and os.fspath(exc.filename) != display_name:
        detail = f"{detail}: {os.fspath(exc.filename)}"
    return InvalidArtifact(
        display_name,
        f"cannot {action} ({detail})",
        hint="Check that the path exists and is readable (and, when writing, that the "
        "destination is writable and has space).",
    )
