"""Signing published subdirs: CCT's map, incremental, files kept consistent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from stockyard.trust.canonical import canonical_bytes, decode_json
from stockyard.trust.errors import TrustError, TrustNotConfigured
from stockyard.trust.keys import verify_raw
from stockyard.trust.layout import TrustLayout
from stockyard.trust.sign import load_channel_signer, sign_channel, sign_published_subdir
from stockyard.types.encoding import encode_json, zstd_decompress

from .conftest import write_subdir


def _document(channel: Path, subdir: str, name: str = "repodata.json") -> dict[str, Any]:
    result: dict[str, Any] = decode_json((channel / subdir / name).read_bytes())
    return result


def test_every_record_signed_as_cct_expects(signed: Path) -> None:
    key = TrustLayout(signed).load_config().signing_key
    for subdir in ("linux-64", "noarch"):
        document = _document(signed, subdir)
        records = {**document["packages"], **document["packages.conda"]}
        assert set(document["signatures"]) == set(records)
        for filename, record in records.items():
            entry = document["signatures"][filename]
            assert list(entry) == [key] and list(entry[key]) == ["signature"]
            assert verify_raw(key, entry[key]["signature"], canonical_bytes(record))


def test_signed_file_is_our_encoding_and_zst_matches(signed: Path) -> None:
    data = (signed / "linux-64" / "repodata.json").read_bytes()
    assert data == encode_json(decode_json(data))
    assert (
        zstd_decompress((signed / "linux-64" / "repodata.json.zst").read_bytes(), 1 << 30) == data
    )


def test_incremental_only_new_and_patched_records(signed: Path, r_records: dict[str, Any]) -> None:
    records = dict(r_records)
    first = next(iter(records))
    records[first] = {**records[first], "depends": ["patched-dependency"]}
    records["newpkg-1.0-0.tar.bz2"] = {**records[first], "name": "newpkg", "version": "1.0"}
    del records[list(records)[5]]
    write_subdir(signed, "linux-64", records)
    key = load_channel_signer(signed)
    result = sign_published_subdir(signed, "linux-64", key)
    assert (result.signed, result.reused, result.records) == (2, len(records) - 2, len(records))
    assert set(_document(signed, "linux-64")["signatures"]) == set(records)
    again = sign_published_subdir(signed, "linux-64", key)
    assert (again.signed, again.written) == (0, [])


def test_unchanged_subdir_is_not_read_again(signed: Path, r_records: dict[str, Any]) -> None:
    """The marks of the last run: same files (inode, size, mtime) mean nothing to do."""
    path = signed / "linux-64" / "repodata.json"
    before = path.stat()
    with open(path, "r+b") as handle:  # same inode and size, garbage content
        handle.write(b"x" * before.st_size)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    results = sign_channel(signed, ["linux-64"])  # would fail if it read the file
    assert results is not None and (results[0].records, results[0].signed) == (120, 0)
    write_subdir(signed, "linux-64", r_records)  # a publish replaces the files
    results = sign_channel(signed, ["linux-64"])
    assert results is not None and results[0].written and results[0].signed == 0


def test_unchanged_files_are_not_rewritten(signed: Path) -> None:
    path = signed / "linux-64" / "repodata.json"
    before = path.stat().st_mtime_ns, path.stat().st_ino
    results = sign_channel(signed)
    assert results is not None and all(r.written == [] for r in results)
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before


def test_hard_linked_twin_is_left_alone(signed: Path, r_records: dict[str, Any]) -> None:
    """Our publisher may publish repodata.json and repodata_from_packages.json as one inode."""
    data = write_subdir(signed, "linux-64", dict(list(r_records.items())[:10]))
    twin = signed / "linux-64" / "repodata_from_packages.json"
    os.link(signed / "linux-64" / "repodata.json", twin)
    sign_channel(signed)
    assert twin.read_bytes() == data
    assert "signatures" in _document(signed, "linux-64")


def test_current_repodata_and_bz2_are_signed_too(signed: Path, r_records: dict[str, Any]) -> None:
    import bz2

    subset = dict(list(r_records.items())[:3])
    write_subdir(signed, "linux-64", r_records)  # a publish: unsigned again, stale .bz2
    (signed / "linux-64" / "current_repodata.json").write_bytes(
        encode_json({"info": {"subdir": "linux-64"}, "packages": subset})
    )
    (signed / "linux-64" / "repodata.json.bz2").write_bytes(b"stale")
    results = sign_channel(signed, ["linux-64"])
    assert results is not None and results[0].signed == 0  # all from the cache
    current = _document(signed, "linux-64", "current_repodata.json")
    assert set(current["signatures"]) == set(subset)
    plain = (signed / "linux-64" / "repodata.json").read_bytes()
    assert bz2.decompress((signed / "linux-64" / "repodata.json.bz2").read_bytes()) == plain
    assert (signed / "linux-64" / "current_repodata.json.zst").is_file() is False


def test_v3_records_are_signed(signed: Path, r_records: dict[str, Any]) -> None:
    record = next(iter(r_records.values()))
    v3 = {"conda": {"withflags-1.0-0": {**record, "name": "withflags", "flags": ["gpu"]}}}
    write_subdir(signed, "linux-64", {}, v3=v3)
    sign_channel(signed)
    assert set(_document(signed, "linux-64")["signatures"]) == {"withflags-1.0-0.conda"}


def test_damaged_cache_means_signing_again(signed: Path, r_records: dict[str, Any]) -> None:
    caches = TrustLayout(signed).cache_dir
    for cache in [*caches.glob("*.msgpack"), *caches.glob("*.log")]:
        cache.write_bytes(b"\x00garbage")
    write_subdir(signed, "linux-64", r_records)  # published again
    results = sign_channel(signed, ["linux-64"])
    assert results is not None and results[0].signed == results[0].records > 0


def test_unconfigured_channel_is_a_no_op(channel: Path) -> None:
    assert sign_channel(channel) is None
    with pytest.raises(TrustNotConfigured):
        load_channel_signer(channel)


def test_missing_or_malformed_repodata(signed: Path) -> None:
    key = load_channel_signer(signed)
    with pytest.raises(TrustError, match="does not exist"):
        sign_published_subdir(signed, "win-64", key)
    (signed / "linux-64" / "repodata.json").write_bytes(b'{"packages": [1, 2')
    with pytest.raises(TrustError, match="not a repodata document"):
        sign_published_subdir(signed, "linux-64", key)
    (signed / "linux-64" / "repodata.json").write_bytes(b'{"packages": [1, 2]}')
    with pytest.raises(TrustError, match="malformed"):
        sign_published_subdir(signed, "linux-64", key)


def test_key_file_must_match_config(signed: Path, passphrase: bytes) -> None:
    from stockyard.trust.keys import generate_key
    from stockyard.trust.keystore import write_online_key

    layout = TrustLayout(signed)
    write_online_key(generate_key(), layout.state_dir / layout.load_config().key_file, passphrase)
    with pytest.raises(TrustError, match=r"trust\.json names"):
        load_channel_signer(signed)


def test_trust_state_is_private(signed: Path) -> None:
    state = TrustLayout(signed).state_dir
    assert state.stat().st_mode & 0o077 == 0
    for path in state.rglob("*"):
        if path.is_file():
            assert path.stat().st_mode & 0o077 == 0, path
