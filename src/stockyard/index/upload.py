"""Adding one uploaded artifact to a channel and republishing incrementally.

The server calls `ingest_upload` with the upload spooled to a temporary file. The artifact is
checked completely (parses, sha256 matches, index.json agrees with filename and subdir) before it
is moved into the channel; on any failure the temp file is deleted and nothing is stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from stockyard.catalog import Catalog, Channel
from stockyard.index.ingest import artifact_row, first_indexed_ms, subdir_mismatch
from stockyard.index.lock import channel_lock
from stockyard.package.read import ArtifactMetadata, read_artifact
from stockyard.publish.channel import publish_channel_files, refresh_channeldata_entries
from stockyard.publish.subdir import PublishOptions, SubdirChange, publish_subdir
from stockyard.publish.writer import Publisher
from stockyard.storage import Store
from stockyard.types.errors import Conflict, HashMismatch, InvalidArtifact
from stockyard.types.identifiers import check_sha256, check_subdir, parse_artifact_filename


@dataclass(frozen=True, slots=True)
class UploadResult:
    channel: str
    subdir: str
    filename: str
    sha256: str
    size: int
    replaced: bool
    seconds: float


def ingest_upload(
    catalog: Catalog,
    store: Store,
    channel: Channel,
    filename: str,
    temp_path: Path,
    *,
    subdir: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    options: PublishOptions | None = None,
    state_dir: Path,
    lock_timeout: float = 60.0,
    attestation: bytes | None = None,
) -> UploadResult:
    """Validate `temp_path` as `filename`, store it in `channel`, republish its subdir."""
    started = time.perf_counter()
    options = options or PublishOptions()
    try:
        parse_artifact_filename(filename)
        if subdir is not None:
            check_subdir(subdir)
        meta = read_artifact(temp_path, filename=filename)
        if sha256 is not None and check_sha256(sha256) != meta.sha256:
            raise HashMismatch(
                f"{filename}: sha256 of the upload is {meta.sha256}, not {sha256.lower()}",
                hint="The upload was corrupted or the wrong file was sent; upload it again.",
            )
        target_subdir = subdir or _declared_subdir(meta)
        problem = subdir_mismatch(meta, target_subdir)
        if problem:
            raise InvalidArtifact(filename, problem)
        key = f"{target_subdir}/{filename}"
        state_dir.mkdir(parents=True, exist_ok=True)
        with channel_lock(state_dir / "index.lock", timeout=lock_timeout):
            known = catalog.file_states(channel.id, target_subdir).get(filename)
            if known is not None and not force:
                if known.sha256 == meta.sha256:
                    raise Conflict(
                        f"{key} already exists in {channel.name} with the same content",
                        hint="Nothing to do; pass force=true to upload it again anyway.",
                    )
                raise Conflict(
                    f"{key} already exists in {channel.name}",
                    hint="Bump the build number, or pass force=true to replace it.",
                )
            store.put_file(key, temp_path)
            if attestation is not None:
                store.put(f"{key}.attestation.json", attestation)
            info = store.stat(key)
            mtime = info.mtime_ns if info else time.time_ns()
            stamp = known.indexed_timestamp if known is not None else first_indexed_ms()
            row = artifact_row(meta, target_subdir, mtime, stamp)
            # A subdir already dirty was left half-published by a crash: republish it whole.
            before = catalog.subdir_state(channel.id, target_subdir)
            interrupted = before is not None and before.dirty
            catalog.apply_changes(channel.id, target_subdir, upserts=[row])
            if meta.icon:
                icon_key = f"icons/{hashlib.sha256(meta.icon).hexdigest()}.png"
                if store.stat(icon_key) is None:
                    store.put(icon_key, meta.icon)
            publish_after_change(
                catalog,
                store,
                channel,
                target_subdir,
                None if interrupted else SubdirChange(names={row.name}, filenames={filename}),
                options=options,
                scratch=state_dir / "tmp",
            )
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()
    return UploadResult(
        channel=channel.name,
        subdir=target_subdir,
        filename=filename,
        sha256=meta.sha256,
        size=meta.size,
        replaced=known is not None,
        seconds=time.perf_counter() - started,
    )


def publish_after_change(
    catalog: Catalog,
    store: Store,
    channel: Channel,
    subdir: str,
    change: SubdirChange | None,
    *,
    options: PublishOptions,
    scratch: Path,
) -> None:
    """Republish one subdir and the channel files after a change (caller holds the lock).

    `change=None` republishes the subdir whole. Subdirs never published (noarch in a new
    channel) are published too, so `noarch/repodata.json` always exists.
    """
    publisher = Publisher(catalog, store, channel.id)
    subdirs = set(catalog.known_subdirs(channel.id)) | {"noarch"}
    for other in sorted(subdirs):
        state = catalog.subdir_state(channel.id, other)
        if other != subdir and (state is None or store.stat(f"{other}/repodata.json") is None):
            catalog.ensure_subdir(channel.id, other)
            publish_subdir(catalog, publisher, channel, other, options, None, scratch=scratch)
    outcome = publish_subdir(catalog, publisher, channel, subdir, options, change, scratch=scratch)
    if outcome.full or change is None:
        names = catalog.names_in_subdir(channel.id, subdir) | set(
            catalog.channeldata_entries(channel.id)
        )
    else:
        names = change.names
    refresh_channeldata_entries(catalog, channel, names)
    publish_channel_files(catalog, publisher, channel, catalog.known_subdirs(channel.id))


def _declared_subdir(meta: ArtifactMetadata) -> str:
    declared = meta.index_json.get("subdir")
    if isinstance(declared, str):
        return check_subdir(declared)
    if meta.index_json.get("noarch"):
        return "noarch"
    raise InvalidArtifact(
        meta.filename,
        "index.json has no subdir",
        hint="Upload it to an explicit subdir: PUT /<channel>/<subdir>/<filename>.",
    )
