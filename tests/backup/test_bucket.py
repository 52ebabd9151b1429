"""Backups of a deployment whose channels live in a bucket (moto's S3 server on 127.0.0.1):
artifacts stay in the bucket and are listed; restore checks they are there, refuses when they
are not (unless told to drop them), and a local backup restores into a bucket."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.backup import ArtifactsMissing, RestoreOptions, create_backup, restore_backup
from stockyard.config import Settings
from stockyard.server.channels import bootstrap, layout_for, publish_channel
from tests.backup.conftest import Deployment, catalog_rows, deployment_settings
from tests.s3server import S3Server, s3_server
from tests.server.artifacts import make_artifact, sha256_of

BUCKET = "stockyard-backup"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture
def aws(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    return s3


def _bucket_settings(root: Path, s3: S3Server, prefix: str) -> Settings:
    return deployment_settings(root, storage_url=f"s3://{BUCKET}/{prefix}", s3_endpoint_url=s3.url)


def _objects(s3: S3Server, prefix: str) -> dict[str, bytes]:
    client = s3.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/")
    keys = [entry["Key"] for page in pages for entry in page.get("Contents", ())]
    return {
        key[len(prefix) + 1 :]: client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        for key in keys
        if "/.stockyard/" not in key
    }


@pytest.fixture
def bucket_source(aws: S3Server, tmp_path: Path) -> tuple[Settings, str, dict[str, str]]:
    prefix = f"src-{secrets.token_hex(4)}"
    settings = _bucket_settings(tmp_path / "source", aws, prefix)
    bootstrap(settings)
    store = layout_for(settings).store("main")
    hashes = {}
    for name, depends in (("dep", []), ("top", ["dep"])):
        path = make_artifact(tmp_path / "pkgs", name, "1.0", depends=depends)
        hashes[f"noarch/{path.name}"] = sha256_of(path)
        store.put_file(f"noarch/{path.name}", shutil.copy(path, tmp_path / "upload"))
    publish_channel(settings, "main")
    return settings, prefix, hashes


def test_artifacts_stay_in_the_bucket_and_are_listed_with_their_sha256(
    aws: S3Server, bucket_source: tuple[Settings, str, dict[str, str]], tmp_path: Path
) -> None:
    settings, prefix, hashes = bucket_source
    dest = tmp_path / "backup"
    manifest = create_backup(settings, dest).manifest
    assert manifest.storage == "bucket" and not manifest.artifacts_included
    main = next(c for c in manifest.channels if c.name == "main")
    assert {k.key: k.sha256 for k in main.kept} == hashes
    assert not list(dest.rglob("*.conda"))
    assert "noarch/repodata.json" in {f.key for f in main.store}

    # the database is lost; the bucket is not: restore with the same storage
    before = _objects(aws, prefix)
    target = _bucket_settings(tmp_path / "target", aws, prefix)
    result = restore_backup(target, dest)
    assert result.kept_checked == 2 and result.missing_artifacts == []
    assert catalog_rows(target.catalog_url) == catalog_rows(settings.catalog_url)
    assert _objects(aws, prefix) == before


def test_a_bucket_without_the_artifacts_is_refused_unless_they_may_be_dropped(
    aws: S3Server, bucket_source: tuple[Settings, str, dict[str, str]], tmp_path: Path
) -> None:
    settings, _, _ = bucket_source
    dest = tmp_path / "backup"
    create_backup(settings, dest)
    empty = f"empty-{secrets.token_hex(4)}"
    target = _bucket_settings(tmp_path / "target", aws, empty)
    with pytest.raises(ArtifactsMissing, match="2 artifact"):
        restore_backup(target, dest)
    assert not target.data_path.exists() and _objects(aws, empty) == {}

    result = restore_backup(target, dest, RestoreOptions(allow_missing_artifacts=True))
    assert result.republished == ["main"] and len(result.missing_artifacts) == 2
    document = json.loads(_objects(aws, empty)["main/noarch/repodata.json"])
    assert document["packages.conda"] == {}  # the packages whose artifacts are gone are dropped


def test_a_local_backup_restores_into_a_bucket(
    aws: S3Server, source: Deployment, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    create_backup(source.settings, dest)
    prefix = f"moved-{secrets.token_hex(4)}"
    target = _bucket_settings(tmp_path / "target", aws, prefix)
    restore_backup(target, dest)
    objects = _objects(aws, prefix)
    local = source.channel_dir("main") / "noarch" / "top-2.0-0.conda"
    assert objects["main/noarch/top-2.0-0.conda"] == local.read_bytes()
    assert objects["main/label/rc/noarch/top-2.0-0.conda"] == local.read_bytes()
    repodata = source.channel_dir("main") / "noarch" / "repodata.json"
    assert objects["main/noarch/repodata.json"] == repodata.read_bytes()
    assert catalog_rows(target.catalog_url) == catalog_rows(source.settings.catalog_url)
