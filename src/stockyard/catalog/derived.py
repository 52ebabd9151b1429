"""Derived state that makes publishing O(change): shard hashes (CEP 16), cached channeldata
entries (CEP 38), and the hashes of published files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select

from stockyard.catalog.base import CatalogPart, chunks, replace_by_key, rows_in
from stockyard.catalog.rows import NameSummaryRow
from stockyard.catalog.schema import artifacts, channeldata_entries, published_files, shards

_SUMMARY_COLUMNS = tuple(artifacts.c[name] for name in NameSummaryRow._fields)


class DerivedPart(CatalogPart):
    # --- shards -------------------------------------------------------------------------------

    def shard_hashes(self, channel_id: int, subdir: str) -> dict[str, str]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(shards.c.name, shards.c.sha256).where(
                    shards.c.channel_id == channel_id, shards.c.subdir == subdir
                )
            ).all()
        return {name: digest for name, digest in rows}

    def set_shard_hashes(
        self, channel_id: int, subdir: str, updates: Mapping[str, str | None]
    ) -> None:
        rows = {n: {"sha256": h} if h is not None else None for n, h in updates.items()}
        with self.engine.begin() as conn:
            replace_by_key(conn, shards, {"channel_id": channel_id, "subdir": subdir}, "name", rows)

    # --- channeldata --------------------------------------------------------------------------

    def channel_names_summary(self, channel_id: int, names: Iterable[str]) -> list[NameSummaryRow]:
        """Everything channeldata needs about the artifacts of `names`, in every subdir."""
        query = select(*_SUMMARY_COLUMNS).where(artifacts.c.channel_id == channel_id)
        with self.reader.connect() as conn:
            return [
                NameSummaryRow._make(row) for row in rows_in(conn, query, artifacts.c.name, names)
            ]

    def channeldata_entries(self, channel_id: int) -> dict[str, bytes]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(channeldata_entries.c.name, channeldata_entries.c.entry).where(
                    channeldata_entries.c.channel_id == channel_id
                )
            ).all()
        return {n: bytes(e) for n, e in rows}

    def set_channeldata_entries(self, channel_id: int, updates: Mapping[str, bytes | None]) -> None:
        rows = {n: {"entry": e} if e is not None else None for n, e in updates.items()}
        with self.engine.begin() as conn:
            replace_by_key(conn, channeldata_entries, {"channel_id": channel_id}, "name", rows)

    # --- published files ----------------------------------------------------------------------

    def published_hashes(
        self, channel_id: int, keys: Iterable[str] | None = None
    ) -> dict[str, str]:
        query = select(published_files.c.key, published_files.c.sha256).where(
            published_files.c.channel_id == channel_id
        )
        out: dict[str, str] = {}
        with self.reader.connect() as conn:
            if keys is None:
                return {key: digest for key, digest in conn.execute(query)}
            for chunk in chunks(list(keys)):
                out.update(conn.execute(query.where(published_files.c.key.in_(chunk))).tuples())
        return out

    def record_published(self, channel_id: int, entries: Iterable[tuple[str, str, int]]) -> None:
        rows = {k: {"sha256": h, "size": size} for k, h, size in entries}
        with self.engine.begin() as conn:
            replace_by_key(conn, published_files, {"channel_id": channel_id}, "key", rows)
