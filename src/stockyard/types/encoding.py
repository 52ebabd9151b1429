"""Deterministic encoders: the same object always yields the same bytes.

- JSON: compact (no spaces), keys sorted, UTF-8, like conda-index's compact output (conda-index
  escapes non-ASCII as \\uXXXX; we write UTF-8, which every JSON parser reads the same).
- msgpack (shards): keys sorted, hashes as `bin`.
- zstd: a fixed level, zstd's multi-threaded mode (whose output does not depend on the number of
  threads, so any machine gives the same bytes; only the single-threaded mode differs), content
  size written in the frame header, no checksum, no dictionary.

Monolithic files are assembled from cached per-record encodings with `join_json_object`, which
produces exactly the bytes `encode_json` would produce for the whole object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import msgspec
import zstandard

_json_encoder = msgspec.json.Encoder(order="sorted")
_msgpack_encoder = msgspec.msgpack.Encoder(order="sorted")

DEFAULT_ZSTD_LEVEL = 3
#: Containers nested at most this deep in what we decode from artifacts and publish (records,
#: index.json, about.json...); real documents nest three or four deep. Deeper nesting is refused
#: before anything is stored: parsers (msgspec, serde) have recursion limits of their own.
MAX_NESTING: Final = 32
#: Compressed bytes fed to the decompressor per step (a zstd block expands at most ~32,000x, so
#: one step overshoots the limit by at most ~32 MiB), and its output buffer size.
_ZSTD_INPUT_SLICE = 1 << 10
_ZSTD_OUTPUT_BUFFER = 1 << 14


def encode_json(obj: Any) -> bytes:
    """Compact, key-sorted JSON."""
    return _json_encoder.encode(obj)


def encode_json_key(key: str) -> bytes:
    return _json_encoder.encode(key)


def encode_msgpack(obj: Any) -> bytes:
    """Key-sorted msgpack; `bytes` values become msgpack `bin`."""
    return _msgpack_encoder.encode(obj)


def join_json_object(items: Iterable[tuple[str, bytes]]) -> bytes:
    """Assemble `{"k1":v1,"k2":v2}` from already-encoded values.

    `items` must be sorted by key (Python string order, as `encode_json` sorts). The result equals
    `encode_json(dict)` for the decoded values, without decoding or re-encoding them.
    """
    parts: list[bytes] = []
    for key, value in items:
        parts.append(_json_encoder.encode(key) + b":" + value)
    return b"{" + b",".join(parts) + b"}"


def zstd_compress(data: bytes, level: int = DEFAULT_ZSTD_LEVEL) -> bytes:
    """One zstd frame with the content size in its header (CEP 16 asks for it)."""
    return zstd_compressor(level).compress(data)


def zstd_compressor(level: int) -> zstandard.ZstdCompressor:
    """The one compressor configuration for everything we publish (see the module docstring)."""
    return zstandard.ZstdCompressor(
        level=level, write_content_size=True, write_checksum=False, threads=-1
    )


def zstd_decompress(data: bytes, max_output_size: int) -> bytes:
    """Decompress zstd data (one or more frames), refusing output larger than `max_output_size`.

    A single frame that declares its content size (as `zstd_compress` writes) is decompressed in
    one call: libzstd refuses to produce more than the declared size. Anything else is fed in
    small slices, so a zstd bomb costs at most `max_output_size` plus one slice's expansion of
    memory. Truncated input raises ValueError instead of returning a prefix.
    """
    try:
        declared = zstandard.frame_content_size(data)
    except zstandard.ZstdError:
        declared = -1  # not a frame header: the loop below raises the decoder's error
    if declared > max_output_size:
        raise ValueError(f"zstd data expands beyond {max_output_size} bytes")
    if declared >= 0:
        frame = zstandard.ZstdDecompressor().decompressobj()
        out = frame.decompress(data)
        if not frame.eof:
            raise ValueError("zstd data is truncated")
        if not frame.unused_data:
            return out
    view = memoryview(data)
    chunks: list[bytes] = []
    total = 0
    pos = 0
    while pos < len(view):
        frame = zstandard.ZstdDecompressor().decompressobj(write_size=_ZSTD_OUTPUT_BUFFER)
        while not frame.eof:
            if pos >= len(view):
                raise ValueError("zstd data is truncated")
            piece = view[pos : pos + _ZSTD_INPUT_SLICE]
            pos += len(piece)
            chunk = frame.decompress(piece)
            total += len(chunk)
            if total > max_output_size:
                raise ValueError(f"zstd data expands beyond {max_output_size} bytes")
            chunks.append(chunk)
        # The slice that ended this frame may hold the start of the next one.
        pos -= len(frame.unused_data)
    return b"".join(chunks)


def exceeds_nesting(value: Any, limit: int = MAX_NESTING) -> bool:
    """Whether `value` holds containers nested more than `limit` deep."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False
