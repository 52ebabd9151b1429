"""Label operations on a server data directory, without HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockyard.config import Settings, load_settings
from stockyard.index.upload import ingest_uploads, validate_upload
from stockyard.labels import channel_labels, labels_of, relabel
from stockyard.server.channels import ServedChannels, bootstrap, open_catalog
from stockyard.types.errors import Conflict, InvalidIdentifier, NotFound
from stockyard.types.labels import label_channel_name, split_label_channel
from tests.server.artifacts import make_artifact


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(env={}, overrides={"data_dir": str(tmp_path / "data")})
    bootstrap(settings)
    return settings


def _upload(settings: Settings, path: Path) -> None:
    catalog = open_catalog(settings)
    try:
        handle = ServedChannels(settings, catalog).handle("main")
        copy = path.parent / f"upload-{path.name}"
        copy.write_bytes(path.read_bytes())
        upload = validate_upload(path.name, copy)
        results = ingest_uploads(
            catalog, handle.store, handle.channel, [upload], workspace=handle.workspace
        )
        assert not isinstance(results[0], Exception), results
    finally:
        catalog.close()


def test_label_names_round_trip() -> None:
    assert label_channel_name("c", "main") == "c"
    assert label_channel_name("c", "rc") == "c/label/rc"
    assert split_label_channel("c/label/rc") == ("c", "rc")
    assert split_label_channel("c") == ("c", "main")
    with pytest.raises(InvalidIdentifier):
        label_channel_name("c", "../x")


def test_relabel_rules(settings: Settings, tmp_path: Path) -> None:
    path = make_artifact(tmp_path / "pkgs", "pkg", "1.0")
    _upload(settings, path)
    catalog = open_catalog(settings)
    handles = ServedChannels(settings, catalog)
    try:
        with pytest.raises(InvalidIdentifier, match="both added and removed"):
            relabel(catalog, handles, "main", "noarch", path.name, add=["rc"], remove=["rc"])
        with pytest.raises(NotFound):
            relabel(catalog, handles, "main", "noarch", "nope-1.0-0.conda", add=["rc"])
        with pytest.raises(Conflict, match="without a label"):
            relabel(catalog, handles, "main", "noarch", path.name, remove=["main"])
        change = relabel(catalog, handles, "main", "noarch", path.name, add=["rc", "rc", "dev"])
        assert change.added == ["rc", "dev"] and change.labels == ["main", "dev", "rc"]
        again = relabel(catalog, handles, "main", "noarch", path.name, add=["rc"])
        assert again.added == [] and again.labels == ["main", "dev", "rc"]
        moved = relabel(catalog, handles, "main", "noarch", path.name, remove=["main", "dev"])
        assert moved.labels == ["rc"] and moved.removed == ["main", "dev"]
        assert labels_of(catalog, "main", "noarch", path.name) == ["rc"]
        assert channel_labels(catalog, "main") == ["main", "dev", "rc"]
        # a label follows its channel's policy: shards are published as for the root
        label_dir = settings.data_path / "channels" / "main" / "label" / "rc" / "noarch"
        assert (label_dir / "repodata_shards.msgpack.zst").exists()
    finally:
        catalog.close()
