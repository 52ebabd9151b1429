"""The typed values the catalog hands out and takes in: channels, artifacts, subdir state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class Channel:
    id: int
    name: str
    private: bool
    description: str | None
    created_at: int


@dataclass(frozen=True, slots=True)
class FileState:
    """What change detection compares: size and mtime first, sha256 to confirm."""

    size: int
    mtime_ns: int
    sha256: str
    indexed_timestamp: int


@dataclass(slots=True)
class ArtifactRow:
    """One artifact as the indexer stores it (record bytes already encoded)."""

    subdir: str
    filename: str
    name: str
    version: str
    build: str
    size: int
    mtime_ns: int
    sha256: str
    md5: str
    record: bytes
    run_exports: bytes | None = None
    about: bytes | None = None
    path_flags: bytes | None = None
    icon_sha256: str | None = None
    #: CEP 47: the first time this filename was indexed (the caller keeps the old value on a
    #: re-upload, so it is never overwritten). Also inside `record`.
    indexed_timestamp: int = 0
    #: "local" (a file in storage) or "mirror" (a record from upstream repodata).
    origin: str = "local"


class PublishRow(NamedTuple):
    """One artifact as publishing needs it. A named tuple, because publishing builds one per
    artifact of a subdir on every change, straight from the database row."""

    filename: str
    name: str
    record: bytes
    patched: bytes | None
    patch_removed: bool
    run_exports: bytes | None
    size: int
    sha256: str
    indexed_timestamp: int

    @property
    def published(self) -> bytes:
        return self.patched if self.patched is not None else self.record


class NameSummaryRow(NamedTuple):
    """One artifact of a package name as channeldata (CEP 38) needs it, from every subdir."""

    name: str
    subdir: str
    filename: str
    record: bytes
    patched: bytes | None
    patch_removed: bool
    about: bytes | None
    run_exports: bytes | None
    path_flags: bytes | None
    icon_sha256: str | None


@dataclass(frozen=True, slots=True)
class SubdirState:
    dirty: bool
    patch_fingerprint: str | None
    options_fingerprint: str | None
    scan_signature: str | None = None


@dataclass(frozen=True, slots=True)
class Move:
    """A file staged in storage, to be moved to its place once the catalog names it."""

    source: str
    target: str


@dataclass(slots=True)
class SubdirChanges:
    """What one commit changes in one subdir's artifacts."""

    subdir: str
    #: New and changed artifacts (replacing rows with the same filename).
    upserts: list[ArtifactRow] = field(default_factory=list)
    #: (filename, size, mtime_ns) of files whose bytes are unchanged but whose mtime moved.
    touched: list[tuple[str, int, int]] = field(default_factory=list)
    #: Filenames gone from the channel (listed in repodata `removed`).
    removed: list[str] = field(default_factory=list)
    #: Filename -> yanked (True) or restored (False).
    yanks: dict[str, bool] = field(default_factory=dict)

    @property
    def changes_records(self) -> bool:
        return bool(self.upserts or self.removed or self.yanks)
