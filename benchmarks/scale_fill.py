"""Fill a channel's catalog with N records directly, the way a mirror ingests upstream repodata.

Records come from the real metadata in tests/data, multiplied into distinct names and builds
(about 25,000 package names, like conda-forge) and spread over five subdirs in conda-forge-like
proportions. The artifacts are not on disk (origin "mirror"), so the indexer does not treat them
as removed.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

from stockyard.catalog import ArtifactRow, Catalog, sqlite_url
from stockyard.index.run import catalog_channel_name
from stockyard.index.workspace import STATE_DIR
from stockyard.testing.corpus import load_shared_records
from stockyard.types.encoding import encode_json

SUBDIRS = (("linux-64", 0.4), ("noarch", 0.3), ("osx-64", 0.1), ("osx-arm64", 0.1), ("win-64", 0.1))
NAME_VARIANTS = 3


def _rows(records: list[tuple[str, dict]], count: int, subdir: str, offset: int):
    base_n = len(records)
    for i in range(count):
        j = offset + i
        _, base = records[j % base_n]
        round_ = j // base_n
        name = (
            base["name"]
            if round_ % NAME_VARIANTS == 0
            else f"{base['name']}-v{round_ % NAME_VARIANTS}"
        )
        build = f"{base['build']}_s{round_}"
        version = base["version"]
        filename = f"{name}-{version}-{build}.conda"
        digest = hashlib.sha256(filename.encode()).hexdigest()
        record = {k: v for k, v in base.items() if k not in {"md5", "sha256", "size", "subdir"}}
        record.update(
            name=name,
            build=build,
            subdir=subdir,
            md5=digest[:32],
            sha256=digest,
            size=1000 + j % 5000,
            indexed_timestamp=1700000000000 + j,
        )
        if subdir == "noarch":
            record["noarch"] = "generic"
        yield ArtifactRow(
            subdir=subdir,
            filename=filename,
            name=name,
            version=version,
            build=build,
            size=record["size"],
            mtime_ns=0,
            sha256=digest,
            md5=digest[:32],
            record=encode_json(record),
            run_exports=encode_json({"weak": [f"{name} >={version}"]}) if j % 7 == 0 else None,
            indexed_timestamp=record["indexed_timestamp"],
            origin="mirror",
        )


def fill_rows(
    catalog: Catalog,
    channel_id: int,
    total: int,
    *,
    subdirs: tuple[tuple[str, float], ...] = SUBDIRS,
    batch: int = 20000,
) -> dict[str, int]:
    """Insert `total` records into a channel of any catalog (SQLite or PostgreSQL), spread over
    `subdirs` by share; returns the count per subdir (benchmarks/scale.py uses it too)."""
    records = load_shared_records()
    offset = 0
    counts: dict[str, int] = {}
    for subdir, share in subdirs:
        count = int(total * share)
        pending = []
        for row in _rows(records, count, subdir, offset):
            pending.append(row)
            if len(pending) >= batch:
                catalog.apply_changes(channel_id, subdir, upserts=pending)
                pending = []
        if pending:
            catalog.apply_changes(channel_id, subdir, upserts=pending)
        offset += count
        counts[subdir] = count
    return counts


def settle_after_bulk_load(catalog: Catalog) -> None:
    """What a database does after a bulk load, done now rather than by its background workers
    in the middle of a measurement: on PostgreSQL `VACUUM (ANALYZE)` (autovacuum would otherwise
    vacuum the million freshly inserted rows, throttled, while the publishes are timed; a
    catalog that grew to this size over time has long been vacuumed), on SQLite `ANALYZE`."""
    from sqlalchemy import text

    engine = catalog.engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("VACUUM (ANALYZE)"))
        else:
            conn.execute(text("ANALYZE"))


def fill_catalog(channel_dir: Path, total: int, batch: int = 20000) -> None:
    state = channel_dir / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    catalog = Catalog.open(sqlite_url(state / "catalog.db"))
    channel = catalog.ensure_channel(catalog_channel_name(channel_dir.resolve().name))
    started = time.perf_counter()
    counts = fill_rows(catalog, channel.id, total, batch=batch)
    for subdir in counts:
        (channel_dir / subdir).mkdir(exist_ok=True)
    catalog.close()
    filled = sum(counts.values())
    print(f"filled {filled} records in {time.perf_counter() - started:.1f}s", file=sys.stderr)
