"""Operators' everyday changes to packages, each through the one commit path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.index.manage import ChannelHandle, copy_package, remove_package, set_yanked
from stockyard.index.run import IndexOptions, index_channel
from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import LocalStore
from stockyard.types.errors import Conflict, NotFound

from .conftest import build_artifact


@pytest.fixture
def two_channels(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = tmp_path / "catalog.db"
    dirs = {name: tmp_path / "channels" / name for name in ("main", "other")}
    build_artifact(dirs["main"], "linux-64", "pkg")
    build_artifact(dirs["main"], "linux-64", "dep")
    (dirs["other"] / "noarch").mkdir(parents=True)
    for name, directory in dirs.items():
        options = IndexOptions(db_url=sqlite_url(db), channel_name=name, clock=lambda: 1_234)
        index_channel(directory, options)
    catalog = Catalog.open(sqlite_url(db))
    handles = {
        name: ChannelHandle(catalog.require_channel(name), LocalStore(d), ChannelWorkspace(d))
        for name, d in dirs.items()
    }
    yield catalog, handles, dirs
    catalog.close()


def _repodata(channel: Path, subdir: str = "linux-64") -> dict:  # type: ignore[type-arg]
    return json.loads((channel / subdir / "repodata.json").read_bytes())


def test_remove_lists_the_filename_in_removed(two_channels) -> None:  # type: ignore[no-untyped-def]
    catalog, handles, dirs = two_channels
    remove_package(catalog, handles["main"], "linux-64", "pkg-1.0-0.conda")
    repodata = _repodata(dirs["main"])
    assert "pkg-1.0-0.conda" not in repodata["packages.conda"]
    assert repodata["removed"] == ["pkg-1.0-0.conda"]
    assert not (dirs["main"] / "linux-64" / "pkg-1.0-0.conda").exists()
    assert not list((dirs["main"] / ".stockyard").rglob("pkg-1.0-0.conda*"))  # trash emptied
    channeldata = json.loads((dirs["main"] / "channeldata.json").read_bytes())
    assert set(channeldata["packages"]) == {"dep"}
    # An index run afterwards agrees (the file is not resurrected).
    index_channel(dirs["main"], IndexOptions(db_url=str(catalog.engine.url), channel_name="main"))
    assert "pkg-1.0-0.conda" not in _repodata(dirs["main"])["packages.conda"]
    with pytest.raises(NotFound):
        remove_package(catalog, handles["main"], "linux-64", "pkg-1.0-0.conda")


def test_yank_revokes_and_restore_undoes(two_channels) -> None:  # type: ignore[no-untyped-def]
    catalog, handles, dirs = two_channels
    set_yanked(catalog, handles["main"], "linux-64", "pkg-1.0-0.conda", True)
    record = _repodata(dirs["main"])["packages.conda"]["pkg-1.0-0.conda"]
    assert record["revoked"] is True
    assert "package_has_been_revoked" in record["depends"]
    assert (dirs["main"] / "linux-64" / "pkg-1.0-0.conda").exists()  # the file stays
    instructions = json.loads((dirs["main"] / "linux-64/patch_instructions.json").read_bytes())
    assert instructions["revoke"] == ["pkg-1.0-0.conda"]
    set_yanked(catalog, handles["main"], "linux-64", "pkg-1.0-0.conda", False)
    record = _repodata(dirs["main"])["packages.conda"]["pkg-1.0-0.conda"]
    assert "revoked" not in record and record["depends"] == []


@pytest.mark.parametrize("move", [False, True])
def test_copy_and_move_keep_bytes_and_timestamp(two_channels, move: bool) -> None:  # type: ignore[no-untyped-def]
    catalog, handles, dirs = two_channels
    original = (dirs["main"] / "linux-64" / "pkg-1.0-0.conda").read_bytes()
    copy_package(
        catalog, handles["main"], handles["other"], "linux-64", "pkg-1.0-0.conda", move=move
    )
    record = _repodata(dirs["other"])["packages.conda"]["pkg-1.0-0.conda"]
    assert record["indexed_timestamp"] == 1_234
    assert (dirs["other"] / "linux-64" / "pkg-1.0-0.conda").read_bytes() == original
    still_there = "pkg-1.0-0.conda" in _repodata(dirs["main"])["packages.conda"]
    assert still_there is not move
    # The target's next index run sees the copied file as unchanged.
    result = index_channel(
        dirs["other"], IndexOptions(db_url=str(catalog.engine.url), channel_name="other")
    )
    assert (result.added, result.changed, result.files_written) == (0, 0, 0)
    with pytest.raises(Conflict):
        copy_package(catalog, handles["main"], handles["other"], "linux-64", "dep-1.0-0.conda")
        copy_package(catalog, handles["main"], handles["other"], "linux-64", "dep-1.0-0.conda")


def test_attestations_travel_with_their_artifact(two_channels) -> None:  # type: ignore[no-untyped-def]
    """A CEP 27 sidecar (`<file>.v0.sigs`) is copied and moved with its artifact and removed
    with it: never left behind for a file that is gone, never missing on a copy."""
    catalog, handles, dirs = two_channels
    sidecar = "pkg-1.0-0.conda.v0.sigs"
    (dirs["main"] / "linux-64" / sidecar).write_text("[]")
    copy_package(catalog, handles["main"], handles["other"], "linux-64", "pkg-1.0-0.conda")
    assert (dirs["other"] / "linux-64" / sidecar).read_text() == "[]"
    remove_package(catalog, handles["main"], "linux-64", "pkg-1.0-0.conda")
    assert not (dirs["main"] / "linux-64" / sidecar).exists()
    assert not list((dirs["main"] / ".stockyard").rglob("*.v0.sigs*"))  # trash emptied
    copy_package(
        catalog, handles["other"], handles["main"], "linux-64", "pkg-1.0-0.conda", move=True
    )
    assert (dirs["main"] / "linux-64" / sidecar).exists()
    assert not (dirs["other"] / "linux-64" / sidecar).exists()
