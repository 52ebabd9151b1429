"""CEP 16 shard indexes and shards, built with our own encoders, then broken."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zstandard

from stockyard.types.encoding import encode_msgpack, zstd_compress
from stockyard.types.repodata import Shard, ShardIndex
from stockyard.validate import validate_document, validate_path

from .conftest import record


def shard_record(**extra: Any) -> dict[str, Any]:
    rec = record(**extra)
    rec["md5"] = bytes.fromhex(rec["md5"])
    rec["sha256"] = bytes.fromhex(rec["sha256"])
    return rec


def shard() -> dict[str, Any]:
    return {
        "packages": {"numpy-1.0-py_0.tar.bz2": shard_record()},
        "packages.conda": {
            "numpy-1.0-py_0.conda": shard_record(run_exports={"weak": ["numpy >=1.0"]})
        },
        "removed": ["numpy-0.9-py_0.conda"],
    }


def write_shard(directory: Path, data: Any, *, name: str | None = None) -> Path:
    blob = zstd_compress(encode_msgpack(data))
    shards = directory / "shards"
    shards.mkdir(exist_ok=True)
    path = shards / (name or f"{hashlib.sha256(blob).hexdigest()}.msgpack.zst")
    path.write_bytes(blob)
    return path


def shard_index(digest: bytes) -> dict[str, Any]:
    return {
        "version": 1,
        "info": {
            "subdir": "linux-64",
            "base_url": "https://example.com/channel/linux-64/",
            "shards_base_url": "./shards/",
            "created_at": "2025-01-01T00:00:00Z",
        },
        "shards": {"numpy": digest},
    }


def problems(path: Path) -> list[tuple[str, str]]:
    return [(p.pointer, p.message) for p in validate_path(path).problems]


def test_generated_shard_and_index_are_valid(tmp_path: Path) -> None:
    # Round trip through the Structs first: the test data itself matches the model.
    msgspec.convert(shard(), Shard)
    path = write_shard(tmp_path, shard())
    report = validate_path(path)
    assert (report.kind, report.valid, report.records, report.notes) == ("shard", True, 2, [])
    index = tmp_path / "repodata_shards.msgpack.zst"
    digest = bytes.fromhex(path.name.split(".")[0])
    msgspec.convert(shard_index(digest), ShardIndex)
    index.write_bytes(zstd_compress(encode_msgpack(shard_index(digest))))
    report = validate_path(index)
    assert (report.kind, report.valid, report.records) == ("shard_index", True, 1)


def test_shard_whose_name_is_not_its_hash(tmp_path: Path) -> None:
    path = write_shard(tmp_path, shard(), name=f"{'0' * 64}.msgpack.zst")
    [(pointer, message)] = problems(path)
    assert pointer == ""
    assert "sha256" in message and "0" * 64 in message


def test_shard_named_otherwise_is_not_hash_checked(tmp_path: Path) -> None:
    assert problems(write_shard(tmp_path, shard(), name="numpy.msgpack.zst")) == []


def test_truncated_zstd(tmp_path: Path) -> None:
    path = write_shard(tmp_path, shard(), name="numpy.msgpack.zst")
    path.write_bytes(path.read_bytes()[:-7])
    assert problems(path) == [("", "zstd data is truncated")]


@pytest.mark.parametrize("blob", [b"", b"not zstd at all", b"\x28\xb5\x2f\xfd\x00garbage"])
def test_not_zstd(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "repodata_shards.msgpack.zst"
    path.write_bytes(blob)
    [(pointer, message)] = problems(path)
    assert pointer == ""
    assert "zstd" in message


@pytest.mark.parametrize("payload", [b"\xc1", b"\x92\x01", b"\x81\xa1a", encode_msgpack(1) + b"x"])
def test_garbage_msgpack(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "shards" / "x.msgpack.zst"
    path.parent.mkdir()
    path.write_bytes(zstd_compress(payload))
    [(pointer, message)] = problems(path)
    assert pointer == ""
    assert message.startswith("not valid msgpack")


def test_msgpack_that_is_not_a_map(tmp_path: Path) -> None:
    path = write_shard(tmp_path, [1, 2, 3])
    assert [p for p, _ in problems(path)] == [""]


def test_zstd_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "repodata_shards.msgpack.zst"
    path.write_bytes(zstd_compress(b"\x00" * (65 << 20), level=3))
    [(pointer, message)] = problems(path)
    assert (pointer, message) == ("", f"zstd data expands beyond {64 << 20} bytes")


def test_frame_without_content_size_is_noted(tmp_path: Path) -> None:
    path = tmp_path / "shards" / "x.msgpack.zst"
    path.parent.mkdir()
    compressor = zstandard.ZstdCompressor(write_content_size=False)
    chunker = compressor.compressobj()
    path.write_bytes(chunker.compress(encode_msgpack(shard())) + chunker.flush())
    report = validate_path(path)
    assert report.valid
    assert [n.message for n in report.notes] == ["the zstd frame does not record its content size"]


def test_uncompressed_msgpack_shard(tmp_path: Path) -> None:
    path = tmp_path / "numpy.msgpack"
    path.write_bytes(encode_msgpack(shard()))
    assert validate_path(path).valid


def test_hex_md5_in_a_shard_is_a_warning() -> None:
    """rattler reads a hex digest string or raw bytes; CEP 16 says bytes."""
    data = shard()
    data["packages"]["numpy-1.0-py_0.tar.bz2"].update(md5="00" * 16)
    report = validate_document(data, "shard", source="x")
    assert report.problems == []
    assert [w.pointer for w in report.warnings] == ["/packages/numpy-1.0-py_0.tar.bz2/md5"]


SHARD_BREAKS = [
    (
        "base64 text is no bin either",
        lambda s: s["packages"]["numpy-1.0-py_0.tar.bz2"].update(md5="AAAAAAAAAAAAAAAAAAAAAA=="),
        ["/packages/numpy-1.0-py_0.tar.bz2/md5"],
    ),
    (
        "short sha256",
        lambda s: s["packages"]["numpy-1.0-py_0.tar.bz2"].update(sha256=b"\0" * 31),
        ["/packages/numpy-1.0-py_0.tar.bz2/sha256"],
    ),
    (
        "run_exports item",
        lambda s: s["packages.conda"]["numpy-1.0-py_0.conda"].update(run_exports={"strong": [1]}),
        ["/packages.conda/numpy-1.0-py_0.conda/run_exports/strong/0"],
    ),
    (
        "two package names",
        lambda s: s["packages"].update(
            {"scipy-1-0.tar.bz2": shard_record(name="scipy", version="1", build="0")}
        ),
        [""],
    ),
    (
        "record under the wrong map",
        lambda s: s["packages"].update({"numpy-1.0-py_0.conda": shard_record()}),
        ["/packages/numpy-1.0-py_0.conda"],
    ),
    ("removed item", lambda s: s.update(removed=[5]), ["/removed/0"]),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [b[1:] for b in SHARD_BREAKS], ids=[b[0] for b in SHARD_BREAKS]
)
def test_shard_breaks(mutate: Any, expected: list[str]) -> None:
    data = shard()
    mutate(data)
    report = validate_document(data, "shard", source="x")
    assert [p.pointer for p in report.problems] == expected


INDEX_BREAKS = [
    ("missing info", lambda i: i.pop("info"), [""]),
    ("missing shards_base_url", lambda i: i["info"].pop("shards_base_url"), ["/info"]),
    (
        "base_url without slash",
        lambda i: i["info"].update(base_url="https://e.com/x"),
        ["/info/base_url"],
    ),
    (
        "shards_base_url without slash",
        lambda i: i["info"].update(shards_base_url="./shards"),
        ["/info/shards_base_url"],
    ),
    ("version 2", lambda i: i.update(version=2), ["/version"]),
    ("hash as hex text", lambda i: i["shards"].update(numpy="ab" * 32), ["/shards/numpy"]),
    ("short hash", lambda i: i["shards"].update(numpy=b"\1" * 16), ["/shards/numpy"]),
    (
        "bad package name",
        lambda i: i["shards"].update({"Bad Name": b"\1" * 32}),
        ["/shards/Bad Name"],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [b[1:] for b in INDEX_BREAKS], ids=[b[0] for b in INDEX_BREAKS]
)
def test_shard_index_breaks(mutate: Any, expected: list[str]) -> None:
    data = shard_index(b"\1" * 32)
    mutate(data)
    report = validate_document(data, "shard_index", source="x")
    assert [p.pointer for p in report.problems] == expected
