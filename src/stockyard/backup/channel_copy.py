"""One channel's files into the backup, checked against the catalog snapshot.

The guarantee: every published file in the backup is byte for byte what the snapshot's
`published_files` row says was published, and every shard is the one its name hashes to. A file
that a publish after the snapshot changed (or removed) is left out, and its subdir (or the
channel-level files) is marked to be republished from the restored catalog, which rewrites
exactly the files left out. Artifacts are the snapshot's rows: copied (hard-linked) with their
sha256, or, in a bucket, listed with their size; one that changed or left after the snapshot is
noted and its subdir republished as well, so the restored catalog and files always agree.

Untracked files are taken only where the snapshot vouches for them: attestation sidecars of its
artifacts, the snapshots it lists, icons, the public trust metadata, and the sidecars publishing
relies on (`.stockyard/yaml-patches/`, `.stockyard/cdn/` in the store; patch sets, trust keys and
a mirror's patch source in the working area). A subdir or file that appeared after the snapshot
is never copied.

Signed channels (trust) publish repodata.json signed, but `stockyard trust` commands (init,
sign, rotations) rewrite it and its variants outside the publisher, so a document that differs
from its catalog hash is compared without its signatures (its variants by what they expand to),
copied under the channel lock, where a document and its `.zst` are one version.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from stockyard.backup.facts import ArtifactRef, ChannelFacts
from stockyard.backup.files import (
    COPY_THREADS,
    Copied,
    FileHasher,
    copy_local,
    copy_object,
    walk_local,
    walk_store,
)
from stockyard.backup.manifest import ChannelEntry, FileEntry, KeptObject, store_path, work_path
from stockyard.backup.progress import Progress
from stockyard.index.workspace import ChannelWorkspace
from stockyard.snapshots.create import SNAPSHOTS_DIR
from stockyard.storage import Store
from stockyard.types.encoding import zstd_decompress
from stockyard.types.identifiers import is_artifact_filename
from stockyard.types.repodata import ATTESTATIONS_SUFFIX

#: Sidecars kept in the channel's store (a bucket with bucket storage).
STORE_SIDECARS = (".stockyard/yaml-patches", ".stockyard/cdn")
#: Sidecars kept in the channel's local working area (with local storage: the same directory).
#: Caches, spools, scratch, locks and a mirror's downloads are left out: they are rebuilt.
WORK_SIDECARS = (
    ".stockyard/patch-sets",
    ".stockyard/trust",
    ".stockyard/mirror/patch_instructions.json",
)
TRUST_CONFIG = ".stockyard/trust/trust.json"
_TRUST_PUBLIC = re.compile(r"^(?:[1-9][0-9]*\.root\.json|key_mgr\.json)$")
#: Documents a signed channel rewrites with signatures (and their compressed variants).
_SIGNED_DOCUMENTS = ("repodata.json", "current_repodata.json")
GZ_SUFFIX = ".gz"


@dataclass
class CopyContext:
    """What every channel's copy shares."""

    directory: Path
    include_artifacts: bool
    progress: Progress
    lock_timeout: float
    hasher: FileHasher = field(default_factory=FileHasher)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ChannelSource:
    """Where a channel's files are in the deployment being backed up."""

    store: Store
    work_dir: Path
    workspace: ChannelWorkspace
    bucket: bool


class ChannelCopy:
    def __init__(self, ctx: CopyContext, facts: ChannelFacts, source: ChannelSource) -> None:
        self.ctx = ctx
        self.facts = facts
        self.source = source
        self.store_files: list[FileEntry] = []
        self.work_files: list[FileEntry] = []
        self.kept: list[KeptObject] = []
        self.stale_subdirs: set[str] = set()
        self.stale_channel_files = False
        self.dropped_snapshots: list[str] = []
        self._accepted: set[str] = set()
        self._listings: dict[str, dict[str, tuple[int, int]]] = {}

    def run(self) -> ChannelEntry:
        facts = self.facts
        total = len(facts.published) + len(facts.shards) + len(facts.artifacts)
        self.ctx.progress.phase(f"files of {facts.name}", total)
        signed = not self.source.bucket and (self.source.work_dir / TRUST_CONFIG).is_file()
        with self.source.workspace.lock(self.ctx.lock_timeout) if signed else _nothing():
            self._published(signed)
        self._artifacts()
        self._extras()
        self._work_sidecars()
        return ChannelEntry(
            id=facts.id,
            name=facts.name,
            work_dir=str(self.source.work_dir),
            store=self.store_files,
            work=self.work_files,
            kept=self.kept,
            republish_subdirs=sorted(self.stale_subdirs),
            republish_channel_files=self.stale_channel_files,
            dropped_snapshots=self.dropped_snapshots,
        )

    # --- published files and shards -----------------------------------------------------------

    def _published(self, signed: bool) -> None:
        facts, store = self.facts, self.source.store
        # Sorted: a document comes before its variants (`repodata.json` < `repodata.json.zst`).
        expected = [(key, facts.published[key][0]) for key in sorted(facts.published)]
        expected += [(key, key.rsplit("/", 1)[-1].split(".", 1)[0]) for key in sorted(facts.shards)]

        def copy(item: tuple[str, str]) -> Copied | None:
            return copy_object(store, item[0], self._dest(item[0]))

        if self.source.bucket:  # a request each: many at once (S3 clients are thread-safe)
            with ThreadPoolExecutor(COPY_THREADS) as pool:
                for (key, digest), copied in zip(expected, pool.map(copy, expected), strict=True):
                    self._judge(key, digest, copied, False)
        else:
            for key, digest in expected:
                self._judge(key, digest, copy((key, digest)), signed)

    def _judge(self, key: str, expected: str, copied: Copied | None, signed: bool) -> None:
        """Keep a copied published file or shard if it is the snapshot's; else leave it out and
        owe its subdir (or the channel files) a republish."""
        self.ctx.progress.advance()
        if copied is None:
            # A `.gz` is deleted when the policy stops publishing it (its row stays).
            if not key.endswith(GZ_SUFFIX):
                self._stale(key)
            return
        dest = self._dest(key)
        if copied.sha256 != expected and not (signed and self._signed_match(key, dest, expected)):
            dest.unlink()
            self._stale(key)
            return
        self._accept(key, copied)

    def _signed_match(self, key: str, dest: Path, expected: str) -> bool:
        """A signed document matches when it is the published one plus signatures; its `.zst`,
        `.bz2` or `.gz` when it holds exactly the (matching) document's bytes."""
        name = key.rsplit("/", 1)[-1]
        if name in _SIGNED_DOCUMENTS:
            from stockyard.trust.errors import TrustError
            from stockyard.trust.repodata_io import read_document

            try:
                unsigned = read_document(dest.read_bytes(), key).with_signatures(None)
            except TrustError:
                return False
            return hashlib.sha256(unsigned).hexdigest() == expected
        document, _, suffix = key.rpartition(".")
        if document.rsplit("/", 1)[-1] not in _SIGNED_DOCUMENTS or document not in self._accepted:
            return False
        plain = self._dest(document).read_bytes()
        packed = dest.read_bytes()
        try:
            if suffix == "zst":
                return zstd_decompress(packed, len(plain)) == plain
            if suffix == "bz2":
                return bz2.decompress(packed) == plain
            if suffix == "gz":  # `stockyard trust` rewrites the .gz with its document
                return gzip.decompress(packed) == plain
        except (ValueError, OSError, EOFError):
            return False
        return False

    # --- artifacts ----------------------------------------------------------------------------

    def _artifacts(self) -> None:
        include = self.ctx.include_artifacts and not self.source.bucket
        for key in sorted(self.facts.artifacts):
            ref = self.facts.artifacts[key]
            subdir, filename = key.split("/", 1)
            self.ctx.progress.advance()
            found = self._listing(subdir).get(filename)
            if found is None:
                self._note(f"{key} left after the snapshot", subdir)
            elif include:
                self._include_artifact(key, ref)
            else:
                if found[0] != ref.size:
                    self._note(f"{key} was replaced after the snapshot", subdir)
                sha = ref.sha256 if found[0] == ref.size else None
                self.kept.append(KeptObject(key, found[0], sha))

    def _include_artifact(self, key: str, ref: ArtifactRef) -> None:
        subdir = key.split("/", 1)[0]
        local = self.source.store.local_path(key)
        copied = self.ctx.hasher.link(local, self._dest(key)) if local is not None else None
        if copied is None:
            self._note(f"{key} left after the snapshot", subdir)
            return
        if copied.sha256 != ref.sha256:
            # The new bytes are kept: their mtime differs from the row's, so the first index
            # of the restored channel reads them again and the catalog follows.
            self._note(f"{key} was replaced after the snapshot", subdir)
        self._accept(key, copied)

    # --- everything else the snapshot vouches for ---------------------------------------------

    def _extras(self) -> None:
        store = self.source.store
        for info in store.list(""):
            if _TRUST_PUBLIC.fullmatch(info.key):
                self._copy(info.key)
        for info in walk_store(store, "icons"):
            self._copy(info.key)
        for subdir in sorted(self.facts.subdirs()):
            for name in sorted(self._listing(subdir)):
                artifact = f"{subdir}/{name.removesuffix(ATTESTATIONS_SUFFIX)}"
                if name.endswith(ATTESTATIONS_SUFFIX) and artifact in self.facts.artifacts:
                    self._copy(f"{subdir}/{name}")
        for snapshot_id in sorted(self.facts.snapshots):
            self._snapshot(snapshot_id)
        for prefix in STORE_SIDECARS:
            for info in walk_store(store, prefix):
                self._copy(info.key)

    def _snapshot(self, snapshot_id: str) -> None:
        """A listed snapshot's files (immutable: hard-linked on local storage); one whose files
        were deleted after the catalog snapshot is dropped from the restore."""
        prefix = f"{SNAPSHOTS_DIR}/{snapshot_id}"
        objects = list(walk_store(self.source.store, prefix))
        if not any(info.key.endswith("/repodata.json") for info in objects):
            self.dropped_snapshots.append(snapshot_id)
            self.ctx.warnings.append(
                f"{self.facts.name}: snapshot {snapshot_id} was deleted during the backup; "
                "it is not restored"
            )
            return
        include = self.ctx.include_artifacts and not self.source.bucket
        for info in objects:
            relative = info.key[len(prefix) + 1 :]
            if is_artifact_filename(relative.rsplit("/", 1)[-1]) and not include:
                ref = self.facts.artifacts.get(relative)
                sha = ref.sha256 if ref is not None and ref.size == info.size else None
                self.kept.append(KeptObject(info.key, info.size, sha))
                continue
            local = self.source.store.local_path(info.key)
            if local is None:
                self._copy(info.key)
                continue
            copied = self.ctx.hasher.link(local, self._dest(info.key))
            if copied is not None:
                self._accept(info.key, copied)

    def _work_sidecars(self) -> None:
        for relative in WORK_SIDECARS:
            for path in walk_local(self.source.work_dir, relative):
                dest = self.ctx.directory / work_path(self.facts.id, path)
                copied = copy_local(self.source.work_dir / path, dest)
                if copied is not None:
                    self.work_files.append(FileEntry(path, *_fields(copied)))

    # --- helpers ------------------------------------------------------------------------------

    def _copy(self, key: str) -> None:
        copied = copy_object(self.source.store, key, self._dest(key))
        if copied is not None:
            self._accept(key, copied)

    def _accept(self, key: str, copied: Copied) -> None:
        self._accepted.add(key)
        self.store_files.append(FileEntry(key, *_fields(copied)))

    def _dest(self, key: str) -> Path:
        return self.ctx.directory / store_path(self.facts.id, key)

    def _listing(self, subdir: str) -> dict[str, tuple[int, int]]:
        listing = self._listings.get(subdir)
        if listing is None:
            listing = self._listings[subdir] = self.source.store.file_sizes(subdir)
        return listing

    def _stale(self, key: str) -> None:
        if "/" in key:
            self.stale_subdirs.add(key.split("/", 1)[0])
        else:
            self.stale_channel_files = True

    def _note(self, what: str, subdir: str) -> None:
        self.stale_subdirs.add(subdir)
        self.ctx.warnings.append(f"{self.facts.name}: {what}; the restore republishes {subdir}")


def _fields(copied: Copied) -> tuple[str, int, int | None]:
    return copied.sha256, copied.size, copied.mtime_ns


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield
