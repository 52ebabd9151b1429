"""A store in a local directory: atomic renames, fsync'd data, traversal-checked keys."""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import os
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from stockyard.storage.base import ObjectInfo, check_key


def _libc_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    except OSError:
        return None


_SYNCFS = _libc_syncfs()


def sync_file_system(directory: Path) -> None:
    """Flush the file system that holds `directory` (Linux `syncfs(2)`; elsewhere, or if it
    fails, `sync(2)`). One flush commits the journal once for many files: 574 shard files of a
    cold 13k-artifact index took 0.8-1.1 s with an fsync each, 0.03 s with one syncfs."""
    if _SYNCFS is not None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()


class LocalStore:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync

    @property
    def location(self) -> str:
        return str(self.root.resolve())

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def child(self, prefix: str) -> LocalStore:
        """The store of the directory `prefix` inside this one."""
        return LocalStore(self._path(prefix), fsync=self.fsync)

    def put(self, key: str, data: bytes) -> None:
        self._write(key, data, fsync=self.fsync)

    def put_deferred(self, key: str, data: bytes) -> None:
        self._write(key, data, fsync=False)

    def sync(self) -> None:
        if self.fsync:
            sync_file_system(self.root)

    def _write(self, key: str, data: bytes, *, fsync: bool) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def put_file(self, key: str, source: Path) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.fsync:
            with open(source, "rb") as handle:
                os.fsync(handle.fileno())
        try:
            os.replace(source, path)
        except OSError:
            # Different file system: copy next to the target, then rename.
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            try:
                shutil.copyfile(source, tmp)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        os.chmod(path, 0o644)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def download(self, key: str, out: BinaryIO) -> ObjectInfo:
        try:
            fd = os.open(self._path(key), os.O_RDONLY | os.O_CLOEXEC)
        except (IsADirectoryError, NotADirectoryError) as error:
            raise FileNotFoundError(key) from error
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a directory opens read-only too
            os.close(fd)
            raise FileNotFoundError(key)
        with os.fdopen(fd, "rb") as source:
            shutil.copyfileobj(source, out, 1 << 20)
        return ObjectInfo(key, st.st_size, st.st_mtime_ns)

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = os.stat(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not os.path.isfile(self._path(key)):
            return None
        return ObjectInfo(key, st.st_size, st.st_mtime_ns)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        directory = self._path(prefix) if prefix else self.root
        try:
            entries = os.scandir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return
        with entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                key = f"{prefix}/{entry.name}" if prefix else entry.name
                yield ObjectInfo(key, st.st_size, st.st_mtime_ns)

    def file_sizes(self, prefix: str) -> dict[str, tuple[int, int]]:
        # The indexer's hot path on every run: no per-entry objects, one stat per file.
        out: dict[str, tuple[int, int]] = {}
        try:
            entries = os.scandir(self._path(prefix))
        except (FileNotFoundError, NotADirectoryError):
            return out
        with entries:
            for entry in entries:
                name = entry.name
                if name[0] == "." or not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                out[name] = (st.st_size, st.st_mtime_ns)
        return out

    def list_dirs(self, prefix: str = "") -> builtins.list[str]:  # `list` is a method here
        directory = self._path(prefix) if prefix else self.root
        try:
            with os.scandir(directory) as entries:
                return sorted(
                    e.name
                    for e in entries
                    if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
                )
        except (FileNotFoundError, NotADirectoryError):
            return []

    def move(self, source: str, target: str) -> int | None:
        self.put_file(target, self._path(source))
        return self._path(target).stat().st_mtime_ns  # a rename keeps the source's mtime

    def copy(self, source: str, target: str) -> None:
        """A hard link (a copy where links are refused: another file system, some network
        shares) made under a temporary name, then renamed over `target`."""
        src, dst = self._path(source), self._path(target)
        if not src.is_file():
            raise FileNotFoundError(source)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(6)}.tmp")
        try:
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
                os.chmod(tmp, 0o644)
                if self.fsync:
                    with open(tmp, "rb") as handle:
                        os.fsync(handle.fileno())
            # When `dst` is already a link of `src`, rename does nothing and `tmp` stays:
            # `finally` removes it.
            os.replace(tmp, dst)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def delete_tree(self) -> None:
        """Delete every file of this store, hidden ones included (the root goes too)."""
        shutil.rmtree(self.root, ignore_errors=True)
