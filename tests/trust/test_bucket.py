"""Trust files of a channel in a bucket, mirrored into a replica's workspace
(stockyard.trust.bucket). Any Store works; a LocalStore stands in for the bucket."""

from __future__ import annotations

from pathlib import Path

from stockyard.storage import LocalStore
from stockyard.trust.bucket import pull_trust, push_trust


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_push_stores_the_channels_trust_files_and_never_a_replicas_cache(tmp_path: Path) -> None:
    bucket, mine = LocalStore(tmp_path / "bucket"), tmp_path / "replica1"
    _write(mine / ".stockyard/trust/trust.json", b'{"signing_key": "ab"}')
    _write(mine / ".stockyard/trust/pkg_mgr-0123abcd.pem", b"ENCRYPTED KEY")
    _write(mine / ".stockyard/trust/pending/key_mgr.json", b"{}")
    _write(mine / ".stockyard/trust/cache/noarch.ab.msgpack", b"cache")
    _write(mine / "1.root.json", b"root")
    _write(mine / "key_mgr.json", b"key_mgr")
    _write(mine / "channeldata.json", b"{}")
    written = push_trust(bucket, mine)
    assert sorted(written) == [
        ".stockyard/trust/pending/key_mgr.json",
        ".stockyard/trust/pkg_mgr-0123abcd.pem",
        ".stockyard/trust/trust.json",
        "1.root.json",
        "key_mgr.json",
    ]
    assert written.index(".stockyard/trust/trust.json") < written.index("1.root.json")
    assert bucket.stat(".stockyard/trust/cache/noarch.ab.msgpack") is None
    assert bucket.stat("channeldata.json") is None
    assert push_trust(bucket, mine) == []  # nothing differs now
    # a pending key_mgr that took effect is gone locally: gone from the bucket too
    (mine / ".stockyard/trust/pending/key_mgr.json").unlink()
    push_trust(bucket, mine)
    assert bucket.stat(".stockyard/trust/pending/key_mgr.json") is None


def test_pull_mirrors_changes_and_forgets_what_the_bucket_dropped(tmp_path: Path) -> None:
    bucket, other = LocalStore(tmp_path / "bucket"), tmp_path / "replica2"
    assert pull_trust(bucket, other) is False  # an unsigned channel
    bucket.put(".stockyard/trust/trust.json", b'{"signing_key": "ab"}')
    bucket.put(".stockyard/trust/pkg_mgr-0123abcd.pem", b"ENCRYPTED KEY")
    bucket.put("1.root.json", b"root")
    assert pull_trust(bucket, other) is True
    config = other / ".stockyard/trust/trust.json"
    assert config.read_bytes() == b'{"signing_key": "ab"}'
    assert config.stat().st_mode & 0o777 == 0o600
    info = bucket.stat(".stockyard/trust/trust.json")
    assert info is not None and config.stat().st_mtime_ns == info.mtime_ns
    assert not (other / "1.root.json").exists()  # public files only when asked
    pull_trust(bucket, other, public=True)
    assert (other / "1.root.json").read_bytes() == b"root"
    # a rotation elsewhere: the new bytes arrive
    bucket.put(".stockyard/trust/trust.json", b'{"signing_key": "cd"}')
    pull_trust(bucket, other)
    assert config.read_bytes() == b'{"signing_key": "cd"}'
    # trust removed from the bucket: the mirror is no longer signed
    bucket.delete(".stockyard/trust/trust.json")
    bucket.delete("1.root.json")
    assert pull_trust(bucket, other, public=True) is False
    assert not config.exists() and not (other / "1.root.json").exists()
