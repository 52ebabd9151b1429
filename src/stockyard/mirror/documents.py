"""Parsing what upstream serves: repodata (JSON, zstd), the CEP 16 shard index and shards.

Liberal about records (unknown keys travel on untouched, as in every other way into a
channel), strict about what would be dangerous or meaningless: a document that does not decode
is an `UpstreamError`; a filename with a directory part or without an artifact extension makes
the whole subdir unusable (a channel that lists `../x.conda` is broken or hostile); a record
without a well-formed sha256 and size cannot be verified, so it is refused with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec
import zstandard

from stockyard.mirror.errors import UpstreamError
from stockyard.types.encoding import zstd_decompress
from stockyard.types.errors import InvalidIdentifier
from stockyard.types.identifiers import artifact_format, parse_artifact_filename

SECTIONS = ("packages", "packages.conda")
#: Largest decompressed document accepted (conda-forge's linux-64 repodata is ~300 MB).
MAX_DECOMPRESSED = 4 << 30
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HASH_KEYS = ("sha256", "md5", "legacy_bz2_md5")


@dataclass(slots=True)
class SubdirRecords:
    """The usable records of one upstream subdir."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    #: (filename, reason) of records that cannot be mirrored.
    refused: list[tuple[str, str]] = field(default_factory=list)

    def add_section(self, section: Any, where: str, *, shard: bool = False) -> None:
        if section is None:
            return
        if not isinstance(section, dict):
            raise UpstreamError(f"{where}: a packages section is not an object")
        for filename, record in section.items():
            problem = check_record(filename, record, where)
            if problem is None:
                self.records[filename] = from_shard(record) if shard else record
            else:
                self.refused.append((str(filename), problem))

    def add_removed(self, removed: Any) -> None:
        if isinstance(removed, list):
            self.removed.extend(r for r in removed if isinstance(r, str) and _bare_artifact(r))


def _bare_artifact(filename: str) -> bool:
    return "/" not in filename and "\\" not in filename and artifact_format(filename) is not None


def check_record(filename: Any, record: Any, where: str) -> str | None:
    """Why a record cannot be mirrored (None when it can); UpstreamError for a filename that
    is unsafe to use at all."""
    if not isinstance(filename, str) or not _bare_artifact(filename) or filename.startswith("."):
        raise UpstreamError(
            f"{where} lists {str(filename)[:200]!r}, which is not a bare artifact filename",
            hint="The upstream channel is broken or hostile (a filename must not hold a "
            "directory part); nothing was published. Report it to the upstream's owner.",
        )
    try:
        parse_artifact_filename(filename)
    except InvalidIdentifier as exc:
        return f"invalid filename: {exc.message}"
    if not isinstance(record, dict):
        return "the record is not an object"
    sha256, size = record.get("sha256"), record.get("size")
    if isinstance(sha256, bytes):
        sha256 = sha256.hex()
    if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256.lower()):
        return "the record has no valid sha256, so the download cannot be verified"
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return "the record has no valid size, so the download cannot be verified"
    return None


def from_shard(record: dict[str, Any]) -> dict[str, Any]:
    """A shard record as repodata.json carries it: shards hold hashes as bytes and give every
    record `run_exports` (`{}` when none, CEP 16); records travel with hex strings, and an
    empty `run_exports` is the same as none (dropped, or every record would look patched)."""
    converted = dict(record)
    for key in _HASH_KEYS:
        value = converted.get(key)
        if isinstance(value, bytes):
            converted[key] = value.hex()
    if converted.get("run_exports") == {}:
        del converted["run_exports"]
    return converted


def decode_json(raw: bytes, where: str) -> dict[str, Any]:
    try:
        document = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise UpstreamError(
            f"{where} is not valid JSON ({exc}); it may be truncated or not repodata",
        ) from None
    if not isinstance(document, dict):
        raise UpstreamError(f"{where} is not a JSON object, so it is not repodata")
    return document


def decompress(raw: bytes, where: str) -> bytes:
    try:
        return zstd_decompress(raw, MAX_DECOMPRESSED)
    except (ValueError, zstandard.ZstdError) as exc:
        raise UpstreamError(f"{where} is not valid zstd data ({exc}); truncated?") from None


def decode_msgpack(raw: bytes, where: str) -> dict[str, Any]:
    try:
        document = msgspec.msgpack.decode(decompress(raw, where))
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"{where} is not valid msgpack ({exc})") from None
    if not isinstance(document, dict):
        raise UpstreamError(f"{where} is not a msgpack map")
    return document


def repodata_records(document: dict[str, Any], where: str) -> SubdirRecords:
    records = SubdirRecords()
    for section in SECTIONS:
        records.add_section(document.get(section), where)
    records.add_removed(document.get("removed"))
    return records


@dataclass(frozen=True, slots=True)
class ShardIndexDoc:
    """The parts of a CEP 16 shard index the mirror uses."""

    base_url: str
    shards_base_url: str
    #: package name -> hex sha256 of its (compressed) shard.
    shards: dict[str, str]


def shard_index(raw: bytes, where: str) -> ShardIndexDoc:
    document = decode_msgpack(raw, where)
    info, shards = document.get("info"), document.get("shards")
    if not isinstance(info, dict) or not isinstance(shards, dict):
        raise UpstreamError(f"{where} has no info or shards map, so it is no CEP 16 shard index")
    hashes: dict[str, str] = {}
    for name, digest in shards.items():
        if not isinstance(name, str) or not isinstance(digest, bytes) or len(digest) != 32:
            raise UpstreamError(f"{where}: shard of {str(name)[:80]!r} has no 32-byte sha256")
        hashes[name] = digest.hex()
    base = info.get("base_url")
    shards_base = info.get("shards_base_url")
    return ShardIndexDoc(
        base_url=base if isinstance(base, str) else "",
        shards_base_url=shards_base if isinstance(shards_base, str) else "./shards/",
        shards=hashes,
    )
