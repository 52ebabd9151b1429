"""CEP 47 (`indexed_timestamp`) on the ingest side: each test cites the requirement it holds."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.index.run import IndexOptions, index_channel
from stockyard.index.upload import ingest_uploads, validate_upload
from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import LocalStore
from stockyard.types.errors import InvalidMetadata

from ..index.conftest import build_artifact


def _stamps(channel: Path, subdir: str = "linux-64") -> dict[str, int]:
    repodata = json.loads((channel / subdir / "repodata.json").read_bytes())
    records = {**repodata["packages"], **repodata["packages.conda"]}
    return {filename: record["indexed_timestamp"] for filename, record in records.items()}


def test_lost_catalog_keeps_every_value(tmp_path: Path) -> None:
    """CEP 47: indexed_timestamp MUST be preserved and MUST NOT be recomputed: a lost (or new,
    or moved) catalog is seeded from the channel's published files."""
    channel = tmp_path / "chan"
    build_artifact(channel, "linux-64", "a")
    build_artifact(channel, "linux-64", "b", fmt="tar.bz2")
    index_channel(channel, IndexOptions(clock=lambda: 1_000))
    before = _stamps(channel)
    shutil.rmtree(channel / ".stockyard")  # the catalog is gone
    build_artifact(channel, "linux-64", "c")
    index_channel(channel, IndexOptions(clock=lambda: 9_000))
    after = _stamps(channel)
    assert {f: after[f] for f in before} == before == {f: 1_000 for f in before}
    assert after["c-1.0-0.conda"] == 9_000
    # A new catalog elsewhere (e.g. moved to PostgreSQL): the same.
    other = tmp_path / "other.db"
    index_channel(channel, IndexOptions(db_url=sqlite_url(other), clock=lambda: 20_000))
    assert _stamps(channel) == after


def test_seeded_value_needs_the_same_bytes(tmp_path: Path) -> None:
    """CEP 47: the value reflects when *this* artifact became available: a file replaced while
    the catalog was lost gets a new value."""
    channel = tmp_path / "chan"
    build_artifact(channel, "linux-64", "a", payload=b"one")
    index_channel(channel, IndexOptions(clock=lambda: 1_000))
    shutil.rmtree(channel / ".stockyard")
    (channel / "linux-64" / "a-1.0-0.conda").unlink()
    build_artifact(channel, "linux-64", "a", payload=b"two")
    index_channel(channel, IndexOptions(clock=lambda: 5_000))
    assert _stamps(channel) == {"a-1.0-0.conda": 5_000}


def test_forced_replacement_is_a_new_artifact(tmp_path: Path) -> None:
    """CEP 47: new bytes under an old filename MUST get the time they became available; the
    same bytes uploaded again keep theirs."""
    channel = tmp_path / "chan"
    catalog = Catalog.open(sqlite_url(tmp_path / "catalog.db"))
    try:
        chan = catalog.create_channel("chan")

        def upload(artifact: Path, now: int) -> None:
            spooled = tmp_path / "spool.part"
            shutil.copyfile(artifact, spooled)
            (outcome,) = ingest_uploads(
                catalog,
                LocalStore(channel),
                chan,
                [validate_upload(artifact.name, spooled, force=True)],
                workspace=ChannelWorkspace(channel),
                clock=lambda: now,
            )
            assert not isinstance(outcome, Exception)

        first = build_artifact(tmp_path / "v1", "linux-64", "a", payload=b"one")
        upload(first, 1_000)
        upload(first, 2_000)  # the same bytes again
        assert _stamps(channel) == {"a-1.0-0.conda": 1_000}
        upload(build_artifact(tmp_path / "v2", "linux-64", "a", payload=b"two"), 3_000)
        assert _stamps(channel) == {"a-1.0-0.conda": 3_000}
    finally:
        catalog.close()


def test_source_date_epoch_does_not_replace_the_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CEP 47: the value MUST reflect the actual time; SOURCE_DATE_EPOCH (common in CI) would
    let fresh packages through a cooldown."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1")
    channel = tmp_path / "chan"
    build_artifact(channel, "linux-64", "a")
    started = int(time.time() * 1000)
    index_channel(channel)
    assert _stamps(channel)["a-1.0-0.conda"] >= started


@pytest.mark.parametrize("key", ["indexed_timestamp", "sha256", "md5", "size"])
def test_patches_cannot_rewrite_server_controlled_fields(tmp_path: Path, key: str) -> None:
    """CEP 47: indexed_timestamp SHOULD NOT be patchable (nor the hashes and size that describe
    the served bytes): such patches are refused, naming the file and key, before anything is
    published."""
    channel = tmp_path / "chan"
    build_artifact(channel, "linux-64", "a")
    index_channel(channel)
    before = (channel / "linux-64" / "repodata.json").read_bytes()
    patches = tmp_path / "patches.json"
    patches.write_text(json.dumps({"linux-64": {"packages.conda": {"a-1.0-0.conda": {key: 0}}}}))
    with pytest.raises(InvalidMetadata, match=rf"a-1\.0-0\.conda.*{key}"):
        index_channel(channel, IndexOptions(patch_source=str(patches)))
    assert (channel / "linux-64" / "repodata.json").read_bytes() == before
