"""The scan store: one SQLite file (default `<data_dir>/scan.db`) holding what identification
found per artifact sha256, the loaded OSV advisories, and the findings matching them.

Why not catalog tables: scan results are content-addressed (an artifact's sha256, whichever
channel or catalog holds it: a served channel's catalog, or a channel directory's own), the
advisory set is large and replaced wholesale on each `scan db update`, and it is a cache that
can always be rebuilt from the artifacts and an OSV export. So it is its own database, outside
the catalog's transactions and schema versions.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import msgspec

from stockyard.scan.model import SCANNER_VERSION, Finding, Identification, Severity
from stockyard.scan.osv import Advisory
from stockyard.types.errors import NotFound

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS scans (
    sha256 TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    scanner_version INTEGER NOT NULL,
    scanned_at INTEGER NOT NULL,
    error TEXT,
    identification BLOB
);
CREATE TABLE IF NOT EXISTS components (
    sha256 TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    purl TEXT NOT NULL,
    PRIMARY KEY (sha256, purl)
);
CREATE INDEX IF NOT EXISTS ix_components_name ON components (ecosystem, name, version);
CREATE TABLE IF NOT EXISTS advisories (
    id TEXT PRIMARY KEY,
    document BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS advisory_names (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    advisory_id TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, advisory_id)
);
CREATE INDEX IF NOT EXISTS ix_advisory_names_id ON advisory_names (advisory_id);
CREATE TABLE IF NOT EXISTS findings (
    sha256 TEXT NOT NULL,
    purl TEXT NOT NULL,
    advisory_id TEXT NOT NULL,
    fixed TEXT NOT NULL,
    PRIMARY KEY (sha256, purl, advisory_id)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_identification = msgspec.json.Decoder(Identification)
_advisory = msgspec.json.Decoder(Advisory)
_encode = msgspec.json.encode
#: SQLite's default limit on bound parameters is 32766; stay well below it.
_CHUNK: Final = 900

Triple = tuple[str, str, str]  # (ecosystem, name, version)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class ScanStore:
    """Scan results, advisories and findings; every method is one transaction."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        if not create and not path.exists():
            raise NotFound(
                f"no scan database at {path}",
                hint="Run 'stockyard scan db update --from PATH' and 'stockyard scan run' first.",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- identifications ------------------------------------------------------------------

    def scanned(self, sha256s: Iterable[str]) -> set[str]:
        """Which of `sha256s` were scanned by the current scanner (errors included)."""
        wanted = sorted(set(sha256s))
        found: set[str] = set()
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT sha256 FROM scans WHERE scanner_version = ? AND sha256 IN ({marks})",
                (SCANNER_VERSION, *chunk),
            )
            found.update(row[0] for row in rows)
        return found

    def put_identifications(self, identifications: Sequence[Identification]) -> None:
        """Store scan results, replacing older ones of the same sha256 (and their findings)."""
        now = int(time.time())
        with self._transaction() as db:
            for ident in identifications:
                _forget(db, ident.sha256)
                db.execute(
                    "INSERT INTO scans VALUES (?, ?, ?, ?, NULL, ?)",
                    (ident.sha256, ident.filename, SCANNER_VERSION, now, _encode(ident)),
                )
                db.executemany(
                    "INSERT OR IGNORE INTO components VALUES (?, ?, ?, ?, ?)",
                    [
                        (ident.sha256, c.ecosystem, c.name, c.version, c.purl)
                        for c in ident.components
                    ],
                )

    def put_error(self, sha256: str, filename: str, message: str) -> None:
        """An artifact that could not be read: remembered, so it is not read on every run."""
        with self._transaction() as db:
            _forget(db, sha256)
            db.execute(
                "INSERT INTO scans VALUES (?, ?, ?, ?, ?, NULL)",
                (sha256, filename, SCANNER_VERSION, int(time.time()), message),
            )

    def identification(self, sha256: str) -> Identification | None:
        row = self._db.execute(
            "SELECT identification FROM scans WHERE sha256 = ?", (sha256,)
        ).fetchone()
        return None if row is None or row[0] is None else _identification.decode(row[0])

    def scan_errors(self, sha256s: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in _chunks(sorted(set(sha256s))):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT sha256, error FROM scans WHERE error IS NOT NULL AND sha256 IN ({marks})",
                tuple(chunk),
            )
            out.update((sha, error) for sha, error in rows)
        return out

    def scan_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM scans").fetchone()[0])

    # --- advisories -----------------------------------------------------------------------

    def replace_advisories(self, advisories: Sequence[Advisory], *, ecosystems: set[str]) -> int:
        """Load `advisories`; with `ecosystems`, first drop every advisory naming one of them
        (an OSV export is complete per ecosystem). Returns how many advisories are stored."""
        with self._transaction() as db:
            for ecosystem in sorted(ecosystems):
                db.execute(
                    "DELETE FROM advisories WHERE id IN "
                    "(SELECT advisory_id FROM advisory_names WHERE ecosystem = ?)",
                    (ecosystem,),
                )
            db.execute(
                "DELETE FROM advisory_names WHERE advisory_id NOT IN (SELECT id FROM advisories)"
            )
            for advisory in advisories:
                db.execute("DELETE FROM advisory_names WHERE advisory_id = ?", (advisory.id,))
                db.execute(
                    "INSERT OR REPLACE INTO advisories VALUES (?, ?)",
                    (advisory.id, _encode(advisory)),
                )
                names = {(a.ecosystem, a.name) for a in advisory.affected}
                db.executemany(
                    "INSERT OR IGNORE INTO advisory_names VALUES (?, ?, ?)",
                    [(eco, name, advisory.id) for eco, name in sorted(names)],
                )
            return int(db.execute("SELECT count(*) FROM advisories").fetchone()[0])

    def advisory_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM advisories").fetchone()[0])

    def advisories(self, ids: Iterable[str]) -> dict[str, Advisory]:
        out: dict[str, Advisory] = {}
        for chunk in _chunks(sorted(set(ids))):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT id, document FROM advisories WHERE id IN ({marks})", tuple(chunk)
            )
            out.update((key, _advisory.decode(doc)) for key, doc in rows)
        return out

    def advisories_by_name(self, ecosystem: str, names: Iterable[str]) -> dict[str, list[str]]:
        """Advisory ids per package name of `ecosystem`."""
        out: dict[str, list[str]] = {}
        for chunk in _chunks(sorted(set(names))):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT name, advisory_id FROM advisory_names "
                f"WHERE ecosystem = ? AND name IN ({marks})",
                (ecosystem, *chunk),
            )
            for name, advisory_id in rows:
                out.setdefault(name, []).append(advisory_id)
        return out

    # --- findings -------------------------------------------------------------------------

    def candidate_triples(self, sha256s: Sequence[str] | None = None) -> list[Triple]:
        """Distinct (ecosystem, name, version) of stored components that some advisory names;
        of the artifacts `sha256s`, or of every artifact."""
        query = (
            "SELECT DISTINCT c.ecosystem, c.name, c.version FROM components c JOIN "
            "advisory_names a ON a.ecosystem = c.ecosystem AND a.name = c.name"
        )
        if sha256s is None:
            return [tuple(row) for row in self._db.execute(query)]
        out: set[Triple] = set()
        for chunk in _chunks(sorted(set(sha256s))):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"{query} WHERE c.sha256 IN ({marks})", tuple(chunk))
            out.update((eco, name, version) for eco, name, version in rows)
        return sorted(out)

    def replace_findings(
        self,
        matches: dict[Triple, list[tuple[str, tuple[str, ...]]]],
        sha256s: Sequence[str] | None,
    ) -> int:
        """Store the findings of `matches` ((ecosystem, name, version) -> [(advisory id, fixed
        versions)]) for every component with that triple: of the artifacts `sha256s` (their
        old findings replaced), or of all (every old finding replaced). Returns how many."""
        with self._transaction() as db:
            if sha256s is None:
                db.execute("DELETE FROM findings")
            else:
                db.executemany("DELETE FROM findings WHERE sha256 = ?", [(s,) for s in sha256s])
            inserted = 0
            scopes = [None] if sha256s is None else list(_chunks(list(sha256s)))
            for chunk in scopes:
                scope, params = _scope(chunk)
                for (eco, name, version), hits in matches.items():
                    for advisory_id, fixed in hits:
                        inserted += db.execute(
                            "INSERT OR IGNORE INTO findings SELECT sha256, purl, ?, ? "
                            "FROM components WHERE ecosystem = ? AND name = ? AND version = ?"
                            + scope,
                            (
                                advisory_id,
                                _encode(list(fixed)).decode(),
                                eco,
                                name,
                                version,
                                *params,
                            ),
                        ).rowcount
            return inserted

    def findings(self, sha256s: Iterable[str]) -> dict[str, list[Finding]]:
        """The findings of each artifact, with the advisory's severity and summary."""
        out: dict[str, list[Finding]] = {}
        rows: list[tuple[str, str, str, str]] = []
        for chunk in _chunks(sorted(set(sha256s))):
            marks = ",".join("?" * len(chunk))
            rows.extend(
                self._db.execute(
                    "SELECT sha256, purl, advisory_id, fixed FROM findings "
                    f"WHERE sha256 IN ({marks}) ORDER BY sha256, purl, advisory_id",
                    tuple(chunk),
                )
            )
        advisories = self.advisories(row[2] for row in rows)
        for sha256, purl, advisory_id, fixed in rows:
            advisory = advisories.get(advisory_id)
            if advisory is None:
                continue
            out.setdefault(sha256, []).append(_finding(advisory, purl, fixed))
        return out

    # --- metadata -------------------------------------------------------------------------

    def set_meta(self, values: dict[str, str]) -> None:
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())


def _forget(db: sqlite3.Connection, sha256: str) -> None:
    for table in ("scans", "components", "findings"):
        db.execute(f"DELETE FROM {table} WHERE sha256 = ?", (sha256,))


def _scope(sha256s: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    if sha256s is None:
        return "", ()
    return f" AND sha256 IN ({','.join('?' * len(sha256s))})", tuple(sha256s)


def _finding(advisory: Advisory, purl: str, fixed: str) -> Finding:
    severity: Severity = advisory.severity
    return Finding(
        advisory_id=advisory.id,
        purl=purl,
        severity=severity,
        score=advisory.score,
        summary=advisory.summary,
        aliases=advisory.aliases,
        fixed=tuple(msgspec.json.decode(fixed)),
    )


#: The scan store's file in a data directory.
SCAN_DB_NAME: Final = "scan.db"


def default_scan_db(data_dir: Path) -> Path:
    return data_dir / SCAN_DB_NAME
