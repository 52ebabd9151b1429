"""Two catalog reads the web UI needs beyond `catalog.queries`: package counts per subdir, and a
search on package name *or* summary (the API's `search_packages` matches names only).
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Text, cast, func, or_, select

from stockyard.catalog import Catalog
from stockyard.catalog.queries import PackageSummary
from stockyard.catalog.schema import artifacts, channeldata_entries

_decode = msgspec.json.Decoder().decode


def subdir_package_counts(catalog: Catalog, channel_id: int) -> dict[str, int]:
    """Distinct package names per subdir (patch-removed artifacts left out), by subdir."""
    query = (
        select(artifacts.c.subdir, func.count(func.distinct(artifacts.c.name)))
        .where(artifacts.c.channel_id == channel_id, artifacts.c.patch_removed.is_(False))
        .group_by(artifacts.c.subdir)
    )
    with catalog.engine.connect() as conn:
        return {subdir: int(count) for subdir, count in conn.execute(query)}


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


def search_name_or_summary(
    catalog: Catalog, channel_id: int, query: str, *, limit: int = 50, offset: int = 0
) -> tuple[int, list[PackageSummary]]:
    """Packages whose name or summary contains `query` (case-insensitive), ordered by name:
    (total, page).

    The database narrows the candidates to entries whose JSON text contains the query anywhere
    (a superset), then Python keeps those that match in the name or the summary.
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
                _entry_text(catalog.engine.dialect.name).icontains(query, autoescape=True),
            )
        )
    with catalog.engine.connect() as conn:
        rows = conn.execute(statement).all()
    matches = []
    for name, raw in rows:
        entry = _decode(bytes(raw))
        summary = entry.get("summary")
        if needle in name.casefold() or (isinstance(summary, str) and needle in summary.casefold()):
            matches.append(PackageSummary(name, entry))
    return len(matches), matches[offset : offset + limit]


__all__ = ["search_name_or_summary", "subdir_package_counts"]
