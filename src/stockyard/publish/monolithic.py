"""Monolithic per-subdir files, assembled from cached per-record JSON.

One streaming pass over the catalog writes `repodata_from_packages.json` (records as read from
the artifacts), `repodata.json` (patched) and `run_exports.json` (CEP 12) side by side; records
are never decoded or re-encoded. The bytes equal `encode_json` of the whole document (tested).
"""

from __future__ import annotations

import bz2
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from stockyard.types.encoding import encode_json, encode_json_key, zstd_compressor


class Sink(Protocol):
    """Where published bytes are streamed (a file, or the publisher's hashing writer)."""

    def write(self, data: bytes, /) -> int: ...


SECTIONS = (("packages", ".tar.bz2"), ("packages.conda", ".conda"))
_EMPTY_RUN_EXPORTS = b'{"run_exports":{}}'


def write_monolithic(
    sections: Iterable[tuple[str, Iterable[Sequence[tuple[Any, ...]]]]],
    *,
    info: dict[str, Any],
    repodata_version: int,
    removed_from_packages: list[str],
    from_packages: Sink,
    patched: Sink | None,
    run_exports: Sink,
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
    out = _Streams(from_packages, patched, run_exports, listing)
    out.begin(info)
    for key, batches in sections:
        out.begin_section(key)
        for batch in batches:
            out.write_batch(batch)
        out.end_section()
    return out.end(removed_from_packages, repodata_version)


@dataclass(slots=True)
class _Streams:
    """The three documents written side by side, one section and batch at a time."""

    raw: Sink
    patched: Sink | None
    rex: Sink
    listing: list[tuple[str, int, int, str]] | None
    patch_removed: list[str] = field(default_factory=list)
    raw_sep: bytes = b""
    pat_sep: bytes = b""

    def _both(self, data: bytes) -> None:
        self.raw.write(data)
        if self.patched is not None:
            self.patched.write(data)

    def begin(self, info: dict[str, Any]) -> None:
        self._both(b'{"info":' + encode_json(info))
        self.rex.write(b'{"info":' + encode_json({"subdir": info.get("subdir")}))

    def begin_section(self, key: str) -> None:
        head = b"," + encode_json_key(key) + b":{"
        self._both(head)
        self.rex.write(head)
        self.raw_sep = self.pat_sep = b""

    def write_batch(self, batch: Sequence[tuple[Any, ...]]) -> None:
        # The hot loop of every publish: one tuple unpack and a few list appends per artifact.
        raw: list[bytes] = []
        pat: list[bytes] = []
        rex: list[bytes] = []
        key_of = encode_json_key
        listing = self.listing
        with_patches = self.patched is not None
        raw_sep, pat_sep = self.raw_sep, self.pat_sep
        for filename, _name, record, patch, removed, exports, size, sha, stamp in batch:
            name = key_of(filename) + b":"
            if listing is not None:
                listing.append((filename, size, stamp, sha))
            raw.append(raw_sep + name + record)
            entry = _EMPTY_RUN_EXPORTS if exports is None else b'{"run_exports":' + exports + b"}"
            rex.append(raw_sep + name + entry)
            raw_sep = b","
            if with_patches:
                if removed:
                    self.patch_removed.append(filename)
                else:
                    pat.append(pat_sep + name + (patch if patch is not None else record))
                    pat_sep = b","
        self.raw_sep, self.pat_sep = raw_sep, pat_sep
        self.raw.write(b"".join(raw))
        self.rex.write(b"".join(rex))
        if self.patched is not None:
            self.patched.write(b"".join(pat))

    def end_section(self) -> None:
        self._both(b"}")
        self.rex.write(b"}")

    def end(self, removed_from_packages: list[str], repodata_version: int) -> list[str]:
        """`removed` last: by then the patch-removed names are known."""
        tail_version = b',"repodata_version":' + str(repodata_version).encode() + b"}"
        self.raw.write(b',"removed":' + encode_json(removed_from_packages) + tail_version)
        if self.patched is not None:
            all_removed = sorted(set(removed_from_packages).union(self.patch_removed))
            self.patched.write(b',"removed":' + encode_json(all_removed) + tail_version)
        self.rex.write(b"}")
        return self.patch_removed


def compress_zstd(source: Path, target: Sink, level: int) -> None:
    """zstd-compress a file in one frame with its content size in the header."""
    compressor = zstd_compressor(level)
    size = source.stat().st_size
    frame = compressor.compressobj(size=size)
    with open(source, "rb") as handle:
        while chunk := handle.read(1 << 20):
            target.write(frame.compress(chunk))
    target.write(frame.flush())


def compress_bz2(source: Path, target: Sink) -> None:
    compressor = bz2.BZ2Compressor(9)
    with open(source, "rb") as handle:
        while chunk := handle.read(1 << 20):
            target.write(compressor.compress(chunk))
    target.write(compressor.flush())
