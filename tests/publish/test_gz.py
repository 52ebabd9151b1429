"""The published `.gz` variants (publish/gz.py): the same bytes as their document, deterministic,
written with it, never stale, removed with it; in a local directory and in a bucket (moto)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.cdn.ledger import read_ledger
from stockyard.index.run import IndexOptions, IndexResult, index_channel
from stockyard.index.workspace import STATE_DIR
from stockyard.publish.gz import gzip_bytes
from stockyard.storage import LocalStore, Store
from stockyard.types.policy import PublishOptions
from tests.index.conftest import build_artifact

DOCUMENTS = ["noarch/repodata.json", "linux-64/repodata.json", "channeldata.json"]


def _add(store: Store, built: Path, subdir: str, name: str, version: str = "1.0") -> str:
    artifact = build_artifact(built, subdir, name, version, depends=["python >=3.8"] * 3)
    key = f"{subdir}/{artifact.name}"
    store.put_file(key, artifact)
    return key


def _index(work: Path, store: Store, **publish: object) -> IndexResult:
    options = IndexOptions(publish=PublishOptions(**publish) if publish else None, workers=1)
    return index_channel(work, options, store=store)


def _assert_gz_follows(store: Store, key: str) -> None:
    packed = store.get(f"{key}.gz")
    assert gzip.decompress(packed) == store.get(key), key
    # Deterministic: no file name (FLG 0) and mtime 0 in the header, one compressor.
    assert packed[3] == 0 and packed[4:8] == b"\0\0\0\0", key
    assert packed == gzip_bytes(store.get(key)), key


def test_gz_follows_its_document(store: Store, tmp_path: Path) -> None:
    built, work = tmp_path / "built", tmp_path / "work"
    _add(store, built, "noarch", "alpha")
    _add(store, built, "linux-64", "beta")
    _index(work, store)
    for key in DOCUMENTS:
        _assert_gz_follows(store, key)

    # A run that changes nothing rewrites no .gz.
    before = {key: store.stat(f"{key}.gz") for key in DOCUMENTS}
    assert _index(work, store).files_written == 0
    assert {key: store.stat(f"{key}.gz") for key in DOCUMENTS} == before

    # A new artifact: repodata.json and channeldata.json change, and so do their .gz.
    added = _add(store, built, "linux-64", "gamma")
    _index(work, store)
    for key in DOCUMENTS:
        _assert_gz_follows(store, key)
    assert store.stat("noarch/repodata.json.gz") == before["noarch/repodata.json"]
    changed = read_ledger(store).entries[-1].keys
    assert {added, "linux-64/repodata.json", "linux-64/repodata.json.gz"} <= set(changed)
    assert "channeldata.json.gz" in changed and "noarch/repodata.json.gz" not in changed

    # A removed artifact too.
    store.delete(added)
    _index(work, store)
    assert (
        "gamma-1.0-0.conda" not in json.loads(store.get("linux-64/repodata.json"))["packages.conda"]
    )
    for key in DOCUMENTS:
        _assert_gz_follows(store, key)
    assert added in read_ledger(store).entries[-1].keys


def test_the_policy_turns_gz_off_and_on(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "channel", fsync=False)
    _add(store, tmp_path / "built", "noarch", "alpha")
    _index(tmp_path / "channel", store)
    assert all(store.stat(f"{key}.gz") for key in ("noarch/repodata.json", "channeldata.json"))

    _index(tmp_path / "channel", store, gz=False)
    assert store.stat("noarch/repodata.json.gz") is None
    assert store.stat("channeldata.json.gz") is None
    removed = read_ledger(store).entries[-1].keys
    assert {"noarch/repodata.json.gz", "channeldata.json.gz"} <= set(removed)

    _index(tmp_path / "channel", store, gz=True)
    _assert_gz_follows(store, "noarch/repodata.json")
    _assert_gz_follows(store, "channeldata.json")


def test_current_repodata_gets_a_gz_while_it_is_published(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "channel", fsync=False)
    _add(store, tmp_path / "built", "noarch", "alpha")
    _add(store, tmp_path / "built", "noarch", "alpha", "2.0")
    _index(tmp_path / "channel", store, current_repodata=True)
    _assert_gz_follows(store, "noarch/current_repodata.json")
    _index(tmp_path / "channel", store, current_repodata=False)
    assert store.stat("noarch/current_repodata.json.gz") is None


def _mark_dirty(channel_dir: Path, subdir: str) -> None:
    """What a crash in the middle of a publish leaves: the subdir owes a full publish."""
    catalog = Catalog.open(sqlite_url(channel_dir / STATE_DIR / "catalog.db"))
    try:
        catalog.mark_dirty(catalog.require_channel(channel_dir.name).id, subdir)
    finally:
        catalog.close()


def test_a_stale_gz_is_repaired_and_a_good_one_kept(tmp_path: Path) -> None:
    """A crash between a .gz and its document leaves a .gz the catalog never recorded; the
    repair publish checks the .gz against the document's bytes, not the catalog's hashes."""
    channel = tmp_path / "channel"
    store = LocalStore(channel, fsync=False)
    _add(store, tmp_path / "built", "noarch", "alpha")
    _index(channel, store)

    # The full publish of a dirty subdir whose documents keep their bytes keeps its .gz.
    good = store.stat("noarch/repodata.json.gz")
    _mark_dirty(channel, "noarch")
    _index(channel, store)
    assert store.stat("noarch/repodata.json.gz") == good

    # A .gz of other bytes (left by an interrupted publish) is replaced by the next one.
    store.put("noarch/repodata.json.gz", gzip_bytes(b'{"info":{},"packages":{}}'))
    _mark_dirty(channel, "noarch")
    _index(channel, store)
    _assert_gz_follows(store, "noarch/repodata.json")


def test_a_signed_channel_gets_repodata_gz_of_the_signed_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signed channel's repodata.json is signed as it is published (trust.inline), so its
    .gz is compressed from the signed bytes; `trust init` on a published channel rewrites the
    .gz along with the document."""
    from stockyard.trust.ceremony import init_channel
    from stockyard.trust.keystore import PASSPHRASE_ENV
    from stockyard.trust.sign import sign_channel
    from stockyard.trust.verify import verify_channel

    monkeypatch.setenv(PASSPHRASE_ENV, "a long test passphrase")
    channel = tmp_path / "channel"
    store = LocalStore(channel, fsync=False)
    _add(store, tmp_path / "built", "noarch", "alpha")
    _index(channel, store, current_repodata=True)
    init_channel(channel, tmp_path / "keys", b"a long test passphrase")
    sign_channel(channel)  # what `stockyard trust init` does: a rewrite after the publish
    assert b'"signatures"' in store.get("noarch/repodata.json")
    _assert_gz_follows(store, "noarch/repodata.json")
    _assert_gz_follows(store, "noarch/current_repodata.json")

    _add(store, tmp_path / "built", "noarch", "beta")
    _index(channel, store, current_repodata=True)
    signed = json.loads(store.get("noarch/repodata.json"))
    assert set(signed["signatures"]) == {"alpha-1.0-0.conda", "beta-1.0-0.conda"}
    assert json.loads(store.get("noarch/current_repodata.json"))["signatures"]
    for key in ("noarch/repodata.json", "noarch/current_repodata.json", "channeldata.json"):
        _assert_gz_follows(store, key)
    assert verify_channel(channel).ok


@pytest.mark.parametrize("size", [0, 1, 5_000_000])
def test_gzip_bytes_round_trip(size: int) -> None:
    data = (b'{"a":"' + b"x" * size + b'"}')[: max(size, 2)]
    assert gzip.decompress(gzip_bytes(data)) == data
