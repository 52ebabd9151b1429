"""`index_channel` end to end on small real channels."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zstandard

from stockyard.index.run import IndexOptions, index_channel
from stockyard.publish.subdir import PublishOptions
from stockyard.types.channeldata import Channeldata
from stockyard.types.errors import InvalidMetadata, LockTimeout
from stockyard.types.repodata import Repodata, Shard, ShardIndex

from .conftest import MakeArtifact, build_artifact


def _json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def _zst(path: Path) -> bytes:
    return zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()


def _snapshot(channel: Path) -> dict[str, tuple[int, bytes]]:
    """mtime and bytes of every published file (not artifacts, not state)."""
    out = {}
    for path in channel.rglob("*"):
        rel = path.relative_to(channel).as_posix()
        if (
            path.is_file()
            and not rel.startswith(".stockyard")
            and not rel.endswith((".conda", ".tar.bz2"))
        ):
            out[rel] = (path.stat().st_mtime_ns, path.read_bytes())
    return out


def _shards(channel: Path, subdir: str) -> dict[str, dict[str, Any]]:
    index = msgspec.msgpack.decode(_zst(channel / subdir / "repodata_shards.msgpack.zst"))
    msgspec.convert(index, ShardIndex)
    out = {}
    for name, digest in index["shards"].items():
        raw = (channel / subdir / "shards" / f"{digest.hex()}.msgpack.zst").read_bytes()
        assert hashlib.sha256(raw).hexdigest() == digest.hex()
        shard = msgspec.msgpack.decode(
            _zst(channel / subdir / "shards" / f"{digest.hex()}.msgpack.zst")
        )
        msgspec.convert(shard, Shard)
        out[name] = shard
    return out


def test_cold_index_writes_every_output(channel: Path, make_artifact: MakeArtifact) -> None:
    make_artifact("noarch", "alpha", depends=["beta >=1"], run_exports={"weak": ["alpha >=1.0"]})
    make_artifact("linux-64", "beta", fmt="tar.bz2")
    make_artifact("linux-64", "beta", "1.1")
    (channel / "linux-64" / "README.txt").write_text("not an artifact")
    result = index_channel(channel, IndexOptions(publish=PublishOptions(current_repodata=True)))
    assert (result.added, result.changed, result.removed, result.skipped) == (3, 0, 0, [])
    for subdir in ("noarch", "linux-64"):
        for name in (
            "repodata.json",
            "repodata.json.zst",
            "repodata_from_packages.json",
            "repodata_shards.msgpack.zst",
            "run_exports.json",
            "patch_instructions.json",
            "current_repodata.json",
            "index.html",
        ):
            assert (channel / subdir / name).is_file(), f"{subdir}/{name}"
        repodata = (channel / subdir / "repodata.json").read_bytes()
        assert _zst(channel / subdir / "repodata.json.zst") == repodata
        msgspec.json.decode(repodata, type=Repodata)
    linux = _json(channel / "linux-64/repodata.json")
    assert list(linux["packages"]) == ["beta-1.0-0.tar.bz2"]
    assert list(linux["packages.conda"]) == ["beta-1.1-0.conda"]
    record = linux["packages.conda"]["beta-1.1-0.conda"]
    artifact = channel / "linux-64/beta-1.1-0.conda"
    assert record["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert record["md5"] == hashlib.md5(artifact.read_bytes()).hexdigest()
    assert record["size"] == artifact.stat().st_size
    assert record["indexed_timestamp"] > 1_600_000_000_000
    assert linux["repodata_version"] == 1 and linux["info"] == {"subdir": "linux-64"}
    noarch_shards = _shards(channel, "noarch")
    alpha = noarch_shards["alpha"]["packages.conda"]["alpha-1.0-0.conda"]
    assert alpha["run_exports"] == {"weak": ["alpha >=1.0"]}
    assert isinstance(alpha["sha256"], bytes) and len(alpha["sha256"]) == 32
    linux_shards = _shards(channel, "linux-64")
    assert linux_shards["beta"]["packages.conda"]["beta-1.1-0.conda"]["run_exports"] == {}
    exports = _json(channel / "noarch/run_exports.json")
    assert exports["packages.conda"]["alpha-1.0-0.conda"] == {
        "run_exports": {"weak": ["alpha >=1.0"]}
    }
    channeldata = msgspec.json.decode((channel / "channeldata.json").read_bytes(), type=Channeldata)
    assert set(channeldata.packages) == {"alpha", "beta"}
    assert channeldata.packages["beta"].version == "1.1"
    assert (channel / "index.html").is_file()


def test_noarch_repodata_always_exists(tmp_path: Path) -> None:
    channel = tmp_path / "empty"
    channel.mkdir()
    index_channel(channel)
    assert _json(channel / "noarch/repodata.json")["packages"] == {}


def test_rerun_without_change_writes_nothing(channel: Path, make_artifact: MakeArtifact) -> None:
    make_artifact("noarch", "alpha")
    make_artifact("linux-64", "beta")
    index_channel(channel)
    before = _snapshot(channel)
    time.sleep(0.01)
    result = index_channel(channel)
    assert result.files_written == 0 and result.subdirs_published == []
    assert _snapshot(channel) == before


def test_adding_one_rewrites_only_its_shard(channel: Path, make_artifact: MakeArtifact) -> None:
    for i in range(5):
        make_artifact("linux-64", f"pkg{i}")
    index_channel(channel)
    before = _snapshot(channel)
    make_artifact("linux-64", "pkg2", "2.0")
    result = index_channel(channel)
    assert result.added == 1 and result.subdirs_published == ["linux-64"]
    after = _snapshot(channel)
    new_shards = {k for k in after if "/shards/" in k} - {k for k in before if "/shards/" in k}
    assert len(new_shards) == 1
    # every other shard file is untouched
    for key, value in before.items():
        if "/shards/" in key:
            assert after[key] == value
    assert after["noarch/repodata.json"] == before["noarch/repodata.json"]
    assert after["linux-64/repodata.json"] != before["linux-64/repodata.json"]
    assert "pkg2-2.0-0.conda" in _json(channel / "linux-64/repodata.json")["packages.conda"]


def test_reuploaded_file_with_same_name_is_read_again(
    channel: Path, make_artifact: MakeArtifact
) -> None:
    path = make_artifact("linux-64", "pkg", payload=b"one")
    index_channel(channel, IndexOptions(clock=lambda: 1_000))
    first = _json(channel / "linux-64/repodata.json")["packages.conda"]["pkg-1.0-0.conda"]
    path.unlink()
    path = make_artifact("linux-64", "pkg", payload=b"two, longer")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    result = index_channel(channel, IndexOptions(clock=lambda: 2_000))
    assert result.changed == 1
    second = _json(channel / "linux-64/repodata.json")["packages.conda"]["pkg-1.0-0.conda"]
    assert second["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() != first["sha256"]
    # CEP 47: new bytes are a new artifact, available from now (a cooldown must see them).
    assert (first["indexed_timestamp"], second["indexed_timestamp"]) == (1_000, 2_000)


def test_touched_file_with_same_bytes_is_not_republished(
    channel: Path, make_artifact: MakeArtifact
) -> None:
    path = make_artifact("linux-64", "pkg")
    index_channel(channel)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    result = index_channel(channel)
    assert result.changed == 0 and result.files_written == 0


def test_removed_artifacts_are_listed(channel: Path, make_artifact: MakeArtifact) -> None:
    make_artifact("linux-64", "pkg")
    gone = make_artifact("linux-64", "pkg", "2.0")
    index_channel(channel)
    gone.unlink()
    result = index_channel(channel)
    assert result.removed == 1
    repodata = _json(channel / "linux-64/repodata.json")
    assert repodata["removed"] == ["pkg-2.0-0.conda"]
    assert list(repodata["packages.conda"]) == ["pkg-1.0-0.conda"]
    shard = _shards(channel, "linux-64")["pkg"]
    assert shard["removed"] == ["pkg-2.0-0.conda"]


def test_bad_artifacts_are_skipped_and_the_rest_published(
    channel: Path, make_artifact: MakeArtifact
) -> None:
    make_artifact("linux-64", "good")
    (channel / "linux-64" / "broken-1.0-0.conda").write_bytes(b"PK\x03\x04 truncated")
    wrong = make_artifact("noarch", "wrongdir")
    wrong.rename(channel / "linux-64" / wrong.name)
    result = index_channel(channel)
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(reasons) == {"broken-1.0-0.conda", "wrongdir-1.0-0.conda"}
    assert "subdir" in reasons["wrongdir-1.0-0.conda"]
    assert list(_json(channel / "linux-64/repodata.json")["packages.conda"]) == ["good-1.0-0.conda"]


def test_patches_apply_and_invalid_source_publishes_nothing(
    channel: Path, make_artifact: MakeArtifact, tmp_path: Path
) -> None:
    make_artifact("linux-64", "pkg", fmt="tar.bz2")
    make_artifact("linux-64", "pkg", fmt="conda")
    make_artifact("linux-64", "old", depends=["x"])
    patches = tmp_path / "patch_instructions.json"
    patches.write_text(
        json.dumps(
            {
                "linux-64": {
                    "patch_instructions_version": 1,
                    "packages": {"pkg-1.0-0.tar.bz2": {"depends": ["patched >=2"]}},
                    "revoke": ["old-1.0-0.conda"],
                }
            }
        )
    )
    index_channel(channel, IndexOptions(patch_source=str(patches)))
    repodata = _json(channel / "linux-64/repodata.json")
    assert repodata["packages"]["pkg-1.0-0.tar.bz2"]["depends"] == ["patched >=2"]
    assert repodata["packages.conda"]["pkg-1.0-0.conda"]["depends"] == ["patched >=2"]
    assert repodata["packages.conda"]["old-1.0-0.conda"]["revoked"] is True
    raw = _json(channel / "linux-64/repodata_from_packages.json")
    assert raw["packages"]["pkg-1.0-0.tar.bz2"]["depends"] == []
    applied = _json(channel / "linux-64/patch_instructions.json")
    assert "pkg-1.0-0.tar.bz2" in applied["packages"]
    shard = _shards(channel, "linux-64")["pkg"]
    assert shard["packages.conda"]["pkg-1.0-0.conda"]["depends"] == ["patched >=2"]
    # Changing the instructions re-patches; the old patch no longer applies.
    patches.write_text(json.dumps({"linux-64": {"packages": {}}}))
    index_channel(channel, IndexOptions(patch_source=str(patches)))
    repodata = _json(channel / "linux-64/repodata.json")
    assert repodata["packages"]["pkg-1.0-0.tar.bz2"]["depends"] == []
    assert "revoked" not in repodata["packages.conda"]["old-1.0-0.conda"]
    # An invalid source fails the run before anything is published.
    before = _snapshot(channel)
    make_artifact("linux-64", "newer")
    patches.write_text("{not json")
    with pytest.raises(InvalidMetadata):
        index_channel(channel, IndexOptions(patch_source=str(patches)))
    assert _snapshot(channel) == before


def test_base_url_sets_repodata_version_2(channel: Path, make_artifact: MakeArtifact) -> None:
    make_artifact("noarch", "alpha")
    index_channel(
        channel, IndexOptions(publish=PublishOptions(base_url="https://cdn.example.com/chan"))
    )
    repodata = _json(channel / "noarch/repodata.json")
    assert repodata["repodata_version"] == 2
    assert repodata["info"]["base_url"] == "https://cdn.example.com/chan/noarch/"
    index = msgspec.msgpack.decode(_zst(channel / "noarch/repodata_shards.msgpack.zst"))
    assert index["info"]["base_url"] == "https://cdn.example.com/chan/noarch/"
    assert index["info"]["shards_base_url"] == "./shards/"


def test_shard_bytes_are_identical_across_runs(tmp_path: Path) -> None:
    # Same artifacts, same clock: the same bytes on any machine.
    published = []
    for run in ("a", "b"):
        chan = tmp_path / run
        for name in ("x", "y", "z"):
            build_artifact(chan, "linux-64", name, depends=["python"])
        index_channel(chan, IndexOptions(clock=lambda: 1_700_000_000_000))
        published.append({p.name: p.read_bytes() for p in (chan / "linux-64" / "shards").iterdir()})
    assert published[0] == published[1] and len(published[0]) == 3


def test_interrupted_publish_is_completed_by_next_run(
    channel: Path, make_artifact: MakeArtifact
) -> None:
    from stockyard.catalog import Catalog, sqlite_url

    make_artifact("linux-64", "pkg")
    index_channel(channel)
    # Simulate a crash after the catalog changed but before publishing finished.
    catalog = Catalog.open(sqlite_url(channel / ".stockyard/catalog.db"))
    (chan,) = catalog.list_channels()
    catalog.mark_dirty(chan.id, "linux-64")
    catalog.close()
    for shard in (channel / "linux-64/shards").iterdir():
        shard.unlink()
    (channel / "linux-64/repodata.json").unlink()
    result = index_channel(channel)
    assert result.subdirs_published == ["linux-64"]
    assert _shards(channel, "linux-64")["pkg"]
    assert "pkg-1.0-0.conda" in _json(channel / "linux-64/repodata.json")["packages.conda"]


def test_second_indexer_waits_then_fails_clearly(channel: Path) -> None:
    from stockyard.index.lock import channel_lock

    (channel / ".stockyard").mkdir()
    with (
        channel_lock(channel / ".stockyard/index.lock", timeout=1),
        pytest.raises(LockTimeout, match="another process"),
    ):
        index_channel(channel, IndexOptions(lock_timeout=0.2))


def test_a_subdir_or_a_file_is_refused_with_a_hint(
    channel: Path, make_artifact: MakeArtifact
) -> None:
    from stockyard.types.errors import ConfigError

    path = make_artifact("noarch", "pkg")
    with pytest.raises(ConfigError, match="subdir of a channel") as refused:
        index_channel(channel / "noarch")
    assert str(channel.resolve()) in refused.value.hint
    assert not (channel / "noarch" / "noarch").exists()
    with pytest.raises(ConfigError, match="is a file"):
        index_channel(path)
