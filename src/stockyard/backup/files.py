"""Copying bytes in and out of a backup: hashed on the way, hard-linked where that is free."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from stockyard.storage import ObjectInfo, Store
from stockyard.storage.s3_reader import ObjectChanged

CHUNK = 1 << 20
#: Reads of an object replaced while it is read (a bucket's reader fails instead of splicing
#: two versions) are started over this many times.
ATTEMPTS = 3
#: Objects of a bucket copied at once (one request each; S3 clients are thread-safe).
COPY_THREADS = 16


@dataclass(frozen=True, slots=True)
class Copied:
    sha256: str
    size: int
    #: The source file's mtime, for local files.
    mtime_ns: int | None


def _stream(source: BinaryIO, dest: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(dest, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def copy_local(source: Path, dest: Path) -> Copied | None:
    """Copy a local file to `dest` while hashing it, keeping its mtime; None when it is gone.
    A later writer renames another file over `source`, so the open file is one version."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(source, "rb") as handle:
            mtime = os.fstat(handle.fileno()).st_mtime_ns
            digest, size = _stream(handle, dest)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        dest.unlink(missing_ok=True)
        return None
    os.utime(dest, ns=(mtime, mtime))
    return Copied(digest, size, mtime)


def copy_object(store: Store, key: str, dest: Path) -> Copied | None:
    """Copy the object at `key` to `dest` while hashing it; None when there is no such object.
    An object of a bucket replaced while it is read is read again."""
    local = store.local_path(key)
    if local is not None:
        return copy_local(local, dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(ATTEMPTS):
        try:
            with store.open(key) as handle:
                digest, size = _stream(handle, dest)
            return Copied(digest, size, None)
        except FileNotFoundError:
            dest.unlink(missing_ok=True)
            return None
        except ObjectChanged:
            dest.unlink(missing_ok=True)
    return None


def link_or_copy(source: Path, dest: Path) -> None:
    """A hard link (free, the same bytes: every writer replaces files by rename, never in
    place), or a copy keeping the mtime when the file systems differ."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


@dataclass
class FileHasher:
    """sha256 of local files, computed once per inode (labels and snapshots hard-link the same
    artifact under several names)."""

    _known: dict[tuple[int, int, int, int], str] = field(default_factory=dict)
    linked: int = 0
    copied: int = 0

    def link(self, source: Path, dest: Path) -> Copied | None:
        """`link_or_copy` then hash; None when `source` is gone."""
        try:
            link_or_copy(source, dest)
        except FileNotFoundError:
            return None
        info = dest.stat()
        if info.st_nlink > 1:
            self.linked += 1
        else:
            self.copied += 1
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        digest = self._known.get(identity)
        if digest is None:
            with open(dest, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            self._known[identity] = digest
        return Copied(digest, info.st_size, info.st_mtime_ns)


def walk_store(store: Store, prefix: str) -> Iterator[ObjectInfo]:
    """Every visible object under `prefix`, recursively (names starting with '.' are hidden:
    temporary files, a snapshot being built)."""
    yield from store.list(prefix)
    for name in store.list_dirs(prefix):
        yield from walk_store(store, f"{prefix}/{name}")


def walk_local(root: Path, relative: str) -> Iterator[str]:
    """Paths (relative to `root`, '/'-separated) of the regular files under `root/relative`,
    skipping names that start with '.' (temporary files) and symlinks."""
    base = root / relative
    if base.is_file() and not base.is_symlink():
        yield relative
        return
    for directory, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(directory) / name
            if not name.startswith(".") and path.is_file() and not path.is_symlink():
                yield path.relative_to(root).as_posix()


def place_file(source: Path, dest: Path, *, mode: int = 0o644) -> None:
    """Put a copy of `source` at `dest` atomically (temp next to it, then rename), keeping the
    mtime."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f".{dest.name}.restore.tmp")
    temp.unlink(missing_ok=True)
    try:
        shutil.copy2(source, temp)
        os.chmod(temp, mode)
        os.replace(temp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
