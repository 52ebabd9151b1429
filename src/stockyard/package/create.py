"""Create `.conda` and `.tar.bz2` artifacts, reproducibly and atomically.

Reproducible: members in a fixed order (`info/` first, then by path), owner root with empty
user/group names, one fixed mtime (the index.json timestamp, or 0), fixed zip timestamps, a fixed
compression level and single-threaded compressors. The same input gives the same bytes.

Atomic: the artifact is written to a temporary file next to `dest`, flushed, then renamed, so a
reader never sees a partial artifact.
"""

from __future__ import annotations

import bz2
import contextlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Final, Literal

import msgspec
import zstandard

from stockyard.package._problems import ArchiveProblem
from stockyard.package.tar_format import TarEntry, TarWriter, archive_size, normalize_member_path
from stockyard.types.errors import InvalidArtifact, InvalidIdentifier, StockyardError
from stockyard.types.identifiers import ArtifactFormat, artifact_format, parse_artifact_filename

METADATA_JSON_BYTES: Final = b'{"conda_pkg_format_version": 2}'
#: Zip entries carry this timestamp (the earliest zip can express), so output never depends on
#: the clock.
ZIP_DATE_TIME: Final = (1980, 1, 1, 0, 0, 0)
#: Above this many payload bytes the zip member gets zip64 fields (zipfile needs to know first).
_ZIP64_THRESHOLD: Final = 1 << 30
_CHUNK: Final = 1 << 20


def default_mode(path: str) -> int:
    """0o755 for files under bin/ (executables), 0o644 otherwise."""
    return 0o755 if path.startswith("bin/") else 0o644


def index_mtime(index_json: bytes | None) -> int:
    """The mtime written into archives: index.json's timestamp in seconds, or 0."""
    if not index_json:
        return 0
    try:
        value = msgspec.json.decode(index_json)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return 0
    timestamp = value.get("timestamp") if isinstance(value, dict) else None
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or not 0 <= timestamp < 2**63:
        return 0
    return timestamp // 1000 if timestamp > 10**11 else timestamp  # old records hold seconds


def _sort_key(entry: TarEntry) -> tuple[bool, str]:
    return (not entry.path.startswith("info/"), entry.path)


def write_artifact(
    dest: str | os.PathLike[str],
    members: Mapping[str, bytes],
    *,
    links: Mapping[str, str] | None = None,
    modes: Mapping[str, int] | None = None,
    directories: Iterable[str] = (),
    mtime: int | None = None,
    zstd_level: int = 19,
    bz2_level: int = 9,
    fsync: bool = True,
) -> None:
    """Write an artifact whose files are `members` (archive path -> bytes).

    The format comes from `dest`'s extension; in a `.conda`, `info/*` goes to the info tarball.
    `links` adds symbolic links (path -> target), `modes` overrides permission bits (default
    `default_mode`), `directories` adds (empty) directory entries. `mtime` defaults to the
    index.json timestamp.
    """
    dest = Path(dest)
    links = links or {}
    modes = modes or {}
    if mtime is None:
        mtime = index_mtime(members.get("info/index.json"))
    entries: list[TarEntry] = []
    for path, data in members.items():
        entries.append(
            TarEntry(
                path=_clean(path),
                kind="file",
                mode=modes.get(path, default_mode(path)),
                mtime=mtime,
                data=bytes(data),
            )
        )
    for path, target in links.items():
        entries.append(
            TarEntry(path=_clean(path), kind="symlink", mode=0o777, mtime=mtime, linkname=target)
        )
    for path in directories:
        entries.append(
            TarEntry(path=_clean(path), kind="directory", mode=modes.get(path, 0o755), mtime=mtime)
        )
    entries.sort(key=_sort_key)
    seen: set[str] = set()
    for entry in entries:
        if entry.path in seen:
            raise StockyardError(f"{entry.path!r} is given twice", hint="Give each path once.")
        seen.add(entry.path)
    write_entries(dest, entries, zstd_level=zstd_level, bz2_level=bz2_level, fsync=fsync)


def _clean(path: str) -> str:
    try:
        clean = normalize_member_path(path)
    except ArchiveProblem as problem:
        raise StockyardError(
            problem.reason, hint="Use relative paths inside the package."
        ) from None
    if not clean:
        raise StockyardError(f"{path!r} is not a valid member path")
    return clean


def _format_and_stem(dest: Path) -> tuple[ArtifactFormat, str]:
    fmt = artifact_format(dest.name)
    if fmt is None:
        raise InvalidIdentifier(f"{dest.name!r} must end in .conda or .tar.bz2")
    return fmt, dest.name[: -len(fmt) - 1]


def write_entries(
    dest: Path,
    entries: Iterable[TarEntry],
    *,
    zstd_level: int = 19,
    bz2_level: int = 9,
    fsync: bool = True,
    large: bool | None = None,
    max_info_bytes: int = 64 << 20,
) -> None:
    """Write `entries` in the given order into the artifact `dest` (format from its name).

    `entries` may be a lazy iterator (transmute streams members from another archive); in a
    `.conda`, `info/` entries are held in memory (bounded by `max_info_bytes`) and the payload is
    streamed. `large` forces (True) or avoids (False) zip64 fields; by default it is decided from
    the entries' sizes when `entries` is a list.
    """
    fmt, stem = _format_and_stem(dest)
    with _atomic_file(dest, fsync=fsync) as out:
        if fmt == "tar.bz2":
            compressor = bz2.BZ2Compressor(bz2_level)

            def write(data: bytes) -> None:
                if data:
                    out.write(compressor.compress(data))

            writer = TarWriter(write)
            for entry in entries:
                writer.add(entry)
            writer.close()
            out.write(compressor.flush())
        else:
            _write_conda(out, stem, entries, zstd_level, large, max_info_bytes)


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # unix, so external_attr holds a mode
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


def _write_conda(
    out: IO[bytes],
    stem: str,
    entries: Iterable[TarEntry],
    level: int,
    large: bool | None,
    max_info_bytes: int,
) -> None:
    known = isinstance(entries, list | tuple)
    pkg_size = -1
    if known:
        pkg_list = [e for e in entries if not e.path.startswith("info/")]
        pkg_size = archive_size(pkg_list)
        if large is None:
            large = pkg_size > _ZIP64_THRESHOLD
    cctx = zstandard.ZstdCompressor(level=level, write_content_size=True, write_checksum=False)
    info_entries: list[TarEntry] = []
    info_bytes = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(_zip_info("metadata.json"), METADATA_JSON_BYTES)
        with (
            zf.open(_zip_info(f"pkg-{stem}.tar.zst"), "w", force_zip64=bool(large)) as member,
            cctx.stream_writer(member, size=pkg_size, closefd=False) as zout,
        ):
            writer = TarWriter(zout.write)
            for entry in entries:
                if entry.path.startswith("info/"):
                    entry = _in_memory(entry)
                    info_bytes += entry.data_size
                    if info_bytes > max_info_bytes:
                        raise ArchiveProblem(f"info/ holds more than {max_info_bytes} bytes")
                    info_entries.append(entry)
                else:
                    writer.add(entry)
            writer.close()
        buf = bytearray()
        info_writer = TarWriter(buf.extend)
        for entry in info_entries:
            info_writer.add(entry)
        info_writer.close()
        zf.writestr(_zip_info(f"info-{stem}.tar.zst"), cctx.compress(bytes(buf)))


def _in_memory(entry: TarEntry) -> TarEntry:
    if entry.kind != "file" or entry.data is not None:
        return entry
    data = b"".join(entry.chunks()) if entry.chunks is not None else b""
    if len(data) != entry.size:
        raise ArchiveProblem(f"{entry.path} changed while being archived")
    return TarEntry(path=entry.path, kind="file", mode=entry.mode, mtime=entry.mtime, data=data)


class _atomic_file:  # noqa: N801 - used like a function: `with _atomic_file(dest) as out`
    """A temporary file next to `dest`, renamed onto `dest` only when the block succeeds."""

    def __init__(self, dest: Path, *, fsync: bool) -> None:
        self._dest = dest
        self._fsync = fsync

    def __enter__(self) -> IO[bytes]:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self._dest.name}.", suffix=".tmp", dir=self._dest.parent
        )
        self._tmp = tmp
        self._file = os.fdopen(fd, "wb")
        return self._file

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._file.flush()
                if self._fsync:
                    os.fsync(self._file.fileno())
            self._file.close()
            if exc_type is None:
                os.chmod(self._tmp, 0o644)
                os.replace(self._tmp, self._dest)
                return
        except BaseException:
            _unlink_quietly(self._tmp)
            raise
        _unlink_quietly(self._tmp)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# --- from a directory -----------------------------------------------------------------------------


def _file_chunks(path: str) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as f:
            while data := f.read(_CHUNK):
                yield data

    return chunks


def directory_entries(source: Path, mtime: int) -> list[TarEntry]:
    """Entries for every file, symlink and empty directory under `source` (symlinks kept)."""
    entries: list[TarEntry] = []

    def walk(directory: Path, prefix: str) -> None:
        with os.scandir(directory) as it:
            children = sorted(it, key=lambda e: e.name)
        if not children and prefix:
            entries.append(
                TarEntry(path=prefix.rstrip("/"), kind="directory", mode=0o755, mtime=mtime)
            )
        for child in children:
            rel = prefix + child.name
            st = child.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                entries.append(
                    TarEntry(
                        path=rel, kind="symlink", mode=0o777, mtime=mtime,
                        linkname=os.readlink(child.path),
                    )
                )  # fmt: skip
            elif stat.S_ISDIR(st.st_mode):
                walk(Path(child.path), rel + "/")
            elif stat.S_ISREG(st.st_mode):
                entries.append(
                    TarEntry(
                        path=rel, kind="file", mode=stat.S_IMODE(st.st_mode) & 0o777, mtime=mtime,
                        size=st.st_size, chunks=_file_chunks(child.path),
                    )
                )  # fmt: skip
            else:
                raise StockyardError(
                    f"{child.path} is not a regular file, directory or symlink",
                    hint="Conda packages cannot hold devices, fifos or sockets.",
                )

    walk(source, "")
    entries.sort(key=_sort_key)
    return entries


def create_from_directory(
    source: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    fmt: Literal["conda", "tar.bz2"],
    *,
    mtime: int | None = None,
    zstd_level: int = 19,
    bz2_level: int = 9,
    fsync: bool = True,
) -> Path:
    """Pack an extracted package directory (with `info/index.json`) into `dest_dir`.

    The artifact is named `<name>-<version>-<build>.<fmt>` from index.json. File modes are kept,
    symbolic links stay links, empty directories are kept; mtimes are fixed (see `index_mtime`).
    """
    source = Path(source)
    index_path = source / "info" / "index.json"
    try:
        raw_index = index_path.read_bytes()
    except OSError as exc:
        raise StockyardError(
            f"{index_path}: cannot read ({exc.strerror})",
            hint="Point at an extracted package: a directory holding info/index.json.",
        ) from None
    try:
        index = msgspec.json.decode(raw_index)
        filename = f"{index['name']}-{index['version']}-{index['build']}.{fmt}"
        parse_artifact_filename(filename)
    except (
        msgspec.DecodeError,
        UnicodeDecodeError,
        RecursionError,
        KeyError,
        TypeError,
        InvalidIdentifier,
    ) as exc:
        raise InvalidArtifact(
            str(index_path), f"cannot name the artifact from it ({exc})"
        ) from None
    if mtime is None:
        mtime = index_mtime(raw_index)
    entries = directory_entries(source, mtime)
    dest = Path(dest_dir) / filename
    try:
        write_entries(dest, entries, zstd_level=zstd_level, bz2_level=bz2_level, fsync=fsync)
    except ArchiveProblem as problem:
        raise problem.to_error(str(source)) from None
    return dest
