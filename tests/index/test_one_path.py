"""One ingest-to-publish path: `stockyard index` and uploads store and publish by the same rules.

Every way into a channel ends in `ChannelCommit.commit`, with the channel's stored policy. These
tests hold the defects that two drifting orchestrators caused (issue 13): uploads dropping
patches, a crash window that lost a package, options honoured by one path only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest
import zstandard

from stockyard.catalog import Catalog, sqlite_url
from stockyard.index.run import IndexOptions, index_channel
from stockyard.index.upload import ingest_uploads, validate_upload
from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import LocalStore
from stockyard.types.policy import ChannelPolicy, PublishOptions

from .conftest import build_artifact

PATCHES = {
    "linux-64": {
        "patch_instructions_version": 1,
        "packages.conda": {"beta-1.0-0.conda": {"depends": ["patched-dep"]}},
        "revoke": ["gamma-1.0-0.conda"],
    },
    "noarch": {
        "patch_instructions_version": 1,
        "packages.conda": {"alpha-1.0-0.conda": {"depends": ["noarch-patched"]}},
    },
}


def _fixed_clock() -> int:
    """The same indexed_timestamp in both channels (CEP 47 values come from a clock)."""
    return 1_700_000_000_000


def _artifacts(root: Path) -> list[Path]:
    return [
        build_artifact(root, "noarch", "alpha"),
        build_artifact(root, "linux-64", "beta", run_exports={"weak": ["beta"]}),
        build_artifact(root, "linux-64", "beta", "2.0", fmt="tar.bz2"),
        build_artifact(root, "linux-64", "gamma"),
        build_artifact(root, "osx-arm64", "delta", depends=["beta"]),
    ]


def _published(channel: Path) -> dict[str, bytes]:
    """Every published file (artifacts included), by relative path; state excluded. Shards are
    content-addressed and kept after they are replaced (a client may be fetching one): only
    those the current shard index names are compared."""
    live = set()
    for index in channel.glob("*/repodata_shards.msgpack.zst"):
        decoded = msgspec.msgpack.decode(
            zstandard.ZstdDecompressor().decompress(index.read_bytes())
        )
        live |= {
            f"{index.parent.name}/shards/{d.hex()}.msgpack.zst" for d in decoded["shards"].values()
        }
    files = {}
    for path in sorted(channel.rglob("*")):
        key = str(path.relative_to(channel))
        if not path.is_file() or ".stockyard" in path.relative_to(channel).parts:
            continue
        if "/shards/" in key and key not in live:
            continue
        files[key] = path.read_bytes()
    return files


def _upload_all(
    catalog: Catalog, channel_dir: Path, name: str, artifacts: list[Path], spool: Path
) -> None:
    channel = catalog.require_channel(name)
    uploads = []
    for artifact in artifacts:
        spooled = spool / f"{artifact.name}.part"
        spooled.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifact, spooled)
        uploads.append(validate_upload(artifact.name, spooled))
    # Two batches, as a server would commit them: the second publish is incremental.
    for batch in (uploads[:2], uploads[2:]):
        outcomes = ingest_uploads(
            catalog,
            LocalStore(channel_dir),
            channel,
            batch,
            workspace=ChannelWorkspace(channel_dir),
            clock=_fixed_clock,
        )
        assert not [o for o in outcomes if isinstance(o, Exception)]


@pytest.mark.parametrize(
    "publish",
    [
        PublishOptions(),
        PublishOptions(html=False),
        PublishOptions(shards=False, current_repodata=True, bz2=True),
    ],
    ids=["default", "no-html", "no-shards"],
)
@pytest.mark.parametrize("patched", [True, False], ids=["patched", "unpatched"])
def test_index_and_uploads_publish_identical_files(
    tmp_path: Path, publish: PublishOptions, patched: bool
) -> None:
    patches = tmp_path / "patches.json"
    patches.write_text(json.dumps(PATCHES))
    source = str(patches) if patched else None
    # One channel by `stockyard index` ...
    indexed = tmp_path / "indexed" / "chan"
    built = _artifacts(indexed)
    index_channel(
        indexed, IndexOptions(publish=publish, patch_source=source or "", clock=_fixed_clock)
    )
    # ... the other by uploads, with the same stored policy.
    uploaded = tmp_path / "uploaded" / "chan"
    catalog = Catalog.open(sqlite_url(tmp_path / "uploaded.db"))
    try:
        channel = catalog.create_channel("chan")
        catalog.set_channel_policy(channel.id, ChannelPolicy(publish=publish, patch_source=source))
        _upload_all(catalog, uploaded, "chan", built, tmp_path / "spool")
    finally:
        catalog.close()
    ours, theirs = _published(indexed), _published(uploaded)
    assert sorted(ours) == sorted(theirs)
    assert {k for k in ours if ours[k] != theirs[k]} == set()
    if patched:
        repodata = json.loads(ours["linux-64/repodata.json"])
        assert repodata["packages.conda"]["beta-1.0-0.conda"]["depends"] == ["patched-dep"]


def test_upload_into_a_patched_channel_keeps_every_patch(tmp_path: Path) -> None:
    channel_dir = tmp_path / "chan"
    for artifact in _artifacts(channel_dir)[:4]:
        assert artifact.exists()
    patches = tmp_path / "patches.json"
    patches.write_text(json.dumps(PATCHES))
    index_channel(channel_dir, IndexOptions(patch_source=str(patches)))
    before = json.loads((channel_dir / "linux-64/repodata.json").read_bytes())
    assert before["packages.conda"]["beta-1.0-0.conda"]["depends"] == ["patched-dep"]

    catalog = Catalog.open(sqlite_url(channel_dir / ".stockyard/catalog.db"))
    try:
        (channel,) = catalog.list_channels()
        assert catalog.channel_policy(channel.id).patch_source == str(patches.resolve())
        new = build_artifact(tmp_path / "new", "linux-64", "epsilon")
        spooled = tmp_path / "epsilon.part"
        shutil.copyfile(new, spooled)
        ingest_uploads(
            catalog,
            LocalStore(channel_dir),
            channel,
            [validate_upload(new.name, spooled)],
            workspace=ChannelWorkspace(channel_dir),
        )
    finally:
        catalog.close()
    after = json.loads((channel_dir / "linux-64/repodata.json").read_bytes())
    assert after["packages.conda"]["beta-1.0-0.conda"]["depends"] == ["patched-dep"]
    assert after["packages.conda"]["gamma-1.0-0.conda"]["revoked"] is True
    assert "epsilon-1.0-0.conda" in after["packages.conda"]
    noarch = json.loads((channel_dir / "noarch/repodata.json").read_bytes())
    assert noarch["packages.conda"]["alpha-1.0-0.conda"]["depends"] == ["noarch-patched"]
    # A later `stockyard index` without flags keeps the stored policy: nothing changes.
    result = index_channel(channel_dir)
    assert result.files_written == 0
    assert json.loads((channel_dir / "linux-64/repodata.json").read_bytes()) == after


def test_policy_flags_are_stored_and_cleared(channel: Path) -> None:
    build_artifact(channel, "noarch", "alpha")
    index_channel(channel, IndexOptions(publish=PublishOptions(html=False)))
    assert not (channel / "noarch/index.html").exists()
    index_channel(channel)  # no flags: the stored policy (no html) stays
    assert not (channel / "noarch/index.html").exists()
    index_channel(channel, IndexOptions(publish=PublishOptions()))
    assert (channel / "noarch/index.html").exists()
