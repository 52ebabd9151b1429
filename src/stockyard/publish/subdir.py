"""Publish one channel subdir from catalog state, touching only what changed.

Three phases, each its own function: patch results (only records the instructions touch are
decoded, patched and re-encoded), shards of the changed names and the shard index, then the
monolithic files. Order of writes (readers never see a state that names a file that is not
there yet): shards -> shard index -> repodata.json.zst -> repodata.json.gz -> repodata.json ->
the rest, every `.zst` and `.gz` before its `.json`. Each file is written atomically by the
`Publisher`, which skips files whose bytes did not change. In a signed channel (docs/trust.md)
repodata.json is signed as it is streamed (`stockyard.trust.inline`), so its variants are
compressed from the signed bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from stockyard.catalog import Catalog, Channel, PublishRow, SubdirState
from stockyard.patches.apply import CompiledPatches, compile_patches, patch_record
from stockyard.publish import html
from stockyard.publish.gz import GZ_SUFFIX, file_crc_and_size, gzip_file
from stockyard.publish.monolithic import (
    SECTIONS,
    compress_bz2,
    compress_zstd,
    replace_head,
    write_monolithic,
)
from stockyard.publish.shards import (
    removed_by_name,
    render_shard,
    render_shard_index,
    shard_digest,
    shard_key,
)
from stockyard.publish.writer import HashingWriter, Publisher
from stockyard.trust import TRUST_CONFIG, is_signed_channel
from stockyard.types.encoding import encode_json, zstd_compress
from stockyard.types.policy import PublishOptions
from stockyard.types.repodata import (
    CURRENT_REPODATA,
    PATCH_INSTRUCTIONS_JSON,
    REPODATA_FROM_PACKAGES,
    REPODATA_JSON,
    RUN_EXPORTS_JSON,
    SHARD_INDEX,
)

if TYPE_CHECKING:
    from stockyard.trust.inline import InlineSigner

__all__ = [
    "PublishOptions",
    "SubdirChange",
    "SubdirPublishResult",
    "needs_full_publish",
    "options_fingerprint",
    "patch_fingerprint",
    "publish_subdir",
    "unpatched_repodata",
]

#: Bumped when the rendering changes, so existing channels are re-rendered once.
#: 2: CEP 48 `v3`, patched run_exports in shards and run_exports.json, `.zst` of every file.
RENDER_VERSION = 2

#: A document's top-level members, undecoded.
_decode_members = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode

#: Package names whose rows are loaded at once when rendering shards.
_SHARD_CHUNK = 500

#: Patch instructions that change nothing (published when a subdir has none).
EMPTY_INSTRUCTIONS: dict[str, Any] = {
    "patch_instructions_version": 1,
    "packages": {},
    "packages.conda": {},
    "remove": [],
    "revoke": [],
}


@dataclass(slots=True)
class SubdirChange:
    """What a commit changed in a subdir (for incremental work)."""

    #: Package names with added, changed or removed artifacts.
    names: set[str] = field(default_factory=set)
    #: Filenames stored anew or yanked/restored (their patched form must be computed).
    filenames: set[str] = field(default_factory=set)
    #: Filenames removed (their instruction entries may go).
    removed: set[str] = field(default_factory=set)

    @property
    def affected(self) -> set[str]:
        return self.filenames | self.removed


@dataclass(slots=True)
class SubdirPublishResult:
    subdir: str
    full: bool
    shards_written: int = 0
    patched_records: int = 0


def options_fingerprint(options: PublishOptions) -> str:
    payload = {"render": RENDER_VERSION, "options": msgspec.to_builtins(options)}
    return hashlib.sha256(encode_json(payload)).hexdigest()


def patch_fingerprint(instructions: dict[str, Any]) -> str:
    return hashlib.sha256(encode_json(instructions)).hexdigest()


def needs_full_publish(
    state: SubdirState | None, instructions: dict[str, Any], options: PublishOptions
) -> bool:
    """Whether the subdir must be rendered whole: never published, left dirty by a crash, or
    published with other patch instructions or options."""
    return (
        state is None
        or state.dirty
        or state.patch_fingerprint != patch_fingerprint(instructions)
        or state.options_fingerprint != options_fingerprint(options)
    )


def publish_subdir(
    catalog: Catalog,
    publisher: Publisher,
    channel: Channel,
    subdir: str,
    options: PublishOptions,
    change: SubdirChange | None,
    *,
    scratch: Path,
    instructions: dict[str, Any],
) -> SubdirPublishResult:
    """Render and write every file of `subdir`. `change=None` means: redo everything.

    `instructions` are the subdir's patch instructions, computed and validated by the caller
    before anything is published. The caller decides `change` (see `needs_full_publish`).
    """
    job = _SubdirJob(catalog, publisher, channel, subdir, options, instructions, scratch)
    result = SubdirPublishResult(subdir, full=change is None)
    result.patched_records = job.apply_patches(change)
    removed = catalog.repodata_removed(channel.id, subdir)
    if options.shards:
        result.shards_written = job.publish_shards(change, removed)
    listing = job.publish_monolithic(removed)
    job.publish_extras(listing)
    publisher.commit()
    if job.signer is not None:  # its cache and mark, once the signed files are in place
        job.signer.finish()
    catalog.mark_published(
        channel.id, subdir, patch_fingerprint(instructions), options_fingerprint(options)
    )
    return result


@dataclass(slots=True)
class _SubdirJob:
    """The values every phase of one subdir's publish needs."""

    catalog: Catalog
    publisher: Publisher
    channel: Channel
    subdir: str
    options: PublishOptions
    instructions: dict[str, Any]
    scratch: Path
    #: Signs repodata.json's records as they are written, in a signed channel.
    signer: InlineSigner | None = None

    @property
    def base_url(self) -> str | None:
        return self.options.subdir_base_url(self.subdir)

    @property
    def gz(self) -> bool:
        """Whether repodata.json and current_repodata.json get a `.gz` (by the policy; in a
        signed channel too, compressed from the signed bytes)."""
        return self.options.gz

    def _open_signer(self) -> InlineSigner | None:
        """The subdir's signer when the channel is signed (`stockyard trust init`), else None;
        `cryptography` is imported only then. The trust files are in the channel's directory,
        or for a channel in a bucket in its workspace's mirror (`Publisher.trust_dir`)."""
        directory = self.publisher.trust_dir
        if directory is None:
            config = self.publisher.store.local_path(TRUST_CONFIG)
            directory = config.parents[2] if config is not None else None
        if directory is None or not is_signed_channel(directory):
            return None
        from stockyard.trust.inline import inline_signer

        return inline_signer(directory, self.subdir)

    def apply_patches(self, change: SubdirChange | None) -> int:
        """Store patch results of the records the instructions touch; how many were stored."""
        compiled = compile_patches(self.instructions) if self.instructions else None
        touched = set(compiled.touched) if compiled else set()
        if change is None:
            self.catalog.reset_patches(self.channel.id, self.subdir)
            targets, untouched = touched, set()
        else:
            # A changed filename the instructions no longer touch (e.g. un-yanked) loses its
            # stored patch result.
            targets, untouched = change.filenames & touched, change.filenames - touched
        updates: list[tuple[str, bytes | None, bool]] = [
            (filename, None, False) for filename in sorted(untouched)
        ]
        if targets and compiled is not None:
            updates += self._patched(compiled, targets)
        self.catalog.set_patched(self.channel.id, self.subdir, updates)
        return len(updates)

    def _patched(
        self, compiled: CompiledPatches, targets: set[str]
    ) -> list[tuple[str, bytes | None, bool]]:
        updates: list[tuple[str, bytes | None, bool]] = []
        records = self.catalog.records_for_filenames(self.channel.id, self.subdir, targets)
        for filename, record_bytes in records:
            record = msgspec.json.decode(record_bytes)
            patched = patch_record(compiled, filename, record)
            if patched is None:
                updates.append((filename, None, True))
            elif patched is not record:
                updates.append((filename, encode_json(patched), False))
        return updates

    def publish_shards(self, change: SubdirChange | None, removed: list[str]) -> int:
        """Shards of the names that changed, then the index that names them."""
        known = self.catalog.shard_hashes(self.channel.id, self.subdir)
        if change is None or not known:
            names = self.catalog.names_in_subdir(self.channel.id, self.subdir) | set(known)
        else:
            names = set(change.names)
        updates: dict[str, str | None] = {}
        written = 0
        ordered = sorted(names)
        removed_map = removed_by_name(removed)
        # Names in chunks: a full render of a huge subdir never holds all its rows at once.
        for start in range(0, len(ordered), _SHARD_CHUNK):
            chunk = ordered[start : start + _SHARD_CHUNK]
            rows_by_name = self.catalog.rows_for_names(self.channel.id, self.subdir, chunk)
            for name in chunk:
                digest = self._write_shard(
                    rows_by_name.get(name, []),
                    removed_map.get(name, []),
                    # A shard is looked for first only when it may already be there: its name's
                    # recorded one, or nothing recorded yet (a full render, say after a restore).
                    recorded=known.get(name),
                    nothing_recorded=not known,
                )
                written += digest is not None and digest[1]
                new_hash = digest[0] if digest else None
                if known.get(name) != new_hash:
                    updates[name] = new_hash
        self.catalog.set_shard_hashes(self.channel.id, self.subdir, updates)
        hashes = {n: h for n, h in {**known, **updates}.items() if h is not None}
        index = render_shard_index(
            self.subdir, hashes, base_url=self.base_url, level=self.options.zst_level
        )
        self.publisher.write(f"{self.subdir}/{SHARD_INDEX}", index)
        return written

    def _write_shard(
        self,
        rows: list[PublishRow],
        removed: list[str],
        *,
        recorded: str | None,
        nothing_recorded: bool,
    ) -> tuple[str, bool] | None:
        """(digest, written?) of a name's shard; None when the name has no artifacts left.
        `recorded`: the digest the catalog holds for the name; `nothing_recorded`: it holds
        none for the subdir."""
        if not rows:
            return None
        gone = removed + [r.filename for r in rows if r.patch_removed]
        data = render_shard(rows, gone, self.options.zst_level)
        digest = shard_digest(data)
        key = shard_key(self.subdir, digest)
        maybe_present = nothing_recorded or digest == recorded
        written = self.publisher.write_if_absent(key, data, digest, maybe_present=maybe_present)
        return digest, written

    def publish_monolithic(self, removed: list[str]) -> list[tuple[str, int, int, str]]:
        """repodata.json (+ .zst, .bz2, current_repodata), repodata_from_packages.json and
        run_exports.json (each with its .zst) in one streaming pass; returns the listing for
        index.html."""
        info: dict[str, Any] = {"subdir": self.subdir}
        if self.base_url:
            info["base_url"] = self.base_url
        # Without patch results, repodata.json is byte-identical to repodata_from_packages.json:
        # render one stream and publish it under both names.
        unpatched = not self.catalog.has_patch_results(self.channel.id, self.subdir)
        self.signer = self._open_signer()
        listing: list[tuple[str, int, int, str]] = []
        with contextlib.ExitStack() as stack:
            raw, patched, rex = (
                stack.enter_context(self.publisher.scratch_file(self.scratch)) for _ in range(3)
            )
            sections = (
                (key, self.catalog.iter_publish_batches(self.channel.id, self.subdir, suffix))
                for key, suffix in SECTIONS
            )
            result = write_monolithic(
                sections,
                info=info,
                repodata_version=2 if self.base_url else 1,
                removed_from_packages=removed,
                from_packages=raw,
                patched=None if unpatched else patched,
                run_exports=rex,
                listing=listing,
                signer=self.signer,
            )
            raw = self._with_head(stack, raw, result.head, result.from_packages_head)
            if not unpatched:
                patched = self._with_head(stack, patched, result.head, result.patched_head)
            self._publish_repodata(raw, None if unpatched else patched)
            self._publish_with_zst(f"{self.subdir}/{RUN_EXPORTS_JSON}", rex)
        return listing

    def _with_head(
        self, stack: contextlib.ExitStack, writer: HashingWriter, old: bytes, new: bytes | None
    ) -> HashingWriter:
        """`writer`'s document with its head replaced by `new` (CEP 48 `repodata_revisions`,
        known only after the records were streamed); `writer` itself when `new` is None."""
        if new is None:
            return writer
        writer.close()
        fixed = stack.enter_context(self.publisher.scratch_file(self.scratch))
        replace_head(writer.path, len(old), new, fixed)
        return fixed

    def _publish_repodata(self, raw: HashingWriter, patched: HashingWriter | None) -> None:
        """The compressed variants first, then repodata.json, then repodata_from_packages
        (each `.zst` before its `.json`). The `.gz` and `.bz2` are compressed on other threads
        while this one makes the `.zst` (zstandard, igzip and bz2 release the GIL): the same
        bytes as one after the other, published in the same order."""
        published = patched if patched is not None else raw
        published.close()
        prefix = f"{self.subdir}/{REPODATA_JSON}"
        from_packages = f"{self.subdir}/{REPODATA_FROM_PACKAGES}"
        # The pool is shut down (its threads done) before the scratch files are deleted.
        with contextlib.ExitStack() as files, ThreadPoolExecutor(2, "publish-gz-bz2") as pool:
            gz = self._start_gz(files, pool, prefix, published)
            bz = self._start(files, pool, compress_bz2, published) if self.options.bz2 else None
            zst = files.enter_context(self.publisher.scratch_file(self.scratch))
            compress_zstd(published.path, zst, self.options.zst_level)
            if patched is None:  # the same bytes, so the same .zst
                self.publisher.copy_file(f"{from_packages}.zst", zst)
            self.publisher.publish_file(f"{prefix}.zst", zst)
            if bz is not None:
                self.publisher.publish_file(f"{prefix}.bz2", bz.result())
            self._publish_current_repodata(published)
            if not self.gz:
                self.publisher.remove(prefix + GZ_SUFFIX)
            elif gz is not None:
                self.publisher.publish_file(prefix + GZ_SUFFIX, gz.result(), force=True)
        if patched is None:
            self.publisher.copy_file(prefix, raw)
            self.publisher.publish_file(from_packages, raw)
        else:
            self.publisher.publish_file(prefix, patched)
            self._publish_with_zst(from_packages, raw)

    def _start(
        self,
        files: contextlib.ExitStack,
        pool: ThreadPoolExecutor,
        compress: Callable[[Path, HashingWriter], None],
        document: HashingWriter,
    ) -> Future[HashingWriter]:
        """`compress` of a finished scratch file into a new one, on a thread of `pool`."""
        target = files.enter_context(self.publisher.scratch_file(self.scratch))
        return pool.submit(_compressed, compress, document.path, target)

    def _start_gz(
        self,
        files: contextlib.ExitStack,
        pool: ThreadPoolExecutor,
        key: str,
        document: HashingWriter,
    ) -> Future[HashingWriter] | None:
        """`key.gz` of the finished scratch file about to be published as `key`, started; None
        when the policy publishes none, or when the published one may stay (publish/gz.py: kept
        when the document keeps its bytes and the `.gz` expands to them)."""
        if not self.gz:
            return None
        current = self.publisher.gz_is_current(
            key, document.hexdigest(), lambda: file_crc_and_size(document.path)
        )
        return None if current else self._start(files, pool, gzip_file, document)

    def _publish_current_repodata(self, published: HashingWriter) -> None:
        current_key = f"{self.subdir}/{CURRENT_REPODATA}"
        if self.options.current_repodata:
            current = _current_repodata(published.path, self.signer)
            level = self.options.zst_level
            self.publisher.write(f"{current_key}.zst", zstd_compress(current, level))
            self._publish_gz_of_bytes(current_key, current)
            self.publisher.write(current_key, current)
        else:
            self.publisher.remove(current_key + GZ_SUFFIX)

    def _publish_gz_of_bytes(self, key: str, document: bytes) -> None:
        if not self.gz:
            self.publisher.remove(key + GZ_SUFFIX)
            return
        self.publisher.write_gz_of(key, document)

    def _publish_with_zst(self, key: str, writer: HashingWriter) -> None:
        """`key.zst` (CEP 36: every repodata file SHOULD have one), then `key`."""
        writer.close()
        with self.publisher.scratch_file(self.scratch) as zst:
            compress_zstd(writer.path, zst, self.options.zst_level)
            self.publisher.publish_file(f"{key}.zst", zst)
        self.publisher.publish_file(key, writer)

    def publish_extras(self, listing: list[tuple[str, int, int, str]]) -> None:
        instructions = encode_json(self.instructions or EMPTY_INSTRUCTIONS)
        self.publisher.write(f"{self.subdir}/{PATCH_INSTRUCTIONS_JSON}", instructions)
        if self.options.html:
            page = html.render_subdir_index(self.channel.name, self.subdir, sorted(listing))
            self.publisher.write(f"{self.subdir}/index.html", page)


def _compressed(
    compress: Callable[[Path, HashingWriter], None], source: Path, target: HashingWriter
) -> HashingWriter:
    compress(source, target)
    target.close()  # flushed and fsynced on this thread too
    return target


def unpatched_repodata(catalog: Catalog, channel: Channel, subdir: str) -> dict[str, Any]:
    """The whole unpatched repodata, for Python patch generators (`_patch_repodata`)."""
    decode = msgspec.json.Decoder().decode
    out: dict[str, Any] = {"info": {"subdir": subdir}, "repodata_version": 1}
    for key, suffix in SECTIONS:
        out[key] = {
            row.filename: decode(row.record)
            for row in catalog.iter_publish_rows(channel.id, subdir, suffix)
        }
    out["removed"] = catalog.repodata_removed(channel.id, subdir)
    return out


def _current_repodata(repodata_path: Path, signer: InlineSigner | None = None) -> bytes:
    """conda-index's current_repodata.json: the latest versions and what they need (in a signed
    channel with the signatures of the records it keeps, and of its `v3` records). Only the
    record sections are decoded; the other members stay the published bytes (a signed
    document's `signatures` map is as large as its records, and is replaced anyway)."""
    from stockyard.publish.current_repodata import select_current_records

    members: dict[str, Any] = _decode_members(repodata_path.read_bytes())
    sections = {
        key: msgspec.json.decode(members[key]) if key in members else {} for key, _ in SECTIONS
    }
    merged = {**sections["packages"], **sections["packages.conda"]}
    keep = select_current_records(merged)
    for key, records in sections.items():
        members[key] = {f: r for f, r in records.items() if f in keep}
    if signer is not None:
        v3 = msgspec.json.decode(members["v3"]) if "v3" in members else {}
        kept = keep | {f"{stem}.{ext}" for ext, records in v3.items() for stem in records}
        members["signatures"] = signer.signatures_of(kept)
    return encode_json(members)
