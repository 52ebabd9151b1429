"""CEP 16 sharded repodata: one content-addressed shard per package name, and the shard index.

Shard records are the published (patched) records with `md5`/`sha256`/`legacy_bz2_md5` as raw
bytes and CEP 21 `run_exports` always present (`{}` when the artifact exports nothing), so a
client never has to fetch run_exports.json. `run_exports` is the patched record's when a patch
set it (`types.published_run_exports`), else the artifact's. Records with CEP 43/44/45 syntax go
under the shard's `v3` key (CEP 48, `publish.revisions`), as in repodata.json.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from stockyard.catalog import PublishRow
from stockyard.publish.revisions import V3, needs_v3, v3_bucket, v3_record
from stockyard.types.encoding import encode_msgpack, zstd_compress
from stockyard.types.identifiers import parse_artifact_filename
from stockyard.types.published_run_exports import patched_run_exports

_HEX_FIELDS = ("md5", "sha256", "legacy_bz2_md5")
_decode = msgspec.json.Decoder().decode


def shard_record(row: PublishRow) -> dict[str, Any]:
    record: dict[str, Any] = _decode(row.published)
    if row.patched is not None:
        run_exports = patched_run_exports(row.record, record, row.run_exports)
    else:
        run_exports = _decode(row.run_exports) if row.run_exports is not None else {}
    for key in _HEX_FIELDS:
        value = record.get(key)
        if isinstance(value, str):
            record[key] = bytes.fromhex(value)
    record["run_exports"] = run_exports
    return record


def render_shard(rows: Iterable[PublishRow], removed: Iterable[str], level: int) -> bytes:
    """The zstd-compressed msgpack shard of one package name."""
    packages: dict[str, Any] = {}
    packages_conda: dict[str, Any] = {}
    v3: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.patch_removed:
            continue
        record = shard_record(row)
        place = v3_bucket(row.filename)
        if place is not None and needs_v3(record):
            v3.setdefault(place[0], {})[place[1]] = v3_record(record)
            continue
        target = packages_conda if row.filename.endswith(".conda") else packages
        target[row.filename] = record
    shard: dict[str, Any] = {
        "packages": packages,
        "packages.conda": packages_conda,
        "removed": sorted(removed),
    }
    if v3:
        shard[V3] = v3
    return zstd_compress(encode_msgpack(shard), level)


def shard_key(subdir: str, digest: str) -> str:
    return f"{subdir}/shards/{digest}.msgpack.zst"


def shard_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def render_shard_index(
    subdir: str, hashes: Mapping[str, str], *, base_url: str | None, level: int
) -> bytes:
    """`repodata_shards.msgpack.zst`: base URLs end with '/', relative to the index (CEP 16)."""
    index = {
        "info": {
            "subdir": subdir,
            "base_url": base_url if base_url else "./",
            "shards_base_url": "./shards/",
        },
        "version": 1,
        "shards": {name: bytes.fromhex(digest) for name, digest in sorted(hashes.items())},
    }
    return zstd_compress(encode_msgpack(index), level)


def removed_by_name(filenames: Iterable[str]) -> dict[str, list[str]]:
    """Group `removed` filenames by package name, for each shard's `removed` list."""
    out: dict[str, list[str]] = {}
    for filename in filenames:
        try:
            name = parse_artifact_filename(filename).name
        except Exception:  # an odd legacy name in `removed` cannot be attributed to a shard
            continue
        out.setdefault(name, []).append(filename)
    return out
