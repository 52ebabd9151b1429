"""What a proxy serves for upstream documents: pass-through when it can, filtered and re-encoded
when it must, .zst always the compression of the served JSON."""

from __future__ import annotations

import hashlib
import json

import msgspec
import pytest
import zstandard

from stockyard.mirror.errors import UpstreamError
from stockyard.proxy import documents as docs
from stockyard.proxy.settings import ProxySettings, check_upstream_url
from stockyard.proxy.upstreams import UpstreamFailed
from stockyard.types.errors import ConfigError
from stockyard.types.policy import ProxyPolicy

URL = "http://up.example/forge/noarch/repodata.json"


def _record(name: str, license_text: str = "MIT") -> dict:  # type: ignore[type-arg]
    return {
        "name": name,
        "version": "1.0",
        "build": "0",
        "build_number": 0,
        "depends": [],
        "license": license_text,
        "subdir": "noarch",
        "sha256": hashlib.sha256(name.encode()).hexdigest(),
        "md5": hashlib.md5(name.encode()).hexdigest(),
        "size": 10,
    }


def _repodata(**extra: object) -> dict:  # type: ignore[type-arg]
    return {
        "info": {"subdir": "noarch", **extra},
        "packages": {},
        "packages.conda": {
            "a-1.0-0.conda": _record("a"),
            "gpl-1.0-0.conda": _record("gpl", "GPL-3.0-only"),
        },
        "removed": [],
        "repodata_version": 1,
    }


def _settings(**policy: object) -> ProxySettings:
    return ProxySettings.from_policy(ProxyPolicy(upstreams=("http://up.example/forge",), **policy))


def test_unfiltered_repodata_is_passed_through_with_upstream_zst() -> None:
    raw = json.dumps(_repodata()).encode()
    compressed = zstandard.compress(raw)
    prepared = docs.prepare_repodata(
        _settings(), "noarch", "repodata.json", "noarch/repodata.json.zst", compressed, URL
    )
    assert prepared.files["noarch/repodata.json"] == raw
    assert prepared.files["noarch/repodata.json.zst"] == compressed
    assert set(prepared.records) == {"a-1.0-0.conda", "gpl-1.0-0.conda"}
    assert prepared.base_url == "http://up.example/forge/noarch/"


def test_filtered_repodata_is_reencoded_and_zst_derived_from_it() -> None:
    raw = json.dumps(_repodata()).encode()
    prepared = docs.prepare_repodata(
        _settings(license_deny=("GPL-3.0*",)),
        "noarch", "repodata.json", "noarch/repodata.json.zst", zstandard.compress(raw), URL,
    )  # fmt: skip
    served = prepared.files["noarch/repodata.json"]
    assert list(json.loads(served)["packages.conda"]) == ["a-1.0-0.conda"]
    assert zstandard.decompress(prepared.files["noarch/repodata.json.zst"]) == served
    assert set(prepared.records) == {"a-1.0-0.conda"}


def test_include_keeps_only_matching_records() -> None:
    raw = json.dumps(_repodata()).encode()
    prepared = docs.prepare_repodata(
        _settings(include=("gpl",)), "noarch", "repodata.json", "noarch/repodata.json", raw, URL
    )
    assert set(prepared.records) == {"gpl-1.0-0.conda"}


def test_upstream_base_url_is_dropped_and_remembered() -> None:
    raw = json.dumps(_repodata(base_url="https://cdn.example/pkgs/")).encode()
    prepared = docs.prepare_repodata(
        _settings(), "noarch", "repodata.json", "noarch/repodata.json", raw, URL
    )
    assert "base_url" not in json.loads(prepared.files["noarch/repodata.json"])["info"]
    assert prepared.base_url == "https://cdn.example/pkgs/"


def test_unverifiable_records_are_left_out() -> None:
    document = _repodata()
    document["packages.conda"]["nohash-1.0-0.conda"] = {**_record("nohash"), "sha256": "xyz"}
    raw = json.dumps(document).encode()
    prepared = docs.prepare_repodata(
        _settings(), "noarch", "repodata.json", "noarch/repodata.json", raw, URL
    )
    assert (
        "nohash-1.0-0.conda"
        not in json.loads(prepared.files["noarch/repodata.json"])["packages.conda"]
    )


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[]", json.dumps({"packages.conda": []}).encode()],
    ids=["garbage", "not-object", "bad-section"],
)
def test_garbage_repodata_fails(raw: bytes) -> None:
    with pytest.raises((UpstreamError, UpstreamFailed)):
        docs.prepare_repodata(
            _settings(), "noarch", "repodata.json", "noarch/repodata.json", raw, URL
        )


def test_traversal_filename_fails_the_document() -> None:
    document = _repodata()
    document["packages.conda"]["../x-1.0-0.conda"] = _record("x")
    with pytest.raises(UpstreamError, match="bare artifact filename"):
        docs.prepare_repodata(
            _settings(), "noarch", "repodata.json", "noarch/repodata.json",
            json.dumps(document).encode(), URL,
        )  # fmt: skip


def _shard_index(base_url: str, shards_base_url: str) -> bytes:
    document = {
        "info": {"base_url": base_url, "shards_base_url": shards_base_url, "subdir": "noarch"},
        "shards": {"a": hashlib.sha256(b"a").digest()},
    }
    return zstandard.compress(msgspec.msgpack.encode(document))


def test_shard_index_passes_through_or_is_localized() -> None:
    local = _shard_index("./", "./shards/")
    assert (
        docs.prepare_shard_index("noarch", local, URL).files["noarch/repodata_shards.msgpack.zst"]
        == local
    )
    remote = _shard_index("https://cdn.example/", "https://cdn.example/shards/")
    prepared = docs.prepare_shard_index("noarch", remote, URL)
    info = msgspec.msgpack.decode(
        zstandard.decompress(prepared.files["noarch/repodata_shards.msgpack.zst"])
    )["info"]
    assert (info["base_url"], info["shards_base_url"]) == ("./", "./shards/")
    assert prepared.base_url == "https://cdn.example/shards/"


def test_shard_must_match_its_name_and_hold_bare_filenames() -> None:
    shard = zstandard.compress(msgspec.msgpack.encode({"packages.conda": {"a-1-0.conda": {}}}))
    docs.check_shard(shard, hashlib.sha256(shard).hexdigest(), URL)
    with pytest.raises(UpstreamFailed):
        docs.check_shard(shard, "0" * 64, URL)
    evil = zstandard.compress(msgspec.msgpack.encode({"packages.conda": {"../a-1-0.conda": {}}}))
    with pytest.raises(UpstreamError):
        docs.check_shard(evil, hashlib.sha256(evil).hexdigest(), URL)


@pytest.mark.parametrize("url", ["ftp://x/y", "/local/path", "https://", "not a url"])
def test_upstream_urls_are_checked(url: str) -> None:
    with pytest.raises(ConfigError):
        check_upstream_url(url)
    assert check_upstream_url("https://h/t/tok/c/") == "https://h/t/tok/c"
