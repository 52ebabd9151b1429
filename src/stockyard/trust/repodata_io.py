"""Reading a published repodata document without decoding its records, and writing it back.

Top-level members and records stay `msgspec.Raw` slices of the file, so adding the `signatures`
member costs one pass over the bytes, not a decode and re-encode of every record. Members are
joined in sorted key order with compact separators, which is exactly what our publisher's
`encode_json` writes (so a signed file is `encode_json` of the signed document).
"""

from __future__ import annotations

import bz2
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from isal import isal_zlib

from stockyard.trust.errors import TrustError
from stockyard.trust.layout import write_atomic
from stockyard.types.encoding import join_json_object, zstd_compress

#: Sections whose records conda reads, keyed by filename.
RECORD_SECTIONS = ("packages", "packages.conda")
#: CEP 48: records keyed by filename without extension, under the extension without its dot.
V3 = "v3"
SIGNATURES = "signatures"

_Members = dict[str, msgspec.Raw]
_T = TypeVar("_T")
_decode_members = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_v3 = msgspec.json.Decoder(dict[str, dict[str, msgspec.Raw]]).decode
#: A gzip wrapper with no name and mtime 0, igzip level 1: what `stockyard.publish.gz` writes
#: (the publisher keeps a `.gz` whose trailer matches its document, whoever compressed it).
_GZIP_WBITS = 16 + 15
_GZIP_LEVEL = 1


def gzip_bytes(data: bytes) -> bytes:
    compressor = isal_zlib.compressobj(_GZIP_LEVEL, isal_zlib.DEFLATED, _GZIP_WBITS)
    return compressor.compress(data) + compressor.flush()


@dataclass(slots=True)
class RepodataDocument:
    members: _Members
    where: str

    def records(self) -> Iterator[tuple[str, msgspec.Raw]]:
        """(filename, record bytes) of every record, `v3` ones included."""
        for section in RECORD_SECTIONS:
            raw = self.members.get(section)
            if raw is not None:
                yield from self._decode(section, _decode_members, raw).items()
        v3 = self.members.get(V3)
        if v3 is not None:
            for extension, records in self._decode(V3, _decode_v3, v3).items():
                for stem, record in records.items():
                    yield f"{stem}.{extension}", record

    def _decode(self, section: str, decode: Callable[[Any], _T], raw: msgspec.Raw) -> _T:
        try:
            return decode(raw)
        except msgspec.DecodeError as exc:
            raise TrustError(f"{self.where}: {section!r} is malformed: {exc}") from exc

    def with_signatures(self, signatures: bytes | None) -> bytes:
        """The document's bytes with `signatures` replaced (or removed when None)."""
        members: dict[str, bytes] = {key: bytes(value) for key, value in self.members.items()}
        members.pop(SIGNATURES, None)
        if signatures is not None:
            members[SIGNATURES] = signatures
        return join_json_object(sorted(members.items()))


def read_document(data: bytes, where: Path | str) -> RepodataDocument:
    try:
        members = _decode_members(data)
    except msgspec.DecodeError as exc:
        raise TrustError(
            f"{where}: not a repodata document: {exc}",
            hint="Publish the subdir again ('stockyard index'), then sign.",
        ) from exc
    return RepodataDocument(members, str(where))


def write_with_variants(path: Path, data: bytes, zst_level: int) -> list[Path]:
    """`path.zst` (and `path.bz2`, `path.gz` when published), then `path`: a reader that follows
    a `.json` to a variant never finds an older one. (A rewrite after the publish, for channels
    signed by `stockyard trust` commands; the publish itself signs inline.)"""
    written: list[Path] = []
    zst = path.with_name(path.name + ".zst")
    if zst.exists() or path.name == "repodata.json":
        write_atomic(zst, zstd_compress(data, zst_level))
        written.append(zst)
    bz = path.with_name(path.name + ".bz2")
    if bz.exists():
        write_atomic(bz, bz2.compress(data, 9))
        written.append(bz)
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        write_atomic(gz, gzip_bytes(data))
        written.append(gz)
    write_atomic(path, data)
    written.append(path)
    return written
