"""Monolithic per-subdir files, assembled from cached per-record JSON.

One streaming pass over the catalog writes `repodata_from_packages.json` (records as read from
the artifacts), `repodata.json` (patched) and `run_exports.json` (CEP 12) side by side; records
are never decoded or re-encoded. The bytes equal `encode_json` of the whole document (tested).
"""

from __future__ import annotations

import bz2
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import zstandard

from stockyard.catalog import PublishRow
from stockyard.types.encoding import encode_json, encode_json_key

SECTIONS = (("packages", ".tar.bz2"), ("packages.conda", ".conda"))
_EMPTY_RUN_EXPORTS = b'{"run_exports":{}}'


_FLUSH_EVERY = 4096  # records between writes: bounded memory, few system calls


def write_monolithic(
    sections: Iterable[tuple[str, Iterable[PublishRow]]],
    *,
    info: dict,
    repodata_version: int,
    removed_from_packages: list[str],
    from_packages: BinaryIO,
    patched: BinaryIO | None,
    run_exports: BinaryIO,
    listing: list[tuple[str, int, int, str]] | None = None,
) -> list[str]:
    """Write the files; returns the filenames that patches removed (for `removed`).

    `sections` yields ("packages", rows of .tar.bz2) then ("packages.conda", rows of .conda),
    each sorted by filename. The patched file's `removed` lists catalog removals plus patch
    removals; it is written last, so the patch-removed names are known by then.
    `patched=None` means no record is patched or removed by patches: repodata.json is then
    byte-identical to repodata_from_packages.json and the caller copies it. `listing`, when
    given, receives (filename, size, indexed_timestamp, sha256) of every row (for index.html).
    """
    raw: list[bytes] = []
    pat: list[bytes] = []
    rex: list[bytes] = []
    with_patches = patched is not None

    def flush() -> None:
        from_packages.write(b"".join(raw))
        if patched is not None:
            patched.write(b"".join(pat))
        run_exports.write(b"".join(rex))
        raw.clear()
        pat.clear()
        rex.clear()

    info_bytes = b'{"info":' + encode_json(info)
    raw.append(info_bytes)
    pat.append(info_bytes)
    rex.append(b'{"info":' + encode_json({"subdir": info.get("subdir")}))
    patch_removed: list[str] = []
    key_of = encode_json_key
    for key, rows in sections:
        head = b"," + key_of(key) + b":{"
        raw.append(head)
        pat.append(head)
        rex.append(head)
        first_raw = first_pat = True
        for count, row in enumerate(rows, 1):
            name = key_of(row.filename) + b":"
            if listing is not None:
                listing.append((row.filename, row.size, row.indexed_timestamp, row.sha256))
            if first_raw:
                first_raw = False
            else:
                raw.append(b",")
                rex.append(b",")
            raw.append(name)
            raw.append(row.record)
            rex.append(name)
            rex.append(row.run_exports_entry or _EMPTY_RUN_EXPORTS)
            if not with_patches:
                pass
            elif row.patch_removed:
                patch_removed.append(row.filename)
            else:
                if first_pat:
                    first_pat = False
                else:
                    pat.append(b",")
                pat.append(name)
                pat.append(row.patched if row.patched is not None else row.record)
            if count % _FLUSH_EVERY == 0:
                flush()
        raw.append(b"}")
        pat.append(b"}")
        rex.append(b"}")
    tail_version = b',"repodata_version":' + str(repodata_version).encode() + b"}"
    raw.append(b',"removed":' + encode_json(removed_from_packages) + tail_version)
    all_removed = sorted(set(removed_from_packages).union(patch_removed))
    pat.append(b',"removed":' + encode_json(all_removed) + tail_version)
    rex.append(b"}")
    flush()
    return patch_removed


def compress_zstd(source: Path, target: BinaryIO, level: int) -> None:
    """zstd-compress a file in one frame with its content size in the header."""
    compressor = zstandard.ZstdCompressor(
        level=level, write_content_size=True, write_checksum=False, threads=0
    )
    size = source.stat().st_size
    with open(source, "rb") as handle:
        compressor.copy_stream(handle, target, size=size, read_size=1 << 20, write_size=1 << 20)


def compress_bz2(source: Path, target: BinaryIO) -> None:
    compressor = bz2.BZ2Compressor(9)
    with open(source, "rb") as handle:
        while chunk := handle.read(1 << 20):
            target.write(compressor.compress(chunk))
    target.write(compressor.flush())
