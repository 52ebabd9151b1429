"""Monolithic per-subdir files, assembled from cached per-record JSON.

One streaming pass over the catalog writes `repodata_from_packages.json` (records as read from
the artifacts), `repodata.json` (patched) and `run_exports.json` (CEP 12) side by side; records
are never decoded or re-encoded. The bytes equal `encode_json` of the whole document (tested).
"""

from __future__ import annotations

import bz2
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from stockyard.types.encoding import encode_json, encode_json_key, zstd_compressor

SECTIONS = (("packages", ".tar.bz2"), ("packages.conda", ".conda"))
_EMPTY_RUN_EXPORTS = b'{"run_exports":{}}'


def write_monolithic(
    sections: Iterable[tuple[str, Iterable[Sequence[tuple[Any, ...]]]]],
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

    `sections` yields ("packages", batches of .tar.bz2 rows) then ("packages.conda", batches of
    .conda rows), each sorted by filename; a row is a `PublishRow` or a plain tuple in its field
    order. The patched file's `removed` lists catalog removals plus patch removals; it is
    written last, so the patch-removed names are known by then. `patched=None` means no record
    is patched or removed by patches: repodata.json is then byte-identical to
    repodata_from_packages.json and the caller publishes that. `listing`, when given, receives
    (filename, size, indexed_timestamp, sha256) of every row (for index.html).
    """
    with_patches = patched is not None
    info_bytes = b'{"info":' + encode_json(info)
    from_packages.write(info_bytes)
    if patched is not None:
        patched.write(info_bytes)
    run_exports.write(b'{"info":' + encode_json({"subdir": info.get("subdir")}))
    patch_removed: list[str] = []
    key_of = encode_json_key
    for key, batches in sections:
        head = b"," + key_of(key) + b":{"
        from_packages.write(head)
        if patched is not None:
            patched.write(head)
        run_exports.write(head)
        raw_sep = pat_sep = b""
        for batch in batches:
            # The hot loop of every publish: one tuple unpack and a few list appends per artifact.
            raw: list[bytes] = []
            pat: list[bytes] = []
            rex: list[bytes] = []
            for filename, _name, record, patch, removed, exports, size, sha, stamp in batch:
                name = key_of(filename) + b":"
                if listing is not None:
                    listing.append((filename, size, stamp, sha))
                raw.append(raw_sep + name + record)
                rex.append(
                    raw_sep
                    + name
                    + (
                        b'{"run_exports":' + exports + b"}"
                        if exports is not None
                        else _EMPTY_RUN_EXPORTS
                    )
                )
                raw_sep = b","
                if with_patches:
                    if removed:
                        patch_removed.append(filename)
                    else:
                        pat.append(pat_sep + name + (patch if patch is not None else record))
                        pat_sep = b","
            from_packages.write(b"".join(raw))
            run_exports.write(b"".join(rex))
            if patched is not None:
                patched.write(b"".join(pat))
        from_packages.write(b"}")
        if patched is not None:
            patched.write(b"}")
        run_exports.write(b"}")
    tail_version = b',"repodata_version":' + str(repodata_version).encode() + b"}"
    from_packages.write(b',"removed":' + encode_json(removed_from_packages) + tail_version)
    if patched is not None:
        all_removed = sorted(set(removed_from_packages).union(patch_removed))
        patched.write(b',"removed":' + encode_json(all_removed) + tail_version)
    run_exports.write(b"}")
    return patch_removed


def compress_zstd(source: Path, target: BinaryIO, level: int) -> None:
    """zstd-compress a file in one frame with its content size in the header."""
    compressor = zstd_compressor(level)
    size = source.stat().st_size
    with open(source, "rb") as handle:
        compressor.copy_stream(handle, target, size=size, read_size=1 << 20, write_size=1 << 20)


def compress_bz2(source: Path, target: BinaryIO) -> None:
    compressor = bz2.BZ2Compressor(9)
    with open(source, "rb") as handle:
        while chunk := handle.read(1 << 20):
            target.write(compressor.compress(chunk))
    target.write(compressor.flush())
