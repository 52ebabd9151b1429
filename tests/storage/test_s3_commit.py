"""The commit protocol on S3: uploads staged, committed, moved into place and published through
`ingest_uploads` give the same published files in a bucket as in a local directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from stockyard.catalog import Catalog, sqlite_url
from stockyard.index.upload import ingest_uploads, validate_upload
from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import LocalStore, Store
from stockyard.storage.s3 import S3Store

from ..index.conftest import build_artifact

PUBLISHED = ["channeldata.json", "noarch/repodata.json", "linux-64/repodata.json"]


def _comparable(document: bytes) -> Any:
    """The published JSON without `indexed_timestamp` (when each run ingested: differs)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "indexed_timestamp"}
        return value

    return json.loads(document, object_hook=strip)


def _upload(tmp: Path, name: str, store: Store, artifacts: list[Path]) -> None:
    catalog = Catalog.open(sqlite_url(tmp / f"{name}.db"))
    try:
        channel = catalog.create_channel("main")
        uploads = []
        for artifact in artifacts:
            spooled = tmp / f"spool-{name}" / artifact.name
            spooled.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(artifact, spooled)
            uploads.append(validate_upload(artifact.name, spooled))
        workspace = ChannelWorkspace(tmp / f"workspace-{name}")
        outcomes = ingest_uploads(catalog, store, channel, uploads, workspace=workspace)
        assert [type(o).__name__ for o in outcomes] == ["UploadResult"] * len(artifacts)
    finally:
        catalog.close()


def test_uploads_publish_the_same_bytes(s3_store: S3Store, tmp_path: Path) -> None:
    built = tmp_path / "built"
    artifacts = [
        build_artifact(built, "noarch", "alpha"),
        build_artifact(built, "linux-64", "beta"),
        build_artifact(built, "linux-64", "beta", "2.0", fmt="tar.bz2"),
    ]
    local = LocalStore(tmp_path / "local", fsync=False)
    _upload(tmp_path, "local", local, artifacts)
    _upload(tmp_path, "s3", s3_store, artifacts)
    for key in PUBLISHED:
        assert _comparable(s3_store.get(key)) == _comparable(local.get(key)), key
    for artifact in artifacts:
        subdir = "noarch" if "alpha" in artifact.name else "linux-64"
        assert s3_store.get(f"{subdir}/{artifact.name}") == artifact.read_bytes()
    # every staged object was moved into place: nothing is left under .stockyard/staged
    assert s3_store.list_dirs(".stockyard/staged") == []
