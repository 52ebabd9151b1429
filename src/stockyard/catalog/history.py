"""Patch-set versions and snapshots of a channel (`HistoryPart`): rows only; the files live in
the channel's directory (see stockyard.patchsets and stockyard.snapshots)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, func, insert, or_, select, update

from stockyard.catalog.base import CatalogPart, now_ms
from stockyard.catalog.schema import (
    artifact_history,
    artifacts,
    patch_set_log,
    patch_sets,
    snapshots,
)
from stockyard.types.errors import NotFound


@dataclass(frozen=True, slots=True)
class PatchSetRow:
    version: int
    kind: str
    sha256: str
    size: int
    created_at: int
    created_by: str | None
    path: str
    active_from: int | None
    active_until: int | None

    @property
    def active(self) -> bool:
        return self.active_from is not None and self.active_until is None


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    id: str
    created_at: int
    created_by: str | None
    patch_set_version: int | None
    subdirs: list[str]
    record_count: int
    description: str | None


_PATCH_COLUMNS = [patch_sets.c[name] for name in PatchSetRow.__dataclass_fields__]
_SNAPSHOT_COLUMNS = [snapshots.c[name] for name in SnapshotRow.__dataclass_fields__]


class HistoryPart(CatalogPart):
    # --- patch sets ------------------------------------------------------------------------

    def add_patch_set(
        self, channel_id: int, *, kind: str, sha256: str, size: int, path: str, by: str | None
    ) -> PatchSetRow:
        """Store a new (inactive) version, numbered after the newest."""
        with self.engine.begin() as conn:
            newest = conn.execute(
                select(func.max(patch_sets.c.version)).where(patch_sets.c.channel_id == channel_id)
            ).scalar()
            version = (newest or 0) + 1
            conn.execute(
                insert(patch_sets).values(
                    channel_id=channel_id,
                    version=version,
                    kind=kind,
                    sha256=sha256,
                    size=size,
                    created_at=now_ms(),
                    created_by=by,
                    path=path,
                )
            )
        return self.patch_set(channel_id, version)

    def set_patch_set_path(self, channel_id: int, version: int, path: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(patch_sets)
                .where(patch_sets.c.channel_id == channel_id, patch_sets.c.version == version)
                .values(path=path)
            )

    def patch_set(self, channel_id: int, version: int) -> PatchSetRow:
        with self.reader.connect() as conn:
            row = conn.execute(
                select(*_PATCH_COLUMNS).where(
                    patch_sets.c.channel_id == channel_id, patch_sets.c.version == version
                )
            ).first()
        if row is None:
            raise NotFound(
                f"patch set version {version} does not exist",
                hint="List the versions with GET /api/channels/<channel>/patches.",
            )
        return PatchSetRow(*row)

    def patch_sets(self, channel_id: int) -> list[PatchSetRow]:
        """Every version, newest first."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(*_PATCH_COLUMNS)
                .where(patch_sets.c.channel_id == channel_id)
                .order_by(patch_sets.c.version.desc())
            ).all()
        return [PatchSetRow(*row) for row in rows]

    def mark_patch_set_active(self, channel_id: int, version: int | None, at: int) -> None:
        """`version` in force from `at` (None: no stored patch set), the previous one until then."""
        with self.engine.begin() as conn:
            conn.execute(
                update(patch_sets)
                .where(
                    patch_sets.c.channel_id == channel_id,
                    patch_sets.c.active_from.is_not(None),
                    patch_sets.c.active_until.is_(None),
                )
                .values(active_until=at)
            )
            conn.execute(
                insert(patch_set_log).values(channel_id=channel_id, at=at, version=version)
            )
            if version is not None:
                conn.execute(
                    update(patch_sets)
                    .where(patch_sets.c.channel_id == channel_id, patch_sets.c.version == version)
                    .values(active_from=at, active_until=None)
                )

    def patch_set_at(self, channel_id: int, at: int) -> tuple[bool, PatchSetRow | None]:
        """(whether any stored patch set was ever put in force by T, the one in force at T)."""
        query = (
            select(patch_set_log.c.version)
            .where(patch_set_log.c.channel_id == channel_id, patch_set_log.c.at <= at)
            .order_by(patch_set_log.c.at.desc(), patch_set_log.c.id.desc())
            .limit(1)
        )
        with self.reader.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return False, None
        return True, self.patch_set(channel_id, row[0]) if row[0] is not None else None

    def active_patch_set(self, channel_id: int) -> PatchSetRow | None:
        found = [row for row in self.patch_sets(channel_id) if row.active]
        return found[0] if found else None

    # --- snapshots -------------------------------------------------------------------------

    def add_snapshot(self, channel_id: int, row: SnapshotRow) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(snapshots).values(
                    channel_id=channel_id,
                    id=row.id,
                    created_at=row.created_at,
                    created_by=row.created_by,
                    patch_set_version=row.patch_set_version,
                    subdirs=",".join(row.subdirs),
                    record_count=row.record_count,
                    description=row.description,
                )
            )

    def snapshots(self, channel_id: int) -> list[SnapshotRow]:
        """Every snapshot, newest first."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(*_SNAPSHOT_COLUMNS)
                .where(snapshots.c.channel_id == channel_id)
                .order_by(snapshots.c.created_at.desc(), snapshots.c.id.desc())
            ).all()
        return [_snapshot(row) for row in rows]

    def snapshot(self, channel_id: int, snapshot_id: str) -> SnapshotRow:
        for row in self.snapshots(channel_id):
            if row.id == snapshot_id:
                return row
        raise NotFound(
            f"snapshot {snapshot_id[:80]!r} does not exist",
            hint="List them with GET /api/channels/<channel>/snapshots.",
        )

    def delete_snapshot(self, channel_id: int, snapshot_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(snapshots).where(
                    snapshots.c.channel_id == channel_id, snapshots.c.id == snapshot_id
                )
            )


class AsOfPart(CatalogPart):
    """What a channel subdir held at a time T (milliseconds): the live rows that had arrived
    by T and the history rows that had arrived by T and left after it."""

    def records_as_of(self, channel_id: int, subdir: str, at: int) -> list[tuple[str, bytes]]:
        live = select(artifacts.c.filename, artifacts.c.record).where(
            artifacts.c.channel_id == channel_id,
            artifacts.c.subdir == subdir,
            artifacts.c.indexed_timestamp <= at,
        )
        gone = select(artifact_history.c.filename, artifact_history.c.record).where(
            artifact_history.c.channel_id == channel_id,
            artifact_history.c.subdir == subdir,
            artifact_history.c.indexed_timestamp <= at,
            artifact_history.c.removed_at > at,
        )
        with self.reader.connect() as conn:
            rows = [*conn.execute(live), *conn.execute(gone)]
        # A filename replaced after T: the history row is what was there at T.
        return sorted({filename: bytes(record) for filename, record in rows}.items())

    def removed_as_of(self, channel_id: int, subdir: str, at: int) -> list[str]:
        """Filenames that had left by T (repodata `removed` as it was)."""
        query = select(artifact_history.c.filename).where(
            artifact_history.c.channel_id == channel_id,
            artifact_history.c.subdir == subdir,
            artifact_history.c.removed_at <= at,
        )
        with self.reader.connect() as conn:
            return sorted({row[0] for row in conn.execute(query)})

    def last_change_before(self, channel_id: int, subdir: str, at: int) -> int:
        """The time of the subdir's last arrival or departure at or before T (0: none): two
        times with the same last change see the same records."""
        arrived = select(func.max(artifacts.c.indexed_timestamp)).where(
            artifacts.c.channel_id == channel_id,
            artifacts.c.subdir == subdir,
            artifacts.c.indexed_timestamp <= at,
        )
        history = artifact_history.c
        mine = and_(history.channel_id == channel_id, history.subdir == subdir)
        moved = select(
            func.max(func.coalesce(history.removed_at, 0)),
            func.max(history.indexed_timestamp),
        ).where(mine, or_(history.removed_at <= at, history.indexed_timestamp <= at))
        with self.reader.connect() as conn:
            latest = int(conn.execute(arrived).scalar() or 0)
            left, came = conn.execute(moved).one()
        candidates = [latest, *(int(v) for v in (left, came) if v is not None and v <= at)]
        return max(candidates)


def _snapshot(row: tuple[object, ...]) -> SnapshotRow:
    values = list(row)
    values[4] = [s for s in str(values[4]).split(",") if s]
    return SnapshotRow(*values)  # type: ignore[arg-type]
