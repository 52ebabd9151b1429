"""Read-only queries for browsing a channel (the JSON API and the web UI).

Package summaries come from the cached channeldata entries (CEP 38), so listing a channel does
not decode every record; a package page reads the artifacts of one name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Text, cast, func, or_, select

from stockyard.catalog.base import CatalogPart
from stockyard.catalog.schema import artifacts, channeldata_entries, subdirs

_decode = msgspec.json.Decoder(dict[str, Any]).decode


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


def _prefilter_safe(needle: str) -> bool:
    """Whether `needle` appears verbatim (up to ASCII case) in the encoded channeldata entry of
    any package whose summary contains it: printable ASCII that JSON does not escape. Anything
    else (quotes, backslashes, non-ASCII, whose case folding SQLite does not know) skips the SQL
    prefilter and is matched in Python only."""
    return needle.isascii() and needle.isprintable() and '"' not in needle and "\\" not in needle


def _entry_text(dialect: str) -> ColumnElement[Any]:
    # The entry is UTF-8 JSON in a binary column; PostgreSQL's CAST(bytea AS text) would give
    # hex, so decode it there explicitly.
    if dialect == "postgresql":
        return func.convert_from(channeldata_entries.c.entry, "UTF8")
    return cast(channeldata_entries.c.entry, Text)


class BrowsePart(CatalogPart):
    def channel_stats(self, channel_id: int) -> ChannelStats:
        with self.engine.connect() as conn:
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

    def subdir_package_counts(self, channel_id: int) -> dict[str, int]:
        """Distinct package names per subdir (patch-removed artifacts left out), by subdir."""
        query = (
            select(artifacts.c.subdir, func.count(func.distinct(artifacts.c.name)))
            .where(artifacts.c.channel_id == channel_id, artifacts.c.patch_removed.is_(False))
            .group_by(artifacts.c.subdir)
        )
        with self.engine.connect() as conn:
            return {subdir: int(count) for subdir, count in conn.execute(query)}

    def search_packages(
        self, channel_id: int, query: str = "", *, limit: int = 50, offset: int = 0
    ) -> tuple[int, list[PackageSummary]]:
        """Package names containing `query` (case-insensitive), ordered by name: (total, page)."""
        where = [channeldata_entries.c.channel_id == channel_id]
        if query:
            where.append(channeldata_entries.c.name.contains(query.lower(), autoescape=True))
        with self.engine.connect() as conn:
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

    def search_name_or_summary(
        self, channel_id: int, query: str, *, limit: int = 50, offset: int = 0
    ) -> tuple[int, list[PackageSummary]]:
        """Packages whose name or summary contains `query` (case-insensitive), ordered by name:
        (total, page). (`search_packages` matches names only.)

        The database narrows the candidates to entries whose JSON text contains the query
        anywhere (a superset), then Python keeps those that match in the name or the summary.
        """
        needle = query.casefold()
        statement = (
            select(channeldata_entries.c.name, channeldata_entries.c.entry)
            .where(channeldata_entries.c.channel_id == channel_id)
            .order_by(channeldata_entries.c.name)
        )
        if _prefilter_safe(query):
            statement = statement.where(
                or_(
                    channeldata_entries.c.name.icontains(query, autoescape=True),
                    _entry_text(self.engine.dialect.name).icontains(query, autoescape=True),
                )
            )
        with self.engine.connect() as conn:
            rows = conn.execute(statement).all()
        matches = []
        for name, raw in rows:
            entry = _decode(bytes(raw))
            summary = entry.get("summary")
            if needle in name.casefold() or (
                isinstance(summary, str) and needle in summary.casefold()
            ):
                matches.append(PackageSummary(name, entry))
        return len(matches), matches[offset : offset + limit]

    def package_entry(self, channel_id: int, name: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(channeldata_entries.c.entry).where(
                    channeldata_entries.c.channel_id == channel_id,
                    channeldata_entries.c.name == name,
                )
            ).first()
        return _decode(bytes(row[0])) if row else None

    def package_artifacts(self, channel_id: int, name: str) -> list[ArtifactDetail]:
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
        with self.engine.connect() as conn:
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


__all__ = ["ArtifactDetail", "BrowsePart", "ChannelStats", "PackageSummary"]
