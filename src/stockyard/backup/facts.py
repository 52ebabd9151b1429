"""What the catalog snapshot says each channel's files are, read back from the table dumps (the
dumps ARE the snapshot: the files are checked against them, not against the live catalog)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockyard.backup.manifest import TableEntry
from stockyard.backup.tables import iter_rows
from stockyard.catalog.schema import artifacts, channels, published_files, shards, snapshots
from stockyard.publish.shards import shard_key


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    size: int
    mtime_ns: int
    sha256: str


@dataclass(slots=True)
class ChannelFacts:
    id: int
    name: str
    #: key -> (sha256, size) of every file the catalog recorded as published.
    published: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: Keys of the current shards (content-addressed: the name is the sha256).
    shards: set[str] = field(default_factory=set)
    snapshots: set[str] = field(default_factory=set)
    #: "<subdir>/<filename>" -> the row of each artifact stored in the channel (origin local;
    #: mirrored records have no file here).
    artifacts: dict[str, ArtifactRef] = field(default_factory=dict)

    def subdirs(self) -> set[str]:
        keys = [*self.published, *self.artifacts]
        return {key.split("/", 1)[0] for key in keys if "/" in key}


def _rows(
    directory: Path, entries: Mapping[str, TableEntry], table: Any, wanted: list[str]
) -> Iterator[tuple[Any, ...]]:
    entry = entries[table.name]
    yield from iter_rows(directory / entry.path, table, entry.columns, wanted)


def read_facts(directory: Path, entries: Mapping[str, TableEntry]) -> list[ChannelFacts]:
    """Per channel (by name), what its files must be."""
    found = {
        channel_id: ChannelFacts(channel_id, name)
        for channel_id, name in _rows(directory, entries, channels, ["id", "name"])
    }
    wanted = ["channel_id", "key", "sha256", "size"]
    for channel_id, key, digest, size in _rows(directory, entries, published_files, wanted):
        found[channel_id].published[key] = (digest, size)
    wanted = ["channel_id", "subdir", "sha256"]
    for channel_id, subdir, digest in _rows(directory, entries, shards, wanted):
        found[channel_id].shards.add(shard_key(subdir, digest))
    for channel_id, snapshot_id in _rows(directory, entries, snapshots, ["channel_id", "id"]):
        found[channel_id].snapshots.add(snapshot_id)
    wanted = ["channel_id", "subdir", "filename", "size", "mtime_ns", "sha256", "origin"]
    for channel_id, subdir, filename, size, mtime_ns, digest, origin in _rows(
        directory, entries, artifacts, wanted
    ):
        if origin == "local":
            found[channel_id].artifacts[f"{subdir}/{filename}"] = ArtifactRef(
                size, mtime_ns, digest
            )
    return sorted(found.values(), key=lambda facts: facts.name)
