"""Publish one channel subdir from catalog state, touching only what changed.

Order of writes (readers never see a state that names a file that is not there yet):
shards -> shard index -> repodata.json.zst -> repodata.json -> the rest. Each file is written
atomically by the `Publisher`, which skips files whose bytes did not change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from stockyard.catalog import Catalog, Channel
from stockyard.publish import html
from stockyard.publish.monolithic import SECTIONS, compress_bz2, compress_zstd, write_monolithic
from stockyard.publish.shards import (
    removed_by_name,
    render_shard,
    render_shard_index,
    shard_digest,
    shard_key,
)
from stockyard.publish.writer import Publisher
from stockyard.types.encoding import DEFAULT_ZSTD_LEVEL, encode_json
from stockyard.types.repodata import (
    CURRENT_REPODATA,
    PATCH_INSTRUCTIONS_JSON,
    REPODATA_FROM_PACKAGES,
    REPODATA_JSON,
    RUN_EXPORTS_JSON,
    SHARD_INDEX,
)

#: Bumped when the rendering changes, so existing channels are re-rendered once.
RENDER_VERSION = 1

#: Package names whose rows are loaded at once when rendering shards.
_SHARD_CHUNK = 500


@dataclass(frozen=True, slots=True)
class PublishOptions:
    shards: bool = True
    zst_level: int = DEFAULT_ZSTD_LEVEL
    bz2: bool = False
    current_repodata: bool = False
    #: The channel's base URL (CEP 15); each subdir's `info.base_url` is `<base_url>/<subdir>/`.
    base_url: str | None = None
    html: bool = True

    def fingerprint(self) -> str:
        return hashlib.sha256(
            encode_json(
                {
                    "render": RENDER_VERSION,
                    "shards": self.shards,
                    "zst": self.zst_level,
                    "bz2": self.bz2,
                    "current": self.current_repodata,
                    "base_url": self.base_url,
                    "html": self.html,
                }
            )
        ).hexdigest()

    def subdir_base_url(self, subdir: str) -> str | None:
        if not self.base_url:
            return None
        return f"{self.base_url.rstrip('/')}/{subdir}/"


@dataclass(slots=True)
class SubdirChange:
    """What this run changed in a subdir (for incremental work)."""

    #: Package names with added, changed or removed artifacts.
    names: set[str] = field(default_factory=set)
    #: Filenames stored anew (their patched form must be computed).
    filenames: set[str] = field(default_factory=set)


@dataclass(slots=True)
class SubdirPublishResult:
    subdir: str
    full: bool
    shards_written: int = 0
    patched_records: int = 0


def patch_fingerprint(instructions: dict[str, Any]) -> str:
    return hashlib.sha256(encode_json(instructions)).hexdigest()


def publish_subdir(
    catalog: Catalog,
    publisher: Publisher,
    channel: Channel,
    subdir: str,
    options: PublishOptions,
    change: SubdirChange | None,
    *,
    scratch: Path,
    instructions: dict[str, Any] | None = None,
) -> SubdirPublishResult:
    """Render and write every file of `subdir`. `change=None` means: redo everything.

    `instructions` are the subdir's patch instructions, computed and validated by the caller
    before anything is published.
    """
    state = catalog.subdir_state(channel.id, subdir)
    instructions = instructions or {}
    patch_fp = patch_fingerprint(instructions)
    options_fp = options.fingerprint()
    full = (
        change is None
        or state is None
        or state.patch_fingerprint != patch_fp
        or state.options_fingerprint != options_fp
    )
    result = SubdirPublishResult(subdir, full)

    # 1. Patches: only records the instructions touch are decoded, patched and re-encoded.
    compiled = None
    if instructions:
        from stockyard.patches.apply import compile_patches, patch_record

        compiled = compile_patches(instructions)
    if full:
        catalog.reset_patches(channel.id, subdir)
        targets = set(compiled.touched) if compiled else set()
    else:
        assert change is not None
        targets = set(change.filenames) & set(compiled.touched) if compiled else set()
    if targets and compiled is not None:
        updates = []
        for filename, record_bytes in catalog.records_for_filenames(channel.id, subdir, targets):
            record = msgspec.json.decode(record_bytes)
            patched = patch_record(compiled, filename, record)
            if patched is None:
                updates.append((filename, None, True))
            elif patched is not record:
                updates.append((filename, encode_json(patched), False))
        catalog.set_patched(channel.id, subdir, updates)
        result.patched_records = len(updates)

    removed = catalog.removed_filenames(channel.id, subdir)
    base_url = options.subdir_base_url(subdir)

    # 2. Shards of the names that changed, then the index that names them.
    if options.shards:
        known = catalog.shard_hashes(channel.id, subdir)
        if full or not known:
            names = catalog.names_in_subdir(channel.id, subdir) | set(known)
        else:
            assert change is not None
            names = set(change.names)
        removed_map = removed_by_name(removed)
        updates_hash: dict[str, str | None] = {}
        ordered = sorted(names)
        # Names in chunks: a full render of a huge subdir never holds all its rows at once.
        for start in range(0, len(ordered), _SHARD_CHUNK):
            chunk = ordered[start : start + _SHARD_CHUNK]
            rows_by_name = catalog.rows_for_names(channel.id, subdir, chunk)
            for name in chunk:
                rows = rows_by_name.get(name, [])
                if not rows:
                    updates_hash[name] = None
                    continue
                gone = removed_map.get(name, []) + [r.filename for r in rows if r.patch_removed]
                data = render_shard(rows, gone, options.zst_level)
                digest = shard_digest(data)
                if publisher.write_if_absent(shard_key(subdir, digest), data, digest):
                    result.shards_written += 1
                if known.get(name) != digest:
                    updates_hash[name] = digest
        catalog.set_shard_hashes(channel.id, subdir, updates_hash)
        hashes = {**known, **updates_hash}
        hashes = {n: h for n, h in hashes.items() if h is not None}
        publisher.write(
            f"{subdir}/{SHARD_INDEX}",
            render_shard_index(subdir, hashes, base_url=base_url, level=options.zst_level),
        )

    # 3. Monolithic files, streamed through scratch files; .zst before .json.
    info: dict[str, Any] = {"subdir": subdir}
    if base_url:
        info["base_url"] = base_url
    version = 2 if base_url else 1
    # Without patch results, repodata.json is byte-identical to repodata_from_packages.json:
    # render one stream and publish it under both names.
    unpatched = not catalog.has_patch_results(channel.id, subdir)
    listing: list[tuple[str, int, int, str]] = []
    with (
        publisher.scratch_file(scratch) as raw,
        publisher.scratch_file(scratch) as patched,
        publisher.scratch_file(scratch) as rex,
    ):
        sections = (
            (key, catalog.iter_publish_batches(channel.id, subdir, suffix))
            for key, suffix in SECTIONS
        )
        write_monolithic(
            sections,
            info=info,
            repodata_version=version,
            removed_from_packages=removed,
            from_packages=raw,  # type: ignore[arg-type]
            patched=None if unpatched else patched,  # type: ignore[arg-type]
            run_exports=rex,  # type: ignore[arg-type]
            listing=listing,
        )
        published = raw if unpatched else patched
        published.close()
        with publisher.scratch_file(scratch) as zst:
            compress_zstd(published.path, zst, options.zst_level)  # type: ignore[arg-type]
            publisher.publish_file(f"{subdir}/{REPODATA_JSON}.zst", zst)
        if options.bz2:
            with publisher.scratch_file(scratch) as bz:
                compress_bz2(published.path, bz)  # type: ignore[arg-type]
                publisher.publish_file(f"{subdir}/{REPODATA_JSON}.bz2", bz)
        if options.current_repodata:
            publisher.write(f"{subdir}/{CURRENT_REPODATA}", _current_repodata(published.path))
        if unpatched:
            publisher.copy_file(f"{subdir}/{REPODATA_JSON}", raw)
        else:
            publisher.publish_file(f"{subdir}/{REPODATA_JSON}", patched)
        publisher.publish_file(f"{subdir}/{REPODATA_FROM_PACKAGES}", raw)
        publisher.publish_file(f"{subdir}/{RUN_EXPORTS_JSON}", rex)

    publisher.write(
        f"{subdir}/{PATCH_INSTRUCTIONS_JSON}",
        encode_json(instructions or _EMPTY_INSTRUCTIONS),
    )
    if options.html:
        publisher.write(
            f"{subdir}/index.html",
            html.render_subdir_index(channel.name, subdir, sorted(listing)),
        )
    publisher.commit()
    catalog.mark_published(channel.id, subdir, patch_fp, options_fp)
    return result


_EMPTY_INSTRUCTIONS: dict[str, Any] = {
    "patch_instructions_version": 1,
    "packages": {},
    "packages.conda": {},
    "remove": [],
    "revoke": [],
}


def unpatched_repodata(catalog: Catalog, channel: Channel, subdir: str) -> dict[str, Any]:
    """The whole unpatched repodata, for Python patch generators (`_patch_repodata`)."""
    decode = msgspec.json.Decoder().decode
    out: dict[str, Any] = {"info": {"subdir": subdir}, "repodata_version": 1}
    for key, suffix in SECTIONS:
        out[key] = {
            row.filename: decode(row.record)
            for row in catalog.iter_publish_rows(channel.id, subdir, suffix)
        }
    out["removed"] = catalog.removed_filenames(channel.id, subdir)
    return out


def _current_repodata(repodata_path: Path) -> bytes:
    """conda-index's current_repodata.json: the latest versions and what they need."""
    from stockyard.publish.current_repodata import select_current_records

    repodata = msgspec.json.decode(repodata_path.read_bytes())
    merged = {**repodata.get("packages", {}), **repodata.get("packages.conda", {})}
    keep = select_current_records(merged)
    for key, _suffix in SECTIONS:
        repodata[key] = {f: r for f, r in repodata.get(key, {}).items() if f in keep}
    return encode_json(repodata)
