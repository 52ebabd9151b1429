"""Turn a file's bytes into a decoded document, within size bounds, never with a traceback.

Malformed input (not zstd, truncated, not JSON, not msgpack, too large) becomes a Problem at the
root pointer; only an unreadable path raises.
"""

from __future__ import annotations

import bz2
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
import zstandard

from stockyard.types.encoding import zstd_decompress
from stockyard.types.errors import NotFound, StockyardError
from stockyard.validate.kinds import JSON_COMPRESSIONS
from stockyard.validate.report import Problem

GiB: Final = 1 << 30
MiB: Final = 1 << 20
#: Largest decompressed document per kind. conda-forge's linux-64 repodata.json is ~250 MB.
LIMITS: Final[dict[str, int]] = {
    "repodata": 2 * GiB,
    "packages": 2 * GiB,
    "run_exports": 2 * GiB,
    "patch_instructions": 2 * GiB,
    "channeldata": 2 * GiB,
    "shard_index": 64 * MiB,
    "shard": 64 * MiB,
}
DEFAULT_LIMIT: Final = 256 * MiB

MSGPACK_KINDS: Final = frozenset({"shard_index", "shard"})
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_BZ2_MAGIC: Final = b"BZh"
_DIGEST_NAME: Final = re.compile(r"^(?P<digest>[0-9a-f]{64})\.msgpack(\.zst)?$")


@dataclass
class Loaded:
    """A decoded document, or the problems that kept it from being decoded."""

    data: Any = None
    decoded: bool = False
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)


def read_bytes(path: Path, limit: int) -> bytes:
    """The file's bytes; raises NotFound / StockyardError when it cannot be read at all."""
    if not path.exists():
        raise NotFound(f"{path} does not exist")
    if path.is_dir():
        raise StockyardError(
            f"{path} is a directory", hint="Pass the files to validate, e.g. DIR/*/repodata.json."
        )
    try:
        if path.stat().st_size > limit:
            raise StockyardError(f"{path} is larger than {limit} bytes; refusing to read it")
        return path.read_bytes()
    except OSError as exc:
        raise StockyardError(f"cannot read {path}: {exc.strerror or exc}") from exc


def load(path: Path, raw: bytes, kind: str) -> Loaded:
    """Decompress (by suffix, or by magic bytes) and decode `raw` as the document of `kind`."""
    loaded = Loaded()
    limit = LIMITS.get(kind, DEFAULT_LIMIT)
    if kind == "shard":
        _check_shard_name(path, raw, loaded)
    payload = _decompress(path, raw, kind, limit, loaded)
    if payload is None:
        return loaded
    if kind in MSGPACK_KINDS:
        _decode(payload, msgspec.msgpack.decode, "msgpack", loaded)
    elif not payload.strip() and kind == "repodata":
        loaded.data, loaded.decoded = {}, True
        loaded.notes.append(Problem("", "empty file; CEP 36 reads it as an empty repodata"))
    else:
        _decode(payload, msgspec.json.decode, "JSON", loaded)
    return loaded


def _decompress(path: Path, raw: bytes, kind: str, limit: int, loaded: Loaded) -> bytes | None:
    name = path.name
    zstd = name.endswith(".zst") or (not _has_suffix(name) and raw.startswith(_ZSTD_MAGIC))
    bzip2 = kind not in MSGPACK_KINDS and (
        name.endswith(".bz2") or (not _has_suffix(name) and raw.startswith(_BZ2_MAGIC))
    )
    if zstd:
        if not raw:
            _bad(loaded, "empty file, not zstd data")
            return None
        try:
            payload = zstd_decompress(raw, limit)
        except zstandard.ZstdError as exc:
            _bad(loaded, f"not zstd data: {exc}")
            return None
        except ValueError as exc:
            _bad(loaded, str(exc))
            return None
        if kind in MSGPACK_KINDS and zstandard.frame_content_size(raw) == -1:
            # We write it and CEP 16 clients (rattler) size their buffers from it.
            loaded.notes.append(Problem("", "the zstd frame does not record its content size"))
        return payload
    if bzip2:
        return _bz2_decompress(raw, limit, loaded)
    if len(raw) > limit:
        _bad(loaded, f"document is larger than {limit} bytes")
        return None
    return raw


def _has_suffix(name: str) -> bool:
    return name.endswith(JSON_COMPRESSIONS)


def _bad(loaded: Loaded, message: str) -> None:
    """Record `message` as a problem at the root pointer (the document could not be decoded)."""
    loaded.problems.append(Problem("", message))


def _bz2_decompress(raw: bytes, limit: int, loaded: Loaded) -> bytes | None:
    decompressor = bz2.BZ2Decompressor()
    try:
        out = decompressor.decompress(raw, max_length=limit + 1)
    except OSError as exc:
        _bad(loaded, f"not bzip2 data: {exc}")
        return None
    if len(out) > limit:
        _bad(loaded, f"bzip2 data expands beyond {limit} bytes")
        return None
    if not decompressor.eof:
        _bad(loaded, "bzip2 data is truncated")
        return None
    if decompressor.unused_data:
        _bad(loaded, "unexpected bytes after the bzip2 stream")
        return None
    return out


def _decode(payload: bytes, decode: Any, what: str, loaded: Loaded) -> None:
    try:
        loaded.data = decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        loaded.problems.append(Problem("", f"not valid {what}: {exc}"))
        return
    except RecursionError:
        loaded.problems.append(Problem("", f"not valid {what}: nested too deeply to read"))
        return
    loaded.decoded = True


def _check_shard_name(path: Path, raw: bytes, loaded: Loaded) -> None:
    """A shard named by a digest must hash to it (CEP 16: shards are content-addressed)."""
    match = _DIGEST_NAME.fullmatch(path.name)
    if match is None:
        return
    actual = hashlib.sha256(raw).hexdigest()
    if actual != match.group("digest"):
        loaded.problems.append(
            Problem(
                "", f"the file's sha256 is {actual}, not the {match.group('digest')} its name says"
            )
        )
