"""Read-only queries for browsing a channel (the JSON API and the web UI).

Package summaries come from the cached channeldata entries (CEP 38), so listing a channel does
not decode every record; a package page reads the artifacts of one name, asks which of the names
its specs mention the channel has (`names_present`), and which names depend on it (`used_by`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from sqlalchemy import JSON, ColumnElement, Text, and_, cast, func, or_, select

from stockyard.catalog.base import CatalogPart, rows_in
from stockyard.catalog.schema import artifacts, channeldata_entries, subdirs
from stockyard.types.published_run_exports import published_run_exports

_decode = msgspec.json.Decoder(dict[str, Any]).decode

#: Where a conda match spec's package name ends: a version or build after a space or an
#: operator, a bracket (`name[version='>=1']`), a comma, or a `#` comment.
_SPEC_NAME_END: Final = re.compile(r"[\s=<>!~\[\](),;|#@]")


def spec_name(spec: Any) -> str | None:
    """The package name of a conda match spec (`numpy >=1.21,<2`, `numpy>=1.21`,
    `conda-forge::numpy[version='>=1']`, `python_abi 3.11.* *_cp311` ...), lowercased; None when
    there is none (not a string, empty, `*`). The channel part before `::` is dropped, as conda
    does; everything from the first space, operator or bracket on is the version and build."""
    if not isinstance(spec, str):
        return None
    text = spec.strip()
    if "::" in text:
        text = text.rsplit("::", 1)[1].lstrip()
    name = _SPEC_NAME_END.split(text, maxsplit=1)[0].lower()
    return name if name and name != "*" else None


def _depends(record: dict[str, Any]) -> list[Any]:
    depends = record.get("depends")
    return depends if isinstance(depends, list) else []


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
    #: The run_exports the channel publishes for it (shards, run_exports.json): the artifact's
    #: `info/run_exports.json` unless a patch changed the record's (`published_run_exports`).
    run_exports: dict[str, Any] = field(default_factory=dict)
    #: The record as read from the artifact, when patches changed it (None: unpatched).
    unpatched: dict[str, Any] | None = None


def _prefilter_safe(needle: str) -> bool:
    """Whether `needle` appears verbatim (up to ASCII case) in the encoded channeldata entry of
    any package whose summary contains it: printable ASCII that JSON does not escape. Anything
    else (quotes, backslashes, non-ASCII, whose case folding SQLite does not know) skips the SQL
    prefilter and is matched in Python only."""
    return needle.isascii() and needle.isprintable() and '"' not in needle and "\\" not in needle


def _as_text(column: Any, dialect: str) -> ColumnElement[Any]:
    # Entries and records are UTF-8 JSON in binary columns; PostgreSQL's CAST(bytea AS text)
    # would give hex, so decode it there explicitly.
    if dialect == "postgresql":
        return func.convert_from(column, "UTF8")
    return cast(column, Text)


def _entry_text(dialect: str) -> ColumnElement[Any]:
    return _as_text(channeldata_entries.c.entry, dialect)


def _latest_version(dialect: str) -> ColumnElement[Any]:
    """The `version` of a channeldata entry (the package's newest version), in SQL."""
    if dialect == "postgresql":
        return func.json_extract_path_text(cast(_entry_text(dialect), JSON), "version")
    return func.json_extract(_entry_text(dialect), "$.version")


class BrowsePart(CatalogPart):
    def channel_stats(self, channel_id: int) -> ChannelStats:
        with self.reader.connect() as conn:
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
        with self.reader.connect() as conn:
            return {subdir: int(count) for subdir, count in conn.execute(query)}

    def search_packages(
        self, channel_id: int, query: str = "", *, limit: int = 50, offset: int = 0
    ) -> tuple[int, list[PackageSummary]]:
        """Package names containing `query` (case-insensitive), ordered by name: (total, page)."""
        where = [channeldata_entries.c.channel_id == channel_id]
        if query:
            where.append(channeldata_entries.c.name.contains(query.lower(), autoescape=True))
        with self.reader.connect() as conn:
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
        with self.reader.connect() as conn:
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
        with self.reader.connect() as conn:
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
                artifacts.c.run_exports,
            )
            .where(
                artifacts.c.channel_id == channel_id,
                artifacts.c.name == name,
                artifacts.c.patch_removed.is_(False),
            )
            .order_by(artifacts.c.subdir, artifacts.c.filename)
        )
        with self.reader.connect() as conn:
            rows = conn.execute(query).all()
        return [_artifact_detail(row) for row in rows]

    def names_present(self, channel_id: int, names: Iterable[str]) -> set[str]:
        """Which of `names` the channel has published artifacts of (to link a spec to its
        package page)."""
        query = select(func.distinct(artifacts.c.name)).where(
            artifacts.c.channel_id == channel_id, artifacts.c.patch_removed.is_(False)
        )
        with self.reader.connect() as conn:
            return {row[0] for row in rows_in(conn, query, artifacts.c.name, names)}

    def used_by(self, channel_id: int, name: str) -> list[str]:
        """Other package names of the channel whose newest version (channeldata's `version`)
        has a build whose published record depends on `name`, sorted.

        One query: the database keeps the rows of each name's newest version whose record text
        mentions `name` at all (a superset), and Python keeps those with a `depends` spec naming
        it (`spec_name`), so `numpy-base` or `numpy >=1` in a `constrains` do not count.
        """
        dialect = self.engine.dialect.name
        mentions = [
            _as_text(column, dialect).icontains(name, autoescape=True)
            for column in (artifacts.c.record, artifacts.c.patched)
        ]
        query = (
            select(artifacts.c.name, artifacts.c.record, artifacts.c.patched)
            .join(
                channeldata_entries,
                and_(
                    channeldata_entries.c.channel_id == artifacts.c.channel_id,
                    channeldata_entries.c.name == artifacts.c.name,
                ),
            )
            .where(
                artifacts.c.channel_id == channel_id,
                artifacts.c.name != name,
                artifacts.c.patch_removed.is_(False),
                artifacts.c.version == _latest_version(dialect),
                or_(*mentions),
            )
        )
        with self.reader.connect() as conn:
            rows = conn.execute(query).all()
        found = set()
        for other, record, patched in rows:
            published = _decode(bytes(patched if patched is not None else record))
            if any(spec_name(spec) == name for spec in _depends(published)):
                found.add(other)
        return sorted(found)


def _artifact_detail(row: Any) -> ArtifactDetail:
    subdir, filename, version, build, size, sha256, md5, stamp, record, patched, about, exports = (
        row
    )
    record, patched = bytes(record), bytes(patched) if patched is not None else None
    return ArtifactDetail(
        subdir=subdir,
        filename=filename,
        version=version,
        build=build,
        size=int(size),
        sha256=sha256,
        md5=md5,
        indexed_timestamp=int(stamp),
        record=_decode(patched if patched is not None else record),
        about=_decode(bytes(about)) if about is not None else None,
        run_exports=published_run_exports(
            record, patched, bytes(exports) if exports is not None else None
        ),
        unpatched=_decode(record) if patched is not None else None,
    )


__all__ = ["ArtifactDetail", "BrowsePart", "ChannelStats", "PackageSummary", "spec_name"]
