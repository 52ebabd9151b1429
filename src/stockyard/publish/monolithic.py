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
_FLUSH_AT = 1 << 20


class _Out:
    """Buffered writes of many small pieces (faster than many small file writes)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.handle.write(b"".join(self.parts))
            self.parts.clear()
            self.size = 0


def write_monolithic(
    sections: Iterable[tuple[str, Iterable[PublishRow]]],
    *,
    info: dict,
    repodata_version: int,
    removed_from_packages: list[str],
    from_packages: BinaryIO,
    patched: BinaryIO,
    run_exports: BinaryIO,
) -> list[str]:
    """Write the three files; returns the filenames that patches removed (for `removed`).

    `sections` yields ("packages", rows of .tar.bz2) then ("packages.conda", rows of .conda),
    each sorted by filename. The patched file's `removed` lists catalog removals plus patch
    removals; it is written last, so the patch-removed names are known by then.
    """
    raw, pat, rex = _Out(from_packages), _Out(patched), _Out(run_exports)
    info_bytes = encode_json(info)
    raw.write(b'{"info":' + info_bytes)
    pat.write(b'{"info":' + info_bytes)
    rex.write(b'{"info":' + encode_json({"subdir": info.get("subdir")}))
    patch_removed: list[str] = []
    for key, rows in sections:
        head = b"," + encode_json_key(key) + b":{"
        raw.write(head)
        pat.write(head)
        rex.write(head)
        raw_sep = pat_sep = b""
        for row in rows:
            name = encode_json_key(row.filename) + b":"
            raw.write(raw_sep + name + row.record)
            rex.write(raw_sep + name + (row.run_exports_entry or _EMPTY_RUN_EXPORTS))
            raw_sep = b","
            if row.patch_removed:
                patch_removed.append(row.filename)
                continue
            pat.write(pat_sep + name + row.published)
            pat_sep = b","
        raw.write(b"}")
        pat.write(b"}")
        rex.write(b"}")
    tail_version = b',"repodata_version":' + str(repodata_version).encode() + b"}"
    raw.write(b',"removed":' + encode_json(removed_from_packages) + tail_version)
    all_removed = sorted(set(removed_from_packages).union(patch_removed))
    pat.write(b',"removed":' + encode_json(all_removed) + tail_version)
    rex.write(b"}")
    for out in (raw, pat, rex):
        out.flush()
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
