"""What a signing run left: the identity of every file it signed, so that the next run over an
unchanged subdir is a few `stat` calls, not a pass over every record.

A file is unchanged when its inode, size and mtime are those recorded: every writer (our
publisher, this package) replaces files by rename, so a rewrite always gets a new inode.
`.stockyard/trust/signed/<subdir>.json`; a missing or damaged mark only costs one full pass.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import msgspec

from stockyard.trust.layout import TrustLayout, write_atomic

#: The files of a subdir whose identity decides whether it must be looked at again.
WATCHED = (
    "repodata.json",
    "repodata.json.zst",
    "repodata.json.bz2",
    "repodata.json.gz",
    "current_repodata.json",
    "current_repodata.json.zst",
    "current_repodata.json.gz",
)


class SubdirMark(msgspec.Struct):
    key: str
    records: int
    #: file name -> (inode, size, mtime_ns); absent files are absent here too.
    files: dict[str, tuple[int, int, int]]


#: Built at import (under the import lock): msgspec's first use of a Struct is not thread safe.
_decode_mark = msgspec.json.Decoder(SubdirMark).decode


def _identities(directory: Path) -> dict[str, tuple[int, int, int]]:
    found: dict[str, tuple[int, int, int]] = {}
    for name in WATCHED:
        with contextlib.suppress(FileNotFoundError):
            info = os.stat(directory / name)
            found[name] = (info.st_ino, info.st_size, info.st_mtime_ns)
    return found


def _path(channel_dir: Path, subdir: str) -> Path:
    return TrustLayout(channel_dir).state_dir / "signed" / f"{subdir}.json"


def unchanged_since_signed(channel_dir: Path, subdir: str, key: str) -> int | None:
    """The record count of the last signing run when nothing changed since; else None."""
    try:
        mark = _decode_mark(_path(channel_dir, subdir).read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    if mark.key != key or mark.files != _identities(channel_dir / subdir):
        return None
    return mark.records


def remember_signed(channel_dir: Path, subdir: str, key: str, records: int) -> None:
    mark = SubdirMark(key, records, _identities(channel_dir / subdir))
    write_atomic(_path(channel_dir, subdir), msgspec.json.encode(mark), mode=0o600)
