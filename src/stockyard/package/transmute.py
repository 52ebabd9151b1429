"""Convert an artifact between `.conda` and `.tar.bz2`, keeping every member as it is.

Names, bytes, permission bits, mtimes, symbolic and hard links and directory entries are carried
over member by member, streaming: the payload is never held in memory (only `info/` is, bounded
by `Limits.max_info_bytes`, because a `.conda` stores it in its own tarball). A `.conda` source
yields its info members first, so a `.tar.bz2` result has `info/` first, as conda writes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Literal

from stockyard.package._problems import ArchiveProblem, UnsafeMember, io_error
from stockyard.package.create import write_entries
from stockyard.package.limits import DEFAULT_LIMITS, Limits
from stockyard.package.members import iter_members
from stockyard.package.tar_format import TarEntry, normalize_member_path
from stockyard.types.errors import InvalidArtifact, InvalidIdentifier
from stockyard.types.identifiers import parse_artifact_filename

#: Above this source size the `.conda` zip member gets zip64 fields (zstd output of a payload
#: this large could pass zip's 2 GiB limit).
_LARGE_SOURCE: Final = 512 << 20


def transmute(
    src: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    to: Literal["conda", "tar.bz2"],
    *,
    zstd_level: int = 19,
    bz2_level: int = 9,
    limits: Limits = DEFAULT_LIMITS,
    fsync: bool = True,
) -> Path:
    """Write `src` in format `to` into `dest_dir` (same stem) and return the new path."""
    display = os.fspath(src)
    try:
        name = parse_artifact_filename(os.path.basename(display))
    except InvalidIdentifier as exc:
        raise InvalidArtifact(display, exc.message) from None
    if to not in ("conda", "tar.bz2"):
        raise InvalidIdentifier(f"unknown artifact format {to!r}: use conda or tar.bz2")
    dest = Path(dest_dir) / f"{name.stem}.{to}"
    try:
        fd = os.open(display, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            entries = _entries(fd, size, name.extension, limits)
            write_entries(
                dest,
                entries,
                zstd_level=zstd_level,
                bz2_level=bz2_level,
                fsync=fsync,
                large=size > _LARGE_SOURCE,
                max_info_bytes=limits.max_info_bytes,
            )
        finally:
            os.close(fd)
    except ArchiveProblem as problem:
        raise problem.to_error(display) from None
    except OSError as exc:
        raise io_error(display, "transmute", exc) from None
    return dest


def _entries(
    fd: int, size: int, fmt: Literal["conda", "tar.bz2"], limits: Limits
) -> Iterator[TarEntry]:
    for _section, member, reader in iter_members(fd, size, fmt, limits):
        if not member.path:
            continue  # the archive root ("./")
        if member.kind == "special":
            raise UnsafeMember(f"member {member.path!r} is a device or fifo")
        if member.kind == "file":
            yield TarEntry(
                path=member.path,
                kind="file",
                mode=member.mode,
                mtime=member.mtime,
                size=member.size,
                chunks=reader.iter_data,
            )
        elif member.kind == "hardlink":
            target = normalize_member_path(member.linkname)
            if target.startswith("info/") != member.path.startswith("info/"):
                raise ArchiveProblem(
                    f"hard link {member.path!r} -> {target!r} crosses info/ and the payload"
                )
            yield TarEntry(
                path=member.path, kind="hardlink", mode=member.mode, mtime=member.mtime,
                linkname=target,
            )  # fmt: skip
        else:
            yield TarEntry(
                path=member.path,
                kind=member.kind,
                mode=member.mode,
                mtime=member.mtime,
                linkname=member.linkname,
            )
