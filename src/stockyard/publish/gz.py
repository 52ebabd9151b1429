"""gzip variants of the big JSON documents, for fronts that serve precompressed files.

`repodata.json.gz`, `current_repodata.json.gz` and `channeldata.json.gz` sit next to their
documents so that nginx (`gzip_static on`) or a CDN origin sends them to clients that accept
gzip without compressing anything per request (docs/deploy-cdn.md). Rules:

- **Deterministic bytes**: no file name and mtime 0 in the gzip header, one fixed compressor and
  level, so the same document always gives the same `.gz` and an unchanged publish writes none.
- **Never stale**: a `.gz` is published before its document (a reader that sees the new document
  finds the new `.gz`), and is recompressed whenever the document changes. When the document
  keeps its bytes the `.gz` is kept only if its trailer (CRC-32 and length of what it expands
  to) matches the document: a crash between the two writes, or anything else that left another
  `.gz` behind, is repaired by the next publish without trusting the catalog's hashes.
- **Removed with it**: when the channel's policy turns the variant off (`PublishOptions.gz`,
  `current_repodata`), the `.gz` is deleted by the next publish.

Level 1 of ISA-L's igzip (`isal`): on the 176 MB linux-64 repodata.json of the 1M-record
benchmark it takes 0.2-0.3 s for 25.8 MB, where zlib's default level 6 takes 2.5 s for 25.1 MB
(and zstd level 3, already paid for the `.zst`, 0.4 s). The server's on-the-fly gzip keeps
zlib; the two never have to give the same bytes, since each `.gz` has its own validators.
repodata.json's `.gz` is compressed on another thread while the publisher makes the `.zst`
(publish/subdir.py; igzip releases the GIL): the same calls on the same chunks, so the same bytes.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Final, Protocol

from isal import isal_zlib

from stockyard.storage import Store
from stockyard.types.repodata import CHANNELDATA_JSON, CURRENT_REPODATA, REPODATA_JSON

GZ_SUFFIX: Final = ".gz"
#: igzip levels are 0-3; 1 is its fast default.
GZIP_LEVEL: Final = 1
#: The documents that get a published `.gz` (by file name, in any directory).
GZIPPED_DOCUMENTS: Final = frozenset({REPODATA_JSON, CURRENT_REPODATA, CHANNELDATA_JSON})
_CHUNK: Final = 1 << 20
_TRAILER: Final = struct.Struct("<II")
#: zlib's `wbits` for a gzip wrapper with a plain header: no name, mtime 0, OS 255.
_GZIP_WBITS: Final = 16 + 15


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


def has_published_gz(key: str) -> bool:
    """Whether `key` is a document that may have a published `.gz` next to it."""
    return key.rsplit("/", 1)[-1] in GZIPPED_DOCUMENTS


def gzip_bytes(data: bytes) -> bytes:
    compressor = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, _GZIP_WBITS)
    return compressor.compress(data) + compressor.flush()


def gzip_file(source: Path, target: Sink) -> None:
    """gzip `source` into `target` in chunks (the same bytes as `gzip_bytes` of the file)."""
    compressor = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, _GZIP_WBITS)
    with open(source, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            target.write(compressor.compress(chunk))
    target.write(compressor.flush())


def crc_and_size(data: bytes) -> tuple[int, int]:
    """(CRC-32, length mod 2**32) of a document, as a gzip trailer records them."""
    return zlib.crc32(data), len(data) & 0xFFFFFFFF


def file_crc_and_size(path: Path) -> tuple[int, int]:
    crc, size = 0, 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return crc, size & 0xFFFFFFFF


def published_trailer(store: Store, key: str) -> tuple[int, int] | None:
    """(CRC-32, length mod 2**32) that the published `.gz` at `key` expands to, from its last
    eight bytes; None when there is no such object (or it is too short to be gzip)."""
    info = store.stat(key)
    if info is None or info.size < 18:  # header (10) + trailer (8)
        return None
    try:
        with store.open(key) as handle:
            handle.seek(info.size - _TRAILER.size)
            tail = handle.read(_TRAILER.size)
    except FileNotFoundError:
        return None
    if len(tail) != _TRAILER.size:
        return None
    crc, size = _TRAILER.unpack(tail)
    return crc, size
