"""`create_backup` and `restore_backup` on in-process deployments: the manifest, every table,
refusals (a non-empty destination, a tampered backup, a deployment that is not fresh), and a
publish racing the backup's copy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import pytest

from stockyard.backup import (
    BackupInvalid,
    BackupOptions,
    DestinationNotEmpty,
    TargetNotFresh,
    create_backup,
    read_manifest,
    restore_backup,
)
from stockyard.backup.manifest import FORMAT, MANIFEST, sha256_file, store_path
from stockyard.backup.tables import backed_up_tables
from stockyard.catalog.schema import SCHEMA_VERSION, metadata
from stockyard.index.workspace import ChannelWorkspace
from stockyard.server.channels import bootstrap, open_catalog, publish_channel
from tests.backup.conftest import (
    Deployment,
    add_artifact,
    catalog_rows,
    deployment_settings,
    published_tree,
)
from tests.server.artifacts import sha256_of


def test_manifest_lists_every_table_and_the_sha256_of_every_file(
    source: Deployment, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    result = create_backup(source.settings, dest)
    manifest = read_manifest(dest)
    assert manifest == result.manifest
    assert manifest.format == FORMAT and manifest.schema_version == SCHEMA_VERSION
    assert manifest.dialect == "sqlite" and manifest.storage == "local"
    # every table of the metadata, with its row count (jobs included: enumerated, not listed)
    rows = catalog_rows(source.settings.catalog_url)
    assert {t.name: t.rows for t in manifest.tables} == {n: len(r) for n, r in rows.items()}
    assert {t.name for t in manifest.tables} == {t.name for t in backed_up_tables()}
    assert set(metadata.tables) - {t.name for t in manifest.tables} == {"upload_queue"}
    for path, digest, size in manifest.files():
        assert (dest / path).stat().st_size == size
        assert sha256_file(dest / path) == digest
    channels = {c.name: c for c in manifest.channels}
    assert set(channels) == {"main", "main/label/rc", "team"}
    main = channels["main"]
    keys = {f.key for f in main.store}
    assert {"noarch/repodata.json", "linux-64/repodata.json.zst", "channeldata.json"} <= keys
    assert any(key.startswith("noarch/shards/") for key in keys)
    assert not main.kept and not main.republish_subdirs and not main.republish_channel_files
    # artifacts are hard links of the channel's files, with their sha256
    artifact = source.channel_dir("main") / "noarch" / "top-2.0-0.conda"
    copy = dest / store_path(main.id, "noarch/top-2.0-0.conda")
    assert copy.stat().st_ino == artifact.stat().st_ino
    entry = next(f for f in main.store if f.key == "noarch/top-2.0-0.conda")
    assert entry.sha256 == sha256_of(artifact)
    assert result.linked >= 5 and not manifest.warnings
    # the backup is private: it holds token hashes and policies
    assert dest.stat().st_mode & 0o077 == 0


def test_no_artifacts_lists_them_with_size_and_sha256(source: Deployment, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    result = create_backup(source.settings, dest, BackupOptions(include_artifacts=False))
    assert not list(dest.rglob("*.conda"))
    assert not result.manifest.artifacts_included
    main = next(c for c in result.manifest.channels if c.name == "main")
    kept = {k.key: k for k in main.kept}
    artifact = source.channel_dir("main") / "noarch" / "dep-1.0-0.conda"
    assert kept["noarch/dep-1.0-0.conda"].sha256 == sha256_of(artifact)
    assert kept["noarch/dep-1.0-0.conda"].size == artifact.stat().st_size
    # restored onto the same files (the database was lost): they are found and kept
    os.remove(source.settings.data_path / "catalog.db")
    restored = restore_backup(source.settings, dest)
    assert restored.kept_checked == 5  # main: 3, its label: 1, team: 1
    assert restored.missing_artifacts == []


def test_a_non_empty_destination_is_refused(source: Deployment, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(DestinationNotEmpty, match="not empty"):
        create_backup(source.settings, dest)
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    with pytest.raises(DestinationNotEmpty, match="not a directory"):
        create_backup(source.settings, dest / "keep.txt")


def test_a_missing_data_directory_is_refused(tmp_path: Path) -> None:
    from stockyard.types.errors import NotFound

    with pytest.raises(NotFound, match="no Stockyard data directory"):
        create_backup(deployment_settings(tmp_path / "nothing"), tmp_path / "backup")
    assert not (tmp_path / "backup").exists()


def test_restore_gives_the_same_catalog_and_files(source: Deployment, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    create_backup(source.settings, dest)
    target = deployment_settings(tmp_path / "target")
    result = restore_backup(target, dest)
    assert result.republished == [] and result.missing_artifacts == []
    assert catalog_rows(target.catalog_url) == catalog_rows(source.settings.catalog_url)
    source_tree = published_tree(source.settings.data_path / "channels")
    assert published_tree(target.data_path / "channels") == source_tree
    # artifacts keep their mtime (change detection sees them unchanged) and are hard links
    original = source.channel_dir("main") / "noarch" / "dep-1.0-0.conda"
    restored = target.data_path / "channels" / "main" / "noarch" / "dep-1.0-0.conda"
    assert restored.stat().st_mtime_ns == original.stat().st_mtime_ns
    # the public/ links of a web server in front: the public channel only
    assert sorted(p.name for p in (target.data_path / "public").iterdir()) == ["main"]
    # a server start on the restored deployment changes nothing
    assert bootstrap(target).admin_token is None  # the restored admin token counts
    assert published_tree(target.data_path / "channels") == source_tree


def _tamper_published(dest: Path) -> None:
    path = next(dest.glob("channels/*/store/noarch/repodata.json"))
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))


def _truncate_table(dest: Path) -> None:
    path = dest / "catalog" / "artifacts.jsonl.zst"
    path.write_bytes(path.read_bytes()[:-20])


def _delete_artifact(dest: Path) -> None:
    next(dest.glob("channels/*/store/noarch/*.conda")).unlink()


def _damage_manifest(dest: Path) -> None:
    path = dest / MANIFEST
    path.write_bytes(path.read_bytes()[:-100])


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_tamper_published, "sha256 differs"),
        (_truncate_table, "artifacts.jsonl.zst"),
        (_delete_artifact, "missing"),
        (_damage_manifest, "damaged"),
    ],
)
def test_a_tampered_backup_is_refused_before_anything_is_written(
    source: Deployment, tmp_path: Path, tamper, message: str
) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "backup"
    create_backup(source.settings, dest)
    tamper(dest)
    target = deployment_settings(tmp_path / "target")
    with pytest.raises(BackupInvalid, match=message):
        restore_backup(target, dest)
    assert not target.data_path.exists()


def test_paths_in_the_manifest_never_leave_the_backup(source: Deployment, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    create_backup(source.settings, dest)
    document = json.loads((dest / MANIFEST).read_text())
    document["channels"][0]["store"][0]["key"] = "../../../etc/passwd"
    (dest / MANIFEST).write_text(json.dumps(document))
    target = deployment_settings(tmp_path / "target")
    with pytest.raises(BackupInvalid, match="unsafe path"):
        restore_backup(target, dest)
    document["channels"][0]["store"][0]["key"] = "noarch/repodata.json"
    document["channels"][0]["work"] = [
        {"key": "noarch/evil.conda", "sha256": "0" * 64, "size": 1, "mtime_ns": None}
    ]
    (dest / MANIFEST).write_text(json.dumps(document))
    with pytest.raises(BackupInvalid, match=r"not under \.stockyard/"):
        restore_backup(target, dest)
    assert not target.data_path.exists()


def test_a_deployment_with_channels_is_refused(source: Deployment, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    create_backup(source.settings, dest)
    target = deployment_settings(tmp_path / "target")
    bootstrap(target)  # `stockyard serve` ran there once: the channel main exists
    before = catalog_rows(target.catalog_url)
    with pytest.raises(TargetNotFresh, match="already has 1 channel") as error:
        restore_backup(target, dest)
    assert "fresh" in error.value.hint or "new data directory" in error.value.hint
    assert catalog_rows(target.catalog_url) == before


class _PublishDuringCopy:
    """Progress that, when the copy of `main`'s files starts (the catalog snapshot is taken by
    then), changes the channel: a new upload, an artifact deleted."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.done = False

    def phase(self, name: str, total: int | None) -> None:
        if name == "files of main" and not self.done:
            self.done = True
            settings = self.deployment.settings
            add_artifact(settings, "main", "late", "9.0")
            (self.deployment.channel_dir("main") / "linux-64" / "native-0.5-0.conda").unlink()
            publish_channel(settings, "main")

    def advance(self, amount: int = 1) -> None:
        pass


def test_a_publish_racing_the_copy_is_left_out_and_republished(
    source: Deployment, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    result = create_backup(source.settings, dest, progress=_PublishDuringCopy(source))
    main = next(c for c in result.manifest.channels if c.name == "main")
    assert main.republish_subdirs == ["linux-64", "noarch"]
    assert main.republish_channel_files
    keys = {f.key for f in main.store}
    # what the later publish rewrote is not in the backup; what it did not touch is
    assert "noarch/repodata.json" not in keys and "linux-64/repodata.json" not in keys
    assert "noarch/late-9.0-0.conda" not in keys
    assert "noarch/dep-1.0-0.conda" in keys
    assert any("native-0.5-0.conda left after the snapshot" in w for w in result.manifest.warnings)

    target = deployment_settings(tmp_path / "target")
    restored = restore_backup(target, dest)
    assert restored.republished == ["main"]
    channel_dir = target.data_path / "channels" / "main"
    for subdir, expected in (
        ("noarch", {"dep-1.0-0.conda", "top-2.0-0.conda"}),
        ("linux-64", set()),
    ):
        document = json.loads((channel_dir / subdir / "repodata.json").read_bytes())
        records = document["packages.conda"]
        # the snapshot's records, minus the artifact that left: each one has its artifact
        assert set(records) == expected
        for filename, record in records.items():
            assert sha256_of(channel_dir / subdir / filename) == record["sha256"]
    # the catalog and the published files agree
    catalog = open_catalog(target)
    try:
        main_id = catalog.require_channel("main").id
        assert not catalog.channels_owing_publish()
    finally:
        catalog.close()
    stored = {
        (row[2], row[3])
        for row in catalog_rows(target.catalog_url)["artifacts"]
        if row[1] == main_id
    }
    assert stored == {("noarch", "dep-1.0-0.conda"), ("noarch", "top-2.0-0.conda")}


def test_a_restored_catalog_on_postgresql_and_back(
    source: Deployment, tmp_path: Path, pg_url: str
) -> None:
    dest = tmp_path / "backup"
    create_backup(source.settings, dest)
    on_pg = deployment_settings(tmp_path / "pg", db_url=pg_url)
    restore_backup(on_pg, dest)
    original = catalog_rows(source.settings.catalog_url)
    assert catalog_rows(pg_url) == original
    # the sequences moved past the restored ids: new rows do not collide
    catalog = open_catalog(on_pg)
    try:
        largest = max(row[0] for row in original["channels"])
        assert catalog.create_channel("fresh").id == largest + 1
        catalog.create_token(scope="read")
        catalog.delete_channel(catalog.require_channel("fresh").id)
    finally:
        catalog.close()
    back = tmp_path / "backup-of-pg"
    assert create_backup(on_pg, back).manifest.dialect == "postgresql"
    on_sqlite = deployment_settings(tmp_path / "sqlite-again")
    restore_backup(on_sqlite, back)
    again = catalog_rows(on_sqlite.catalog_url)
    assert {k: v for k, v in again.items() if k != "tokens"} == {
        k: v for k, v in original.items() if k != "tokens"
    }
    assert len(again["tokens"]) == len(original["tokens"]) + 1


def test_dumps_are_portable_json_lines(source: Deployment, tmp_path: Path) -> None:
    import zstandard

    dest = tmp_path / "backup"
    create_backup(source.settings, dest)
    manifest = read_manifest(dest)
    entry = next(t for t in manifest.tables if t.name == "channels")
    lines = zstandard.ZstdDecompressor().decompress(
        (dest / entry.path).read_bytes(), max_output_size=1 << 20
    )
    rows = [msgspec.json.decode(line) for line in lines.splitlines()]
    names = [dict(zip(entry.columns, row, strict=True))["name"] for row in rows]
    assert names == ["main", "team", "main/label/rc"]


def test_a_signed_channel_keeps_its_signatures_and_keys(
    source: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockyard.trust.ceremony import init_channel
    from stockyard.trust.keystore import PASSPHRASE_ENV
    from stockyard.trust.sign import sign_channel

    passphrase = "a long test passphrase"
    monkeypatch.setenv(PASSPHRASE_ENV, passphrase)
    channel = source.channel_dir("main")
    init_channel(channel, tmp_path / "offline-keys", passphrase.encode())
    sign_channel(channel)
    signed = (channel / "noarch" / "repodata.json").read_bytes()
    assert b'"signatures"' in signed

    dest = tmp_path / "backup"
    main = next(
        c for c in create_backup(source.settings, dest).manifest.channels if c.name == "main"
    )
    # signed repodata is the published one plus signatures: not mistaken for a newer publish
    assert main.republish_subdirs == [] and not main.republish_channel_files
    assert {"1.root.json", "key_mgr.json", "noarch/repodata.json.zst"} <= {
        f.key for f in main.store
    }
    assert ".stockyard/trust/trust.json" in {f.key for f in main.work}

    target = deployment_settings(tmp_path / "target")
    restore_backup(target, dest)
    restored = target.data_path / "channels" / "main"
    assert (restored / "noarch" / "repodata.json").read_bytes() == signed
    assert (restored / ".stockyard" / "trust").stat().st_mode & 0o777 == 0o700
    # the restored channel signs its next publish with the restored key
    add_artifact(target, "main", "after", "1.0")
    document = json.loads((restored / "noarch" / "repodata.json").read_bytes())
    assert "after-1.0-0.conda" in document["signatures"]


PATCH_YAML = b"""\
if:
  name: top
then:
  - add_depends: extra
"""


def test_patch_sets_follow_the_deployment_to_its_new_place(
    source: Deployment, tmp_path: Path
) -> None:
    from stockyard.patchsets.versions import PatchSetContent, activate_patch_set, store_patch_set

    settings = source.settings
    catalog = open_catalog(settings)
    try:
        channel = catalog.require_channel("main")
        workspace = ChannelWorkspace(source.channel_dir("main"))
        row = store_patch_set(catalog, channel, workspace, PatchSetContent(PATCH_YAML))
        activate_patch_set(catalog, channel, row.version, lambda: publish_channel(settings, "main"))
    finally:
        catalog.close()

    dest = tmp_path / "backup"
    create_backup(settings, dest)
    target = deployment_settings(tmp_path / "elsewhere")
    restore_backup(target, dest)
    catalog = open_catalog(target)
    try:
        channel = catalog.require_channel("main")
        source_path = catalog.channel_policy(channel.id).patch_source
        stored = catalog.patch_set(channel.id, 1)
    finally:
        catalog.close()
    new_dir = str(target.data_path.resolve() / "channels" / "main") + "/"
    assert source_path is not None and source_path.startswith(new_dir)
    assert Path(source_path).exists() and stored.path.startswith(new_dir)
    # the restored deployment republishes with its patches (the patched depends stay)
    add_artifact(target, "main", "later", "1.0")
    document = json.loads((target.data_path / "channels/main/noarch/repodata.json").read_bytes())
    assert "extra" in document["packages.conda"]["top-2.0-0.conda"]["depends"]


def test_restore_over_the_files_it_was_taken_from(source: Deployment, tmp_path: Path) -> None:
    """The runbook's case: the catalog is lost, the channel files are not."""
    dest = tmp_path / "backup"
    create_backup(source.settings, dest)
    rows = catalog_rows(source.settings.catalog_url)
    tree = published_tree(source.settings.data_path / "channels")
    os.remove(source.settings.data_path / "catalog.db")
    restore_backup(source.settings, dest)
    assert catalog_rows(source.settings.catalog_url) == rows
    assert published_tree(source.settings.data_path / "channels") == tree
    assert not list((source.settings.data_path / "channels").rglob(".restore-*"))
