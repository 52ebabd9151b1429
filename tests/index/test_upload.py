"""Uploads committed in batches: one lock and one publish, per-upload outcomes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.index.upload import ingest_uploads, validate_upload
from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import LocalStore
from stockyard.types.errors import Conflict, HashMismatch, InvalidArtifact

from .conftest import build_artifact


def _spool(tmp: Path, artifact: Path) -> Path:
    spooled = tmp / "spool" / f"{artifact.name}.part"
    spooled.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifact, spooled)
    return spooled


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "channel"
    catalog = Catalog.open(sqlite_url(tmp_path / "catalog.db"))
    channel = catalog.create_channel("main")
    yield catalog, LocalStore(root), channel, root, tmp_path
    catalog.close()


def test_a_batch_is_committed_and_published_once(setup) -> None:  # type: ignore[no-untyped-def]
    catalog, store, channel, root, tmp = setup
    built = tmp / "built"
    arts = [
        build_artifact(built, "noarch", "alpha"),
        build_artifact(built, "linux-64", "beta"),
        build_artifact(built, "linux-64", "beta", "2.0", fmt="tar.bz2"),
    ]
    uploads = [validate_upload(a.name, _spool(tmp, a)) for a in arts]
    # the same file twice in one batch: the second is refused like an existing file
    uploads.append(validate_upload(arts[0].name, _spool(tmp, arts[0])))
    outcomes = ingest_uploads(
        catalog, store, channel, uploads, workspace=ChannelWorkspace(root), lock_timeout=5
    )
    assert [type(o).__name__ for o in outcomes] == [
        "UploadResult",
        "UploadResult",
        "UploadResult",
        "Conflict",
    ]
    assert "same content" in outcomes[3].message  # type: ignore[union-attr]
    linux = json.loads((root / "linux-64/repodata.json").read_bytes())
    assert set(linux["packages.conda"]) == {"beta-1.0-0.conda"}
    assert set(linux["packages"]) == {"beta-2.0-0.tar.bz2"}
    noarch = json.loads((root / "noarch/repodata.json").read_bytes())
    assert set(noarch["packages.conda"]) == {"alpha-1.0-0.conda"}
    channeldata = json.loads((root / "channeldata.json").read_bytes())
    assert set(channeldata["packages"]) == {"alpha", "beta"}
    assert not list((tmp / "spool").iterdir())  # every spooled file consumed or deleted


def test_existing_file_conflicts_unless_forced(setup) -> None:  # type: ignore[no-untyped-def]
    catalog, store, channel, root, tmp = setup
    first = build_artifact(tmp / "v1", "noarch", "pkg", payload=b"one")
    ingest_uploads(
        catalog,
        store,
        channel,
        [validate_upload(first.name, _spool(tmp, first))],
        workspace=ChannelWorkspace(root),
    )
    second = build_artifact(tmp / "v2", "noarch", "pkg", payload=b"two")
    (outcome,) = ingest_uploads(
        catalog,
        store,
        channel,
        [validate_upload(second.name, _spool(tmp, second))],
        workspace=ChannelWorkspace(root),
    )
    assert isinstance(outcome, Conflict) and "force" in outcome.hint
    assert (root / "noarch" / first.name).read_bytes() == first.read_bytes()
    (outcome,) = ingest_uploads(
        catalog,
        store,
        channel,
        [validate_upload(second.name, _spool(tmp, second), force=True)],
        workspace=ChannelWorkspace(root),
    )
    assert not isinstance(outcome, Exception) and outcome.replaced
    assert (root / "noarch" / first.name).read_bytes() == second.read_bytes()


def test_bad_uploads_are_refused_before_anything_is_stored(setup) -> None:  # type: ignore[no-untyped-def]
    _, _, _, root, tmp = setup
    art = build_artifact(tmp / "b", "linux-64", "pkg")
    spooled = _spool(tmp, art)
    with pytest.raises(HashMismatch):
        validate_upload(art.name, spooled, sha256="0" * 64)
    assert not spooled.exists()
    spooled = _spool(tmp, art)
    with pytest.raises(InvalidArtifact, match="subdir"):
        validate_upload(art.name, spooled, subdir="noarch")
    assert not spooled.exists()
    assert not root.exists() or not any(root.rglob("*.conda"))
