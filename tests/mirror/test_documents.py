"""Parsing upstream documents: what is refused, what stops the run."""

from __future__ import annotations

import msgspec
import pytest

from stockyard.mirror import documents as docs
from stockyard.mirror.errors import UpstreamError
from stockyard.types.encoding import zstd_compress

GOOD = {"name": "a", "version": "1", "build": "0", "sha256": "a" * 64, "size": 3}


@pytest.mark.parametrize(
    "filename",
    ["../evil-1-0.conda", "sub/evil-1-0.conda", "..\\evil-1-0.conda", "x.txt", ".a-1-0.conda"],
)
def test_unsafe_filenames_stop_the_run(filename: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        docs.repodata_records({"packages.conda": {filename: GOOD}}, "upstream noarch")
    assert "bare artifact filename" in caught.value.message
    assert caught.value.hint


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({**GOOD, "sha256": None}, "no valid sha256"),
        ({**GOOD, "sha256": "xyz"}, "no valid sha256"),
        ({**GOOD, "size": -1}, "no valid size"),
        ({**GOOD, "size": True}, "no valid size"),
        ("not a record", "not an object"),
    ],
)
def test_unverifiable_records_are_refused(record: object, reason: str) -> None:
    records = docs.repodata_records({"packages.conda": {"a-1-0.conda": record}}, "upstream")
    assert records.records == {}
    [(filename, why)] = records.refused
    assert filename == "a-1-0.conda" and reason in why


def test_invalid_but_harmless_name_is_refused() -> None:
    records = docs.repodata_records({"packages": {"A_B-1-0.tar.bz2": GOOD}}, "upstream")
    assert records.refused and records.refused[0][1].startswith("invalid filename")


def test_shard_records_become_json_records() -> None:
    raw = {"sha256": bytes.fromhex("ab" * 32), "md5": bytes(16), "run_exports": {}, "size": 1}
    assert docs.from_shard(raw) == {"sha256": "ab" * 32, "md5": "00" * 16, "size": 1}
    kept = docs.from_shard({"run_exports": {"weak": ["x"]}})
    assert kept == {"run_exports": {"weak": ["x"]}}


@pytest.mark.parametrize("raw", [b"<html>nope</html>", b'{"packages": {', b"[1, 2]", b""])
def test_garbage_json(raw: bytes) -> None:
    with pytest.raises(UpstreamError, match="upstream linux-64"):
        docs.decode_json(raw, "upstream linux-64/repodata.json")


def test_truncated_zstd() -> None:
    data = zstd_compress(b'{"packages": {}}' * 1000)
    with pytest.raises(UpstreamError, match="truncated"):
        docs.decompress(data[: len(data) // 2], "repodata.json.zst")


def test_shard_index_must_have_32_byte_hashes() -> None:
    index = {"info": {"base_url": "", "shards_base_url": "./shards/"}, "shards": {"a": b"x"}}
    raw = zstd_compress(msgspec.msgpack.encode(index))
    with pytest.raises(UpstreamError, match="32-byte sha256"):
        docs.shard_index(raw, "shard index")
    index["shards"] = {"a": bytes(32)}
    parsed = docs.shard_index(zstd_compress(msgspec.msgpack.encode(index)), "shard index")
    assert parsed.shards == {"a": "00" * 32} and parsed.shards_base_url == "./shards/"
