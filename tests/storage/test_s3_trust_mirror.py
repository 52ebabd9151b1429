"""A signed channel in a bucket whose trust files are damaged: the commit says what is wrong,
publishes nothing unsigned, and loses nothing it stored (moto's S3 server)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.index.commit import PublishPending
from stockyard.index.upload import ingest_uploads, validate_upload
from stockyard.index.workspace import ChannelWorkspace

from ..index.conftest import build_artifact


def _upload(tmp: Path, catalog: Catalog, store: Any, name: str) -> object:
    artifact = build_artifact(tmp / "built", "noarch", name)
    spooled = tmp / "spool" / artifact.name
    spooled.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifact, spooled)
    (outcome,) = ingest_uploads(
        catalog,
        store,
        catalog.require_channel("main"),
        [validate_upload(artifact.name, spooled)],
        workspace=ChannelWorkspace(tmp / "workspace"),
    )
    return outcome


@pytest.mark.parametrize(
    ("trust_json", "why"),
    [
        (b"{not json", "trust.json"),
        (b'{"signing_key": "ab", "key_file": "../../../../etc/passwd"}', "is not the name of"),
    ],
    ids=["not-json", "key-file-outside"],
)
def test_damaged_trust_files_stop_the_publish_and_keep_the_upload(
    s3_store: Any, tmp_path: Path, trust_json: bytes, why: str
) -> None:
    catalog = Catalog.open(sqlite_url(tmp_path / "catalog.db"))
    try:
        channel = catalog.create_channel("main")
        assert type(_upload(tmp_path, catalog, s3_store, "before")).__name__ == "UploadResult"
        published = s3_store.get("noarch/repodata.json")
        s3_store.put(".stockyard/trust/trust.json", trust_json)
        catalog.set_trust_stamp(channel.id, "damaged")
        with pytest.raises(PublishPending) as refused:
            _upload(tmp_path, catalog, s3_store, "after")
        assert "MetadataInvalid" in str(refused.value) and why in str(refused.value)
        # nothing unsigned was published, and the stored upload is owed a publish
        assert s3_store.get("noarch/repodata.json") == published
        assert "after-1.0-0.conda" in catalog.file_states(channel.id, "noarch")
        assert catalog.subdir_states(channel.id)["noarch"].dirty
    finally:
        catalog.close()
