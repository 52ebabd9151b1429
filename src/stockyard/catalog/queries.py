"""Read-only queries for browsing a channel (the JSON API and the web UI).

Package summaries come from the cached channeldata entries (CEP 38), so listing a channel does
not decode every record; a package page reads the artifacts of one name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import func, select

from stockyard.catalog.schema import artifacts, channeldata_entries, subdirs
from stockyard.catalog.store import Catalog

_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True, slots=True)
class ChannelStats:
    subdirs: list[str]
    package_count: int
    artifact_count: int
    #: Newest indexed_timestamp (ms) of the channel's artifacts; None when empty.
    last_upload: int | None


@dataclass(frozen=True, slots=True)
class PackageSummary:
    name: str
    #: The channeldata entry (latest version, summary, license, subdirs, ...).
    entry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ArtifactDetail:
    subdir: str
    filename: str
    version: str
    build: str
    size: int
    sha256: str
    md5: str
    indexed_timestamp: int
    #: The published (patched) record.
    record: dict[str, Any]
    about: dict[str, Any] | None


def channel_stats(catalog: Catalog, channel_id: int) -> ChannelStats:
    with catalog.engine.connect() as conn:
        subdir_names = sorted(
            r[0]
            for r in conn.execute(
                select(subdirs.c.subdir).where(subdirs.c.channel_id == channel_id)
            )
        )
        names, count, newest = conn.execute(
            select(
                func.count(func.distinct(artifacts.c.name)),
                func.count(),
                func.max(artifacts.c.indexed_timestamp),
            ).where(artifacts.c.channel_id == channel_id)
        ).one()
    return ChannelStats(subdir_names, int(names), int(count), newest)


def search_packages(
    catalog: Catalog, channel_id: int, query: str = "", *, limit: int = 50, offset: int = 0
) -> tuple[int, list[PackageSummary]]:
    """Package names containing `query` (case-insensitive), ordered by name: (total, page)."""
    where = [channeldata_entries.c.channel_id == channel_id]
    if query:
        where.append(channeldata_entries.c.name.contains(query.lower(), autoescape=True))
    with catalog.engine.connect() as conn:
        total = conn.execute(
            select(func.count()).select_from(channeldata_entries).where(*where)
        ).scalar_one()
        rows = conn.execute(
            select(channeldata_entries.c.name, channeldata_entries.c.entry)
            .where(*where)
            .order_by(channeldata_entries.c.name)
            .limit(limit)
            .offset(offset)
        ).all()
    return int(total), [PackageSummary(name, _decode(bytes(entry))) for name, entry in rows]


def package_entry(catalog: Catalog, channel_id: int, name: str) -> dict[str, Any] | None:
    with catalog.engine.connect() as conn:
        row = conn.execute(
            select(channeldata_entries.c.entry).where(
                channeldata_entries.c.channel_id == channel_id,
                channeldata_entries.c.name == name,
            )
        ).first()
    return _decode(bytes(row[0])) if row else None


def package_artifacts(catalog: Catalog, channel_id: int, name: str) -> list[ArtifactDetail]:
    """Every published artifact of `name` in every subdir (patch-removed ones left out)."""
    query = (
        select(
            artifacts.c.subdir,
            artifacts.c.filename,
            artifacts.c.version,
            artifacts.c.build,
            artifacts.c.size,
            artifacts.c.sha256,
            artifacts.c.md5,
            artifacts.c.indexed_timestamp,
            artifacts.c.record,
            artifacts.c.patched,
            artifacts.c.about,
        )
        .where(
            artifacts.c.channel_id == channel_id,
            artifacts.c.name == name,
            artifacts.c.patch_removed.is_(False),
        )
        .order_by(artifacts.c.subdir, artifacts.c.filename)
    )
    with catalog.engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for subdir, filename, version, build, size, sha, md5, stamp, rec, patched, about in rows:
        out.append(
            ArtifactDetail(
                subdir=subdir,
                filename=filename,
                version=version,
                build=build,
                size=int(size),
                sha256=sha,
                md5=md5,
                indexed_timestamp=int(stamp),
                record=_decode(bytes(patched if patched is not None else rec)),
                about=_decode(bytes(about)) if about is not None else None,
            )
        )
    return out


__all__ = [
    "ArtifactDetail",
    "ChannelStats",
    "PackageSummary",
    "channel_stats",
    "package_artifacts",
    "package_entry",
    "search_packages",
]
